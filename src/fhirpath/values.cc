// System values: conversion of FHIR primitives to System types, equality (=) and equivalence (~),
// ordering, arithmetic, quantities with a small UCUM table, and the to*() conversions.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <regex>

#include "fhir/definitions.h"
#include "fhirpath/internal.h"

namespace kiln::fhirpath {

Item Item::Boolean(bool b) {
  Item i;
  i.kind = ValueKind::kBoolean;
  i.boolean = b;
  return i;
}
Item Item::Integer(int64_t v) {
  Item i;
  i.kind = ValueKind::kInteger;
  i.integer = v;
  return i;
}
Item Item::Dec(Decimal d) {
  Item i;
  i.kind = ValueKind::kDecimal;
  i.decimal = d;
  return i;
}
Item Item::String(std::string s) {
  Item i;
  i.kind = ValueKind::kString;
  i.text = std::move(s);
  return i;
}
Item Item::Quantity(Decimal value, std::string unit) {
  Item i;
  i.kind = ValueKind::kQuantity;
  i.decimal = value;
  i.text = std::move(unit);
  return i;
}

namespace internal {

void Fail(std::string message) { throw EvalError{std::move(message)}; }

std::optional<Decimal> ParseDecimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') ++i;
  size_t digits = 0, scale = 0;
  bool dot = false;
  for (; i < s.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      ++digits;
      if (dot) ++scale;
    } else if (s[i] == '.' && !dot) {
      dot = true;
    } else if (s[i] == 'e' || s[i] == 'E') {
      break;  // JSON exponent: precision unknown
    } else {
      return std::nullopt;
    }
  }
  if (digits == 0 || (dot && scale == 0 && i == s.size())) return std::nullopt;
  Decimal d;
  std::string tmp(s);
  d.value = std::strtod(tmp.c_str(), nullptr);
  d.scale = i == s.size() ? static_cast<int>(scale) : -1;
  return d;
}

std::string FormatDecimal(const Decimal& d) {
  char buf[64];
  if (d.scale >= 0 && d.scale < 20) {
    std::snprintf(buf, sizeof buf, "%.*f", d.scale, d.value);
    return buf;
  }
  // Shortest text that round-trips, without an exponent.
  auto r = std::to_chars(buf, buf + sizeof buf, d.value);
  std::string s(buf, r.ptr);
  if (s.find('e') != std::string::npos) {
    std::snprintf(buf, sizeof buf, "%.10f", d.value);
    s = buf;
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  return s;
}

namespace {

Decimal DecimalOfJson(const json::value& v) {
  if (v.is_int64()) return {double(v.as_int64()), 0};
  if (v.is_uint64()) return {double(v.as_uint64()), 0};
  if (v.is_double()) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v.as_double());
    auto d = ParseDecimal(std::string_view(buf, r.ptr - buf));
    return d ? *d : Decimal{v.as_double(), -1};
  }
  if (v.is_string()) {
    auto d = ParseDecimal(v.as_string());
    if (d) return *d;
  }
  return {0, -1};
}

std::string JsonText(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  if (v.is_double()) return FormatDecimal(DecimalOfJson(v));
  return json::serialize(v);
}

Item TemporalItem(ValueKind kind, const Temporal& t, std::string text) {
  Item i;
  i.kind = kind;
  i.temporal = t;
  i.text = std::move(text);
  return i;
}

}  // namespace

