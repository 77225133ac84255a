#include "auth/introspection.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstring>

#include "auth/json_strict.h"
#include "auth/smart.h"
#include "core/log.h"

namespace kiln::auth {
namespace {

AuthResult Reject(Status status) { return AuthResult::Rejected(std::move(status)); }

Status Broken(const std::string& what) {
  return Status::Unavailable("The authorization server's introspection endpoint " + what +
                             "; the token cannot be checked, try again later");
}

enum class Date { kAbsent, kBad, kOk };

// An RFC 7519 NumericDate member: an integer (or a number with a fraction) of seconds.
Date ReadNumericDate(const boost::json::object& o, const char* name, int64_t& out) {
  const boost::json::value* v = o.if_contains(name);
  if (v == nullptr) return Date::kAbsent;
  double d = 0;
  if (v->is_int64()) {
    d = static_cast<double>(v->as_int64());
  } else if (v->is_uint64()) {
    d = static_cast<double>(v->as_uint64());
  } else if (v->is_double()) {
    d = v->as_double();
  } else {
    return Date::kBad;
  }
  if (!std::isfinite(d) || d < 0 || d > 253402300799.0) return Date::kBad;  // after year 9999
  out = static_cast<int64_t>(d);
  return Date::kOk;
}

size_t PrefixHash(const TokenDigest& d) {
  size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);  // a SHA-256 prefix is as good a hash as any
  return h;
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

}  // namespace

bool HashToken(std::string_view token, TokenDigest& out) {
  unsigned int len = 0;
  return EVP_Digest(token.data(), token.size(), out.data(), &len, EVP_sha256(), nullptr) == 1 &&
         len == out.size();
}

bool IsCompactJws(std::string_view token) {
  return std::count(token.begin(), token.end(), '.') == 2;
}

std::string FormEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '*') {
      out += ch;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<Introspection> ParseIntrospection(std::string_view body, const ClaimRules& rules,
                                         const ClaimNames& names, int64_t now_seconds) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return Broken("answered something that is not a JSON object");
  if (HasDuplicateMembers(body)) return Broken("answered an object that repeats a member name");
  const boost::json::object& o = v.as_object();
  const boost::json::value* active = o.if_contains("active");
  if (active == nullptr || !active->is_bool())
    return Broken("answered without a boolean 'active' member");

  // Members whose type is wrong make the whole answer unusable (503), whatever `active` says:
  // a server that sends them is broken, and guessing what it meant could allow too much.
  int64_t exp = 0, nbf = 0, iat = 0;
  const Date exp_read = ReadNumericDate(o, "exp", exp);
  const Date nbf_read = ReadNumericDate(o, "nbf", nbf);
  const Date iat_read = ReadNumericDate(o, "iat", iat);
  if (exp_read == Date::kBad || nbf_read == Date::kBad || iat_read == Date::kBad)
    return Broken("answered an exp, nbf or iat that is not a NumericDate");
  for (const char* name : {"iss", "sub", "client_id", "token_type", "username", "jti"}) {
    const boost::json::value* m = o.if_contains(name);
    if (m != nullptr && !m->is_string())
      return Broken(std::string("answered a '") + name + "' that is not a string");
  }
  if (const boost::json::value* s = names.scope.empty() ? nullptr : o.if_contains(names.scope);
      s != nullptr && !s->is_string() && !s->is_array())
    return Broken("answered a scope that is neither a string nor an array");
  const boost::json::value* aud = o.if_contains("aud");
  if (aud != nullptr && !aud->is_string() && !aud->is_array())
    return Broken("answered an aud that is neither a string nor an array");

  Introspection out;
  out.exp = exp_read == Date::kOk ? exp : 0;
  out.result.kind = AuthResult::Kind::kRejected;
  if (!active->as_bool()) {
    out.result.status = Unauthenticated("The token is not active (revoked, expired or unknown)");
    return out;
  }
  const int64_t skew = rules.clock_skew_seconds;
  if (exp_read == Date::kOk && now_seconds - skew >= exp) {
    out.result.status = Unauthenticated("The token has expired");
    return out;
  }
  if (nbf_read == Date::kOk && nbf > now_seconds + skew) {
    out.result.status = Unauthenticated("The token is not valid yet (nbf)");
    return out;
  }
  if (iat_read == Date::kOk && iat > now_seconds + skew) {
    out.result.status = Unauthenticated("The token claims to be issued in the future (iat)");
    return out;
  }
  if (const boost::json::value* iss = o.if_contains("iss");
      iss != nullptr && !rules.issuer.empty() && iss->as_string() != rules.issuer) {
    out.result.status = Unauthenticated("The token was not issued by the configured issuer (iss)");
    return out;
  }
  if (const boost::json::value* tt = o.if_contains("token_type"); tt != nullptr) {
    std::string t(tt->as_string());
    std::transform(t.begin(), t.end(), t.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (t != "bearer" && t != "access_token" &&
        t != "urn:ietf:params:oauth:token-type:access_token") {
      out.result.status = Unauthenticated("The token is not a bearer access token (token_type)");
      return out;
    }
  }
  // aud is required: an opaque token without one could be meant for any resource server.
  bool aud_ok = false;
  auto accepted = [&](const boost::json::value& a) {
    return a.is_string() && std::find(rules.audiences.begin(), rules.audiences.end(),
                                      std::string_view(a.as_string())) != rules.audiences.end();
  };
  if (aud != nullptr && aud->is_string()) aud_ok = accepted(*aud);
  if (aud != nullptr && aud->is_array())
    for (const auto& a : aud->as_array()) aud_ok = aud_ok || accepted(a);
  if (!aud_ok) {
    out.result.status = Unauthenticated("The token is not meant for this server (aud)");
    return out;
  }
  std::vector<std::string> invalid;
  out.result.kind = AuthResult::Kind::kOk;
  out.result.principal = PrincipalFromClaims(o, names, invalid);
  if (!invalid.empty()) {
    std::string list;
    for (const std::string& s : invalid) list += (list.empty() ? "" : " ") + s;
    core::LogInfo("token scopes ignored (not SMART resource scopes)",
                  {{"client_id", std::string_view(out.result.principal.client_id)},
                   {"scopes", std::string_view(list)}});
  }
  return out;
}

size_t IntrospectionCache::Hash::operator()(const TokenDigest& d) const { return PrefixHash(d); }

std::optional<AuthResult> IntrospectionCache::Find(const TokenDigest& digest, int64_t now_micros) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(digest);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.until_micros <= now_micros) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.result;
}

