#include "auth/key_cache.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "core/log.h"

namespace kiln::auth {
namespace {

std::string Member(const boost::json::object& o, const char* name) {
  const boost::json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

KeyCache::KeyCache(KeyCacheOptions options, std::unique_ptr<Fetcher> fetcher,
                   std::function<int64_t()> now_micros)
    : options_(std::move(options)),
      fetcher_(std::move(fetcher)),
      now_micros_(std::move(now_micros)),
      keys_(std::make_shared<const KeySet>()) {}

std::shared_ptr<const KeySet> KeyCache::Keys() const {
  std::lock_guard lock(mu_);
  return keys_;
}

IssuerMetadata KeyCache::metadata() const {
  std::lock_guard lock(mu_);
  return metadata_;
}

bool KeyCache::unavailable() const {
  std::lock_guard lock(mu_);
  return last_failed_ && keys_->keys.empty();
}

bool KeyCache::RefreshAllowed() const {
  std::lock_guard lock(mu_);
  if (fetching_ || last_attempt_micros_ == 0) return true;
  return now_micros_() - last_attempt_micros_ >=
         std::chrono::duration_cast<std::chrono::microseconds>(options_.min_refetch_interval)
             .count();
}

Status KeyCache::FetchDiscovery(IssuerMetadata& out) {
  std::string base = options_.issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  // OpenID Connect Discovery first (it must name the same issuer), then SMART's own document.
  Status last;
  for (const char* doc :
       {"/.well-known/openid-configuration", "/.well-known/smart-configuration"}) {
    std::string url = base + doc;
    auto body = fetcher_->Get(url);
    if (!body.ok()) {
      last = body.take_status();
      continue;
    }
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(*body, ec);
    if (ec || !v.is_object()) {
      last = Status::Unavailable(url + " is not a JSON object");
      continue;
    }
    const boost::json::object& o = v.as_object();
    std::string issuer = Member(o, "issuer");
    if (!issuer.empty() && issuer != options_.issuer) {
      last = Status::Unavailable(url + " names another issuer ('" + issuer + "')");
      continue;
    }
    out.jwks_uri = Member(o, "jwks_uri");
    out.authorization_endpoint = Member(o, "authorization_endpoint");
    out.token_endpoint = Member(o, "token_endpoint");
    out.introspection_endpoint = Member(o, "introspection_endpoint");
    out.registration_endpoint = Member(o, "registration_endpoint");
    out.management_endpoint = Member(o, "management_endpoint");
    out.revocation_endpoint = Member(o, "revocation_endpoint");
    return Status::Ok();
  }
  return last;
}

Status KeyCache::Refresh() {
  std::lock_guard flight(refresh_mu_);
  {
    std::lock_guard lock(mu_);
    int64_t now = now_micros_();
    if (last_attempt_micros_ != 0 &&
        now - last_attempt_micros_ <
            std::chrono::duration_cast<std::chrono::microseconds>(options_.min_refetch_interval)
                .count())
      return Status::Ok();  // someone fetched recently (maybe just now, while we waited)
    last_attempt_micros_ = now;
    fetching_ = true;
  }
  ++attempts_;
  Status result;
  IssuerMetadata meta;
  bool have_meta = false;
  std::string jwks_uri = options_.jwks_uri;
  {
    std::lock_guard lock(mu_);
    if (metadata_loaded_) {
      meta = metadata_;
      have_meta = true;
    }
  }
  // The discovery document also feeds .well-known/smart-configuration (authorize and token
  // endpoints), so it is read even when a JWKS URL is configured, until it has been read once.
  if (!have_meta || options_.jwks_uri.empty()) {
    Status d = FetchDiscovery(meta);
    if (d.ok()) {
      have_meta = true;
      std::lock_guard lock(mu_);
      metadata_ = meta;
      metadata_loaded_ = true;
    } else if (options_.jwks_uri.empty()) {
      result = d;
    }
  }
  if (jwks_uri.empty()) jwks_uri = meta.jwks_uri;
  if (result.ok() && jwks_uri.empty())
    result = Status::Unavailable("The issuer's discovery document names no jwks_uri");
  if (result.ok()) {
    auto body = fetcher_->Get(jwks_uri);
    if (!body.ok()) {
      result = body.take_status();
    } else {
      auto set = ParseJwks(*body);
      if (!set.ok()) {
        result = Status::Unavailable(jwks_uri + ": " + set.status().message());
      } else {
        for (const std::string& why : set->skipped)
          core::LogWarn("JWKS key skipped", {{"jwks_uri", std::string_view(jwks_uri)},
                                             {"reason", std::string_view(why)}});
        core::LogInfo("JWKS loaded", {{"jwks_uri", std::string_view(jwks_uri)},
                                      {"keys", static_cast<long long>(set->keys.size())}});
        std::lock_guard lock(mu_);
        keys_ = std::make_shared<const KeySet>(std::move(set).value());
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    fetching_ = false;
    last_failed_ = !result.ok();
  }
  if (!result.ok())
    core::LogWarn("fetching the issuer's keys failed",
                  {{"error", std::string_view(result.message())}});
  return result;
}

}  // namespace kiln::auth
