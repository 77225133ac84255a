#include <gtest/gtest.h>

#include "rest/bundle_json.h"
#include "rest/history.h"
#include "rest/negotiation.h"
#include "rest/outcome.h"
#include "rest/router.h"

namespace kiln::rest {
namespace {

TEST(Outcome, EveryErrorCodeHasItsHttpStatus) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalid), 400);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kForbidden), 403);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kMethodNotAllowed), 405);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotAcceptable), 406);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kConflict), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kGone), 410);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPreconditionFailed), 412);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnsupportedMediaType), 415);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnprocessable), 422);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kHeaderTooLarge), 431);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotImplemented), 501);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 503);
}

TEST(Outcome, ListsEveryIssueWithExpression) {
  Status s(ErrorCode::kInvalid, {Issue{Severity::kError, "value", "bad date", "Patient.birthDate"},
                                 Issue{Severity::kWarning, "invalid", "odd", ""}});
  EXPECT_EQ(OperationOutcomeJson(s, "r1"),
            R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"value",)"
            R"("diagnostics":"bad date","expression":["Patient.birthDate"]},)"
            R"({"severity":"warning","code":"invalid","diagnostics":"odd"}]})");
}

TEST(Outcome, InternalErrorsHideTheirDetails) {
  std::string body = OperationOutcomeJson(Status::Internal("sqlite: disk I/O error at 0x1234"), "req-9");
  EXPECT_EQ(body.find("sqlite"), std::string::npos);
  EXPECT_NE(body.find("req-9"), std::string::npos);
}

TEST(Negotiation, Output) {
  EXPECT_TRUE(NegotiateOutput("", "", "").ok());
  EXPECT_EQ(NegotiateOutput("", "application/fhir+json", "")->content_type, kFhirJson);
  EXPECT_EQ(NegotiateOutput("", "application/json", "")->content_type.rfind("application/json", 0),
            0u);
  EXPECT_TRUE(NegotiateOutput("", "text/html, */*;q=0.1", "").ok());
  EXPECT_EQ(NegotiateOutput("", "application/fhir+xml", "").status().error(),
            ErrorCode::kNotAcceptable);
  EXPECT_EQ(NegotiateOutput("", "application/fhir+json;q=0", "").status().error(),
            ErrorCode::kNotAcceptable);
  EXPECT_EQ(NegotiateOutput("xml", "", "").status().error(), ErrorCode::kNotAcceptable);
  EXPECT_TRUE(NegotiateOutput("json", "application/xml", "").ok());
  EXPECT_TRUE(NegotiateOutput("", "", "true")->pretty);
  EXPECT_EQ(NegotiateOutput("", "", "1").status().error(), ErrorCode::kInvalid);
}

TEST(Negotiation, ContentType) {
  EXPECT_TRUE(CheckResourceContentType("").ok());
  EXPECT_TRUE(CheckResourceContentType("application/fhir+json; charset=utf-8").ok());
  EXPECT_TRUE(CheckResourceContentType("application/json").ok());
  EXPECT_EQ(CheckResourceContentType("application/fhir+xml").error(),
            ErrorCode::kUnsupportedMediaType);
  EXPECT_EQ(CheckResourceContentType("text/plain").error(), ErrorCode::kUnsupportedMediaType);
}

TEST(Negotiation, PreferAndETags) {
  EXPECT_EQ(ParsePreferReturn(""), ReturnPreference::kRepresentation);
  EXPECT_EQ(ParsePreferReturn("return=minimal"), ReturnPreference::kMinimal);
  EXPECT_EQ(ParsePreferReturn("handling=strict, return=OperationOutcome"),
            ReturnPreference::kOperationOutcome);
  EXPECT_EQ(ParseVersionETag("W/\"3\""), 3);
  EXPECT_EQ(ParseVersionETag("\"12\""), 12);
  EXPECT_FALSE(ParseVersionETag("3"));
  EXPECT_FALSE(ParseVersionETag("W/\"x\""));
  EXPECT_FALSE(ParseVersionETag("W/\"0\""));
  EXPECT_EQ(VersionETag(5), "W/\"5\"");
}

