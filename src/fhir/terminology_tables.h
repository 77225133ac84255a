// Declarations of the value set tables that tools/gen_definitions.mjs generates beside the
// definition tables (same file and string pool, see definitions_tables.h) and terminology.cc
// reads. Internal to kiln_fhir: use terminology.h instead.
//
// Layout: kValueSets holds every value set bound as required by a core type, sorted by url
// (byte-wise). An expanded one has reason 0 and owns kValueSetCodes[codes .. codes + code_count),
// sorted by code then system, so one binary search serves both a bare code and a code with its
// system; equal code lists are stored once. One that cannot be expanded has no codes and a
// reason (a string id, e.g. "needs the code system urn:ietf:bcp:13 ..."), which
// docs/terminology.md lists for users. Immutable; thread-safe.
#pragma once

#include <cstdint>

namespace kiln::fhir::internal {

struct ValueSetCode {
  uint32_t code;    // string id
  uint32_t system;  // string id
};

struct ValueSetDef {
  uint32_t url;  // string id; canonical URL without |version
  uint32_t codes;
  uint32_t code_count;
  uint32_t reason;  // string id; 0 ("") when expanded
};

// One parent link of a code system hierarchy (kCodeLinks, sorted by system, code, parent).
struct CodeLink {
  uint32_t system;  // string id
  uint32_t code;    // string id
  uint32_t parent;  // string id
};

extern const ValueSetDef kValueSets[];
extern const uint32_t kValueSetCount;
extern const ValueSetCode kValueSetCodes[];
extern const CodeLink kCodeLinks[];
extern const uint32_t kCodeLinkCount;

}  // namespace kiln::fhir::internal