std::optional<Item> ToSystem(const Item& item) {
  if (item.kind != ValueKind::kElement) return item;
  const json::value* v = item.node;
  if (v == nullptr) return std::nullopt;
  std::string_view t = item.type_name;
  if (v->is_object()) {
    if (TypeIs(t, "Quantity")) {
      const json::object& o = v->as_object();
      const json::value* value = o.if_contains("value");
      if (value == nullptr) return std::nullopt;
      std::string unit;
      if (const json::value* c = o.if_contains("code"); c && c->is_string()) {
        unit = std::string(c->as_string());
      } else if (const json::value* u = o.if_contains("unit"); u && u->is_string()) {
        unit = std::string(u->as_string());
      }
      return Item::Quantity(DecimalOfJson(*value), std::move(unit));
    }
    return std::nullopt;
  }
  if (v->is_array()) return std::nullopt;
  if (t == "boolean") {
    if (v->is_bool()) return Item::Boolean(v->as_bool());
  } else if (t == "integer" || t == "positiveInt" || t == "unsignedInt") {
    if (v->is_int64()) return Item::Integer(v->as_int64());
    if (v->is_uint64()) return Item::Integer(static_cast<int64_t>(v->as_uint64()));
  } else if (t == "decimal") {
    if (v->is_number() || v->is_string()) return Item::Dec(DecimalOfJson(*v));
  } else if (t == "date") {
    if (v->is_string()) {
      if (auto p = ParseDate(v->as_string())) {
        return TemporalItem(ValueKind::kDate, *p, std::string(v->as_string()));
      }
    }
  } else if (t == "dateTime" || t == "instant") {
    if (v->is_string()) {
      std::string_view s = v->as_string();
      if (auto p = ParseDateTime(s)) {
        return TemporalItem(p->precision <= 3 && s.find('T') == std::string_view::npos
                                ? ValueKind::kDateTime
                                : ValueKind::kDateTime,
                            *p, std::string(s));
      }
    }
  } else if (t == "time") {
    if (v->is_string()) {
      if (auto p = ParseTime(v->as_string())) {
        return TemporalItem(ValueKind::kTime, *p, std::string(v->as_string()));
      }
    }
  }
  if (v->is_bool()) return Item::Boolean(v->as_bool());
  if (v->is_int64() || v->is_uint64()) {
    if (t == "decimal") return Item::Dec(DecimalOfJson(*v));
    return Item::Integer(v->is_int64() ? v->as_int64() : int64_t(v->as_uint64()));
  }
  if (v->is_double()) return Item::Dec(DecimalOfJson(*v));
  return Item::String(JsonText(*v));
}

Item Normalize(const Item& item) {
  if (item.kind != ValueKind::kElement) return item;
  auto s = ToSystem(item);
  return s ? std::move(*s) : item;
}

std::string ItemToString(const Item& item) {
  if (item.kind == ValueKind::kElement) {
    auto s = ToSystem(item);
    if (!s) return item.node ? json::serialize(*item.node) : std::string();
    return ItemToString(*s);
  }
  switch (item.kind) {
    case ValueKind::kBoolean: return item.boolean ? "true" : "false";
    case ValueKind::kInteger: return std::to_string(item.integer);
    case ValueKind::kDecimal: return FormatDecimal(item.decimal);
    case ValueKind::kString: return item.text;
    case ValueKind::kDate:
    case ValueKind::kDateTime:
    case ValueKind::kTime:
      return item.text.empty() ? FormatTemporal(item.temporal, item.kind) : item.text;
    case ValueKind::kQuantity: {
      std::string s = FormatDecimal(item.decimal) + " ";
      if (IsCalendarUnit(item.text)) return s + item.text;
      return s + "'" + item.text + "'";
    }
    default: return {};
  }
}

std::string_view SystemTypeName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kBoolean: return "Boolean";
    case ValueKind::kInteger: return "Integer";
    case ValueKind::kDecimal: return "Decimal";
    case ValueKind::kString: return "String";
    case ValueKind::kDate: return "Date";
    case ValueKind::kDateTime: return "DateTime";
    case ValueKind::kTime: return "Time";
    case ValueKind::kQuantity: return "Quantity";
    default: return "";
  }
}

bool ItemIsType(const Item& item, std::string_view ns, std::string_view name, bool exact_primitives) {
  if (item.kind == ValueKind::kElement) {
    if (!ns.empty() && ns != "FHIR") return false;
    if (item.type_name.empty()) return false;
    // is() follows the primitive's base (a code is a string), as()/ofType() do not: this is what
    // the official suite asks for.
    if (exact_primitives && std::islower(static_cast<unsigned char>(item.type_name[0]))) {
      return item.type_name == name;
    }
    return TypeIs(item.type_name, name);
  }
  if (!ns.empty() && ns != "System") return false;
  return SystemTypeName(item.kind) == name;
}

