#include "validation/primitives.h"

#include "core/clock.h"

#include <algorithm>
#include <array>
#include <utility>

namespace kiln::validation::internal {
namespace {

// Sorted by name for binary search.
constexpr std::array<std::pair<std::string_view, Primitive>, 20> kPrimitives = {{
    {"base64Binary", Primitive::kBase64Binary},
    {"boolean", Primitive::kBoolean},
    {"canonical", Primitive::kCanonical},
    {"code", Primitive::kCode},
    {"date", Primitive::kDate},
    {"dateTime", Primitive::kDateTime},
    {"decimal", Primitive::kDecimal},
    {"id", Primitive::kId},
    {"instant", Primitive::kInstant},
    {"integer", Primitive::kInteger},
    {"markdown", Primitive::kMarkdown},
    {"oid", Primitive::kOid},
    {"positiveInt", Primitive::kPositiveInt},
    {"string", Primitive::kString},
    {"time", Primitive::kTime},
    {"unsignedInt", Primitive::kUnsignedInt},
    {"uri", Primitive::kUri},
    {"url", Primitive::kUrl},
    {"uuid", Primitive::kUuid},
    {"xhtml", Primitive::kXhtml},
}};

// The R4 limit on strings: 1MB, counted in characters.
constexpr size_t kMaxStringChars = size_t{1024} * 1024;

// \s in the regexes of the R4 definitions (Java/XML Schema flavour): space, \t \n \v \f \r.
bool IsRegexSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Reads exactly `n` digits at s[pos], advancing pos; false if there are fewer.
bool ReadDigits(std::string_view s, size_t& pos, int n, int& out) {
  if (s.size() - pos < static_cast<size_t>(n)) return false;
  int value = 0;
  for (int i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (!IsDigit(c)) return false;
    value = value * 10 + (c - '0');
  }
  pos += n;
  out = value;
  return true;
}

bool Consume(std::string_view s, size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

int DaysInMonth(int year, int month) {
  return static_cast<int>(core::DaysInMonth(year, static_cast<unsigned>(month)));
}

// YYYY[-MM[-DD]]; `parts` is set to how many of the three were read.
bool ReadDate(std::string_view s, size_t& pos, int& parts) {
  int year = 0;
  int month = 0;
  int day = 0;
  if (!ReadDigits(s, pos, 4, year) || year == 0) return false;
  parts = 1;
  if (!Consume(s, pos, '-')) return true;
  if (!ReadDigits(s, pos, 2, month) || month < 1 || month > 12) return false;
  parts = 2;
  if (!Consume(s, pos, '-')) return true;
  if (!ReadDigits(s, pos, 2, day) || day < 1 || day > DaysInMonth(year, month)) return false;
  parts = 3;
  return true;
}

// hh:mm:ss[.f+]; 24:00 is not allowed, a leap second (:60) is.
bool ReadTime(std::string_view s, size_t& pos) {
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!ReadDigits(s, pos, 2, hour) || hour > 23) return false;
  if (!Consume(s, pos, ':') || !ReadDigits(s, pos, 2, minute) || minute > 59) return false;
  if (!Consume(s, pos, ':') || !ReadDigits(s, pos, 2, second) || second > 60) return false;
  if (Consume(s, pos, '.')) {
    const size_t first = pos;
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    if (pos == first) return false;
  }
  return true;
}

// Z or +hh:mm / -hh:mm within 14:00.
bool ReadZone(std::string_view s, size_t& pos) {
  if (Consume(s, pos, 'Z')) return true;
  if (!Consume(s, pos, '+') && !Consume(s, pos, '-')) return false;
  int hour = 0;
  int minute = 0;
  if (!ReadDigits(s, pos, 2, hour) || !Consume(s, pos, ':') || !ReadDigits(s, pos, 2, minute)) {
    return false;
  }
  if (minute > 59) return false;
  return hour < 14 || (hour == 14 && minute == 0);
}

bool ReadDateTimeRest(std::string_view s, size_t& pos) {
  return Consume(s, pos, 'T') && ReadTime(s, pos) && ReadZone(s, pos);
}

}  // namespace

Primitive PrimitiveFromName(std::string_view name) {
  const auto it =
      std::lower_bound(kPrimitives.begin(), kPrimitives.end(), name,
                       [](const auto& entry, std::string_view n) { return entry.first < n; });
  return it != kPrimitives.end() && it->first == name ? it->second : Primitive::kNone;
}

std::string_view PrimitiveName(Primitive primitive) {
  for (const auto& [name, p] : kPrimitives) {
    if (p == primitive) return name;
  }
  return "";
}

JsonKind JsonKindOf(Primitive primitive) {
  switch (primitive) {
    case Primitive::kBoolean:
      return JsonKind::kBool;
    case Primitive::kInteger:
    case Primitive::kUnsignedInt:
    case Primitive::kPositiveInt:
    case Primitive::kDecimal:
      return JsonKind::kNumber;
    default:
      return JsonKind::kString;
  }
}

StringCheck CheckString(std::string_view s) {
  bool control = false;
  bool only_space = true;
  size_t chars = 0;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20) {
      if (c == '\v' || c == '\f') return StringCheck::kForbiddenWhitespace;
      if (c != '\t' && c != '\r' && c != '\n') control = true;
    }
    if (!IsRegexSpace(c)) only_space = false;
    // Count characters, not bytes: skip UTF-8 continuation bytes.
    if ((u & 0xC0) != 0x80) ++chars;
  }
  if (chars > kMaxStringChars) return StringCheck::kTooLong;
  if (control) return StringCheck::kControlCharacter;
  if (only_space) return StringCheck::kOnlyWhitespace;
  return StringCheck::kOk;
}

