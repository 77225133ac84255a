// Multi-tenancy in the REST layer (rest/tenancy.h): the tenant prefix of a URL, which tenant a
// request acts in for each mode, and paging cursors bound to tenant and caller.
#include "rest/tenancy.h"

#include <gtest/gtest.h>

#include "rest/router.h"

namespace kiln::rest {
namespace {

TEST(Tenancy, ParsesModes) {
  EXPECT_EQ(ParseTenancyMode("off"), TenancyMode::kOff);
  EXPECT_EQ(ParseTenancyMode("url"), TenancyMode::kUrl);
  EXPECT_EQ(ParseTenancyMode("claim"), TenancyMode::kClaim);
  EXPECT_EQ(ParseTenancyMode("url+claim"), TenancyMode::kUrlAndClaim);
  EXPECT_FALSE(ParseTenancyMode("URL"));
  EXPECT_FALSE(ParseTenancyMode(""));
  EXPECT_FALSE(ParseTenancyMode("claim+url"));
}

TEST(Tenancy, SplitsTheTenantPrefixAfterTheBase) {
  TenantPrefix p = SplitTenantPrefix("/fhir/tenant/a-1/Patient/7?name=x", "/fhir");
  EXPECT_TRUE(p.present);
  EXPECT_EQ(p.id, "a-1");
  EXPECT_EQ(p.target, "/fhir/Patient/7?name=x");

  p = SplitTenantPrefix("/fhir/tenant/a", "/fhir");  // the tenant's base: system interactions
  EXPECT_TRUE(p.present);
  EXPECT_EQ(p.id, "a");
  EXPECT_EQ(p.target, "/fhir");

  p = SplitTenantPrefix("/fhir/tenant/a?_type=Patient", "/fhir");
  EXPECT_EQ(p.id, "a");
  EXPECT_EQ(p.target, "/fhir?_type=Patient");

  p = SplitTenantPrefix("/fhir/tenant/a/", "/fhir");
  EXPECT_EQ(p.target, "/fhir/");

  p = SplitTenantPrefix("/fhir/tenant", "/fhir");  // no id: present, but empty
  EXPECT_TRUE(p.present);
  EXPECT_EQ(p.id, "");
  p = SplitTenantPrefix("/fhir/tenant//Patient", "/fhir");
  EXPECT_TRUE(p.present);
  EXPECT_EQ(p.id, "");

  p = SplitTenantPrefix("/fhir/tenant/a%2Fb/Patient", "/fhir");  // kept as written
  EXPECT_EQ(p.id, "a%2Fb");

  EXPECT_FALSE(SplitTenantPrefix("/fhir/Patient/tenant", "/fhir").present);
  EXPECT_FALSE(SplitTenantPrefix("/fhir/tenants/a", "/fhir").present);
  EXPECT_FALSE(SplitTenantPrefix("/other/tenant/a", "/fhir").present);
  EXPECT_FALSE(SplitTenantPrefix("/tenant/a/Patient", "/fhir").present);
}

TEST(Tenancy, TheRouterSeesThePathWithoutThePrefix) {
  TenantPrefix p = SplitTenantPrefix("/fhir/tenant/a/Patient/7/_history/2", "/fhir");
  RouteResult r = Route("GET", p.target, "/fhir");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.interaction.route->kind, InteractionKind::kVRead);
  EXPECT_EQ(r.interaction.path, "Patient/7/_history/2");  // links are [tenant base]/path
  // Without a prefix, "tenant" is no resource type.
  EXPECT_EQ(Route("GET", "/fhir/tenant/a/Patient", "/fhir").status.error(), ErrorCode::kNotFound);
}

TEST(Tenancy, ValidatesTenantIds) {
  EXPECT_TRUE(IsValidTenantId("a"));
  EXPECT_TRUE(IsValidTenantId("Tenant-1.prod"));
  EXPECT_TRUE(IsValidTenantId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidTenantId(""));
  EXPECT_FALSE(IsValidTenantId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidTenantId("a_b"));
  EXPECT_FALSE(IsValidTenantId("a/b"));
  EXPECT_FALSE(IsValidTenantId("a%2Fb"));
  EXPECT_FALSE(IsValidTenantId("."));
  EXPECT_FALSE(IsValidTenantId(".."));
  EXPECT_TRUE(IsValidTenantId("..."));
}

TenancyOptions Mode(TenancyMode mode, std::vector<std::string> tenants = {}) {
  TenancyOptions o;
  o.mode = mode;
  o.tenants = std::move(tenants);
  o.claim = "custom:tenantId";
  return o;
}

TenantPrefix Url(std::string id) {
  TenantPrefix p;
  p.present = true;
  p.id = std::move(id);
  return p;
}

TEST(Tenancy, OffIsTheDefaultTenantWhateverTheTokenSays) {
  auto t = ResolveTenant(Mode(TenancyMode::kOff), TenantPrefix{}, "b");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, kDefaultTenant);
}

