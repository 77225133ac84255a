// Subsetting a stored resource for _summary and _elements (R4 search 3.1.1.5.8 and 3.1.1.5.9):
// the server's copy stays whole; what a client asked to see is cut from the stored JSON bytes on
// the way out.
//
// The cut works on the JSON text itself (a small scanner over compact or pretty JSON), never on a
// parsed DOM, so what is kept is copied byte for byte: decimals keep their written precision and
// member order is unchanged. A resource that lost anything is tagged SUBSETTED
// (http://terminology.hl7.org/CodeSystem/v3-ObservationValue) in meta.tag, so nobody mistakes it
// for the whole resource and writes it back.
//
// Pure functions over the static definitions (fhir/definitions.h); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::fhir {

enum class SubsetMode : uint8_t {
  kSummary,   // _summary=true: elements marked isSummary (recursively into backbone elements),
              // plus mandatory ones (min >= 1), id, meta
  kText,      // _summary=text: text, id, meta and the top-level mandatory elements
  kData,      // _summary=data: everything but text
  kElements,  // _elements: the listed top-level elements, the mandatory ones, id, meta
};

struct Subset {
  SubsetMode mode = SubsetMode::kSummary;
  // kElements: top-level element names. A choice element matches by its base name ("value") or
  // its typed name ("valueQuantity"); a primitive's "_name" sibling goes with "name".
  std::vector<std::string> elements;
};

inline constexpr std::string_view kSubsettedSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
inline constexpr std::string_view kSubsettedCode = "SUBSETTED";

// The subset of `resource_json` (a resource's JSON object whose resourceType is a known type).
// resourceType is always kept. Input that is not a JSON object, or whose type is unknown, is
// returned unchanged: the stored bytes were valid when written, so this only guards against
// surprises rather than reporting them.
std::string SubsetResource(std::string_view resource_json, const Subset& subset);

}  // namespace kiln::fhir
