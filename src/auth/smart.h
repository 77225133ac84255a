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
//
// Authorization (type level) is the union of the token's scope grants (docs/security.md):
//   - system/ scopes grant what they name, on every resource of the type.
//   - user/ scopes grant the same, but only when the token has a fhirUser claim (a user token
//     without one is not trusted as a user).
//   - patient/ scopes grant only within the compartment of the token's `patient`, and nothing
//     when the token has no patient claim. A broader grant from another scope wins.
//   - granular v2 scopes (with ?query) grant nothing yet: their filter is not enforced.
//
// Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "auth/jwt.h"
#include "auth/key_cache.h"
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

 private:
  const SmartAuthOptions options_;
  KeyCache& keys_;
  const std::function<int64_t()> now_seconds_;
};

class SmartAuthorizer : public Authorizer {
 public:
  Decision Decide(const Principal& principal, std::string_view type,
                  Permission permission) const override;
};

// Extracts the token from an Authorization header value: "Bearer <token68>". Returns "" (and
// sets `why`) when the header is not of that form.
std::string_view BearerToken(std::string_view authorization, std::string& why);

}  // namespace kiln::auth
