#include "fhir/resource_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/strings.h"

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

// Strings and names are copied 8 bytes at a time where nothing needs escaping: every ASCII
// character (and a two-byte one) at every place of strings around the 8-byte steps must still
// come out escaped exactly as core::AppendJsonEscaped escapes it.
TEST(ResourceJson, EscapesEveryCharacterAtEveryPlace) {
  std::vector<std::string> specials;
  for (int c = 0; c < 0x80; ++c) specials.emplace_back(1, static_cast<char>(c));
  specials.emplace_back("\xc3\xa9");
  for (const std::string& special : specials) {
    for (size_t length = 1; length <= 18; ++length) {
      for (size_t at = 0; at < length; ++at) {
        std::string text(length, 'a');
        text.replace(at, 1, special);
        std::string escaped;
        core::AppendJsonEscaped(escaped, text);
        const std::string member = "\"k" + escaped + "\":\"" + escaped + "\"";
        auto r = PrepareResource("{\"resourceType\":\"Basic\"," + member + "}");
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(
            RenderResource(*r, "i", 1, "t"),
            R"({"resourceType":"Basic","id":"i","meta":{"versionId":"1","lastUpdated":"t"},)" +
                member + "}")
            << "character " << static_cast<int>(static_cast<unsigned char>(special[0])) << " at "
            << at << " of " << length;
      }
    }
  }
}

// Names are checked for repeats per object: the same name in sibling or nested objects is fine,
// a repeat after a nested object closed is not.
TEST(ResourceJson, RepeatedNamesPerObject) {
  EXPECT_TRUE(PrepareResource(R"({"resourceType":"Basic","a":{"x":1,"y":{"x":2}},"b":{"x":1},)"
                              R"("c":[{"x":1},{"x":2,"y":[{"x":3}]}]})")
                  .ok());
  for (const char* body :
       {R"({"resourceType":"Basic","a":{"x":1,"y":{"x":2},"x":3}})",
        R"({"resourceType":"Basic","a":{"y":{"z":2}},"b":1,"a":2})",
        R"({"resourceType":"Basic","c":[{"x":1},{"x":2,"y":[{"x":3}],"x":4}]})"}) {
    auto r = PrepareResource(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find("Duplicate"), std::string::npos) << body;
  }
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
