// Time helpers: the wall clock in microseconds and the text forms FHIR and HTTP use.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::core {

// Microseconds since the Unix epoch, UTC.
int64_t NowMicros();

// FHIR instant with microseconds, e.g. "2026-11-22T15:17:00.123456Z".
std::string FormatInstant(int64_t micros);
// RFC 7231 IMF-fixdate, e.g. "Sun, 22 Nov 2026 15:17:00 GMT" (seconds precision).
std::string FormatHttpDate(int64_t micros);
// Parses an IMF-fixdate (the only form HTTP/1.1 senders must generate). nullopt if malformed.
std::optional<int64_t> ParseHttpDate(std::string_view text);

// A FHIR date, dateTime or instant, as the half-open range [low, high) of microseconds it covers
// given its precision ("2026" covers the whole year; a value without a time zone is taken as UTC).
struct TimeRange {
  int64_t low = 0;
  int64_t high = 0;
};
// nullopt if `text` is not a valid FHIR date/dateTime/instant (including impossible dates such
// as 2023-02-30, hours past 23 and time zones past +/-14:00).
std::optional<TimeRange> ParseFhirDateTime(std::string_view text);

// Proleptic Gregorian calendar arithmetic (valid for any year 1..9999), shared by everything that
// handles FHIR dates (validation, FHIRPath, search).
struct CivilDate {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};
// Days since 1970-01-01.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
CivilDate CivilFromDays(int64_t days);
bool IsLeapYear(int64_t year);
unsigned DaysInMonth(int64_t year, unsigned month);

}  // namespace kiln::core
