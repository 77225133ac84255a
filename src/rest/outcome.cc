#include "rest/outcome.h"

#include "core/log.h"
#include "core/strings.h"
#include "fhir/resource_json.h"

namespace kiln::rest {

int HttpStatusFor(ErrorCode error) {
  switch (error) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kInvalid:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kNotAcceptable:
      return 406;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kGone:
      return 410;
    case ErrorCode::kPreconditionFailed:
      return 412;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMediaType:
      return 415;
    case ErrorCode::kUnprocessable:
      return 422;
    case ErrorCode::kHeaderTooLarge:
      return 431;
    case ErrorCode::kInternal:
      return 500;
    case ErrorCode::kNotImplemented:
      return 501;
    case ErrorCode::kUnavailable:
      return 503;
  }
  return 500;
}

namespace {
const char* SeverityCode(Severity s) {
  switch (s) {
    case Severity::kFatal:
      return "fatal";
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kInformation:
      return "information";
  }
  return "error";
}

void AppendIssue(std::string& out, const Issue& issue) {
  out += "{\"severity\":\"";
  out += SeverityCode(issue.severity);
  out += "\",\"code\":";
  out += core::JsonQuote(issue.code);
  if (!issue.diagnostics.empty()) {
    out += ",\"diagnostics\":";
    out += core::JsonQuote(issue.diagnostics);
  }
  if (!issue.expression.empty()) {
    out += ",\"expression\":[";
    out += core::JsonQuote(issue.expression);
    out += ']';
  }
  out += '}';
}
void AppendIssues(std::string& out, const std::vector<Issue>& issues) {
  bool first = true;
  for (const Issue& issue : issues) {
    if (!first) out += ',';
    first = false;
    AppendIssue(out, issue);
  }
}
}  // namespace

std::string OperationOutcomeJson(const Status& status, std::string_view request_id) {
  std::string out = "{\"resourceType\":\"OperationOutcome\",\"issue\":[";
  if (status.error() == ErrorCode::kInternal) {
    AppendIssue(out,
                Issue{Severity::kError, "exception",
                      "Internal server error (request id " + std::string(request_id) + ")", ""});
  } else if (status.issues().empty()) {
    AppendIssue(out, Issue{Severity::kError, "processing", "Request failed", ""});
  } else {
    AppendIssues(out, status.issues());
  }
  out += "]}";
  return out;
}

std::string IssuesOutcomeJson(const std::vector<Issue>& issues) {
  if (issues.empty()) return InformationOutcomeJson("All OK: no problems found");
  std::string out = "{\"resourceType\":\"OperationOutcome\",\"issue\":[";
  AppendIssues(out, issues);
  out += "]}";
  return out;
}

std::string InformationOutcomeJson(std::string_view diagnostics) {
  std::string out = "{\"resourceType\":\"OperationOutcome\",\"issue\":[";
  AppendIssue(out, Issue{Severity::kInformation, "informational", std::string(diagnostics), ""});
  out += "]}";
  return out;
}

http::Response ErrorResponse(const Status& status, std::string_view request_id, bool pretty,
                             std::string_view interaction) {
  if (status.error() == ErrorCode::kInternal || status.error() == ErrorCode::kUnavailable) {
    core::LogError("request failed",
                   {{"request_id", request_id}, {"error", std::string_view(status.message())}});
  }
  http::Response r;
  r.status = HttpStatusFor(status.error());
  r.interaction = std::string(interaction);
  r.headers.emplace_back("Content-Type", kFhirJson);
  r.body = OperationOutcomeJson(status, request_id);
  if (pretty) r.body = fhir::PrettyPrint(r.body);
  return r;
}

}  // namespace kiln::rest
