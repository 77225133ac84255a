// FHIRPath Patch (R4 fhirpatch.html): a Parameters resource whose `operation` parameters add,
// insert, delete, replace and move elements found by FHIRPath expressions.
//
// How a path finds what to change: the working resource (a Json tree, numbers kept exact) is
// rendered and parsed into the Boost.JSON DOM the FHIRPath engine evaluates over; each element
// the path selects points into that DOM, and its position there (member names and array indexes
// from the root) is the same position in the Json tree, which is then edited. This is redone for
// every operation, so each one sees the result of the ones before it.

#include <algorithm>
#include <cctype>

#include "fhir/definitions.h"
#include "patch/internal.h"

namespace kiln::patch {
namespace {

using Type = FhirPathOp::Type;

// --- Parsing the Parameters ---

// The value of part or parameter `p`: value[x], resource, or nested parts.
Result<PartValue> ReadValue(const Json& p, size_t op_index, std::string_view what) {
  PartValue v;
  for (const Json::Member& m : p.members()) {
    const std::string& key = m.first;
    if (key.size() > 5 && key.compare(0, 5, "value") == 0 &&
        std::isupper(static_cast<unsigned char>(key[5]))) {
      v.kind = PartValue::Kind::kTyped;
      v.type_suffix = key.substr(5);
      v.value = m.second;
      if (const Json* extras = p.Find("_" + key)) v.extras = *extras;
      return v;
    }
  }
  if (const Json* res = p.Find("resource")) {
    if (!res->is_object())
      return OperationInvalid(op_index, std::string(what) + ": resource must be an object");
    v.kind = PartValue::Kind::kResource;
    v.value = *res;
    return v;
  }
  if (const Json* parts = p.Find("part"); parts != nullptr && parts->is_array()) {
    v.kind = PartValue::Kind::kParts;
    for (const Json& part : parts->items()) {
      const Json* name = part.is_object() ? part.Find("name") : nullptr;
      if (name == nullptr || !name->is_string())
        return OperationInvalid(op_index, std::string(what) + ": every part needs a name");
      auto inner = ReadValue(part, op_index, what);
      if (!inner.ok()) return inner.take_status();
      v.parts.emplace_back(name->text(), std::move(inner).value());
    }
    return v;
  }
  return OperationInvalid(op_index,
                          std::string(what) + " has no value (value[x], resource, or parts)");
}

// 'name', for messages.
std::string Quoted(std::string_view name) {
  std::string quoted = "'";
  quoted.append(name);
  quoted.push_back('\'');
  return quoted;
}

Result<int64_t> ReadInteger(const Json& part, size_t op_index, std::string_view name) {
  const std::string quoted = Quoted(name);
  const Json* v = part.Find("valueInteger");
  if (v == nullptr || !v->is_number())
    return OperationInvalid(op_index, quoted + " must be a valueInteger");
  const std::string& t = v->text();
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 9)
    return OperationInvalid(op_index, quoted + " must be a non-negative integer");
  return std::stoll(t);
}

Result<std::string> ReadString(const Json& part, size_t op_index, std::string_view name) {
  for (const Json::Member& m : part.members()) {
    if (m.first.compare(0, 5, "value") == 0 && m.first.size() > 5) {
      if (!m.second.is_string())
        return OperationInvalid(op_index, Quoted(name) + " must be a string");
      return m.second.text();
    }
  }
  return OperationInvalid(op_index, Quoted(name) + " has no value");
}

// --- Element definitions ---

// Where the children of a value are defined: a type and a path within it ("Patient.contact").
// def == nullptr: unknown (the element names are then taken as they are).
struct TypeCtx {
  const fhir::TypeDef* def = nullptr;
  std::string path;
};

TypeCtx CtxOfType(std::string_view code) {
  TypeCtx c;
  c.def = fhir::FindType(code);
  if (c.def != nullptr) c.path = std::string(c.def->name());
  return c;
}

TypeCtx CtxOfResource(const Json& resource) {
  const Json* rt = resource.is_object() ? resource.Find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string()) return {};
  return CtxOfType(rt->text());
}

std::string_view TypeCode(const fhir::ElementType& t) {
  std::string_view code = t.code();
  // The value inside a primitive, ids and Extension.url: System types.
  if (code.substr(0, 31) == "http://hl7.org/fhirpath/System.") {
    return t.fhir_type().empty() ? std::string_view("string") : t.fhir_type();
  }
  return code;
}

