#include "rest/service.h"

#include <charconv>
#include <memory>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/strings.h"
#include "fhir/definitions.h"
#include "fhir/resource_json.h"
#include "fhir/subset.h"
#include "patch/patch.h"
#include "rest/access.h"
#include "rest/audit_trail.h"
#include "rest/bundle.h"
#include "rest/capabilities.h"
#include "rest/history.h"
#include "rest/json_scan.h"
#include "rest/negotiation.h"
#include "rest/outcome.h"
#include "rest/router.h"
#include "rest/search.h"
#include "rest/validate.h"
#include "rest/write_ops.h"
#include "search/index.h"
#include "search/query.h"

namespace kiln::rest {

// What every handler needs to know about the request being served.
struct Call {
  std::string request_id;
  Interaction in;
  OutputFormat format;
  http::Responder respond;
  std::string label;
  // Who asks, in which tenant (access.tenant), and the authorizer that decides (no authorizer:
  // auth mode none).
  Access access;
  std::string base_url;  // [base]/tenant/{id} when the tenant came in the URL; "": [base]

  void Error(const Status& s) const {
    http::Response r = ErrorResponse(s, request_id, format.pretty, label);
    // RFC 6750 section 3.1: a valid token without the scope it needs.
    if (s.error() == ErrorCode::kForbidden && access.enabled())
      r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"insufficient_scope\"");
    respond(std::move(r));
  }
};

namespace {

// Bodies larger than this are parsed and validated on a worker, not on the I/O thread, so one big
// upload does not stall the other connections served by that thread.
constexpr size_t kInlineBodyBytes = 64 * 1024;

http::Response NewResponse(const Call& call, int status) {
  http::Response r;
  r.status = status;
  r.interaction = call.label;
  return r;
}

void SetBody(http::Response& r, const OutputFormat& format, std::string json) {
  r.headers.emplace_back("Content-Type", format.content_type);
  r.body = format.pretty ? fhir::PrettyPrint(json) : std::move(json);
}

void AddVersionHeaders(http::Response& r, const VersionInfo& info) {
  r.headers.emplace_back("ETag", VersionETag(info.version));
  r.headers.emplace_back("Last-Modified", core::FormatHttpDate(info.last_updated));
}

// 410 for a version that is a deletion, with its ETag so clients can tell which one.
http::Response GoneResponse(const Call& call, const VersionInfo& info, std::string message) {
  http::Response r = ErrorResponse(Status::Gone(std::move(message)), call.request_id,
                                   call.format.pretty, call.label);
  AddVersionHeaders(r, info);
  return r;
}

// The answer to a successful create/update, per the client's Prefer header. `base_url` is the
// call's (with its tenant prefix).
http::Response WriteResponse(const Call& call, std::string_view base_url, int status,
                             const StoredResource& stored, ReturnPreference prefer,
                             const std::vector<Issue>& warnings, std::string_view verb = "") {
  http::Response r = NewResponse(call, status);
  AddVersionHeaders(r, stored.info);
  r.headers.emplace_back("Location", VersionLocation(base_url, stored.info));
  switch (prefer) {
    case ReturnPreference::kMinimal:
      break;
    case ReturnPreference::kOperationOutcome: {
      std::vector<Issue> issues = warnings;
      issues.insert(issues.begin(), Issue{Severity::kInformation, "informational",
                                          std::string(!verb.empty()   ? verb
                                                      : status == 201 ? "Created"
                                                                      : "Updated") +
                                              " " + stored.info.type + "/" + stored.info.id +
                                              " version " + std::to_string(stored.info.version),
                                          ""});
      SetBody(r, call.format, IssuesOutcomeJson(issues));
      break;
    }
    case ReturnPreference::kRepresentation:
      SetBody(r, call.format, stored.json);
      break;
  }
  return r;
}

// Parses the body of a create or update: Content-Type, JSON, resourceType matching the URL, then
// validation against the R4 definitions (every problem reported at once).
Result<fhir::PreparedResource> ParseResourceBody(const http::Request& req, const Call& call,
                                                 const ValidationPolicy& policy,
                                                 std::vector<Issue>& warnings) {
  if (Status s = CheckResourceContentType(req.Header("Content-Type")); !s.ok()) return s;
  auto prepared = fhir::PrepareResource(req.body);
  if (!prepared.ok()) return prepared;
  if (prepared->resource_type != call.in.type)
    return Status(ErrorCode::kInvalid, "invalid",
                  "The body's resourceType '" + prepared->resource_type +
                      "' does not match the URL's type '" + call.in.type + "'",
                  "resourceType");
  if (Status s = CheckWrite(req.body, policy, warnings); !s.ok()) return s;
  if (!warnings.empty()) {
    core::LogWarn("stored a resource that fails validation (warn-only mode)",
                  {{"request_id", std::string_view(call.request_id)},
                   {"issues", static_cast<long long>(warnings.size())},
                   {"first", std::string_view(warnings.front().diagnostics)}});
  }
  return prepared;
}

// PATCH (R4 http 3.1.0.6.1): the body's Content-Type says which patch format it is. Parsed (and
// its FHIRPath compiled) before the write transaction, so a malformed patch is a 400 that never
// reaches the writer.
Result<patch::Patch> ParsePatchBody(const http::Request& req) {
  std::string_view ct = req.Header("Content-Type");
  std::string media = core::ToLowerAscii(core::TrimSpaces(ct.substr(0, ct.find(';'))));
  patch::Format format;
  if (media == "application/json-patch+json") {
    format = patch::Format::kJsonPatch;
  } else if (media == "application/fhir+json" || media == "application/json+fhir") {
    format = patch::Format::kFhirPathPatch;
  } else {
    return Status(
        ErrorCode::kUnsupportedMediaType, "not-supported",
        "PATCH takes application/json-patch+json (JSON Patch) or application/fhir+json "
        "(a FHIRPath Patch Parameters resource), not " +
            (ct.empty() ? std::string("a body without a Content-Type") : std::string(ct)));
  }
  return patch::Patch::Parse(format, req.body);
}

// The type a system-level $validate checks: the body's resourceType, or that of the resource in
// a Parameters body's 'resource' parameter ("" when it cannot be told; access is then refused).
std::string BodyResourceType(const Interaction& in, const http::Request& req) {
  if (in.route->kind != InteractionKind::kValidate || !in.type.empty()) return {};
  auto members = MembersOf(req.body);
  if (!members) return {};
  std::string type = StringOf(Member(*members, "resourceType")).value_or("");
  if (type != "Parameters") return type;
  auto params = ElementsOf(Member(*members, "parameter"));
  if (!params) return {};
  for (std::string_view p : *params) {
    auto pm = MembersOf(p);
    if (!pm || StringOf(Member(*pm, "name")) != "resource") continue;
    auto rm = MembersOf(Member(*pm, "resource"));
    return rm ? StringOf(Member(*rm, "resourceType")).value_or("") : std::string();
  }
  return {};
}

// RFC 6750 error_description: printable ASCII without '"' and '\\'.
std::string QuotableDescription(std::string_view text) {
  std::string out;
  for (char c : text) out += (c >= 0x20 && c <= 0x7E && c != '"' && c != '\\') ? c : '\'';
  return out;
}

// 401 for a request whose credentials were refused (RFC 6750 section 3): without any
// credentials, only the challenge; with a bad token, error="invalid_token" and why.
http::Response UnauthenticatedResponse(const Status& s, const http::Request& req,
                                       std::string_view label, const std::string& realm) {
  http::Response r = ErrorResponse(s, req.request_id, false, label);
  std::string challenge = "Bearer realm=\"" + QuotableDescription(realm) + "\"";
  if (s.error() == ErrorCode::kUnauthenticated && !req.Header("Authorization").empty())
    challenge +=
        ", error=\"invalid_token\", error_description=\"" + QuotableDescription(s.message()) + "\"";
  r.headers.emplace_back("WWW-Authenticate", std::move(challenge));
  return r;
}

}  // namespace

