// Test keys generated with OpenSSL at test time (no key material in the repository): a key pair,
// its public JWK, and JWS signatures in JOSE form, so the unit tests can mint tokens.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <stdexcept>
#include <string>

#include "auth/base64url.h"

namespace kiln::auth::testing {

class TestKey {
 public:
  enum class Kind { kRsa2048, kRsa1024, kP256, kP384 };

  explicit TestKey(Kind kind) : kind_(kind) {
    switch (kind) {
      case Kind::kRsa2048:
        pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
        break;
      case Kind::kRsa1024:
        pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024});
        break;
      case Kind::kP256:
        pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        break;
      case Kind::kP384:
        pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
        break;
    }
    if (pkey_ == nullptr) throw std::runtime_error("keygen failed");
  }
  ~TestKey() { EVP_PKEY_free(pkey_); }
  TestKey(const TestKey&) = delete;
  TestKey& operator=(const TestKey&) = delete;

  // The public JWK (no alg member unless given).
  boost::json::object Jwk(const std::string& kid, const std::string& alg = "") const {
    boost::json::object o;
    o["kid"] = kid;
    if (!alg.empty()) o["alg"] = alg;
    if (kind_ == Kind::kRsa2048 || kind_ == Kind::kRsa1024) {
      o["kty"] = "RSA";
      o["n"] = EncodeBase64Url(BnParam(OSSL_PKEY_PARAM_RSA_N));
      o["e"] = EncodeBase64Url(BnParam(OSSL_PKEY_PARAM_RSA_E));
    } else {
      size_t w = kind_ == Kind::kP256 ? 32 : 48;
      o["kty"] = "EC";
      o["crv"] = kind_ == Kind::kP256 ? "P-256" : "P-384";
      std::string pub = PubPoint();
      o["x"] = EncodeBase64Url(pub.substr(1, w));
      o["y"] = EncodeBase64Url(pub.substr(1 + w, w));
    }
    return o;
  }

  // Signs `input` for JWS algorithm `alg` (RS256..ES384); ECDSA in JOSE r||s form.
  std::string Sign(const std::string& alg, const std::string& input) const {
    const EVP_MD* md = alg.ends_with("256")   ? EVP_sha256()
                       : alg.ends_with("384") ? EVP_sha384()
                                              : EVP_sha512();
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, md, nullptr, pkey_);
    if (alg.starts_with("PS")) {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (alg.starts_with("ES")) {
      size_t w = alg == "ES256" ? 32 : 48;
      const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      std::string out(2 * w, '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(out.data()),
                   static_cast<int>(w));
      BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(out.data() + w),
                   static_cast<int>(w));
      ECDSA_SIG_free(es);
      return out;
    }
    return sig;
  }

  // A compact JWS of `header` and `payload`, signed with this key.
  std::string Token(const boost::json::object& header, const boost::json::object& payload) const {
    std::string input = EncodeBase64Url(boost::json::serialize(header)) + "." +
                        EncodeBase64Url(boost::json::serialize(payload));
    std::string alg(header.at("alg").as_string());
    return input + "." + EncodeBase64Url(Sign(alg, input));
  }

 private:
  std::string BnParam(const char* name) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(pkey_, name, &bn);
    std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
  }
  std::string PubPoint() const {
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(pkey_, OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0, &len);
    std::string out(len, '\0');
    EVP_PKEY_get_octet_string_param(pkey_, OSSL_PKEY_PARAM_PUB_KEY,
                                    reinterpret_cast<unsigned char*>(out.data()), len, &len);
    return out;
  }

  Kind kind_;
  EVP_PKEY* pkey_ = nullptr;
};

}  // namespace kiln::auth::testing
