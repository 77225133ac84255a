// The FHIRPath function library: the table Compile() checks names and argument counts against,
// and the implementations. Functions whose arguments are evaluated once per input item (where,
// select, all, exists, repeat, aggregate, iif, sort, trace) evaluate their argument trees
// themselves; all others get their arguments evaluated once, on the focus of the invocation.

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <regex>
#include <unordered_set>

#include "fhir/definitions.h"
#include "fhir/terminology.h"
#include "fhirpath/internal.h"

namespace kiln::fhirpath::internal {
namespace {

enum class Fn : int {
  kEmpty,
  kExists,
  kAll,
  kAllTrue,
  kAnyTrue,
  kAllFalse,
  kAnyFalse,
  kSubsetOf,
  kSupersetOf,
  kCount,
  kDistinct,
  kIsDistinct,
  kWhere,
  kSelect,
  kRepeat,
  kOfType,
  kAs,
  kIs,
  kSingle,
  kFirst,
  kLast,
  kTail,
  kSkip,
  kTake,
  kIntersect,
  kExclude,
  kUnion,
  kCombine,
  kIif,
  kToBoolean,
  kConvertsToBoolean,
  kToInteger,
  kConvertsToInteger,
  kToDecimal,
  kConvertsToDecimal,
  kToString,
  kConvertsToString,
  kToQuantity,
  kConvertsToQuantity,
  kToDate,
  kConvertsToDate,
  kToDateTime,
  kConvertsToDateTime,
  kToTime,
  kConvertsToTime,
  kIndexOf,
  kSubstring,
  kStartsWith,
  kEndsWith,
  kContains,
  kUpper,
  kLower,
  kReplace,
  kMatches,
  kMatchesFull,
  kReplaceMatches,
  kLength,
  kToChars,
  kTrim,
  kSplit,
  kJoin,
  kEncode,
  kDecode,
  kEscape,
  kUnescape,
  kAbs,
  kCeiling,
  kExp,
  kFloor,
  kLn,
  kLog,
  kPower,
  kRound,
  kSqrt,
  kTruncate,
  kChildren,
  kDescendants,
  kTrace,
  kNow,
  kToday,
  kTimeOfDay,
  kNot,
  kResolve,
  kExtension,
  kHasValue,
  kGetValue,
  kHtmlChecks,
  kConformsTo,
  kMemberOf,
  kAggregate,
  kSort,
  kType,
  kPrecision,
  kLowBoundary,
  kHighBoundary,
  kComparable,
};

struct FnInfo {
  std::string_view name;
  Fn fn;
  uint8_t min_args;
  uint8_t max_args;
};

constexpr FnInfo kFunctions[] = {
    {"empty", Fn::kEmpty, 0, 0},
    {"exists", Fn::kExists, 0, 1},
    {"all", Fn::kAll, 1, 1},
    {"allTrue", Fn::kAllTrue, 0, 0},
    {"anyTrue", Fn::kAnyTrue, 0, 0},
    {"allFalse", Fn::kAllFalse, 0, 0},
    {"anyFalse", Fn::kAnyFalse, 0, 0},
    {"subsetOf", Fn::kSubsetOf, 1, 1},
    {"supersetOf", Fn::kSupersetOf, 1, 1},
    {"count", Fn::kCount, 0, 0},
    {"distinct", Fn::kDistinct, 0, 0},
    {"isDistinct", Fn::kIsDistinct, 0, 0},
    {"where", Fn::kWhere, 1, 1},
    {"select", Fn::kSelect, 1, 1},
    {"repeat", Fn::kRepeat, 1, 1},
    {"ofType", Fn::kOfType, 1, 1},
    {"as", Fn::kAs, 1, 1},
    {"is", Fn::kIs, 1, 1},
    {"single", Fn::kSingle, 0, 0},
    {"first", Fn::kFirst, 0, 0},
    {"last", Fn::kLast, 0, 0},
    {"tail", Fn::kTail, 0, 0},
    {"skip", Fn::kSkip, 1, 1},
    {"take", Fn::kTake, 1, 1},
    {"intersect", Fn::kIntersect, 1, 1},
    {"exclude", Fn::kExclude, 1, 1},
    {"union", Fn::kUnion, 1, 1},
    {"combine", Fn::kCombine, 1, 1},
    {"iif", Fn::kIif, 2, 3},
    {"toBoolean", Fn::kToBoolean, 0, 0},
    {"convertsToBoolean", Fn::kConvertsToBoolean, 0, 0},
    {"toInteger", Fn::kToInteger, 0, 0},
    {"convertsToInteger", Fn::kConvertsToInteger, 0, 0},
    {"toDecimal", Fn::kToDecimal, 0, 0},
    {"convertsToDecimal", Fn::kConvertsToDecimal, 0, 0},
    {"toString", Fn::kToString, 0, 0},
    {"convertsToString", Fn::kConvertsToString, 0, 0},
    {"toQuantity", Fn::kToQuantity, 0, 1},
    {"convertsToQuantity", Fn::kConvertsToQuantity, 0, 1},
    {"toDate", Fn::kToDate, 0, 0},
    {"convertsToDate", Fn::kConvertsToDate, 0, 0},
    {"toDateTime", Fn::kToDateTime, 0, 0},
    {"convertsToDateTime", Fn::kConvertsToDateTime, 0, 0},
    {"toTime", Fn::kToTime, 0, 0},
    {"convertsToTime", Fn::kConvertsToTime, 0, 0},
    {"indexOf", Fn::kIndexOf, 1, 1},
    {"substring", Fn::kSubstring, 1, 2},
    {"startsWith", Fn::kStartsWith, 1, 1},
    {"endsWith", Fn::kEndsWith, 1, 1},
    {"contains", Fn::kContains, 1, 1},
    {"upper", Fn::kUpper, 0, 0},
    {"lower", Fn::kLower, 0, 0},
    {"replace", Fn::kReplace, 2, 2},
    {"matches", Fn::kMatches, 1, 1},
    {"matchesFull", Fn::kMatchesFull, 1, 1},
    {"replaceMatches", Fn::kReplaceMatches, 2, 2},
    {"length", Fn::kLength, 0, 0},
    {"toChars", Fn::kToChars, 0, 0},
    {"trim", Fn::kTrim, 0, 0},
    {"split", Fn::kSplit, 1, 1},
    {"join", Fn::kJoin, 0, 1},
    {"encode", Fn::kEncode, 1, 1},
    {"decode", Fn::kDecode, 1, 1},
    {"escape", Fn::kEscape, 1, 1},
    {"unescape", Fn::kUnescape, 1, 1},
    {"abs", Fn::kAbs, 0, 0},
    {"ceiling", Fn::kCeiling, 0, 0},
    {"exp", Fn::kExp, 0, 0},
    {"floor", Fn::kFloor, 0, 0},
    {"ln", Fn::kLn, 0, 0},
    {"log", Fn::kLog, 1, 1},
    {"power", Fn::kPower, 1, 1},
    {"round", Fn::kRound, 0, 1},
    {"sqrt", Fn::kSqrt, 0, 0},
    {"truncate", Fn::kTruncate, 0, 0},
    {"children", Fn::kChildren, 0, 0},
    {"descendants", Fn::kDescendants, 0, 0},
    {"trace", Fn::kTrace, 1, 2},
    {"now", Fn::kNow, 0, 0},
    {"today", Fn::kToday, 0, 0},
    {"timeOfDay", Fn::kTimeOfDay, 0, 0},
    {"not", Fn::kNot, 0, 0},
    {"resolve", Fn::kResolve, 0, 0},
    {"extension", Fn::kExtension, 1, 1},
    {"hasValue", Fn::kHasValue, 0, 0},
    {"getValue", Fn::kGetValue, 0, 0},
    {"htmlChecks", Fn::kHtmlChecks, 0, 0},
    {"htmlchecks", Fn::kHtmlChecks, 0, 0},
    {"conformsTo", Fn::kConformsTo, 1, 1},
    {"memberOf", Fn::kMemberOf, 1, 1},
    {"aggregate", Fn::kAggregate, 1, 2},
    {"sort", Fn::kSort, 0, 8},
    {"type", Fn::kType, 0, 0},
    {"precision", Fn::kPrecision, 0, 0},
    {"lowBoundary", Fn::kLowBoundary, 0, 1},
    {"highBoundary", Fn::kHighBoundary, 0, 1},
    {"comparable", Fn::kComparable, 1, 1},
};

constexpr size_t kMaxRegexLength = 1000;
constexpr size_t kMaxRegexInput = 100000;

Collection Bool(bool b) { return {Item::Boolean(b)}; }

// The {namespace, name} object type() returns. Type names are finite, so the objects are made
// once and kept for the life of the program (results may outlive the evaluation).
const json::value& TypeInfoNode(std::string_view ns, std::string_view name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<json::value>, std::less<>> cache;  // guarded by mu
  std::string key = std::string(ns) + "." + std::string(name);
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<json::value>& slot = cache[key];
  if (!slot) {
    slot = std::make_unique<json::value>(json::object{{"namespace", ns}, {"name", name}});
  }
  return *slot;
}

Collection EvalOn(const Node& expr, const Item& item, int64_t index, const Frame& frame) {
  Collection focus{item};
  Frame f = frame;
  f.index = index;
  return Eval(expr, focus, f);
}

// The single String the function works on, or nullptr when the input is empty.
const std::string* InputString(const Collection& in, std::string_view fn, Item& holder) {
  const Item* x = Singleton(in, fn);
  if (x == nullptr) return nullptr;
  holder = Normalize(*x);
  if (holder.kind != ValueKind::kString) Fail(std::string(fn) + "() needs a string input");
  return &holder.text;
}

std::optional<std::string> StringArg(const Collection& arg, std::string_view fn) {
  const Item* x = Singleton(arg, fn);
  if (x == nullptr) return std::nullopt;
  Item v = Normalize(*x);
  if (v.kind != ValueKind::kString) Fail(std::string(fn) + "() needs a string argument");
  return v.text;
}

std::optional<int64_t> IntegerArg(const Collection& arg, std::string_view fn) {
  const Item* x = Singleton(arg, fn);
  if (x == nullptr) return std::nullopt;
  Item v = Normalize(*x);
  if (v.kind != ValueKind::kInteger) Fail(std::string(fn) + "() needs an integer argument");
  return v.integer;
}

std::regex MakeRegex(const std::string& pattern_in, std::string_view fn) {
  if (pattern_in.size() > kMaxRegexLength) Fail(std::string(fn) + "(): the pattern is too long");
  // FHIRPath regexes run in single-line mode ('.' matches newlines), which ECMAScript lacks.
  std::string pattern;
  bool in_class = false;
  for (size_t i = 0; i < pattern_in.size(); ++i) {
    char c = pattern_in[i];
    if (c == '\\' && i + 1 < pattern_in.size()) {
      pattern.push_back(c);
      pattern.push_back(pattern_in[++i]);
      continue;
    }
    if (c == '[') in_class = true;
    if (c == ']') in_class = false;
    if (c == '.' && !in_class) {
      pattern += "[\\s\\S]";
    } else {
      pattern.push_back(c);
    }
  }
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    Fail(std::string(fn) + "(): bad regular expression: " + e.what());
  }
}

bool Contains(const Collection& c, const Item& x) {
  for (const Item& i : c) {
    if (Equal(i, x).value_or(false)) return true;
  }
  return false;
}

void AddUnique(Collection& out, const Item& x) {
  if (!Contains(out, x)) out.push_back(x);
}

// Identity for repeat()/descendants() loop detection: elements by node, values by equality.
bool SameItem(const Item& a, const Item& b) {
  if (a.kind == ValueKind::kElement && b.kind == ValueKind::kElement) {
    return a.node == b.node && a.extras == b.extras;
  }
  return Equal(a, b).value_or(false);
}

Collection Convert(const Collection& in, ValueKind kind, bool test, std::string_view fn) {
  const Item* x = Singleton(in, fn);
  if (x == nullptr) return {};
  auto r = ConvertTo(*x, kind);
  if (test) return Bool(r.has_value());
  if (!r) return {};
  return {std::move(*r)};
}

Collection Math(const Collection& in, Fn fn, const Collection* arg) {
  const Item* x = Singleton(in, "math");
  if (x == nullptr) return {};
  Item v = Normalize(*x);
  bool is_int = v.kind == ValueKind::kInteger;
  if (v.kind == ValueKind::kQuantity && fn == Fn::kAbs) {
    v.decimal.value = std::fabs(v.decimal.value);
    return {v};
  }
  if (!is_int && v.kind != ValueKind::kDecimal) Fail("Math functions need a number");
  double d = is_int ? double(v.integer) : v.decimal.value;
  auto dec = [](double r) -> Collection {
    if (std::isnan(r) || std::isinf(r)) return {};
    return {Item::Dec({r, -1})};
  };
  switch (fn) {
    case Fn::kAbs:
      if (is_int) return {Item::Integer(v.integer < 0 ? -v.integer : v.integer)};
      return {Item::Dec({std::fabs(d), v.decimal.scale})};
    case Fn::kCeiling:
      return {Item::Integer(static_cast<int64_t>(std::ceil(d)))};
    case Fn::kFloor:
      return {Item::Integer(static_cast<int64_t>(std::floor(d)))};
    case Fn::kTruncate:
      return {Item::Integer(static_cast<int64_t>(std::trunc(d)))};
    case Fn::kExp:
      return dec(std::exp(d));
    case Fn::kLn:
      return dec(std::log(d));
    case Fn::kSqrt:
      return dec(std::sqrt(d));
    case Fn::kLog: {
      const Item* b = Singleton(*arg, "log");
      if (b == nullptr) return {};
      Item bv = Normalize(*b);
      double base = bv.kind == ValueKind::kInteger ? double(bv.integer) : bv.decimal.value;
      return dec(std::log(d) / std::log(base));
    }
    case Fn::kPower: {
      const Item* e = Singleton(*arg, "power");
      if (e == nullptr) return {};
      Item ev = Normalize(*e);
      if (ev.kind != ValueKind::kInteger && ev.kind != ValueKind::kDecimal)
        Fail("power() needs a number");
      double p = ev.kind == ValueKind::kInteger ? double(ev.integer) : ev.decimal.value;
      double r = std::pow(d, p);
      if (std::isnan(r) || std::isinf(r)) return {};
      if (is_int && ev.kind == ValueKind::kInteger && p >= 0)
        return {Item::Integer(static_cast<int64_t>(r))};
      return dec(r);
    }
    case Fn::kRound: {
      int64_t places = 0;
      if (arg != nullptr) {
        auto p = IntegerArg(*arg, "round");
        if (!p) return {};
        if (*p < 0) Fail("round() needs a non-negative precision");
        places = *p;
      }
      double f = std::pow(10.0, double(places));
      double r = std::round(d * f) / f;
      return {Item::Dec({r, static_cast<int>(places)})};
    }
    default:
      return {};
  }
}

std::string Base64Encode(std::string_view s, bool url) {
  const char* alphabet = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t n = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    for (int k = 3; k >= 0; --k) out.push_back(alphabet[(n >> (6 * k)) & 63]);
  }
  if (i < s.size()) {
    uint32_t n = uint8_t(s[i]) << 16;
    if (i + 1 < s.size()) n |= uint8_t(s[i + 1]) << 8;
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view s) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=')
      break;
    else
      return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

Collection EncodeDecode(const std::string& s, const std::string& format, bool encode) {
  if (format == "base64" || format == "urlbase64") {
    if (encode) return {Item::String(Base64Encode(s, format == "urlbase64"))};
    auto d = Base64Decode(s);
    if (!d) return {};
    return {Item::String(*d)};
  }
  if (format == "hex") {
    static const char* kHex = "0123456789abcdef";
    std::string out;
    if (encode) {
      for (unsigned char c : s) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      }
    } else {
      if (s.size() % 2 != 0) return {};
      for (size_t i = 0; i < s.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(s.substr(i, 2), nullptr, 16)));
      }
    }
    return {Item::String(out)};
  }
  return {};
}