bool IsValidCode(std::string_view s) {
  if (s.empty() || IsRegexSpace(s.front()) || IsRegexSpace(s.back())) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (IsRegexSpace(s[i]) && IsRegexSpace(s[i - 1])) return false;
  }
  return true;
}

bool IsValidId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlpha(c) || IsDigit(c) || c == '-' || c == '.'; });
}

bool IsValidUri(std::string_view s) { return std::none_of(s.begin(), s.end(), IsRegexSpace); }

bool IsValidOid(std::string_view s) {
  constexpr std::string_view kPrefix = "urn:oid:";
  if (!s.starts_with(kPrefix)) return false;
  s.remove_prefix(kPrefix.size());
  if (s.empty() || s[0] < '0' || s[0] > '2') return false;
  size_t pos = 1;
  int arcs = 0;
  while (pos < s.size()) {
    if (s[pos] != '.') return false;
    ++pos;
    const size_t first = pos;
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    if (pos == first) return false;
    if (s[first] == '0' && pos - first > 1) return false;  // no leading zeros
    ++arcs;
  }
  return arcs > 0;
}

bool IsValidUuid(std::string_view s) {
  constexpr std::string_view kPrefix = "urn:uuid:";
  if (!s.starts_with(kPrefix)) return false;
  s.remove_prefix(kPrefix.size());
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!IsDigit(c) && !(c >= 'a' && c <= 'f')) {
      return false;
    }
  }
  return true;
}

bool IsValidBase64(std::string_view s) {
  // Whitespace may only come between groups of four characters.
  size_t count = 0;
  for (const char c : s) {
    if (IsRegexSpace(c)) {
      if (count % 4 != 0) return false;
    } else if (IsAlpha(c) || IsDigit(c) || c == '+' || c == '/' || c == '=') {
      ++count;
    } else {
      return false;
    }
  }
  return count > 0 && count % 4 == 0;
}

bool IsValidDate(std::string_view s) {
  size_t pos = 0;
  int parts = 0;
  return ReadDate(s, pos, parts) && pos == s.size();
}

bool IsValidDateTime(std::string_view s) {
  size_t pos = 0;
  int parts = 0;
  if (!ReadDate(s, pos, parts)) return false;
  if (pos == s.size()) return true;
  return parts == 3 && ReadDateTimeRest(s, pos) && pos == s.size();
}

bool IsValidInstant(std::string_view s) {
  size_t pos = 0;
  int parts = 0;
  return ReadDate(s, pos, parts) && parts == 3 && ReadDateTimeRest(s, pos) && pos == s.size();
}

bool IsValidTime(std::string_view s) {
  size_t pos = 0;
  return ReadTime(s, pos) && pos == s.size();
}

bool HasUriScheme(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ':') return true;
    if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

}  // namespace kiln::validation::internal
