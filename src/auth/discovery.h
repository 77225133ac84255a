// The body of GET [base]/.well-known/smart-configuration (SMART App Launch 2.0, section
// "SMART on FHIR Well-Known URI"): where the authorization server is and what Kiln, as the
// resource server, supports. Endpoints come from the configuration, else from the issuer's own
// discovery document (key_cache.h). Pure function; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "auth/key_cache.h"

namespace kiln::auth {

struct SmartConfigurationInputs {
  std::string issuer;
  std::string jwks_uri;                   // configured; else metadata's
  std::string authorize_url;              // configured; else metadata's authorization_endpoint
  std::string token_url;                  // configured; else metadata's token_endpoint
  std::string introspection_url;          // configured; else metadata's introspection_endpoint
  IssuerMetadata metadata;                // from the issuer's discovery document (may be empty)
  std::vector<std::string> capabilities;  // configured; empty: Kiln's default list
};

std::string SmartConfigurationJson(const SmartConfigurationInputs& in);

}  // namespace kiln::auth