Collection EscapeUnescape(const std::string& s, const std::string& format, bool escape) {
  std::string out;
  if (format == "html") {
    if (escape) {
      for (char c : s) {
        switch (c) {
          case '<':
            out += "&lt;";
            break;
          case '>':
            out += "&gt;";
            break;
          case '&':
            out += "&amp;";
            break;
          case '"':
            out += "&quot;";
            break;
          case '\'':
            out += "&#39;";
            break;
          default:
            out.push_back(c);
        }
      }
    } else {
      static const std::pair<std::string_view, char> kEntities[] = {
          {"&lt;", '<'},   {"&gt;", '>'},   {"&amp;", '&'},
          {"&quot;", '"'}, {"&#39;", '\''}, {"&apos;", '\''}};
      for (size_t i = 0; i < s.size();) {
        bool done = false;
        for (const auto& [e, c] : kEntities) {
          if (s.compare(i, e.size(), e) == 0) {
            out.push_back(c);
            i += e.size();
            done = true;
            break;
          }
        }
        if (!done) out.push_back(s[i++]);
      }
    }
    return {Item::String(out)};
  }
  if (format == "json") {
    if (escape) {
      for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
      }
    } else {
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        out.push_back(s[i]);
      }
    }
    return {Item::String(out)};
  }
  return {};
}

