#include "core/ids.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "core/strings.h"

namespace kiln::core {
namespace {

TEST(Ids, NewResourceIdsAreUniqueValidUuids) {
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {
    std::string id = NewResourceId();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '7');  // version 7
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');  // variant
    EXPECT_TRUE(IsValidId(id));
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(Ids, LaterIdsSortAfterEarlierOnes) {
  // The leading 48 bits are the creation millisecond: ids made a few milliseconds apart are in
  // creation order as text, which is what keeps the store's id-keyed b-trees append-only.
  std::string first = NewResourceId();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  std::string second = NewResourceId();
  EXPECT_LT(first, second);
  // The timestamp is now, not some other clock.
  uint64_t ms = std::stoull(second.substr(0, 8) + second.substr(9, 4), nullptr, 16);
  uint64_t now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count());
  EXPECT_LE(ms, now);
  EXPECT_GT(ms + 5000, now);
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
