#include "fhir/terminology.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

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

namespace {

// The hierarchies of kCodeLinks, built once on first use: per system, code -> parents and
// code -> children.
struct Hierarchies {
  using Links = std::unordered_map<std::string_view, std::vector<std::string_view>>;
  struct System {
    Links parents;
    Links children;
  };
  std::unordered_map<std::string_view, System> systems;

  Hierarchies() {
    for (uint32_t i = 0; i < internal::kCodeLinkCount; ++i) {
      const internal::CodeLink& link = internal::kCodeLinks[i];
      System& system = systems[Str(link.system)];
      system.parents[Str(link.code)].push_back(Str(link.parent));
      system.children[Str(link.parent)].push_back(Str(link.code));
    }
  }
};

const Hierarchies& AllHierarchies() {
  static const Hierarchies hierarchies;
  return hierarchies;
}

}  // namespace

std::optional<std::vector<std::string_view>> Subsumed(std::string_view system,
                                                      std::string_view code, bool below) {
  const Hierarchies& all = AllHierarchies();
  auto found = all.systems.find(system);
  if (found == all.systems.end()) return std::nullopt;
  const Hierarchies::Links& next = below ? found->second.children : found->second.parents;
  std::vector<std::string_view> out{code};
  std::unordered_set<std::string_view> seen{code};
  for (size_t i = 0; i < out.size(); ++i) {
    auto step = next.find(out[i]);
    if (step == next.end()) continue;
    for (std::string_view other : step->second) {
      if (seen.insert(other).second) out.push_back(other);
    }
  }
  return out;
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
