// API keys (`x-api-key`): an extra factor every FHIR request must present when keys are
// configured, like the API Gateway key in front of FHIR Works on AWS. A key identifies a
// deployment's client software, not a user: it is checked in addition to the bearer token (or,
// with --auth none, instead of nothing).
//
// Keys are read from a file, one per line ('#' starts a comment), at least 16 characters each,
// and kept only as SHA-256 digests; a presented key is hashed and compared with every digest in
// constant time. Immutable after loading; thread-safe.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln::auth {

class ApiKeys {
 public:
  // Reads the keys file. Fails (kInvalid, naming the file and line) when it cannot be read, has
  // a key shorter than 16 characters or with spaces, or has no key at all.
  static Result<ApiKeys> Load(const std::string& path);
  // From keys in memory (tests).
  static Result<ApiKeys> FromKeys(const std::vector<std::string>& keys);

  bool empty() const { return digests_.empty(); }
  // True when `presented` is one of the keys.
  bool Accepts(std::string_view presented) const;

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

}  // namespace kiln::auth
