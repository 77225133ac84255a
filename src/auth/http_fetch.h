// Outbound HTTP GETs for the authentication component (discovery documents, JWKS), through
// libcurl. Every fetch verifies TLS certificates and host names, follows no redirects, has
// connect and total timeouts and a response size limit, so a slow or hostile endpoint cannot hold
// a thread or memory for long.
//
// Only https URLs are fetched, except http to a loopback host (127.0.0.0/8, ::1, localhost),
// which local test setups need and which cannot be intercepted off the machine.
//
// Fetcher is an interface so tests can count or fail fetches; CurlFetcher is thread-safe (one
// curl easy handle per call).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "kiln/status.h"

namespace kiln::auth {

class Fetcher {
 public:
  virtual ~Fetcher() = default;
  // The body of a 200 response to GET `url` with Accept: application/json, or kUnavailable
  // naming the URL and the problem.
  virtual Result<std::string> Get(const std::string& url) = 0;
};

struct FetchOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds total_timeout{5000};
  size_t max_bytes = 1024 * 1024;
};

// True for https URLs, and http URLs whose host is a loopback address.
bool IsFetchableUrl(const std::string& url);

class CurlFetcher : public Fetcher {
 public:
  explicit CurlFetcher(FetchOptions options);
  Result<std::string> Get(const std::string& url) override;

 private:
  FetchOptions options_;
};

}  // namespace kiln::auth