void IntrospectionCache::Put(const TokenDigest& digest, const AuthResult& result,
                             int64_t now_micros, int64_t until_micros) {
  if (until_micros <= now_micros || max_entries_ == 0) return;
  std::lock_guard lock(mu_);
  if (entries_.size() >= max_entries_ && entries_.find(digest) == entries_.end()) {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.until_micros <= now_micros ? entries_.erase(it) : std::next(it);
    if (entries_.size() >= max_entries_) entries_.clear();  // all fresh: start over
  }
  entries_.insert_or_assign(digest, Entry{result, until_micros});
}

size_t IntrospectionCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

size_t IntrospectingAuthenticator::DigestHash::operator()(const TokenDigest& d) const {
  return PrefixHash(d);
}

IntrospectingAuthenticator::IntrospectingAuthenticator(IntrospectionOptions options,
                                                       std::unique_ptr<Fetcher> fetcher,
                                                       Authenticator* jwt,
                                                       std::function<int64_t()> now_micros)
    : options_(std::move(options)),
      fetcher_(std::move(fetcher)),
      jwt_(jwt),
      now_micros_(std::move(now_micros)),
      auth_header_(options_.client_id.empty()
                       ? std::string()
                       : "Authorization: Basic " + Base64(FormEncode(options_.client_id) + ":" +
                                                          FormEncode(options_.client_secret))),
      cache_(options_.max_entries) {}

