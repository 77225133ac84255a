// The CapabilityStatement (GET /metadata), generated from the router's table of supported
// interactions and the compiled-in R4 resource types, so it lists exactly what Kiln does.
#pragma once

#include <string>
#include <string_view>

namespace kiln::rest {

// rest.security when authentication is on (SMART App Launch "conformance" section): the
// SMART-on-FHIR service coding and the oauth-uris extension with the endpoints.
struct SecurityInfo {
  bool smart = false;
  std::string authorize_url;
  std::string token_url;
  std::string introspect_url;
  std::string revoke_url;
  std::string register_url;
  std::string manage_url;
};

// Compact JSON. Built once at start-up (it only changes with the binary and its configuration).
// `conditional_delete_max`: most resources a conditional delete may remove (1: "single").
std::string BuildCapabilityStatement(std::string_view base_url, std::string_view software_version,
                                     int conditional_delete_max = 1,
                                     const SecurityInfo& security = {});

}  // namespace kiln::rest
