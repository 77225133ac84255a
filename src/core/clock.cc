#include "core/clock.h"

#include <chrono>
#include <cstdio>
#include <cstring>

namespace kiln::core {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

// Reads exactly `n` digits at text[pos]; advances pos.
bool Digits(std::string_view text, size_t& pos, int n, int64_t& out) {
  if (pos + n > text.size()) return false;
  int64_t v = 0;
  for (int i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

const char* const kWeekdays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

// Howard Hinnant's days-from-civil and civil-from-days algorithms (public domain description).
CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatInstant(int64_t micros) {
  int64_t days = FloorDiv(micros, kMicrosPerDay);
  int64_t rem = micros - days * kMicrosPerDay;
  CivilDate c = CivilFromDays(days);
  int64_t secs = rem / kMicrosPerSecond;
  int64_t frac = rem % kMicrosPerSecond;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                static_cast<long long>(c.year), c.month, c.day, static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                static_cast<long long>(frac));
  return buf;
}

std::string FormatHttpDate(int64_t micros) {
  int64_t days = FloorDiv(micros, kMicrosPerDay);
  int64_t secs = (micros - days * kMicrosPerDay) / kMicrosPerSecond;
  CivilDate c = CivilFromDays(days);
  int64_t wd = ((days % 7) + 7) % 7;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02lld:%02lld:%02lld GMT", kWeekdays[wd],
                c.day, kMonths[c.month - 1], static_cast<long long>(c.year),
                static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60));
  return buf;
}

std::optional<int64_t> ParseHttpDate(std::string_view t) {
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  if (t.size() != 29 || t[3] != ',' || t[4] != ' ' || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' ||
      t[19] != ':' || t[22] != ':' || t.substr(25) != " GMT")
    return std::nullopt;
  size_t pos = 5;
  int64_t day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  if (!Digits(t, pos, 2, day)) return std::nullopt;
  unsigned month = 0;
  for (unsigned i = 0; i < 12; ++i)
    if (t.substr(8, 3) == kMonths[i]) month = i + 1;
  if (month == 0) return std::nullopt;
  pos = 12;
  if (!Digits(t, pos, 4, year)) return std::nullopt;
  pos = 17;
  if (!Digits(t, pos, 2, hh)) return std::nullopt;
  pos = 20;
  if (!Digits(t, pos, 2, mm)) return std::nullopt;
  pos = 23;
  if (!Digits(t, pos, 2, ss)) return std::nullopt;
  if (day < 1 || day > DaysInMonth(year, month) || hh > 23 || mm > 59 || ss > 60)
    return std::nullopt;
  return DaysFromCivil(year, month, static_cast<unsigned>(day)) * kMicrosPerDay +
         (hh * 3600 + mm * 60 + ss) * kMicrosPerSecond;
}

std::optional<TimeRange> ParseFhirDateTime(std::string_view t) {
  // YYYY(-MM(-DD(Thh:mm(:ss(.f+)?)?(Z|(+|-)hh:mm))?)?)?   (R4 allows hh:mm without seconds only
  // in search values; we accept it here because this parses search and history parameters too)
  size_t pos = 0;
  int64_t year = 0, month = 1, day = 1, hh = 0, mm = 0, ss = 0;
  if (!Digits(t, pos, 4, year)) return std::nullopt;
  if (pos == t.size()) {
    int64_t lo = DaysFromCivil(year, 1, 1) * kMicrosPerDay;
    return TimeRange{lo, DaysFromCivil(year + 1, 1, 1) * kMicrosPerDay};
  }
  if (t[pos++] != '-' || !Digits(t, pos, 2, month) || month < 1 || month > 12) return std::nullopt;
  if (pos == t.size()) {
    int64_t lo = DaysFromCivil(year, static_cast<unsigned>(month), 1) * kMicrosPerDay;
    int64_t next_y = month == 12 ? year + 1 : year;
    unsigned next_m = month == 12 ? 1 : static_cast<unsigned>(month) + 1;
    return TimeRange{lo, DaysFromCivil(next_y, next_m, 1) * kMicrosPerDay};
  }
  if (t[pos++] != '-' || !Digits(t, pos, 2, day) || day < 1 ||
      day > DaysInMonth(year, static_cast<unsigned>(month)))
    return std::nullopt;
  int64_t day_start =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kMicrosPerDay;
  if (pos == t.size()) return TimeRange{day_start, day_start + kMicrosPerDay};
  if (t[pos++] != 'T' || !Digits(t, pos, 2, hh) || hh > 23) return std::nullopt;
  if (pos >= t.size() || t[pos++] != ':' || !Digits(t, pos, 2, mm) || mm > 59) return std::nullopt;
  int64_t unit = 60 * kMicrosPerSecond;  // precision of the value
  int64_t frac = 0;
  if (pos < t.size() && t[pos] == ':') {
    ++pos;
    if (!Digits(t, pos, 2, ss) || ss > 60) return std::nullopt;  // 60: leap second
    unit = kMicrosPerSecond;
    if (pos < t.size() && t[pos] == '.') {
      ++pos;
      size_t start = pos;
      int64_t scale = kMicrosPerSecond;
      while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
        if (scale > 1) {
          scale /= 10;
          frac += (t[pos] - '0') * scale;
        }
        ++pos;
      }
      if (pos == start) return std::nullopt;
      unit = std::max<int64_t>(scale, 1);
    }
  }
  if (pos >= t.size()) return std::nullopt;  // a time needs a zone
  int64_t offset = 0;
  if (t[pos] == 'Z') {
    ++pos;
  } else if (t[pos] == '+' || t[pos] == '-') {
    int sign = t[pos++] == '-' ? -1 : 1;
    int64_t oh = 0, om = 0;
    if (!Digits(t, pos, 2, oh) || pos >= t.size() || t[pos++] != ':' || !Digits(t, pos, 2, om) ||
        om > 59 || oh * 60 + om > 14 * 60)
      return std::nullopt;
    offset = sign * (oh * 3600 + om * 60) * kMicrosPerSecond;
  } else {
    return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  int64_t low = day_start + (hh * 3600 + mm * 60 + ss) * kMicrosPerSecond + frac - offset;
  return TimeRange{low, low + unit};
}

}  // namespace kiln::core
