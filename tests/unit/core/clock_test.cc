#include "core/clock.h"

#include <gtest/gtest.h>

namespace kiln::core {
namespace {

constexpr int64_t kSec = 1000000;

TEST(Clock, FormatInstantIsUtcWithMicroseconds) {
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatInstant(1700000000 * kSec + 123456), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(FormatInstant(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(Clock, HttpDateRoundTrip) {
  int64_t t = 784111777 * kSec;  // RFC 7231's example
  EXPECT_EQ(FormatHttpDate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), t);
  EXPECT_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
  EXPECT_FALSE(ParseHttpDate("Sun, 31 Feb 1994 08:49:37 GMT"));
  EXPECT_FALSE(ParseHttpDate(""));
}

TEST(Clock, FhirDateTimeRangesFollowPrecision) {
  auto year = ParseFhirDateTime("2024");
  ASSERT_TRUE(year);
  EXPECT_EQ(year->low, DaysFromCivil(2024, 1, 1) * 86400 * kSec);
  EXPECT_EQ(year->high, DaysFromCivil(2025, 1, 1) * 86400 * kSec);
  auto month = ParseFhirDateTime("2024-02");
  ASSERT_TRUE(month);
  EXPECT_EQ(month->high - month->low, 29 * 86400 * kSec);  // leap year
  auto day = ParseFhirDateTime("2023-12-31");
  ASSERT_TRUE(day);
  EXPECT_EQ(day->high - day->low, 86400 * kSec);
  auto sec = ParseFhirDateTime("2023-12-31T10:00:00+02:00");
  ASSERT_TRUE(sec);
  EXPECT_EQ(FormatInstant(sec->low), "2023-12-31T08:00:00.000000Z");
  EXPECT_EQ(sec->high - sec->low, kSec);
  auto frac = ParseFhirDateTime("2023-12-31T10:00:00.5Z");
  ASSERT_TRUE(frac);
  EXPECT_EQ(FormatInstant(frac->low), "2023-12-31T10:00:00.500000Z");
  EXPECT_EQ(frac->high - frac->low, 100000);
}

TEST(Clock, FhirDateTimeRejectsImpossibleValues) {
  for (const char* bad : {"2023-02-29", "2023-02-30", "2023-13-01", "2023-00-10", "2023-1-01",
                          "2023-01-01T24:00:00Z", "2023-01-01T10:00:00", "2023-01-01T10:00:00+15:00",
                          "2023-01-01T10:61:00Z", "20230101", "yesterday", "", "2023-01-01Z",
                          "2023-01-01T10:00:00.Z"}) {
    EXPECT_FALSE(ParseFhirDateTime(bad)) << bad;
  }
  EXPECT_TRUE(ParseFhirDateTime("2024-02-29"));
}

}  // namespace
}  // namespace kiln::core
