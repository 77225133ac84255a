// The FHIR R4 definitions Kiln is built with: every type (resources, data types, primitives,
// logical models) with its snapshot elements, every search parameter, and the compartment
// definitions. tools/gen_definitions.mjs reads them from the official hl7.fhir.r4.examples@4.0.1
// package at build time and compiles them in as constant tables, so the binary needs no data files
// and start-up does no work.
//
// Everything here is immutable static data: all functions are thread-safe, never allocate, and the
// pointers, spans and string_views they return stay valid for the life of the program. Lookups are
// binary searches on tables sorted at build time; names and paths are case-sensitive.
//
// Left out on purpose: StructureDefinitions that are profiles (derivation "constraint", e.g.
// vitalsigns, SimpleQuantity), and search parameters marked experimental (the package's examples
// and the extension-based ones, several of which have no base or point at the wrong extension).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>

namespace kiln::fhir {

// StructureDefinition.kind.
enum class TypeKind : uint8_t { kPrimitiveType, kComplexType, kResource, kLogical };
// ElementDefinition.binding.strength; kNone when the element has no binding.
enum class BindingStrength : uint8_t { kNone, kRequired, kExtensible, kPreferred, kExample };
// SearchParameter.type.
enum class SearchParamType : uint8_t {
  kNumber,
  kDate,
  kString,
  kToken,
  kReference,
  kComposite,
  kQuantity,
  kUri,
  kSpecial,
};
// SearchParameter.xpathUsage; kUnspecified when absent (only _filter).
enum class XPathUsage : uint8_t { kNormal, kPhonetic, kNearby, kDistance, kOther, kUnspecified };

// The FHIR code of each value: "primitive-type", "required", "token", "normal"... ("" for kNone
// and kUnspecified).
std::string_view ToString(TypeKind kind);
std::string_view ToString(BindingStrength strength);
std::string_view ToString(SearchParamType type);
std::string_view ToString(XPathUsage usage);
// nullopt if `code` is not one of the nine search parameter type codes.
std::optional<SearchParamType> ParseSearchParamType(std::string_view code);

// A short list of names held in the tables (target types, bases, comparators, compartment
// parameters...). Cheap to copy; iterates as std::string_view.
class NameList {
 public:
  class Iterator {
   public:
    // A forward range in C++20 terms; values, not references, for the older algorithms.
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using reference = std::string_view;
    using pointer = void;
    Iterator() = default;
    explicit Iterator(const uint32_t* id) : id_(id) {}
    std::string_view operator*() const;
    Iterator& operator++() {
      ++id_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++id_;
      return old;
    }
    bool operator==(const Iterator&) const = default;

   private:
    const uint32_t* id_ = nullptr;
  };

  NameList() = default;
  // For the tables: `string_ids` are ids of the embedded string pool.
  NameList(const uint32_t* string_ids, size_t size) : ids_(string_ids), size_(size) {}

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view operator[](size_t i) const { return *Iterator(ids_ + i); }
  Iterator begin() const { return Iterator(ids_); }
  Iterator end() const { return Iterator(ids_ + size_); }
  bool Contains(std::string_view name) const;

 private:
  const uint32_t* ids_ = nullptr;
  size_t size_ = 0;
};

// The types below are the rows of the generated tables. Their data members are public only so the
// tables can be constant aggregates (no start-up work); they are ids into the tables and are not
// meant to be read directly: use the accessors.

// One entry of ElementDefinition.type.
struct ElementType {
  // "string", "Reference", "BackboneElement"...; for the value inside a primitive type, for ids
  // and for Extension.url, a FHIRPath system type such as "http://hl7.org/fhirpath/System.String".
  std::string_view code() const;
  // For System.* codes, the FHIR type the value has (extension structuredefinition-fhir-type),
  // e.g. "uri" for Extension.url; "" otherwise. R4 says "string" for Resource.id, not "id".
  std::string_view fhir_type() const;
  // The regex a primitive value must match (extension regex); only on <primitive>.value elements.
  std::string_view regex() const;
  // Canonical URLs of profiles the value must conform to (in the core types only SimpleQuantity).
  NameList profiles() const;
  // For Reference and canonical: the type names allowed as targets, from targetProfile
  // ("Patient", "Group"; "Resource" means any). A non-core targetProfile is kept as its URL.
  NameList target_types() const;

