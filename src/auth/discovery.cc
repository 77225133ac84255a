#include "auth/discovery.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace kiln::auth {

std::string SmartConfigurationJson(const SmartConfigurationInputs& in) {
  const IssuerMetadata& m = in.metadata;
  auto pick = [](const std::string& configured, const std::string& discovered) {
    return configured.empty() ? discovered : configured;
  };
  boost::json::object o;
  o["issuer"] = in.issuer;
  o["jwks_uri"] = pick(in.jwks_uri, m.jwks_uri);
  // Both are REQUIRED by the SMART spec; empty strings when the issuer could not be asked and
  // nothing is configured, so clients see what is missing rather than a malformed document.
  o["authorization_endpoint"] = pick(in.authorize_url, m.authorization_endpoint);
  o["token_endpoint"] = pick(in.token_url, m.token_endpoint);
  if (std::string introspection = pick(in.introspection_url, m.introspection_endpoint);
      !introspection.empty())
    o["introspection_endpoint"] = introspection;
  if (!m.revocation_endpoint.empty()) o["revocation_endpoint"] = m.revocation_endpoint;
  if (!m.registration_endpoint.empty()) o["registration_endpoint"] = m.registration_endpoint;
  if (!m.management_endpoint.empty()) o["management_endpoint"] = m.management_endpoint;
  o["grant_types_supported"] = boost::json::array{"authorization_code", "client_credentials"};
  o["response_types_supported"] = boost::json::array{"code"};
  o["code_challenge_methods_supported"] = boost::json::array{"S256"};
  // What Kiln enforces today (docs/security.md): patient, user and system scopes, v1 and v2
  // syntax; patient-context writes are not offered yet.
  o["scopes_supported"] = boost::json::array{
      "openid",         "fhirUser",     "launch/patient", "offline_access", "patient/*.rs",
      "patient/*.read", "user/*.cruds", "user/*.rs",      "user/*.read",    "user/*.write",
      "system/*.cruds", "system/*.rs",  "system/*.read",  "system/*.write"};
  if (in.capabilities.empty()) {
    o["capabilities"] = boost::json::array{"launch-standalone",
                                           "client-public",
                                           "client-confidential-symmetric",
                                           "client-confidential-asymmetric",
                                           "sso-openid-connect",
                                           "permission-patient",
                                           "permission-user",
                                           "permission-v1",
                                           "permission-v2"};
  } else {
    boost::json::array list;
    for (const std::string& c : in.capabilities) list.emplace_back(c);
    o["capabilities"] = std::move(list);
  }
  return boost::json::serialize(o);
}

}  // namespace kiln::auth