Service::Service(RestOptions options, Store& store, core::ThreadPool& workers)
    : options_(std::move(options)),
      store_(store),
      workers_(workers),
      capability_statement_(BuildCapabilityStatement(options_.base_url, options_.software_version,
                                                     options_.conditional_delete_max,
                                                     options_.security)),
      cursor_key_(options_.cursor_secret ? CursorKey(*options_.cursor_secret) : CursorKey()) {
  const std::string url = "\"implementation\":{\"description\":\"Kiln FHIR R4 server\",\"url\":";
  if (size_t at = capability_statement_.find(url); at != std::string::npos) {
    capability_url_at_ = at + url.size();
    capability_url_size_ = core::JsonQuote(options_.base_url).size();
  }
}

std::string Service::CapabilityStatementFor(const std::string& base_url) const {
  if (capability_url_at_ == std::string::npos) return capability_statement_;
  std::string out = capability_statement_.substr(0, capability_url_at_);
  out += core::JsonQuote(base_url);
  out.append(capability_statement_, capability_url_at_ + capability_url_size_);
  return out;
}

const std::string& Service::BaseUrl(const Call& call) const {
  return call.base_url.empty() ? options_.base_url : call.base_url;
}

CursorSeal Service::SealFor(const Access& access) const {
  if (options_.tenancy.mode == TenancyMode::kOff && options_.authenticator == nullptr) return {};
  return CursorSeal(cursor_key_, CursorBinding(access.tenant, access.principal));
}

LinkBase Service::LinksFor(const Call& call) const {
  return LinkBase{BaseUrl(call), SealFor(call.access)};
}

