#include "search/query_values.h"

#include <cstdlib>
#include <string>

#include "core/clock.h"
#include "fhir/definitions.h"

namespace kiln::search {

// ---- Decimal (declared in query.h) ----

std::string Decimal::ToPlainString() const {
  std::string out;
  if (negative && digits != "0") out += '-';
  if (exponent >= 0) {
    out += digits;
    if (digits != "0") out.append(static_cast<size_t>(exponent), '0');
    return out;
  }
  const size_t places = static_cast<size_t>(-static_cast<int64_t>(exponent));
  if (digits.size() > places) {
    out.append(digits, 0, digits.size() - places);
    out += '.';
    out.append(digits, digits.size() - places);
  } else {
    out += "0.";
    out.append(places - digits.size(), '0');
    out += digits;
  }
  return out;
}

std::string Decimal::ToString() const {
  if (exponent <= 0) return ToPlainString();
  // Coarser than units: only exponent notation keeps the precision ("1e2" is not "100").
  std::string out;
  if (negative && digits != "0") out += '-';
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out.append(digits, 1);
  }
  out += 'e';
  out += std::to_string(static_cast<int64_t>(exponent) + static_cast<int64_t>(digits.size()) - 1);
  return out;
}

double Decimal::ToDouble() const {
  // No decimal point in this form, so strtod's locale does not matter.
  std::string text = (negative ? "-" : "") + digits + "e" + std::to_string(exponent);
  return std::strtod(text.c_str(), nullptr);
}

namespace internal {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerMinute = 60 * kMicrosPerSecond;
constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;
constexpr int32_t kMaxExponent = 1000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }

// Reads exactly `n` digits at text[pos]; advances pos.
bool ReadDigits(std::string_view text, size_t& pos, int n, int64_t& out) {
  if (pos + n > text.size()) return false;
  int64_t v = 0;
  for (int i = 0; i < n; ++i) {
    if (!IsDigit(text[pos + i])) return false;
    v = v * 10 + (text[pos + i] - '0');
  }
  pos += n;
  out = v;
  return true;
}

std::string StripLeadingZeros(std::string digits) {
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return "0";
  digits.erase(0, first);
  return digits;
}

// digits - 1 for a positive decimal digit string.
std::string Decrement(std::string digits) {
  for (size_t i = digits.size(); i-- > 0;) {
    if (digits[i] != '0') {
      --digits[i];
      break;
    }
    digits[i] = '9';
  }
  return StripLeadingZeros(std::move(digits));
}