// The context of an element `el` of `parent` whose value has type `code`.
TypeCtx ChildCtx(const TypeCtx& parent, const fhir::ElementDef& el, std::string_view code) {
  if (!el.content_reference().empty()) {
    std::string_view ref = el.content_reference().substr(1);  // "#Questionnaire.item"
    TypeCtx c;
    c.def = fhir::FindType(ref.substr(0, ref.find('.')));
    if (c.def != nullptr && c.def->FindElement(ref) != nullptr) {
      c.path = std::string(ref);
    } else {
      c.def = nullptr;
    }
    return c;
  }
  if (code == "BackboneElement" || code == "Element") {
    return TypeCtx{parent.def, std::string(el.path())};
  }
  if (code == "Resource" || code == "DomainResource") return {};  // from each value
  return CtxOfType(code);
}

bool CapitalizedEquals(std::string_view code, std::string_view suffix) {
  if (code.size() != suffix.size() || code.empty()) return false;
  if (std::toupper(static_cast<unsigned char>(code[0])) != suffix[0]) return false;
  return code.substr(1) == suffix.substr(1);
}

// An element of a parent, as FHIR JSON names it.
struct ElementInfo {
  std::string key;          // JSON member name ("deceasedBoolean" for a choice)
  std::string choice_base;  // for choice elements: "deceased"
  bool is_array = false;
  bool is_resource = false;  // Resource-typed (contained, Bundle.entry.resource)
  TypeCtx child;
};

// Element `name` of `ctx`: a plain element name, a choice's base name (then `suffix`, the value's
// type as in value[x], picks the member name), or a choice's full member name.
Result<ElementInfo> Lookup(const TypeCtx& ctx, std::string_view name, std::string_view suffix) {
  ElementInfo info;
  info.key = std::string(name);
  if (ctx.def == nullptr) return info;
  std::string base_path = ctx.path + ".";
  if (const fhir::ElementDef* el = ctx.def->FindElement(base_path + std::string(name))) {
    info.is_array = el->is_array();
    auto types = el->types();
    std::string_view code = types.empty() ? std::string_view() : TypeCode(types[0]);
    info.is_resource = code == "Resource" || code == "DomainResource";
    info.child = ChildCtx(ctx, *el, code);
    return info;
  }
  if (const fhir::ElementDef* el = ctx.def->FindElement(base_path + std::string(name) + "[x]")) {
    info.choice_base = std::string(name);
    info.is_array = el->is_array();
    if (suffix.empty())
      return Status(ErrorCode::kUnprocessable, "processing",
                    "'" + std::string(name) + "' is a choice element (" + std::string(name) +
                        "[x]); its value must say its type (value[x])");
    for (const fhir::ElementType& t : el->types()) {
      std::string_view code = TypeCode(t);
      if (CapitalizedEquals(code, suffix)) {
        info.key = std::string(name) + std::string(suffix);
        info.child = ChildCtx(ctx, *el, code);
        return info;
      }
    }
    return Status(ErrorCode::kUnprocessable, "processing",
                  std::string(suffix) + " is not one of the types of " + ctx.path + "." +
                      std::string(name) + "[x]");
  }
  // A choice element by its full member name (valueQuantity).
  for (size_t i = 1; i < name.size(); ++i) {
    if (!std::isupper(static_cast<unsigned char>(name[i]))) continue;
    const fhir::ElementDef* el =
        ctx.def->FindElement(base_path + std::string(name.substr(0, i)) + "[x]");
    if (el == nullptr) continue;
    for (const fhir::ElementType& t : el->types()) {
      std::string_view code = TypeCode(t);
      if (CapitalizedEquals(code, name.substr(i))) {
        info.choice_base = std::string(name.substr(0, i));
        info.is_array = el->is_array();
        info.child = ChildCtx(ctx, *el, code);
        return info;
      }
    }
  }
  return Status(ErrorCode::kUnprocessable, "processing",
                "'" + std::string(name) + "' is not an element of " + ctx.path);
}

// --- Positions in the tree ---

using Step = std::variant<std::string, size_t>;
using Path = std::vector<Step>;