void Service::Handle(http::Request&& req, http::Responder respond) {
  // Tenants in the URL: [base]/tenant/{id}/... is routed as [base]/...; which tenant the request
  // acts in is decided in Serve, once the caller is known.
  TenantPrefix tenant_url;
  if (TenantFromUrl(options_.tenancy.mode))
    tenant_url = SplitTenantPrefix(req.target, options_.base_path);
  const std::string_view target = tenant_url.present ? tenant_url.target : req.target;
  // SMART discovery (App Launch 2.0): public, JSON whatever the Accept header says; the same
  // under every tenant's base.
  std::string_view path = target.substr(0, target.find('?'));
  if (options_.smart_configuration &&
      path == options_.base_path + "/.well-known/smart-configuration") {
    if (tenant_url.present && !IsValidTenantId(tenant_url.id)) {
      return respond(ErrorResponse(ResolveTenant(options_.tenancy, tenant_url, "").status(),
                                   req.request_id, false, "smart-configuration"));
    }
    http::Response r;
    r.interaction = "smart-configuration";
    if (req.method != "GET" && req.method != "HEAD") {
      r = ErrorResponse(Status(ErrorCode::kMethodNotAllowed, "not-supported",
                               "The SMART configuration is read with GET"),
                        req.request_id, false, "smart-configuration");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return respond(std::move(r));
    }
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Cache-Control", "max-age=300");
    r.body = options_.smart_configuration();
    return respond(std::move(r));
  }
  RouteResult routed = Route(req.method, target, options_.base_path);
  std::shared_ptr<AuditEvent> audit;
  if (options_.audit) {
    audit = BeginAudit(req, routed);
    // The tenant asked for: the URL's, else (claim modes) the token's, noted with the caller.
    audit->tenant = tenant_url.present ? tenant_url.id : std::string(kDefaultTenant);
    respond = AuditedResponder(*options_.audit, audit, req.received, std::move(respond));
  }
  const bool audit_tenant_from_claim =
      !tenant_url.present && TenantFromClaim(options_.tenancy.mode);
  // The CapabilityStatement stays public (clients discover the security section from it).
  const bool is_public =
      routed.status.ok() && routed.interaction.route->kind == InteractionKind::kCapabilities;
  if (is_public) return Serve(req, routed, tenant_url, Principal{}, std::move(respond));
  if (options_.api_key_check && !options_.api_key_check(req.Header("x-api-key"))) {
    http::Response r = ErrorResponse(
        Status(ErrorCode::kUnauthenticated, "login", "A valid x-api-key header is required"),
        req.request_id, false, routed.status.ok() ? routed.interaction.route->label : "unknown");
    return respond(std::move(r));
  }
  if (options_.authenticator == nullptr)
    return Serve(req, routed, tenant_url, Principal{}, std::move(respond));

  // Before the route's own errors: a client without valid credentials learns nothing about
  // which paths exist.
  const std::string label = routed.status.ok() ? routed.interaction.route->label : "unknown";
  AuthResult auth = options_.authenticator->Authenticate(req.Header("Authorization"), false);
  if (auth.kind == AuthResult::Kind::kRetryOffIoThread) {
    // The token names a key Kiln has not seen: fetching the issuer's keys may take a while, so
    // it happens on a worker (key_cache.h), which then serves the request too.
    auto shared_req = std::make_shared<http::Request>(std::move(req));
    auto shared_routed = std::make_shared<RouteResult>(std::move(routed));
    auto shared_tenant = std::make_shared<TenantPrefix>(std::move(tenant_url));
    workers_.Post([this, shared_req, shared_routed, shared_tenant, label, audit,
                   audit_tenant_from_claim, respond = std::move(respond)]() mutable {
      AuthResult again =
          options_.authenticator->Authenticate(shared_req->Header("Authorization"), true);
      if (again.kind != AuthResult::Kind::kOk) {
        if (again.kind == AuthResult::Kind::kRetryOffIoThread)  // cannot happen; never allow
          again.status = Status::Unavailable("The token could not be checked");
        return respond(
            UnauthenticatedResponse(again.status, *shared_req, label, options_.base_url));
      }
      if (audit) NoteWho(*audit, again.principal, audit_tenant_from_claim);
      Serve(*shared_req, *shared_routed, *shared_tenant, std::move(again.principal),
            std::move(respond));
    });
    return;
  }
  if (auth.kind != AuthResult::Kind::kOk)
    return respond(UnauthenticatedResponse(auth.status, req, label, options_.base_url));
  if (audit) NoteWho(*audit, auth.principal, audit_tenant_from_claim);
  Serve(req, routed, tenant_url, std::move(auth.principal), std::move(respond));
}