constexpr struct {
  std::string_view text;
  Prefix prefix;
} kPrefixes[] = {
    {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
    {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
    {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp},
};

// Takes the optional two-letter prefix off an ordered value.
Result<Prefix> TakePrefix(std::string_view& text) {
  if (text.size() < 2 || !IsLower(text[0]) || !IsLower(text[1])) return Prefix::kEq;
  for (const auto& p : kPrefixes) {
    if (text.substr(0, 2) == p.text) {
      text.remove_prefix(2);
      if (text.empty()) return Status::Invalid("a value is needed after the prefix");
      return p.prefix;
    }
  }
  std::string problem = "'";
  problem += text.substr(0, 2);
  problem += "' is not a prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)";
  return Status::Invalid(std::move(problem));
}

Result<std::string> UnescapeOrFail(std::string_view text) {
  std::optional<std::string> out = Unescape(text);
  if (!out) {
    return Status::Invalid(
        "invalid escape: a backslash must precede \\ , $ or | (write \\\\ "
        "for a backslash)");
  }
  return std::move(*out);
}

// The decimal of a number or quantity value, with its implicit range.
Status ParseOrdered(std::string_view text, Prefix& prefix, Decimal& value, Decimal& low,
                    Decimal& high) {
  Result<Prefix> p = TakePrefix(text);
  if (!p.ok()) return p.take_status();
  prefix = *p;
  std::optional<Decimal> d = ParseDecimal(text);
  if (!d) return Status::Invalid("not a number");
  value = std::move(*d);
  ImplicitRange(value, low, high);
  return Status::Ok();
}

bool HasScheme(std::string_view text) {
  // RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(text[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    const char c = text[i];
    if (!alpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

std::vector<std::string_view> SplitPath(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t slash = text.find('/', start);
    out.push_back(text.substr(start, slash == std::string_view::npos ? text.npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

// Reads "Type/id" or "Type/id/_history/v" from segments [first, end).
bool ReadTypeAndId(const std::vector<std::string_view>& s, size_t first, ReferenceTerm& out) {
  const size_t n = s.size() - first;
  if (n != 2 && n != 4) return false;
  if (!fhir::IsResourceType(s[first]) || !IsFhirId(s[first + 1])) return false;
  if (n == 4 && (s[first + 2] != "_history" || !IsFhirId(s[first + 3]))) return false;
  out.type = std::string(s[first]);
  out.id = std::string(s[first + 1]);
  if (n == 4) out.version = std::string(s[first + 3]);
  return true;
}

}  // namespace

std::vector<std::string_view> SplitUnescaped(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;  // the escaped character, whatever it is
    } else if (text[i] == separator) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

std::optional<std::string> Unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 == text.size()) return std::nullopt;
    const char next = text[++i];
    if (next != '\\' && next != ',' && next != '$' && next != '|') return std::nullopt;
    out += next;
  }
  return out;
}

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || c == ',' || c == '$' || c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::optional<Decimal> ParseDecimal(std::string_view text) {
  size_t pos = 0;
  Decimal d;
  if (pos < text.size() && text[pos] == '-') {
    d.negative = true;
    ++pos;
  }
  const size_t int_start = pos;
  while (pos < text.size() && IsDigit(text[pos])) ++pos;
  if (pos == int_start) return std::nullopt;
  std::string digits(text.substr(int_start, pos - int_start));
  int64_t exponent = 0;
  if (pos < text.size() && text[pos] == '.') {
    const size_t frac_start = ++pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    if (pos == frac_start) return std::nullopt;
    digits.append(text.substr(frac_start, pos - frac_start));
    exponent = -static_cast<int64_t>(pos - frac_start);
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool exp_negative = false;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      exp_negative = text[pos] == '-';
      ++pos;
    }
    const size_t exp_start = pos;
    int64_t e = 0;
    while (pos < text.size() && IsDigit(text[pos])) {
      if (e <= kMaxExponent) e = e * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == exp_start) return std::nullopt;
    exponent += exp_negative ? -e : e;
  }
  if (pos != text.size()) return std::nullopt;
  if (exponent > kMaxExponent || exponent < -kMaxExponent) return std::nullopt;
  d.digits = StripLeadingZeros(std::move(digits));
  d.exponent = static_cast<int32_t>(exponent);
  if (d.digits == "0") d.negative = false;  // no negative zero
  return d;
}

void ImplicitRange(const Decimal& value, Decimal& low, Decimal& high) {
  // value = digits * 10^e; half a unit of the last digit is 5 * 10^(e-1), so the bounds are
  // (digits * 10 -/+ 5) * 10^(e-1), i.e. (digits - 1) followed by 5, and digits followed by 5.
  const int32_t e = value.exponent - 1;
  if (value.digits == "0") {
    low = Decimal{true, "5", e};
    high = Decimal{false, "5", e};
    return;
  }
  const std::string below = StripLeadingZeros(Decrement(value.digits) + "5");  // |value| - half
  const std::string above = value.digits + "5";  // |value| + half a unit
  if (!value.negative) {
    low = Decimal{false, below, e};
    high = Decimal{false, above, e};
  } else {
    low = Decimal{true, above, e};
    high = Decimal{true, below, e};
  }
}

Result<NumberTerm> ParseNumberTerm(std::string_view text) {
  NumberTerm term;
  Status s = ParseOrdered(text, term.prefix, term.value, term.low, term.high);
  if (!s.ok()) return s;
  return term;
}

Result<DateTerm> ParseDateTerm(std::string_view text) {
  DateTerm term;
  Result<Prefix> prefix = TakePrefix(text);
  if (!prefix.ok()) return prefix.take_status();
  term.prefix = *prefix;
  term.text = std::string(text);
  const Status bad = Status::Invalid(
      "not a valid date (expected yyyy, yyyy-mm, yyyy-mm-dd or "
      "yyyy-mm-ddThh:mm[:ss[.fff]][Z|(+|-)hh:mm])");

  size_t pos = 0;
  int64_t year = 0, month = 1, day = 1, hh = 0, mm = 0, ss = 0;
  if (!ReadDigits(text, pos, 4, year) || year == 0) return bad;
  if (pos == text.size()) {
    term.precision = DatePrecision::kYear;
    term.low = core::DaysFromCivil(year, 1, 1) * kMicrosPerDay;
    term.high = core::DaysFromCivil(year + 1, 1, 1) * kMicrosPerDay;
    return term;
  }
  if (text[pos++] != '-' || !ReadDigits(text, pos, 2, month)) return bad;
  if (month < 1 || month > 12)
    return Status::Invalid("not a valid date: no month " + std::to_string(month));
  if (pos == text.size()) {
    term.precision = DatePrecision::kMonth;
    term.low = core::DaysFromCivil(year, static_cast<unsigned>(month), 1) * kMicrosPerDay;
    term.high = month == 12 ? core::DaysFromCivil(year + 1, 1, 1) * kMicrosPerDay
                            : core::DaysFromCivil(year, static_cast<unsigned>(month) + 1, 1) *
                                  kMicrosPerDay;
    return term;
  }
  if (text[pos++] != '-' || !ReadDigits(text, pos, 2, day)) return bad;
  const unsigned days_in_month = core::DaysInMonth(year, static_cast<unsigned>(month));
  if (day < 1 || day > days_in_month) {
    return Status::Invalid("not a valid date: " + std::string(text.substr(0, 7)) + " has " +
                           std::to_string(days_in_month) + " days");
  }
  const int64_t day_start =
      core::DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) *
      kMicrosPerDay;
  if (pos == text.size()) {
    term.precision = DatePrecision::kDay;
    term.low = day_start;
    term.high = day_start + kMicrosPerDay;
    return term;
  }
  // R4: "the minutes SHALL be present if an hour is present"; seconds are optional in search.
  if (text[pos++] != 'T' || !ReadDigits(text, pos, 2, hh) || pos >= text.size() ||
      text[pos++] != ':' || !ReadDigits(text, pos, 2, mm)) {
    return bad;
  }
  if (hh > 23 || mm > 59)
    return Status::Invalid("not a valid date: no time " + std::string(text.substr(11, 5)));
  term.precision = DatePrecision::kMinute;
  int64_t unit = kMicrosPerMinute;
  int64_t fraction = 0;
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    if (!ReadDigits(text, pos, 2, ss)) return bad;
    if (ss > 60) return Status::Invalid("not a valid date: no second " + std::to_string(ss));
    term.precision = DatePrecision::kSecond;
    unit = kMicrosPerSecond;
    if (pos < text.size() && text[pos] == '.') {
      const size_t start = ++pos;
      int64_t scale = kMicrosPerSecond;
      while (pos < text.size() && IsDigit(text[pos])) {
        if (scale > 1) {  // digits past microseconds are below Kiln's resolution
          scale /= 10;
          fraction += (text[pos] - '0') * scale;
        }
        ++pos;
      }
      if (pos == start) return bad;
      term.precision = DatePrecision::kFraction;
      unit = scale;
    }
  }
  int64_t offset = 0;
  if (pos < text.size()) {
    const char c = text[pos];
    if (c == 'Z') {
      ++pos;
    } else if (c == '+' || c == '-' || c == ' ') {
      // A space is a '+' that was not percent-encoded and became a space in form decoding; in
      // this position it cannot mean anything else.
      ++pos;
      const int sign = c == '-' ? -1 : 1;
      int64_t oh = 0, om = 0;
      if (!ReadDigits(text, pos, 2, oh) || pos >= text.size() || text[pos++] != ':' ||
          !ReadDigits(text, pos, 2, om)) {
        return bad;
      }
      if (om > 59 || oh * 60 + om > 14 * 60) {
        return Status::Invalid("not a valid date: time zone offsets go up to 14:00");
      }
      offset = sign * (oh * 3600 + om * 60) * kMicrosPerSecond;
    } else {
      return bad;
    }
    term.has_time_zone = true;
  }
  if (pos != text.size()) return bad;
  term.low = day_start + (hh * 3600 + mm * 60 + ss) * kMicrosPerSecond + fraction - offset;
  term.high = term.low + unit;
  return term;
}

