// RequestContext and ResourceKey: what every component is told about the request it serves.
// Value types; not synchronised.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

// The tenant every row is keyed by. One default tenant until multi-tenancy lands.
inline constexpr const char* kDefaultTenant = "default";

// Identifies one logical resource within a tenant.
struct ResourceKey {
  std::string tenant = kDefaultTenant;
  std::string type;  // an R4 resource type name, e.g. "Patient"
  std::string id;    // matches [A-Za-z0-9\-\.]{1,64}
};

// Who is asking (filled in by the authenticator once authentication lands).
struct Principal {
  std::string subject;  // empty = anonymous (auth mode "none")
};

struct RequestContext {
  std::string request_id;
  std::string tenant = kDefaultTenant;
  std::string base_url;  // e.g. http://127.0.0.1:8080/fhir, no trailing slash
  std::string remote_address;
  Principal principal;
};

}  // namespace kiln