void Service::Serve(http::Request& req, RouteResult& routed, const TenantPrefix& tenant_url,
                    Principal principal, http::Responder respond) {
  // The tenant (rest/tenancy.h): before the route's own errors, after authentication (so a
  // client without credentials cannot probe which tenants exist).
  std::string tenant = kDefaultTenant;
  std::string tenant_base;
  if (options_.tenancy.mode != TenancyMode::kOff) {
    const bool capabilities =
        routed.status.ok() && routed.interaction.route->kind == InteractionKind::kCapabilities;
    std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
    const bool under_base =
        tenant_url.present ||
        (path.starts_with(options_.base_path) &&
         (path.size() == options_.base_path.size() || path[options_.base_path.size()] == '/'));
    if (capabilities) {
      // Public: [base]/metadata, or a tenant's [base]/tenant/{id}/metadata naming its own base.
      if (tenant_url.present) {
        if (!IsValidTenantId(tenant_url.id))
          return respond(ErrorResponse(ResolveTenant(options_.tenancy, tenant_url, "").status(),
                                       req.request_id, false, "capabilities"));
        tenant_base = TenantBaseUrl(options_.tenancy, options_.base_url, tenant_url.id);
      }
    } else if (under_base) {
      auto resolved = ResolveTenant(options_.tenancy, tenant_url, principal.tenant);
      if (!resolved.ok()) {
        return respond(
            ErrorResponse(resolved.status(), req.request_id, false,
                          routed.status.ok() ? routed.interaction.route->label : "unknown"));
      }
      tenant = std::move(resolved).value();
      if (TenantFromUrl(options_.tenancy.mode))
        tenant_base = TenantBaseUrl(options_.tenancy, options_.base_url, tenant);
    }
  }
  if (!routed.status.ok()) {
    http::Response r = ErrorResponse(routed.status, req.request_id, false, "unknown");
    if (!routed.allow.empty()) r.headers.emplace_back("Allow", routed.allow);
    respond(std::move(r));
    return;
  }
  auto call = std::make_shared<Call>();
  call->request_id = req.request_id;
  call->in = std::move(routed.interaction);
  call->respond = std::move(respond);
  call->label = call->in.route->label;
  call->access.authorizer = options_.authorizer;
  call->access.principal = std::move(principal);
  call->access.tenant = std::move(tenant);
  call->base_url = std::move(tenant_base);
  auto format =
      NegotiateOutput(call->in.Param("_format"), req.Header("Accept"), call->in.Param("_pretty"));
  if (!format.ok()) return call->Error(format.status());
  call->format = *format;
  if (!call->in.route->supported) {
    return call->Error(
        Status(ErrorCode::kNotImplemented, "not-supported",
               std::string("The ") + call->in.route->label + " interaction is not supported yet"));
  }
  if (Status s = CheckInteraction(call->access, call->in, BodyResourceType(call->in, req)); !s.ok())
    return call->Error(s);
  switch (call->in.route->kind) {
    case InteractionKind::kSearchType:
    case InteractionKind::kSearchSystem:
    case InteractionKind::kSearchCompartment:
    case InteractionKind::kHistoryInstance:
    case InteractionKind::kHistoryType:
    case InteractionKind::kHistorySystem:
      // Paging links carry sealed cursors (rest/tenancy.h): one from another tenant or caller
      // is a 400.
      if (Status s = OpenCursorParams(SealFor(call->access), call->in.params); !s.ok())
        return call->Error(s);
      break;
    default:
      break;
  }
  if (req.body.size() > kInlineBodyBytes) {
    auto shared = std::make_shared<http::Request>(std::move(req));
    workers_.Post([this, call, shared] { Dispatch(call, *shared); });
    return;
  }
  Dispatch(call, req);
}