Result<StringTerm> ParseStringTerm(std::string_view text) {
  Result<std::string> value = UnescapeOrFail(text);
  if (!value.ok()) return value.take_status();
  return StringTerm{std::move(*value)};
}

Result<TokenTerm> ParseTokenTerm(std::string_view text) {
  const std::vector<std::string_view> parts = SplitUnescaped(text, '|');
  if (parts.size() > 2) {
    return Status::Invalid(
        "a token is code, system|code, |code or system| (escape a literal '|' as '\\|')");
  }
  std::vector<std::string> values;
  for (std::string_view part : parts) {
    Result<std::string> v = UnescapeOrFail(part);
    if (!v.ok()) return v.take_status();
    values.push_back(std::move(*v));
  }
  TokenTerm term;
  if (values.size() == 1) {
    term.code = std::move(values[0]);
    return term;
  }
  if (values[0].empty() && values[1].empty()) {
    return Status::Invalid("a token needs a system, a code or both around the '|'");
  }
  term.system = std::move(values[0]);
  if (!values[1].empty()) term.code = std::move(values[1]);
  return term;
}

Result<IdentifierTypeTerm> ParseIdentifierTypeTerm(std::string_view text) {
  const std::vector<std::string_view> parts = SplitUnescaped(text, '|');
  std::vector<std::string> values;
  for (std::string_view part : parts) {
    Result<std::string> v = UnescapeOrFail(part);
    if (!v.ok()) return v.take_status();
    values.push_back(std::move(*v));
  }
  if (values.size() != 3 || values[0].empty() || values[1].empty() || values[2].empty()) {
    return Status::Invalid(
        ":of-type takes system|code|value (the identifier type's system and code, then the "
        "identifier value), all three present");
  }
  return IdentifierTypeTerm{std::move(values[0]), std::move(values[1]), std::move(values[2])};
}