bool FindPath(const boost::json::value& v, const boost::json::value* target, Path& path) {
  if (&v == target) return true;
  if (v.is_object()) {
    for (const auto& m : v.as_object()) {
      path.emplace_back(std::string(m.key()));
      if (FindPath(m.value(), target, path)) return true;
      path.pop_back();
    }
  } else if (v.is_array()) {
    const auto& a = v.as_array();
    for (size_t i = 0; i < a.size(); ++i) {
      path.emplace_back(i);
      if (FindPath(a[i], target, path)) return true;
      path.pop_back();
    }
  }
  return false;
}

Json* Resolve(Json& root, const Path& path, size_t n) {
  Json* cur = &root;
  for (size_t i = 0; i < n && cur != nullptr; ++i) {
    if (const auto* key = std::get_if<std::string>(&path[i])) {
      cur = cur->is_object() ? cur->Find(*key) : nullptr;
    } else {
      size_t idx = std::get<size_t>(path[i]);
      cur = cur->is_array() && idx < cur->items().size() ? &cur->items()[idx] : nullptr;
    }
  }
  return cur;
}

// The definitions context of the value at path[0, n): walks the definitions from the resource
// type along the member names (a primitive's `_name` sibling counts as the primitive).
TypeCtx CtxAt(Json& root, const Path& path, size_t n) {
  TypeCtx ctx = CtxOfResource(root);
  for (size_t i = 0; i < n; ++i) {
    const auto* key = std::get_if<std::string>(&path[i]);
    if (key == nullptr) continue;  // array index: same element type
    std::string name = *key;
    if (!name.empty() && name[0] == '_') name.erase(0, 1);
    auto info = Lookup(ctx, name, "");
    if (!info.ok()) return {};
    if (info->is_resource) {
      size_t end = i + 1;
      if (end < n && std::holds_alternative<size_t>(path[end])) ++end;
      Json* value = Resolve(root, path, end);
      ctx = value != nullptr ? CtxOfResource(*value) : TypeCtx{};
      i = end - 1;
      continue;
    }
    ctx = info->child;
  }
  return ctx;
}

// One element selected by a path: member `key` of the object at `parent`, entry `index` if the
// member is an array.
struct Location {
  Path parent;
  std::string key;
  std::optional<size_t> index;
};

// Builds the value to write from a PartValue: the JSON value and its `_name` sibling, if any.
struct Built {
  Json value;
  std::optional<Json> extras;
};

Result<Built> Build(const PartValue& v, const TypeCtx& ctx);

// Appends `b` to member `key` (and `_key`) of object `obj`, as an array entry or the single value.
Status Put(Json& obj, const std::string& key, bool is_array, Built b) {
  std::string ekey = "_" + key;
  if (!is_array) {
    if (obj.Find(key) != nullptr || obj.Find(ekey) != nullptr)
      return Status(ErrorCode::kUnprocessable, "processing",
                    "'" + key + "' is already present and does not repeat");
    if (!b.value.is_null()) obj.Set(key, std::move(b.value));
    if (b.extras) obj.Set(ekey, std::move(*b.extras));
    return Status::Ok();
  }
  Json* arr = obj.Find(key);
  Json* earr = obj.Find(ekey);
  size_t n = std::max(arr != nullptr && arr->is_array() ? arr->items().size() : 0,
                      earr != nullptr && earr->is_array() ? earr->items().size() : 0);
  if ((arr != nullptr && !arr->is_array()) || (earr != nullptr && !earr->is_array()))
    return Status(ErrorCode::kUnprocessable, "processing", "'" + key + "' is not an array");
  if (arr == nullptr) arr = &obj.Set(key, Json::Array());
  arr->items().resize(n);  // pads with nulls for entries that have only extras
  arr->items().push_back(std::move(b.value));
  if (b.extras || earr != nullptr) {
    if (earr == nullptr) earr = &obj.Set(ekey, Json::Array());
    earr->items().resize(n);
    earr->items().push_back(b.extras ? std::move(*b.extras) : Json::Null());
  }
  return Status::Ok();
}

