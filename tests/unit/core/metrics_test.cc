#include "core/metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::core {
namespace {

TEST(Metrics, CountsByInteractionAndCodeWithCumulativeBuckets) {
  RequestMetrics m;
  m.Record("read", 200, 0.0002);
  m.Record("read", 200, 0.003);
  m.Record("read", 404, 2.0);
  m.Record("create", 201, 0.01);
  std::string out;
  m.RenderPrometheus(out);
  EXPECT_NE(out.find("kiln_http_requests_total{interaction=\"read\",code=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(out.find("kiln_http_requests_total{interaction=\"read\",code=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("kiln_http_request_duration_seconds_bucket{interaction=\"read\",le=\"0.00025\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("kiln_http_request_duration_seconds_bucket{interaction=\"read\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(out.find("kiln_http_request_duration_seconds_count{interaction=\"create\"} 1\n"),
            std::string::npos);
}

TEST(Metrics, Gauge) {
  std::string out;
  AppendGauge(out, "kiln_x", "An x.", 42);
  EXPECT_EQ(out, "# HELP kiln_x An x.\n# TYPE kiln_x gauge\nkiln_x 42\n");
}

}  // namespace
}  // namespace kiln::core
