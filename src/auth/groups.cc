#include "auth/groups.h"

#include <boost/json.hpp>

#include "auth/rules_file.h"
#include "fhir/definitions.h"

namespace kiln::auth {
namespace {

namespace json = boost::json;

struct InteractionName {
  std::string_view name;
  uint16_t bit;
  uint16_t needs;  // the base interaction it refines (0: it is one, or system-level)
};

constexpr uint16_t kCreate = 1 << 0;
constexpr uint16_t kRead = 1 << 1;
constexpr uint16_t kVRead = 1 << 2;
constexpr uint16_t kUpdate = 1 << 3;
constexpr uint16_t kPatch = 1 << 4;
constexpr uint16_t kDelete = 1 << 5;
constexpr uint16_t kHistoryInstance = 1 << 6;
constexpr uint16_t kHistoryType = 1 << 7;
constexpr uint16_t kHistorySystem = 1 << 8;
constexpr uint16_t kSearchType = 1 << 9;
constexpr uint16_t kSearchSystem = 1 << 10;
constexpr uint16_t kTransaction = 1 << 11;
constexpr uint16_t kBatch = 1 << 12;
constexpr uint16_t kEvery = (1 << 13) - 1;

constexpr InteractionName kInteractions[] = {
    {"create", kCreate, 0},
    {"read", kRead, 0},
    {"vread", kVRead, kRead},
    {"update", kUpdate, 0},
    {"patch", kPatch, kUpdate},
    {"delete", kDelete, 0},
    {"history-instance", kHistoryInstance, kRead},
    {"history-type", kHistoryType, kSearchType},
    {"history-system", kHistorySystem, kSearchType},
    {"search-type", kSearchType, 0},
    {"search-system", kSearchSystem, kSearchType},
    {"transaction", kTransaction, 0},
    {"batch", kBatch, 0},
};

std::string_view NameOf(uint16_t bit) {
  for (const InteractionName& n : kInteractions)
    if (n.bit == bit) return n.name;
  return "?";
}

// SMART letters, in "cruds" order, to the interactions each covers.
std::optional<uint16_t> LetterInteractions(std::string_view letters) {
  static constexpr std::string_view kOrder = "cruds";
  static constexpr uint16_t kCovers[] = {
      kCreate, kRead | kVRead | kHistoryInstance, kUpdate | kPatch, kDelete,
      kSearchType | kSearchSystem | kHistoryType | kHistorySystem};
  if (letters.empty()) return std::nullopt;
  uint16_t bits = 0;
  size_t next = 0;
  for (char c : letters) {
    size_t at = kOrder.find(c, next);
    if (at == std::string_view::npos) return std::nullopt;
    bits |= kCovers[at];
    next = at + 1;
  }
  return bits;
}

uint16_t BaseOf(Permission p) {
  switch (p) {
    case kPermCreate:
      return kCreate;
    case kPermRead:
      return kRead;
    case kPermUpdate:
      return kUpdate;
    case kPermDelete:
      return kDelete;
    case kPermSearch:
      return kSearchType;
  }
  return 0;
}

Result<GroupRule> ParseRule(const json::value& v, const std::string& where) {
  if (!v.is_object()) return RulesError(where, "a rule must be a JSON object");
  GroupRule rule;
  bool has_grant = false;
  for (const auto& [key, value] : v.as_object()) {
    const std::string at = where + "." + std::string(key);
    if (key == "description") {
      if (!value.is_string()) return RulesError(at, "must be a string");
    } else if (key == "interactions") {
      has_grant = true;
      if (!value.is_array() || value.as_array().empty())
        return RulesError(at, "must be a non-empty array of interaction names (or [\"*\"])");
      const json::array& list = value.as_array();
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string item = at + "[" + std::to_string(i) + "]";
        if (!list[i].is_string()) return RulesError(item, "must be a string");
        std::string_view name = list[i].as_string();
        if (name == "*") {
          rule.interactions |= kEvery;
          continue;
        }
        uint16_t bit = GroupInteractionBit(name);
        if (bit == 0)
          return RulesError(item, RulesQuoted(name) +
                                      " is not an interaction (create, read, vread, update, patch, "
                                      "delete, history-instance, history-type, history-system, "
                                      "search-type, search-system, transaction, batch, or *)");
        rule.interactions |= bit;
      }
    } else if (key == "permissions") {
      has_grant = true;
      auto bits = value.is_string() ? LetterInteractions(value.as_string()) : std::nullopt;
      if (!bits)
        return RulesError(at,
                          "must be SMART permission letters, a non-empty subsequence of \"cruds\"");
      rule.interactions |= *bits;
    } else if (key == "types") {
      if (value.is_string() && value.as_string() == "*") {
        rule.all_types = true;
        continue;
      }
      if (!value.is_array() || value.as_array().empty())
        return RulesError(at, "must be \"*\" or a non-empty array of resource type names");
      const json::array& list = value.as_array();
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string item = at + "[" + std::to_string(i) + "]";
        if (!list[i].is_string()) return RulesError(item, "must be a string");
        std::string_view type = list[i].as_string();
        if (type == "*") return RulesError(item, "for every type write \"types\": \"*\"");
        if (!fhir::IsResourceType(type))
          return RulesError(item, RulesQuoted(type) + " is not an R4 resource type");
        rule.types.emplace(type);
      }
    } else {
      return RulesError(
          at, "unknown member (a rule has interactions, permissions, types, description)");
    }
  }
  if (!has_grant) return RulesError(where, "a rule needs 'interactions' or 'permissions'");
  if (!rule.all_types && rule.types.empty())
    return RulesError(where, "a rule needs 'types' (a list, or \"*\")");
  for (const InteractionName& n : kInteractions) {
    if ((rule.interactions & n.bit) && n.needs && !(rule.interactions & n.needs))
      return RulesError(where, RulesQuoted(n.name) + " needs " + RulesQuoted(NameOf(n.needs)) +
                                   " in the same rule (it refines it)");
  }
  return rule;
}

}  // namespace