Result<Built> Build(const PartValue& v, const TypeCtx& ctx) {
  switch (v.kind) {
    case PartValue::Kind::kTyped:
      return Built{v.value, v.extras};
    case PartValue::Kind::kResource:
      return Built{v.value, std::nullopt};
    case PartValue::Kind::kParts:
      break;
  }
  Json obj = Json::Object();
  for (const auto& [name, part] : v.parts) {
    auto info = Lookup(ctx, name, part.kind == PartValue::Kind::kTyped ? part.type_suffix : "");
    if (!info.ok()) return info.take_status();
    auto built = Build(part, info->child);
    if (!built.ok()) return built.take_status();
    if (Status s = Put(obj, info->key, info->is_array, std::move(built).value()); !s.ok()) return s;
  }
  return Built{std::move(obj), std::nullopt};
}

// Drops an all-null `_key` array, and `key` itself if it is an all-null array next to `_key`;
// removes both when they are empty arrays (FHIR JSON has no empty arrays).
void Tidy(Json& obj, const std::string& key) {
  std::string ekey = "_" + key;
  auto all_null = [](const Json* a) {
    return a != nullptr && a->is_array() &&
           std::all_of(a->items().begin(), a->items().end(),
                       [](const Json& x) { return x.is_null(); });
  };
  Json* arr = obj.Find(key);
  Json* earr = obj.Find(ekey);
  if (arr != nullptr && arr->is_array() && arr->items().empty()) obj.Erase(key);
  if (earr != nullptr && earr->is_array() && (earr->items().empty() || all_null(earr)))
    obj.Erase(ekey);
  arr = obj.Find(key);
  earr = obj.Find(ekey);
  if (all_null(arr) && earr != nullptr) obj.Erase(key);
}

// The entries of a repeating element (values and `_` siblings kept in step).
struct List {
  std::vector<Json> values;
  std::vector<Json> extras;
  bool has_extras = false;

  static List Take(Json& obj, const std::string& key) {
    List l;
    if (Json* a = obj.Find(key); a != nullptr && a->is_array()) l.values = std::move(a->items());
    if (Json* e = obj.Find("_" + key); e != nullptr && e->is_array()) {
      l.extras = std::move(e->items());
      l.has_extras = true;
    }
    size_t n = std::max(l.values.size(), l.extras.size());
    l.values.resize(n);
    if (l.has_extras) l.extras.resize(n);
    return l;
  }
  size_t size() const { return values.size(); }
  void Insert(size_t at, Built b) {
    values.insert(values.begin() + static_cast<std::ptrdiff_t>(at), std::move(b.value));
    if (b.extras && !has_extras) {
      extras.assign(values.size() - 1, Json::Null());
      has_extras = true;
    }
    if (has_extras)
      extras.insert(extras.begin() + static_cast<std::ptrdiff_t>(at),
                    b.extras ? std::move(*b.extras) : Json::Null());
  }
  Built Remove(size_t at) {
    Built b{std::move(values[at]), std::nullopt};
    values.erase(values.begin() + static_cast<std::ptrdiff_t>(at));
    if (has_extras) {
      if (!extras[at].is_null()) b.extras = std::move(extras[at]);
      extras.erase(extras.begin() + static_cast<std::ptrdiff_t>(at));
    }
    return b;
  }
  void Store(Json& obj, const std::string& key) && {
    bool any_value =
        std::any_of(values.begin(), values.end(), [](const Json& x) { return !x.is_null(); });
    if (values.empty()) {
      obj.Erase(key);
    } else if (any_value || !has_extras) {
      Json a = Json::Array();
      a.items() = std::move(values);
      obj.Set(key, std::move(a));
    } else {
      obj.Erase(key);
    }
    if (has_extras && !extras.empty()) {
      Json e = Json::Array();
      e.items() = std::move(extras);
      obj.Set("_" + key, std::move(e));
    } else {
      obj.Erase("_" + key);
    }
    Tidy(obj, key);
  }
};

// --- Applying ---

struct Selected {
  Location loc;
  Path full;  // path to the node itself (to the `_name` sibling for a primitive without value)
};

class Applier {
 public:
  explicit Applier(Json& resource) : resource_(resource) {}

