// Structural validation of FHIR R4 resources against the StructureDefinitions compiled into
// Kiln (fhir/definitions.h): elements known at their paths, choice types, cardinality, primitive
// datatype rules, required bindings, reference shapes and target types, contained resources,
// extensions, and safe narrative XHTML.
//
// Pure functions over immutable tables; thread-safe. Allocation is limited to the issues found
// and the FHIRPath expressions of their elements.
#pragma once

#include <boost/json/value.hpp>

#include <vector>

#include "kiln/status.h"

namespace kiln::validation {

struct Options {
  // Check text.div (and every other xhtml element) for well-formed, safe XHTML.
  bool check_narrative = true;
  // Check codes of required bindings against the value sets expanded at build time.
  bool check_bindings = true;
};

// Validates one resource given as a parsed JSON value (Boost.JSON DOM; integers and decimals are
// told apart by the value's kind: int64/uint64 vs double). Returns every problem found, in
// document order; an empty vector means the resource is valid. Each issue carries severity,
// a FHIR IssueType code ("structure", "required", "value", "code-invalid", "invariant",
// "security"...), a diagnostic sentence, and the FHIRPath expression of the offending element
// with array indexes, e.g. "Patient.name[0].given[1]".
std::vector<Issue> Validate(const boost::json::value& resource, const Options& options = {});

// Builds the element index Validate() uses (a few milliseconds, once). Call at start-up so the
// first write does not pay for it; Validate() builds it on first use otherwise.
void WarmUp();

}  // namespace kiln::validation