uint16_t GroupInteractionBit(std::string_view interaction) {
  for (const InteractionName& n : kInteractions)
    if (n.name == interaction) return n.bit;
  return 0;
}

Result<GroupRules> ParseGroupRules(std::string_view text) {
  GroupRules rules;
  Status status = ParseRulesDocument(
      text, "groups", "group name -> rule (or list of rules)",
      [&rules](const json::object& groups) -> Status {
        for (const auto& [name, group] : groups) {
          const std::string where = "groups." + std::string(name);
          if (name.empty()) return RulesError("groups", "a group name is empty");
          std::vector<GroupRule>& list = rules.groups[std::string(name)];
          if (group.is_array()) {
            if (group.as_array().empty()) return RulesError(where, "has no rule");
            for (size_t i = 0; i < group.as_array().size(); ++i) {
              auto rule = ParseRule(group.as_array()[i], where + "[" + std::to_string(i) + "]");
              if (!rule.ok()) return rule.take_status();
              list.push_back(std::move(rule).value());
            }
          } else {
            auto rule = ParseRule(group, where);
            if (!rule.ok()) return rule.take_status();
            list.push_back(std::move(rule).value());
          }
        }
        return Status::Ok();
      });
  if (!status.ok()) return status;
  return rules;
}

Result<GroupRules> LoadGroupRules(const std::string& path) {
  return LoadRulesFile<GroupRules>("--auth-rules", path, ParseGroupRules);
}

std::string_view DefaultGroupRulesJson() {
  // Kept identical to docs/auth-groups-rules.json (a unit test compares them).
  return R"json({
  "version": 1,
  "description": "FHIR Works on AWS' default role groups. practitioner: every interaction on every type; non-practitioner: read and search of the financial resource types; auditor: read and search of Patient.",
  "groups": {
    "practitioner": {
      "interactions": ["*"],
      "types": "*"
    },
    "non-practitioner": {
      "interactions": ["read", "vread", "search-type"],
      "types": [
        "Account",
        "ChargeItem",
        "ChargeItemDefinition",
        "Claim",
        "ClaimResponse",
        "Contract",
        "Coverage",
        "CoverageEligibilityRequest",
        "CoverageEligibilityResponse",
        "EnrollmentRequest",
        "EnrollmentResponse",
        "ExplanationOfBenefit",
        "InsurancePlan",
        "Invoice",
        "PaymentNotice",
        "PaymentReconciliation"
      ]
    },
    "auditor": {
      "interactions": ["read", "vread", "search-type"],
      "types": ["Patient"]
    }
  }
}
)json";
}

GroupsAuthorizer::GroupsAuthorizer(GroupRules rules) : rules_(std::move(rules)) {}

bool GroupsAuthorizer::Permits(const Principal& principal, uint16_t bit,
                               std::string_view type) const {
  if (bit == 0) return false;
  for (const std::string& g : principal.groups) {
    auto it = rules_.groups.find(g);
    if (it == rules_.groups.end()) continue;  // unknown groups grant nothing
    for (const GroupRule& r : it->second) {
      if ((r.interactions & bit) == 0) continue;
      if (r.all_types || type.empty() || (type != "*" && r.types.count(type) != 0)) return true;
    }
  }
  return false;
}

Decision GroupsAuthorizer::Decide(const Principal& principal, std::string_view type,
                                  Permission permission) const {
  if (type.empty()) return Decision::kDeny;
  return Permits(principal, BaseOf(permission), type) ? Decision::kAllow : Decision::kDeny;
}

bool GroupsAuthorizer::PermitsInteraction(const Principal& principal, std::string_view interaction,
                                          std::string_view type) const {
  return Permits(principal, GroupInteractionBit(interaction), type);
}

}  // namespace kiln::auth