  Status Run(const FhirPathOp& op, size_t i) {
    op_ = &op;
    index_ = i;
    auto selected = Select(op.path);
    if (!selected.ok()) return selected.take_status();
    switch (op.type) {
      case Type::kAdd:
        return Add(*selected);
      case Type::kInsert:
        return Insert(*selected);
      case Type::kDelete:
        return Delete(*selected);
      case Type::kReplace:
        return Replace(*selected);
      case Type::kMove:
        return Move(*selected);
    }
    return Status::Ok();
  }

 private:
  Status Fail(std::string reason) const {
    return OperationFailed(index_, op_->type_code, op_->path_text, std::move(reason));
  }
  Status Fail(const Status& s) const { return Fail(s.message()); }

  // Evaluates `path` on the current resource and locates each element it selects.
  Result<std::vector<Selected>> Select(const fhirpath::Expression& path) {
    auto dom = fhirpath::ParseJson(resource_.Serialize());
    if (!dom.ok()) return Fail(dom.status());
    auto items = fhirpath::Evaluate(path, *dom);
    if (!items.ok()) return Fail(items.status());
    std::vector<Selected> out;
    for (const fhirpath::Item& item : *items) {
      const boost::json::value* node = item.node != nullptr ? item.node : item.extras;
      Path full;
      if (item.kind != fhirpath::ValueKind::kElement || node == nullptr ||
          !FindPath(*dom, node, full))
        return Fail("the path selects a value that is not an element of the resource");
      Selected s;
      s.full = full;
      if (!full.empty()) {
        if (std::holds_alternative<size_t>(full.back())) {
          s.loc.index = std::get<size_t>(full.back());
          full.pop_back();
        }
        s.loc.key = std::get<std::string>(full.back());
        full.pop_back();
        if (!s.loc.key.empty() && s.loc.key[0] == '_') s.loc.key.erase(0, 1);
        s.loc.parent = std::move(full);
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  Status Add(const std::vector<Selected>& sel) {
    if (sel.empty()) return Fail("No content found at " + op_->path_text + " when adding");
    if (sel.size() > 1)
      return Fail("the path selects " + std::to_string(sel.size()) +
                  " elements; add needs exactly one");
    Json* target = Resolve(resource_, sel[0].full, sel[0].full.size());
    if (target == nullptr) return Fail("the path's element was not found");
    Json* obj = target;
    if (!target->is_object()) {
      // A primitive: its children (id, extension) live in the `_name` sibling.
      const Selected& s = sel[0];
      Json* parent = Resolve(resource_, s.loc.parent, s.loc.parent.size());
      std::string ekey = "_" + s.loc.key;
      if (s.loc.index) {
        List l = List::Take(*parent, s.loc.key);
        if (!l.has_extras) {
          l.extras.assign(l.size(), Json::Null());
          l.has_extras = true;
        }
        if (l.extras[*s.loc.index].is_null()) l.extras[*s.loc.index] = Json::Object();
        std::move(l).Store(*parent, s.loc.key);
        obj = &parent->Find(ekey)->items()[*s.loc.index];
      } else {
        obj = parent->Find(ekey);
        if (obj == nullptr) obj = &parent->Set(ekey, Json::Object());
      }
    }
    TypeCtx ctx = CtxAt(resource_, sel[0].full, sel[0].full.size());
    const PartValue& v = *op_->value;
    auto info = Lookup(ctx, op_->name, v.kind == PartValue::Kind::kTyped ? v.type_suffix : "");
    if (!info.ok()) return Fail(info.status());
    auto built = Build(v, info->child);
    if (!built.ok()) return Fail(built.status());
    if (Status s = Put(*obj, info->key, info->is_array, std::move(built).value()); !s.ok())
      return Fail(s);
    return Status::Ok();
  }

  // The list an insert or move works on: the one repeating element the path's items belong to.
  // An empty selection of a path ending in `.name` means that list is empty (insert at 0).
  struct ListRef {
    Path parent;
    std::string key;
    TypeCtx ctx;  // of the list's entries
  };

  Result<ListRef> ListOf(const std::vector<Selected>& sel, bool allow_empty) {
    ListRef ref;
    if (sel.empty()) {
      const std::string& text = op_->path_text;
      size_t dot = text.rfind('.');
      std::string name = dot == std::string::npos ? "" : text.substr(dot + 1);
      bool simple = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c));
      });
      if (!allow_empty || !simple) return Fail("No content found at " + op_->path_text);
      auto parent_expr = fhirpath::Compile(text.substr(0, dot));
      if (!parent_expr.ok()) return Fail("No content found at " + op_->path_text);
      auto parents = Select(*parent_expr);
      if (!parents.ok()) return parents.take_status();
      if (parents->size() != 1) return Fail("No content found at " + op_->path_text);
      ref.parent = (*parents)[0].full;
      ref.key = name;
    } else {
      ref.parent = sel[0].loc.parent;
      ref.key = sel[0].loc.key;
      for (const Selected& s : sel) {
        if (!s.loc.index || s.loc.parent != ref.parent || s.loc.key != ref.key)
          return Fail("the path must select the entries of one repeating element");
      }
    }
    Json* parent = Resolve(resource_, ref.parent, ref.parent.size());
    if (parent == nullptr || !parent->is_object()) return Fail("the path's element was not found");
    TypeCtx parent_ctx = CtxAt(resource_, ref.parent, ref.parent.size());
    auto info = Lookup(parent_ctx, ref.key, "");
    if (!info.ok()) return Fail(info.status());
    if (parent_ctx.def != nullptr && !info->is_array)
      return Fail("'" + ref.key + "' does not repeat, so it is not a list");
    ref.ctx = info->child;
    return ref;
  }

  Status Insert(const std::vector<Selected>& sel) {
    auto ref = ListOf(sel, true);
    if (!ref.ok()) return ref.take_status();
    Json& parent = *Resolve(resource_, ref->parent, ref->parent.size());
    auto built = Build(*op_->value, ref->ctx);
    if (!built.ok()) return Fail(built.status());
    List l = List::Take(parent, ref->key);
    if (op_->index < 0 || static_cast<size_t>(op_->index) > l.size()) {
      size_t n = l.size();
      std::move(l).Store(parent, ref->key);
      return Fail("index " + std::to_string(op_->index) + " is out of range (the list has " +
                  std::to_string(n) + " entries)");
    }
    l.Insert(static_cast<size_t>(op_->index), std::move(built).value());
    std::move(l).Store(parent, ref->key);
    return Status::Ok();
  }

  Status Move(const std::vector<Selected>& sel) {
    auto ref = ListOf(sel, false);
    if (!ref.ok()) return ref.take_status();
    Json& parent = *Resolve(resource_, ref->parent, ref->parent.size());
    List l = List::Take(parent, ref->key);
    size_t n = l.size();
    if (op_->source < 0 || static_cast<size_t>(op_->source) >= n || op_->destination < 0 ||
        static_cast<size_t>(op_->destination) >= n) {
      std::move(l).Store(parent, ref->key);
      return Fail("source " + std::to_string(op_->source) + " and destination " +
                  std::to_string(op_->destination) + " must both be below " + std::to_string(n) +
                  ", the number of entries");
    }
    Built moved = l.Remove(static_cast<size_t>(op_->source));
    l.Insert(static_cast<size_t>(op_->destination), std::move(moved));
    std::move(l).Store(parent, ref->key);
    return Status::Ok();
  }

  Status Delete(const std::vector<Selected>& sel) {
    if (sel.empty()) return Status::Ok();  // "if found"
    if (sel.size() > 1)
      return Fail("the path selects " + std::to_string(sel.size()) +
                  " elements; only a single element can be deleted");
    const Location& loc = sel[0].loc;
    if (loc.key.empty()) return Fail("the resource itself cannot be deleted");
    Json& parent = *Resolve(resource_, loc.parent, loc.parent.size());
    if (loc.index) {
      List l = List::Take(parent, loc.key);
      l.Remove(*loc.index);
      std::move(l).Store(parent, loc.key);
    } else {
      parent.Erase(loc.key);
      parent.Erase("_" + loc.key);
    }
    PruneEmpty(loc.parent);
    return Status::Ok();
  }

  // FHIR JSON has no empty objects: after a delete, removes the objects it left empty (deleting
  // Patient.contact[0].name.text, the only member of name, removes name too).
  void PruneEmpty(Path path) {
    while (!path.empty()) {
      Json* obj = Resolve(resource_, path, path.size());
      if (obj == nullptr || !obj->is_object() || !obj->members().empty()) return;
      std::optional<size_t> index;
      if (std::holds_alternative<size_t>(path.back())) {
        index = std::get<size_t>(path.back());
        path.pop_back();
      }
      std::string key = std::get<std::string>(path.back());
      path.pop_back();
      Json& container = *Resolve(resource_, path, path.size());
      if (!key.empty() && key[0] == '_') {
        // A primitive's `_name` object left empty: only the value remains.
        key.erase(0, 1);
        if (index) {
          List l = List::Take(container, key);
          l.extras[*index] = Json::Null();
          std::move(l).Store(container, key);
        } else {
          container.Erase("_" + key);
        }
        return;
      }
      if (index) {
        List l = List::Take(container, key);
        l.Remove(*index);
        std::move(l).Store(container, key);
      } else {
        container.Erase(key);
        container.Erase("_" + key);
      }
    }
  }

  Status Replace(const std::vector<Selected>& sel) {
    if (sel.empty()) return Fail("No content found at " + op_->path_text + " when replacing");
    if (sel.size() > 1)
      return Fail("the path selects " + std::to_string(sel.size()) +
                  " elements; replace needs exactly one");
    const Location& loc = sel[0].loc;
    if (loc.key.empty()) return Fail("the resource itself cannot be replaced");
    Json& parent = *Resolve(resource_, loc.parent, loc.parent.size());
    TypeCtx parent_ctx = CtxAt(resource_, loc.parent, loc.parent.size());
    const PartValue& v = *op_->value;
    std::string suffix = v.kind == PartValue::Kind::kTyped ? v.type_suffix : "";
    auto info = Lookup(parent_ctx, loc.key, "");
    if (!info.ok()) return Fail(info.status());
    std::string key = loc.key;
    TypeCtx ctx = info->child;
    if (!info->choice_base.empty() && !suffix.empty()) {
      // A choice may change type: valueQuantity replaced by a valueString is valueString.
      auto renamed = Lookup(parent_ctx, info->choice_base, suffix);
      if (!renamed.ok()) return Fail(renamed.status());
      key = renamed->key;
      ctx = renamed->child;
    }
    auto built = Build(v, ctx);
    if (!built.ok()) return Fail(built.status());
    if (loc.index) {
      List l = List::Take(parent, loc.key);
      l.Remove(*loc.index);
      l.Insert(*loc.index, std::move(built).value());
      std::move(l).Store(parent, loc.key);
      return Status::Ok();
    }
    // Keep the member's place in the object; the new value brings its own `_` sibling, if any.
    Built b = std::move(built).value();
    if (key == loc.key) {
      if (b.value.is_null()) {
        parent.Erase(key);
      } else {
        parent.Set(key, std::move(b.value));
      }
    } else {
      for (Json::Member& m : parent.members()) {
        if (m.first == loc.key) {
          m.first = key;
          m.second = std::move(b.value);
        }
      }
      parent.Erase("_" + loc.key);
    }
    if (b.extras) {
      parent.Set("_" + key, std::move(*b.extras));
    } else {
      parent.Erase("_" + key);
    }
    return Status::Ok();
  }

  Json& resource_;
  const FhirPathOp* op_ = nullptr;
  size_t index_ = 0;
};

}  // namespace

