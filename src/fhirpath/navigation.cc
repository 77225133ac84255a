// Child navigation over the JSON of a resource, typed by the R4 definitions: choice elements
// (`value` finds valueQuantity, valueString...), primitives split across `name` and `_name`,
// backbone elements and content references (Questionnaire.item.item), contained resources.

#include <array>
#include <cctype>
#include <cstring>

#include "fhir/definitions.h"
#include "fhirpath/internal.h"

namespace kiln::fhirpath::internal {
namespace {

constexpr std::string_view kSystemPrefix = "http://hl7.org/fhirpath/System.";

// Element paths are short; building them in a stack buffer keeps navigation allocation-free.
class PathBuf {
 public:
  PathBuf(std::string_view a, std::string_view b, std::string_view c = {}) {
    if (a.size() + b.size() + c.size() + 1 > buf_.size()) return;
    std::memcpy(buf_.data(), a.data(), a.size());
    buf_[a.size()] = '.';
    std::memcpy(buf_.data() + a.size() + 1, b.data(), b.size());
    std::memcpy(buf_.data() + a.size() + 1 + b.size(), c.data(), c.size());
    size_ = a.size() + 1 + b.size() + c.size();
  }
  std::string_view view() const { return {buf_.data(), size_}; }

 private:
  std::array<char, 256> buf_;
  size_t size_ = 0;
};

// The FHIR type name an ElementType code stands for (System.String for ids -> "string").
std::string_view TypeCode(const fhir::ElementType& t) {
  std::string_view code = t.code();
  if (code.substr(0, kSystemPrefix.size()) == kSystemPrefix) {
    if (!t.fhir_type().empty()) return t.fhir_type();
    std::string_view sys = code.substr(kSystemPrefix.size());
    if (sys == "Boolean") return "boolean";
    if (sys == "Integer") return "integer";
    if (sys == "Decimal") return "decimal";
    if (sys == "Date") return "date";
    if (sys == "DateTime") return "dateTime";
    if (sys == "Time") return "time";
    return "string";
  }
  return code;
}

std::string_view GuessType(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return "string";
    case json::kind::bool_:
      return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "integer";
    case json::kind::double_:
      return "decimal";
    default:
      return "";
  }
}

bool CapitalizedEquals(std::string_view code, std::string_view suffix) {
  if (code.size() != suffix.size() || code.empty()) return false;
  if (std::toupper(static_cast<unsigned char>(code[0])) != suffix[0]) return false;
  return code.substr(1) == suffix.substr(1);
}

ChildShape ShapeFor(const fhir::TypeDef* parent_def, const fhir::ElementDef* el,
                    std::string_view code) {
  ChildShape s;
  if (code.empty() && el != nullptr && !el->content_reference().empty()) {
    std::string_view ref = el->content_reference().substr(1);  // "#Questionnaire.item"
    std::string_view type = ref.substr(0, ref.find('.'));
    s.def = fhir::FindType(type);
    const fhir::ElementDef* target = s.def ? s.def->FindElement(ref) : nullptr;
    s.def_path = target ? target->path() : std::string_view();
    if (target == nullptr) s.def = nullptr;
    s.type_name = "BackboneElement";
    return s;
  }
  if (code == "BackboneElement" || code == "Element") {
    s.def = parent_def;
    s.def_path = el->path();
    s.type_name = code;
    return s;
  }
  if (code == "Resource" || code == "DomainResource") {
    s.is_resource = true;
    return s;
  }
  s.def = fhir::FindType(code);
  if (s.def != nullptr) {
    s.type_name = s.def->name();
    s.def_path = s.def->name();
  } else {
    s.type_name = code;
  }
  return s;
}

void AddValue(const json::value* v, const json::value* extras, const ChildShape& shape,
              Collection& out) {
  if (v != nullptr && v->is_null()) v = nullptr;
  if (extras != nullptr && extras->is_null()) extras = nullptr;
  if (v == nullptr && extras == nullptr) return;
  // Room for a few from the start: collections are short, and growing 1, 2, 4 moved every Item
  // (about 150 bytes) at each step.
  if (out.capacity() == 0) out.reserve(4);
  if (shape.is_resource) {
    if (v != nullptr) out.push_back(ResourceItem(*v));
    return;
  }
  Item item;
  item.node = v;
  item.extras = extras;
  if (shape.type_name.empty() && v != nullptr) {
    item.type_name = GuessType(*v);
    if (v->is_object()) {
      const json::value* rt = v->as_object().if_contains("resourceType");
      if (rt != nullptr && rt->is_string()) {
        out.push_back(ResourceItem(*v));
        return;
      }
    }
  } else {
    item.type_name = shape.type_name;
  }
  item.def = shape.def;
  item.def_path = shape.def_path;
  out.push_back(std::move(item));
}

// Appends obj[key] (and obj["_" + key]) as elements of `shape`, one per array entry.
void AddMember(const json::object& obj, std::string_view key, const ChildShape& shape,
               Collection& out) {
  // One pass over the names finds both `key` and "_" + key (a JSON object's names are unique),
  // where two searches would compare every name twice; FHIR objects are small.
  const json::value* v = nullptr;
  const json::value* extras = nullptr;
  const bool has_extras = key.size() < 128;
  for (const json::key_value_pair& member : obj) {
    const std::string_view name = member.key();
    if (name.size() == key.size()) {
      if (name == key) v = &member.value();
    } else if (has_extras && name.size() == key.size() + 1 && name[0] == '_' &&
               name.substr(1) == key) {
      extras = &member.value();
    }
  }
  if (v == nullptr && extras == nullptr) return;
  if ((v != nullptr && v->is_array()) || (extras != nullptr && extras->is_array())) {
    const json::array* va = v != nullptr && v->is_array() ? &v->as_array() : nullptr;
    const json::array* ea = extras != nullptr && extras->is_array() ? &extras->as_array() : nullptr;
    size_t n = std::max(va ? va->size() : 0, ea ? ea->size() : 0);
    for (size_t i = 0; i < n; ++i) {
      AddValue(va && i < va->size() ? &(*va)[i] : nullptr,
               ea && i < ea->size() ? &(*ea)[i] : nullptr, shape, out);
    }
    return;
  }
  AddValue(v, extras, shape, out);
}

// Where the shape of one lookup comes from; made only when the lookup is taken (a choice element
// has up to 50 types, and a resource holds one of them).
struct ShapeSource {
  const fhir::TypeDef* def;
  const fhir::ElementDef* el;
  std::string_view code;
  bool resource_id;  // R4 types Resource.id as System.String; FHIRPath calls it an id
  ChildShape Make() const {
    ChildShape shape = ShapeFor(def, el, code);
    if (resource_id) shape.type_name = "id";
    return shape;
  }
};

// The lookups behind Children() for a parent typed `def` at `def_path`: calls
// take(key, only_if_present, shape_source) for each JSON member to read, in order. Returns false
// when `name` is no element of that type. Children() and ChildLookups() (the compiled form
// TypedPath uses) both go through here, so that they cannot disagree.
template <class Take>
bool VisitLookups(const fhir::TypeDef& def, std::string_view def_path, std::string_view name,
                  Take&& take) {
  PathBuf path(def_path, name);
  if (const fhir::ElementDef* el = def.FindElement(path.view())) {
    auto types = el->types();
    const bool resource_id = name == "id" && def.kind() == fhir::TypeKind::kResource;
    take(name, false,
         ShapeSource{&def, el, types.empty() ? std::string_view() : TypeCode(types[0]),
                     resource_id});
    return true;
  }
  // A choice element by its base name: value -> valueQuantity, valueString, ... (each taken only
  // when present: `_valueString` alone does not make a value).
  PathBuf choice(def_path, name, "[x]");
  if (const fhir::ElementDef* el = def.FindElement(choice.view())) {
    for (const fhir::ElementType& t : el->types()) {
      std::string_view code = TypeCode(t);
      std::string key(name);
      key.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(code[0]))));
      key.append(code.substr(1));
      take(std::string_view(key), true, ShapeSource{&def, el, code, false});
    }
    return true;
  }
  // A choice element by its full name: valueQuantity.
  for (size_t i = 1; i < name.size(); ++i) {
    if (!std::isupper(static_cast<unsigned char>(name[i]))) continue;
    PathBuf base(def_path, name.substr(0, i), "[x]");
    const fhir::ElementDef* el = def.FindElement(base.view());
    if (el == nullptr) continue;
    for (const fhir::ElementType& t : el->types()) {
      std::string_view code = TypeCode(t);
      if (CapitalizedEquals(code, name.substr(i))) {
        take(name, false, ShapeSource{&def, el, code, false});
        return true;
      }
    }
  }
  return false;
}

}  // namespace

