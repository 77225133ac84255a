#include "rest/json_scan.h"

#include <array>
#include <boost/json.hpp>
#include <cstring>

namespace kiln::rest {
namespace {

size_t SkipWs(std::string_view t, size_t p) {
  while (p < t.size() && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r')) ++p;
  return p;
}

// `p` at an opening quote: the position after the closing quote, or npos. Jumps from quote to
// quote (memchr); a quote preceded by an odd number of backslashes is escaped.
size_t SkipString(std::string_view t, size_t p) {
  const char* const begin = t.data();
  const char* const end = begin + t.size();
  const char* q = begin + p + 1;
  while (q < end) {
    const char* quote = static_cast<const char*>(std::memchr(q, '"', static_cast<size_t>(end - q)));
    if (quote == nullptr) return std::string_view::npos;
    size_t backslashes = 0;
    for (const char* b = quote; b > begin + p + 1 && b[-1] == '\\'; --b) ++backslashes;
    if (backslashes % 2 == 0) return static_cast<size_t>(quote - begin) + 1;
    q = quote + 1;
  }
  return std::string_view::npos;
}

// `value` if only whitespace follows position `p`, otherwise nullopt.
template <typename T>
std::optional<T> AtEnd(std::string_view t, size_t p, T value) {
  if (SkipWs(t, p) != t.size()) return std::nullopt;
  return value;
}

// Deeper nesting is refused (npos): the scan recurses, and a body of nothing but brackets must
// not exhaust the stack. FHIR resources nest far less deeply.
constexpr int kMaxDepth = 200;

size_t SkipValueAt(std::string_view t, size_t p, int depth) {
  if (p >= t.size() || depth > kMaxDepth) return std::string_view::npos;
  char c = t[p];
  if (c == '"') return SkipString(t, p);
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    p = SkipWs(t, p + 1);
    if (p < t.size() && t[p] == close) return p + 1;
    while (true) {
      if (c == '{') {
        if (p >= t.size() || t[p] != '"') return std::string_view::npos;
        p = SkipString(t, p);
        if (p == std::string_view::npos) return p;
        p = SkipWs(t, p);
        if (p >= t.size() || t[p] != ':') return std::string_view::npos;
        p = SkipWs(t, p + 1);
      }
      p = SkipValueAt(t, p, depth + 1);
      if (p == std::string_view::npos) return p;
      p = SkipWs(t, p);
      if (p >= t.size()) return std::string_view::npos;
      if (t[p] == close) return p + 1;
      if (t[p] != ',') return std::string_view::npos;
      p = SkipWs(t, p + 1);
    }
  }
  size_t start = p;
  while (p < t.size() && t[p] != ',' && t[p] != '}' && t[p] != ']' && t[p] != ' ' && t[p] != '\n' &&
         t[p] != '\r' && t[p] != '\t')
    ++p;
  return p == start ? std::string_view::npos : p;
}

// SkipValueAt for text already checked: a container ends at its matching bracket (strings
// jumped, brackets counted, nothing else looked at).
size_t SkipCheckedValue(std::string_view t, size_t p) {
  if (p >= t.size()) return std::string_view::npos;
  char c = t[p];
  if (c == '"') return SkipString(t, p);
  if (c != '{' && c != '[') return SkipValueAt(t, p, kMaxDepth);  // a number or literal
  static constexpr auto kSpecial = [] {
    std::array<bool, 256> table{};
    for (unsigned char s : {'"', '{', '}', '[', ']'}) table[s] = true;
    return table;
  }();
  int depth = 0;
  const size_t n = t.size();
  while (p < n) {
    while (p < n && !kSpecial[static_cast<unsigned char>(t[p])]) ++p;
    if (p >= n) break;
    c = t[p];
    if (c == '"') {
      p = SkipString(t, p);
      if (p == std::string_view::npos) return p;
      continue;
    }
    ++p;
    if (c == '{' || c == '[') {
      ++depth;
    } else if (--depth == 0) {
      return p;
    }
  }
  return std::string_view::npos;
}

using Skipper = size_t (*)(std::string_view, size_t);

std::optional<Members> MembersWith(std::string_view t, Skipper skip) {
  size_t p = SkipWs(t, 0);
  if (p >= t.size() || t[p] != '{') return std::nullopt;
  Members out;
  p = SkipWs(t, p + 1);
  if (p < t.size() && t[p] == '}') return AtEnd(t, p + 1, std::move(out));
  while (p < t.size()) {
    if (t[p] != '"') return std::nullopt;
    size_t end = SkipString(t, p);
    if (end == std::string_view::npos) return std::nullopt;
    auto name = StringOf(t.substr(p, end - p));
    if (!name) return std::nullopt;
    p = SkipWs(t, end);
    if (p >= t.size() || t[p] != ':') return std::nullopt;
    p = SkipWs(t, p + 1);
    size_t vend = skip(t, p);
    if (vend == std::string_view::npos) return std::nullopt;
    out.emplace_back(std::move(*name), t.substr(p, vend - p));
    p = SkipWs(t, vend);
    if (p < t.size() && t[p] == '}') return AtEnd(t, p + 1, std::move(out));
    if (p >= t.size() || t[p] != ',') return std::nullopt;
    p = SkipWs(t, p + 1);
  }
  return std::nullopt;
}

std::optional<std::vector<std::string_view>> ElementsWith(std::string_view t, Skipper skip) {
  size_t p = SkipWs(t, 0);
  if (p >= t.size() || t[p] != '[') return std::nullopt;
  std::vector<std::string_view> out;
  p = SkipWs(t, p + 1);
  if (p < t.size() && t[p] == ']') return AtEnd(t, p + 1, std::move(out));
  while (p < t.size()) {
    size_t end = skip(t, p);
    if (end == std::string_view::npos) return std::nullopt;
    out.push_back(t.substr(p, end - p));
    p = SkipWs(t, end);
    if (p < t.size() && t[p] == ']') return AtEnd(t, p + 1, std::move(out));
    if (p >= t.size() || t[p] != ',') return std::nullopt;
    p = SkipWs(t, p + 1);
  }
  return std::nullopt;
}

}  // namespace

size_t SkipValue(std::string_view t, size_t p) { return SkipValueAt(t, p, 0); }

// The decoded text of a raw JSON string ("..."), or nullopt when `raw` is not a string.
std::optional<std::string> StringOf(std::string_view raw) {
  if (raw.size() < 2 || raw.front() != '"') return std::nullopt;
  std::string_view inner = raw.substr(1, raw.size() - 2);
  if (inner.find('\\') == std::string_view::npos) return std::string(inner);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(raw, ec);
  if (ec || !v.is_string()) return std::nullopt;
  return std::string(v.get_string());
}

std::optional<Members> MembersOf(std::string_view t) { return MembersWith(t, SkipValue); }

std::optional<std::vector<std::string_view>> ElementsOf(std::string_view t) {
  return ElementsWith(t, SkipValue);
}

std::optional<Members> MembersOfChecked(std::string_view t) {
  return MembersWith(t, SkipCheckedValue);
}

std::optional<std::vector<std::string_view>> ElementsOfChecked(std::string_view t) {
  return ElementsWith(t, SkipCheckedValue);
}

std::string_view Member(const Members& m, std::string_view name) {
  for (const auto& [k, v] : m)
    if (k == name) return v;
  return {};
}

// Rewrites the string values of every member named "reference" (at any depth: contained
// resources, extensions, valueReference...). `fn` gets the raw string content and returns the
// replacement's raw content, or nullopt to leave it.
std::string RewriteReferences(std::string_view t, const ReferenceRewriter& fn) {
  std::string out;
  size_t copied = 0;
  bool after_reference_key = false;
  for (size_t p = 0; p < t.size();) {
    // Only strings matter: jump to the next quote. Anything but whitespace before it means the
    // value after a "reference" key was not a string.
    size_t quote = t.find('"', p);
    if (quote == std::string_view::npos) break;
    if (after_reference_key && SkipWs(t, p) != quote) after_reference_key = false;
    p = quote;
    size_t end = SkipString(t, p);
    if (end == std::string_view::npos) break;
    std::string_view content = t.substr(p + 1, end - p - 2);
    size_t next = SkipWs(t, end);
    if (next < t.size() && t[next] == ':') {
      after_reference_key = content == "reference";
      p = next + 1;
      continue;
    }
    if (after_reference_key) {
      if (std::optional<std::string> replacement = fn(content)) {
        out.append(t.substr(copied, p + 1 - copied));
        out += *replacement;
        copied = end - 1;
      }
    }
    after_reference_key = false;
    p = end;
  }
  if (copied == 0) return std::string(t);
  out.append(t.substr(copied));
  return out;
}

}  // namespace kiln::rest
