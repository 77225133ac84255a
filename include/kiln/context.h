// RequestContext and ResourceKey: what every component is told about the request it serves.
// Value types; not synchronised.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

// The tenant of `--tenancy off`, where every request acts (rest/tenancy.h); with tenancy on it is
// an ordinary tenant id, holding the data written before.
inline constexpr const char* kDefaultTenant = "default";

// Identifies one logical resource within a tenant.
struct ResourceKey {
  std::string tenant = kDefaultTenant;
  std::string type;  // an R4 resource type name, e.g. "Patient"
  std::string id;    // matches [A-Za-z0-9\-\.]{1,64}
};

// One SMART scope that grants access to resources (src/auth/scopes.h parses them), e.g.
// `user/Observation.rs` is {kUser, "Observation", read|search, ""}.
enum class ScopeContext : uint8_t { kPatient, kUser, kSystem };
struct ScopeGrant {
  ScopeContext context = ScopeContext::kUser;
  std::string type;         // an R4 resource type name, or "*" for every type
  uint8_t permissions = 0;  // kiln::Permission bits (include/kiln/auth.h)
  std::string filter;       // SMART v2 granular query ("category=...|laboratory"); "" if none
};

// Who is asking, as the Authenticator established it from a verified token (include/kiln/auth.h).
// In auth mode "none" every request has an anonymous Principal (authenticated == false).
// The claim names the values come from are configurable (docs/security.md).
struct Principal {
  bool authenticated = false;      // false: auth mode "none", nothing was checked
  std::string subject;             // `sub`
  std::string client_id;           // `client_id` (RFC 9068), else `azp`
  std::string issuer;              // `iss`
  std::string scope;               // the granted scopes as sent (space-separated)
  std::vector<ScopeGrant> grants;  // the resource scopes among them, parsed
  std::string patient;             // the patient in context (SMART `patient` claim), if any
  std::string fhir_user;           // `fhirUser`, e.g. "Practitioner/123" or a full URL
  std::string user_patient;  // the Patient id when fhirUser is a Patient (a patient user), else ""
  std::string tenant;        // the tenant claim, if configured and present
  std::vector<std::string> groups;  // the groups claim, if configured and present
  std::string token_id;             // `jti`, for the audit log
  int64_t expires_at = 0;           // `exp`, seconds since the epoch
  int64_t not_before = 0;           // `nbf`, seconds since the epoch (0: none)
};

struct RequestContext {
  std::string request_id;
  std::string tenant = kDefaultTenant;
  std::string base_url;  // e.g. http://127.0.0.1:8080/fhir, no trailing slash
  std::string remote_address;
  Principal principal;
};

}  // namespace kiln
