// The REST side of the audit log (include/kiln/audit.h): what one FHIR request's AuditEvent says,
// gathered as the request goes through the service, and recorded when its response is handed
// over. Pure helpers; thread-safe.
#pragma once

#include <memory>

#include "http/server.h"
#include "kiln/audit.h"
#include "kiln/context.h"
#include "rest/router.h"

namespace kiln::rest {

// The event for `req` as routed: when, where from, the interaction, type, id and version it
// names, and the names (never values) of its query and _search form parameters.
std::shared_ptr<AuditEvent> BeginAudit(const http::Request& req, const RouteResult& routed);

// Who asked: the identities a verified token established; with `tenant_from_claim` (no tenant
// in the URL, a tenancy mode that reads the claim) also the tenant its claim names.
void NoteWho(AuditEvent& event, const Principal& principal, bool tenant_from_claim);

// A Responder that completes the event from the response (status, ETag version, the id a create
// got from Location, duration), records it in `sink`, then answers with `respond`.
http::Responder AuditedResponder(AuditSink& sink, std::shared_ptr<AuditEvent> event,
                                 std::chrono::steady_clock::time_point received,
                                 http::Responder respond);

}  // namespace kiln::rest
