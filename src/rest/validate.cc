#include "rest/validate.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include "core/strings.h"
#include "fhir/resource_json.h"
#include "rest/outcome.h"

namespace kiln::rest {
namespace {

namespace json = boost::json;

bool IsError(const Issue& issue) {
  return issue.severity == Severity::kError || issue.severity == Severity::kFatal;
}

// Narrative.div is the only xhtml element in R4; its issues come from the XHTML safety check.
bool IsNarrative(const Issue& issue) {
  std::string_view e = issue.expression;
  return e.size() >= 4 && e.substr(e.size() - 4) == ".div";
}

Result<json::value> ParseDom(std::string_view body, json::storage_ptr storage = {}) {
  json::error_code ec;
  json::parse_options options;
  options.max_depth = 128;
  json::value v = json::parse(body, ec, std::move(storage), options);
  if (ec)
    return Status(ErrorCode::kInvalid, "structure",
                  "The body is not valid JSON (" + ec.message() + ")");
  return v;
}

}  // namespace

Status CheckWrite(std::string_view body, const ValidationPolicy& policy,
                  std::vector<Issue>& warnings) {
  if (!policy.enabled) return Status::Ok();
  // The tree lives only for this check (issues copy what they report): an arena, on the stack
  // for a typical resource, replaces a malloc and a free per JSON node.
  unsigned char buffer[16384];
  json::monotonic_resource arena(buffer, sizeof(buffer));
  auto dom = ParseDom(body, &arena);
  if (!dom.ok()) return dom.take_status();
  std::vector<Issue> issues = validation::Validate(*dom, policy.options);
  bool has_error = false, unsafe_narrative = false;
  for (const Issue& issue : issues) {
    has_error |= IsError(issue);
    // txt-2 (an empty narrative) is an "invariant" issue: harmless, unlike markup problems.
    unsafe_narrative |= IsError(issue) && IsNarrative(issue) && issue.code != "invariant";
  }
  // Warn-only mode lets imperfect data in, but never a narrative that failed the XHTML check:
  // malicious narrative must not be stored in any mode (only --validate-narrative false, which
  // skips the check, can let narratives through unchecked).
  if (!has_error || (policy.warn_only && !unsafe_narrative)) {
    for (Issue& issue : issues) {
      if (IsError(issue)) issue.severity = Severity::kWarning;
      warnings.push_back(std::move(issue));
    }
    return Status::Ok();
  }
  return Status(ErrorCode::kInvalid, std::move(issues));
}

Result<std::string> ValidateOperation(std::string_view body, std::string_view url_type,
                                      std::string_view url_id, const validation::Options& options) {
  if (core::TrimSpaces(body).empty())
    return Status::Invalid(
        "$validate needs a resource: send it as the body, or as the "
        "'resource' parameter of a Parameters resource");
  // Well-formedness first, with the same messages as a create (position of a JSON error...).
  if (auto prepared = fhir::PrepareResource(body); !prepared.ok()) {
    return IssuesOutcomeJson(prepared.status().issues());
  }
  auto dom = ParseDom(body);
  if (!dom.ok()) return dom.take_status();
  const json::value* resource = &*dom;
  const json::object& root = dom->as_object();
  auto rt = root.find("resourceType");
  if (rt != root.end() && rt->value() == "Parameters") {
    if (auto params = root.find("parameter"); params != root.end() && params->value().is_array()) {
      for (const json::value& p : params->value().as_array()) {
        if (!p.is_object()) continue;
        const json::object& po = p.as_object();
        auto name = po.find("name");
        auto res = po.find("resource");
        if (name != po.end() && name->value() == "resource" && res != po.end()) {
          resource = &res->value();
          break;
        }
      }
    }
  }
  std::vector<Issue> issues;
  if (!resource->is_object()) {
    issues.push_back(
        {Severity::kError, "structure", "The resource to validate must be a JSON object", ""});
    return IssuesOutcomeJson(issues);
  }
  const json::object& r = resource->as_object();
  auto type = r.find("resourceType");
  if (!url_type.empty() && type != r.end() && type->value().is_string() &&
      type->value().as_string() != url_type) {
    issues.push_back({Severity::kError, "invalid",
                      "The resource is a " + std::string(type->value().as_string()) + ", not a " +
                          std::string(url_type),
                      "resourceType"});
  }
  if (!url_id.empty()) {
    auto id = r.find("id");
    if (id == r.end() || !id->value().is_string() || id->value().as_string() != url_id)
      issues.push_back({Severity::kError, "invalid",
                        "The resource's id must be '" + std::string(url_id) + "', as in the URL",
                        std::string(url_type) + ".id"});
  }
  std::vector<Issue> found = validation::Validate(*resource, options);
  issues.insert(issues.end(), std::make_move_iterator(found.begin()),
                std::make_move_iterator(found.end()));
  return IssuesOutcomeJson(issues);
}

}  // namespace kiln::rest
