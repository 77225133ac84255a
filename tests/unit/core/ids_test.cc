#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/strings.h"

namespace kiln::core {
namespace {

TEST(Ids, NewResourceIdsAreUniqueValidUuids) {
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {
    std::string id = NewResourceId();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '4');  // version 4
    EXPECT_TRUE(IsValidId(id));
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(Ids, R4IdRule) {
  EXPECT_TRUE(IsValidId("a"));
  EXPECT_TRUE(IsValidId("Abc-1.2"));
  EXPECT_TRUE(IsValidId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("a_b"));
  EXPECT_FALSE(IsValidId("a b"));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("\xc3\xa9"));
}

TEST(Strings, JsonEscaping) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(Strings, CaseAndSpaces) {
  EXPECT_TRUE(EqualsIgnoreCase("Content-Type", "content-type"));
  EXPECT_FALSE(EqualsIgnoreCase("a", "ab"));
  EXPECT_EQ(TrimSpaces("  x y\t"), "x y");
  EXPECT_EQ(ToLowerAscii("AbC"), "abc");
}

}  // namespace
}  // namespace kiln::core
