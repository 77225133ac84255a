#include "patch/patch.h"

#include "patch/internal.h"

namespace kiln::patch {

Status OperationFailed(size_t index, std::string_view op, std::string_view path,
                       std::string reason) {
  std::string where = "Patch operation " + std::to_string(index + 1) + " (" + std::string(op);
  if (!path.empty()) where += " at " + std::string(path);
  return Status(ErrorCode::kUnprocessable, "processing", where + "): " + std::move(reason));
}

Status OperationInvalid(size_t index, std::string reason, std::string expression) {
  return Status(ErrorCode::kInvalid, "invalid",
                "Patch operation " + std::to_string(index + 1) + ": " + std::move(reason),
                std::move(expression));
}

Result<Patch> Patch::Parse(Format format, std::string_view document) {
  auto doc = ParseJson(document, format == Format::kJsonPatch ? "The JSON Patch document"
                                                              : "The FHIRPath Patch Parameters");
  if (!doc.ok()) return doc.take_status();
  auto impl = std::make_shared<Impl>();
  impl->format = format;
  if (format == Format::kJsonPatch) {
    auto ops = ParseJsonPatchOps(*doc);
    if (!ops.ok()) return ops.take_status();
    impl->json_ops = std::move(ops).value();
  } else {
    auto ops = ParseFhirPathOps(*doc);
    if (!ops.ok()) return ops.take_status();
    impl->fhirpath_ops = std::move(ops).value();
  }
  Patch p;
  p.impl_ = std::move(impl);
  return p;
}

Result<std::string> Patch::Apply(std::string_view resource_json) const {
  auto doc = ParseJson(resource_json, "The resource");
  if (!doc.ok()) return doc.take_status();
  Status s = impl_->format == Format::kJsonPatch ? ApplyJsonPatchOps(impl_->json_ops, *doc)
                                                 : ApplyFhirPathOps(impl_->fhirpath_ops, *doc);
  if (!s.ok()) return s;
  return doc->Serialize();
}

Format Patch::format() const { return impl_->format; }

size_t Patch::size() const {
  return impl_->format == Format::kJsonPatch ? impl_->json_ops.size() : impl_->fhirpath_ops.size();
}

Result<std::string> ApplyJsonPatch(std::string_view resource_json, std::string_view patch_json) {
  auto p = Patch::Parse(Format::kJsonPatch, patch_json);
  if (!p.ok()) return p.take_status();
  return p->Apply(resource_json);
}

Result<std::string> ApplyFhirPathPatch(std::string_view resource_json,
                                       std::string_view parameters_json) {
  auto p = Patch::Parse(Format::kFhirPathPatch, parameters_json);
  if (!p.ok()) return p.take_status();
  return p->Apply(resource_json);
}

}  // namespace kiln::patch