bool KnownType(std::string_view ns, std::string_view name) {
  static constexpr std::string_view kSystem[] = {"Boolean", "Integer", "Decimal", "String",
                                                 "Date",    "DateTime", "Time",  "Quantity"};
  bool system = std::find(std::begin(kSystem), std::end(kSystem), name) != std::end(kSystem);
  if (ns == "System") return true;  // is(System.Patient) is merely false
  bool fhir_type = fhir::FindType(name) != nullptr;
  if (ns == "FHIR") return fhir_type;
  return ns.empty() && (system || fhir_type);
}

bool IsCalendarUnit(std::string_view unit) {
  static constexpr std::string_view kWords[] = {
      "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
      "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
  return std::find(std::begin(kWords), std::end(kWords), unit) != std::end(kWords);
}

std::string_view CalendarUnit(std::string_view u) {
  if (!u.empty() && u.back() == 's' && IsCalendarUnit(u) && u != "s") u.remove_suffix(1);
  if (IsCalendarUnit(u)) return u;
  if (u == "a") return "year";
  if (u == "mo") return "month";
  if (u == "wk") return "week";
  if (u == "d") return "day";
  if (u == "h") return "hour";
  if (u == "min") return "minute";
  if (u == "s") return "second";
  if (u == "ms") return "millisecond";
  return {};
}

namespace {

// A unit as a multiple of a base unit, for comparing 'mg' with 'g' and the like.
bool UnitFactor(std::string_view unit, std::string& base, double& factor) {
  std::string_view cal = CalendarUnit(unit);
  if (!cal.empty()) {
    // year and month are calendar durations with no fixed length: only equal to themselves.
    if (cal == "year" || cal == "month") {
      base = std::string(cal);
      factor = 1;
      return true;
    }
    static const std::pair<std::string_view, double> kTime[] = {
        {"week", 604800}, {"day", 86400}, {"hour", 3600}, {"minute", 60},
        {"second", 1},    {"millisecond", 0.001}};
    for (const auto& [n, f] : kTime) {
      if (cal == n) {
        base = "s";
        factor = f;
        return true;
      }
    }
  }
  static const std::pair<std::string_view, std::pair<std::string_view, double>> kSpecial[] = {
      {"[lb_av]", {"g", 453.59237}}, {"[in_i]", {"m", 0.0254}}, {"[ft_i]", {"m", 0.3048}},
      {"l", {"L", 1}}, {"1", {"1", 1}}, {"%", {"1", 0.01}}};
  for (const auto& [n, bf] : kSpecial) {
    if (unit == n) {
      base = std::string(bf.first);
      factor = bf.second;
      return true;
    }
  }
  static const std::pair<std::string_view, double> kPrefixes[] = {
      {"", 1}, {"k", 1e3}, {"h", 1e2}, {"da", 1e1}, {"d", 1e-1}, {"c", 1e-2}, {"m", 1e-3},
      {"u", 1e-6}, {"n", 1e-9}, {"p", 1e-12}};
  static constexpr std::string_view kBases[] = {"g", "m", "L", "mol", "Pa", "eq", "U"};
  for (const auto& [p, f] : kPrefixes) {
    if (unit.substr(0, p.size()) != p) continue;
    std::string_view rest = unit.substr(p.size());
    for (auto b : kBases) {
      if (rest == b) {
        base = std::string(b);
        factor = f;
        return true;
      }
    }
  }
  return false;
}

// Converts b's value into a's unit; nullopt if the units are not comparable.
std::optional<std::pair<double, double>> AlignQuantities(const Item& a, const Item& b) {
  if (a.text == b.text) return std::make_pair(a.decimal.value, b.decimal.value);
  std::string ba, bb;
  double fa, fb;
  if (!UnitFactor(a.text, ba, fa) || !UnitFactor(b.text, bb, fb) || ba != bb) return std::nullopt;
  return std::make_pair(a.decimal.value * fa, b.decimal.value * fb);
}

bool IsNumber(const Item& i) {
  return i.kind == ValueKind::kInteger || i.kind == ValueKind::kDecimal;
}
double NumberOf(const Item& i) {
  return i.kind == ValueKind::kInteger ? double(i.integer) : i.decimal.value;
}
bool IsTemporal(const Item& i) {
  return i.kind == ValueKind::kDate || i.kind == ValueKind::kDateTime || i.kind == ValueKind::kTime;
}

bool NearlyEqual(double a, double b) {
  return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
}

int ScaleOf(const Item& i) {
  if (i.kind == ValueKind::kInteger) return 0;
  if (i.decimal.scale >= 0) return i.decimal.scale;
  auto d = ParseDecimal(FormatDecimal(i.decimal));
  return d && d->scale >= 0 ? d->scale : 8;
}

double RoundTo(double v, int scale) {
  double f = std::pow(10.0, scale);
  return std::round(v * f) / f;
}

std::string FoldString(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool TemporalKindsComparable(ValueKind a, ValueKind b) {
  if (a == b) return true;
  return (a == ValueKind::kDate || a == ValueKind::kDateTime) &&
         (b == ValueKind::kDate || b == ValueKind::kDateTime);
}

}  // namespace

std::optional<bool> Equal(const Item& a_in, const Item& b_in) {
  Item a = Normalize(a_in), b = Normalize(b_in);
  if (a.kind == ValueKind::kElement || b.kind == ValueKind::kElement) {
    if (a.kind != b.kind) return false;
    if (a.node == nullptr || b.node == nullptr) return a.node == b.node;
    return *a.node == *b.node;
  }
  if (IsNumber(a) && IsNumber(b)) {
    if (a.kind == ValueKind::kInteger && b.kind == ValueKind::kInteger) return a.integer == b.integer;
    return NearlyEqual(NumberOf(a), NumberOf(b));
  }
  if (IsTemporal(a) && IsTemporal(b)) {
    if (!TemporalKindsComparable(a.kind, b.kind)) return false;
    auto c = CompareTemporal(a.temporal, b.temporal);
    if (!c) return std::nullopt;
    return *c == 0;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::kBoolean: return a.boolean == b.boolean;
    case ValueKind::kString: return a.text == b.text;
    case ValueKind::kQuantity: {
      std::string_view ca = CalendarUnit(a.text), cb = CalendarUnit(b.text);
      bool year_month = ca == "year" || ca == "month" || cb == "year" || cb == "month";
      if (year_month && a.text != b.text && ca != cb) return std::nullopt;
      if (year_month && ca == cb && IsCalendarUnit(a.text) != IsCalendarUnit(b.text)) {
        return std::nullopt;  // 1 year vs 1 'a': calendar vs definite duration
      }
      auto al = AlignQuantities(a, b);
      if (!al) return false;
      return NearlyEqual(al->first, al->second);
    }
    default: return false;
  }
}

bool Equivalent(const Item& a_in, const Item& b_in) {
  Item a = Normalize(a_in), b = Normalize(b_in);
  if (a.kind == ValueKind::kElement || b.kind == ValueKind::kElement) {
    auto e = Equal(a, b);
    return e.value_or(false);
  }
  if (IsNumber(a) && IsNumber(b)) {
    int scale = std::min(ScaleOf(a), ScaleOf(b));
    return NearlyEqual(RoundTo(NumberOf(a), scale), RoundTo(NumberOf(b), scale));
  }
  if (IsTemporal(a) && IsTemporal(b)) {
    if (!TemporalKindsComparable(a.kind, b.kind)) return false;
    auto c = CompareTemporal(a.temporal, b.temporal);
    return c && *c == 0;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::kBoolean: return a.boolean == b.boolean;
    case ValueKind::kString: return FoldString(a.text) == FoldString(b.text);
    case ValueKind::kQuantity: {
      auto al = AlignQuantities(a, b);
      if (!al) return false;
      int scale = std::min(ScaleOf(a), ScaleOf(b));
      return NearlyEqual(RoundTo(al->first, scale), RoundTo(al->second, scale));
    }
    default: return false;
  }
}

std::optional<int> Compare(const Item& a_in, const Item& b_in) {
  Item a = Normalize(a_in), b = Normalize(b_in);
  auto sign = [](double x, double y) { return NearlyEqual(x, y) ? 0 : (x < y ? -1 : 1); };
  if (IsNumber(a) && IsNumber(b)) {
    if (a.kind == ValueKind::kInteger && b.kind == ValueKind::kInteger) {
      return a.integer == b.integer ? 0 : (a.integer < b.integer ? -1 : 1);
    }
    return sign(NumberOf(a), NumberOf(b));
  }
  if (IsTemporal(a) && IsTemporal(b) && TemporalKindsComparable(a.kind, b.kind)) {
    return CompareTemporal(a.temporal, b.temporal);
  }
  if (a.kind == ValueKind::kString && b.kind == ValueKind::kString) {
    int c = a.text.compare(b.text);
    return c == 0 ? 0 : (c < 0 ? -1 : 1);
  }
  if (a.kind == ValueKind::kQuantity && b.kind == ValueKind::kQuantity) {
    auto al = AlignQuantities(a, b);
    if (!al) return std::nullopt;
    return sign(al->first, al->second);
  }
  Fail("Cannot compare " + std::string(a.kind == ValueKind::kElement ? a.type_name : SystemTypeName(a.kind)) +
       " with " + std::string(b.kind == ValueKind::kElement ? b.type_name : SystemTypeName(b.kind)));
}

std::optional<bool> CollectionsEqual(const Collection& a, const Collection& b) {
  if (a.empty() || b.empty()) return std::nullopt;
  if (a.size() != b.size()) return false;
  bool unknown = false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto e = Equal(a[i], b[i]);
    if (!e) {
      unknown = true;
    } else if (!*e) {
      return false;
    }
  }
  if (unknown) return std::nullopt;
  return true;
}

bool CollectionsEquivalent(const Collection& a, const Collection& b) {
  if (a.size() != b.size()) return false;
  std::vector<bool> used(b.size());
  for (const Item& x : a) {
    bool found = false;
    for (size_t j = 0; j < b.size() && !found; ++j) {
      if (!used[j] && Equivalent(x, b[j])) {
        used[j] = true;
        found = true;
      }
    }
    if (!found) return false;
  }
  return true;
}

std::optional<Item> ParseQuantity(std::string_view s) {
  size_t sp = s.find(' ');
  std::string_view num = s.substr(0, sp);
  auto d = ParseDecimal(num);
  if (!d) return std::nullopt;
  if (sp == std::string_view::npos) return Item::Quantity(*d, "1");
  std::string_view unit = s.substr(sp + 1);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (unit.size() >= 2 && unit.front() == '\'' && unit.back() == '\'') {
    return Item::Quantity(*d, std::string(unit.substr(1, unit.size() - 2)));
  }
  if (IsCalendarUnit(unit)) return Item::Quantity(*d, std::string(unit));
  return std::nullopt;
}

std::optional<Item> Arithmetic(Op op, const Item& a_in, const Item& b_in) {
  Item a = Normalize(a_in), b = Normalize(b_in);
  if (IsNumber(a) && IsNumber(b)) {
    bool ints = a.kind == ValueKind::kInteger && b.kind == ValueKind::kInteger;
    int sa = a.kind == ValueKind::kInteger ? 0 : a.decimal.scale;
    int sb = b.kind == ValueKind::kInteger ? 0 : b.decimal.scale;
    double x = NumberOf(a), y = NumberOf(b);
    int64_t r;
    switch (op) {
      case Op::kAdd:
        if (ints) return __builtin_add_overflow(a.integer, b.integer, &r) ? std::nullopt : std::optional(Item::Integer(r));
        return Item::Dec({x + y, sa < 0 || sb < 0 ? -1 : std::max(sa, sb)});
      case Op::kSub:
        if (ints) return __builtin_sub_overflow(a.integer, b.integer, &r) ? std::nullopt : std::optional(Item::Integer(r));
        return Item::Dec({x - y, sa < 0 || sb < 0 ? -1 : std::max(sa, sb)});
      case Op::kMul:
        if (ints) return __builtin_mul_overflow(a.integer, b.integer, &r) ? std::nullopt : std::optional(Item::Integer(r));
        return Item::Dec({x * y, -1});
      case Op::kDiv:
        if (y == 0) return std::nullopt;
        return Item::Dec({x / y, -1});
      case Op::kIntDiv:
        if (y == 0) return std::nullopt;
        if (ints) return Item::Integer(a.integer / b.integer);
        return Item::Integer(static_cast<int64_t>(std::trunc(x / y)));
      case Op::kMod:
        if (y == 0) return std::nullopt;
        if (ints) return Item::Integer(a.integer % b.integer);
        return Item::Dec({std::fmod(x, y), sa < 0 || sb < 0 ? -1 : std::max(sa, sb)});
      default: break;
    }
  }
  if (a.kind == ValueKind::kString && b.kind == ValueKind::kString && op == Op::kAdd) {
    return Item::String(a.text + b.text);
  }
  if (IsTemporal(a) && b.kind == ValueKind::kQuantity && (op == Op::kAdd || op == Op::kSub)) {
    std::string_view unit = CalendarUnit(b.text);
    // 'a' and 'mo' are UCUM's definite (average) year and month: not calendar arithmetic.
    if (b.text == "a" || b.text == "mo") Fail("Cannot add '" + b.text + "' to a date; use year/month");
    if (unit.empty()) Fail("Cannot add a quantity in '" + b.text + "' to a date/time");
    double amount = op == Op::kSub ? -b.decimal.value : b.decimal.value;
    if (unit == "second") amount = std::trunc(amount);
    auto t = AddDuration(a.temporal, a.kind, amount, unit);
    if (!t) return std::nullopt;
    Item out;
    out.kind = a.kind;
    out.temporal = *t;
    return out;
  }
  if (a.kind == ValueKind::kQuantity && b.kind == ValueKind::kQuantity) {
    if (op == Op::kAdd || op == Op::kSub) {
      auto al = AlignQuantities(a, b);
      if (!al) return std::nullopt;
      std::string base;
      double fa = 1;
      if (a.text != b.text) UnitFactor(a.text, base, fa);
      double v = op == Op::kAdd ? al->first + al->second : al->first - al->second;
      return Item::Quantity({v / fa, -1}, a.text);
    }
    if (op == Op::kMul || op == Op::kDiv) {
      double v = op == Op::kMul ? a.decimal.value * b.decimal.value
                                : (b.decimal.value == 0 ? NAN : a.decimal.value / b.decimal.value);
      if (std::isnan(v)) return std::nullopt;
      std::string unit;
      if (op == Op::kDiv && a.text == b.text) {
        unit = "1";
      } else if (a.text == "1") {
        unit = op == Op::kMul ? b.text : "/" + b.text;
      } else if (b.text == "1") {
        unit = a.text;
      } else {
        unit = a.text + (op == Op::kMul ? "." : "/") + b.text;
      }
      return Item::Quantity({v, -1}, unit);
    }
  }
  if (a.kind == ValueKind::kQuantity && IsNumber(b) && (op == Op::kMul || op == Op::kDiv)) {
    if (op == Op::kDiv && NumberOf(b) == 0) return std::nullopt;
    double v = op == Op::kMul ? a.decimal.value * NumberOf(b) : a.decimal.value / NumberOf(b);
    return Item::Quantity({v, -1}, a.text);
  }
  if (IsNumber(a) && b.kind == ValueKind::kQuantity && op == Op::kMul) {
    return Item::Quantity({NumberOf(a) * b.decimal.value, -1}, b.text);
  }
  Fail("Operator cannot be applied to " +
       std::string(a.kind == ValueKind::kElement ? a.type_name : SystemTypeName(a.kind)) + " and " +
       std::string(b.kind == ValueKind::kElement ? b.type_name : SystemTypeName(b.kind)));
}

namespace {

std::optional<bool> StringToBoolean(std::string_view s) {
  std::string l = FoldString(s);
  if (l == "true" || l == "t" || l == "yes" || l == "y" || l == "1" || l == "1.0") return true;
  if (l == "false" || l == "f" || l == "no" || l == "n" || l == "0" || l == "0.0") return false;
  return std::nullopt;
}

}  // namespace

std::optional<Item> ConvertTo(const Item& in, ValueKind kind) {
  auto sys = ToSystem(in);
  if (!sys) return std::nullopt;
  const Item& a = *sys;
  switch (kind) {
    case ValueKind::kBoolean:
      if (a.kind == ValueKind::kBoolean) return a;
      if (a.kind == ValueKind::kInteger) {
        if (a.integer == 0 || a.integer == 1) return Item::Boolean(a.integer == 1);
        return std::nullopt;
      }
      if (a.kind == ValueKind::kDecimal) {
        if (a.decimal.value == 0 || a.decimal.value == 1) return Item::Boolean(a.decimal.value == 1);
        return std::nullopt;
      }
      if (a.kind == ValueKind::kString) {
        if (auto b = StringToBoolean(a.text)) return Item::Boolean(*b);
      }
      return std::nullopt;
    case ValueKind::kInteger:
      if (a.kind == ValueKind::kInteger) return a;
      if (a.kind == ValueKind::kBoolean) return Item::Integer(a.boolean ? 1 : 0);
      if (a.kind == ValueKind::kString) {
        static const std::regex kInt("[+-]?[0-9]+");
        if (!std::regex_match(a.text, kInt)) return std::nullopt;
        errno = 0;
        long long v = std::strtoll(a.text.c_str(), nullptr, 10);
        if (errno == ERANGE) return std::nullopt;
        return Item::Integer(v);
      }
      return std::nullopt;
    case ValueKind::kDecimal:
      if (a.kind == ValueKind::kDecimal) return a;
      if (a.kind == ValueKind::kInteger) return Item::Dec({double(a.integer), 0});
      if (a.kind == ValueKind::kBoolean) return Item::Dec({a.boolean ? 1.0 : 0.0, 1});
      if (a.kind == ValueKind::kString) {
        static const std::regex kDec("[+-]?[0-9]+(\\.[0-9]+)?");
        if (!std::regex_match(a.text, kDec)) return std::nullopt;
        return Item::Dec(*ParseDecimal(a.text));
      }
      return std::nullopt;
    case ValueKind::kString:
      if (a.kind == ValueKind::kElement) return std::nullopt;
      return Item::String(ToString(a));
    case ValueKind::kQuantity:
      if (a.kind == ValueKind::kQuantity) return a;
      if (a.kind == ValueKind::kInteger) return Item::Quantity({double(a.integer), 0}, "1");
      if (a.kind == ValueKind::kDecimal) return Item::Quantity(a.decimal, "1");
      if (a.kind == ValueKind::kBoolean) return Item::Quantity({a.boolean ? 1.0 : 0.0, 1}, "1");
      if (a.kind == ValueKind::kString) return ParseQuantity(a.text);
      return std::nullopt;
    case ValueKind::kDate:
      if (a.kind == ValueKind::kDate) return a;
      if (a.kind == ValueKind::kDateTime || a.kind == ValueKind::kString) {
        std::optional<Temporal> t =
            a.kind == ValueKind::kDateTime ? std::optional(a.temporal) : ParseDateTime(a.text);
        if (!t) return std::nullopt;
        Item out;
        out.kind = ValueKind::kDate;
        out.temporal = *t;
        out.temporal.precision = std::min<uint8_t>(t->precision, 3);
        out.temporal.has_tz = false;
        return out;
      }
      return std::nullopt;
    case ValueKind::kDateTime:
      if (a.kind == ValueKind::kDateTime) return a;
      if (a.kind == ValueKind::kDate) {
        Item out = a;
        out.kind = ValueKind::kDateTime;
        out.text.clear();
        return out;
      }
      if (a.kind == ValueKind::kString) {
        auto t = ParseDateTime(a.text);
        if (!t) return std::nullopt;
        Item out;
        out.kind = ValueKind::kDateTime;
        out.temporal = *t;
        out.text = a.text;
        return out;
      }
      return std::nullopt;
    case ValueKind::kTime:
      if (a.kind == ValueKind::kTime) return a;
      if (a.kind == ValueKind::kString) {
        auto t = ParseTime(a.text);
        if (!t) return std::nullopt;
        Item out;
        out.kind = ValueKind::kTime;
        out.temporal = *t;
        out.text = a.text;
        return out;
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

const Item* Singleton(const Collection& c, std::string_view what) {
  if (c.empty()) return nullptr;
  if (c.size() > 1) {
    Fail(std::string(what) + " expects a single item but got " + std::to_string(c.size()));
  }
  return &c[0];
}

std::optional<bool> SingletonBoolean(const Collection& c, std::string_view what) {
  const Item* i = Singleton(c, what);
  if (i == nullptr) return std::nullopt;
  auto s = ToSystem(*i);
  if (s && s->kind == ValueKind::kBoolean) return s->boolean;
  // Singleton evaluation of collections: a single non-Boolean item counts as true.
  return true;
}

}  // namespace internal
std::string ToString(const Item& item) { return internal::ItemToString(item); }

}  // namespace kiln::fhirpath
