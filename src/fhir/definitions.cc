#include "fhir/definitions.h"

#include <algorithm>
#include <unordered_map>

#include "fhir/definitions_tables.h"

namespace kiln::fhir {
namespace {

using internal::kStringPool;
using internal::kStrings;

std::string_view Str(uint32_t id) {
  const internal::StringRef& ref = kStrings[id];
  return std::string_view(kStringPool + ref.offset, ref.size);
}

NameList Names(uint32_t first, size_t count) {
  return NameList(internal::kNameItems + first, count);
}

// Binary search over `count` entries of a table sorted by `key(entry)`; nullptr if absent.
template <typename T, typename Key>
const T* FindSorted(const T* first, size_t count, std::string_view wanted, Key key) {
  const T* last = first + count;
  const T* it = std::lower_bound(
      first, last, wanted, [&](const T& entry, std::string_view w) { return key(entry) < w; });
  return it != last && key(*it) == wanted ? &*it : nullptr;
}

}  // namespace

std::string_view ToString(TypeKind kind) {
  switch (kind) {
    case TypeKind::kPrimitiveType:
      return "primitive-type";
    case TypeKind::kComplexType:
      return "complex-type";
    case TypeKind::kResource:
      return "resource";
    case TypeKind::kLogical:
      return "logical";
  }
  return "";
}

std::string_view ToString(BindingStrength strength) {
  switch (strength) {
    case BindingStrength::kNone:
      return "";
    case BindingStrength::kRequired:
      return "required";
    case BindingStrength::kExtensible:
      return "extensible";
    case BindingStrength::kPreferred:
      return "preferred";
    case BindingStrength::kExample:
      return "example";
  }
  return "";
}

std::string_view ToString(SearchParamType type) {
  switch (type) {
    case SearchParamType::kNumber:
      return "number";
    case SearchParamType::kDate:
      return "date";
    case SearchParamType::kString:
      return "string";
    case SearchParamType::kToken:
      return "token";
    case SearchParamType::kReference:
      return "reference";
    case SearchParamType::kComposite:
      return "composite";
    case SearchParamType::kQuantity:
      return "quantity";
    case SearchParamType::kUri:
      return "uri";
    case SearchParamType::kSpecial:
      return "special";
  }
  return "";
}

std::string_view ToString(XPathUsage usage) {
  switch (usage) {
    case XPathUsage::kNormal:
      return "normal";
    case XPathUsage::kPhonetic:
      return "phonetic";
    case XPathUsage::kNearby:
      return "nearby";
    case XPathUsage::kDistance:
      return "distance";
    case XPathUsage::kOther:
      return "other";
    case XPathUsage::kUnspecified:
      return "";
  }
  return "";
}

std::optional<SearchParamType> ParseSearchParamType(std::string_view code) {
  for (uint8_t i = 0; i <= static_cast<uint8_t>(SearchParamType::kSpecial); ++i) {
    const auto type = static_cast<SearchParamType>(i);
    if (ToString(type) == code) return type;
  }
  return std::nullopt;
}

// ---- NameList ----

std::string_view NameList::Iterator::operator*() const { return Str(*id_); }

bool NameList::Contains(std::string_view name) const {
  return std::find(begin(), end(), name) != end();
}

// ---- ElementType, ElementDef ----

std::string_view ElementType::code() const { return Str(code_); }
std::string_view ElementType::fhir_type() const { return Str(fhir_type_); }
std::string_view ElementType::regex() const { return Str(regex_); }
NameList ElementType::profiles() const { return Names(profiles_, profile_count_); }
NameList ElementType::target_types() const { return Names(target_types_, target_type_count_); }

std::string_view ElementDef::path() const { return Str(path_); }

std::string_view ElementDef::name() const {
  const std::string_view p = path();
  const size_t dot = p.rfind('.');
  return dot == std::string_view::npos ? p : p.substr(dot + 1);
}

bool ElementDef::is_choice() const { return path().ends_with("[x]"); }

std::span<const ElementType> ElementDef::types() const {
  return std::span<const ElementType>(internal::kElementTypes + types_, type_count_);
}

bool ElementDef::HasType(std::string_view code) const {
  return std::ranges::any_of(types(), [&](const ElementType& t) { return t.code() == code; });
}

std::string_view ElementDef::content_reference() const { return Str(content_reference_); }
std::string_view ElementDef::binding_value_set() const { return Str(value_set_); }

// ---- TypeDef ----

std::string_view TypeDef::name() const { return Str(name_); }
std::string_view TypeDef::url() const { return Str(url_); }
std::string_view TypeDef::base() const { return Str(base_); }

std::span<const ElementDef> TypeDef::elements() const {
  return std::span<const ElementDef>(internal::kElements + elements_, element_count_);
}

const ElementDef* TypeDef::FindElement(std::string_view path) const {
  const ElementDef* elements = internal::kElements + elements_;
  const uint16_t* first = internal::kElementOrder + elements_;
  const uint16_t* last = first + element_count_;
  const uint16_t* it = std::lower_bound(
      first, last, path, [&](uint16_t i, std::string_view p) { return elements[i].path() < p; });
  return it != last && elements[*it].path() == path ? &elements[*it] : nullptr;
}

SearchParamList TypeDef::search_params() const {
  return SearchParamList(internal::kSearchParams, internal::kSearchParamIndex + search_params_,
                         search_param_count_);
}

const SearchParamDef* TypeDef::FindSearchParam(std::string_view code) const {
  const uint16_t* first = internal::kSearchParamIndex + search_params_;
  const uint16_t* last = first + search_param_count_;
  const uint16_t* it = std::lower_bound(first, last, code, [](uint16_t i, std::string_view c) {
    return internal::kSearchParams[i].code() < c;
  });
  return it != last && internal::kSearchParams[*it].code() == code ? &internal::kSearchParams[*it]
                                                                   : nullptr;
}

// ---- SearchParamDef ----

std::string_view SearchParamComponent::definition() const { return Str(definition_); }
std::string_view SearchParamComponent::expression() const { return Str(expression_); }

std::string_view SearchParamDef::code() const { return Str(code_); }
std::string_view SearchParamDef::url() const { return Str(url_); }
std::string_view SearchParamDef::expression() const { return Str(expression_); }
NameList SearchParamDef::bases() const { return Names(bases_, base_count_); }
NameList SearchParamDef::targets() const { return Names(targets_, target_count_); }
NameList SearchParamDef::modifiers() const { return Names(modifiers_, modifier_count_); }
NameList SearchParamDef::comparators() const { return Names(comparators_, comparator_count_); }
NameList SearchParamDef::chains() const { return Names(chains_, chain_count_); }

std::span<const SearchParamComponent> SearchParamDef::components() const {
  return std::span<const SearchParamComponent>(internal::kSearchParamComponents + components_,
                                               component_count_);
}

// ---- Compartments ----

std::string_view CompartmentMember::resource_type() const { return Str(resource_type_); }
NameList CompartmentMember::params() const { return Names(params_, param_count_); }

std::string_view CompartmentDef::code() const { return Str(code_); }
std::string_view CompartmentDef::url() const { return Str(url_); }

std::span<const CompartmentMember> CompartmentDef::members() const {
  return std::span<const CompartmentMember>(internal::kCompartmentMembers + members_,
                                            member_count_);
}

NameList CompartmentDef::Params(std::string_view resource_type) const {
  const std::span<const CompartmentMember> all = members();
  const CompartmentMember* member =
      FindSorted(all.data(), all.size(), resource_type,
                 [](const CompartmentMember& m) { return m.resource_type(); });
  return member != nullptr ? member->params() : NameList();
}

// ---- Free functions ----

std::string_view FhirVersion() { return internal::kFhirVersion; }

std::span<const TypeDef> AllTypes() {
  return std::span<const TypeDef>(internal::kTypes, internal::kTypeCount);
}

std::span<const TypeDef> ResourceTypes() {
  return std::span<const TypeDef>(internal::kTypes, internal::kResourceTypeCount);
}

namespace {

// FHIRPath navigation and type tests look types up by name many times per resource: a hash
// lookup instead of a binary search of string comparisons. Built once, then read-only.
const std::unordered_map<std::string_view, const TypeDef*>& TypesByName() {
  static const auto* const kMap = [] {
    auto* map = new std::unordered_map<std::string_view, const TypeDef*>();
    map->reserve(internal::kTypeCount * 2);
    for (const TypeDef& t : AllTypes()) map->emplace(t.name(), &t);
    return map;
  }();
  return *kMap;
}

}  // namespace

const TypeDef* FindType(std::string_view name) {
  const auto& map = TypesByName();
  auto it = map.find(name);
  return it != map.end() ? it->second : nullptr;
}

bool IsResourceType(std::string_view name) {
  const TypeDef* type = FindType(name);
  return type != nullptr && type < internal::kTypes + internal::kResourceTypeCount;
}

const ElementDef* FindElement(std::string_view path) {
  const TypeDef* type = FindType(path.substr(0, path.find('.')));
  return type != nullptr ? type->FindElement(path) : nullptr;
}

std::span<const SearchParamDef> AllSearchParams() {
  return std::span<const SearchParamDef>(internal::kSearchParams, internal::kSearchParamCount);
}

SearchParamList SearchParamsFor(std::string_view resource_type) {
  const TypeDef* type = FindType(resource_type);
  return type != nullptr ? type->search_params() : SearchParamList();
}

const SearchParamDef* FindSearchParam(std::string_view resource_type, std::string_view code) {
  const TypeDef* type = FindType(resource_type);
  return type != nullptr ? type->FindSearchParam(code) : nullptr;
}

const SearchParamDef* FindSearchParamByUrl(std::string_view url) {
  const std::span<const SearchParamDef> all = AllSearchParams();
  return FindSorted(all.data(), all.size(), url, [](const SearchParamDef& p) { return p.url(); });
}

std::span<const CompartmentDef> Compartments() {
  return std::span<const CompartmentDef>(internal::kCompartments, internal::kCompartmentCount);
}

const CompartmentDef* FindCompartment(std::string_view code) {
  const std::span<const CompartmentDef> all = Compartments();
  return FindSorted(all.data(), all.size(), code, [](const CompartmentDef& c) { return c.code(); });
}

NameList CompartmentParams(std::string_view compartment, std::string_view resource_type) {
  const CompartmentDef* def = FindCompartment(compartment);
  return def != nullptr ? def->Params(resource_type) : NameList();
}

}  // namespace kiln::fhir
