#include "fhir/resource_json.h"

#include <gtest/gtest.h>

namespace kiln::fhir {
namespace {

std::string Render(std::string_view body) {
  auto r = PrepareResource(body);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return "";
  return RenderResource(*r, "the-id", 3, "2026-01-02T03:04:05.000006Z");
}

TEST(ResourceJson, ServerOwnsIdAndMetaVersionAndLastUpdated) {
  EXPECT_EQ(Render(R"({"active":true,"resourceType":"Patient","id":"client",
                       "meta":{"versionId":"9","profile":["http://p"],"lastUpdated":"x"}})"),
            R"({"resourceType":"Patient","id":"the-id","meta":{"versionId":"3",)"
            R"("lastUpdated":"2026-01-02T03:04:05.000006Z","profile":["http://p"]},"active":true})");
}

TEST(ResourceJson, KeepsNumbersExactlyAndOrder) {
  EXPECT_EQ(Render(R"({"resourceType":"Observation","valueQuantity":{"value":1.50},
                       "x":[1e3,-0.0,12345678901234567890,0.1000]})"),
            R"({"resourceType":"Observation","id":"the-id","meta":{"versionId":"3",)"
            R"("lastUpdated":"2026-01-02T03:04:05.000006Z"},"valueQuantity":{"value":1.50},)"
            R"("x":[1e3,-0.0,12345678901234567890,0.1000]})");
}

TEST(ResourceJson, ReEscapesStrings) {
  std::string out = Render(R"({"resourceType":"Patient","text":{"div":"<div>\"q\"\n\u00e9\u0001</div>"}})");
  EXPECT_NE(out.find(R"("div":"<div>\"q\"\n)" "\xc3\xa9" R"(\u0001</div>")"), std::string::npos)
      << out;
}

TEST(ResourceJson, CapturesTypeAndId) {
  auto r = PrepareResource(R"({"resourceType":"Patient","id":"abc"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->resource_type, "Patient");
  EXPECT_TRUE(r->has_id);
  EXPECT_EQ(r->id, "abc");
  auto n = PrepareResource(R"({"resourceType":"Patient"})");
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->has_id);
}

TEST(ResourceJson, EmptyObjectsAndArraysSurvive) {
  EXPECT_EQ(Render(R"({"resourceType":"Basic","a":{},"b":[],"c":[{}],"meta":{}})"),
            R"({"resourceType":"Basic","id":"the-id","meta":{"versionId":"3",)"
            R"("lastUpdated":"2026-01-02T03:04:05.000006Z"},"a":{},"b":[],"c":[{}]})");
}

TEST(ResourceJson, RefusesWhatIsNotAResource) {
  struct Case {
    const char* body;
    const char* message_part;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"  ", "empty"}, Case{"[1]", "JSON object"},
                        Case{"\"x\"", "JSON object"}, Case{"{", "not valid JSON"},
                        Case{R"({"resourceType":"Patient",})", "not valid JSON"},
                        Case{R"({"a":1})", "no resourceType"},
                        Case{R"({"resourceType":""})", "no resourceType"},
                        Case{R"({"resourceType":1})", "resourceType must be a string"},
                        Case{R"({"resourceType":"Patient","id":{}})", "id must be a string"},
                        Case{R"({"resourceType":"Patient","meta":"x"})", "meta must be"},
                        Case{R"({"resourceType":"Patient","a":1,"a":2})", "Duplicate"},
                        Case{R"({"resourceType":"Patient","x":{"b":1,"b":1}})", "Duplicate"},
                        Case{"{\"resourceType\":\"Patient\",\"x\":\"\xff\"}", "not valid JSON"},
                        Case{R"({"resourceType":"Patient"} {})", "not valid JSON"}}) {
    auto r = PrepareResource(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().error(), ErrorCode::kInvalid);
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos)
        << c.body << " -> " << r.status().message();
  }
}

TEST(ResourceJson, DeepNestingIsBounded) {
  std::string deep = R"({"resourceType":"Basic","x":)";
  for (int i = 0; i < 500; ++i) deep += "[";
  for (int i = 0; i < 500; ++i) deep += "]";
  deep += "}";
  EXPECT_FALSE(PrepareResource(deep).ok());
}

TEST(ResourceJson, PrettyPrint) {
  EXPECT_EQ(PrettyPrint(R"({"a":[1,{"b":"x,y:{"}],"c":{},"d":[]})"),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"x,y:{\"\n    }\n  ],\n  \"c\": {},\n"
            "  \"d\": []\n}");
}

}  // namespace
}  // namespace kiln::fhir
