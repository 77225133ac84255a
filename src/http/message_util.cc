#include "http/message_util.h"

#include <cstdint>
#include <random>

#include "core/clock.h"
#include "core/strings.h"
#include "http/server.h"

namespace kiln::http {
namespace {

// splitmix64: tiny state, fast, good enough spread for ids (they are not secrets).
uint64_t NextRandom() {
  thread_local uint64_t state = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string_view Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (core::EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

bool IsSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string NewRequestId() {
  static const char kHex[] = "0123456789abcdef";
  uint64_t bits = NextRandom();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, bits >>= 4) id[i] = kHex[bits & 0xf];
  return id;
}

std::string_view HttpDateNow() {
  thread_local int64_t cached_second = -1;
  thread_local std::string cached_text;
  int64_t micros = core::NowMicros();
  int64_t second = micros / 1000000;
  if (second != cached_second) {
    cached_text = core::FormatHttpDate(micros);
    cached_second = second;
  }
  return cached_text;
}

std::string OperationOutcomeJson(std::string_view issue_code, std::string_view diagnostics) {
  std::string out;
  out.reserve(96 + diagnostics.size());
  out += R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":)";
  out += core::JsonQuote(issue_code);
  out += R"(,"diagnostics":)";
  out += core::JsonQuote(diagnostics);
  out += "}]}";
  return out;
}

bool IsSafeHeaderText(std::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

bool IsHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace kiln::http
