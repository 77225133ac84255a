// Dates, dateTimes and times: parsing with precision, formatting, comparison by the FHIRPath
// precision rules (seconds and milliseconds are one precision; values known to different
// precisions that agree as far as both go compare as empty), and calendar arithmetic.

#include <cctype>
#include <charconv>
#include <cstdio>

#include "core/clock.h"
#include "fhirpath/internal.h"

namespace kiln::fhirpath::internal {
namespace {

bool ReadInt(std::string_view s, size_t& i, size_t n, int& out) {
  if (i + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    char c = s[i + k];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  i += n;
  return true;
}

// Parses hh(:mm(:ss(.fff)?)?)? starting at i into t (precision 4..7).
bool ParseTimePart(std::string_view s, size_t& i, Temporal& t) {
  int v;
  if (!ReadInt(s, i, 2, v) || v > 23) return false;
  t.hour = static_cast<int8_t>(v);
  t.precision = 4;
  if (i < s.size() && s[i] == ':') {
    ++i;
    if (!ReadInt(s, i, 2, v) || v > 59) return false;
    t.minute = static_cast<int8_t>(v);
    t.precision = 5;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!ReadInt(s, i, 2, v) || v > 59) return false;
      t.second = static_cast<int8_t>(v);
      t.precision = 6;
      if (i < s.size() && s[i] == '.') {
        ++i;
        size_t b = i;
        int ms = 0, digits = 0;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
          if (digits < 3) ms = ms * 10 + (s[i] - '0');
          ++digits;
          ++i;
        }
        if (i == b) return false;
        for (int k = digits; k < 3; ++k) ms *= 10;
        t.millis = static_cast<int16_t>(ms);
        t.precision = 7;
      }
    }
  }
  return true;
}

bool ParseTz(std::string_view s, size_t& i, Temporal& t) {
  if (i >= s.size()) return true;
  if (s[i] == 'Z') {
    ++i;
    t.has_tz = true;
    t.tz_minutes = 0;
    return true;
  }
  if (s[i] == '+' || s[i] == '-') {
    int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int h, m;
    if (!ReadInt(s, i, 2, h) || i >= s.size() || s[i] != ':') return false;
    ++i;
    if (!ReadInt(s, i, 2, m)) return false;
    t.has_tz = true;
    t.tz_minutes = static_cast<int16_t>(sign * (h * 60 + m));
    return true;
  }
  return false;
}

bool ParseDatePart(std::string_view s, size_t& i, Temporal& t) {
  int v;
  if (!ReadInt(s, i, 4, v)) return false;
  t.year = v;
  t.precision = 1;
  if (i + 1 < s.size() && s[i] == '-' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
    ++i;
    if (!ReadInt(s, i, 2, v) || v < 1 || v > 12) return false;
    t.month = static_cast<int8_t>(v);
    t.precision = 2;
    if (i + 1 < s.size() && s[i] == '-' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      ++i;
      if (!ReadInt(s, i, 2, v) || v < 1 || v > 31) return false;
      t.day = static_cast<int8_t>(v);
      t.precision = 3;
    }
  }
  return true;
}

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
void CivilFromDays(int64_t z, int32_t& y, int8_t& m, int8_t& d) {
  core::CivilDate c = core::CivilFromDays(z);
  y = static_cast<int32_t>(c.year);
  m = static_cast<int8_t>(c.month);
  d = static_cast<int8_t>(c.day);
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) { return core::DaysFromCivil(y, m, d); }

int DaysInMonth(int y, int m) {
  return static_cast<int>(core::DaysInMonth(y, static_cast<unsigned>(m)));
}

// Shifts a value known to at least the hour by `minutes` (tz normalisation, arithmetic).
void AddMinutes(Temporal& t, int64_t minutes, bool has_date) {
  int64_t total = t.hour * 60 + t.minute + minutes;
  int64_t day_shift = total >= 0 ? total / 1440 : -((-total + 1439) / 1440);
  total -= day_shift * 1440;
  t.hour = static_cast<int8_t>(total / 60);
  t.minute = static_cast<int8_t>(total % 60);
  if (has_date && day_shift != 0) {
    int64_t days = DaysFromCivil(t.year, t.month, t.day) + day_shift;
    CivilFromDays(days, t.year, t.month, t.day);
  }
}

Temporal ToUtc(const Temporal& t) {
  if (!t.has_tz || t.precision < 4) return t;
  Temporal u = t;
  AddMinutes(u, -t.tz_minutes, t.precision >= 3 && t.year != 0);
  u.tz_minutes = 0;
  return u;
}

}  // namespace

std::optional<Temporal> ParseDate(std::string_view s) {
  Temporal t;
  size_t i = 0;
  if (!ParseDatePart(s, i, t) || i != s.size()) return std::nullopt;
  return t;
}

