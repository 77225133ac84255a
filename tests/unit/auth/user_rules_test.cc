#include "auth/user_rules.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "auth/scopes.h"
#include "auth/smart.h"

namespace kiln::auth {
namespace {

// A user token: fhirUser, scopes, and the patient in context as jwt.cc derives it.
Principal User(std::string fhir_user, std::string_view scopes, std::string patient = "") {
  Principal p;
  p.authenticated = true;
  p.fhir_user = std::move(fhir_user);
  p.user_patient = FhirUserType(p.fhir_user) == "Patient"
                       ? p.fhir_user.substr(p.fhir_user.rfind('/') + 1)
                       : std::string();
  p.patient = patient.empty() ? p.user_patient : patient;
  p.grants = ParseScopes(scopes).grants;
  return p;
}

UserRules Parse(std::string_view json) {
  auto rules = ParseUserRules(json);
  EXPECT_TRUE(rules.ok()) << rules.status().message();
  return rules.ok() ? std::move(rules).value() : UserRules{};
}

TEST(UserRules, ShippedExampleIsTheBuiltInDefault) {
  std::ifstream in(std::filesystem::path(__FILE__).parent_path() /
                   "../../../docs/auth-user-rules.json");
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), DefaultUserRulesJson());
  UserRules parsed = Parse(DefaultUserRulesJson());
  UserRules built_in = DefaultUserRules();
  EXPECT_EQ(parsed.by_type, built_in.by_type);
  EXPECT_EQ(parsed.other, built_in.other);
}

TEST(UserRules, FhirUserType) {
  EXPECT_EQ(FhirUserType("Practitioner/1"), "Practitioner");
  EXPECT_EQ(FhirUserType("https://h/fhir/RelatedPerson/r-1"), "RelatedPerson");
  EXPECT_EQ(FhirUserType("Patient/p1"), "Patient");
  EXPECT_EQ(FhirUserType("Practitioner/"), "");
  EXPECT_EQ(FhirUserType("practitioner/1"), "");
  EXPECT_EQ(FhirUserType("someone"), "");
  EXPECT_EQ(FhirUserType(""), "");
}

TEST(UserRules, DefaultsKeepTheBuiltInBehaviour) {
  SmartAuthorizer a;  // the default rules
  Principal doctor = User("Practitioner/d1", "user/Observation.rs");
  EXPECT_EQ(a.Decide(doctor, "Observation", kPermRead), Decision::kAllow);
  EXPECT_EQ(a.Decide(doctor, "Observation", kPermCreate), Decision::kDeny);
  Principal relative = User("https://h/fhir/RelatedPerson/r1", "user/Observation.rs");
  EXPECT_EQ(a.Decide(relative, "Observation", kPermRead), Decision::kAllow);
  Principal other = User("Device/d1", "user/Observation.rs");
  EXPECT_EQ(a.Decide(other, "Observation", kPermRead), Decision::kAllow);
  Principal patient = User("Patient/p1", "user/Observation.rs");
  EXPECT_EQ(a.Decide(patient, "Observation", kPermRead), Decision::kAllowInPatientCompartment);
  Principal patient_elsewhere = User("Patient/p1", "user/Observation.rs", "p2");
  EXPECT_EQ(a.Decide(patient_elsewhere, "Observation", kPermRead), Decision::kDeny);
  Principal anonymous = User("", "user/Observation.rs");
  EXPECT_EQ(a.Decide(anonymous, "Observation", kPermRead), Decision::kDeny);
}

