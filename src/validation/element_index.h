// The StructureDefinitions rearranged for walking JSON: for every element that has children (a
// type's root, a backbone element), a Context lists the children by their JSON name, each with its
// possible types resolved to what the validator needs next (primitive rule, the Context of a
// complex type's children, whether it holds a whole resource, extra datatype checks).
//
// fhir/definitions.h keeps elements by full path ("Patient.contact.name"), which would make the
// walker build path strings for every key; this index answers "which child of this context is
// key K" with one binary search and no allocation. It is built once, on first use, from the
// immutable compiled-in tables (about 8,000 elements; well under a millisecond) and is immutable
// afterwards: thread-safe. Internal to kiln_validation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "validation/primitives.h"

namespace kiln::validation::internal {

struct Context;

// Datatypes whose instances get checks beyond their own elements.
enum class Special : uint8_t {
  kNone,
  kExtension,        // ext-1, absolute url
  kReference,        // reference syntax, target types, contained targets
  kCoding,           // required bindings
  kCodeableConcept,  // required bindings
  kSimpleQuantity,   // Quantity profiled as SimpleQuantity: no comparator (sqty-1)
};

// One of the types an element may have.
struct TypeInfo {
  // The type code: "Quantity", "dateTime", "BackboneElement", "Resource".
  std::string_view code;
  // For choice elements, the suffix that selects this type in JSON: "Quantity", "DateTime".
  std::string suffix;
  Primitive primitive = Primitive::kNone;
  // The children of a complex type (its own snapshot, or the nested elements of a backbone
  // element); nullptr for primitives and resources.
  const Context* context = nullptr;
  // The value is a whole resource (DomainResource.contained, Bundle.entry.resource...).
  bool is_resource = false;
  // FHIRPath system types (element ids, Extension.url) are not FHIR primitives: no `_name`
  // object with extensions. Resource.id is the exception (R4 JSON allows `_id` there).
  bool takes_extensions = true;
  Special special = Special::kNone;
  // The definition's type entry (target types of references); never nullptr.
  const fhir::ElementType* type = nullptr;
};

// One child element of a Context.
struct Child {
  // The JSON name; for choice elements the prefix before the type ("value" for value[x]).
  std::string_view name;
  // The element itself: cardinality.
  const fhir::ElementDef* def = nullptr;
  // Where types and binding come from: `def`, or for a contentReference the element referred to.
  const fhir::ElementDef* type_source = nullptr;
  std::vector<TypeInfo> types;
  bool is_choice = false;
  // The value set of a required binding; "" when the element has none.
  std::string_view required_value_set;

  // The type whose JSON suffix is `suffix` ("Quantity" in valueQuantity), or nullptr.
  const TypeInfo* FindChoice(std::string_view suffix) const;
};

// The children of one element.
struct Context {
  // "Patient", "Patient.contact", "HumanName": used in messages.
  std::string_view path;
  // Sorted by name length, then name (see Find).
  std::vector<Child> children;
  // Positions in `children` of the choice elements and of the elements with min > 0.
  std::vector<uint16_t> choices;
  std::vector<uint16_t> required;
  // The root of a resource type: `resourceType` is allowed here, and `id` follows the id rule.
  bool is_resource_root = false;
  // Extension's own children: an Extension found here is nested in another one.
  bool is_extension = false;

  // The child a JSON key (without any leading '_') names, and for choice elements the type its
  // suffix selects; {nullptr, nullptr} if none. For other elements the type is types[0].
  std::pair<const Child*, const TypeInfo*> Find(std::string_view key) const;
};

class ElementIndex {
 public:
  // Built on first call; the same immutable index afterwards.
  static const ElementIndex& Get();

  // The root Context of a type by name ("Patient", "HumanName"), or nullptr if unknown.
  const Context* TypeContext(std::string_view type_name) const;
  // The children of Element (id, extension): what a primitive's `_name` object may hold.
  const Context& element_context() const { return *element_context_; }
  // The most children any Context has (callers size per-object bitsets from it).
  size_t max_children() const { return max_children_; }

  ElementIndex(const ElementIndex&) = delete;
  ElementIndex& operator=(const ElementIndex&) = delete;

 private:
  ElementIndex();

  std::vector<std::unique_ptr<Context>> contexts_;
  // Root contexts by position in fhir::AllTypes().
  std::vector<const Context*> roots_;
  const Context* element_context_ = nullptr;
  size_t max_children_ = 0;
};

}  // namespace kiln::validation::internal
