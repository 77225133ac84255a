// Multi-tenancy in the REST layer (docs/tenants.md): which tenant a request acts in, taken from
// the URL (`[base]/tenant/{id}/...`, as FHIR Works on AWS does), from the token's tenant claim,
// or from both (which must then agree); and paging cursors bound to that tenant and to the
// caller, so that a `next` link cannot be replayed in another tenant or by another caller.
//
// The store keys every row by tenant (include/kiln/store.h); everything here decides which
// tenant that is, before anything is read or written. Pure functions and immutable values;
// thread-safe. A CursorSeal borrows the server's key, which must outlive it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/context.h"
#include "kiln/status.h"

struct evp_md_st;  // OpenSSL's EVP_MD (openssl/types.h), kept out of this header

namespace kiln::rest {

// Where the tenant comes from (--tenancy).
enum class TenancyMode : uint8_t {
  kOff,          // one tenant, "default"; no URL prefix, the tenant claim is only recorded
  kUrl,          // [base]/tenant/{id}/... on every FHIR request
  kClaim,        // the token's tenant claim (--auth-tenant-claim); no URL prefix
  kUrlAndClaim,  // both, and they must agree
};

// "off", "url", "claim", "url+claim"; nullopt for anything else.
std::optional<TenancyMode> ParseTenancyMode(std::string_view text);
inline bool TenantFromUrl(TenancyMode m) {
  return m == TenancyMode::kUrl || m == TenancyMode::kUrlAndClaim;
}
inline bool TenantFromClaim(TenancyMode m) {
  return m == TenancyMode::kClaim || m == TenancyMode::kUrlAndClaim;
}

struct TenancyOptions {
  TenancyMode mode = TenancyMode::kOff;
  // The tenants this server serves (--tenants); empty: any valid tenant id. A tenant not in the
  // list is a 404 in the URL, a 403 in a token.
  std::vector<std::string> tenants;
  std::string claim;  // the token claim's name (--auth-tenant-claim), for messages
};

// A tenant id has the form of a FHIR id (1-64 characters of A-Z, a-z, 0-9, '-' and '.'), and is
// not "." or "..".
bool IsValidTenantId(std::string_view id);

// The `/tenant/{id}` segments right after the base path of a request target, if there are any.
struct TenantPrefix {
  bool present = false;  // the target is [base]/tenant or [base]/tenant/...
  std::string id;        // the segment after "tenant", as written (not validated; may be empty)
  std::string target;    // the target without "/tenant/{id}" ("/fhir/tenant/a/Patient?x" ->
                         // "/fhir/Patient?x"); only when present
};
TenantPrefix SplitTenantPrefix(std::string_view target, std::string_view base_path);

// The tenant a request under the FHIR base acts in. `url` is what SplitTenantPrefix found (only
// looked at when the mode takes the tenant from the URL); `claim_tenant` is the token's tenant
// claim (Principal::tenant; "" when absent). Errors, each with an OperationOutcome naming the
// problem: 400 for a missing or malformed tenant in the URL, 404 for a URL tenant that is not
// served, 403 for a token without a (valid, served) tenant or one that disagrees with the URL's.
Result<std::string> ResolveTenant(const TenancyOptions& options, const TenantPrefix& url,
                                  std::string_view claim_tenant);

// The base URL of a tenant's links: `base_url`/tenant/{tenant} when the tenant came in the
// URL, `base_url` otherwise.
std::string TenantBaseUrl(const TenancyOptions& options, const std::string& base_url,
                          std::string_view tenant);

// The server's secret for sealing cursors, 256 bits, and the HMAC-SHA256 it keys. The server
// keeps it in a file (LoadCursorSecret), so that links survive a restart and several servers can
// share it. The HMAC is computed
// from the key's precomputed pad blocks with a SHA-256 fetched once: OpenSSL's one-shot HMAC()
// looks the algorithm up on every call and cost ten times as much (3 us against 0.3 us per MAC).
// Immutable after construction; thread-safe.
class CursorKey {
 public:
  CursorKey();  // a random key
  explicit CursorKey(const std::array<unsigned char, 32>& secret);
  ~CursorKey();
  CursorKey(const CursorKey&) = delete;
  CursorKey& operator=(const CursorKey&) = delete;

  // HMAC-SHA256 of `a`, a NUL, then `b`.
  std::array<unsigned char, 32> Mac(std::string_view a, std::string_view b) const;

 private:
  ::evp_md_st* sha256_ = nullptr;  // SHA-256, fetched once
  std::array<unsigned char, 64> inner_pad_{};
  std::array<unsigned char, 64> outer_pad_{};
};

// The cursor secret kept in the file at `path`: 64 hex digits (a trailing newline is fine). With
// `create`, a missing file is created with 256 random bits, readable by its owner only (written
// to a temporary file and renamed, so a crash leaves no half-written key). Errors name the file:
// missing (without `create`), unreadable, or not 64 hex digits.
Result<std::array<unsigned char, 32>> LoadCursorSecret(const std::string& path, bool create);

// Paging cursors bound to a tenant and a caller: Seal prefixes the store's cursor with a MAC
// (HMAC-SHA256, truncated to 128 bits, in hex) of the binding and the cursor; Open checks it and
// gives the store's cursor back, or a 400 that says the link belongs to another tenant or caller.
// An inactive seal (default-constructed: one tenant, no authentication, nothing to bind) passes
// cursors through unchanged. Copyable; borrows the key.
class CursorSeal {
 public:
  CursorSeal() = default;
  // `binding` names the tenant and the caller (CursorBinding).
  CursorSeal(const CursorKey& key, std::string binding)
      : key_(&key), binding_(std::move(binding)) {}

  bool active() const { return key_ != nullptr; }
  std::string Seal(std::string_view cursor) const;
  Result<std::string> Open(std::string_view sealed) const;

 private:
  std::string Tag(std::string_view cursor) const;

  const CursorKey* key_ = nullptr;
  std::string binding_;
};

// Opens every `_cursor` among `params` in place (the first failure is returned: 400).
Status OpenCursorParams(const CursorSeal& seal,
                        std::vector<std::pair<std::string, std::string>>& params);

// What a cursor is bound to: the tenant and who the caller is (issuer, subject, client).
std::string CursorBinding(std::string_view tenant, const Principal& caller);

// Where a response's links point: the base URL the request was made against ([base], or
// [base]/tenant/{id}) and the seal of its paging cursors.
struct LinkBase {
  std::string base_url;
  CursorSeal seal;
};

}  // namespace kiln::rest
