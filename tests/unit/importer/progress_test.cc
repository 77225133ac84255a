#include "importer/progress.h"

#include <gtest/gtest.h>

namespace kiln::importer {
namespace {

TEST(Progress, Formats) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(1004108), "1,004,108");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1'360'000'000), "1.36 GB");
  EXPECT_EQ(FormatDuration(45.4), "45s");
  EXPECT_EQ(FormatDuration(725), "12m05s");
  EXPECT_EQ(FormatDuration(7380), "2h03m");
}

TEST(Progress, RateSinceLastLineAndEtaFromBytes) {
  ProgressMeter meter;
  ProgressSample s;
  s.seconds = 10;
  s.stored = 20000;
  s.bytes_read = 250;
  s.bytes_total = 1000;
  // First line: the overall rate; 750 bytes left at 25 bytes/s.
  EXPECT_EQ(meter.Line(s),
            "import: 20,000 resources stored, 2,000/s, 25% of 1.0 kB read, ETA 30s");
  s.seconds = 15;
  s.stored = 50000;
  s.failed = 3;
  s.bytes_read = 500;
  EXPECT_EQ(meter.Line(s),
            "import: 50,000 resources stored, 3 failed, 6,000/s, 50% of 1.0 kB read, ETA 15s");
  s.bytes_read = 1000;
  s.seconds = 16;
  EXPECT_EQ(meter.Line(s), "import: 50,000 resources stored, 3 failed, 0/s, 100% of 1.0 kB read");
}

}  // namespace
}  // namespace kiln::importer
