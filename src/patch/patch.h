// The PATCH interaction's two patch formats (R4 http 3.1.0.6.1):
//   - JSON Patch (RFC 6902, application/json-patch+json): add, remove, replace, move, copy, test
//     on JSON Pointers (RFC 6901), applied to the resource's JSON as plain JSON;
//   - FHIRPath Patch (R4 fhirpatch.html, a Parameters resource): add, insert, delete, replace,
//     move, with FHIRPath paths and values of any FHIR type (value[x], or nested parts for
//     anonymous BackboneElement types), applied with the R4 definitions' knowledge of which
//     elements repeat and which are choices; a primitive's `_name` sibling (its id/extensions)
//     travels with it.
//
// A patch is parsed once (a malformed patch document is kInvalid, 400) and may then be applied to
// any number of resources (a patch that cannot be applied to this resource is kUnprocessable,
// 422, naming the operation by its 1-based position). Numbers keep their exact text, so decimals
// the patch does not touch come out as they went in. A parsed Patch is immutable and may be
// applied from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::patch {

enum class Format { kJsonPatch, kFhirPathPatch };

class Patch {
 public:
  // Parses a patch document in `format`. kInvalid when it is not JSON, not the right shape
  // (an array of operations; a Parameters resource of `operation` parameters), names an unknown
  // operation, lacks a required part, or has a path that is not a valid JSON Pointer / FHIRPath.
  static Result<Patch> Parse(Format format, std::string_view document);

  // Applies the operations in order to `resource_json` and returns the compact JSON result.
  // kUnprocessable when an operation cannot be applied (a path selects nothing where something is
  // required, or several nodes where one is, an index out of range, a JSON Patch `test` that does
  // not hold); kInvalid when `resource_json` is not JSON.
  Result<std::string> Apply(std::string_view resource_json) const;

  Format format() const;
  // Number of operations.
  size_t size() const;

  struct Impl;  // json_patch.cc / fhirpath_patch.cc

 private:
  std::shared_ptr<const Impl> impl_;
};

// One-shot helpers: parse, then apply.
Result<std::string> ApplyJsonPatch(std::string_view resource_json, std::string_view patch_json);
Result<std::string> ApplyFhirPathPatch(std::string_view resource_json,
                                       std::string_view parameters_json);

}  // namespace kiln::patch
