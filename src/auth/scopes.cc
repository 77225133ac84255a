#include "auth/scopes.h"

namespace kiln::auth {
namespace {

// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
bool IsScopeChar(char c) { return c >= 0x21 && c <= 0x7E && c != '"' && c != '\\'; }

bool IsLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// "*" or an R4 resource type name: an upper-case letter, then letters (R4 has no digits in type
// names). Unknown names pass here; they just never match a real type.
bool IsTypeName(std::string_view t) {
  if (t == "*") return true;
  if (t.empty() || t.size() > 64 || !(t[0] >= 'A' && t[0] <= 'Z')) return false;
  for (char c : t)
    if (!IsLetter(c)) return false;
  return true;
}

// SMART v2 permission letters: a non-empty subsequence of "cruds", in that order.
std::optional<uint8_t> V2Permissions(std::string_view letters) {
  static constexpr std::string_view kOrder = "cruds";
  static constexpr uint8_t kBits[] = {kPermCreate, kPermRead, kPermUpdate, kPermDelete,
                                      kPermSearch};
  if (letters.empty()) return std::nullopt;
  uint8_t bits = 0;
  size_t next = 0;  // letters must come in kOrder's order, each at most once
  for (char c : letters) {
    size_t at = kOrder.find(c, next);
    if (at == std::string_view::npos) return std::nullopt;
    bits |= kBits[at];
    next = at + 1;
  }
  return bits;
}

// The granular part of a v2 scope: name=value pairs joined by '&', none empty.
bool IsValidFilter(std::string_view query) {
  if (query.empty()) return false;
  while (true) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (eq == 0 || eq == std::string_view::npos || eq + 1 == pair.size()) return false;
    for (char c : pair.substr(0, eq))
      if (!(IsLetter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == ':' || c == '.'))
        return false;
    if (amp == std::string_view::npos) return true;
    query.remove_prefix(amp + 1);
  }
}

bool IsKnownNonResourceScope(std::string_view s) {
  return s == "openid" || s == "profile" || s == "fhirUser" || s == "offline_access" ||
         s == "online_access" || s == "launch" || s.starts_with("launch/");
}

}  // namespace

std::optional<ScopeGrant> ParseScope(std::string_view scope) {
  for (char c : scope)
    if (!IsScopeChar(c)) return std::nullopt;
  ScopeGrant g;
  size_t slash = scope.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view context = scope.substr(0, slash);
  if (context == "patient") {
    g.context = ScopeContext::kPatient;
  } else if (context == "user") {
    g.context = ScopeContext::kUser;
  } else if (context == "system") {
    g.context = ScopeContext::kSystem;
  } else {
    return std::nullopt;
  }
  std::string_view rest = scope.substr(slash + 1);
  std::string_view query;
  bool has_query = false;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    has_query = true;
  }
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos || rest.find('.', dot + 1) != std::string_view::npos)
    return std::nullopt;
  std::string_view type = rest.substr(0, dot);
  std::string_view perms = rest.substr(dot + 1);
  if (!IsTypeName(type)) return std::nullopt;
  g.type = std::string(type);
  if (perms == "read" || perms == "write" || perms == "*") {
    if (has_query) return std::nullopt;  // v1 has no granular form
    g.permissions = perms == "read" ? (kPermRead | kPermSearch)
                    : perms == "write"
                        ? (kPermCreate | kPermUpdate | kPermDelete)
                        : (kPermCreate | kPermRead | kPermUpdate | kPermDelete | kPermSearch);
  } else {
    auto bits = V2Permissions(perms);
    if (!bits) return std::nullopt;
    g.permissions = *bits;
    if (has_query) {
      if (!IsValidFilter(query)) return std::nullopt;
      g.filter = std::string(query);
    }
  }
  return g;
}

ParsedScopes ParseScopes(std::string_view scopes) {
  ParsedScopes out;
  size_t i = 0;
  while (i < scopes.size()) {
    // RFC 6749 separates scopes with single spaces; tolerate runs of spaces, nothing else.
    if (scopes[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = scopes.find(' ', i);
    if (end == std::string_view::npos) end = scopes.size();
    std::string_view one = scopes.substr(i, end - i);
    i = end;
    if (auto g = ParseScope(one)) {
      out.grants.push_back(std::move(*g));
    } else if (IsKnownNonResourceScope(one)) {
      out.other.emplace_back(one);
    } else {
      out.invalid.emplace_back(one);
    }
  }
  return out;
}

std::string PermissionLetters(uint8_t permissions) {
  std::string out;
  if (permissions & kPermCreate) out += 'c';
  if (permissions & kPermRead) out += 'r';
  if (permissions & kPermUpdate) out += 'u';
  if (permissions & kPermDelete) out += 'd';
  if (permissions & kPermSearch) out += 's';
  return out;
}

}  // namespace kiln::auth