std::optional<Temporal> ParseDateTime(std::string_view s) {
  Temporal t;
  size_t i = 0;
  if (!ParseDatePart(s, i, t)) return std::nullopt;
  if (i < s.size() && s[i] == 'T') {
    ++i;
    if (i == s.size()) return t;  // "@2015T" is a dateTime of year precision
    if (t.precision < 3) return std::nullopt;
    if (!ParseTimePart(s, i, t)) return std::nullopt;
    if (!ParseTz(s, i, t)) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return t;
}

std::optional<Temporal> ParseTime(std::string_view s) {
  Temporal t;
  size_t i = 0;
  if (!ParseTimePart(s, i, t) || i != s.size()) return std::nullopt;
  return t;
}

std::string FormatTemporal(const Temporal& t, ValueKind kind) {
  char buf[64];
  std::string out;
  if (kind != ValueKind::kTime) {
    std::snprintf(buf, sizeof buf, "%04d", t.year);
    out += buf;
    if (t.precision >= 2) {
      std::snprintf(buf, sizeof buf, "-%02d", t.month);
      out += buf;
    }
    if (t.precision >= 3) {
      std::snprintf(buf, sizeof buf, "-%02d", t.day);
      out += buf;
    }
    if (kind == ValueKind::kDate || t.precision < 4) {
      if (kind == ValueKind::kDateTime && t.precision < 3) out += "T";
      return out;
    }
    out += "T";
  }
  std::snprintf(buf, sizeof buf, "%02d", t.hour);
  out += buf;
  if (t.precision >= 5) {
    std::snprintf(buf, sizeof buf, ":%02d", t.minute);
    out += buf;
  }
  if (t.precision >= 6) {
    std::snprintf(buf, sizeof buf, ":%02d", t.second);
    out += buf;
  }
  if (t.precision >= 7) {
    std::snprintf(buf, sizeof buf, ".%03d", t.millis);
    out += buf;
  }
  if (kind == ValueKind::kDateTime && t.has_tz) {
    if (t.tz_minutes == 0) {
      out += "Z";
    } else {
      int m = t.tz_minutes < 0 ? -t.tz_minutes : t.tz_minutes;
      std::snprintf(buf, sizeof buf, "%c%02d:%02d", t.tz_minutes < 0 ? '-' : '+', m / 60, m % 60);
      out += buf;
    }
  }
  return out;
}

std::optional<int> CompareTemporal(const Temporal& a_in, const Temporal& b_in) {
  Temporal a = a_in, b = b_in;
  if (a.has_tz != b.has_tz && a.precision >= 4 && b.precision >= 4) {
    // One side has no offset: its instant is not known, so the comparison is empty.
    return std::nullopt;
  }
  a = ToUtc(a);
  b = ToUtc(b);
  bool is_time = a.year == 0 && b.year == 0 && a.precision >= 4 && b.precision >= 4 &&
                 a_in.month == 0 && b_in.month == 0;
  int first = is_time ? 4 : 1;
  auto field = [](const Temporal& t, int p) -> int64_t {
    switch (p) {
      case 1: return t.year;
      case 2: return t.month;
      case 3: return t.day;
      case 4: return t.hour;
      case 5: return t.minute;
      default: return t.second * 1000 + t.millis;  // seconds and milliseconds: one precision
    }
  };
  auto prec = [](const Temporal& t) { return t.precision >= 6 ? 6 : t.precision; };
  int pa = prec(a), pb = prec(b);
  for (int p = first; p <= 6; ++p) {
    bool ha = p <= pa, hb = p <= pb;
    if (!ha && !hb) return 0;
    if (ha != hb) return std::nullopt;
    int64_t fa = field(a, p), fb = field(b, p);
    if (fa != fb) return fa < fb ? -1 : 1;
  }
  return 0;
}

// Adds `amount` of a calendar unit to t (the unit already normalised to a calendar word).
std::optional<Temporal> AddDuration(const Temporal& t, ValueKind kind, double amount,
                                    std::string_view unit) {
  Temporal r = t;
  int64_t n = static_cast<int64_t>(amount);
  bool has_date = kind != ValueKind::kTime;
  if (unit == "year" || unit == "month") {
    if (!has_date) return std::nullopt;
    int64_t months = unit == "year" ? n * 12 : n;
    if (unit == "month" && r.precision < 2) months = (n / 12) * 12;
    int64_t total = int64_t(r.year) * 12 + (r.precision >= 2 ? r.month - 1 : 0) + months;
    r.year = static_cast<int32_t>(total / 12);
    if (r.precision >= 2) r.month = static_cast<int8_t>(total % 12 + 1);
    if (r.precision >= 3) r.day = static_cast<int8_t>(std::min<int>(r.day, DaysInMonth(r.year, r.month)));
    return r;
  }
  if (unit == "week" || unit == "day") {
    if (!has_date) return std::nullopt;
    int64_t days = unit == "week" ? n * 7 : n;
    if (r.precision < 3) {
      // Not known to the day: whole years/months only (FHIRPath rounds to the precision).
      if (r.precision == 2) return AddDuration(t, kind, double(days / 30), "month");
      return AddDuration(t, kind, double(days / 365), "year");
    }
    CivilFromDays(DaysFromCivil(r.year, r.month, r.day) + days, r.year, r.month, r.day);
    return r;
  }
  int64_t ms;
  if (unit == "hour") {
    ms = n * 3600000;
  } else if (unit == "minute") {
    ms = n * 60000;
  } else if (unit == "second") {
    ms = static_cast<int64_t>(amount * 1000);
  } else if (unit == "millisecond") {
    ms = n;
  } else {
    return std::nullopt;
  }
  if (r.precision < 4) {
    if (kind == ValueKind::kTime) return std::nullopt;
    if (r.precision < 3) return r;
    return AddDuration(t, kind, double(ms / 86400000), "day");
  }
  // Drop what the value's precision cannot hold, then carry through minutes.
  int64_t total_ms = (int64_t(r.second) * 1000 + r.millis) + ms;
  int64_t carry_min = total_ms >= 0 ? total_ms / 60000 : -((-total_ms + 59999) / 60000);
  total_ms -= carry_min * 60000;
  if (r.precision >= 6) {
    r.second = static_cast<int8_t>(total_ms / 1000);
    r.millis = static_cast<int16_t>(total_ms % 1000);
  }
  int64_t minutes = carry_min;
  if (r.precision == 4) minutes = (minutes / 60) * 60;
  AddMinutes(r, minutes, has_date);
  return r;
}

}  // namespace kiln::fhirpath::internal