Result<std::vector<FhirPathOp>> ParseFhirPathOps(const Json& parameters) {
  const Json* rt = parameters.is_object() ? parameters.Find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string() || rt->text() != "Parameters")
    return Status(ErrorCode::kInvalid, "structure",
                  "A FHIRPath Patch must be a Parameters resource (R4 fhirpatch.html)");
  std::vector<FhirPathOp> ops;
  const Json* params = parameters.Find("parameter");
  if (params == nullptr) return ops;
  if (!params->is_array())
    return Status(ErrorCode::kInvalid, "structure", "Parameters.parameter must be an array");
  for (size_t i = 0; i < params->items().size(); ++i) {
    const Json& p = params->items()[i];
    std::string where = "Parameters.parameter[" + std::to_string(i) + "]";
    const Json* name = p.is_object() ? p.Find("name") : nullptr;
    if (name == nullptr || !name->is_string() || name->text() != "operation")
      return OperationInvalid(i, "every parameter of a FHIRPath Patch must be named 'operation'",
                              where);
    const Json* parts = p.Find("part");
    if (parts == nullptr || !parts->is_array())
      return OperationInvalid(i, "an operation needs its parts (type, path, ...)", where);
    FhirPathOp op;
    const Json* type = nullptr;
    const Json* path = nullptr;
    const Json* op_name = nullptr;
    const Json* value = nullptr;
    const Json* index = nullptr;
    const Json* source = nullptr;
    const Json* destination = nullptr;
    for (const Json& part : parts->items()) {
      const Json* n = part.is_object() ? part.Find("name") : nullptr;
      if (n == nullptr || !n->is_string())
        return OperationInvalid(i, "every part needs a name", where);
      const std::string& pn = n->text();
      const Json** slot = pn == "type"          ? &type
                          : pn == "path"        ? &path
                          : pn == "name"        ? &op_name
                          : pn == "value"       ? &value
                          : pn == "index"       ? &index
                          : pn == "source"      ? &source
                          : pn == "destination" ? &destination
                                                : nullptr;
      if (slot == nullptr) return OperationInvalid(i, "unknown part '" + pn + "'", where);
      if (*slot != nullptr) return OperationInvalid(i, "part '" + pn + "' is repeated", where);
      *slot = &part;
    }
    if (type == nullptr) return OperationInvalid(i, "the 'type' part is missing", where);
    auto type_code = ReadString(*type, i, "type");
    if (!type_code.ok()) return type_code.take_status();
    op.type_code = *type_code;
    static const std::pair<std::string_view, Type> kTypes[] = {{"add", Type::kAdd},
                                                               {"insert", Type::kInsert},
                                                               {"delete", Type::kDelete},
                                                               {"replace", Type::kReplace},
                                                               {"move", Type::kMove}};
    auto known = std::find_if(std::begin(kTypes), std::end(kTypes),
                              [&](const auto& k) { return k.first == op.type_code; });
    if (known == std::end(kTypes))
      return OperationInvalid(i,
                              "unknown type '" + op.type_code +
                                  "' (FHIRPath Patch has add, insert, delete, replace, move)",
                              where);
    op.type = known->second;
    if (path == nullptr) return OperationInvalid(i, "the 'path' part is missing", where);
    auto path_text = ReadString(*path, i, "path");
    if (!path_text.ok()) return path_text.take_status();
    op.path_text = *path_text;
    auto compiled = fhirpath::Compile(op.path_text);
    if (!compiled.ok())
      return OperationInvalid(
          i,
          "the path '" + op.path_text + "' is not valid FHIRPath: " + compiled.status().message(),
          where);
    op.path = std::move(compiled).value();
    auto require = [&](const Json* part, std::string_view part_name) -> Status {
      if (part == nullptr)
        return OperationInvalid(
            i, op.type_code + " needs the '" + std::string(part_name) + "' part", where);
      return Status::Ok();
    };
    if (op.type == Type::kAdd) {
      if (Status s = require(op_name, "name"); !s.ok()) return s;
      auto n = ReadString(*op_name, i, "name");
      if (!n.ok()) return n.take_status();
      op.name = *n;
    }
    if (op.type == Type::kAdd || op.type == Type::kInsert || op.type == Type::kReplace) {
      if (Status s = require(value, "value"); !s.ok()) return s;
      auto v = ReadValue(*value, i, "the 'value' part");
      if (!v.ok()) return v.take_status();
      op.value = std::move(v).value();
    }
    if (op.type == Type::kInsert) {
      if (Status s = require(index, "index"); !s.ok()) return s;
      auto n = ReadInteger(*index, i, "index");
      if (!n.ok()) return n.take_status();
      op.index = *n;
    }
    if (op.type == Type::kMove) {
      if (Status s = require(source, "source"); !s.ok()) return s;
      if (Status s = require(destination, "destination"); !s.ok()) return s;
      auto a = ReadInteger(*source, i, "source");
      if (!a.ok()) return a.take_status();
      auto b = ReadInteger(*destination, i, "destination");
      if (!b.ok()) return b.take_status();
      op.source = *a;
      op.destination = *b;
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

Status ApplyFhirPathOps(const std::vector<FhirPathOp>& ops, Json& resource) {
  if (!resource.is_object())
    return Status(ErrorCode::kInvalid, "structure", "The resource must be a JSON object");
  Applier applier(resource);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (Status s = applier.Run(ops[i], i); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace kiln::patch