const json::object* ChildObject(const Item& item) {
  if (item.kind != ValueKind::kElement) return nullptr;
  if (item.node != nullptr && item.node->is_object()) return &item.node->as_object();
  if (item.extras != nullptr && item.extras->is_object()) return &item.extras->as_object();
  return nullptr;
}

bool ChildLookups(const fhir::TypeDef& def, std::string_view def_path, std::string_view name,
                  std::vector<ChildLookup>& out) {
  return VisitLookups(def, def_path, name,
                      [&out](std::string_view key, bool only_if_present, const ShapeSource& s) {
                        out.push_back({std::string(key), s.Make(), only_if_present});
                      });
}

void AppendChildren(const json::object& obj, const ChildLookup& lookup, Collection& out,
                    bool present) {
  if (lookup.only_if_present && !present && !obj.contains(lookup.key)) return;
  AddMember(obj, lookup.key, lookup.shape, out);
}

Item ResourceItem(const json::value& resource) {
  Item item;
  item.node = &resource;
  if (resource.is_object()) {
    const json::value* rt = resource.as_object().if_contains("resourceType");
    if (rt != nullptr && rt->is_string()) {
      const fhir::TypeDef* def = fhir::FindType(rt->as_string());
      if (def != nullptr) {
        item.def = def;
        item.type_name = def->name();
        item.def_path = def->name();
      }
    }
  }
  return item;
}

