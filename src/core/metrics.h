// Request metrics in the Prometheus text exposition format.
//
// RequestMetrics counts answered requests by interaction and status code and keeps a latency
// histogram per interaction. Thread-safe: Record() takes a short mutex (cheap next to a request).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace kiln::core {

class RequestMetrics {
 public:
  // Upper bounds (seconds) of the latency histogram buckets; +Inf is implied.
  static constexpr std::array<double, 14> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

  void Record(std::string_view interaction, int status, double seconds);

  // Appends kiln_http_requests_total and kiln_http_request_duration_seconds to `out`.
  void RenderPrometheus(std::string& out) const;

 private:
  struct PerInteraction {
    std::map<int, uint64_t> by_status;
    std::array<uint64_t, kBuckets.size() + 1> buckets{};  // last one is +Inf
    double sum_seconds = 0;
    uint64_t count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, PerInteraction, std::less<>> by_interaction_;  // guarded by mu_
};

// Appends one gauge sample with its HELP/TYPE lines.
void AppendGauge(std::string& out, std::string_view name, std::string_view help, double value);

}  // namespace kiln::core
