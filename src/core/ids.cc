#include "core/ids.h"

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace kiln::core {

std::string NewResourceId() {
  // Draw randomness in blocks: RAND_bytes per id would dominate the cost of a create.
  thread_local std::array<uint8_t, 16 * 64> pool;
  thread_local size_t used = pool.size();
  if (used == pool.size()) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1)
      throw std::runtime_error("OpenSSL RAND_bytes failed");
    used = 0;
  }
  uint8_t* b = pool.data() + used;
  used += 16;
  // UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits. Ids made later sort later,
  // so a store's id-keyed b-trees grow at their right edge instead of dirtying a random leaf
  // page per create, which is most of what a create costs to write. The random bits keep ids
  // unguessable; the creation millisecond they reveal is in meta.lastUpdated anyway.
  uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count());
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  b[6] = (b[6] & 0x0f) | 0x70;  // version 7
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace kiln::core
