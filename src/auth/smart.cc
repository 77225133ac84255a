#include "auth/smart.h"

#include <openssl/evp.h>

#include <array>
#include <cstring>

#include "core/log.h"
#include "core/strings.h"

namespace kiln::auth {
namespace {

AuthResult Reject(Status status) { return AuthResult::Rejected(std::move(status)); }

// RFC 6750 token68 characters, as a table: every request's token (about a kilobyte) is checked.
constexpr std::array<bool, 256> kToken68 = [] {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (unsigned char c : {'-', '.', '_', '~', '+', '/'}) t[c] = true;
  return t;
}();

bool IsToken68Char(char c) { return kToken68[static_cast<unsigned char>(c)]; }

// SHA-256 of `text` into `out`, with the digest fetched once and a context per thread (the
// one-shot EVP_Digest(EVP_sha256()) looks the algorithm up and allocates a context each call).
bool Sha256(std::string_view text, std::array<unsigned char, 32>& out) {
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx local;
  unsigned int len = 0;
  return kSha256 != nullptr && local.ctx != nullptr &&
         EVP_DigestInit_ex(local.ctx, kSha256, nullptr) == 1 &&
         EVP_DigestUpdate(local.ctx, text.data(), text.size()) == 1 &&
         EVP_DigestFinal_ex(local.ctx, out.data(), &len) == 1 && len == out.size();
}

}  // namespace

std::string_view BearerToken(std::string_view authorization, std::string& why) {
  constexpr std::string_view kScheme = "bearer";
  size_t space = authorization.find(' ');
  std::string_view scheme = authorization.substr(0, space);
  bool is_bearer = scheme.size() == kScheme.size();
  for (size_t i = 0; is_bearer && i < kScheme.size(); ++i)
    is_bearer = std::tolower(static_cast<unsigned char>(scheme[i])) == kScheme[i];
  if (!is_bearer) {
    why = "The Authorization header's scheme is not Bearer";
    return {};
  }
  if (space == std::string_view::npos) {
    why = "The bearer token is empty";
    return {};
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) {
    why = "The bearer token is empty";
    return {};
  }
  if (token.size() > kMaxTokenBytes) {
    why = "The bearer token is longer than " + std::to_string(kMaxTokenBytes) + " bytes";
    return {};
  }
  // RFC 6750 b64token: token68 characters, then optional '=' padding.
  size_t end = token.size();
  while (end > 0 && token[end - 1] == '=') --end;
  for (size_t i = 0; i < end; ++i) {
    if (!IsToken68Char(token[i])) {
      why = "The bearer token has characters a token cannot have";
      return {};
    }
  }
  return token;
}

SmartAuthenticator::SmartAuthenticator(SmartAuthOptions options, KeyCache& keys,
                                       std::function<int64_t()> now_seconds)
    : options_(std::move(options)), keys_(keys), now_seconds_(std::move(now_seconds)) {}

size_t SmartAuthenticator::DigestHash::operator()(const Digest& d) const {
  size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);  // a SHA-256 prefix is as good a hash as any
  return h;
}

AuthResult SmartAuthenticator::Authenticate(std::string_view authorization, bool may_block) {
  if (authorization.empty()) return Reject(Unauthenticated("A bearer token is required"));
  std::string why;
  std::string_view token = BearerToken(authorization, why);
  if (token.empty()) return Reject(Unauthenticated(why));

  Digest digest{};
  const bool hashed = Sha256(token, digest);
  std::shared_ptr<const KeySet> keys = keys_.Keys();
  if (hashed) {
    const int64_t now = now_seconds_();
    const int64_t skew = options_.rules.clock_skew_seconds;
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(digest);
    if (it != cache_.end()) {
      const Verified& v = it->second;
      if (v.keys == keys && now - skew < v.exp && v.nbf <= now + skew) {
        AuthResult r;
        r.kind = AuthResult::Kind::kOk;
        r.principal = v.principal;
        return r;
      }
      cache_.erase(it);  // expired, or verified with keys that are gone: check it afresh
    }
  }
  AuthResult r = Verify(token, may_block);
  if (hashed && r.kind == AuthResult::Kind::kOk) {
    Verified v;
    v.principal = r.principal;
    v.exp = r.principal.expires_at;
    v.nbf = r.principal.not_before;
    v.keys = keys_.Keys();  // the set the signature was checked with (possibly just refetched)
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kMaxCachedTokens) cache_.clear();
    cache_.insert_or_assign(digest, std::move(v));
  }
  return r;
}

