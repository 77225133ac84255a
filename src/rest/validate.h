// Validation at the REST edge: the check every create and update passes through, and the
// $validate operation (R4 Resource-validate). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"
#include "validation/validator.h"

namespace kiln::rest {

struct ValidationPolicy {
  bool enabled = true;  // false only for benchmarks (--validation off)
  validation::Options options;
  // Migrations only: store resources that fail validation, reporting the problems as warnings
  // (logged, and returned with Prefer: return=OperationOutcome) instead of refusing them.
  bool warn_only = false;
};

// Validates a resource body that fhir::PrepareResource accepted. OK when nothing is wrong (or in
// warn-only mode, when `warnings` receives the problems); kInvalid (400) carrying every issue
// otherwise. `Prefer: handling=lenient` deliberately has no say here.
Status CheckWrite(std::string_view json, const ValidationPolicy& policy,
                  std::vector<Issue>& warnings);

// POST [type]/$validate, [type]/[id]/$validate and /$validate: the body is a Parameters resource
// with a `resource` parameter (and optionally `mode`), or the bare resource. Returns the
// OperationOutcome to answer with 200 (issues found, or one "All OK" information issue), or a
// failed Status when the request itself is unusable (no resource to validate).
Result<std::string> ValidateOperation(std::string_view body, std::string_view url_type,
                                      std::string_view url_id, const validation::Options& options);

}  // namespace kiln::rest
