// RFC 7662 introspection: reading the endpoint's answers, the cache, and the authenticator's
// caching / single-flight / fail-closed behaviour with a scripted Fetcher (the real endpoint is
// exercised by tests/integration/auth_introspection.test.mjs).
#include "auth/introspection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace kiln::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr const char* kAud = "https://kiln.example/fhir";
constexpr const char* kIss = "https://as.example";

ClaimRules Rules() {
  ClaimRules r;
  r.issuer = kIss;
  r.audiences = {kAud};
  r.clock_skew_seconds = 60;
  return r;
}

Result<Introspection> Parse(const std::string& body, ClaimNames names = {}) {
  return ParseIntrospection(body, Rules(), names, kNow);
}

std::string Active(const std::string& extra = "") {
  return std::string(R"({"active":true,"aud":")") + kAud + R"(","iss":")" + kIss + R"(","exp":)" +
         std::to_string(kNow + 300) +
         R"(,"client_id":"c1","sub":"s1","scope":"system/Patient.rs")" + extra + "}";
}

TEST(IntrospectionParse, ActiveAnswerBuildsThePrincipal) {
  auto r = Parse(Active(R"(,"patient":"p1","fhirUser":"Practitioner/9","token_type":"Bearer")"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->result.kind, AuthResult::Kind::kOk);
  const Principal& p = r->result.principal;
  EXPECT_TRUE(p.authenticated);
  EXPECT_EQ(p.client_id, "c1");
  EXPECT_EQ(p.subject, "s1");
  EXPECT_EQ(p.patient, "p1");
  EXPECT_EQ(p.fhir_user, "Practitioner/9");
  EXPECT_EQ(p.expires_at, kNow + 300);
  ASSERT_EQ(p.grants.size(), 1u);
  EXPECT_EQ(p.grants[0].type, "Patient");
  EXPECT_EQ(r->exp, kNow + 300);
}

TEST(IntrospectionParse, ConfiguredClaimNamesApply) {
  ClaimNames names;
  names.tenant = "custom:tenantId";
  names.groups = "cognito:groups";
  names.patient = "pat";
  auto r = Parse(Active(R"(,"custom:tenantId":"t1","cognito:groups":["a","b"],"pat":"p2")"), names);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->result.kind, AuthResult::Kind::kOk);
  EXPECT_EQ(r->result.principal.tenant, "t1");
  EXPECT_EQ(r->result.principal.groups, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r->result.principal.patient, "p2");
}

TEST(IntrospectionParse, AudienceArrayAndMissingExpAreAccepted) {
  auto r = Parse(std::string(R"({"active":true,"aud":["other",")") + kAud +
                 R"("],"scope":"system/*.rs"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result.kind, AuthResult::Kind::kOk);
  EXPECT_EQ(r->exp, 0);
}