Result<QuantityTerm> ParseQuantityTerm(std::string_view text) {
  const std::vector<std::string_view> parts = SplitUnescaped(text, '|');
  if (parts.size() != 1 && parts.size() != 3) {
    return Status::Invalid(
        "a quantity is [prefix]number, [prefix]number|system|code or [prefix]number||code");
  }
  QuantityTerm term;
  Status s = ParseOrdered(parts[0], term.prefix, term.value, term.low, term.high);
  if (!s.ok()) return s;
  if (parts.size() == 1) return term;
  Result<std::string> system = UnescapeOrFail(parts[1]);
  if (!system.ok()) return system.take_status();
  Result<std::string> code = UnescapeOrFail(parts[2]);
  if (!code.ok()) return code.take_status();
  if (code->empty()) {
    return Status::Invalid("a quantity's unit needs a code after the second '|'");
  }
  if (!system->empty()) term.system = std::move(*system);
  term.code = std::move(*code);
  return term;
}

Result<ReferenceTerm> ParseReferenceTerm(std::string_view text) {
  const std::vector<std::string_view> parts = SplitUnescaped(text, '|');
  if (parts.size() > 2) return Status::Invalid("a reference has at most one '|' (url|version)");
  Result<std::string> first = UnescapeOrFail(parts[0]);
  if (!first.ok()) return first.take_status();
  ReferenceTerm term;
  if (parts.size() == 2) {
    Result<std::string> version = UnescapeOrFail(parts[1]);
    if (!version.ok()) return version.take_status();
    if (first->empty() || version->empty()) {
      return Status::Invalid("a canonical reference is url|version, both present");
    }
    term.kind = ReferenceTerm::Kind::kCanonical;
    term.url = std::move(*first);
    term.version = std::move(*version);
    return term;
  }
  const std::string& value = *first;
  if (HasScheme(value)) {
    term.kind = ReferenceTerm::Kind::kUrl;
    term.url = value;
    // ".../Patient/123" or ".../Patient/123/_history/2": remember the tail for planners that
    // compare absolute URLs under the server's own base with local references.
    const std::vector<std::string_view> segments = SplitPath(value);
    ReferenceTerm tail;
    if (segments.size() >= 4 && ReadTypeAndId(segments, segments.size() - 4, tail)) {
      term.type = std::move(tail.type);
      term.id = std::move(tail.id);
      term.version = std::move(tail.version);
    } else if (segments.size() >= 2 && ReadTypeAndId(segments, segments.size() - 2, tail)) {
      term.type = std::move(tail.type);
      term.id = std::move(tail.id);
    }
    return term;
  }
  if (value.find('/') == std::string::npos) {
    if (!IsFhirId(value)) {
      return Status::Invalid("not a valid id (1 to 64 letters, digits, '-' and '.')");
    }
    term.id = value;
    return term;
  }
  const std::vector<std::string_view> segments = SplitPath(value);
  if (!segments.empty() && !segments[0].empty() && !fhir::IsResourceType(segments[0])) {
    return Status::Invalid("'" + std::string(segments[0]) + "' is not a resource type");
  }
  if (!ReadTypeAndId(segments, 0, term)) {
    return Status::Invalid(
        "a reference is [type]/[id], [type]/[id]/_history/[version], an id or an absolute URL");
  }
  return term;
}

