#include "validation/element_index.h"

#include <algorithm>
#include <unordered_map>

namespace kiln::validation::internal {
namespace {

constexpr std::string_view kSystemTypePrefix = "http://hl7.org/fhirpath/System.";
constexpr std::string_view kSimpleQuantityProfile =
    "http://hl7.org/fhir/StructureDefinition/SimpleQuantity";

std::string_view ParentPath(std::string_view path) {
  const size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
}

std::string Capitalized(std::string_view code) {
  std::string out(code);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z')
    out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

Special SpecialOf(const fhir::ElementType& type) {
  const std::string_view code = type.code();
  if (code == "Extension") return Special::kExtension;
  if (code == "Reference") return Special::kReference;
  if (code == "Coding") return Special::kCoding;
  if (code == "CodeableConcept") return Special::kCodeableConcept;
  if (code == "Quantity" && type.profiles().Contains(kSimpleQuantityProfile)) {
    return Special::kSimpleQuantity;
  }
  return Special::kNone;
}

// The order of Context::children: by length, then bytes. Most comparisons in the binary search are
// then settled by the lengths alone, without a memcmp (the walk's hottest path).
bool NameLess(std::string_view a, std::string_view b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

size_t TypeIndex(const fhir::TypeDef* type) {
  return static_cast<size_t>(type - fhir::AllTypes().data());
}

}  // namespace

const TypeInfo* Child::FindChoice(std::string_view suffix) const {
  for (const TypeInfo& type : types) {
    if (type.suffix == suffix) return &type;
  }
  return nullptr;
}

std::pair<const Child*, const TypeInfo*> Context::Find(std::string_view key) const {
  const auto it = std::lower_bound(
      children.begin(), children.end(), key,
      [](const Child& child, std::string_view k) { return NameLess(child.name, k); });
  if (it != children.end() && it->name == key && !it->is_choice && !it->types.empty()) {
    return {&*it, it->types.data()};
  }
  for (const uint16_t i : choices) {
    const Child& child = children[i];
    if (key.size() > child.name.size() && key.starts_with(child.name)) {
      if (const TypeInfo* type = child.FindChoice(key.substr(child.name.size()))) {
        return {&child, type};
      }
    }
  }
  return {nullptr, nullptr};
}

const ElementIndex& ElementIndex::Get() {
  static const ElementIndex index;
  return index;
}

const Context* ElementIndex::TypeContext(std::string_view type_name) const {
  const fhir::TypeDef* type = fhir::FindType(type_name);
  return type != nullptr ? roots_[TypeIndex(type)] : nullptr;
}

ElementIndex::ElementIndex() {
  const std::span<const fhir::TypeDef> types = fhir::AllTypes();
  roots_.assign(types.size(), nullptr);

  // Pass 1: a Context for every type's root and every element that has children, so that pass 2
  // can point at any of them (types refer to each other in every direction).
  std::vector<std::unordered_map<std::string_view, Context*>> by_path(types.size());
  auto context_for = [&](size_t t, std::string_view path) {
    Context*& slot = by_path[t][path];
    if (slot == nullptr) {
      contexts_.push_back(std::make_unique<Context>());
      slot = contexts_.back().get();
      slot->path = path;
    }
    return slot;
  };
  for (size_t t = 0; t < types.size(); ++t) {
    const fhir::TypeDef& type = types[t];
    Context* root = context_for(t, type.name());
    root->is_resource_root = type.kind() == fhir::TypeKind::kResource;
    root->is_extension = type.name() == "Extension";
    roots_[t] = root;
    for (const fhir::ElementDef& element : type.elements()) {
      const std::string_view parent = ParentPath(element.path());
      if (!parent.empty()) context_for(t, parent);
    }
  }

  // Pass 2: the children, with their types resolved.
  auto find_context = [&](size_t t, std::string_view path) -> const Context* {
    const auto it = by_path[t].find(path);
    return it != by_path[t].end() ? it->second : nullptr;
  };
  for (size_t t = 0; t < types.size(); ++t) {
    const fhir::TypeDef& type = types[t];
    for (const fhir::ElementDef& element : type.elements()) {
      const std::string_view parent_path = ParentPath(element.path());
      if (parent_path.empty()) continue;
      Context* parent = by_path[t].at(parent_path);

      Child child;
      child.def = &element;
      child.type_source = &element;
      child.is_choice = element.is_choice();
      child.name = element.name();
      if (child.is_choice) child.name.remove_suffix(3);  // "[x]"
      size_t source_type = t;
      if (const std::string_view ref = element.content_reference(); !ref.empty()) {
        // "#Questionnaire.item": reuse that element's types and children. R4 only refers within
        // the same type, but look it up by its own first segment to be safe.
        const std::string_view target = ref.substr(1);
        const fhir::ElementDef* source = fhir::FindElement(target);
        const fhir::TypeDef* owner = fhir::FindType(target.substr(0, target.find('.')));
        if (source == nullptr || owner == nullptr) continue;
        child.type_source = source;
        source_type = TypeIndex(owner);
      }
      const fhir::ElementDef& source = *child.type_source;
      if (source.binding_strength() == fhir::BindingStrength::kRequired) {
        child.required_value_set = source.binding_value_set();
      }
      const Context* nested = find_context(source_type, source.path());
      const bool is_resource_id = parent->is_resource_root && child.name == "id";

      for (const fhir::ElementType& element_type : source.types()) {
        TypeInfo info;
        info.type = &element_type;
        info.code = element_type.code();
        info.suffix = Capitalized(info.code);
        if (info.code.starts_with(kSystemTypePrefix)) {
          // Element ids, Extension.url and the like. R4 declares Resource.id a System.String,
          // but the rule for it is the id datatype.
          const std::string_view fhir_type = element_type.fhir_type();
          info.primitive = is_resource_id      ? Primitive::kId
                           : fhir_type.empty() ? Primitive::kString
                                               : PrimitiveFromName(fhir_type);
          if (info.primitive == Primitive::kNone) info.primitive = Primitive::kString;
          info.takes_extensions = is_resource_id;
        } else if (nested != nullptr) {
          info.context = nested;  // BackboneElement, or Element in datatypes (Timing.repeat)
        } else if (const Primitive primitive = PrimitiveFromName(info.code);
                   primitive != Primitive::kNone) {
          info.primitive = primitive;
        } else if (info.code == "Resource") {
          info.is_resource = true;
        } else if (const fhir::TypeDef* def = fhir::FindType(info.code)) {
          info.context = roots_[TypeIndex(def)];
          info.special = SpecialOf(element_type);
        }
        child.types.push_back(std::move(info));
      }
      if (child.types.empty()) continue;
      parent->children.push_back(std::move(child));
    }
  }

  for (const auto& context : contexts_) {
    std::sort(context->children.begin(), context->children.end(),
              [](const Child& a, const Child& b) { return NameLess(a.name, b.name); });
    for (size_t i = 0; i < context->children.size(); ++i) {
      const Child& child = context->children[i];
      if (child.is_choice) context->choices.push_back(static_cast<uint16_t>(i));
      if (child.def->min() > 0) context->required.push_back(static_cast<uint16_t>(i));
    }
    max_children_ = std::max(max_children_, context->children.size());
  }
  element_context_ = TypeContext("Element");
}

}  // namespace kiln::validation::internal