void Service::Dispatch(const std::shared_ptr<Call>& call, http::Request& req) {
  const ResourceKey key{call->access.tenant, call->in.type, call->in.id};

  switch (call->in.route->kind) {
    case InteractionKind::kCapabilities: {
      http::Response r = NewResponse(*call, 200);
      // Under a tenant's base, implementation.url names that base.
      SetBody(
          r, call->format,
          call->base_url.empty() ? capability_statement_ : CapabilityStatementFor(call->base_url));
      call->respond(std::move(r));
      return;
    }

    case InteractionKind::kRead: {
      // Patient context: only resources in the patient's compartment (one indexed search).
      if (Status s = CheckReadable(call->access, StoreSearch(*call), key.type, key.id); !s.ok())
        return call->Error(s);
      auto found = store_.Read(key);
      if (!found.ok()) return call->Error(found.status());
      if (!found->has_value())
        return call->Error(Status::NotFound(key.type + "/" + key.id + " is not known"));
      const StoredResource& res = **found;
      if (res.info.deleted)
        return call->respond(
            GoneResponse(*call, res.info, key.type + "/" + key.id + " was deleted"));
      // Conditional read: If-None-Match wins over If-Modified-Since (RFC 7232 section 6).
      std::string_view inm = req.Header("If-None-Match");
      bool not_modified = false;
      if (!inm.empty()) {
        not_modified = core::TrimSpaces(inm) == "*" || ParseVersionETag(inm) == res.info.version;
      } else if (std::string_view ims = req.Header("If-Modified-Since"); !ims.empty()) {
        auto since = core::ParseHttpDate(core::TrimSpaces(ims));
        // HTTP dates have whole seconds: compare at that precision.
        not_modified = since && res.info.last_updated / 1000000 <= *since / 1000000;
      }
      // _summary and _elements shape a read's answer as they shape search entries.
      auto subset = ReadSubsetFor(call->in.type, call->in.params);
      if (!subset.ok()) return call->Error(subset.status());
      http::Response r = NewResponse(*call, not_modified ? 304 : 200);
      AddVersionHeaders(r, res.info);
      if (!not_modified) {
        SetBody(r, call->format,
                *subset ? fhir::SubsetResource(res.json, **subset) : std::string(res.json));
      }
      return call->respond(std::move(r));
    }

    case InteractionKind::kVRead: {
      int64_t vid = 0;
      const std::string& v = call->in.vid;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), vid);
      if (ec != std::errc() || p != v.data() + v.size() || vid < 1)
        return call->Error(
            Status::NotFound(key.type + "/" + key.id + " has no version '" + v + "'"));
      if (Status s = CheckReadable(call->access, StoreSearch(*call), key.type, key.id); !s.ok())
        return call->Error(s);
      auto found = store_.ReadVersion(key, vid);
      if (!found.ok()) return call->Error(found.status());
      if (!found->has_value())
        return call->Error(Status::NotFound(key.type + "/" + key.id + " has no version " + v));
      const StoredResource& res = **found;
      if (res.info.deleted) {
        return call->respond(GoneResponse(
            *call, res.info, key.type + "/" + key.id + " version " + v + " is a deletion"));
      }
      http::Response r = NewResponse(*call, 200);
      AddVersionHeaders(r, res.info);
      SetBody(r, call->format, res.json);
      return call->respond(std::move(r));
    }

    case InteractionKind::kCreate: {
      auto state = std::make_shared<WriteState>();
      auto prepared = ParseResourceBody(req, *call, options_.validation, state->warnings);
      if (!prepared.ok()) return call->Error(prepared.status());
      state->resource = std::move(prepared).value();
      // Conditional create (R4 http 3.1.0.8): If-None-Exist holds search criteria.
      // Patient context: what is created must be in the patient's compartment (access.h).
      const PatientWriteGuard guard(call->access, key.type, kPermCreate);
      std::optional<search::Query> condition;
      if (std::string_view ine = req.Header("If-None-Exist"); !ine.empty()) {
        if (Status s = CheckIfNoneExist(call->access, key.type); !s.ok()) return call->Error(s);
        auto params = IfNoneExistParams(ine, key.type, options_.base_path);
        if (!params.ok()) return call->Error(params.status());
        auto query = ConditionQuery(key.type, *params, 2, "If-None-Exist", guard.compartment());
        if (!query.ok()) return call->Error(query.status());
        if (Status a = CheckSearchCriteria(call->access, *query); !a.ok()) return call->Error(a);
        condition = std::move(query).value();
      }
      // The server assigns the id; a client-sent id is ignored (R4 http 3.1.0.8).
      std::string id = core::NewResourceId();
      auto index = IndexFor(state->resource, id);
      if (!index.ok()) return call->Error(index.status());
      state->index = std::move(index).value();
      if (Status s = guard.After(state->index); !s.ok()) return call->Error(s);
      ReturnPreference prefer = ParsePreferReturn(req.Header("Prefer"));
      // Rerunnable (Store::WriteRerunnable): the closure's effects outside the transaction are
      // fields of `state` that every run sets afresh from what it reads.
      store_.WriteRerunnable(
          [state, key, id, guard, condition = std::move(condition)](StoreTxn& txn) -> Status {
            const std::string& type = key.type;
            if (condition) {
              // Inside the write transaction, so a concurrent twin cannot create it in between.
              auto found = txn.Search(key.tenant, *condition);
              if (!found.ok()) return found.status();
              if (found->matches.size() > 1)
                return Status::PreconditionFailed(
                    "If-None-Exist: more than one " + type +
                    " matches the criteria; they must select at most one resource");
              if (found->matches.size() == 1) {
                state->stored = std::move(found->matches.front());
                state->changed = false;  // nothing created: the existing one is the answer
                return Status::Ok();
              }
            }
            if (Status s = AppendCreate(txn, *state, ResourceKey{key.tenant, type, id}); !s.ok())
              return s;
            return guard.Written(txn, id, true);  // a granular scope: it must match
          },
          [state, call, prefer, this](Status s) {
            if (!s.ok()) return call->Error(s);
            if (!state->changed) {
              return call->respond(WriteResponse(*call, BaseUrl(*call), 200, state->stored, prefer,
                                                 {}, "Found existing"));
            }
            call->respond(
                WriteResponse(*call, BaseUrl(*call), 201, state->stored, prefer, state->warnings));
          });
      return;
    }

    case InteractionKind::kConditionalUpdate: {
      // PUT [type]?criteria (R4 http 3.1.0.4.3): no match creates, one match is updated, more
      // are a 412. A body id must agree with the match (R5 made this explicit; R4 is silent).
      auto state = std::make_shared<WriteState>();
      auto prepared = ParseResourceBody(req, *call, options_.validation, state->warnings);
      if (!prepared.ok()) return call->Error(prepared.status());
      const PatientWriteGuard guard(call->access, key.type, kPermUpdate);
      auto condition =
          ConditionQuery(key.type, call->in.params, 2, "A conditional update", guard.compartment());
      if (!condition.ok()) return call->Error(condition.status());
      if (Status a = CheckSearchCriteria(call->access, *condition); !a.ok()) return call->Error(a);
      Status if_match_error;
      std::optional<int64_t> if_match = ParseIfMatch(req.Header("If-Match"), if_match_error);
      if (!if_match_error.ok()) return call->Error(if_match_error);
      std::optional<std::string> body_id;
      if (prepared->has_id) body_id = prepared->id;
      state->resource = std::move(prepared).value();
      // The id is known only once the transaction finds the match; the index does not hold it
      // (_id is answered from the resource row).
      auto index = IndexFor(state->resource, body_id.value_or("pending"));
      if (!index.ok()) return call->Error(index.status());
      state->index = std::move(index).value();
      if (Status s = guard.After(state->index); !s.ok()) return call->Error(s);
      ReturnPreference prefer = ParsePreferReturn(req.Header("Prefer"));
      const bool may_create = call->access.Reaches(key.type, kPermCreate);
      store_.Write(
          [state, tenant = key.tenant, type = key.type, body_id, if_match, may_create, guard,
           condition = std::move(condition).value()](StoreTxn& txn) -> Status {
            auto found = txn.Search(tenant, condition);
            if (!found.ok()) return found.status();
            if (found->matches.size() > 1)
              return Status::PreconditionFailed(
                  "Conditional update: more than one " + type +
                  " matches the criteria; they must select at most one resource");
            if (found->matches.size() == 1) {
              const std::string& id = found->matches.front().info.id;
              if (body_id && *body_id != id)
                return Status(ErrorCode::kInvalid, "invalid",
                              "The body's id '" + *body_id + "' is not the id of the " + type +
                                  " the criteria select ('" + id + "')",
                              type + ".id");
              if (Status s = AppendUpdate(txn, *state, ResourceKey{tenant, type, id}, if_match);
                  !s.ok())
                return s;
              return guard.Written(txn, id, false);
            }
            if (if_match)
              return Status::PreconditionFailed("If-Match: no " + type + " matches the criteria");
            if (!may_create)
              return Forbidden(type, kPermCreate, "a conditional update that creates a " + type);
            if (!body_id) {
              std::string id = core::NewResourceId();
              if (Status s = AppendCreate(txn, *state, ResourceKey{tenant, type, id}); !s.ok())
                return s;
              return guard.Written(txn, id, true);
            }
            // No match, client id: update-as-create, unless that id is taken by a resource the
            // criteria do not select (updating it would overwrite what the client did not mean).
            ResourceKey target{tenant, type, *body_id};
            auto latest = txn.ReadLatest(target);
            if (!latest.ok()) return latest.status();
            if (*latest && !(*latest)->info.deleted)
              return Status::Conflict(type + "/" + *body_id +
                                      " exists but does not match the criteria");
            if (Status s = guard.Before(txn, *body_id); !s.ok()) return s;
            if (Status s = AppendUpdate(txn, *state, target, std::nullopt); !s.ok()) return s;
            return guard.Written(txn, target.id, state->created);
          },
          [state, call, prefer, this](Status s) {
            if (!s.ok()) return call->Error(s);
            call->respond(WriteResponse(*call, BaseUrl(*call), state->created ? 201 : 200,
                                        state->stored, prefer, state->warnings));
          });
      return;
    }

    case InteractionKind::kConditionalDelete: {
      // DELETE [type]?criteria (R4 http 3.1.0.7.1): deletes what matches, at most
      // conditional_delete_max resources (one, by default); more matches are a 412.
      const int limit = options_.conditional_delete_max;
      const PatientWriteGuard guard(call->access, key.type, kPermDelete);
      auto condition = ConditionQuery(key.type, call->in.params, limit + 1, "A conditional delete",
                                      guard.compartment());
      if (!condition.ok()) return call->Error(condition.status());
      if (Status a = CheckSearchCriteria(call->access, *condition); !a.ok()) return call->Error(a);
      auto state = std::make_shared<WriteState>();
      store_.Write(
          [state, tenant = key.tenant, type = key.type, limit,
           condition = std::move(condition).value()](StoreTxn& txn) -> Status {
            auto found = txn.Search(tenant, condition);
            if (!found.ok()) return found.status();
            if (static_cast<int64_t>(found->matches.size()) > limit)
              return Status::PreconditionFailed(
                  "Conditional delete: more than " + std::to_string(limit) + " " + type +
                  (limit == 1 ? " matches" : " resources match") +
                  " the criteria (the server's --conditional-delete-max is " +
                  std::to_string(limit) + ")");
            for (const StoredResource& match : found->matches) {
              WriteState one;
              Status s = AppendDelete(txn, one, ResourceKey{tenant, type, match.info.id});
              if (!s.ok()) return s;
              if (one.changed) {
                ++state->deleted;
                state->stored = std::move(one.stored);
              }
            }
            return Status::Ok();
          },
          [state, call](Status s) {
            if (!s.ok()) return call->Error(s);
            http::Response r = NewResponse(*call, 204);
            if (state->deleted == 1) AddVersionHeaders(r, state->stored.info);
            call->respond(std::move(r));
          });
      return;
    }

    case InteractionKind::kUpdate: {
      auto state = std::make_shared<WriteState>();
      auto prepared = ParseResourceBody(req, *call, options_.validation, state->warnings);
      if (!prepared.ok()) return call->Error(prepared.status());
      if (!prepared->has_id)
        return call->Error(Status(ErrorCode::kInvalid, "required",
                                  "An update must carry the resource id in the body", "id"));
      if (prepared->id != key.id)
        return call->Error(Status(
            ErrorCode::kInvalid, "invalid",
            "The body's id '" + prepared->id + "' does not match the URL's id '" + key.id + "'",
            key.type + ".id"));
      Status if_match_error;
      std::optional<int64_t> if_match = ParseIfMatch(req.Header("If-Match"), if_match_error);
      if (!if_match_error.ok()) return call->Error(if_match_error);
      state->resource = std::move(prepared).value();
      auto index = IndexFor(state->resource, key.id);
      if (!index.ok()) return call->Error(index.status());
      state->index = std::move(index).value();
      const PatientWriteGuard guard(call->access, key.type, kPermUpdate);
      if (Status s = guard.After(state->index); !s.ok()) return call->Error(s);
      ReturnPreference prefer = ParsePreferReturn(req.Header("Prefer"));
      // Update-as-create needs c as well as u: known only inside the write.
      const bool may_create = call->access.Reaches(key.type, kPermCreate);
      store_.WriteRerunnable(  // as for create
          [state, key, if_match, may_create, guard](StoreTxn& txn) -> Status {
            if (Status s = guard.Before(txn, key.id); !s.ok()) return s;
            if (!may_create) {
              auto latest = txn.ReadLatest(key);
              if (!latest.ok()) return latest.status();
              if (!*latest || (*latest)->info.deleted)
                return Forbidden(key.type, kPermCreate,
                                 "an update that creates " + key.type + "/" + key.id);
            }
            if (Status s = AppendUpdate(txn, *state, key, if_match); !s.ok()) return s;
            // A granular scope: the version written must match it (failing rolls it back).
            return guard.Written(txn, key.id, state->created);
          },
          [state, call, prefer, this](Status s) {
            if (!s.ok()) return call->Error(s);
            call->respond(WriteResponse(*call, BaseUrl(*call), state->created ? 201 : 200,
                                        state->stored, prefer, state->warnings));
          });
      return;
    }

    case InteractionKind::kPatch:
    case InteractionKind::kConditionalPatch: {
      // PATCH [type]/[id], or PATCH [type]?criteria (R4 http 3.1.0.6.1, 3.1.0.4.3): no match is
      // a 404, one is patched, more are a 412.
      auto parsed = ParsePatchBody(req);
      if (!parsed.ok()) return call->Error(parsed.status());
      const PatientWriteGuard guard(call->access, key.type, kPermUpdate);
      std::optional<search::Query> condition;
      if (call->in.route->kind == InteractionKind::kConditionalPatch) {
        auto query = ConditionQuery(key.type, call->in.params, 2, "A conditional patch",
                                    guard.compartment());
        if (!query.ok()) return call->Error(query.status());
        if (Status a = CheckSearchCriteria(call->access, *query); !a.ok()) return call->Error(a);
        condition = std::move(query).value();
      }
      Status if_match_error;
      std::optional<int64_t> if_match = ParseIfMatch(req.Header("If-Match"), if_match_error);
      if (!if_match_error.ok()) return call->Error(if_match_error);
      auto state = std::make_shared<WriteState>();
      ReturnPreference prefer = ParsePreferReturn(req.Header("Prefer"));
      store_.Write(
          [state, key, if_match, guard, condition = std::move(condition),
           patch = std::move(parsed).value(),
           policy = options_.validation](StoreTxn& txn) -> Status {
            ResourceKey target = key;
            if (condition) {
              auto found = txn.Search(key.tenant, *condition);
              if (!found.ok()) return found.status();
              if (found->matches.empty())
                return Status::NotFound("Conditional patch: no " + key.type +
                                        " matches the criteria");
              if (found->matches.size() > 1)
                return Status::PreconditionFailed(
                    "Conditional patch: more than one " + key.type +
                    " matches the criteria; they must select one resource");
              target.id = found->matches.front().info.id;
            }
            if (Status s = guard.Before(txn, target.id); !s.ok()) return s;
            if (Status s = AppendPatch(txn, *state, target, patch, if_match, policy); !s.ok())
              return s;
            // The patched version must still be the patient's, and match a granular scope
            // (failing rolls the patch back).
            if (Status s = guard.After(state->index); !s.ok()) return s;
            return guard.Written(txn, target.id, false);
          },
          [state, call, prefer, this](Status s) {
            if (!s.ok()) return call->Error(s);
            call->respond(WriteResponse(*call, BaseUrl(*call), 200, state->stored, prefer,
                                        state->warnings, "Patched"));
          });
      return;
    }

    case InteractionKind::kDelete: {
      auto state = std::make_shared<WriteState>();
      const PatientWriteGuard guard(call->access, key.type, kPermDelete);
      store_.WriteRerunnable(  // as for create
          [state, key, guard](StoreTxn& txn) -> Status {
            if (Status s = guard.Before(txn, key.id); !s.ok()) return s;
            return AppendDelete(txn, *state, key);
          },
          [state, call](Status s) {
            if (!s.ok()) return call->Error(s);
            http::Response r = NewResponse(*call, 204);
            if (state->changed) AddVersionHeaders(r, state->stored.info);
            call->respond(std::move(r));
          });
      return;
    }

    case InteractionKind::kHistoryInstance:
    case InteractionKind::kHistoryType:
    case InteractionKind::kHistorySystem: {
      auto query = ParseHistoryQuery(call->in, options_.default_count, options_.max_count);
      if (!query.ok()) return call->Error(query.status());
      query->tenant = call->access.tenant;
      // History pages can be large: build them off the I/O thread.
      workers_.Post([this, call, query = std::move(query).value()]() mutable {
        if (call->in.route->kind == InteractionKind::kHistoryInstance) {
          if (Status s =
                  CheckReadable(call->access, StoreSearch(*call), call->in.type, call->in.id);
              !s.ok())
            return call->Error(s);
          auto exists = store_.Read({call->access.tenant, call->in.type, call->in.id});
          if (!exists.ok()) return call->Error(exists.status());
          if (!exists->has_value())
            return call->Error(
                Status::NotFound(call->in.type + "/" + call->in.id + " is not known"));
        }
        // A patient context (or a granular scope): only the versions of resources it reaches.
        std::optional<int64_t> next_before;
        auto page = HistoryIsRestricted(call->access, call->in)
                        ? RestrictedHistory(
                              call->access, StoreSearch(*call),
                              [this](const HistoryQuery& q) { return store_.History(q); }, query,
                              next_before)
                        : store_.History(query);
        if (!page.ok()) return call->Error(page.status());
        http::Response r = NewResponse(*call, 200);
        SetBody(r, call->format,
                HistoryBundleJson(LinksFor(*call), call->in, query, *page, next_before));
        call->respond(std::move(r));
      });
      return;
    }

    case InteractionKind::kSearchType:
    case InteractionKind::kSearchSystem:
    case InteractionKind::kSearchCompartment:
      return Search(call, req);

    case InteractionKind::kBatchOrTransaction: {
      // R4 http 3.1.0.11; rest/bundle.h. Entries are prepared on a worker.
      if (Status s = CheckResourceContentType(req.Header("Content-Type")); !s.ok())
        return call->Error(s);
      ReturnPreference prefer = ParsePreferReturn(req.Header("Prefer"));
      auto body = std::make_shared<std::string>(std::move(req.body));
      workers_.Post([this, call, body, prefer] {
        ProcessBundle(std::move(*body), prefer, call->request_id, call->access, LinksFor(*call),
                      options_, store_, workers_, [call](Result<std::string> answer) {
                        if (!answer.ok()) return call->Error(answer.status());
                        http::Response r = NewResponse(*call, 200);
                        SetBody(r, call->format, std::move(answer).value());
                        call->respond(std::move(r));
                      });
      });
      return;
    }

    case InteractionKind::kValidate: {
      if (Status s = CheckResourceContentType(req.Header("Content-Type")); !s.ok())
        return call->Error(s);
      auto outcome =
          ValidateOperation(req.body, call->in.type, call->in.id, options_.validation.options);
      if (!outcome.ok()) return call->Error(outcome.status());
      http::Response r = NewResponse(*call, 200);
      SetBody(r, call->format, std::move(outcome).value());
      return call->respond(std::move(r));
    }

    default:
      return call->Error(Status(ErrorCode::kNotImplemented, "not-supported",
                                "This interaction is not supported yet"));
  }
}

