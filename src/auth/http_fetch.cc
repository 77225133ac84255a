#include "auth/http_fetch.h"

#include <curl/curl.h>

#include <boost/url/parse.hpp>
#include <mutex>

namespace kiln::auth {
namespace {

struct Sink {
  std::string body;
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t OnData(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t bytes = size * n;
  if (sink->body.size() + bytes > sink->max_bytes) {
    sink->too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  sink->body.append(data, bytes);
  return bytes;
}

void GlobalInit() {
  // curl_global_init is not thread-safe; once for the process.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

bool IsFetchableUrl(const std::string& url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return false;
  std::string scheme(parsed->scheme());
  if (scheme == "https") return parsed->has_authority() && !parsed->host().empty();
  if (scheme != "http") return false;
  std::string host(parsed->host());
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]";
}

CurlFetcher::CurlFetcher(FetchOptions options) : options_(options) { GlobalInit(); }

Result<std::string> CurlFetcher::Get(const std::string& url) { return Perform(url, nullptr, {}); }

Result<std::string> CurlFetcher::PostForm(const std::string& url, const std::string& body,
                                          const std::vector<std::string>& headers) {
  return Perform(url, &body, headers);
}

Result<std::string> CurlFetcher::Perform(const std::string& url, const std::string* post_body,
                                         const std::vector<std::string>& extra_headers) {
  if (!IsFetchableUrl(url))
    return Status::Unavailable("Refusing to fetch " + url +
                               ": only https URLs (or http on a loopback address) are fetched");
  std::unique_ptr<CURL, EasyFree> curl(curl_easy_init());
  if (!curl) return Status::Unavailable("Cannot fetch " + url + ": curl_easy_init failed");
  Sink sink;
  sink.max_bytes = options_.max_bytes;
  std::unique_ptr<curl_slist, SlistFree> headers(
      curl_slist_append(nullptr, "Accept: application/json"));
  if (post_body != nullptr) {
    headers.reset(
        curl_slist_append(headers.release(), "Content-Type: application/x-www-form-urlencoded"));
    // No "Expect: 100-continue" round trip for bodies over 1 KiB (a long token).
    if (headers) headers.reset(curl_slist_append(headers.release(), "Expect:"));
  }
  for (const std::string& h : extra_headers)
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  if (!headers) return Status::Unavailable("Cannot fetch " + url + ": out of memory");
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for timeouts: we are multithreaded
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_bytes));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kiln/" KILN_VERSION);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  if (post_body != nullptr) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
  }
  CURLcode rc = curl_easy_perform(c);
  if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED)
    return Status::Unavailable("Fetching " + url + ": the response is larger than " +
                               std::to_string(options_.max_bytes) + " bytes");
  if (rc != CURLE_OK)
    return Status::Unavailable("Fetching " + url + " failed: " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200)
    return Status::Unavailable("Fetching " + url + " answered HTTP " + std::to_string(status));
  return std::move(sink.body);
}

}  // namespace kiln::auth
