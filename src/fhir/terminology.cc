#include "fhir/terminology.h"

#include <algorithm>

#include "fhir/definitions_tables.h"
#include "fhir/terminology_tables.h"

namespace kiln::fhir {
namespace {

using internal::ValueSetCode;
using internal::ValueSetDef;

std::string_view Str(uint32_t id) {
  const internal::StringRef& ref = internal::kStrings[id];
  return std::string_view(internal::kStringPool + ref.offset, ref.size);
}

// The expanded value set `url`, or nullptr if unknown or not expandable.
const ValueSetDef* FindExpanded(std::string_view url) {
  const ValueSetDef* sets_end = internal::kValueSets + internal::kValueSetCount;
  const ValueSetDef* set = std::lower_bound(
      internal::kValueSets, sets_end, url,
      [](const ValueSetDef& entry, std::string_view wanted) { return Str(entry.url) < wanted; });
  if (set == sets_end || Str(set->url) != url || set->reason != 0) return nullptr;
  return set;
}

}  // namespace

std::optional<std::vector<SystemCode>> ExpandValueSet(std::string_view value_set_url) {
  const ValueSetDef* set = FindExpanded(value_set_url);
  if (set == nullptr) return std::nullopt;
  std::vector<SystemCode> codes;
  codes.reserve(set->code_count);
  for (uint32_t i = 0; i < set->code_count; ++i) {
    const ValueSetCode& entry = internal::kValueSetCodes[set->codes + i];
    codes.emplace_back(Str(entry.system), Str(entry.code));
  }
  return codes;
}

CodeCheck CheckCode(std::string_view value_set_url, std::string_view system,
                    std::string_view code) {
  const ValueSetDef* set = FindExpanded(value_set_url);
  if (set == nullptr) return CodeCheck::kNotExpandable;
  // Codes are sorted by (code, system) and "" sorts first, so with an empty system this finds the
  // first entry for the code, whatever its system.
  const ValueSetCode* codes = internal::kValueSetCodes + set->codes;
  const ValueSetCode* codes_end = codes + set->code_count;
  const ValueSetCode* found = std::lower_bound(
      codes, codes_end, code, [system](const ValueSetCode& entry, std::string_view wanted) {
        const int by_code = Str(entry.code).compare(wanted);
        return by_code != 0 ? by_code < 0 : Str(entry.system) < system;
      });
  if (found == codes_end || Str(found->code) != code) return CodeCheck::kNotInValueSet;
  if (!system.empty() && Str(found->system) != system) return CodeCheck::kNotInValueSet;
  return CodeCheck::kInValueSet;
}

}  // namespace kiln::fhir