TEST(Router, MapsPathsToInteractions) {
  auto kind = [](std::string_view method, std::string_view target) {
    RouteResult r = Route(method, target, "/fhir");
    EXPECT_TRUE(r.status.ok()) << target << ": " << r.status.message();
    return r.status.ok() ? r.interaction.route->kind : InteractionKind::kCapabilities;
  };
  EXPECT_EQ(kind("GET", "/fhir/metadata"), InteractionKind::kCapabilities);
  EXPECT_EQ(kind("GET", "/fhir/Patient/1"), InteractionKind::kRead);
  EXPECT_EQ(kind("GET", "/fhir/Patient/1/_history/2"), InteractionKind::kVRead);
  EXPECT_EQ(kind("PUT", "/fhir/Patient/1"), InteractionKind::kUpdate);
  EXPECT_EQ(kind("DELETE", "/fhir/Patient/1"), InteractionKind::kDelete);
  EXPECT_EQ(kind("POST", "/fhir/Patient"), InteractionKind::kCreate);
  EXPECT_EQ(kind("GET", "/fhir/Patient/1/_history"), InteractionKind::kHistoryInstance);
  EXPECT_EQ(kind("GET", "/fhir/Patient/_history"), InteractionKind::kHistoryType);
  EXPECT_EQ(kind("GET", "/fhir/_history"), InteractionKind::kHistorySystem);
  EXPECT_EQ(kind("GET", "/fhir/Patient?name=x"), InteractionKind::kSearchType);
}

TEST(Router, DecodesParamsAndKeepsPath) {
  RouteResult r = Route("GET", "/fhir/Patient/1/_history?_since=2020-01-01T00:00:00%2B01:00&_count=5",
                        "/fhir");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.interaction.Param("_since"), "2020-01-01T00:00:00+01:00");
  EXPECT_EQ(r.interaction.Param("_count"), "5");
  EXPECT_EQ(r.interaction.path, "Patient/1/_history");
}

TEST(Router, Errors) {
  EXPECT_EQ(Route("GET", "/fhir/Foo/1", "/fhir").status.error(), ErrorCode::kNotFound);
  EXPECT_EQ(Route("GET", "/other", "/fhir").status.error(), ErrorCode::kNotFound);
  EXPECT_EQ(Route("GET", "/fhir/Patient/a_b", "/fhir").status.error(), ErrorCode::kInvalid);
  RouteResult r = Route("POST", "/fhir/Patient/1", "/fhir");
  EXPECT_EQ(r.status.error(), ErrorCode::kMethodNotAllowed);
  EXPECT_EQ(r.allow, "GET, PUT, DELETE, PATCH");
}

TEST(History, ParsesParameters) {
  RouteResult r = Route("GET", "/fhir/_history?_count=5000&_since=2024&_cursor=17", "/fhir");
  ASSERT_TRUE(r.status.ok());
  auto q = ParseHistoryQuery(r.interaction, 20, 1000);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->count, 1000);  // capped
  EXPECT_TRUE(q->since);
  EXPECT_EQ(q->before_seq, 17);
  for (const char* bad : {"/fhir/_history?_count=-1", "/fhir/_history?_count=x",
                          "/fhir/_history?_since=never", "/fhir/_history?_cursor=0",
                          "/fhir/_history?_at=2023-02-30"}) {
    RouteResult b = Route("GET", bad, "/fhir");
    ASSERT_TRUE(b.status.ok());
    EXPECT_FALSE(ParseHistoryQuery(b.interaction, 20, 1000).ok()) << bad;
  }
}

TEST(History, EncodesQueryComponents) {
  EXPECT_EQ(EncodeQueryComponent("a b+c&d=é"), "a%20b%2Bc%26d%3D%C3%A9");
}

}  // namespace
}  // namespace kiln::rest

namespace kiln::rest {
namespace {

TEST(Router, AcceptsUnencodedPipesAndSpacesInQueries) {
  RouteResult r = Route("GET", "/fhir/Patient?identifier=urn:oid:1.2|12345&name=a b", "/fhir");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.interaction.Param("identifier"), "urn:oid:1.2|12345");
  EXPECT_EQ(r.interaction.Param("name"), "a b");
}

}  // namespace
}  // namespace kiln::rest