bool IntrospectingAuthenticator::Paused(int64_t now_micros) const {
  int64_t last = last_failure_micros_.load();
  return last != 0 &&
         now_micros - last <
             std::chrono::duration_cast<std::chrono::microseconds>(options_.failure_pause).count();
}

AuthResult IntrospectingAuthenticator::Authenticate(std::string_view authorization,
                                                    bool may_block) {
  if (authorization.empty()) return Reject(Unauthenticated("A bearer token is required"));
  std::string why;
  std::string_view token = BearerToken(authorization, why);
  if (token.empty()) return Reject(Unauthenticated(why));
  if (jwt_ != nullptr && !options_.introspect_all && IsCompactJws(token))
    return jwt_->Authenticate(authorization, may_block);

  TokenDigest digest{};
  if (!HashToken(token, digest))
    return Reject(Status::Unavailable("The token could not be checked"));
  const int64_t now = now_micros_();
  if (auto hit = cache_.Find(digest, now)) return *hit;
  if (Paused(now)) return Reject(Broken("failed a moment ago"));
  if (!may_block) {
    AuthResult r;
    r.kind = AuthResult::Kind::kRetryOffIoThread;
    return r;
  }
  return Introspect(token, digest);
}

AuthResult IntrospectingAuthenticator::Introspect(std::string_view token,
                                                  const TokenDigest& digest) {
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard lock(flights_mu_);
    // A flight that finished while this request waited for a worker has filled the cache.
    if (auto hit = cache_.Find(digest, now_micros_())) return *hit;
    auto [it, inserted] = flights_.try_emplace(digest);
    if (inserted) it->second = std::make_shared<Flight>();
    flight = it->second;
    leader = inserted;
  }
  if (!leader) {
    std::unique_lock lock(flight->mu);
    flight->cv.wait(lock, [&] { return flight->done; });
    return flight->result;
  }
  AuthResult result = Call(token, digest);
  {
    std::lock_guard lock(flights_mu_);
    flights_.erase(digest);
  }
  {
    std::lock_guard lock(flight->mu);
    flight->result = result;
    flight->done = true;
  }
  flight->cv.notify_all();
  return result;
}

AuthResult IntrospectingAuthenticator::Call(std::string_view token, const TokenDigest& digest) {
  ++calls_;
  std::vector<std::string> headers;
  if (!auth_header_.empty()) headers.push_back(auth_header_);
  const std::string body = "token=" + FormEncode(token) + "&token_type_hint=access_token";
  auto answer = fetcher_->PostForm(options_.url, body, headers);
  const int64_t now = now_micros_();
  if (!answer.ok()) {
    last_failure_micros_.store(now);
    core::LogWarn("token introspection failed",
                  {{"url", std::string_view(options_.url)},
                   {"error", std::string_view(answer.status().message())}});
    return Reject(Broken("cannot be reached or did not answer 200"));
  }
  Result<Introspection> parsed =
      ParseIntrospection(*answer, options_.rules, options_.names, now / 1000000);
  if (!parsed.ok()) {
    last_failure_micros_.store(now);
    core::LogWarn("token introspection failed",
                  {{"url", std::string_view(options_.url)},
                   {"error", std::string_view(parsed.status().message())}});
    return Reject(parsed.take_status());
  }
  last_failure_micros_.store(0);
  Introspection in = std::move(parsed).value();
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  int64_t until = 0;
  if (in.result.kind == AuthResult::Kind::kOk) {
    until = now + duration_cast<microseconds>(options_.cache_ttl).count();
    if (in.exp != 0) until = std::min(until, in.exp * 1000000);  // never past exp
  } else {
    until =
        now +
        duration_cast<microseconds>(std::min(options_.inactive_ttl, options_.cache_ttl)).count();
  }
  cache_.Put(digest, in.result, now, until);
  return in.result;
}

}  // namespace kiln::auth
