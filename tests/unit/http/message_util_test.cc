// The Boost-free helpers behind the server: request ids, Date caching, error bodies, header checks.
#include "http/message_util.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "http/server.h"

namespace kiln::http {
namespace {

TEST(MessageUtilTest, SaneRequestIds) {
  EXPECT_TRUE(IsSaneRequestId("abc-DEF_123.4:5"));
  EXPECT_TRUE(IsSaneRequestId(std::string(128, 'a')));
  EXPECT_FALSE(IsSaneRequestId(std::string(129, 'a')));
  EXPECT_FALSE(IsSaneRequestId(""));
  EXPECT_FALSE(IsSaneRequestId("a b"));
  EXPECT_FALSE(IsSaneRequestId("a\r\nb"));
  EXPECT_FALSE(IsSaneRequestId("<script>"));
  EXPECT_FALSE(IsSaneRequestId("caf\xc3\xa9"));
}

TEST(MessageUtilTest, NewRequestIdsAreHexAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 16u);
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    ASSERT_TRUE(IsSaneRequestId(id));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(MessageUtilTest, HttpDateNowLooksLikeImfFixdate) {
  std::string date(HttpDateNow());
  ASSERT_EQ(date.size(), 29u) << date;  // "Sun, 22 Nov 2026 15:17:00 GMT"
  EXPECT_EQ(date.substr(3, 2), ", ");
  EXPECT_EQ(date.substr(26), "GMT");
}

TEST(MessageUtilTest, OperationOutcomeJsonEscapes) {
  EXPECT_EQ(OperationOutcomeJson("too-long", "Request body exceeds the limit of 16777216 bytes"),
            R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"too-long",)"
            R"("diagnostics":"Request body exceeds the limit of 16777216 bytes"}]})");
  EXPECT_EQ(OperationOutcomeJson("invalid", "a\"b\\c\nd\x01"),
            R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid",)"
            R"("diagnostics":"a\"b\\c\nd\u0001"}]})");
}

TEST(MessageUtilTest, SafeHeaderText) {
  EXPECT_TRUE(IsSafeHeaderText("W/\"3\""));
  EXPECT_FALSE(IsSafeHeaderText("a\r\nSet-Cookie: x"));
  EXPECT_FALSE(IsSafeHeaderText(std::string("a\0b", 3)));
}

TEST(MessageUtilTest, HeaderNames) {
  EXPECT_TRUE(IsHeaderName("X-Request-Id"));
  EXPECT_TRUE(IsHeaderName("ETag"));
  EXPECT_FALSE(IsHeaderName(""));
  EXPECT_FALSE(IsHeaderName("Bad Name"));
  EXPECT_FALSE(IsHeaderName("a:b"));
  EXPECT_FALSE(IsHeaderName("a\r\nb"));
}

TEST(MessageUtilTest, RequestHeaderLookupIgnoresCase) {
  Request request;
  request.headers = {
      {"Content-Type", "application/fhir+json"}, {"If-Match", "W/\"1\""}, {"if-match", "W/\"2\""}};
  EXPECT_EQ(request.Header("content-type"), "application/fhir+json");
  EXPECT_EQ(request.Header("IF-MATCH"), "W/\"1\"");
  EXPECT_EQ(request.Header("Prefer"), "");
}

}  // namespace
}  // namespace kiln::http
