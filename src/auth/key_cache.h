// The issuer's signing keys (JWKS), fetched and cached, and the issuer's metadata (its OpenID /
// SMART discovery document: where its JWKS, authorize and token endpoints are).
//
// Where fetching runs (the choice docs/security.md describes): never on an HTTP I/O thread.
//   - Start-up: the composition root calls Refresh() once before serving (bounded by the fetch
//     timeouts); if the issuer is down, Kiln starts anyway and every token is refused until keys
//     arrive.
//   - A token whose kid is not in the cached set: the authenticator answers "retry off the I/O
//     thread" if RefreshAllowed(); the REST service then calls Refresh() on a worker thread and
//     authenticates again there. Refresh() fetches at most once per min_refetch_interval (30 s by
//     default), counted from the start of the previous attempt whatever its outcome, so a flood of
//     tokens with random kids costs the issuer one request per interval and the other requests
//     are answered at once on the I/O thread.
// Concurrent Refresh() calls are single-flight: one fetches, the others wait for it and then see
// its keys.
//
// Thread-safe: Keys() and metadata() take a short lock and return snapshots.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "auth/http_fetch.h"
#include "auth/jwk.h"
#include "kiln/status.h"

namespace kiln::auth {

// What Kiln uses of the issuer's discovery document.
struct IssuerMetadata {
  std::string jwks_uri;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string introspection_endpoint;
  std::string registration_endpoint;
  std::string management_endpoint;
  std::string revocation_endpoint;
};

struct KeyCacheOptions {
  std::string issuer;    // the `iss` tokens carry; discovery documents live under it
  std::string jwks_uri;  // configured JWKS URL; empty: take jwks_uri from discovery
  std::chrono::seconds min_refetch_interval{30};
};

class KeyCache {
 public:
  // `now_micros` is the clock (injectable for tests).
  KeyCache(KeyCacheOptions options, std::unique_ptr<Fetcher> fetcher,
           std::function<int64_t()> now_micros);

  // The current keys (never null; empty until the first successful fetch).
  std::shared_ptr<const KeySet> Keys() const;
  IssuerMetadata metadata() const;

  // True when Refresh() would fetch now: no attempt yet, or the last one started at least
  // min_refetch_interval ago, or one is running (its result is worth waiting for).
  bool RefreshAllowed() const;

  // Blocking: fetches discovery (when needed) and the JWKS unless the interval has not passed,
  // and replaces the cached keys on success (keeping the old ones on failure). Returns the
  // fetch's failure, if any; OK when nothing was fetched.
  Status Refresh();

  // How many fetch attempts were made (for /metrics and tests).
  int64_t attempts() const { return attempts_.load(); }

  // True when no keys have ever been loaded and the last attempt failed: the issuer cannot be
  // reached (or serves nothing usable), so tokens cannot be checked at all.
  bool unavailable() const;

 private:
  Status FetchDiscovery(IssuerMetadata& out);

  const KeyCacheOptions options_;
  const std::unique_ptr<Fetcher> fetcher_;
  const std::function<int64_t()> now_micros_;
  std::mutex refresh_mu_;  // held for a whole fetch (single flight)
  mutable std::mutex mu_;  // guards the members below
  std::shared_ptr<const KeySet> keys_;
  IssuerMetadata metadata_;
  bool metadata_loaded_ = false;
  int64_t last_attempt_micros_ = 0;  // 0: never
  bool fetching_ = false;
  bool last_failed_ = false;
  std::atomic<int64_t> attempts_{0};
};

}  // namespace kiln::auth
