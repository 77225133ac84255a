#include "core/metrics.h"

#include <cstdio>

namespace kiln::core {

void RequestMetrics::Record(std::string_view interaction, int status, double seconds) {
  std::lock_guard lock(mu_);
  auto it = by_interaction_.find(interaction);
  if (it == by_interaction_.end())
    it = by_interaction_.emplace(std::string(interaction), PerInteraction{}).first;
  PerInteraction& p = it->second;
  ++p.by_status[status];
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  ++p.buckets[b];
  p.sum_seconds += seconds;
  ++p.count;
}

namespace {
void AppendNumber(std::string& out, double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}
}  // namespace

void RequestMetrics::RenderPrometheus(std::string& out) const {
  std::lock_guard lock(mu_);
  out +=
      "# HELP kiln_http_requests_total HTTP requests answered, by interaction and status code.\n";
  out += "# TYPE kiln_http_requests_total counter\n";
  for (const auto& [interaction, p] : by_interaction_) {
    for (const auto& [status, n] : p.by_status) {
      out += "kiln_http_requests_total{interaction=\"" + interaction + "\",code=\"" +
             std::to_string(status) + "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP kiln_http_request_duration_seconds Time from request received to response sent.\n";
  out += "# TYPE kiln_http_request_duration_seconds histogram\n";
  for (const auto& [interaction, p] : by_interaction_) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += p.buckets[b];
      out += "kiln_http_request_duration_seconds_bucket{interaction=\"" + interaction + "\",le=\"";
      if (b == kBuckets.size()) {
        out += "+Inf";
      } else {
        AppendNumber(out, kBuckets[b]);
      }
      out += "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "kiln_http_request_duration_seconds_sum{interaction=\"" + interaction + "\"} ";
    AppendNumber(out, p.sum_seconds);
    out += "\nkiln_http_request_duration_seconds_count{interaction=\"" + interaction + "\"} " +
           std::to_string(p.count) + "\n";
  }
}

void AppendGauge(std::string& out, std::string_view name, std::string_view help, double value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " gauge\n";
  out += name;
  out += ' ';
  AppendNumber(out, value);
  out += '\n';
}

}  // namespace kiln::core
