// The FHIR REST service: turns HTTP requests under the FHIR base into store operations and
// FHIR responses (R4 http page: read, vread, create, update, delete, history, capabilities).
//
// Threading: Handle() runs on an HTTP I/O thread. Reads by id are answered inline (one indexed
// lookup); history pages run on the worker pool; writes are queued to the store's writer and
// answered from its thread once durably committed. The Service borrows the store and the pool,
// which must outlive it. Thread-safe.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/thread_pool.h"
#include "http/server.h"
#include "kiln/audit.h"
#include "kiln/auth.h"
#include "kiln/store.h"
#include "rest/capabilities.h"
#include "rest/router.h"
#include "rest/tenancy.h"
#include "rest/validate.h"

namespace kiln::rest {

struct RestOptions {
  std::string base_url;             // public URL of the FHIR base, no trailing slash
  std::string base_path = "/fhir";  // the path the FHIR API is served under
  int default_count = 20;           // page size when _count is absent
  int max_count = 1000;             // larger _count values are capped to this
  int conditional_delete_max = 1;   // most resources one conditional delete removes (1: single)
  int max_includes = 1000;          // most _include/_revinclude resources per search page
  int max_bundle_entries = 10000;   // most entries of a batch or transaction Bundle (413 beyond)
  std::string software_version;     // for the CapabilityStatement
  ValidationPolicy validation;      // every create and update passes through it
  // Authentication and authorization (docs/security.md). Both null in auth mode "none"; both
  // set otherwise. Borrowed: they must outlive the Service.
  Authenticator* authenticator = nullptr;
  const Authorizer* authorizer = nullptr;
  // The JSON body of GET [base]/.well-known/smart-configuration (public); unset: 404.
  std::function<std::string()> smart_configuration;
  SecurityInfo security;  // the CapabilityStatement's rest.security
  // When set, every request but the public ones must carry an `x-api-key` this accepts
  // (auth/api_keys.h); otherwise 401.
  std::function<bool(std::string_view)> api_key_check;
  // When set, every request under the FHIR base is recorded there once answered (docs/audit.md).
  // Borrowed: it must outlive the Service.
  AuditSink* audit = nullptr;
  // Which tenant each request acts in (rest/tenancy.h, docs/tenants.md). Off: one tenant.
  TenancyOptions tenancy;
  // The key that seals paging cursors (rest/tenancy.h LoadCursorSecret); unset: a random one for
  // this Service's life (links then die with it).
  std::optional<std::array<unsigned char, 32>> cursor_secret;
};

struct Call;    // one request being served (service.cc)
struct Access;  // rest/access.h

class Service : public http::Handler {
 public:
  Service(RestOptions options, Store& store, core::ThreadPool& workers);
  void Handle(http::Request&& request, http::Responder respond) override;

  const RestOptions& options() const { return options_; }

 private:
  // After authentication: the tenant, routing errors, negotiation, then Dispatch.
  void Serve(http::Request& req, RouteResult& routed, const TenantPrefix& tenant_url,
             Principal principal, http::Responder respond);
  // Runs the interaction; on the I/O thread, or on a worker for large bodies.
  void Dispatch(const std::shared_ptr<Call>& call, http::Request& req);
  // Type, system and compartment search (GET, or POST .../_search with a form body).
  void Search(const std::shared_ptr<Call>& call, http::Request& req);

  // Searches the call's tenant in the store (for access checks that need to look at data:
  // rest/access.h).
  std::function<Result<SearchPage>(const search::Query&)> StoreSearch(const Call& call);
  // The base URL of the call's links and Locations: [base], or [base]/tenant/{id}.
  const std::string& BaseUrl(const Call& call) const;
  // Where the call's links point, and the seal of its paging cursors (active when there is a
  // tenant or a caller to bind them to: tenancy on, or authentication on).
  LinkBase LinksFor(const Call& call) const;
  CursorSeal SealFor(const Access& access) const;
  // The CapabilityStatement with implementation.url set to `base_url`.
  std::string CapabilityStatementFor(const std::string& base_url) const;

  RestOptions options_;
  Store& store_;
  core::ThreadPool& workers_;
  std::string capability_statement_;  // built once; it only changes with the binary
  // Where implementation.url's value (the quoted base URL) sits in it, for tenants' copies.
  size_t capability_url_at_ = std::string::npos;
  size_t capability_url_size_ = 0;
  CursorKey cursor_key_;  // seals paging cursors (rest/tenancy.h): options_.cursor_secret
};

}  // namespace kiln::rest
