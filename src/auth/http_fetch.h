// Outbound HTTP requests for the authentication component, through libcurl: GETs (discovery
// documents, JWKS) and form POSTs (RFC 7662 token introspection). Every request verifies TLS
// certificates and host names, follows no redirects, has connect and total timeouts and a response
// size limit, so a slow or hostile endpoint cannot hold a thread or memory for long.
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
#include <vector>

#include "kiln/status.h"

namespace kiln::auth {

class Fetcher {
 public:
  virtual ~Fetcher() = default;
  // The body of a 200 response to GET `url` with Accept: application/json, or kUnavailable
  // naming the URL and the problem.
  virtual Result<std::string> Get(const std::string& url) = 0;
  // The body of a 200 response to POST `url` with `body` (application/x-www-form-urlencoded)
  // and the extra request `headers` ("Name: value"), or kUnavailable naming the URL and the
  // problem (never the body or the headers: they carry secrets).
  virtual Result<std::string> PostForm(const std::string& url, const std::string& body,
                                       const std::vector<std::string>& headers) {
    return Status::Unavailable("POST is not supported by this fetcher");
  }
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
  Result<std::string> PostForm(const std::string& url, const std::string& body,
                               const std::vector<std::string>& headers) override;

 private:
  // GET when `post_body` is null, else a form POST of it.
  Result<std::string> Perform(const std::string& url, const std::string* post_body,
                              const std::vector<std::string>& headers);
  FetchOptions options_;
};

}  // namespace kiln::auth
