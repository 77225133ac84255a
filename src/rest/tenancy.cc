#include "rest/tenancy.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

#include "core/ids.h"
#include "core/strings.h"

namespace kiln::rest {
namespace {

constexpr size_t kTagBytes = 16;             // of the HMAC-SHA256: 128 bits
constexpr size_t kTagChars = 2 * kTagBytes;  // in hex
constexpr char kHex[] = "0123456789abcdef";

std::array<unsigned char, 32> RandomSecret() {
  std::array<unsigned char, 32> secret{};
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  return secret;
}

Status TenantForbidden(std::string message) {
  return Status(ErrorCode::kForbidden, "forbidden", std::move(message));
}

bool Served(const TenancyOptions& options, std::string_view tenant) {
  return options.tenants.empty() ||
         std::find(options.tenants.begin(), options.tenants.end(), tenant) != options.tenants.end();
}

}  // namespace

std::optional<TenancyMode> ParseTenancyMode(std::string_view text) {
  if (text == "off") return TenancyMode::kOff;
  if (text == "url") return TenancyMode::kUrl;
  if (text == "claim") return TenancyMode::kClaim;
  if (text == "url+claim") return TenancyMode::kUrlAndClaim;
  return std::nullopt;
}

bool IsValidTenantId(std::string_view id) {
  // "." and ".." are ids, but as URL path segments they would be dot-segments: a client that
  // normalises [base]/tenant/../Patient would leave the tenant's base.
  return core::IsValidId(id) && id != "." && id != "..";
}

TenantPrefix SplitTenantPrefix(std::string_view target, std::string_view base_path) {
  TenantPrefix out;
  while (!base_path.empty() && base_path.back() == '/') base_path.remove_suffix(1);
  if (!target.starts_with(base_path)) return out;
  std::string_view rest = target.substr(base_path.size());
  constexpr std::string_view kSegment = "/tenant";
  if (!rest.starts_with(kSegment)) return out;
  rest.remove_prefix(kSegment.size());
  if (!rest.empty() && rest.front() != '/' && rest.front() != '?') return out;  // "/tenants"
  out.present = true;
  if (!rest.empty() && rest.front() == '/') {
    rest.remove_prefix(1);
    size_t end = rest.find_first_of("/?");
    out.id = std::string(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  out.target = std::string(base_path);
  out.target += rest;
  return out;
}

Result<std::string> ResolveTenant(const TenancyOptions& options, const TenantPrefix& url,
                                  std::string_view claim_tenant) {
  if (options.mode == TenancyMode::kOff) return std::string(kDefaultTenant);
  std::string tenant;
  if (TenantFromUrl(options.mode)) {
    if (!url.present || url.id.empty())
      return Status(ErrorCode::kInvalid, "required",
                    "This server keeps data per tenant: requests go to [base]/tenant/{id}/..., "
                    "e.g. [base]/tenant/{id}/Patient");
    if (!IsValidTenantId(url.id))
      return Status::Invalid("Invalid tenant id '" + url.id +
                             "': a tenant id is 1-64 characters of A-Z, a-z, 0-9, '-' and '.' "
                             "(not '.' or '..')");
    if (!Served(options, url.id)) return Status::NotFound("Tenant '" + url.id + "' is not known");
    tenant = url.id;
  }
  if (TenantFromClaim(options.mode)) {
    if (claim_tenant.empty())
      return TenantForbidden("The token names no tenant (claim '" + options.claim +
                             "'); this server keeps data per tenant");
    if (!IsValidTenantId(claim_tenant) || !Served(options, claim_tenant))
      return TenantForbidden("The token's tenant (claim '" + options.claim +
                             "') is not a tenant of this server");
    if (!tenant.empty() && tenant != claim_tenant)
      return TenantForbidden("The token's tenant (claim '" + options.claim +
                             "') is not the tenant in the URL ('" + tenant + "')");
    tenant = std::string(claim_tenant);
  }
  return tenant;
}

std::string TenantBaseUrl(const TenancyOptions& options, const std::string& base_url,
                          std::string_view tenant) {
  if (!TenantFromUrl(options.mode)) return base_url;
  std::string url = base_url;
  url += "/tenant/";
  url += tenant;
  return url;
}

Result<std::array<unsigned char, 32>> LoadCursorSecret(const std::string& path, bool create) {
  auto bad = [&](const std::string& why) {
    return Status::Invalid("the paging cursor key file " + path + " " + why);
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!create || errno != ENOENT) return bad(std::string("cannot be read: ") + std::strerror(errno));
    std::array<unsigned char, 32> secret = RandomSecret();
    std::string text;
    for (unsigned char b : secret) {
      text += kHex[b >> 4];
      text += kHex[b & 15];
    }
    text += '\n';
    const std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return bad(std::string("cannot be created: ") + std::strerror(errno));
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              ::fsync(fd) == 0;
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
      std::string why = std::strerror(errno);
      ::unlink(tmp.c_str());
      return bad("cannot be written: " + why);
    }
    return secret;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::array<unsigned char, 32> secret{};
  if (text.size() != 64) return bad("must hold 64 hex digits (256 bits)");
  for (size_t i = 0; i < 32; ++i) {
    int hi = core::HexDigitValue(text[2 * i]), lo = core::HexDigitValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return bad("must hold 64 hex digits (256 bits)");
    secret[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return secret;
}

CursorKey::CursorKey() : CursorKey(RandomSecret()) {}

CursorKey::CursorKey(const std::array<unsigned char, 32>& secret)
    : sha256_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
  if (sha256_ == nullptr) throw std::runtime_error("OpenSSL has no SHA256");
  // RFC 2104: the key, zero-padded to SHA-256's 64-byte block, XOR 0x36 (inner) and 0x5c (outer).
  for (size_t i = 0; i < inner_pad_.size(); ++i) {
    unsigned char k = i < secret.size() ? secret[i] : 0;
    inner_pad_[i] = k ^ 0x36;
    outer_pad_[i] = k ^ 0x5c;
  }
}

CursorKey::~CursorKey() { EVP_MD_free(sha256_); }

std::array<unsigned char, 32> CursorKey::Mac(std::string_view a, std::string_view b) const {
  std::array<unsigned char, 32> inner{};
  std::array<unsigned char, 32> mac{};
  unsigned int size = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  const unsigned char nul = 0;
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), sha256_, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), inner_pad_.data(), inner_pad_.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), &nul, 1) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), inner.data(), &size) != 1 ||
      EVP_DigestInit_ex(ctx.get(), sha256_, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), outer_pad_.data(), outer_pad_.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), inner.data(), inner.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), mac.data(), &size) != 1)
    throw std::runtime_error("OpenSSL SHA-256 failed");
  return mac;
}
std::string CursorBinding(std::string_view tenant, const Principal& caller) {
  // NUL-separated: no field can contain a NUL (tenant ids are [A-Za-z0-9-.]; claims are JSON
  // strings, and a token's NUL would only make its own binding differ).
  std::string binding;
  binding.reserve(tenant.size() + caller.issuer.size() + caller.subject.size() +
                  caller.client_id.size() + 3);
  binding += tenant;
  binding += '\0';
  binding += caller.issuer;
  binding += '\0';
  binding += caller.subject;
  binding += '\0';
  binding += caller.client_id;
  return binding;
}