  uint32_t code_;
  uint32_t fhir_type_;
  uint32_t regex_;
  uint32_t profiles_;
  uint32_t target_types_;
  uint16_t profile_count_;
  uint16_t target_type_count_;
};

// One element of a type's snapshot.
struct ElementDef {
  // The full path as in the snapshot: "Patient.name", "Observation.value[x]",
  // "Questionnaire.item.item". The first element of a type is the type itself ("Patient").
  std::string_view path() const;
  // The last segment of the path: "name", "value[x]".
  std::string_view name() const;
  uint32_t min() const { return min_; }
  // -1 for "*".
  int32_t max() const { return max_; }
  // True if the element repeats (max is "*" or above 1), i.e. is a JSON array.
  bool is_array() const { return max_ < 0 || max_ > 1; }
  // True for choice elements ("value[x]").
  bool is_choice() const;
  // Empty for the root element and for elements defined by content_reference.
  std::span<const ElementType> types() const;
  // True if one of types() has this code.
  bool HasType(std::string_view code) const;
  // For elements that reuse another element's definition: "#Questionnaire.item"; else "".
  std::string_view content_reference() const;
  bool is_summary() const { return (flags_ & kSummaryFlag) != 0; }
  bool is_modifier() const { return (flags_ & kModifierFlag) != 0; }
  BindingStrength binding_strength() const { return static_cast<BindingStrength>(binding_); }
  // Canonical URL of the bound value set without its "|version" suffix; "" if none.
  std::string_view binding_value_set() const;

  static constexpr uint8_t kSummaryFlag = 1;
  static constexpr uint8_t kModifierFlag = 2;

  uint32_t path_;
  uint32_t content_reference_;
  uint32_t value_set_;
  uint32_t types_;
  int32_t max_;
  uint16_t min_;
  uint8_t type_count_;
  uint8_t flags_;
  uint8_t binding_;
};

// One SearchParameter.component of a composite parameter.
struct SearchParamComponent {
  // Canonical URL of the component's search parameter (see FindSearchParamByUrl).
  std::string_view definition() const;
  // FHIRPath, relative to the node selected by the composite's expression.
  std::string_view expression() const;

  uint32_t definition_;
  uint32_t expression_;
};

// A SearchParameter definition. One definition may serve several resource types (bases).
struct SearchParamDef {
  // The name used in URLs: "name", "_id", "code-value-quantity".
  std::string_view code() const;
  std::string_view url() const;
  SearchParamType type() const { return static_cast<SearchParamType>(type_); }
  // FHIRPath. For several bases it is the union over all of them ("Patient.name | Person.name"),
  // so evaluating it on any one of them selects that one's values. "" for _content, _text, _query
  // and _filter, which have no expression.
  std::string_view expression() const;
  XPathUsage xpath_usage() const { return static_cast<XPathUsage>(xpath_usage_); }
  // The resource types it applies to, as written in the definition (may be Resource or
  // DomainResource).
  NameList bases() const;
  // For reference parameters: the allowed target types; may be empty (any).
  NameList targets() const;
  // Declared modifiers, comparators (e.g. "eq", "ge", "ap") and chain names, as in the definition.
  NameList modifiers() const;
  NameList comparators() const;
  NameList chains() const;
  // nullopt when the definition does not say.
  std::optional<bool> multiple_or() const { return DecodeOptionalBool(multiple_or_); }
  std::optional<bool> multiple_and() const { return DecodeOptionalBool(multiple_and_); }
  // For composite parameters: the components in order; empty otherwise.
  std::span<const SearchParamComponent> components() const;

  uint32_t code_;
  uint32_t url_;
  uint32_t expression_;
  uint32_t bases_;
  uint32_t targets_;
  uint32_t modifiers_;
  uint32_t comparators_;
  uint32_t chains_;
  uint32_t components_;
  uint16_t base_count_;
  uint16_t target_count_;
  uint8_t modifier_count_;
  uint8_t comparator_count_;
  uint8_t chain_count_;
  uint8_t component_count_;
  uint8_t type_;
  uint8_t xpath_usage_;
  uint8_t multiple_or_;   // 0 absent, 1 false, 2 true
  uint8_t multiple_and_;  // 0 absent, 1 false, 2 true

 private:
  static std::optional<bool> DecodeOptionalBool(uint8_t v) {
    if (v == 0) return std::nullopt;
    return v == 2;
  }
};

// A resource type's search parameters, sorted by code; iterates as const SearchParamDef&.
class SearchParamList {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = SearchParamDef;
    using difference_type = std::ptrdiff_t;
    using reference = const SearchParamDef&;
    using pointer = const SearchParamDef*;
    Iterator() = default;
    Iterator(const SearchParamDef* table, const uint16_t* index) : table_(table), index_(index) {}
    const SearchParamDef& operator*() const { return table_[*index_]; }
    const SearchParamDef* operator->() const { return &table_[*index_]; }
    Iterator& operator++() {
      ++index_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++index_;
      return old;
    }
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

