// Auth mode "smart": the Authenticator for bearer JWT access tokens issued by the configured
// SMART / OAuth2 authorization server, and the Authorizer that applies SMART scopes.
//
// Authentication steps, cheapest first, so junk costs little and never triggers a key fetch:
//   1. `Authorization: Bearer <token>` (scheme case-insensitive, token68 syntax, size limit).
//   2. Decode the compact JWS; header rules (alg allow-list, kid, typ, no crit): jwt.h.
//   3. Claims iss, aud, exp, nbf, iat with the clock skew (unverified yet, but a token that fails
//      them is refused whatever its signature).
//   4. The key: cached JWKS by kid; on an unknown kid, a rate-limited refetch off the I/O thread
//      (key_cache.h); still unknown -> 401.
//   5. The signature, with the key whose type fits `alg`.
//   6. The Principal from the claims (configurable claim names), scopes parsed.
// Verified tokens are remembered (by SHA-256 of the token, never the token itself) with their
// Principal until they expire, so a client that reuses its token, the normal case, costs a hash
// and a lookup instead of a signature check (which would halve read throughput for RS256 and
// quarter it for ES256). A hit re-checks exp and nbf against the clock; an entry is void once
// the key set it was verified with is replaced (a JWKS refetch). At most kMaxCachedTokens
// entries; when full, the cache starts over.
//
// Authorization (type level) is the union of the token's scope grants (docs/security.md):
//   - system/ scopes grant what they name, on every resource of the type.
//   - user/ scopes grant the same, but only when the token has a fhirUser claim (a user token
//     without one is not trusted as a user), and as the user-context rules say for the kind of
//     user (auth/user_rules.h; by default: a patient user (fhirUser is a Patient) gets them
//     only within its own compartment, like a patient/ scope; the patient in context is then
//     that Patient (a `patient` claim naming another one makes the user/ scopes grant nothing).
//   - patient/ scopes grant only within the compartment of the token's `patient`, and nothing
//     when the token has no patient claim. A broader grant from another scope wins.
//   - granular v2 scopes (with ?query, on a named type) grant access to the resources that match
//     their query (Granular()), when no plain scope grants more. Several granular scopes for one
//     type and permission are OR-ed when they filter on the same single parameter (their values
//     are joined with commas, search's OR); any other combination grants nothing (fail closed).
//
// Thread-safe.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "auth/jwt.h"
#include "auth/key_cache.h"
#include "auth/user_rules.h"
#include "kiln/auth.h"

namespace kiln::auth {

struct SmartAuthOptions {
  ClaimRules rules;
  ClaimNames names;
};

class SmartAuthenticator : public Authenticator {
 public:
  // `keys` must outlive the authenticator. `now_seconds` is the clock (injectable for tests).
  SmartAuthenticator(SmartAuthOptions options, KeyCache& keys,
                     std::function<int64_t()> now_seconds);
  AuthResult Authenticate(std::string_view authorization, bool may_block) override;

  static constexpr size_t kMaxCachedTokens = 10000;

 private:
  using Digest = std::array<unsigned char, 32>;  // SHA-256 of a token
  struct DigestHash {
    size_t operator()(const Digest& d) const;
  };
  struct Verified {
    Principal principal;
    int64_t exp = 0;
    int64_t nbf = 0;
    std::shared_ptr<const KeySet> keys;  // the set it was verified with
  };
  // The full check (steps 2-6), on a cache miss.
  AuthResult Verify(std::string_view token, bool may_block);

  const SmartAuthOptions options_;
  KeyCache& keys_;
  const std::function<int64_t()> now_seconds_;
  std::mutex cache_mu_;
  std::unordered_map<Digest, Verified, DigestHash> cache_;  // guarded by cache_mu_
};

class SmartAuthorizer : public Authorizer {
 public:
  // `user_rules`: what user/ scopes grant by the kind of fhirUser (auth/user_rules.h).
  explicit SmartAuthorizer(UserRules user_rules = DefaultUserRules())
      : user_rules_(std::move(user_rules)) {}
  Decision Decide(const Principal& principal, std::string_view type,
                  Permission permission) const override;
  std::optional<GranularGrant> Granular(const Principal& principal, std::string_view type,
                                        Permission permission) const override;

 private:
  // What the principal's user/ scopes grant (kDeny without a fhirUser claim).
  UserAccess UserAccessOf(const Principal& principal) const;

  const UserRules user_rules_;
};

// Extracts the token from an Authorization header value: "Bearer <token68>". Returns "" (and
// sets `why`) when the header is not of that form.
std::string_view BearerToken(std::string_view authorization, std::string& why);

}  // namespace kiln::auth