std::string CursorSeal::Tag(std::string_view cursor) const {
  const std::array<unsigned char, 32> mac = key_->Mac(binding_, cursor);
  std::string tag(kTagChars, '0');
  for (size_t i = 0; i < kTagBytes; ++i) {
    tag[2 * i] = kHex[mac[i] >> 4];
    tag[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return tag;
}

std::string CursorSeal::Seal(std::string_view cursor) const {
  if (!active() || cursor.empty()) return std::string(cursor);
  std::string sealed = Tag(cursor);
  sealed += '.';
  sealed += cursor;
  return sealed;
}

Result<std::string> CursorSeal::Open(std::string_view sealed) const {
  if (!active()) return std::string(sealed);
  if (sealed.size() > kTagChars && sealed[kTagChars] == '.') {
    std::string_view cursor = sealed.substr(kTagChars + 1);
    std::string expected = Tag(cursor);
    if (CRYPTO_memcmp(expected.data(), sealed.data(), kTagChars) == 0) return std::string(cursor);
  }
  return Status(ErrorCode::kInvalid, "invalid",
                "_cursor: this paging link was not issued to this caller in this tenant (or "
                "was issued before the server restarted); repeat the search to page it again",
                "_cursor");
}

Status OpenCursorParams(const CursorSeal& seal,
                        std::vector<std::pair<std::string, std::string>>& params) {
  if (!seal.active()) return Status::Ok();
  for (auto& [name, value] : params) {
    if (name != "_cursor") continue;
    auto opened = seal.Open(value);
    if (!opened.ok()) return opened.take_status();
    value = std::move(opened).value();
  }
  return Status::Ok();
}

}  // namespace kiln::rest
