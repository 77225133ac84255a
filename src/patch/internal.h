// Internals of kiln_patch shared by its translation units: the parsed operations of each format
// and the functions that parse and apply them. Not part of the public API (see patch.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fhirpath/fhirpath.h"
#include "kiln/status.h"
#include "patch/json_tree.h"
#include "patch/patch.h"

namespace kiln::patch {

// --- JSON Patch (json_patch.cc) ---

struct JsonPatchOp {
  enum class Type { kAdd, kRemove, kReplace, kMove, kCopy, kTest };
  Type type = Type::kAdd;
  std::string op;  // as written, for messages
  std::string path_text, from_text;
  std::vector<std::string> path, from;  // unescaped reference tokens
  Json value;
};

Result<std::vector<JsonPatchOp>> ParseJsonPatchOps(const Json& document);
Status ApplyJsonPatchOps(const std::vector<JsonPatchOp>& ops, Json& target);

// --- FHIRPath Patch (fhirpath_patch.cc) ---

// A value given in a Parameters part: `value[x]` (with its `_value[x]` sibling), a `resource`, or
// nested `part`s naming the members of an anonymous (BackboneElement) or complex value.
struct PartValue {
  enum class Kind { kTyped, kResource, kParts };
  Kind kind = Kind::kTyped;
  std::string type_suffix;  // kTyped: "CodeableConcept", "Date", "String" (as in valueDate)
  Json value;               // kTyped, kResource
  std::optional<Json> extras;
  std::vector<std::pair<std::string, PartValue>> parts;  // kParts
};

struct FhirPathOp {
  enum class Type { kAdd, kInsert, kDelete, kReplace, kMove };
  Type type = Type::kAdd;
  std::string type_code;  // as written
  std::string path_text;
  fhirpath::Expression path;
  std::string name;                     // add
  std::optional<PartValue> value;       // add, insert, replace
  int64_t index = 0;                    // insert
  int64_t source = 0, destination = 0;  // move
};

Result<std::vector<FhirPathOp>> ParseFhirPathOps(const Json& parameters);
Status ApplyFhirPathOps(const std::vector<FhirPathOp>& ops, Json& resource);

struct Patch::Impl {
  Format format = Format::kJsonPatch;
  std::vector<JsonPatchOp> json_ops;
  std::vector<FhirPathOp> fhirpath_ops;
};

// "Patch operation 3 (add at /a/b): <reason>" as a kUnprocessable (422) Status.
Status OperationFailed(size_t index, std::string_view op, std::string_view path,
                       std::string reason);
// Same shape for a malformed operation: kInvalid (400).
Status OperationInvalid(size_t index, std::string reason, std::string expression = {});

}  // namespace kiln::patch
