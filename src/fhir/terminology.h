// Required-binding value sets, expanded at build time from the package's ValueSets and CodeSystems
// (tools/gen_definitions.mjs), so codes can be checked with no terminology server. Only the value
// sets bound as required by the core resources and data types are held; docs/terminology.md lists
// the ones that cannot be expanded locally and why.
// Immutable tables; thread-safe; lookups do not allocate.
#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::fhir {

enum class CodeCheck {
  kInValueSet,     // the code (and system, when given) is in the expansion
  kNotInValueSet,  // the value set was expanded and does not contain it
  kNotExpandable,  // unknown value set, or one that cannot be expanded locally (external code
                   // systems such as UCUM, BCP-47 or MIME types, or filters Kiln does not run)
};

// Is `code` from `system` in the value set `value_set_url` (canonical URL without |version)?
// An empty `system` (a bare `code` element) matches the code in any of the set's systems.
// Comparison is exact (case-sensitive). Codes their code system marks abstract (notSelectable) or
// retired are not in the expansions, since data may not use them.
CodeCheck CheckCode(std::string_view value_set_url, std::string_view system, std::string_view code);

// The codes of value set `value_set_url` as (system, code) pairs, in (code, system) order, or
// nullopt when the value set is unknown or cannot be expanded locally (as kNotExpandable above).
// The views point into static tables.
using SystemCode = std::pair<std::string_view, std::string_view>;
std::optional<std::vector<SystemCode>> ExpandValueSet(std::string_view value_set_url);

// Subsumption within a code system of the package (token :below / :above): `code` and every code
// below it (`below` true) or above it (false) in the hierarchy, following all parent links, or
// nullopt when Kiln holds no hierarchy for `system` (not in the package, not complete, or flat).
// The views point into static tables.
std::optional<std::vector<std::string_view>> Subsumed(std::string_view system,
                                                      std::string_view code, bool below);

}  // namespace kiln::fhir
