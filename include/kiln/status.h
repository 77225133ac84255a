// Status and Result<T>: how every Kiln component reports an expected failure.
//
// A failed Status carries an ErrorCode (which rest/outcome.cc maps, in one table, to an HTTP status)
// and one or more Issues that map 1:1 onto OperationOutcome.issue. Bad input, not found, conflicts
// and the like are Status values, never exceptions. Value types; not synchronised.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kiln {

// What went wrong, independent of the transport. rest/outcome.cc owns the mapping to HTTP.
enum class ErrorCode {
  kOk = 0,
  kInvalid,           // 400: malformed request, parameter or resource
  kUnauthenticated,   // 401
  kForbidden,         // 403
  kNotFound,          // 404
  kMethodNotAllowed,  // 405
  kNotAcceptable,     // 406: the client asked for a format Kiln does not produce
  kConflict,          // 409
  kGone,              // 410: the resource is deleted
  kPreconditionFailed,  // 412: If-Match and friends
  kTooLarge,          // 413
  kUnsupportedMediaType,  // 415
  kUnprocessable,     // 422: well formed but breaks a business rule
  kHeaderTooLarge,    // 431
  kInternal,          // 500: never shows internals to the client
  kNotImplemented,    // 501: a FHIR interaction Kiln does not support (yet)
  kUnavailable,       // 503
};

// OperationOutcome.issue.severity
enum class Severity { kFatal, kError, kWarning, kInformation };

// One OperationOutcome.issue. `code` is the FHIR IssueType code ("invalid", "structure",
// "not-found", "processing", ...). `expression` is a FHIRPath to the offending element, if any.
struct Issue {
  Severity severity = Severity::kError;
  std::string code = "processing";
  std::string diagnostics;
  std::string expression;
};

class Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode error, std::string issue_code, std::string diagnostics,
         std::string expression = {})
      : error_(error) {
    issues_.push_back({Severity::kError, std::move(issue_code), std::move(diagnostics),
                       std::move(expression)});
  }
  Status(ErrorCode error, std::vector<Issue> issues) : error_(error), issues_(std::move(issues)) {}

  static Status Ok() { return Status(); }
  static Status Invalid(std::string diagnostics, std::string expression = {}) {
    return Status(ErrorCode::kInvalid, "invalid", std::move(diagnostics), std::move(expression));
  }
  static Status NotFound(std::string diagnostics) {
    return Status(ErrorCode::kNotFound, "not-found", std::move(diagnostics));
  }
  static Status Gone(std::string diagnostics) {
    return Status(ErrorCode::kGone, "deleted", std::move(diagnostics));
  }
  static Status Conflict(std::string diagnostics) {
    return Status(ErrorCode::kConflict, "conflict", std::move(diagnostics));
  }
  static Status PreconditionFailed(std::string diagnostics) {
    return Status(ErrorCode::kPreconditionFailed, "conflict", std::move(diagnostics));
  }
  // The diagnostics of an internal error are logged, never sent to the client.
  static Status Internal(std::string diagnostics) {
    return Status(ErrorCode::kInternal, "exception", std::move(diagnostics));
  }
  static Status Unavailable(std::string diagnostics) {
    return Status(ErrorCode::kUnavailable, "transient", std::move(diagnostics));
  }

  bool ok() const { return error_ == ErrorCode::kOk; }
  ErrorCode error() const { return error_; }
  const std::vector<Issue>& issues() const { return issues_; }
  // The first issue's diagnostics, or "" when OK; handy for logs and tests.
  std::string message() const { return issues_.empty() ? std::string() : issues_[0].diagnostics; }

 private:
  ErrorCode error_ = ErrorCode::kOk;
  std::vector<Issue> issues_;
};

// Either a value or a failed Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {   // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status take_status() { return ok() ? Status() : std::move(std::get<Status>(v_)); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kiln