SearchFn Service::StoreSearch(const Call& call) {
  return [this, tenant = call.access.tenant](const search::Query& q) {
    return store_.Search(tenant, q);
  };
}

void Service::Search(const std::shared_ptr<Call>& call, http::Request& req) {
  const Interaction& in = call->in;
  QueryParams params = in.params;
  if (req.method == "POST") {
    // POST .../_search: the form body's parameters join the URL's.
    std::string_view ct = req.Header("Content-Type");
    if (!core::EqualsIgnoreCase(core::TrimSpaces(ct.substr(0, ct.find(';'))),
                                "application/x-www-form-urlencoded"))
      return call->Error(Status(ErrorCode::kUnsupportedMediaType, "not-supported",
                                "POST _search needs an application/x-www-form-urlencoded body"));
    auto form = DecodeFormBody(req.body);
    if (!form.ok()) return call->Error(form.status());
    if (Status s = OpenCursorParams(SealFor(call->access), *form); !s.ok()) return call->Error(s);
    params.insert(params.end(), form->begin(), form->end());
  }
  search::SearchParams search_params;
  for (auto& [k, v] : params) {
    if (k == "_format" || k == "_pretty") continue;  // output options, handled above
    search_params.emplace_back(k, v);
  }
  search::QueryOptions query_options;
  query_options.default_count = options_.default_count;
  query_options.max_count = options_.max_count;
  query_options.max_includes = options_.max_includes;
  query_options.strict = req.Header("Prefer").find("handling=strict") != std::string_view::npos;

  // What the search ranges over, and where its paging links point.
  std::vector<std::string> types;
  std::string link_path;
  switch (in.route->kind) {
    case InteractionKind::kSearchSystem:  // [base]?_type=...: every type unless _type narrows
      break;
    case InteractionKind::kSearchCompartment: {
      const fhir::CompartmentDef* compartment = fhir::FindCompartment(in.type);
      if (compartment == nullptr) {
        std::string known;
        for (const fhir::CompartmentDef& c : fhir::Compartments()) {
          known += known.empty() ? "" : ", ";
          known += c.code();
        }
        return call->Error(Status::NotFound(
            in.type + " is not a compartment (the compartments are " + known + ")"));
      }
      // Every member type for "*" (only those the caller may search, when auth is on).
      if (Status s = PrepareSearch(call->access, in, types, query_options, search_params); !s.ok())
        return call->Error(s);
      link_path = in.type + "/" + in.id + "/" + in.search_type;
      break;
    }
    default:
      // A patient-context caller searches within its patient's compartment.
      if (Status s = PrepareSearch(call->access, in, types, query_options, search_params); !s.ok())
        return call->Error(s);
      link_path = in.type;
      break;
  }
  auto query = search::ParseQuery(types, search_params, query_options);
  if (!query.ok()) return call->Error(query.status());
  if (in.route->kind == InteractionKind::kSearchSystem) {
    // Only the types the caller may search (access.h); _type naming another is a 403.
    bool narrow = false;
    std::vector<std::string> permitted;
    if (Status s = NarrowSystemSearch(call->access, *query, narrow, permitted, query_options);
        !s.ok())
      return call->Error(s);
    if (narrow) {
      query = search::ParseQuery(permitted, search_params, query_options);
      if (!query.ok()) return call->Error(query.status());
    }
  }
  if (Status s = CheckSearchCriteria(call->access, *query); !s.ok()) return call->Error(s);
  // Searches can touch many rows: run them off the I/O thread.
  workers_.Post([this, call, link_path, query = std::move(query).value()] {
    auto page = store_.Search(call->access.tenant, query);
    if (!page.ok()) return call->Error(page.status());
    if (Status s = FilterPage(call->access, StoreSearch(*call), *page); !s.ok())
      return call->Error(s);
    http::Response r = NewResponse(*call, 200);
    SetBody(r, call->format, SearchBundleJson(LinksFor(*call), link_path, query, *page));
    call->respond(std::move(r));
  });
}

}  // namespace kiln::rest