TEST(Tenancy, UrlMode) {
  const TenancyOptions o = Mode(TenancyMode::kUrl);
  auto t = ResolveTenant(o, Url("a"), "");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "a");
  // The claim is not looked at in url mode.
  EXPECT_EQ(*ResolveTenant(o, Url("a"), "b"), "a");
  // `default` is an ordinary tenant: the data of --tenancy off.
  EXPECT_EQ(*ResolveTenant(o, Url("default"), ""), "default");

  auto missing = ResolveTenant(o, TenantPrefix{}, "a");
  EXPECT_EQ(missing.status().error(), ErrorCode::kInvalid);
  EXPECT_NE(missing.status().message().find("[base]/tenant/{id}"), std::string::npos);
  EXPECT_EQ(ResolveTenant(o, Url(""), "").status().error(), ErrorCode::kInvalid);
  auto bad = ResolveTenant(o, Url("a_b"), "");
  EXPECT_EQ(bad.status().error(), ErrorCode::kInvalid);
  EXPECT_NE(bad.status().message().find("Invalid tenant id 'a_b'"), std::string::npos);
}

TEST(Tenancy, TheListOfTenantsMakesOthersUnknown) {
  const TenancyOptions o = Mode(TenancyMode::kUrl, {"a", "b"});
  EXPECT_TRUE(ResolveTenant(o, Url("b"), "").ok());
  auto unknown = ResolveTenant(o, Url("c"), "");
  EXPECT_EQ(unknown.status().error(), ErrorCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "Tenant 'c' is not known");
  // In a token, an unserved tenant is refused.
  const TenancyOptions claims = Mode(TenancyMode::kClaim, {"a"});
  EXPECT_EQ(ResolveTenant(claims, TenantPrefix{}, "c").status().error(), ErrorCode::kForbidden);
}

TEST(Tenancy, ClaimMode) {
  const TenancyOptions o = Mode(TenancyMode::kClaim);
  EXPECT_EQ(*ResolveTenant(o, TenantPrefix{}, "a"), "a");
  auto none = ResolveTenant(o, TenantPrefix{}, "");
  EXPECT_EQ(none.status().error(), ErrorCode::kForbidden);
  EXPECT_NE(none.status().message().find("custom:tenantId"), std::string::npos);
  EXPECT_EQ(ResolveTenant(o, TenantPrefix{}, "a/b").status().error(), ErrorCode::kForbidden);
}

TEST(Tenancy, UrlAndClaimMustAgree) {
  const TenancyOptions o = Mode(TenancyMode::kUrlAndClaim);
  EXPECT_EQ(*ResolveTenant(o, Url("a"), "a"), "a");
  auto disagree = ResolveTenant(o, Url("a"), "b");
  EXPECT_EQ(disagree.status().error(), ErrorCode::kForbidden);
  EXPECT_NE(disagree.status().message().find("not the tenant in the URL ('a')"), std::string::npos);
  EXPECT_EQ(ResolveTenant(o, Url("a"), "").status().error(), ErrorCode::kForbidden);
  // The URL is checked first: a missing or malformed one is the client's error.
  EXPECT_EQ(ResolveTenant(o, TenantPrefix{}, "a").status().error(), ErrorCode::kInvalid);
  EXPECT_EQ(ResolveTenant(o, Url("a b"), "a").status().error(), ErrorCode::kInvalid);
}

TEST(Tenancy, TenantBaseUrls) {
  EXPECT_EQ(TenantBaseUrl(Mode(TenancyMode::kUrl), "http://x/fhir", "a"), "http://x/fhir/tenant/a");
  EXPECT_EQ(TenantBaseUrl(Mode(TenancyMode::kUrlAndClaim), "http://x/fhir", "a"),
            "http://x/fhir/tenant/a");
  EXPECT_EQ(TenantBaseUrl(Mode(TenancyMode::kClaim), "http://x/fhir", "a"), "http://x/fhir");
}

Principal Caller(std::string sub, std::string client = "app") {
  Principal p;
  p.authenticated = true;
  p.issuer = "https://as.example";
  p.subject = std::move(sub);
  p.client_id = std::move(client);
  return p;
}

// HMAC-SHA256 with key "Jefe" (RFC 4231 test case 2's key) of "what do ya want\0for nothing?",
// computed with Python's hmac module.
constexpr const char* kJefeMac = "adf13648edae17564744ff0aef28b138a329fa4a8104ff63388d270cef395d2b";

