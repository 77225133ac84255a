// SMART on FHIR scopes (App Launch 1.0 "v1" and 2.0 "v2"), parsed into grants, never matched by
// string prefix (the FHIR Works advisory GHSA-vv7x-7w4m-q72f came from prefix matching).
//
//   v1: (patient|user|system)/(Type|*).(read|write|*)       read -> rs, write -> cud, * -> cruds
//   v2: (patient|user|system)/(Type|*).<c?r?u?d?s?>[?query]  letters in that order, at least one
//       e.g.
//       patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory
//
// Scopes that are not resource scopes (openid, fhirUser, launch, launch/patient, offline_access,
// ...) are recognised and grant nothing. Anything malformed is ignored (it grants nothing) and
// reported in ParsedScopes::invalid so the caller can log it; a bad scope never fails the token.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/auth.h"
#include "kiln/context.h"

namespace kiln::auth {

// One resource scope, or nullopt if `scope` is not a well-formed one.
std::optional<ScopeGrant> ParseScope(std::string_view scope);

struct ParsedScopes {
  std::vector<ScopeGrant> grants;    // resource scopes
  std::vector<std::string> other;    // recognised non-resource scopes (openid, launch, ...)
  std::vector<std::string> invalid;  // ignored: malformed, or an unknown kind of scope
};

// Splits a space-separated scope string (RFC 6749 section 3.3) and parses every scope.
ParsedScopes ParseScopes(std::string_view scopes);

// "rs", "cruds", ... for permission bits, in SMART v2 letter order.
std::string PermissionLetters(uint8_t permissions);

}  // namespace kiln::auth
