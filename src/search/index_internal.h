// Internals of index extraction shared by index.cc (the per-type plans and the driver) and
// index_values.cc (FHIRPath results -> typed entries). Not part of the API: use index.h.
// Everything here is a pure function of its arguments; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"
#include "fhirpath/fhirpath.h"
#include "search/index.h"

namespace kiln::search::index_internal {

// A `code` element's required binding: the value set and the code systems a code from it may
// come from (tried in order, each confirmed with fhir::CheckCode), and for a value set Kiln cannot
// expand (MIME types, currencies) its one code system, taken on trust.
struct CodeBinding {
  std::string value_set;
  std::vector<std::string> systems;
  std::string unexpanded_system;
};

// Where the entries of one parameter (or one composite component) go.
struct Sink {
  std::vector<IndexEntry>* out = nullptr;
  std::string_view param;
  uint32_t group = 0;
  uint8_t component = 0;
  std::string_view resource_type;            // for warnings
  const boost::json::value* root = nullptr;  // the resource, for contained references
  const CodeBinding* binding = nullptr;      // token parameters on bound code elements
  bool family_words = false;                 // string values are HumanName.family
  fhir::NameList targets;                    // reference parameters: the target types

  void Add(IndexValue value) const { out->push_back({param, group, component, std::move(value)}); }
  // Logs that a value was skipped (parameter, type and reason; never the value).
  void Warn(std::string_view reason) const;
};

// Appends the entries of `items` (a parameter's or component's FHIRPath result) as values of a
// parameter of `type`.
void AddValues(fhir::SearchParamType type, const fhirpath::Collection& items, const Sink& sink);

// The text of the resource's narrative (XhtmlText of text.div); "" if none.
std::string NarrativeText(const boost::json::object& resource);
// _text: the narrative's text; _content: every string value of the resource, the narrative as
// text. `narrative` is NarrativeText(resource), computed once for both.
void AddNarrativeText(const std::string& narrative, const Sink& sink);
void AddContent(const boost::json::object& resource, const std::string& narrative,
                const Sink& sink);

// A reference string split into its parts (kind, type, id, version, url); see ReferenceValue.
// `type` is left empty unless it names an R4 resource type.
ReferenceValue ParseReference(std::string_view reference);

// ExtractIndex(), evaluating every expression with the general FHIRPath evaluator when
// typed_paths is false: the reference the compiled paths are tested against.
Result<std::vector<IndexEntry>> ExtractIndexWith(const boost::json::value& resource,
                                                 bool typed_paths);

// The XHTML's text: tags dropped (each one separates words), character references decoded,
// whitespace collapsed.
std::string XhtmlText(std::string_view xhtml);

}  // namespace kiln::search::index_internal
