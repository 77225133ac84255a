#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "core/clock.h"
#include "core/strings.h"

namespace kiln::core {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
const char* const kLevelNames[] = {"debug", "info", "warn", "error", "off"};
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool ParseLogLevel(std::string_view text, LogLevel& out) {
  for (int i = 0; i <= static_cast<int>(LogLevel::kOff); ++i) {
    if (text == kLevelNames[i]) {
      out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  thread_local std::string line;
  line.clear();
  line += "{\"ts\":\"";
  line += FormatInstant(NowMicros());
  line += "\",\"level\":\"";
  line += kLevelNames[static_cast<int>(level)];
  line += "\",\"msg\":\"";
  AppendJsonEscaped(line, msg);
  line += '"';
  for (const auto& [key, value] : fields) {
    line += ",\"";
    AppendJsonEscaped(line, key);
    line += "\":";
    if (auto* s = std::get_if<std::string_view>(&value)) {
      line += '"';
      AppendJsonEscaped(line, *s);
      line += '"';
    } else if (auto* i = std::get_if<long long>(&value)) {
      line += std::to_string(*i);
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", std::get<double>(value));
      line += buf;
    }
  }
  line += "}\n";
  // One write per line keeps lines whole when several threads log at once.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace kiln::core
