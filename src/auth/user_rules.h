// The user-context rules of auth mode "smart" (FHIR Works' authZConfig, in small): what a token's
// `user/` scopes grant, by the kind of user its `fhirUser` claim names (docs/security.md "User
// context"). A rules file (--auth-user-rules, JSON) maps fhirUser resource types to one of
//
//   "scopes"           the user/ scopes grant what they name (e.g. a Practitioner)
//   "own-compartment"  only within the user's own Patient compartment (Patient users only)
//   "deny"             user/ scopes grant nothing to this kind of user
//
// with "*" for every other type (absent: "deny"). The built-in default (Kiln's behaviour before
// the file existed, docs/auth-user-rules.json): Patient "own-compartment", everything else
// "scopes". A user/ scope never grants anything to a token without a fhirUser claim.
//
// Immutable once built; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::auth {

enum class UserAccess : uint8_t { kScopes, kOwnCompartment, kDeny };

struct UserRules {
  std::map<std::string, UserAccess, std::less<>> by_type;
  UserAccess other = UserAccess::kDeny;  // "*"
  // The rule for a fhirUser of `type` ("" when fhirUser is not of the form [...]Type/id: "*").
  UserAccess For(std::string_view type) const;
};

// The rules when no --auth-user-rules is given.
UserRules DefaultUserRules();
// Kept identical to docs/auth-user-rules.json (a unit test compares them).
std::string_view DefaultUserRulesJson();

// Parses a rules file's text; kInvalid naming the problem and where it is.
Result<UserRules> ParseUserRules(std::string_view json);
// Reads FILE and parses it; errors name the file (`--auth-user-rules FILE: ...`).
Result<UserRules> LoadUserRules(const std::string& path);

// The resource type a fhirUser claim names: "Practitioner/1" or
// "https://host/fhir/Practitioner/1" -> "Practitioner"; "" if it is not of that form.
std::string_view FhirUserType(std::string_view fhir_user);

}  // namespace kiln::auth
