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

}  // namespace

CodeCheck CheckCode(std::string_view value_set_url, std::string_view system,
                    std::string_view code) {
  const ValueSetDef* sets_end = internal::kValueSets + internal::kValueSetCount;
  const ValueSetDef* set = std::lower_bound(
      internal::kValueSets, sets_end, value_set_url,
      [](const ValueSetDef& entry, std::string_view url) { return Str(entry.url) < url; });
  if (set == sets_end || Str(set->url) != value_set_url || set->reason != 0) {
    return CodeCheck::kNotExpandable;
  }
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