   private:
    const SearchParamDef* table_ = nullptr;
    const uint16_t* index_ = nullptr;
  };

  SearchParamList() = default;
  // For the tables: entries are table[index[0]], ..., table[index[size - 1]].
  SearchParamList(const SearchParamDef* table, const uint16_t* index, size_t size)
      : table_(table), index_(index), size_(size) {}

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const SearchParamDef& operator[](size_t i) const { return table_[index_[i]]; }
  Iterator begin() const { return Iterator(table_, index_); }
  Iterator end() const { return Iterator(table_, index_ + size_); }

 private:
  const SearchParamDef* table_ = nullptr;
  const uint16_t* index_ = nullptr;
  size_t size_ = 0;
};

// A type defined by a StructureDefinition that is not a profile.
struct TypeDef {
  std::string_view name() const;
  // "http://hl7.org/fhir/StructureDefinition/Patient".
  std::string_view url() const;
  TypeKind kind() const { return static_cast<TypeKind>(kind_); }
  bool is_abstract() const { return abstract_; }
  // True for concrete (non-abstract) resource types.
  bool is_resource() const { return kind() == TypeKind::kResource && !abstract_; }
  // Name of the base type ("DomainResource" for Patient, "Quantity" for Age); "" for the roots
  // (Element, Resource, and the logical patterns).
  std::string_view base() const;
  // The snapshot elements in snapshot (document) order.
  std::span<const ElementDef> elements() const;
  // The element with exactly this path within this type, or nullptr. Paths do not cross into other
  // types: "Patient.name.given" is not in Patient (it is "HumanName.given").
  const ElementDef* FindElement(std::string_view path) const;
  // For resource types (abstract ones too): the search parameters, including those inherited from
  // Resource and DomainResource, sorted by code. Empty for other kinds.
  SearchParamList search_params() const;
  const SearchParamDef* FindSearchParam(std::string_view code) const;

  uint32_t name_;
  uint32_t url_;
  uint32_t base_;
  uint32_t elements_;
  uint32_t search_params_;
  uint16_t element_count_;
  uint16_t search_param_count_;
  uint8_t kind_;
  bool abstract_;
};

// One resource type in a compartment and the search parameters that link it to the compartment's
// focal resource.
struct CompartmentMember {
  std::string_view resource_type() const;
  // Parameter codes in definition order; "{def}" means the compartment's own type.
  NameList params() const;

  uint32_t resource_type_;
  uint32_t params_;
  uint16_t param_count_;
};

// A CompartmentDefinition (Patient, Encounter, RelatedPerson, Practitioner, Device).
struct CompartmentDef {
  // The compartment's type: "Patient".
  std::string_view code() const;
  std::string_view url() const;
  // The resource types in the compartment, sorted by type name; types not listed are not in it.
  std::span<const CompartmentMember> members() const;
  // The parameter codes linking `resource_type` to this compartment; empty if it is not a member.
  NameList Params(std::string_view resource_type) const;

  uint32_t code_;
  uint32_t url_;
  uint32_t members_;
  uint16_t member_count_;
};

// The FHIR version of the definitions: "4.0.1".
std::string_view FhirVersion();

// All types: the concrete resource types first (sorted by name), then all other types (sorted by
// name).
std::span<const TypeDef> AllTypes();
// The concrete resource types, sorted by name (146 in R4).
std::span<const TypeDef> ResourceTypes();
// The type with this name ("Patient", "HumanName", "string", "DomainResource"), or nullptr.
const TypeDef* FindType(std::string_view name);
// True for concrete resource types only (false for Resource, DomainResource and data types).
bool IsResourceType(std::string_view name);
// The element with this path in the type named by its first segment: FindElement("Patient.name").
const ElementDef* FindElement(std::string_view path);

// All search parameter definitions, sorted by URL.
std::span<const SearchParamDef> AllSearchParams();
// The search parameters of a resource type (see TypeDef::search_params); empty if unknown.
SearchParamList SearchParamsFor(std::string_view resource_type);
// nullptr if the type is unknown or has no parameter with this code.
const SearchParamDef* FindSearchParam(std::string_view resource_type, std::string_view code);
const SearchParamDef* FindSearchParamByUrl(std::string_view url);

// The compartment definitions, sorted by code.
std::span<const CompartmentDef> Compartments();
// By code ("Patient"); nullptr if unknown.
const CompartmentDef* FindCompartment(std::string_view code);
// The parameter codes linking `resource_type` to `compartment`; empty if either is unknown or the
// type is not in the compartment.
NameList CompartmentParams(std::string_view compartment, std::string_view resource_type);

}  // namespace kiln::fhir
