#include "auth/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "auth/base64url.h"

namespace kiln::auth {
namespace {

constexpr int kMinRsaBits = 2048;

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

Status BadKey(const std::string& what) { return Status::Invalid("JWK: " + what); }

// A required base64url member of the JWK, decoded.
Result<std::string> Member(const boost::json::object& jwk, const char* name) {
  const boost::json::value* v = jwk.if_contains(name);
  if (v == nullptr || !v->is_string()) return BadKey(std::string("'") + name + "' is missing");
  auto bytes = DecodeBase64Url(std::string_view(v->get_string()));
  if (!bytes || bytes->empty()) return BadKey(std::string("'") + name + "' is not base64url");
  return std::move(*bytes);
}

std::string_view StringMember(const boost::json::object& o, const char* name) {
  const boost::json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// The key from OSSL_PARAMs, as EVP_PKEY_fromdata builds it ("RSA" or "EC").
Result<EVP_PKEY*> FromParams(const char* key_type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, key_type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0 ||
      pkey == nullptr)
    return BadKey(std::string("OpenSSL does not accept the ") + key_type + " key");
  // fromdata takes the parts as given; public_check makes sure they form a sane key (for EC:
  // the point is on the curve, which defeats invalid-curve tricks).
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    EVP_PKEY_free(pkey);
    return BadKey(std::string("the ") + key_type + " public key fails OpenSSL's checks");
  }
  return pkey;
}

Result<EVP_PKEY*> RsaKey(const boost::json::object& jwk) {
  auto n = Member(jwk, "n");
  if (!n.ok()) return n.take_status();
  auto e = Member(jwk, "e");
  if (!e.ok()) return e.take_status();
  std::unique_ptr<BIGNUM, BnFree> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                                                 static_cast<int>(n->size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                                                 static_cast<int>(e->size()), nullptr));
  if (!bn_n || !bn_e) return BadKey("RSA parts cannot be read");
  if (BN_num_bits(bn_n.get()) < kMinRsaBits)
    return BadKey("RSA modulus of " + std::to_string(BN_num_bits(bn_n.get())) +
                  " bits is too short (at least 2048)");
  // e must be an odd number > 1 of modest size (every real key uses 65537).
  if (BN_num_bits(bn_e.get()) > 64 || !BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get()))
    return BadKey("RSA exponent is not usable");
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
    return BadKey("out of memory building an RSA key");
  return FromParams("RSA", bld.get());
}

Result<EVP_PKEY*> EcKey(const boost::json::object& jwk, KeyType& type) {
  std::string_view crv = StringMember(jwk, "crv");
  size_t width = 0;
  const char* group = nullptr;
  if (crv == "P-256") {
    type = KeyType::kEcP256;
    width = 32;
    group = "prime256v1";
  } else if (crv == "P-384") {
    type = KeyType::kEcP384;
    width = 48;
    group = "secp384r1";
  } else {
    return BadKey("EC curve '" + std::string(crv) + "' is not supported (P-256, P-384)");
  }
  auto x = Member(jwk, "x");
  if (!x.ok()) return x.take_status();
  auto y = Member(jwk, "y");
  if (!y.ok()) return y.take_status();
  if (x->size() != width || y->size() != width)
    return BadKey("EC coordinates must be " + std::to_string(width) + " bytes for " +
                  std::string(crv));
  // SEC 1 uncompressed point: 0x04 || x || y.
  std::string point = "\x04" + *x + *y;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size()))
    return BadKey("out of memory building an EC key");
  return FromParams("EC", bld.get());
}

const EVP_MD* DigestFor(Algorithm alg) {
  switch (alg) {
    case Algorithm::kRS256:
    case Algorithm::kPS256:
    case Algorithm::kES256:
      return EVP_sha256();
    case Algorithm::kRS384:
    case Algorithm::kES384:
      return EVP_sha384();
    case Algorithm::kRS512:
      return EVP_sha512();
  }
  return nullptr;
}

