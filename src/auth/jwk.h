// JSON Web Keys (RFC 7517/7518) as OpenSSL 3 public keys, and JWS signature verification.
//
// Only what a resource server verifying access tokens needs: RSA (n, e; at least 2048 bits) and
// EC P-256/P-384 (x, y) public keys, built with EVP_PKEY_fromdata, and the signature algorithms
// of the allow-list (RS256/384/512, PS256, ES256/384). Anything else is not a key Kiln will use:
// HMAC ("oct") keys, private parts and unknown curves are skipped when a key set is read, so a
// token can never be checked with a secret derived from public data.
//
// PublicKey and KeySet are immutable once built and safe to share between threads.
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace kiln::auth {

// The JWS algorithms Kiln accepts. "none", HS* and everything else are refused by name.
enum class Algorithm { kRS256, kRS384, kRS512, kPS256, kES256, kES384 };
std::optional<Algorithm> AlgorithmFromName(std::string_view name);
std::string_view AlgorithmName(Algorithm alg);

enum class KeyType { kRsa, kEcP256, kEcP384 };

class PublicKey {
 public:
  // Builds a key from one JWK object. Fails (kInvalid, naming the problem) for unsupported key
  // types, malformed members, RSA moduli under 2048 bits, and EC points not on the curve.
  static Result<std::shared_ptr<const PublicKey>> FromJwk(const boost::json::object& jwk);

  const std::string& kid() const { return kid_; }
  KeyType type() const { return type_; }
  // True when `alg` may be verified with this key: the key type fits the algorithm, and the
  // JWK's own "alg" (if it had one) names it.
  bool Accepts(Algorithm alg) const;
  // Verifies a JWS signature (RFC 7515) over `signing_input` ("header.payload" as sent). ECDSA
  // signatures are the JOSE form (r || s, fixed width), converted to DER for OpenSSL here.
  bool Verify(Algorithm alg, std::string_view signing_input, std::string_view signature) const;

  ~PublicKey();
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;

 private:
  PublicKey() = default;
  std::string kid_;
  KeyType type_ = KeyType::kRsa;
  std::optional<Algorithm> alg_;
  EVP_PKEY* pkey_ = nullptr;  // owned
};

// A JWKS document: the usable keys, and why the others were skipped (for the log).
struct KeySet {
  std::vector<std::shared_ptr<const PublicKey>> keys;
  std::vector<std::string> skipped;

  // The key with this kid, or nullptr.
  const PublicKey* Find(std::string_view kid) const;
};

// Reads a JWKS document ({"keys":[...]}). Fails only when the document itself is malformed;
// keys Kiln cannot use are listed in KeySet::skipped.
Result<KeySet> ParseJwks(std::string_view json);

}  // namespace kiln::auth
