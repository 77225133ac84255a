#include "rest/audit_trail.h"

#include <algorithm>

#include "core/clock.h"
#include "core/strings.h"
#include "rest/search.h"

namespace kiln::rest {
namespace {

void AddParamName(std::vector<std::string>& names, std::string_view name) {
  if (name.empty() || name.size() > 128) return;  // a name that long is noise, not a parameter
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  if (names.size() >= 64) return;
  names.emplace_back(name);
}

bool IsSearch(const RouteResult& routed) {
  if (!routed.status.ok()) return false;
  InteractionKind k = routed.interaction.route->kind;
  return k == InteractionKind::kSearchType || k == InteractionKind::kSearchSystem ||
         k == InteractionKind::kSearchCompartment;
}

std::string_view Header(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (core::EqualsIgnoreCase(k, name)) return v;
  return {};
}

// W/"3" -> 3
std::string VersionFromETag(std::string_view etag) {
  size_t open = etag.find('"');
  size_t close = etag.rfind('"');
  if (open == std::string_view::npos || close <= open) return {};
  return std::string(etag.substr(open + 1, close - open - 1));
}

}  // namespace

std::shared_ptr<AuditEvent> BeginAudit(const http::Request& req, const RouteResult& routed) {
  auto event = std::make_shared<AuditEvent>();
  event->time_micros = core::NowMicros();
  event->request_id = req.request_id;
  event->tenant = kDefaultTenant;
  event->method = req.method;
  event->remote_address = req.remote_address;
  event->forwarded_for = std::string(req.Header("X-Forwarded-For"));
  event->user_agent = std::string(req.Header("User-Agent"));
  if (routed.status.ok()) {
    const Interaction& in = routed.interaction;
    event->type = in.type;
    event->id = in.id;
    event->version = in.vid;
    for (const auto& [name, value] : in.params) AddParamName(event->params, name);
  }
  if (req.method == "POST" && IsSearch(routed)) {
    auto form = DecodeFormBody(req.body);
    if (form.ok())
      for (const auto& [name, value] : *form) AddParamName(event->params, name);
  }
  return event;
}

void NoteWho(AuditEvent& event, const Principal& principal, bool tenant_from_claim) {
  if (tenant_from_claim && !principal.tenant.empty()) event.tenant = principal.tenant;
  event.authenticated = principal.authenticated;
  event.subject = principal.subject;
  event.client_id = principal.client_id;
  event.fhir_user = principal.fhir_user;
  event.patient = principal.patient;
}

http::Responder AuditedResponder(AuditSink& sink, std::shared_ptr<AuditEvent> event,
                                 std::chrono::steady_clock::time_point received,
                                 http::Responder respond) {
  return [&sink, event = std::move(event), received,
          respond = std::move(respond)](http::Response&& r) {
    AuditEvent& e = *event;
    e.status = r.status;
    e.interaction = r.interaction;
    e.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - received)
            .count();
    if (r.status < 400) {
      std::string version = VersionFromETag(Header(r, "ETag"));
      if (!version.empty()) e.version = std::move(version);
      // A create's Location, [base]/Type/id/_history/v: the id it got.
      std::string_view location = Header(r, "Location");
      size_t hist = location.rfind("/_history/");
      if (e.id.empty() && hist != std::string_view::npos) {
        std::string_view before = location.substr(0, hist);
        e.id = std::string(before.substr(before.rfind('/') + 1));
      }
    }
    sink.Record(std::move(e));
    respond(std::move(r));
  };
}

}  // namespace kiln::rest