// Well-formed answers that must not let the token in: 401.
TEST(IntrospectionParse, RefusalsAreUnauthenticated) {
  const std::string aud = std::string(R"("aud":")") + kAud + "\"";
  for (const std::string& body : std::vector<std::string>{
           std::string(R"({"active":false})"),
           std::string(R"({"active":false,"scope":"system/*.cruds",)") + aud + "}",
           R"({"active":true,"scope":"system/*.rs"})",  // no aud
           R"({"active":true,"aud":"https://other/fhir"})",
           R"({"active":true,"aud":[]})",
           R"({"active":true,"aud":["https://kiln.example/fhir/"]})",
           R"({"active":true,"aud":[["https://kiln.example/fhir"]]})",
           "{\"active\":true," + aud + ",\"exp\":" + std::to_string(kNow - 61) + "}",
           "{\"active\":true," + aud + ",\"nbf\":" + std::to_string(kNow + 61) + "}",
           "{\"active\":true," + aud + ",\"iat\":" + std::to_string(kNow + 3600) + "}",
           "{\"active\":true," + aud + ",\"iss\":\"https://evil.example\"}",
           "{\"active\":true," + aud + ",\"token_type\":\"refresh_token\"}",
           "{\"active\":true," + aud + ",\"token_type\":\"DPoP\"}",
       }) {
    auto r = Parse(body);
    ASSERT_TRUE(r.ok()) << body << ": " << r.status().message();
    EXPECT_EQ(r->result.kind, AuthResult::Kind::kRejected) << body;
    EXPECT_EQ(r->result.status.error(), ErrorCode::kUnauthenticated) << body;
  }
}

// Answers that are not usable RFC 7662 responses: the endpoint is broken, 503.
TEST(IntrospectionParse, MalformedAnswersAreUnavailable) {
  for (const std::string& body : std::vector<std::string>{
           std::string(""),
           std::string("not json"),
           std::string("<html>"),
           std::string("[]"),
           std::string("null"),
           std::string("{}"),
           std::string(R"({"active":"true"})"),
           std::string(R"({"active":1})"),
           std::string(R"({"active":null})"),
           std::string(R"({"active":true,"exp":"1800000000","aud":"https://kiln.example/fhir"})"),
           std::string(R"({"active":true,"exp":-5})"),
           std::string(R"({"active":true,"nbf":{}})"),
           std::string(R"({"active":true,"iss":7})"),
           std::string(R"({"active":true,"scope":{"a":1}})"),
           std::string(R"({"active":true,"aud":5})"),
           std::string(R"({"active":true,"client_id":["x"]})"),
           std::string(R"({"active":true,)"),
       }) {
    auto r = Parse(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().error(), ErrorCode::kUnavailable) << body;
  }
}

TEST(IntrospectionParse, IssuerIsNotComparedWhenNoneIsConfigured) {
  ClaimRules rules = Rules();
  rules.issuer.clear();
  auto r = ParseIntrospection(
      std::string(R"({"active":true,"iss":"https://x","aud":")") + kAud + "\"}", rules, {}, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result.kind, AuthResult::Kind::kOk);
}

TEST(IntrospectionHelpers, CompactJwsShapeAndFormEncoding) {
  EXPECT_TRUE(IsCompactJws("a.b.c"));
  EXPECT_TRUE(IsCompactJws(".."));
  EXPECT_FALSE(IsCompactJws("opaque-token_42"));
  EXPECT_FALSE(IsCompactJws("a.b"));
  EXPECT_FALSE(IsCompactJws("a.b.c.d"));
  EXPECT_EQ(FormEncode("a+b/c=d e~%"), "a%2Bb%2Fc%3Dd+e%7E%25");
  EXPECT_EQ(FormEncode("Az09-._*"), "Az09-._*");
}

TokenDigest Digest(const std::string& token) {
  TokenDigest d{};
  EXPECT_TRUE(HashToken(token, d));
  return d;
}

AuthResult Ok() {
  AuthResult r;
  r.kind = AuthResult::Kind::kOk;
  r.principal.client_id = "c";
  return r;
}

TEST(IntrospectionCacheTest, EntriesExpire) {
  IntrospectionCache cache(10);
  cache.Put(Digest("t1"), Ok(), 1000, 2000);
  EXPECT_TRUE(cache.Find(Digest("t1"), 1999).has_value());
  EXPECT_FALSE(cache.Find(Digest("t2"), 1999).has_value());
  EXPECT_FALSE(cache.Find(Digest("t1"), 2000).has_value());
  cache.Put(Digest("t3"), Ok(), 1000, 1000);  // already stale: not stored
  EXPECT_EQ(cache.size(), 0u);
}

TEST(IntrospectionCacheTest, SizeIsBounded) {
  IntrospectionCache cache(4);
  for (int i = 0; i < 4; ++i) cache.Put(Digest("s" + std::to_string(i)), Ok(), 0, i < 2 ? 10 : 100);
  // Full: the expired entries go first.
  cache.Put(Digest("new"), Ok(), 50, 100);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.Find(Digest("s2"), 50).has_value());
  for (int i = 0; i < 10; ++i) cache.Put(Digest("x" + std::to_string(i)), Ok(), 50, 100);
  EXPECT_LE(cache.size(), 4u);
}

// A Fetcher that answers POSTs with a scripted body (or failure) and counts them.
class ScriptedFetcher : public Fetcher {
 public:
  Result<std::string> Get(const std::string&) override { return Status::Unavailable("no GET"); }
  Result<std::string> PostForm(const std::string& url, const std::string& body,
                               const std::vector<std::string>& headers) override {
    ++posts;
    last_body = body;
    last_headers = headers;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (fail) return Status::Unavailable(url + " is down");
    return answer;
  }
  std::atomic<int> posts{0};
  std::string answer;
  bool fail = false;
  std::chrono::milliseconds delay{0};
  std::string last_body;
  std::vector<std::string> last_headers;
};

// A JWT authenticator stand-in: counts the tokens handed to it.
class CountingJwt : public Authenticator {
 public:
  AuthResult Authenticate(std::string_view, bool) override {
    ++calls;
    return Ok();
  }
  int calls = 0;
};

struct Harness {
  explicit Harness(Authenticator* jwt = nullptr, int cache_seconds = 60) {
    auto f = std::make_unique<ScriptedFetcher>();
    fetcher = f.get();
    IntrospectionOptions o;
    o.url = "https://as.example/introspect";
    o.client_id = "kiln";
    o.client_secret = "s3cr:t";
    o.cache_ttl = std::chrono::seconds(cache_seconds);
    o.rules = Rules();
    auth = std::make_unique<IntrospectingAuthenticator>(std::move(o), std::move(f), jwt,
                                                        [this] { return now_micros.load(); });
  }
  AuthResult Auth(const std::string& token, bool may_block = true) {
    return auth->Authenticate("Bearer " + token, may_block);
  }
  std::atomic<int64_t> now_micros{kNow * 1000000};
  ScriptedFetcher* fetcher = nullptr;
  std::unique_ptr<IntrospectingAuthenticator> auth;
};

TEST(IntrospectingAuthenticatorTest, PostsTheTokenWithBasicClientAuth) {
  Harness h;
  h.fetcher->answer = Active();
  EXPECT_EQ(h.Auth("tok+/=", false).kind, AuthResult::Kind::kRetryOffIoThread);
  EXPECT_EQ(h.fetcher->posts, 0);
  EXPECT_EQ(h.Auth("tok+/=").kind, AuthResult::Kind::kOk);
  EXPECT_EQ(h.fetcher->last_body, "token=tok%2B%2F%3D&token_type_hint=access_token");
  ASSERT_EQ(h.fetcher->last_headers.size(), 1u);
  // base64("kiln:s3cr%3At"): the secret is form-encoded first (RFC 6749 section 2.3.1).
  EXPECT_EQ(h.fetcher->last_headers[0], "Authorization: Basic a2lsbjpzM2NyJTNBdA==");
}

TEST(IntrospectingAuthenticatorTest, CachesWithinTheBoundAndNeverPastExp) {
  Harness h;
  h.fetcher->answer = Active();  // exp = kNow + 300
  ASSERT_EQ(h.Auth("a").kind, AuthResult::Kind::kOk);
  EXPECT_EQ(h.Auth("a", false).kind, AuthResult::Kind::kOk);  // cached: no retry needed
  EXPECT_EQ(h.fetcher->posts, 1);
  h.now_micros += 61 * 1000000LL;  // past the 60 s bound
  EXPECT_EQ(h.Auth("a", false).kind, AuthResult::Kind::kRetryOffIoThread);

  // An answer whose exp comes before the bound is cached until exp only.
  Harness g;
  g.fetcher->answer = std::string(R"({"active":true,"aud":")") + kAud + R"(","exp":)" +
                      std::to_string(kNow + 5) + "}";
  ASSERT_EQ(g.Auth("b").kind, AuthResult::Kind::kOk);
  g.now_micros += 4 * 1000000LL;
  EXPECT_EQ(g.Auth("b", false).kind, AuthResult::Kind::kOk);
  g.now_micros += 1 * 1000000LL;
  EXPECT_EQ(g.Auth("b", false).kind, AuthResult::Kind::kRetryOffIoThread);
}

TEST(IntrospectingAuthenticatorTest, InactiveAnswersAreCachedBriefly) {
  Harness h;
  h.fetcher->answer = R"({"active":false})";
  AuthResult r = h.Auth("gone");
  ASSERT_EQ(r.kind, AuthResult::Kind::kRejected);
  EXPECT_EQ(r.status.error(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(h.Auth("gone", false).kind, AuthResult::Kind::kRejected);
  EXPECT_EQ(h.fetcher->posts, 1);
  h.now_micros += 10 * 1000000LL;
  EXPECT_EQ(h.Auth("gone", false).kind, AuthResult::Kind::kRetryOffIoThread);
}

TEST(IntrospectingAuthenticatorTest, ZeroCacheSecondsMeansEveryRequestIntrospects) {
  Harness h(nullptr, 0);
  h.fetcher->answer = Active();
  EXPECT_EQ(h.Auth("a").kind, AuthResult::Kind::kOk);
  EXPECT_EQ(h.Auth("a", false).kind, AuthResult::Kind::kRetryOffIoThread);
}

TEST(IntrospectingAuthenticatorTest, FailuresAreUnavailableAndPauseFurtherCalls) {
  Harness h;
  h.fetcher->fail = true;
  AuthResult r = h.Auth("a");
  ASSERT_EQ(r.kind, AuthResult::Kind::kRejected);
  EXPECT_EQ(r.status.error(), ErrorCode::kUnavailable);
  // Within the pause: 503 at once, even on the I/O thread, without calling.
  r = h.Auth("other", false);
  EXPECT_EQ(r.kind, AuthResult::Kind::kRejected);
  EXPECT_EQ(r.status.error(), ErrorCode::kUnavailable);
  EXPECT_EQ(h.fetcher->posts, 1);
  h.now_micros += 1'100'000;
  h.fetcher->fail = false;
  h.fetcher->answer = "garbage";
  r = h.Auth("a");
  EXPECT_EQ(r.status.error(), ErrorCode::kUnavailable);
  EXPECT_EQ(h.fetcher->posts, 2);
  h.now_micros += 1'100'000;
  h.fetcher->answer = Active();
  EXPECT_EQ(h.Auth("a").kind, AuthResult::Kind::kOk);  // recovered; failures were not cached
}

TEST(IntrospectingAuthenticatorTest, ConcurrentMissesShareOneCall) {
  Harness h;
  h.fetcher->answer = Active();
  h.fetcher->delay = std::chrono::milliseconds(200);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      if (h.Auth("same").kind == AuthResult::Kind::kOk) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(h.fetcher->posts, 1);
}

TEST(IntrospectingAuthenticatorTest, JwtsGoToTheJwtAuthenticator) {
  CountingJwt jwt;
  Harness h(&jwt);
  h.fetcher->answer = Active();
  EXPECT_EQ(h.Auth("aaa.bbb.ccc").kind, AuthResult::Kind::kOk);
  EXPECT_EQ(jwt.calls, 1);
  EXPECT_EQ(h.fetcher->posts, 0);
  EXPECT_EQ(h.Auth("opaque").kind, AuthResult::Kind::kOk);
  EXPECT_EQ(h.Auth("a.b.c.d").kind, AuthResult::Kind::kOk);  // not a JWS: introspected
  EXPECT_EQ(jwt.calls, 1);
  EXPECT_EQ(h.fetcher->posts, 2);
}

TEST(IntrospectingAuthenticatorTest, BadHeadersNeverReachTheEndpoint) {
  Harness h;
  h.fetcher->answer = Active();
  for (const char* header : {"", "Bearer", "Basic abc", "Bearer a\"b", "Bearer =abc"}) {
    AuthResult r = h.auth->Authenticate(header, true);
    EXPECT_EQ(r.kind, AuthResult::Kind::kRejected) << header;
    EXPECT_EQ(r.status.error(), ErrorCode::kUnauthenticated) << header;
  }
  EXPECT_EQ(h.fetcher->posts, 0);
}

}  // namespace
}  // namespace kiln::auth
