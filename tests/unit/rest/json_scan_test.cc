#include "rest/json_scan.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::rest {
namespace {

TEST(JsonScan, MembersKeepRawValues) {
  auto m = MembersOf(R"( {"a": 1.50, "b" : {"x":[1, 2]}, "c":"t\"q", "d":null} )");
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].first, "a");
  EXPECT_EQ((*m)[0].second, "1.50");
  EXPECT_EQ(Member(*m, "b"), R"({"x":[1, 2]})");
  EXPECT_EQ(StringOf(Member(*m, "c")), "t\"q");
  EXPECT_EQ(Member(*m, "d"), "null");
  EXPECT_EQ(Member(*m, "missing"), "");
  EXPECT_FALSE(StringOf(Member(*m, "a")).has_value());
}

TEST(JsonScan, MalformedIsRefused) {
  EXPECT_FALSE(MembersOf("").has_value());
  EXPECT_FALSE(MembersOf("[1]").has_value());
  EXPECT_FALSE(MembersOf(R"({"a":1,})").has_value());
  EXPECT_FALSE(MembersOf(R"({"a" 1})").has_value());
  EXPECT_FALSE(MembersOf(R"({"a":[1,2})").has_value());
  EXPECT_FALSE(MembersOf(R"({"a":"open})").has_value());
  EXPECT_FALSE(MembersOf(R"({"a":1} trailing)").has_value());
  EXPECT_TRUE(MembersOf("{}").has_value());
  EXPECT_FALSE(ElementsOf("[1,2").has_value());
  EXPECT_FALSE(ElementsOf("[1] x").has_value());
  auto e = ElementsOf(R"([ {"a":1}, "s" ,[]])");
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[0], R"({"a":1})");
  EXPECT_EQ((*e)[2], "[]");
}

TEST(JsonScan, CheckedScansFindTheSameValues) {
  const std::string text =
      R"( {"a": 1.50, "b" : {"x":[1, {"y":"]}\\"}], "z":"\"{"}, "c":"t\"q]", "d":null,)"
      "\n  \"e\": [ [], {}, \"s\\\\\" ] } ";
  auto strict = MembersOf(text);
  auto checked = MembersOfChecked(text);
  ASSERT_TRUE(strict.has_value());
  ASSERT_TRUE(checked.has_value());
  EXPECT_EQ(*strict, *checked);
  auto strict_e = ElementsOf(Member(*strict, "e"));
  auto checked_e = ElementsOfChecked(Member(*strict, "e"));
  ASSERT_TRUE(strict_e.has_value());
  ASSERT_TRUE(checked_e.has_value());
  EXPECT_EQ(*strict_e, *checked_e);
  EXPECT_EQ(checked_e->size(), 3u);
  // Their own structure is still checked, and brackets must still match.
  EXPECT_FALSE(MembersOfChecked(R"({"a":1,})").has_value());
  EXPECT_FALSE(MembersOfChecked(R"({"a":[1,2})").has_value());
  EXPECT_FALSE(MembersOfChecked(R"({"a":{"b":1})").has_value());
  EXPECT_FALSE(ElementsOfChecked(R"([{"a":"]"])").has_value());
  EXPECT_FALSE(ElementsOfChecked("[1] x").has_value());
}

TEST(JsonScan, DeepNestingIsRefusedNotACrash) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  EXPECT_EQ(SkipValue(deep, 0), std::string::npos);
  EXPECT_FALSE(MembersOf("{\"a\":" + deep + "}").has_value());
  std::string ok(50, '[');
  ok += std::string(50, ']');
  EXPECT_EQ(SkipValue(ok, 0), ok.size());
}

TEST(JsonScan, RewritesReferenceValuesAtAnyDepth) {
  std::string in =
      R"({"resourceType":"Observation","valueQuantity":{"value":1.50},)"
      R"("subject":{"reference" : "urn:uuid:a"},)"
      R"("extension":[{"url":"x","valueReference":{"reference":"urn:uuid:a"}}],)"
      R"("contained":[{"resourceType":"Provenance","target":[{"reference":"urn:uuid:b"}]}],)"
      R"("note":[{"text":"reference"}],"code":{"text":"urn:uuid:a"},)"
      R"("performer":[{"reference":"Patient/1","display":"urn:uuid:a"}]})";
  std::string out = RewriteReferences(in, [](std::string_view ref) -> std::optional<std::string> {
    if (ref == "urn:uuid:a") return std::string("Patient/new");
    if (ref == "urn:uuid:b") return std::string("Device/d");
    return std::nullopt;
  });
  EXPECT_EQ(out,
            R"({"resourceType":"Observation","valueQuantity":{"value":1.50},)"
            R"("subject":{"reference" : "Patient/new"},)"
            R"("extension":[{"url":"x","valueReference":{"reference":"Patient/new"}}],)"
            R"("contained":[{"resourceType":"Provenance","target":[{"reference":"Device/d"}]}],)"
            R"("note":[{"text":"reference"}],"code":{"text":"urn:uuid:a"},)"
            R"("performer":[{"reference":"Patient/1","display":"urn:uuid:a"}]})");
}

TEST(JsonScan, RewriteLeavesTextAloneWhenNothingMatches) {
  std::string in = R"({"a":"reference","reference":["urn:uuid:a"],"s":"say \"reference\": x"})";
  int calls = 0;
  std::string out = RewriteReferences(in, [&](std::string_view) -> std::optional<std::string> {
    ++calls;
    return std::string("changed");
  });
  EXPECT_EQ(out, in);  // "reference" as a value, an array value, inside a string: not references
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace kiln::rest
