#include "auth/user_rules.h"

#include <boost/json.hpp>

#include "auth/rules_file.h"
#include "fhir/definitions.h"

namespace kiln::auth {
namespace {

namespace json = boost::json;

}  // namespace

UserAccess UserRules::For(std::string_view type) const {
  if (auto it = by_type.find(type); it != by_type.end()) return it->second;
  return other;
}

std::string_view FhirUserType(std::string_view fhir_user) {
  size_t slash = fhir_user.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == fhir_user.size()) return {};
  std::string_view rest = fhir_user.substr(0, slash);
  size_t before = rest.rfind('/');
  std::string_view type = before == std::string_view::npos ? rest : rest.substr(before + 1);
  if (!fhir::IsResourceType(type)) return {};
  return type;
}

UserRules DefaultUserRules() {
  UserRules r;
  r.by_type.emplace("Patient", UserAccess::kOwnCompartment);
  r.by_type.emplace("Practitioner", UserAccess::kScopes);
  r.by_type.emplace("PractitionerRole", UserAccess::kScopes);
  r.by_type.emplace("RelatedPerson", UserAccess::kScopes);
  r.other = UserAccess::kScopes;
  return r;
}

std::string_view DefaultUserRulesJson() {
  return R"json({
  "version": 1,
  "description": "What user/ scopes grant, by the resource type of the token's fhirUser. Kiln's built-in default.",
  "fhirUser": {
    "Patient": "own-compartment",
    "Practitioner": "scopes",
    "PractitionerRole": "scopes",
    "RelatedPerson": "scopes",
    "*": "scopes"
  }
}
)json";
}

Result<UserRules> ParseUserRules(std::string_view text) {
  UserRules rules;
  Status status = ParseRulesDocument(
      text, "fhirUser", "resource type (or *) -> rule",
      [&rules](const json::object& by_type) -> Status {
        for (const auto& [type, rule] : by_type) {
          const std::string where = "fhirUser." + std::string(type);
          if (type != "*" && !fhir::IsResourceType(type))
            return RulesError(where, RulesQuoted(type) + " is not an R4 resource type (or *)");
          std::string_view name = rule.is_string() ? std::string_view(rule.as_string()) : "";
          UserAccess access;
          if (name == "scopes") {
            access = UserAccess::kScopes;
          } else if (name == "own-compartment") {
            // Kiln applies the Patient compartment only (the user is its focal resource).
            if (type != "Patient")
              return RulesError(where, "own-compartment is only available for Patient users");
            access = UserAccess::kOwnCompartment;
          } else if (name == "deny") {
            access = UserAccess::kDeny;
          } else {
            return RulesError(where, "must be \"scopes\", \"own-compartment\" or \"deny\"");
          }
          if (type == "*")
            rules.other = access;
          else
            rules.by_type.emplace(std::string(type), access);
        }
        return Status::Ok();
      });
  if (!status.ok()) return status;
  return rules;
}

Result<UserRules> LoadUserRules(const std::string& path) {
  return LoadRulesFile<UserRules>("--auth-user-rules", path, ParseUserRules);
}

}  // namespace kiln::auth