Result<UriTerm> ParseUriTerm(std::string_view text) {
  const std::vector<std::string_view> parts = SplitUnescaped(text, '|');
  if (parts.size() > 2) return Status::Invalid("a uri has at most one '|' (url|version)");
  Result<std::string> uri = UnescapeOrFail(parts[0]);
  if (!uri.ok()) return uri.take_status();
  UriTerm term{std::move(*uri), std::nullopt};
  if (parts.size() == 2) {
    Result<std::string> version = UnescapeOrFail(parts[1]);
    if (!version.ok()) return version.take_status();
    if (term.uri.empty() || version->empty()) {
      return Status::Invalid("a canonical uri is url|version, both present");
    }
    term.version = std::move(*version);
  }
  return term;
}

Result<NearTerm> ParseNearTerm(std::string_view text) {
  const std::vector<std::string_view> parts = SplitUnescaped(text, '|');
  const Status bad = Status::Invalid(
      "near is latitude|longitude[|distance[|units]] (WGS84 degrees; units default to km)");
  if (parts.size() < 2 || parts.size() > 4) return bad;
  std::optional<Decimal> lat = ParseDecimal(parts[0]);
  std::optional<Decimal> lon = ParseDecimal(parts[1]);
  if (!lat || !lon) return bad;
  NearTerm term;
  term.latitude = lat->ToDouble();
  term.longitude = lon->ToDouble();
  if (term.latitude < -90 || term.latitude > 90 || term.longitude < -180 || term.longitude > 180) {
    return Status::Invalid("near: latitude must be within +/-90 and longitude within +/-180");
  }
  if (parts.size() >= 3 && !parts[2].empty()) {
    std::optional<Decimal> distance = ParseDecimal(parts[2]);
    if (!distance || distance->negative) {
      return Status::Invalid("near: the distance must be a non-negative number");
    }
    term.distance = std::move(*distance);
  }
  if (parts.size() == 4) {
    Result<std::string> units = UnescapeOrFail(parts[3]);
    if (!units.ok()) return units.take_status();
    if (!units->empty()) term.units = std::move(*units);
  }
  return term;
}

bool IsFhirId(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string FormatMicros(int64_t micros) {
  std::string text = core::FormatInstant(micros);  // ...:ss.ffffffZ
  const size_t dot = text.rfind('.');
  if (dot != std::string::npos && text.compare(dot, 7, ".000000") == 0) {
    text.erase(dot, 7);
  } else if (dot != std::string::npos) {
    // Drop trailing zeros of the fraction, keep the 'Z'.
    size_t end = text.size() - 1;
    while (end > dot + 1 && text[end - 1] == '0') --end;
    text.erase(end, text.size() - 1 - end);
  }
  return text;
}

}  // namespace internal
}  // namespace kiln::search
