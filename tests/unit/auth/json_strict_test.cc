#include "auth/json_strict.h"

#include <gtest/gtest.h>

namespace kiln::auth {
namespace {

TEST(JsonStrict, FindsRepeatedMemberNames) {
  EXPECT_TRUE(HasDuplicateMembers(R"({"a":1,"a":2})"));
  EXPECT_TRUE(HasDuplicateMembers(R"({"alg":"none","kid":"k","alg":"RS256"})"));
  EXPECT_TRUE(HasDuplicateMembers(R"({"x":{"b":1,"b":1}})"));
  EXPECT_TRUE(HasDuplicateMembers(R"([{"c":1},{"d":[{"e":1,"e":1}]}])"));
  // Escapes are compared after unescaping.
  EXPECT_TRUE(HasDuplicateMembers(R"({"exp":1,"\u0065xp":2})"));
}

TEST(JsonStrict, AcceptsDistinctNamesAndInvalidJson) {
  EXPECT_FALSE(HasDuplicateMembers(R"({"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]})"));
  EXPECT_FALSE(HasDuplicateMembers(R"({})"));
  EXPECT_FALSE(HasDuplicateMembers(R"([1,2,2])"));
  EXPECT_FALSE(HasDuplicateMembers("not json"));
  EXPECT_FALSE(HasDuplicateMembers(R"({"a":1,)"));
}

}  // namespace
}  // namespace kiln::auth