AuthResult SmartAuthenticator::Verify(std::string_view token, bool may_block) {
  auto jwt = DecodeJwt(token);
  if (!jwt.ok()) return Reject(jwt.take_status());
  if (Status s = CheckClaims(jwt->payload, options_.rules, now_seconds_()); !s.ok())
    return Reject(std::move(s));

  std::shared_ptr<const KeySet> keys = keys_.Keys();
  const PublicKey* key = keys->Find(jwt->kid);
  // Without any keys, because the issuer cannot be reached, no token can be checked: that is
  // the server's problem, not the client's (503, not 401), and still never an allow.
  auto unknown_kid = [this] {
    if (keys_.unavailable())
      return Reject(Status::Unavailable(
          "The authorization server's signing keys cannot be fetched; try again later"));
    return Reject(Unauthenticated("The token's signing key (kid) is not known"));
  };
  if (key == nullptr) {
    if (!keys_.RefreshAllowed()) return unknown_kid();
    if (!may_block) {
      AuthResult r;
      r.kind = AuthResult::Kind::kRetryOffIoThread;
      return r;
    }
    keys_.Refresh();  // failures are logged there; the kid is then still unknown
    keys = keys_.Keys();
    key = keys->Find(jwt->kid);
    if (key == nullptr) return unknown_kid();
  }
  if (!key->Accepts(jwt->alg))
    return Reject(Unauthenticated("The token's algorithm does not fit its signing key"));
  if (!key->Verify(jwt->alg, jwt->signing_input, jwt->signature))
    return Reject(Unauthenticated("The token's signature is not valid"));

  AuthResult r;
  r.kind = AuthResult::Kind::kOk;
  std::vector<std::string> invalid;
  r.principal = PrincipalFromClaims(jwt->payload, options_.names, invalid);
  if (!invalid.empty()) {
    std::string list;
    for (const std::string& s : invalid) list += (list.empty() ? "" : " ") + s;
    // Once per verified token (the cache spares the repeats), so info is not too chatty.
    core::LogInfo("token scopes ignored (not SMART resource scopes)",
                  {{"client_id", std::string_view(r.principal.client_id)},
                   {"scopes", std::string_view(list)}});
  }
  return r;
}

namespace {

// A scope's query value as a search value: percent-escapes decoded (scopes may carry `%7C` for
// `|`); nullopt when an escape is malformed.
std::optional<std::string> DecodeFilterValue(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      out += v[i];
      continue;
    }
    if (i + 2 >= v.size()) return std::nullopt;
    int hi = core::HexDigitValue(v[i + 1]);
    int lo = core::HexDigitValue(v[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// "a=1&b=2" -> {{a,1},{b,2}}, values decoded.
std::optional<std::vector<std::pair<std::string, std::string>>> FilterParams(
    std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    auto value = DecodeFilterValue(pair.substr(eq + 1));
    if (!value) return std::nullopt;
    out.emplace_back(std::string(pair.substr(0, eq)), std::move(*value));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

// A value joined into a comma-separated OR list: its own commas escaped (R4 search escaping).
std::string EscapeCommas(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == ',') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

UserAccess SmartAuthorizer::UserAccessOf(const Principal& principal) const {
  if (principal.fhir_user.empty()) return UserAccess::kDeny;
  return user_rules_.For(FhirUserType(principal.fhir_user));
}

Decision SmartAuthorizer::Decide(const Principal& principal, std::string_view type,
                                 Permission permission) const {
  bool in_compartment = false;
  for (const ScopeGrant& g : principal.grants) {
    if (!g.filter.empty()) continue;  // granular scopes: see Granular()
    if ((g.type != "*" && g.type != type) || (g.permissions & permission) == 0) continue;
    switch (g.context) {
      case ScopeContext::kSystem:
        return Decision::kAllow;
      case ScopeContext::kUser:
        // By the user-context rules: by default a patient user (fhirUser is a Patient) is
        // limited to its own compartment, as in FHIR Works' default rules; other users get what
        // the scope names.
        switch (UserAccessOf(principal)) {
          case UserAccess::kScopes:
            return Decision::kAllow;
          case UserAccess::kOwnCompartment:
            if (!principal.user_patient.empty() && principal.user_patient == principal.patient)
              in_compartment = true;
            break;
          case UserAccess::kDeny:
            break;
        }
        break;
      case ScopeContext::kPatient:
        if (!principal.patient.empty()) in_compartment = true;
        break;
    }
  }
  return in_compartment ? Decision::kAllowInPatientCompartment : Decision::kDeny;
}

std::optional<GranularGrant> SmartAuthorizer::Granular(const Principal& principal,
                                                       std::string_view type,
                                                       Permission permission) const {
  std::vector<std::vector<std::pair<std::string, std::string>>> filters;
  bool patient = false;
  for (const ScopeGrant& g : principal.grants) {
    // Granular grants on "*" are not applied: a query means something for one type only.
    if (g.filter.empty() || g.type != type || (g.permissions & permission) == 0) continue;
    switch (g.context) {
      case ScopeContext::kSystem:
        break;
      case ScopeContext::kUser:
        switch (UserAccessOf(principal)) {
          case UserAccess::kScopes:
            break;
          case UserAccess::kOwnCompartment:
            if (principal.user_patient.empty() || principal.user_patient != principal.patient)
              continue;
            patient = true;
            break;
          case UserAccess::kDeny:
            continue;
        }
        break;
      case ScopeContext::kPatient:
        if (principal.patient.empty()) continue;
        patient = true;  // mixed with system/user granular grants: the stricter reading
        break;
    }
    auto params = FilterParams(g.filter);
    if (!params) return std::nullopt;  // a malformed grant spoils the combination: closed
    filters.push_back(std::move(*params));
  }
  if (filters.empty()) return std::nullopt;
  GranularGrant grant;
  grant.patient_compartment = patient;
  if (filters.size() == 1) {
    grant.params = std::move(filters.front());
    return grant;
  }
  // Several: OR-able only as one parameter with comma-separated values.
  std::string name;
  std::string values;
  for (const auto& f : filters) {
    if (f.size() != 1 || (!name.empty() && f[0].first != name)) return std::nullopt;
    name = f[0].first;
    values += (values.empty() ? "" : ",") + EscapeCommas(f[0].second);
  }
  grant.params.emplace_back(name, values);
  return grant;
}

}  // namespace kiln::auth