bool Children(const Item& parent, std::string_view name, Collection& out) {
  if (parent.kind != ValueKind::kElement) return false;
  const json::object* obj = ChildObject(parent);
  if (parent.def == nullptr) {
    if (obj != nullptr) AddMember(*obj, name, ChildShape{}, out);
    return true;
  }
  return VisitLookups(*parent.def, parent.def_path, name,
                      [&](std::string_view key, bool only_if_present, const ShapeSource& source) {
                        if (obj == nullptr || (only_if_present && !obj->contains(key))) return;
                        AddMember(*obj, key, source.Make(), out);
                      });
}

void AllChildren(const Item& parent, Collection& out) {
  const json::object* obj = ChildObject(parent);
  if (obj == nullptr) return;
  for (const auto& member : *obj) {
    std::string_view key = member.key();
    if (key == "resourceType") continue;
    if (!key.empty() && key[0] == '_') {
      if (obj->contains(key.substr(1))) continue;  // taken with its value
      key = key.substr(1);
    }
    Children(parent, key, out);
  }
}

bool TypeIs(std::string_view type_name, std::string_view name) {
  if (type_name == name) return true;
  const fhir::TypeDef* t = fhir::FindType(type_name);
  for (int guard = 0; t != nullptr && guard < 16; ++guard) {
    if (t->name() == name) return true;
    if (t->base().empty()) return false;
    t = fhir::FindType(t->base());
  }
  return false;
}

}  // namespace kiln::fhirpath::internal
