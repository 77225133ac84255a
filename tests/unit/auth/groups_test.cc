#include "auth/groups.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::auth {
namespace {

Principal WithGroups(std::vector<std::string> groups) {
  Principal p;
  p.authenticated = true;
  p.groups = std::move(groups);
  return p;
}

GroupsAuthorizer Authorizer(std::string_view json) {
  auto rules = ParseGroupRules(json);
  EXPECT_TRUE(rules.ok()) << rules.status().message();
  return GroupsAuthorizer(rules.ok() ? std::move(rules).value() : GroupRules{});
}

GroupsAuthorizer DefaultAuthorizer() { return Authorizer(DefaultGroupRulesJson()); }

std::string ReadDoc(const char* name) {
  std::ifstream in(std::filesystem::path(__FILE__).parent_path() / "../../../docs" / name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(GroupRules, ShippedExampleIsTheBuiltInDefault) {
  EXPECT_EQ(ReadDoc("auth-groups-rules.json"), DefaultGroupRulesJson());
  auto rules = ParseGroupRules(DefaultGroupRulesJson());
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  EXPECT_EQ(rules->groups.size(), 3u);
}

TEST(GroupRules, DefaultPractitionerMayDoEverything) {
  GroupsAuthorizer a = DefaultAuthorizer();
  Principal p = WithGroups({"practitioner"});
  for (Permission perm : {kPermCreate, kPermRead, kPermUpdate, kPermDelete, kPermSearch}) {
    EXPECT_EQ(a.Decide(p, "Observation", perm), Decision::kAllow);
    EXPECT_EQ(a.Decide(p, "Claim", perm), Decision::kAllow);
    EXPECT_EQ(a.Decide(p, "*", perm), Decision::kAllow);
  }
  for (const char* i : {"vread", "patch", "history-instance", "history-type", "search-system"})
    EXPECT_TRUE(a.PermitsInteraction(p, i, "Observation")) << i;
  EXPECT_TRUE(a.PermitsInteraction(p, "history-system", "*"));
  EXPECT_TRUE(a.PermitsInteraction(p, "transaction", ""));
  EXPECT_TRUE(a.PermitsInteraction(p, "batch", ""));
}

TEST(GroupRules, DefaultNonPractitionerReadsFinancialTypesOnly) {
  GroupsAuthorizer a = DefaultAuthorizer();
  Principal p = WithGroups({"non-practitioner"});
  EXPECT_EQ(a.Decide(p, "Claim", kPermRead), Decision::kAllow);
  EXPECT_EQ(a.Decide(p, "Coverage", kPermSearch), Decision::kAllow);
  EXPECT_TRUE(a.PermitsInteraction(p, "vread", "Claim"));
  EXPECT_FALSE(a.PermitsInteraction(p, "history-instance", "Claim"));
  EXPECT_FALSE(a.PermitsInteraction(p, "search-system", ""));
  EXPECT_FALSE(a.PermitsInteraction(p, "transaction", ""));
  EXPECT_EQ(a.Decide(p, "Claim", kPermCreate), Decision::kDeny);
  EXPECT_EQ(a.Decide(p, "Claim", kPermUpdate), Decision::kDeny);
  EXPECT_EQ(a.Decide(p, "Claim", kPermDelete), Decision::kDeny);
  EXPECT_EQ(a.Decide(p, "Patient", kPermRead), Decision::kDeny);
  EXPECT_EQ(a.Decide(p, "Observation", kPermSearch), Decision::kDeny);
  EXPECT_EQ(a.Decide(p, "*", kPermSearch), Decision::kDeny);
}

TEST(GroupRules, DefaultAuditorReadsPatientsOnly) {
  GroupsAuthorizer a = DefaultAuthorizer();
  Principal p = WithGroups({"auditor"});
  EXPECT_EQ(a.Decide(p, "Patient", kPermRead), Decision::kAllow);
  EXPECT_EQ(a.Decide(p, "Patient", kPermSearch), Decision::kAllow);
  EXPECT_EQ(a.Decide(p, "Patient", kPermUpdate), Decision::kDeny);
  EXPECT_EQ(a.Decide(p, "Observation", kPermRead), Decision::kDeny);
  EXPECT_EQ(a.Decide(p, "Claim", kPermRead), Decision::kDeny);
}

TEST(GroupRules, GroupsAreUnitedAndUnknownOnesGrantNothing) {
  GroupsAuthorizer a = DefaultAuthorizer();
  EXPECT_EQ(a.Decide(WithGroups({}), "Patient", kPermRead), Decision::kDeny);
  EXPECT_FALSE(a.PermitsInteraction(WithGroups({}), "batch", ""));
  EXPECT_EQ(a.Decide(WithGroups({"admin"}), "Patient", kPermRead), Decision::kDeny);
  EXPECT_EQ(a.Decide(WithGroups({"Practitioner"}), "Patient", kPermRead), Decision::kDeny);
  Principal both = WithGroups({"nobody", "auditor", "non-practitioner"});
  EXPECT_EQ(a.Decide(both, "Patient", kPermRead), Decision::kAllow);
  EXPECT_EQ(a.Decide(both, "Claim", kPermRead), Decision::kAllow);
  EXPECT_EQ(a.Decide(both, "Observation", kPermRead), Decision::kDeny);
}

TEST(GroupRules, UnknownInteractionNamesAreNeverPermitted) {
  GroupsAuthorizer a = DefaultAuthorizer();
  EXPECT_FALSE(a.PermitsInteraction(WithGroups({"practitioner"}), "operation", "Patient"));
  EXPECT_FALSE(a.PermitsInteraction(WithGroups({"practitioner"}), "", "Patient"));
}

TEST(GroupRules, PermissionLettersExpand) {
  GroupsAuthorizer a = Authorizer(R"({"version": 1, "groups": {
      "reader": {"permissions": "rs", "types": ["Observation", "Patient"]},
      "writer": [{"permissions": "cu", "types": ["Observation"]},
                 {"interactions": ["delete"], "types": "*"}]}})");
  Principal r = WithGroups({"reader"});
  EXPECT_EQ(a.Decide(r, "Observation", kPermRead), Decision::kAllow);
  EXPECT_EQ(a.Decide(r, "Patient", kPermSearch), Decision::kAllow);
  EXPECT_EQ(a.Decide(r, "Encounter", kPermRead), Decision::kDeny);
  EXPECT_EQ(a.Decide(r, "Observation", kPermCreate), Decision::kDeny);
  for (const char* i : {"vread", "history-instance", "history-type", "search-system"})
    EXPECT_TRUE(a.PermitsInteraction(r, i, "Observation")) << i;
  EXPECT_FALSE(a.PermitsInteraction(r, "history-system", "*"));  // not every type
  EXPECT_EQ(a.Decide(r, "*", kPermSearch), Decision::kDeny);
  Principal w = WithGroups({"writer"});
  EXPECT_EQ(a.Decide(w, "Observation", kPermCreate), Decision::kAllow);
  EXPECT_EQ(a.Decide(w, "Observation", kPermUpdate), Decision::kAllow);
  EXPECT_TRUE(a.PermitsInteraction(w, "patch", "Observation"));
  EXPECT_EQ(a.Decide(w, "Observation", kPermRead), Decision::kDeny);
  EXPECT_EQ(a.Decide(w, "Encounter", kPermDelete), Decision::kAllow);
  EXPECT_EQ(a.Decide(w, "*", kPermDelete), Decision::kAllow);
  EXPECT_EQ(a.Decide(w, "Encounter", kPermUpdate), Decision::kDeny);
}

TEST(GroupRules, FhirWorksVersionNumberIsAccepted) {
  EXPECT_TRUE(ParseGroupRules(
                  R"({"version": 1.0, "groups": {"g": {"interactions": ["read"], "types": "*"}}})")
                  .ok());
}

struct BadCase {
  const char* json;
  const char* message;  // a fragment of the error
};

class BadRules : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRules, AreRefusedNamingTheProblem) {
  auto rules = ParseGroupRules(GetParam().json);
  ASSERT_FALSE(rules.ok()) << GetParam().json;
  EXPECT_EQ(rules.status().error(), ErrorCode::kInvalid);
  EXPECT_NE(rules.status().message().find(GetParam().message), std::string::npos)
      << rules.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadRules,
    ::testing::Values(
        BadCase{"", "not valid JSON"}, BadCase{"{", "not valid JSON"},
        BadCase{"[]", "must be a JSON object"},
        BadCase{R"({"groups": {"g": {"interactions": ["read"], "types": "*"}}})",
                "'version' is missing"},
        BadCase{R"({"version": 2, "groups": {"g": {"interactions": ["read"], "types": "*"}}})",
                "version: only version 1"},
        BadCase{R"({"version": 1})", "'groups' is missing"},
        BadCase{R"({"version": 1, "groups": {}})", "groups: must be a non-empty object"},
        BadCase{R"({"version": 1, "groups": [], "x": 1})", "groups: must be"},
        BadCase{R"({"version": 1, "group": {}})", "group: unknown member"},
        BadCase{R"({"version": 1, "groups": {"g": "read"}})", "groups.g: a rule must be"},
        BadCase{R"({"version": 1, "groups": {"g": []}})", "groups.g: has no rule"},
        BadCase{R"({"version": 1, "groups": {"g": {"types": "*"}}})",
                "groups.g: a rule needs 'interactions' or 'permissions'"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["read"]}}})",
                "groups.g: a rule needs 'types'"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": [], "types": "*"}}})",
                "groups.g.interactions: must be a non-empty array"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": "read", "types": "*"}}})",
                "groups.g.interactions: must be a non-empty array"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["reed"], "types": "*"}}})",
                "groups.g.interactions[0]: 'reed' is not an interaction"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["read", 3], "types": "*"}}})",
                "groups.g.interactions[1]: must be a string"},
        BadCase{R"({"version": 1, "groups": {"g": {"permissions": "sr", "types": "*"}}})",
                "groups.g.permissions: must be SMART permission letters"},
        BadCase{R"({"version": 1, "groups": {"g": {"permissions": "", "types": "*"}}})",
                "groups.g.permissions: must be SMART permission letters"},
        BadCase{R"({"version": 1, "groups": {"g": {"permissions": "read", "types": "*"}}})",
                "groups.g.permissions: must be SMART permission letters"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["read"], "types": "all"}}})",
                "groups.g.types: must be \"*\" or a non-empty array"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["read"], "types": []}}})",
                "groups.g.types: must be \"*\" or a non-empty array"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["read"],
                                                  "types": ["Patient", "Patinet"]}}})",
                "groups.g.types[1]: 'Patinet' is not an R4 resource type"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["read"], "types": ["*"]}}})",
                "groups.g.types[0]: for every type write"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["read"],
                                                  "types": ["patient"]}}})",
                "'patient' is not an R4 resource type"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["read"], "types": "*",
                                                  "resources": ["Patient"]}}})",
                "groups.g.resources: unknown member"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["vread"], "types": "*"}}})",
                "groups.g: 'vread' needs 'read' in the same rule"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["patch"], "types": "*"}}})",
                "'patch' needs 'update'"},
        BadCase{R"({"version": 1, "groups": {"g": [{"interactions": ["read"], "types": "*"},
                  {"interactions": ["history-type"], "types": ["Patient"]}]}})",
                "groups.g[1]: 'history-type' needs 'search-type'"},
        BadCase{R"({"version": 1, "groups": {"g": {"interactions": ["search-system"],
                                                  "types": "*"}}})",
                "'search-system' needs 'search-type'"}));

TEST(GroupRules, LoadNamesTheFile) {
  auto missing = LoadGroupRules("/nonexistent/rules.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--auth-rules /nonexistent/rules.json"),
            std::string::npos);
  std::filesystem::path path = std::filesystem::temp_directory_path() / "kiln-groups-test.json";
  {
    std::ofstream out(path);
    out << R"({"version": 1, "groups": {"g": {"interactions": ["raed"], "types": "*"}}})";
  }
  auto bad = LoadGroupRules(path.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(path.string() + ": groups.g.interactions[0]: 'raed'"),
            std::string::npos)
      << bad.status().message();
  {
    std::ofstream out(path);
    out << DefaultGroupRulesJson();
  }
  EXPECT_TRUE(LoadGroupRules(path.string()).ok());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kiln::auth
