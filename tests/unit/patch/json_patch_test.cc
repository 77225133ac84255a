#include <gtest/gtest.h>

#include "patch/json_tree.h"
#include "patch/patch.h"

namespace kiln::patch {
namespace {

std::string Apply(std::string_view doc, std::string_view patch) {
  auto r = ApplyJsonPatch(doc, patch);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : "";
}

Status Fails(std::string_view doc, std::string_view patch) {
  auto r = ApplyJsonPatch(doc, patch);
  EXPECT_FALSE(r.ok()) << *r;
  return r.ok() ? Status() : r.status();
}

TEST(JsonTree, KeepsNumberTextAndOrder) {
  auto j = ParseJson(R"({"b":1.50,"a":[1e3,-0.0,12345678901234567890],"c":"x\"\u00e9"})", "doc");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->Serialize(), R"({"b":1.50,"a":[1e3,-0.0,12345678901234567890],"c":"x\"é"})");
}

TEST(JsonTree, RefusesDuplicatesAndTrailingData) {
  EXPECT_FALSE(ParseJson(R"({"a":1,"a":2})", "doc").ok());
  EXPECT_FALSE(ParseJson(R"({"a":1} x)", "doc").ok());
  EXPECT_FALSE(ParseJson("", "doc").ok());
}

TEST(JsonTree, EqualityIsNumericAndIgnoresMemberOrder) {
  auto a = ParseJson(R"({"x":1.50,"y":[1,{"p":true,"q":null}]})", "a");
  auto b = ParseJson(R"({"y":[1.0,{"q":null,"p":true}],"x":1.5})", "b");
  auto c = ParseJson(R"({"y":[1,{"q":null,"p":true}],"x":"1.5"})", "c");
  EXPECT_TRUE(Equal(*a, *b));
  EXPECT_FALSE(Equal(*a, *c));
}

TEST(JsonPatch, AddReplacesMembersAndInsertsIntoArrays) {
  EXPECT_EQ(Apply(R"({"a":1,"l":[1,2]})",
                  R"([{"op":"add","path":"/a","value":2},{"op":"add","path":"/l/0","value":0},
                      {"op":"add","path":"/l/-","value":3},{"op":"add","path":"/n","value":{}}])"),
            R"({"a":2,"l":[0,1,2,3],"n":{}})");
}

TEST(JsonPatch, KeepsDecimalsItDoesNotTouch) {
  EXPECT_EQ(Apply(R"({"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg"}})",
                  R"([{"op":"replace","path":"/valueQuantity/unit","value":"g"}])"),
            R"({"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"g"}})");
  EXPECT_EQ(Apply(R"({"v":1})", R"([{"op":"replace","path":"/v","value":2.000}])"),
            R"({"v":2.000})");
}

TEST(JsonPatch, PointerEscapes) {
  EXPECT_EQ(Apply(R"({"a/b":1,"m~n":2})",
                  R"([{"op":"remove","path":"/a~1b"},{"op":"replace","path":"/m~0n","value":3}])"),
            R"({"m~n":3})");
  Status s = Fails(R"({"a":1})", R"([{"op":"remove","path":"/a~2"}])");
  EXPECT_EQ(s.error(), ErrorCode::kInvalid);
}

TEST(JsonPatch, MoveCopyTest) {
  EXPECT_EQ(Apply(R"({"a":{"x":1},"l":[1,2,3]})",
                  R"([{"op":"copy","from":"/a","path":"/b"},{"op":"move","from":"/a/x","path":"/y"},
                      {"op":"move","from":"/l/0","path":"/l/-"},
                      {"op":"test","path":"/b","value":{"x":1}}])"),
            R"({"a":{},"l":[2,3,1],"b":{"x":1},"y":1})");
  Status s = Fails(R"({"a":{"b":1}})", R"([{"op":"move","from":"/a","path":"/a/b/c"}])");
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
}

TEST(JsonPatch, FailuresNameTheOperation) {
  Status s = Fails(R"({"a":1})", R"([{"op":"test","path":"/a","value":1},
                                     {"op":"test","path":"/a","value":2}])");
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
  EXPECT_NE(s.message().find("Patch operation 2 (test at /a)"), std::string::npos) << s.message();
  s = Fails(R"({"a":1})", R"([{"op":"remove","path":"/b"}])");
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
  EXPECT_NE(s.message().find("/b does not exist"), std::string::npos) << s.message();
  s = Fails(R"({"l":[1]})", R"([{"op":"add","path":"/l/2","value":1}])");
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s.message();
  s = Fails(R"({"l":[1]})", R"([{"op":"replace","path":"/l/01","value":1}])");
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
}

TEST(JsonPatch, MalformedDocumentsAreInvalid) {
  for (std::string_view patch : {
           R"({"op":"add"})",                         // not an array
           R"([{"path":"/a","value":1}])",            // no op
           R"([{"op":"frobnicate","path":"/a"}])",    // unknown op
           R"([{"op":"add","path":"/a"}])",           // no value
           R"([{"op":"add","path":"a","value":1}])",  // not a pointer
           R"([{"op":"move","path":"/a"}])",          // no from
           R"([1])",                                  // not an object
           R"([{"op":"add","path":"/a","value":1})",  // not JSON
       }) {
    Status s = Fails(R"({"a":1})", patch);
    EXPECT_EQ(s.error(), ErrorCode::kInvalid) << patch << ": " << s.message();
  }
}

TEST(JsonPatch, EmptyPatchLeavesTheDocument) {
  EXPECT_EQ(Apply(R"({"a":1.10})", "[]"), R"({"a":1.10})");
}

}  // namespace
}  // namespace kiln::patch