TEST(CursorKey, IsHmacSha256) {
  // HMAC zero-pads a short key to the block size, so the 32-byte key "Jefe" + 28 zero bytes
  // gives the MAC of the key "Jefe".
  std::array<unsigned char, 32> secret{'J', 'e', 'f', 'e'};
  const CursorKey key(secret);
  // Mac(a, b) is the MAC of a, NUL, b.
  std::array<unsigned char, 32> mac = key.Mac("what do ya want", "for nothing?");
  std::string hex;
  for (unsigned char c : mac) {
    hex += "0123456789abcdef"[c >> 4];
    hex += "0123456789abcdef"[c & 0xf];
  }
  EXPECT_EQ(hex, kJefeMac);
}

TEST(CursorSeal, InactivePassesCursorsThrough) {
  CursorSeal seal;
  EXPECT_FALSE(seal.active());
  EXPECT_EQ(seal.Seal("k.i5.r9"), "k.i5.r9");
  EXPECT_EQ(*seal.Open("anything"), "anything");
}

TEST(CursorSeal, OpensWhatItSealed) {
  const CursorKey key;
  CursorSeal seal(key, CursorBinding("a", Caller("alice")));
  ASSERT_TRUE(seal.active());
  for (std::string cursor : {"k.i5.r9", "bend", "b.k.s616263.r12", "17"}) {
    std::string sealed = seal.Seal(cursor);
    EXPECT_NE(sealed, cursor);
    EXPECT_EQ(sealed.size(), cursor.size() + 33);
    // Only characters that need no escaping in a URL's query.
    for (char c : sealed) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '.');
    auto opened = seal.Open(sealed);
    ASSERT_TRUE(opened.ok()) << cursor;
    EXPECT_EQ(*opened, cursor);
  }
  EXPECT_EQ(seal.Seal(""), "");  // no cursor: the first page
}

TEST(CursorSeal, RefusesCursorsOfAnotherTenantOrCaller) {
  const CursorKey key;
  const CursorSeal alice_a(key, CursorBinding("a", Caller("alice")));
  const std::string sealed = alice_a.Seal("k.i5.r9");
  const CursorSeal alice_b(key, CursorBinding("b", Caller("alice")));
  const CursorSeal bob_a(key, CursorBinding("a", Caller("bob")));
  const CursorSeal other_client(key, CursorBinding("a", Caller("alice", "other-app")));
  for (const CursorSeal* other : {&alice_b, &bob_a, &other_client}) {
    auto opened = other->Open(sealed);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().error(), ErrorCode::kInvalid);
    EXPECT_NE(opened.status().message().find("not issued to this caller in this tenant"),
              std::string::npos);
  }
  // Another run of the server (another key) does not open it either.
  const CursorKey other_key;
  EXPECT_FALSE(CursorSeal(other_key, CursorBinding("a", Caller("alice"))).Open(sealed).ok());
}

TEST(CursorSeal, RefusesForgedAndBareCursors) {
  const CursorKey key;
  const CursorSeal seal(key, CursorBinding("a", Caller("alice")));
  const std::string sealed = seal.Seal("k.i5.r9");
  EXPECT_FALSE(seal.Open("k.i5.r9").ok());  // the store's own cursor, without a seal
  EXPECT_FALSE(seal.Open("").ok());
  EXPECT_FALSE(seal.Open(sealed.substr(0, 32)).ok());
  std::string moved = sealed;
  moved.back() = '8';  // another position under the same tag
  EXPECT_FALSE(seal.Open(moved).ok());
  std::string tag = sealed;
  tag[0] = tag[0] == '0' ? '1' : '0';
  EXPECT_FALSE(seal.Open(tag).ok());
  EXPECT_FALSE(seal.Open(sealed.substr(0, 32) + "x" + sealed.substr(33)).ok());
}

TEST(CursorSeal, BindingSeparatesItsFields) {
  Principal one = Caller("ab", "c");
  Principal two = Caller("a", "bc");
  EXPECT_NE(CursorBinding("t", one), CursorBinding("t", two));
  EXPECT_NE(CursorBinding("t", Principal{}), CursorBinding("u", Principal{}));
}

TEST(CursorSeal, OpensEveryCursorParameter) {
  const CursorKey key;
  const CursorSeal seal(key, CursorBinding("a", Principal{}));
  std::vector<std::pair<std::string, std::string>> params = {
      {"name", "x"}, {"_cursor", seal.Seal("k.i1.r2")}, {"_count", "5"}};
  ASSERT_TRUE(OpenCursorParams(seal, params).ok());
  EXPECT_EQ(params[1].second, "k.i1.r2");
  EXPECT_EQ(params[0].second, "x");
  std::vector<std::pair<std::string, std::string>> bare = {{"_cursor", "k.i1.r2"}};
  EXPECT_EQ(OpenCursorParams(seal, bare).error(), ErrorCode::kInvalid);
  EXPECT_TRUE(OpenCursorParams(CursorSeal(), bare).ok());
  EXPECT_EQ(bare[0].second, "k.i1.r2");
}

}  // namespace
}  // namespace kiln::rest