// JOSE's r || s (RFC 7518 section 3.4) -> the DER ECDSA-Sig-Value OpenSSL verifies.
std::optional<std::string> JoseToDer(std::string_view sig, size_t width) {
  if (sig.size() != 2 * width) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(p, static_cast<int>(width), nullptr);
  BIGNUM* s = BN_bin2bn(p + width, static_cast<int>(width), nullptr);
  if (!es || !r || !s || ECDSA_SIG_set0(es.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(es.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace

std::optional<Algorithm> AlgorithmFromName(std::string_view name) {
  if (name == "RS256") return Algorithm::kRS256;
  if (name == "RS384") return Algorithm::kRS384;
  if (name == "RS512") return Algorithm::kRS512;
  if (name == "PS256") return Algorithm::kPS256;
  if (name == "ES256") return Algorithm::kES256;
  if (name == "ES384") return Algorithm::kES384;
  return std::nullopt;
}

std::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kRS256:
      return "RS256";
    case Algorithm::kRS384:
      return "RS384";
    case Algorithm::kRS512:
      return "RS512";
    case Algorithm::kPS256:
      return "PS256";
    case Algorithm::kES256:
      return "ES256";
    case Algorithm::kES384:
      return "ES384";
  }
  return "";
}

Result<std::shared_ptr<const PublicKey>> PublicKey::FromJwk(const boost::json::object& jwk) {
  std::shared_ptr<PublicKey> key(new PublicKey());
  key->kid_ = std::string(StringMember(jwk, "kid"));
  if (key->kid_.empty()) return BadKey("a key without a 'kid' cannot be matched to tokens");
  // A key published for encryption, or for operations other than verify, is not a signing key.
  if (const auto* use = jwk.if_contains("use");
      use && !(use->is_string() && use->as_string() == "sig"))
    return BadKey("key '" + key->kid_ + "' is not for signatures (use)");
  if (const auto* ops = jwk.if_contains("key_ops")) {
    bool verify = false;
    if (ops->is_array())
      for (const auto& op : ops->as_array()) verify |= op.is_string() && op.as_string() == "verify";
    if (!verify) return BadKey("key '" + key->kid_ + "' is not for verify (key_ops)");
  }
  if (jwk.contains("d") || jwk.contains("p") || jwk.contains("k"))
    return BadKey("key '" + key->kid_ + "' carries private or secret parts; refusing it");
  if (const auto* alg = jwk.if_contains("alg")) {
    if (!alg->is_string()) return BadKey("key '" + key->kid_ + "' has a non-string alg");
    key->alg_ = AlgorithmFromName(std::string_view(alg->as_string()));
    if (!key->alg_)
      return BadKey("key '" + key->kid_ + "' is for algorithm '" + std::string(alg->as_string()) +
                    "', which Kiln does not accept");
  }
  std::string_view kty = StringMember(jwk, "kty");
  Result<EVP_PKEY*> pkey = Status::Invalid("unset");
  if (kty == "RSA") {
    key->type_ = KeyType::kRsa;
    pkey = RsaKey(jwk);
  } else if (kty == "EC") {
    pkey = EcKey(jwk, key->type_);
  } else {
    return BadKey("key '" + key->kid_ + "' has key type '" + std::string(kty) +
                  "' (only RSA and EC are accepted)");
  }
  if (!pkey.ok()) return pkey.take_status();
  key->pkey_ = *pkey;
  if (key->alg_ && !key->Accepts(*key->alg_))
    return BadKey("key '" + key->kid_ + "' names an algorithm that does not fit its type");
  return std::shared_ptr<const PublicKey>(std::move(key));
}

PublicKey::~PublicKey() { EVP_PKEY_free(pkey_); }

bool PublicKey::Accepts(Algorithm alg) const {
  if (alg_ && *alg_ != alg) return false;
  switch (alg) {
    case Algorithm::kRS256:
    case Algorithm::kRS384:
    case Algorithm::kRS512:
    case Algorithm::kPS256:
      return type_ == KeyType::kRsa;
    case Algorithm::kES256:
      return type_ == KeyType::kEcP256;
    case Algorithm::kES384:
      return type_ == KeyType::kEcP384;
  }
  return false;
}

bool PublicKey::Verify(Algorithm alg, std::string_view signing_input,
                       std::string_view signature) const {
  if (pkey_ == nullptr || !Accepts(alg)) return false;
  // RFC 8017 8.1.2 and 8.2.2, step 1: an RSA signature is exactly as long as the modulus. OpenSSL
  // reads a shorter one as a number, so one whose first byte is 0 verified without that byte too.
  if (type_ == KeyType::kRsa && signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey_)))
    return false;
  std::string der;
  std::string_view sig = signature;
  if (alg == Algorithm::kES256 || alg == Algorithm::kES384) {
    auto converted = JoseToDer(signature, alg == Algorithm::kES256 ? 32 : 48);
    if (!converted) return false;
    der = std::move(*converted);
    sig = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by `md`
  if (!md || EVP_DigestVerifyInit(md.get(), &pctx, DigestFor(alg), nullptr, pkey_) != 1)
    return false;
  if (alg == Algorithm::kPS256) {
    // RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1)
      return false;
  } else if (type_ == KeyType::kRsa) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  }
  return EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

const PublicKey* KeySet::Find(std::string_view kid) const {
  for (const auto& k : keys)
    if (k->kid() == kid) return k.get();
  return nullptr;
}

Result<KeySet> ParseJwks(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(json, ec);
  if (ec || !doc.is_object()) return Status::Invalid("The JWKS document is not a JSON object");
  const boost::json::value* keys = doc.as_object().if_contains("keys");
  if (keys == nullptr || !keys->is_array())
    return Status::Invalid("The JWKS document has no 'keys' array");
  KeySet set;
  std::vector<std::string> duplicate_kids;
  for (const boost::json::value& k : keys->as_array()) {
    if (!k.is_object()) {
      set.skipped.push_back("a key that is not a JSON object");
      continue;
    }
    auto key = PublicKey::FromJwk(k.as_object());
    if (!key.ok()) {
      set.skipped.push_back(key.status().message());
      continue;
    }
    // Two keys with one kid make the choice ambiguous: keep none of them.
    const std::string& kid = (*key)->kid();
    if (std::find(duplicate_kids.begin(), duplicate_kids.end(), kid) != duplicate_kids.end())
      continue;
    if (set.Find(kid) != nullptr) {
      duplicate_kids.push_back(kid);
      std::erase_if(set.keys, [&](const auto& p) { return p->kid() == kid; });
      set.skipped.push_back("kid '" + kid + "' appears more than once; all its keys ignored");
      continue;
    }
    set.keys.push_back(std::move(key).value());
  }
  return set;
}

}  // namespace kiln::auth
