// Auth mode "groups" (FHIR Works on AWS' Cognito "role groups"): the bearer token is verified
// exactly as in mode "smart" (auth/smart.h; the signature is always checked), but what the caller
// may do comes from the groups in its token (--auth-groups-claim, e.g. `cognito:groups`) and a
// rules file (--auth-rules, JSON; docs/security.md "Role groups"), not from SMART scopes.
//
// A rule names interactions (FHIR Works' names: create, read, vread, update, patch, delete,
// history-instance, history-type, history-system, search-type, search-system, transaction, batch,
// or "*"; and/or SMART permission letters "cruds") and resource types (a list, or "*"). A request
// is allowed when any rule of any of the caller's groups allows it. Unknown group names grant
// nothing; a token without the groups claim is granted nothing.
//
// The five base interactions are what the Authorizer's permissions mean (c = create, r = read,
// u = update, d = delete, s = search-type); the others refine one of them and need it too, in
// the same rule (a rules file that gives vread without read is refused): vread and
// history-instance need read, patch needs update, history-type, history-system and search-system
// need search-type. SMART letters expand to everything they cover: r = read, vread,
// history-instance; u = update, patch; s = search-type, search-system, history-type,
// history-system.
//
// Immutable once built; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/auth.h"
#include "kiln/status.h"

namespace kiln::auth {

// One rule: the interactions (a bit set of GroupInteractionBit) on the types.
struct GroupRule {
  uint16_t interactions = 0;
  bool all_types = false;                    // "types": "*"
  std::set<std::string, std::less<>> types;  // when !all_types
};

struct GroupRules {
  std::map<std::string, std::vector<GroupRule>, std::less<>> groups;
};

// The bit of a FHIR interaction name in GroupRule::interactions; 0 for a name that is not one.
uint16_t GroupInteractionBit(std::string_view interaction);

// Parses a rules file's text. A malformed file is kInvalid with a message naming the problem
// and where it is (`groups.auditor.types[1]: 'Patinet' is not an R4 resource type`).
Result<GroupRules> ParseGroupRules(std::string_view json);

// Reads FILE and parses it; errors name the file (`--auth-rules FILE: ...`).
Result<GroupRules> LoadGroupRules(const std::string& path);

// FHIR Works' default rule set (practitioner, non-practitioner, auditor), as shipped in
// docs/auth-groups-rules.json: the rules when no --auth-rules is given.
std::string_view DefaultGroupRulesJson();

class GroupsAuthorizer : public Authorizer {
 public:
  explicit GroupsAuthorizer(GroupRules rules);
  // kAllow when a rule of one of the principal's groups gives the permission's base interaction
  // on `type` (for "*": a rule with "types": "*"); kDeny otherwise. Never a compartment.
  Decision Decide(const Principal& principal, std::string_view type,
                  Permission permission) const override;
  // A rule of one of the principal's groups names `interaction` for `type` ("": any type; "*":
  // a rule with "types": "*"). An unknown interaction name is never permitted.
  bool PermitsInteraction(const Principal& principal, std::string_view interaction,
                          std::string_view type) const override;

 private:
  bool Permits(const Principal& principal, uint16_t bit, std::string_view type) const;

  const GroupRules rules_;
};

}  // namespace kiln::auth