TEST(UserRules, ConfiguredRulesDecide) {
  SmartAuthorizer a(Parse(R"({"version": 1, "fhirUser": {
      "Patient": "scopes", "Practitioner": "scopes", "RelatedPerson": "deny"}})"));
  // No "*": other kinds of users get nothing.
  EXPECT_EQ(a.Decide(User("Device/d1", "user/*.rs"), "Observation", kPermRead), Decision::kDeny);
  EXPECT_EQ(a.Decide(User("someone", "user/*.rs"), "Observation", kPermRead), Decision::kDeny);
  EXPECT_EQ(a.Decide(User("RelatedPerson/r1", "user/*.rs"), "Observation", kPermRead),
            Decision::kDeny);
  EXPECT_EQ(a.Decide(User("Practitioner/x", "user/*.rs"), "Observation", kPermRead),
            Decision::kAllow);
  // A patient user with "scopes" gets what they name, beyond its compartment.
  EXPECT_EQ(a.Decide(User("Patient/p1", "user/*.rs"), "Observation", kPermRead), Decision::kAllow);
  // patient/ and system/ scopes are not affected by the user rules.
  EXPECT_EQ(a.Decide(User("RelatedPerson/r1", "patient/*.rs", "p9"), "Observation", kPermRead),
            Decision::kAllowInPatientCompartment);
  EXPECT_EQ(a.Decide(User("RelatedPerson/r1", "system/*.rs"), "Observation", kPermRead),
            Decision::kAllow);
}

TEST(UserRules, GranularScopesFollowTheRules) {
  SmartAuthorizer a(Parse(R"({"version": 1, "fhirUser": {
      "Patient": "own-compartment", "Practitioner": "deny", "*": "scopes"}})"));
  const char* scope = "user/Observation.rs?category=laboratory";
  EXPECT_FALSE(a.Granular(User("Practitioner/d", scope), "Observation", kPermRead));
  auto device = a.Granular(User("Device/d", scope), "Observation", kPermRead);
  ASSERT_TRUE(device);
  EXPECT_FALSE(device->patient_compartment);
  auto patient = a.Granular(User("Patient/p1", scope), "Observation", kPermRead);
  ASSERT_TRUE(patient);
  EXPECT_TRUE(patient->patient_compartment);
  EXPECT_FALSE(a.Granular(User("Patient/p1", scope, "p2"), "Observation", kPermRead));
}

struct BadCase {
  const char* json;
  const char* message;
};

class BadUserRules : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadUserRules, AreRefusedNamingTheProblem) {
  auto rules = ParseUserRules(GetParam().json);
  ASSERT_FALSE(rules.ok()) << GetParam().json;
  EXPECT_EQ(rules.status().error(), ErrorCode::kInvalid);
  EXPECT_NE(rules.status().message().find(GetParam().message), std::string::npos)
      << rules.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadUserRules,
    ::testing::Values(
        BadCase{"", "not valid JSON"}, BadCase{"\"scopes\"", "must be a JSON object"},
        BadCase{R"({"fhirUser": {"*": "scopes"}})", "'version' is missing"},
        BadCase{R"({"version": "1", "fhirUser": {"*": "scopes"}})", "version: only version 1"},
        BadCase{R"({"version": 1})", "'fhirUser' is missing"},
        BadCase{R"({"version": 1, "fhirUser": {}})", "fhirUser: must be a non-empty object"},
        BadCase{R"({"version": 1, "fhirUser": ["Patient"]})", "fhirUser: must be a non-empty"},
        BadCase{R"({"version": 1, "fhirUser": {"*": "scopes"}, "users": {}})",
                "users: unknown member"},
        BadCase{R"({"version": 1, "fhirUser": {"Practicioner": "scopes"}})",
                "fhirUser.Practicioner: 'Practicioner' is not an R4 resource type"},
        BadCase{R"({"version": 1, "fhirUser": {"Patient": "own"}})",
                "fhirUser.Patient: must be \"scopes\", \"own-compartment\" or \"deny\""},
        BadCase{R"({"version": 1, "fhirUser": {"Patient": true}})", "fhirUser.Patient: must be"},
        BadCase{R"({"version": 1, "fhirUser": {"Practitioner": "own-compartment"}})",
                "fhirUser.Practitioner: own-compartment is only available for Patient users"},
        BadCase{R"({"version": 1, "fhirUser": {"*": "own-compartment"}})",
                "own-compartment is only available for Patient users"}));

TEST(UserRules, LoadNamesTheFile) {
  auto missing = LoadUserRules("/nonexistent/user-rules.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--auth-user-rules /nonexistent/user-rules.json"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::auth
