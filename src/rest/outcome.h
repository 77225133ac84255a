// The ONE place that turns a Status into an HTTP status code and an OperationOutcome body.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/server.h"
#include "kiln/status.h"

namespace kiln::rest {

inline constexpr const char* kFhirJson = "application/fhir+json; charset=utf-8";

int HttpStatusFor(ErrorCode error);

// The OperationOutcome JSON (compact) for `status`. Internal errors (500) never show their
// diagnostics to the client: the body names the request id so operators can find the log line.
std::string OperationOutcomeJson(const Status& status, std::string_view request_id);

// An OperationOutcome listing `issues` as they are (any severities); "All OK" information issue
// when the list is empty (an OperationOutcome needs at least one issue).
std::string IssuesOutcomeJson(const std::vector<Issue>& issues);

// An OperationOutcome with one informational issue (e.g. for Prefer: return=OperationOutcome).
std::string InformationOutcomeJson(std::string_view diagnostics);

// A complete error response (status, Content-Type, OperationOutcome body), logging internal
// errors with their real diagnostics.
http::Response ErrorResponse(const Status& status, std::string_view request_id, bool pretty,
                             std::string_view interaction);

}  // namespace kiln::rest
