// Opaque bearer tokens, checked by OAuth 2.0 token introspection (RFC 7662) at the authorization
// server: the AWS HealthLake pattern. docs/security.md ("Opaque tokens and introspection") is
// the user-facing description; the rules in short:
//
//   - Which tokens: a token that is a JWS compact serialization (exactly two '.') is a JWT and
//     goes to the JWT authenticator (local JWKS verification, smart.h); any other token is opaque
//     and is introspected. Every token is introspected when there is no JWT authenticator (no
//     --auth-issuer) or when introspect_all is set.
//   - The call: POST url, application/x-www-form-urlencoded `token=...&token_type_hint=
//     access_token`, HTTP Basic client authentication with the form-encoded client id and
//     secret (RFC 7662 section 2.1, RFC 6749 section 2.3.1), through the Fetcher (TLS verified,
//     timeouts, size limit). Never on an HTTP I/O thread: a cache miss answers kRetryOffIoThread
//     and the REST service calls again on a worker with may_block.
//   - The answer (ParseIntrospection): not JSON, not an object, `active` missing or not a boolean,
//     or a claim of the wrong type -> the endpoint is broken: 503 (kUnavailable). `active` false,
//     or true but expired (exp, with the clock skew), not yet valid (nbf, iat), another issuer
//     (`iss`, when present and an issuer is configured), no `aud` or an `aud` without Kiln's
//     audience, a token_type other than a bearer access token -> 401 (kUnauthenticated). An
//     accepted answer becomes the same Principal a JWT's claims would (PrincipalFromClaims).
//   - Cache: by SHA-256 of the token (never the token), an accepted answer for at most
//     cache_ttl and never past its exp, a refusal (401) for at most inactive_ttl; at most
//     max_entries (expired entries are dropped first, then everything). Failures (503) are not
//     cached, but for failure_pause after a failed call, misses are answered 503 at once instead
//     of calling a broken endpoint again (requests in a flood do not each wait for a timeout).
//   - Concurrent misses for the same token share one call (single flight).
//
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/http_fetch.h"
#include "auth/jwt.h"
#include "kiln/auth.h"

namespace kiln::auth {

using TokenDigest = std::array<unsigned char, 32>;  // SHA-256 of a token

// SHA-256 of `token`; false if hashing failed.
bool HashToken(std::string_view token, TokenDigest& out);

// True for a JWS compact serialization's shape: exactly two '.'.
bool IsCompactJws(std::string_view token);

struct Introspection {
  AuthResult result;  // kOk with the principal, or kRejected (401)
  int64_t exp = 0;    // the answer's exp (seconds), 0 when absent
};

// Reads an introspection response body. kUnavailable when the body is not a usable RFC 7662
// answer; otherwise the decision. `rules.issuer` empty: `iss` is not compared.
Result<Introspection> ParseIntrospection(std::string_view body, const ClaimRules& rules,
                                         const ClaimNames& names, int64_t now_seconds);

// Answers by token digest with an expiry; bounded. Thread-safe.
class IntrospectionCache {
 public:
  explicit IntrospectionCache(size_t max_entries) : max_entries_(max_entries) {}
  // The cached answer, if any and still fresh at `now_micros`.
  std::optional<AuthResult> Find(const TokenDigest& digest, int64_t now_micros);
  // Remembers `result` until `until_micros` (not at all if that is not after `now_micros`).
  void Put(const TokenDigest& digest, const AuthResult& result, int64_t now_micros,
           int64_t until_micros);
  size_t size() const;

 private:
  struct Hash {
    size_t operator()(const TokenDigest& d) const;
  };
  struct Entry {
    AuthResult result;
    int64_t until_micros = 0;
  };
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<TokenDigest, Entry, Hash> entries_;  // guarded by mu_
};

struct IntrospectionOptions {
  std::string url;
  std::string client_id;  // empty: no client authentication is sent
  std::string client_secret;
  std::chrono::seconds cache_ttl{60};
  std::chrono::seconds inactive_ttl{10};  // capped at cache_ttl
  std::chrono::milliseconds failure_pause{1000};
  size_t max_entries = 10000;
  bool introspect_all = false;  // JWTs too
  ClaimRules rules;
  ClaimNames names;
};

class IntrospectingAuthenticator : public Authenticator {
 public:
  // `jwt` (may be null) authenticates JWTs; it must outlive this. `now_micros` is the clock.
  IntrospectingAuthenticator(IntrospectionOptions options, std::unique_ptr<Fetcher> fetcher,
                             Authenticator* jwt, std::function<int64_t()> now_micros);
  AuthResult Authenticate(std::string_view authorization, bool may_block) override;

  // Introspection requests made (for tests and logs).
  int64_t calls() const { return calls_.load(); }

 private:
  struct Flight {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    AuthResult result;
  };
  struct DigestHash {
    size_t operator()(const TokenDigest& d) const;
  };
  AuthResult Introspect(std::string_view token, const TokenDigest& digest);
  AuthResult Call(std::string_view token, const TokenDigest& digest);
  bool Paused(int64_t now_micros) const;

  const IntrospectionOptions options_;
  const std::unique_ptr<Fetcher> fetcher_;
  Authenticator* const jwt_;
  const std::function<int64_t()> now_micros_;
  const std::string auth_header_;  // "Authorization: Basic ...", or ""
  IntrospectionCache cache_;
  std::mutex flights_mu_;
  std::unordered_map<TokenDigest, std::shared_ptr<Flight>, DigestHash> flights_;
  std::atomic<int64_t> last_failure_micros_{0};
  std::atomic<int64_t> calls_{0};
};

// application/x-www-form-urlencoded encoding of `s` (RFC 6749 appendix B).
std::string FormEncode(std::string_view s);

}  // namespace kiln::auth
