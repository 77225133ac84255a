// JWT access tokens (RFC 7519, RFC 9068) in JWS compact form (RFC 7515): decoding, the header
// rules, the claim checks, and the Principal the claims describe. Signature verification is
// jwk.h's; the order of the steps is the authenticator's (smart_authenticator.h).
//
// Every failure is a Status with ErrorCode::kUnauthenticated whose message is safe to show the
// client (it names the problem, never key material). Pure functions; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwk.h"
#include "kiln/context.h"
#include "kiln/status.h"

namespace kiln::auth {

// Longer tokens are refused before any decoding (a real access token is a few KiB at most).
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

struct DecodedJwt {
  Algorithm alg = Algorithm::kRS256;
  std::string kid;
  std::string_view signing_input;  // "header.payload" exactly as sent (points into the token)
  std::string signature;           // decoded bytes
  boost::json::object header;
  boost::json::object payload;
};

// Splits and decodes a compact JWS: three strict-base64url parts, a JSON object header with an
// allow-listed `alg`, a `kid`, an acceptable `typ` (absent, JWT or at+jwt) and no `crit` (Kiln
// understands no JWS extensions, so RFC 7515 section 4.1.11 says refuse), and a JSON object
// payload. `token` must outlive the result (signing_input points into it).
Result<DecodedJwt> DecodeJwt(std::string_view token);

// Names of the claims that carry SMART context; configurable because authorization servers
// differ (e.g. a tenant in `custom:tenantId`). Empty name: the claim is not used.
struct ClaimNames {
  std::string scope = "scope";
  std::string patient = "patient";
  std::string fhir_user = "fhirUser";
  std::string tenant;
  std::string groups;
};

struct ClaimRules {
  std::string issuer;                  // `iss` must equal this exactly
  std::vector<std::string> audiences;  // `aud` (string or array) must contain one of these
  int64_t clock_skew_seconds = 60;     // tolerance for exp, nbf and iat
};

// Checks iss, aud, exp (required), nbf and iat (optional) against `now_seconds`.
Status CheckClaims(const boost::json::object& payload, const ClaimRules& rules,
                   int64_t now_seconds);

// The Principal the (verified) claims describe, scopes parsed into grants. `invalid_scopes`
// receives the scopes that were ignored, for the log.
Principal PrincipalFromClaims(const boost::json::object& payload, const ClaimNames& names,
                              std::vector<std::string>& invalid_scopes);

// True for a FHIR resource id: [A-Za-z0-9\-\.]{1,64}.
bool IsFhirId(std::string_view id);

// The id of the Patient a fhirUser claim names ("Patient/123" or ".../fhir/Patient/123"), or ""
// when it names another kind of user (Practitioner, RelatedPerson, ...) or is malformed.
std::string FhirUserPatient(std::string_view fhir_user);

// A Status for an unauthenticated request (401, issue code "login").
Status Unauthenticated(std::string description);

}  // namespace kiln::auth
