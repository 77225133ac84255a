#include "auth/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fstream>

namespace kiln::auth {
namespace {

constexpr size_t kMinKeyLength = 16;

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> d{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

Status CheckKey(std::string_view key, const std::string& where) {
  if (key.size() < kMinKeyLength)
    return Status::Invalid("Invalid configuration: " + where + ": an API key must have at least " +
                           std::to_string(kMinKeyLength) + " characters");
  for (char c : key)
    if (c <= 0x20 || c >= 0x7F)
      return Status::Invalid("Invalid configuration: " + where +
                             ": an API key is printable ASCII without spaces");
  return Status::Ok();
}

}  // namespace

Result<ApiKeys> ApiKeys::FromKeys(const std::vector<std::string>& keys) {
  ApiKeys out;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (Status s = CheckKey(keys[i], "API key " + std::to_string(i + 1)); !s.ok()) return s;
    out.digests_.push_back(Sha256(keys[i]));
  }
  return out;
}

Result<ApiKeys> ApiKeys::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return Status::Invalid("Invalid configuration: --api-keys-file " + path +
                           ": cannot read the file");
  ApiKeys out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    std::string key = line.substr(start);
    if (Status s = CheckKey(key, path + ":" + std::to_string(line_no)); !s.ok()) return s;
    out.digests_.push_back(Sha256(key));
  }
  if (out.digests_.empty())
    return Status::Invalid("Invalid configuration: --api-keys-file " + path + " has no key");
  return out;
}

bool ApiKeys::Accepts(std::string_view presented) const {
  if (presented.empty()) return false;
  const auto d = Sha256(presented);
  bool found = false;
  // Every digest is compared, so the time taken does not tell which one (if any) matched.
  for (const auto& k : digests_) found |= CRYPTO_memcmp(k.data(), d.data(), d.size()) == 0;
  return found;
}

}  // namespace kiln::auth
