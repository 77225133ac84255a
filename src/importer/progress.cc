#include "importer/progress.h"

#include <cmath>
#include <cstdio>

namespace kiln::importer {

std::string FormatCount(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string FormatBytes(int64_t n) {
  char buf[32];
  if (n < 1000) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(n));  // NOLINT
  } else if (n < 1000 * 1000) {
    std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(n) / 1e3);
  } else if (n < 1000LL * 1000 * 1000) {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(n) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(n) / 1e9);
  }
  return buf;
}

std::string FormatDuration(double seconds) {
  long long s = std::llround(std::max(0.0, seconds));  // NOLINT(google-runtime-int)
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

std::string ProgressMeter::Line(const ProgressSample& now) {
  const ProgressSample& from = has_last_ ? last_ : ProgressSample{};
  double dt = now.seconds - from.seconds;
  double rate = dt > 0 ? static_cast<double>(now.stored - from.stored) / dt : 0.0;
  last_ = now;
  has_last_ = true;

  std::string line = "import: " + FormatCount(now.stored) + " resources stored";
  if (now.failed > 0) line += ", " + FormatCount(now.failed) + " failed";
  line += ", " + FormatCount(static_cast<int64_t>(std::llround(rate))) + "/s";
  if (now.bytes_total > 0) {
    double share = std::min(1.0, static_cast<double>(now.bytes_read) /
                                     static_cast<double>(now.bytes_total));
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * share);
    line += ", " + std::string(pct) + " of " + FormatBytes(now.bytes_total) + " read";
    if (now.bytes_read > 0 && now.seconds > 0 && now.bytes_read < now.bytes_total) {
      double byte_rate = static_cast<double>(now.bytes_read) / now.seconds;
      line += ", ETA " +
              FormatDuration(static_cast<double>(now.bytes_total - now.bytes_read) / byte_rate);
    }
  }
  return line;
}

}  // namespace kiln::importer