// Digits after the point a decimal is known to; for boundaries.
Collection Boundary(const Item& in, std::optional<int64_t> precision, bool high) {
  Item v = Normalize(in);
  if (v.kind == ValueKind::kInteger || v.kind == ValueKind::kDecimal ||
      v.kind == ValueKind::kQuantity) {
    bool is_int = v.kind == ValueKind::kInteger;
    double d = is_int ? double(v.integer) : v.decimal.value;
    int scale = is_int ? 0 : (v.decimal.scale >= 0 ? v.decimal.scale : 8);
    int64_t p = precision.value_or(8);
    if (p < 0 || p > 28) return {};
    double half = 0.5 * std::pow(10.0, -scale);
    double bound = high ? d + half : d - half;
    double f = std::pow(10.0, double(p));
    double r = high ? std::ceil(bound * f - 1e-9) / f : std::floor(bound * f + 1e-9) / f;
    if (p < scale) r = high ? std::ceil(d * f) / f : std::floor(d * f) / f;
    if (is_int && !precision) return {Item::Dec({r, 8})};
    if (v.kind == ValueKind::kQuantity) return {Item::Quantity({r, int(p)}, v.text)};
    return {Item::Dec({r, int(p)})};
  }
  if (v.kind == ValueKind::kDate || v.kind == ValueKind::kDateTime || v.kind == ValueKind::kTime) {
    Temporal t = v.temporal;
    int p = int(precision.value_or(v.kind == ValueKind::kDate   ? 8
                                   : v.kind == ValueKind::kTime ? 9
                                                                : 17));
    uint8_t target = v.kind == ValueKind::kTime ? (p <= 2   ? 4
                                                   : p <= 4 ? 5
                                                   : p <= 6 ? 6
                                                            : 7)
                                                : (p <= 4    ? 1
                                                   : p <= 6  ? 2
                                                   : p <= 8  ? 3
                                                   : p <= 10 ? 4
                                                   : p <= 12 ? 5
                                                   : p <= 14 ? 6
                                                             : 7);
    if (v.kind == ValueKind::kDate && target > 3) return {};
    for (uint8_t q = t.precision + 1; q <= target; ++q) {
      switch (q) {
        case 2:
          t.month = high ? 12 : 1;
          break;
        case 3: {
          static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
          int dm = kDays[t.month - 1];
          if (t.month == 2 && ((t.year % 4 == 0 && t.year % 100 != 0) || t.year % 400 == 0))
            dm = 29;
          t.day = static_cast<int8_t>(high ? dm : 1);
          break;
        }
        case 4:
          t.hour = high ? 23 : 0;
          break;
        case 5:
          t.minute = high ? 59 : 0;
          break;
        case 6:
          t.second = high ? 59 : 0;
          break;
        case 7:
          t.millis = high ? 999 : 0;
          break;
      }
    }
    t.precision = target;
    if (v.kind == ValueKind::kDateTime && target >= 4 && !t.has_tz) {
      t.has_tz = true;
      t.tz_minutes = static_cast<int16_t>(high ? -12 * 60 : 14 * 60);
    }
    Item out;
    out.kind = v.kind;
    out.temporal = t;
    return {out};
  }
  return {};
}

}  // namespace

