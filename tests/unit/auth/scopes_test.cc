#include "auth/scopes.h"

#include <gtest/gtest.h>

namespace kiln::auth {
namespace {

constexpr uint8_t kRS = kPermRead | kPermSearch;
constexpr uint8_t kCUD = kPermCreate | kPermUpdate | kPermDelete;
constexpr uint8_t kAll = kRS | kCUD;

struct Case {
  const char* scope;
  bool valid;
  ScopeContext context = ScopeContext::kUser;
  const char* type = "";
  uint8_t perms = 0;
  const char* filter = "";
};

class ScopeCase : public ::testing::TestWithParam<Case> {};

TEST_P(ScopeCase, Parses) {
  const Case& c = GetParam();
  auto g = ParseScope(c.scope);
  ASSERT_EQ(g.has_value(), c.valid) << c.scope;
  if (!g) return;
  EXPECT_EQ(g->context, c.context) << c.scope;
  EXPECT_EQ(g->type, c.type) << c.scope;
  EXPECT_EQ(PermissionLetters(g->permissions), PermissionLetters(c.perms)) << c.scope;
  EXPECT_EQ(g->filter, c.filter) << c.scope;
}

using C = ScopeContext;
INSTANTIATE_TEST_SUITE_P(
    Scopes, ScopeCase,
    ::testing::Values(
        // v1
        Case{"patient/Observation.read", true, C::kPatient, "Observation", kRS},
        Case{"user/*.write", true, C::kUser, "*", kCUD},
        Case{"system/*.*", true, C::kSystem, "*", kAll},
        Case{"user/Patient.*", true, C::kUser, "Patient", kAll},
        Case{"system/Encounter.write", true, C::kSystem, "Encounter", kCUD},
        // v2
        Case{"patient/Observation.rs", true, C::kPatient, "Observation", kRS},
        Case{"user/Encounter.cu", true, C::kUser, "Encounter", kPermCreate | kPermUpdate},
        Case{"system/*.rs", true, C::kSystem, "*", kRS},
        Case{"user/*.cruds", true, C::kUser, "*", kAll},
        Case{"user/Patient.c", true, C::kUser, "Patient", kPermCreate},
        Case{"user/Patient.r", true, C::kUser, "Patient", kPermRead},
        Case{"user/Patient.u", true, C::kUser, "Patient", kPermUpdate},
        Case{"user/Patient.d", true, C::kUser, "Patient", kPermDelete},
        Case{"user/Patient.s", true, C::kUser, "Patient", kPermSearch},
        Case{"user/Patient.cd", true, C::kUser, "Patient", kPermCreate | kPermDelete},
        Case{"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
             "observation-category|laboratory",
             true, C::kPatient, "Observation", kRS,
             "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"},
        Case{"user/Observation.s?code=a&status=final", true, C::kUser, "Observation", kPermSearch,
             "code=a&status=final"},
        // malformed: never a grant
        Case{"", false}, Case{"patient", false}, Case{"patient/", false},
        Case{"patient/Observation", false}, Case{"patient/Observation.", false},
        Case{"patient/.read", false},
        Case{"patient/Observation.sr", false},    // letters out of order
        Case{"patient/Observation.rr", false},    // repeated letter
        Case{"patient/Observation.rsx", false},   // unknown letter
        Case{"patient/Observation.READ", false},  // case matters
        Case{"patient/Observation.Read", false},
        Case{"Patient/Observation.read", false},  // context is lower case
        Case{"admin/Observation.read", false},
        Case{"patient/observation.read", false},  // types start upper case
        Case{"patient/Obs3rvation.read", false},
        Case{"patient/Observation.read?category=x", false},  // v1 has no query
        Case{"patient/Observation.rs?", false}, Case{"patient/Observation.rs?category", false},
        Case{"patient/Observation.rs?category=", false}, Case{"patient/Observation.rs?=x", false},
        Case{"patient/Observation.rs?a=b&", false}, Case{"patient/Observation.rs?a=b&&c=d", false},
        Case{"patient/Observation.read.write", false}, Case{"patient/Obs.ervation.read", false},
        Case{"patient/**.read", false}, Case{"patient/*Observation.read", false},
        Case{"patient/Observation.read ", false}, Case{"patient/Observation.r\"s", false},
        Case{"patient//Observation.rs", false}, Case{"patient/Observation/x.rs", false},
        Case{"user/Observation.rs\\", false}, Case{"user/Observation.writ", false},
        Case{"user/Observation.*s", false}, Case{"patient/Observation.readwrite", false}));

TEST(Scopes, SplitsAndSortsKinds) {
  ParsedScopes p = ParseScopes(
      "openid fhirUser launch/patient  offline_access patient/Observation.rs user/*.read "
      "bogus patient/observation.read system/Patient.cruds launch api://x");
  ASSERT_EQ(p.grants.size(), 3u);
  EXPECT_EQ(p.grants[0].type, "Observation");
  EXPECT_EQ(p.grants[1].type, "*");
  EXPECT_EQ(p.grants[2].context, ScopeContext::kSystem);
  EXPECT_EQ(p.other.size(), 5u);
  ASSERT_EQ(p.invalid.size(), 3u);
  EXPECT_EQ(p.invalid[0], "bogus");
}

TEST(Scopes, NoPrefixMatching) {
  // GHSA-vv7x-7w4m-q72f: a scope for one type must not be read as a prefix of another.
  auto g = ParseScope("user/Patient.read");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->type, "Patient");
  EXPECT_FALSE(ParseScope("user/Patient.readx"));
  EXPECT_FALSE(ParseScope("user/Patient.read/Observation.read"));
}

TEST(Scopes, EmptyString) {
  ParsedScopes p = ParseScopes("");
  EXPECT_TRUE(p.grants.empty());
  EXPECT_TRUE(p.invalid.empty());
  p = ParseScopes("   ");
  EXPECT_TRUE(p.grants.empty());
}

}  // namespace
}  // namespace kiln::auth
