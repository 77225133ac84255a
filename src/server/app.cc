#include "server/app.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "audit/audit_log.h"
#include "auth/api_keys.h"
#include "auth/discovery.h"
#include "auth/groups.h"
#include "auth/http_fetch.h"
#include "auth/introspection.h"
#include "auth/key_cache.h"
#include "auth/smart.h"
#include "auth/user_rules.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/thread_pool.h"
#include "http/server.h"
#include "rest/outcome.h"
#include "rest/service.h"
#include "server/reindexer.h"
#include "store/sqlite/sqlite_store.h"
#include "validation/validator.h"

namespace kiln::server {
namespace {

int OrCores(int n) {
  if (n > 0) return n;
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 2 : static_cast<int>(hc);
}

// The access log names query parameters but never their values (they can hold patient data).
std::string LoggablePath(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (!first) out += '&';
    first = false;
    out += pair.substr(0, pair.find('='));
    out += '=';
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

// Routes the operational endpoints (/healthz, /metrics) and hands everything else to FHIR.
class RootHandler : public http::Handler {
 public:
  RootHandler(Store& store, core::RequestMetrics& metrics, const Reindexer& reindexer)
      : store_(store), metrics_(metrics), reindexer_(reindexer) {}

  // The FHIR service can only be built once the port is bound (its links need the base URL, and
  // port 0 picks the port at bind time); until then FHIR requests get 503.
  void SetFhir(rest::Service* fhir) { fhir_.store(fhir); }
  void SetServer(const http::Server* server) { server_.store(server); }

  void Handle(http::Request&& req, http::Responder respond) override {
    std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
    if (path == "/healthz") {
      http::Response r;
      r.interaction = "healthz";
      Status s = store_.Check();
      r.status = s.ok() ? 200 : 503;
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = s.ok() ? R"({"status":"ok"})" : R"({"status":"unavailable","database":"failing"})";
      if (!s.ok())
        core::LogError("health check failed", {{"error", std::string_view(s.message())}});
      return respond(std::move(r));
    }
    if (path == "/metrics") {
      http::Response r;
      r.interaction = "metrics";
      r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      metrics_.RenderPrometheus(r.body);
      const http::Server* server = server_.load();
      core::AppendGauge(r.body, "kiln_http_open_connections", "Open HTTP connections.",
                        server ? static_cast<double>(server->open_connections()) : 0);
      core::AppendGauge(r.body, "kiln_database_size_bytes",
                        "Size of the database on disk, write-ahead log included.",
                        static_cast<double>(store_.Stats().database_bytes));
      AppendReindexMetrics(r.body, reindexer_.Progress());
      return respond(std::move(r));
    }
    rest::Service* fhir = fhir_.load();
    if (!fhir) {
      return respond(rest::ErrorResponse(Status::Unavailable("Kiln is starting"), req.request_id,
                                         false, "unknown"));
    }
    fhir->Handle(std::move(req), std::move(respond));
  }

 private:
  Store& store_;
  core::RequestMetrics& metrics_;
  const Reindexer& reindexer_;
  std::atomic<rest::Service*> fhir_{nullptr};
  std::atomic<const http::Server*> server_{nullptr};
};

}  // namespace

struct App::Parts {
  std::unique_ptr<Store> store;
  std::unique_ptr<audit::AuditLog> audit;  // --audit-log; null: off. Closed last.
  // Auth modes "smart" and "groups" (docs/security.md); all null in mode "none". The authorizer
  // is a SmartAuthorizer (smart) or a GroupsAuthorizer (groups).
  std::unique_ptr<auth::KeyCache> keys;
  std::unique_ptr<auth::SmartAuthenticator> authenticator;  // JWTs; null without an issuer
  // Opaque tokens (--auth-introspection-url); wraps `authenticator`, so declared after it.
  std::unique_ptr<auth::IntrospectingAuthenticator> introspector;
  std::unique_ptr<Authorizer> authorizer;
  std::unique_ptr<auth::ApiKeys> api_keys;  // --api-keys-file; null: none
  std::unique_ptr<Reindexer> reindexer;     // stopped before the store closes
  std::unique_ptr<core::ThreadPool> workers;
  std::unique_ptr<rest::Service> fhir;
  core::RequestMetrics metrics;
  std::unique_ptr<RootHandler> root;
  std::unique_ptr<http::Server> http;
  std::string base_url;
  std::string data_path;
  std::mutex stop_mu;
  bool stopped = false;  // guarded by stop_mu
};

App::App(Config config) : config_(std::move(config)), parts_(std::make_unique<Parts>()) {}

App::~App() { Stop(); }

Status App::Start() {
  Parts& p = *parts_;
  core::LogLevel level = core::LogLevel::kInfo;
  core::ParseLogLevel(config_.log_level, level);
  core::SetLogLevel(level);

  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  p.data_path = std::filesystem::absolute(config_.data_dir, ec).lexically_normal().string();
  while (p.data_path.size() > 1 && p.data_path.back() == '/') p.data_path.pop_back();

  store::sqlite::SqliteOptions store_options;
  store_options.data_dir = p.data_path;
  store_options.synchronous = config_.sync == "full" ? store::sqlite::Synchronous::kFull
                                                     : store::sqlite::Synchronous::kNormal;
  store_options.writer_cache_kib = int64_t{config_.store_cache_mib} * 1024;
  auto store = store::sqlite::OpenSqliteStore(store_options);
  if (!store.ok()) return store.status();
  p.store = std::move(store).value();

  // Decided before serving (cheap reads), run after: searches may miss resources whose rows are
  // not rebuilt yet, reads and writes are unaffected.
  Result<ReindexPlan> reindex_plan = PlanReindex(*p.store, config_.reindex);
  if (!reindex_plan.ok()) {
    p.store->Close();
    return reindex_plan.take_status();
  }
  ReindexOptions reindex_options;
  reindex_options.batch_size = config_.reindex_batch;
  reindex_options.pause = std::chrono::milliseconds(config_.reindex_pause_ms);
  p.reindexer = std::make_unique<Reindexer>(*p.store, reindex_options);

  if (!config_.api_keys_file.empty()) {
    auto keys = auth::ApiKeys::Load(config_.api_keys_file);
    if (!keys.ok()) {
      p.store->Close();
      return keys.take_status();
    }
    p.api_keys = std::make_unique<auth::ApiKeys>(std::move(keys).value());
  }
  if (!config_.audit_log.empty()) {
    audit::AuditLogOptions audit_options;
    audit_options.path = config_.audit_log;
    audit_options.max_bytes = config_.audit_log_max_bytes;
    audit_options.keep = config_.audit_log_keep;
    auto audit_log = audit::AuditLog::Open(audit_options);
    if (!audit_log.ok()) {
      p.store->Close();
      return audit_log.take_status();
    }
    p.audit = std::move(audit_log).value();
    core::LogInfo("audit log", {{"path", std::string_view(config_.audit_log)},
                                {"seq", static_cast<long long>(p.audit->head_seq())}});
  }
  // The authorization rules: a bad rules file stops Kiln here, before it serves anything.
  if (config_.auth == "groups") {
    auto rules = config_.auth_rules_file.empty()
                     ? auth::ParseGroupRules(auth::DefaultGroupRulesJson())
                     : auth::LoadGroupRules(config_.auth_rules_file);
    if (!rules.ok()) {
      p.store->Close();
      return rules.take_status();
    }
    p.authorizer = std::make_unique<auth::GroupsAuthorizer>(std::move(rules).value());
  } else if (config_.auth == "smart") {
    auth::UserRules user_rules = auth::DefaultUserRules();
    if (!config_.auth_user_rules_file.empty()) {
      auto loaded = auth::LoadUserRules(config_.auth_user_rules_file);
      if (!loaded.ok()) {
        p.store->Close();
        return loaded.take_status();
      }
      user_rules = std::move(loaded).value();
    }
    p.authorizer = std::make_unique<auth::SmartAuthorizer>(std::move(user_rules));
  }
  p.workers = std::make_unique<core::ThreadPool>(OrCores(config_.workers));
  validation::WarmUp();

  http::ServerOptions http_options;
  http_options.host = config_.host;
  http_options.port = static_cast<uint16_t>(config_.port);
  http_options.io_threads = OrCores(config_.threads);
  http_options.max_body_bytes = static_cast<size_t>(config_.max_body_bytes);
  http_options.max_header_bytes = static_cast<size_t>(config_.max_header_bytes);
  http_options.read_timeout = std::chrono::milliseconds(config_.read_timeout_ms);
  http_options.idle_timeout = std::chrono::milliseconds(config_.idle_timeout_ms);
  http_options.write_timeout = std::chrono::milliseconds(config_.write_timeout_ms);
  http_options.shutdown_grace = std::chrono::milliseconds(config_.shutdown_grace_ms);
  http_options.max_connections = config_.max_connections;

  rest::RestOptions rest_options;
  {
    // Paging links carry a MAC under this key (docs/tenants.md): kept in a file, links survive
    // restarts. The default file is created; a file given by name must be there.
    const bool named = !config_.cursor_key_file.empty();
    auto secret = rest::LoadCursorSecret(
        named ? config_.cursor_key_file : p.data_path + "/cursor.key", /*create=*/!named);
    if (!secret.ok()) {
      p.store->Close();
      return secret.take_status();
    }
    rest_options.cursor_secret = *secret;
  }
  rest_options.default_count = config_.default_count;
  rest_options.max_count = config_.max_count;
  rest_options.conditional_delete_max = config_.conditional_delete_max;
  rest_options.max_includes = config_.max_includes;
  rest_options.max_bundle_entries = config_.max_bundle_entries;
  rest_options.software_version = KILN_VERSION;
  rest_options.validation.warn_only = config_.validation == "warn-only";
  rest_options.validation.options.check_narrative = config_.validate_narrative;
  if (config_.validation == "off") {
    rest_options.validation.enabled = false;
    core::LogWarn("validation is off: resources are stored unchecked (--validation off)");
  }

  p.root = std::make_unique<RootHandler>(*p.store, p.metrics, *p.reindexer);
  bool access_log = config_.access_log;
  core::RequestMetrics* metrics = &p.metrics;
  p.http = http::MakeServer(
      http_options, *p.root, [metrics, access_log](const http::RequestRecord& rec) {
        metrics->Record(rec.interaction, rec.status, rec.seconds);
        if (access_log) {
          std::string path = LoggablePath(rec.target);
          core::LogInfo("request", {{"method", rec.method},
                                    {"path", std::string_view(path)},
                                    {"status", static_cast<long long>(rec.status)},
                                    {"duration_ms", rec.seconds * 1000.0},
                                    {"request_id", rec.request_id},
                                    {"interaction", rec.interaction}});
        }
      });
  p.root->SetServer(p.http.get());
  if (Status bind = p.http->Start(); !bind.ok()) {
    p.http.reset();
    p.store->Close();
    return bind;
  }
  rest_options.base_url = EffectiveBaseUrl(config_, p.http->port());
  rest_options.tenancy.mode =
      rest::ParseTenancyMode(config_.tenancy).value_or(rest::TenancyMode::kOff);
  rest_options.tenancy.tenants = config_.tenants;
  rest_options.tenancy.claim = config_.auth_tenant_claim;
  if (p.api_keys) {
    const auth::ApiKeys* keys = p.api_keys.get();
    rest_options.api_key_check = [keys](std::string_view k) { return keys->Accepts(k); };
  }
  rest_options.audit = p.audit.get();
  if (config_.auth == "smart" || config_.auth == "groups") SetUpSmartAuth(rest_options);
  p.fhir = std::make_unique<rest::Service>(rest_options, *p.store, *p.workers);
  p.root->SetFhir(p.fhir.get());
  p.base_url = rest_options.base_url;
  if (rest_options.tenancy.mode != rest::TenancyMode::kOff)
    core::LogInfo("tenancy", {{"mode", std::string_view(config_.tenancy)},
                              {"tenants", static_cast<long long>(config_.tenants.size())}});
  core::LogInfo("kiln started", {{"url", std::string_view(p.base_url)},
                                 {"data", std::string_view(p.data_path)},
                                 {"store", "sqlite"}});
  if (reindex_plan->needed) p.reindexer->Start(*reindex_plan);
  return Status::Ok();
}

void App::SetUpSmartAuth(rest::RestOptions& rest_options) {
  Parts& p = *parts_;
  auth::FetchOptions fetch;
  fetch.total_timeout = std::chrono::milliseconds(config_.auth_fetch_timeout_ms);
  fetch.connect_timeout = std::min(fetch.total_timeout, std::chrono::milliseconds(2000));
  auth::SmartAuthOptions options;
  options.rules.issuer = config_.auth_issuer;
  options.rules.audiences = {config_.auth_audience.empty() ? rest_options.base_url
                                                           : config_.auth_audience};
  options.rules.clock_skew_seconds = config_.auth_clock_skew;
  options.names.scope = config_.auth_scope_claim;
  options.names.patient = config_.auth_patient_claim;
  options.names.fhir_user = config_.auth_fhiruser_claim;
  options.names.tenant = config_.auth_tenant_claim;
  options.names.groups = config_.auth_groups_claim;
  // JWTs, verified with the issuer's keys: only with an issuer (introspection alone needs none).
  if (!config_.auth_issuer.empty()) {
    auth::KeyCacheOptions key_options;
    key_options.issuer = config_.auth_issuer;
    key_options.jwks_uri = config_.auth_jwks_uri;
    key_options.min_refetch_interval = std::chrono::seconds(config_.auth_jwks_refetch_interval);
    p.keys = std::make_unique<auth::KeyCache>(
        key_options, std::make_unique<auth::CurlFetcher>(fetch), [] { return core::NowMicros(); });
    // Start-up prefetch, before any request is served; bounded by the fetch timeouts. If the
    // issuer is unreachable Kiln still starts: tokens are refused until a refetch succeeds.
    if (Status s = p.keys->Refresh(); !s.ok())
      core::LogWarn(
          "starting without the issuer's keys; tokens are refused until they can be fetched",
          {{"issuer", std::string_view(config_.auth_issuer)}});
    p.authenticator = std::make_unique<auth::SmartAuthenticator>(
        options, *p.keys, [] { return core::NowMicros() / 1000000; });
    rest_options.authenticator = p.authenticator.get();
  }
  // Opaque tokens, by RFC 7662 introspection (docs/security.md); JWTs still go to the JWT
  // authenticator unless --auth-introspect-jwts.
  if (!config_.auth_introspection_url.empty()) {
    auth::IntrospectionOptions io;
    io.url = config_.auth_introspection_url;
    io.client_id = config_.auth_introspection_client_id;
    io.client_secret = config_.auth_introspection_client_secret;
    io.cache_ttl = std::chrono::seconds(config_.auth_introspection_cache_seconds);
    io.introspect_all = config_.auth_introspect_jwts;
    io.rules = options.rules;
    io.names = options.names;
    p.introspector = std::make_unique<auth::IntrospectingAuthenticator>(
        std::move(io), std::make_unique<auth::CurlFetcher>(fetch), p.authenticator.get(),
        [] { return core::NowMicros(); });
    rest_options.authenticator = p.introspector.get();
  }
  rest_options.authorizer = p.authorizer.get();

  auth::KeyCache* keys = p.keys.get();
  auth::SmartConfigurationInputs inputs;
  inputs.issuer = config_.auth_issuer;
  inputs.jwks_uri = config_.auth_jwks_uri;
  inputs.authorize_url = config_.smart_authorize_url;
  inputs.token_url = config_.smart_token_url;
  inputs.capabilities = config_.smart_capabilities;
  inputs.introspection_url = config_.auth_introspection_url;
  // Built per request from the latest issuer metadata (it may arrive after start-up).
  rest_options.smart_configuration = [keys, inputs]() mutable {
    if (keys != nullptr) inputs.metadata = keys->metadata();
    return auth::SmartConfigurationJson(inputs);
  };
  auth::IssuerMetadata meta = keys != nullptr ? keys->metadata() : auth::IssuerMetadata{};
  rest::SecurityInfo& sec = rest_options.security;
  sec.smart = true;
  sec.authorize_url = config_.smart_authorize_url.empty() ? meta.authorization_endpoint
                                                          : config_.smart_authorize_url;
  sec.token_url = config_.smart_token_url.empty() ? meta.token_endpoint : config_.smart_token_url;
  sec.introspect_url = config_.auth_introspection_url.empty() ? meta.introspection_endpoint
                                                              : config_.auth_introspection_url;
  sec.revoke_url = meta.revocation_endpoint;
  sec.register_url = meta.registration_endpoint;
  sec.manage_url = meta.management_endpoint;
  core::LogInfo(config_.auth == "groups" ? "authentication: groups" : "authentication: smart",
                {{"issuer", std::string_view(config_.auth_issuer)},
                 {"audience", std::string_view(options.rules.audiences[0])},
                 {"keys", static_cast<long long>(keys != nullptr ? keys->Keys()->keys.size() : 0)},
                 {"introspection", std::string_view(config_.auth_introspection_url)}});
}

void App::Wait() {
  if (parts_->http) parts_->http->Wait();
}

void App::Stop() {
  Parts& p = *parts_;
  // A second caller (the main thread after Wait(), while the signal watcher is still stopping)
  // waits here until the database is closed.
  std::lock_guard lock(p.stop_mu);
  if (p.stopped) return;
  p.stopped = true;
  // First, so no new batch is queued; a rebuild resumes from its cursor at the next start.
  if (p.reindexer) p.reindexer->Stop();
  if (p.http) p.http->Stop();  // finishes in-flight requests
  if (p.workers) p.workers->Shutdown();
  if (p.store) p.store->Close();  // commits queued writes, checkpoints, closes
  if (p.audit) p.audit->Close();  // last: the writes just committed were answered and recorded
}

int App::port() const { return parts_->http ? parts_->http->port() : config_.port; }
const std::string& App::base_url() const { return parts_->base_url; }
std::string App::listen_url() const {
  const std::string& h = config_.host;
  return "http://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" +
         std::to_string(port());
}
std::string App::data_path() const { return parts_->data_path; }

}  // namespace kiln::server