int LookupFunction(std::string_view name, size_t argc, bool& arity_error) {
  for (size_t i = 0; i < std::size(kFunctions); ++i) {
    if (kFunctions[i].name == name) {
      if (argc < kFunctions[i].min_args || argc > kFunctions[i].max_args) {
        arity_error = true;
        return -1;
      }
      return static_cast<int>(i);
    }
  }
  return -1;
}

bool TakesTypeArgument(int function) {
  Fn fn = kFunctions[function].fn;
  return fn == Fn::kOfType || fn == Fn::kAs || fn == Fn::kIs;
}

const json::value* ResolveItem(const Item& i, const Env& env) {
  std::string ref;
  if (i.kind == ValueKind::kElement && i.node != nullptr && i.node->is_object()) {
    const json::value* r = i.node->as_object().if_contains("reference");
    if (r == nullptr || !r->is_string()) return nullptr;
    ref = std::string(r->as_string());
  } else {
    Item v = Normalize(i);
    if (v.kind != ValueKind::kString) return nullptr;
    ref = v.text;
  }
  return ResolveReference(ref, env);
}

Collection CallFunction(const Node& n, const Collection& focus, const Frame& frame) {
  Collection in = n.target ? Eval(*n.target, focus, frame) : focus;
  Fn fn = kFunctions[n.function].fn;
  auto arg = [&](size_t k) { return Eval(*n.args[k], focus, frame); };
  switch (fn) {
    case Fn::kEmpty:
      return Bool(in.empty());
    case Fn::kExists:
      if (n.args.empty()) return Bool(!in.empty());
      for (size_t i = 0; i < in.size(); ++i) {
        if (SingletonBoolean(EvalOn(*n.args[0], in[i], int64_t(i), frame), "exists")
                .value_or(false)) {
          return Bool(true);
        }
      }
      return Bool(false);
    case Fn::kAll:
      for (size_t i = 0; i < in.size(); ++i) {
        if (!SingletonBoolean(EvalOn(*n.args[0], in[i], int64_t(i), frame), "all")
                 .value_or(false)) {
          return Bool(false);
        }
      }
      return Bool(true);
    case Fn::kAllTrue:
    case Fn::kAnyTrue:
    case Fn::kAllFalse:
    case Fn::kAnyFalse: {
      bool want = fn == Fn::kAllTrue || fn == Fn::kAnyTrue;
      bool all = fn == Fn::kAllTrue || fn == Fn::kAllFalse;
      for (const Item& i : in) {
        Item v = Normalize(i);
        if (v.kind != ValueKind::kBoolean) Fail(n.name + "() needs Boolean items");
        if (all && v.boolean != want) return Bool(false);
        if (!all && v.boolean == want) return Bool(true);
      }
      return Bool(all);
    }
    case Fn::kSubsetOf:
    case Fn::kSupersetOf: {
      Collection other = arg(0);
      const Collection& sub = fn == Fn::kSubsetOf ? in : other;
      const Collection& super = fn == Fn::kSubsetOf ? other : in;
      for (const Item& i : sub) {
        if (!Contains(super, i)) return Bool(false);
      }
      return Bool(true);
    }
    case Fn::kCount:
      return {Item::Integer(static_cast<int64_t>(in.size()))};
    case Fn::kDistinct: {
      Collection out;
      for (const Item& i : in) AddUnique(out, i);
      return out;
    }
    case Fn::kIsDistinct: {
      Collection out;
      for (const Item& i : in) AddUnique(out, i);
      return Bool(out.size() == in.size());
    }
    case Fn::kWhere: {
      Collection out;
      for (size_t i = 0; i < in.size(); ++i) {
        if (SingletonBoolean(EvalOn(*n.args[0], in[i], int64_t(i), frame), "where")
                .value_or(false)) {
          out.push_back(in[i]);
        }
      }
      return out;
    }
    case Fn::kSelect: {
      Collection out;
      for (size_t i = 0; i < in.size(); ++i) {
        Collection r = EvalOn(*n.args[0], in[i], int64_t(i), frame);
        out.insert(out.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
      }
      return out;
    }
    case Fn::kRepeat: {
      Collection out;
      Collection work = in;
      while (!work.empty()) {
        Collection next;
        for (size_t i = 0; i < work.size(); ++i) {
          for (Item& r : EvalOn(*n.args[0], work[i], int64_t(i), frame)) {
            bool seen = false;
            for (const Item& o : out) {
              if (SameItem(o, r)) {
                seen = true;
                break;
              }
            }
            if (seen) continue;
            out.push_back(r);
            next.push_back(std::move(r));
          }
        }
        work = std::move(next);
      }
      return out;
    }
    case Fn::kOfType:
    case Fn::kAs: {
      if (fn == Fn::kAs && in.size() > 1) Fail("as() expects a single item; use ofType()");
      Collection out;
      for (const Item& i : in) {
        if (ItemIsType(i, n.type_ns, n.literal.text, true)) out.push_back(i);
      }
      return out;
    }
    case Fn::kIs: {
      const Item* x = Singleton(in, "is");
      if (x == nullptr) return {};
      return Bool(ItemIsType(*x, n.type_ns, n.literal.text, false));
    }
    case Fn::kSingle: {
      const Item* x = Singleton(in, "single");
      if (x == nullptr) return {};
      return {*x};
    }
    case Fn::kFirst:
      if (in.empty()) return {};
      return {in.front()};
    case Fn::kLast:
      if (in.empty()) return {};
      return {in.back()};
    case Fn::kTail:
      if (in.empty()) return {};
      return Collection(in.begin() + 1, in.end());
    case Fn::kSkip:
    case Fn::kTake: {
      auto k = IntegerArg(arg(0), n.name);
      if (!k) return {};
      int64_t count = std::clamp<int64_t>(*k, 0, static_cast<int64_t>(in.size()));
      if (fn == Fn::kSkip) return Collection(in.begin() + count, in.end());
      return Collection(in.begin(), in.begin() + count);
    }
    case Fn::kIntersect: {
      Collection other = arg(0), out;
      for (const Item& i : in) {
        if (Contains(other, i)) AddUnique(out, i);
      }
      return out;
    }
    case Fn::kExclude: {
      Collection other = arg(0), out;
      for (const Item& i : in) {
        if (!Contains(other, i)) out.push_back(i);
      }
      return out;
    }
    case Fn::kUnion: {
      Collection other = arg(0), out;
      for (const Item& i : in) AddUnique(out, i);
      for (const Item& i : other) AddUnique(out, i);
      return out;
    }
    case Fn::kCombine: {
      Collection other = arg(0);
      in.insert(in.end(), other.begin(), other.end());
      return in;
    }
    case Fn::kIif: {
      if (n.target && in.size() > 1) Fail("iif() expects a single input item");
      Collection self = n.target ? in : focus;
      Frame f = frame;
      Collection criterion = Eval(*n.args[0], self, f);
      if (const Item* c0 = Singleton(criterion, "iif")) {
        if (Normalize(*c0).kind != ValueKind::kBoolean) Fail("iif() needs a Boolean criterion");
      }
      auto c = SingletonBoolean(criterion, "iif");
      if (c.value_or(false)) return Eval(*n.args[1], self, f);
      if (n.args.size() > 2) return Eval(*n.args[2], self, f);
      return {};
    }
    case Fn::kToBoolean:
      return Convert(in, ValueKind::kBoolean, false, n.name);
    case Fn::kConvertsToBoolean:
      return Convert(in, ValueKind::kBoolean, true, n.name);
    case Fn::kToInteger:
      return Convert(in, ValueKind::kInteger, false, n.name);
    case Fn::kConvertsToInteger:
      return Convert(in, ValueKind::kInteger, true, n.name);
    case Fn::kToDecimal:
      return Convert(in, ValueKind::kDecimal, false, n.name);
    case Fn::kConvertsToDecimal:
      return Convert(in, ValueKind::kDecimal, true, n.name);
    case Fn::kToString:
      return Convert(in, ValueKind::kString, false, n.name);
    case Fn::kConvertsToString:
      return Convert(in, ValueKind::kString, true, n.name);
    case Fn::kToQuantity:
    case Fn::kConvertsToQuantity: {
      bool test = fn == Fn::kConvertsToQuantity;
      Collection q = Convert(in, ValueKind::kQuantity, false, n.name);
      if (!q.empty() && !n.args.empty()) {
        auto unit = StringArg(arg(0), n.name);
        if (unit && *unit != q[0].text) {
          // Only the same or calendar-equivalent units convert without a UCUM service.
          auto e = Equal(Item::Quantity({1, 0}, q[0].text), Item::Quantity({1, 0}, *unit));
          if (!e.value_or(false))
            q.clear();
          else
            q[0].text = *unit;
        }
      }
      if (test) return in.empty() ? Collection{} : Bool(!q.empty());
      return q;
    }
    case Fn::kToDate:
      return Convert(in, ValueKind::kDate, false, n.name);
    case Fn::kConvertsToDate:
      return Convert(in, ValueKind::kDate, true, n.name);
    case Fn::kToDateTime:
      return Convert(in, ValueKind::kDateTime, false, n.name);
    case Fn::kConvertsToDateTime:
      return Convert(in, ValueKind::kDateTime, true, n.name);
    case Fn::kToTime:
      return Convert(in, ValueKind::kTime, false, n.name);
    case Fn::kConvertsToTime:
      return Convert(in, ValueKind::kTime, true, n.name);
    case Fn::kIndexOf: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      auto sub = StringArg(arg(0), n.name);
      if (s == nullptr || !sub) return {};
      size_t p = s->find(*sub);
      return {Item::Integer(p == std::string::npos ? -1 : static_cast<int64_t>(p))};
    }
    case Fn::kSubstring: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      auto start = IntegerArg(arg(0), n.name);
      if (s == nullptr || !start) return {};
      if (*start < 0 || *start >= static_cast<int64_t>(s->size())) return {};
      if (n.args.size() > 1) {
        auto len = IntegerArg(arg(1), n.name);
        if (!len) return {Item::String(s->substr(*start))};
        if (*len <= 0) return {Item::String("")};
        return {Item::String(s->substr(*start, *len))};
      }
      return {Item::String(s->substr(*start))};
    }
    case Fn::kStartsWith:
    case Fn::kEndsWith:
    case Fn::kContains: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      auto sub = StringArg(arg(0), n.name);
      if (s == nullptr || !sub) return {};
      if (fn == Fn::kStartsWith) return Bool(s->compare(0, sub->size(), *sub) == 0);
      if (fn == Fn::kEndsWith) {
        return Bool(s->size() >= sub->size() &&
                    s->compare(s->size() - sub->size(), sub->size(), *sub) == 0);
      }
      return Bool(s->find(*sub) != std::string::npos);
    }
    case Fn::kUpper:
    case Fn::kLower: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      if (s == nullptr) return {};
      std::string out = *s;
      for (char& c : out) {
        c = static_cast<char>(fn == Fn::kUpper ? std::toupper(static_cast<unsigned char>(c))
                                               : std::tolower(static_cast<unsigned char>(c)));
      }
      return {Item::String(out)};
    }
    case Fn::kReplace: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      auto pattern = StringArg(arg(0), n.name);
      auto repl = StringArg(arg(1), n.name);
      if (s == nullptr || !pattern || !repl) return {};
      std::string out;
      if (pattern->empty()) {
        // '' matches between every character.
        out = *repl;
        for (char c : *s) {
          out.push_back(c);
          out += *repl;
        }
        return {Item::String(out)};
      }
      size_t pos = 0;
      while (true) {
        size_t f = s->find(*pattern, pos);
        if (f == std::string::npos) break;
        out.append(*s, pos, f - pos);
        out += *repl;
        pos = f + pattern->size();
      }
      out.append(*s, pos);
      return {Item::String(out)};
    }
    case Fn::kMatches:
    case Fn::kMatchesFull:
    case Fn::kReplaceMatches: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      auto pattern = StringArg(arg(0), n.name);
      std::optional<std::string> repl;
      if (fn == Fn::kReplaceMatches) repl = StringArg(arg(1), n.name);
      if (s == nullptr || !pattern || (fn == Fn::kReplaceMatches && !repl)) return {};
      if (s->size() > kMaxRegexInput) Fail(n.name + "(): the input is too long");
      std::regex re = MakeRegex(*pattern, n.name);
      try {
        if (fn == Fn::kMatches) return Bool(std::regex_search(*s, re));
        if (fn == Fn::kMatchesFull) return Bool(std::regex_match(*s, re));
        if (pattern->empty()) return {Item::String(*s)};
        return {Item::String(std::regex_replace(*s, re, *repl))};
      } catch (const std::regex_error& e) {
        Fail(n.name + "(): " + e.what());
      }
    }
    case Fn::kLength: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      if (s == nullptr) return {};
      return {Item::Integer(static_cast<int64_t>(s->size()))};
    }
    case Fn::kToChars: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      if (s == nullptr) return {};
      Collection out;
      for (char c : *s) out.push_back(Item::String(std::string(1, c)));
      return out;
    }
    case Fn::kTrim: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      if (s == nullptr) return {};
      size_t b = s->find_first_not_of(" \t\r\n");
      if (b == std::string::npos) return {Item::String("")};
      size_t e = s->find_last_not_of(" \t\r\n");
      return {Item::String(s->substr(b, e - b + 1))};
    }
    case Fn::kSplit: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      auto sep = StringArg(arg(0), n.name);
      if (s == nullptr || !sep) return {};
      Collection out;
      if (sep->empty()) {
        for (char c : *s) out.push_back(Item::String(std::string(1, c)));
        return out;
      }
      size_t pos = 0;
      while (true) {
        size_t f = s->find(*sep, pos);
        out.push_back(
            Item::String(s->substr(pos, f == std::string::npos ? std::string::npos : f - pos)));
        if (f == std::string::npos) break;
        pos = f + sep->size();
      }
      return out;
    }
    case Fn::kJoin: {
      std::string sep;
      if (!n.args.empty()) sep = StringArg(arg(0), n.name).value_or("");
      std::string out;
      for (size_t i = 0; i < in.size(); ++i) {
        if (i > 0) out += sep;
        out += ToString(in[i]);
      }
      return {Item::String(out)};
    }
    case Fn::kEncode:
    case Fn::kDecode:
    case Fn::kEscape:
    case Fn::kUnescape: {
      Item h;
      const std::string* s = InputString(in, n.name, h);
      auto format = StringArg(arg(0), n.name);
      if (s == nullptr || !format) return {};
      if (fn == Fn::kEncode || fn == Fn::kDecode)
        return EncodeDecode(*s, *format, fn == Fn::kEncode);
      return EscapeUnescape(*s, *format, fn == Fn::kEscape);
    }
    case Fn::kAbs:
    case Fn::kCeiling:
    case Fn::kExp:
    case Fn::kFloor:
    case Fn::kLn:
    case Fn::kSqrt:
    case Fn::kTruncate:
      return Math(in, fn, nullptr);
    case Fn::kLog:
    case Fn::kPower:
    case Fn::kRound: {
      if (n.args.empty()) return Math(in, fn, nullptr);
      Collection a = arg(0);
      return Math(in, fn, &a);
    }
    case Fn::kChildren: {
      Collection out;
      for (const Item& i : in) AllChildren(i, out);
      return out;
    }
    case Fn::kDescendants: {
      Collection out;
      Collection level;
      for (const Item& i : in) AllChildren(i, level);
      while (!level.empty()) {
        Collection next;
        for (const Item& i : level) AllChildren(i, next);
        out.insert(out.end(), level.begin(), level.end());
        level = std::move(next);
      }
      return out;
    }
    case Fn::kTrace: {
      auto name = StringArg(arg(0), n.name).value_or("");
      if (frame.env->ctx->tracer) {
        if (n.args.size() > 1) {
          Collection projected;
          for (size_t i = 0; i < in.size(); ++i) {
            Collection r = EvalOn(*n.args[1], in[i], int64_t(i), frame);
            projected.insert(projected.end(), r.begin(), r.end());
          }
          frame.env->ctx->tracer(name, projected);
        } else {
          frame.env->ctx->tracer(name, in);
        }
      }
      return in;
    }
    case Fn::kNow:
    case Fn::kToday:
    case Fn::kTimeOfDay: {
      Item out;
      out.temporal = Now(*frame.env);
      if (fn == Fn::kNow) {
        out.kind = ValueKind::kDateTime;
      } else if (fn == Fn::kToday) {
        out.kind = ValueKind::kDate;
        out.temporal.precision = 3;
        out.temporal.has_tz = false;
      } else {
        out.kind = ValueKind::kTime;
        out.temporal.year = 0;
        out.temporal.month = 0;
        out.temporal.day = 0;
        out.temporal.has_tz = false;
      }
      return {out};
    }
    case Fn::kNot: {
      auto b = SingletonBoolean(in, "not");
      if (!b) return {};
      return Bool(!*b);
    }
    case Fn::kResolve: {
      Collection out;
      for (const Item& i : in) {
        if (const json::value* res = ResolveItem(i, *frame.env)) out.push_back(ResourceItem(*res));
      }
      return out;
    }
    case Fn::kExtension: {
      auto url = StringArg(arg(0), n.name);
      if (!url) return {};
      Collection exts, out;
      for (const Item& i : in) Children(i, "extension", exts);
      for (const Item& e : exts) {
        if (e.node == nullptr || !e.node->is_object()) continue;
        const json::value* u = e.node->as_object().if_contains("url");
        if (u && u->is_string() && u->as_string() == *url) out.push_back(e);
      }
      return out;
    }
    case Fn::kHasValue: {
      if (in.size() != 1) return Bool(false);
      const Item& i = in[0];
      if (i.kind != ValueKind::kElement) return Bool(true);
      return Bool(i.node != nullptr && !i.node->is_object() && !i.node->is_array());
    }
    case Fn::kGetValue: {
      if (in.size() != 1) return {};
      const Item& i = in[0];
      if (i.kind == ValueKind::kElement && (i.node == nullptr || i.node->is_object())) return {};
      auto s = ToSystem(i);
      if (!s) return {};
      return {std::move(*s)};
    }
    case Fn::kHtmlChecks:
      return Bool(true);
    case Fn::kConformsTo: {
      auto url = StringArg(arg(0), n.name);
      const Item* x = Singleton(in, n.name);
      if (x == nullptr || !url) return {};
      constexpr std::string_view kBase = "http://hl7.org/fhir/StructureDefinition/";
      if (url->compare(0, kBase.size(), kBase) != 0) Fail("conformsTo(): unknown profile " + *url);
      if (x->kind != ValueKind::kElement || x->type_name.empty()) return Bool(false);
      std::string_view type = std::string_view(*url).substr(kBase.size());
      if (fhir::FindType(type) == nullptr) Fail("conformsTo(): unknown profile " + *url);
      return Bool(TypeIs(x->type_name, type));
    }
    case Fn::kMemberOf: {
      auto vs = StringArg(arg(0), n.name);
      const Item* x = Singleton(in, n.name);
      if (x == nullptr || !vs) return {};
      std::string system, code;
      if (x->kind == ValueKind::kElement && x->node != nullptr && x->node->is_object()) {
        const json::object& o = x->node->as_object();
        auto text = [&](const char* k) {
          const json::value* v = o.if_contains(k);
          return v && v->is_string() ? std::string(v->as_string()) : std::string();
        };
        if (const json::value* codings = o.if_contains("coding"); codings && codings->is_array()) {
          bool any_unknown = false;
          for (const json::value& c : codings->as_array()) {
            if (!c.is_object()) continue;
            const json::value* s = c.as_object().if_contains("system");
            const json::value* k = c.as_object().if_contains("code");
            auto r =
                fhir::CheckCode(*vs, s && s->is_string() ? std::string_view(s->as_string()) : "",
                                k && k->is_string() ? std::string_view(k->as_string()) : "");
            if (r == fhir::CodeCheck::kInValueSet) return Bool(true);
            if (r == fhir::CodeCheck::kNotExpandable) any_unknown = true;
          }
          if (any_unknown) return {};
          return Bool(false);
        }
        system = text("system");
        code = text("code");
      } else {
        code = ToString(*x);
      }
      auto r = fhir::CheckCode(*vs, system, code);
      if (r == fhir::CodeCheck::kNotExpandable) return {};
      return Bool(r == fhir::CodeCheck::kInValueSet);
    }
    case Fn::kAggregate: {
      Collection total = n.args.size() > 1 ? arg(1) : Collection{};
      for (size_t i = 0; i < in.size(); ++i) {
        Frame f = frame;
        f.index = int64_t(i);
        f.total = &total;
        Collection focus_item{in[i]};
        total = Eval(*n.args[0], focus_item, f);
      }
      return total;
    }
    case Fn::kSort: {
      std::vector<std::pair<Item, std::vector<Collection>>> keyed;
      for (size_t i = 0; i < in.size(); ++i) {
        std::vector<Collection> keys;
        for (const auto& a : n.args) {
          const Node& key = a->kind == NodeKind::kNegate ? *a->args[0] : *a;
          keys.push_back(EvalOn(key, in[i], int64_t(i), frame));
        }
        keyed.emplace_back(in[i], std::move(keys));
      }
      // A key written as -expr sorts descending.
      std::vector<bool> desc;
      for (const auto& a : n.args) desc.push_back(a->kind == NodeKind::kNegate);
      std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
        if (n.args.empty()) return Compare(x.first, y.first).value_or(0) < 0;
        for (size_t k = 0; k < n.args.size(); ++k) {
          const Collection& a = x.second[k];
          const Collection& b = y.second[k];
          if (a.empty() || b.empty()) {
            // Empty keys go last ascending and first descending, as the suite expects.
            if (a.empty() != b.empty()) return desc[k] ? a.empty() : !a.empty();
            continue;
          }
          int c = Compare(a[0], b[0]).value_or(0);
          if (c != 0) return desc[k] ? c > 0 : c < 0;
        }
        return false;
      });
      Collection out;
      for (auto& [item, keys] : keyed) out.push_back(std::move(item));
      return out;
    }
    case Fn::kType: {
      Collection out;
      for (const Item& i : in) {
        Item t;
        bool fhir = i.kind == ValueKind::kElement;
        if (fhir && i.type_name.empty()) continue;
        t.node =
            &TypeInfoNode(fhir ? "FHIR" : "System", fhir ? i.type_name : SystemTypeName(i.kind));
        t.type_name = "TypeInfo";
        out.push_back(std::move(t));
      }
      return out;
    }
    case Fn::kPrecision: {
      const Item* x = Singleton(in, n.name);
      if (x == nullptr) return {};
      Item v = Normalize(*x);
      if (v.kind == ValueKind::kDecimal) {
        return {Item::Integer(v.decimal.scale >= 0 ? v.decimal.scale : 8)};
      }
      if (v.kind == ValueKind::kInteger) return {Item::Integer(0)};
      if (v.kind == ValueKind::kDate || v.kind == ValueKind::kDateTime) {
        static constexpr int kDigits[] = {0, 4, 6, 8, 10, 12, 14, 17};
        return {Item::Integer(kDigits[v.temporal.precision])};
      }
      if (v.kind == ValueKind::kTime) {
        static constexpr int kDigits[] = {0, 0, 0, 0, 2, 4, 6, 9};
        return {Item::Integer(kDigits[v.temporal.precision])};
      }
      return {};
    }
    case Fn::kLowBoundary:
    case Fn::kHighBoundary: {
      const Item* x = Singleton(in, n.name);
      if (x == nullptr) return {};
      std::optional<int64_t> p;
      if (!n.args.empty()) p = IntegerArg(arg(0), n.name);
      return Boundary(*x, p, fn == Fn::kHighBoundary);
    }
    case Fn::kComparable: {
      const Item* x = Singleton(in, n.name);
      const Collection other = arg(0);
      const Item* y = Singleton(other, n.name);
      if (x == nullptr || y == nullptr) return {};
      Item a = Normalize(*x), b = Normalize(*y);
      if (a.kind != ValueKind::kQuantity || b.kind != ValueKind::kQuantity) return Bool(false);
      return Bool(Compare(a, b).has_value());
    }
  }
  return {};
}

}  // namespace kiln::fhirpath::internal
