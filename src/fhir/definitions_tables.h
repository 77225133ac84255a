// Declarations of the constant tables that tools/gen_definitions.mjs generates (into
// <build>/src/fhir/generated/definitions_data.cc) and definitions.cc reads. Internal to kiln_fhir:
// use definitions.h instead.
//
// Layout: every string is an id into kStrings (offset and size in kStringPool; id 0 is ""), so the
// tables hold only integers: no relocations, no start-up work. Lists are (first, count) ranges into
// the shared arrays below. Sorted orders the lookups rely on (byte-wise comparison):
//   kTypes: concrete resource types by name, then all other types by name;
//   kElementOrder[elements_ .. +element_count_): element positions within the type, by path;
//   kSearchParams: by url; kSearchParamIndex per type: by code;
//   kCompartments: by code; kCompartmentMembers per compartment: by resource type.
// Immutable; thread-safe.
#pragma once

#include <cstdint>

#include "fhir/definitions.h"

namespace kiln::fhir::internal {

struct StringRef {
  uint32_t offset;
  uint32_t size;
};

extern const char kFhirVersion[];
extern const char kStringPool[];
extern const StringRef kStrings[];
extern const uint32_t kNameItems[];  // string ids, referenced by NameList ranges

extern const ElementType kElementTypes[];
extern const ElementDef kElements[];
extern const uint16_t kElementOrder[];
extern const TypeDef kTypes[];
extern const uint32_t kTypeCount;
extern const uint32_t kResourceTypeCount;

extern const SearchParamComponent kSearchParamComponents[];
extern const SearchParamDef kSearchParams[];
extern const uint32_t kSearchParamCount;
extern const uint16_t kSearchParamIndex[];  // indices into kSearchParams

extern const CompartmentMember kCompartmentMembers[];
extern const CompartmentDef kCompartments[];
extern const uint32_t kCompartmentCount;

}  // namespace kiln::fhir::internal
