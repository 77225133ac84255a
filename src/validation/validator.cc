#include "validation/validator.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "fhir/definitions.h"
#include "fhir/terminology.h"
#include "validation/element_index.h"
#include "validation/narrative.h"
#include "validation/primitives.h"

namespace kiln::validation {
namespace {

namespace json = boost::json;
using internal::Child;
using internal::Context;
using internal::ElementIndex;
using internal::JsonKind;
using internal::Primitive;
using internal::Special;
using internal::TypeInfo;

// Past this many issues the resource is clearly wrong; a final issue says the list is cut short.
constexpr size_t kMaxIssues = 100;
// Nested JSON objects. Real resources stay far below (the deepest R4 example, a Bundle of value
// sets, nests about a dozen); the bound keeps a hostile document from exhausting the stack.
constexpr int kMaxDepth = 64;
// Per-object bitset of the children seen; ElementIndex::max_children() is 54 in R4 (a unit test
// keeps this in step).
constexpr size_t kMaxChildren = 128;
// Long values are cut in diagnostics.
constexpr size_t kMaxQuotedValue = 80;

constexpr std::string_view kCoreStructureDefinitionPrefix =
    "http://hl7.org/fhir/StructureDefinition/";

enum class ResourceRole {
  kRoot,       // the resource being validated
  kContained,  // an entry of DomainResource.contained: shares its container's contained ids
  kNested,     // Bundle.entry.resource, Parameters.parameter.resource...: a resource of its own
};

std::string Quoted(std::string_view s) {
  std::string out = "'";
  if (s.size() > kMaxQuotedValue) {
    out.append(s.substr(0, kMaxQuotedValue));
    out.append("...");
  } else {
    out.append(s);
  }
  out.push_back('\'');
  return out;
}

// The value as a reader would quote it: strings in quotes, numbers and literals as written, and
// only the kind of arrays and objects.
std::string Describe(const json::value& value) {
  switch (value.kind()) {
    case json::kind::string:
      return Quoted(value.get_string());
    case json::kind::object:
      return "an object";
    case json::kind::array:
      return "an array";
    case json::kind::null:
      return "null";
    default:
      return json::serialize(value);
  }
}

std::string_view KindName(JsonKind kind) {
  switch (kind) {
    case JsonKind::kBool:
      return "true or false";
    case JsonKind::kNumber:
      return "a JSON number";
    case JsonKind::kString:
      return "a JSON string";
  }
  return "";
}

// The resource type a reference names: "Patient" for "Patient/1", "Patient/1/_history/2" and
// "https://example.org/fhir/Patient/1"; "" when it names none (or no known type).
std::string_view ReferencedType(std::string_view url) {
  if (const size_t history = url.find("/_history/"); history != std::string_view::npos) {
    url = url.substr(0, history);
  }
  const size_t last = url.rfind('/');
  if (last == std::string_view::npos || last == 0) return "";
  const size_t before = url.rfind('/', last - 1);
  const std::string_view type =
      url.substr(before == std::string_view::npos ? 0 : before + 1, last - before - 1);
  return fhir::IsResourceType(type) ? type : std::string_view();
}

// Walks one resource, collecting issues. The current FHIRPath is kept in one string that grows and
// shrinks with the walk, so nothing is allocated per element unless an issue is found.
class Walker {
 public:
  Walker(const Options& options, std::vector<Issue>& issues)
      : options_(options), issues_(issues), index_(ElementIndex::Get()) {
    path_.reserve(256);
  }

  void Run(const json::value& resource) { ValidateResource(resource, ResourceRole::kRoot); }

 private:
  // The contained resources of the resource being walked: what "#id" references may point at.
  struct Scope {
    boost::container::small_vector<std::string_view, 8> contained_ids;
  };

  // Appends to path_ and takes it back when it goes out of scope.
  class PathPart {
   public:
    PathPart(std::string& path, std::string_view name) : path_(path), size_(path.size()) {
      path_.push_back('.');
      path_.append(name);
    }
    PathPart(std::string& path, size_t index) : path_(path), size_(path.size()) {
      std::array<char, 24> buffer;
      const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), index);
      path_.push_back('[');
      path_.append(buffer.data(), result.ptr);
      path_.push_back(']');
    }
    ~PathPart() { path_.resize(size_); }
    PathPart(const PathPart&) = delete;
    PathPart& operator=(const PathPart&) = delete;

   private:
    std::string& path_;
    size_t size_;
  };

  void Add(std::string_view code, std::string_view message, Severity severity = Severity::kError) {
    if (StopIfFull()) return;
    std::string diagnostics;
    diagnostics.reserve(path_.size() + 2 + message.size());
    if (!path_.empty()) {
      diagnostics.append(path_);
      diagnostics.append(": ");
    }
    diagnostics.append(message);
    issues_.push_back({severity, std::string(code), std::move(diagnostics), path_});
  }

  // Once kMaxIssues are reported, adds the final "too many issues" issue and stops the walk.
  bool StopIfFull() {
    if (!stopped_ && issues_.size() >= kMaxIssues) {
      issues_.push_back({Severity::kError, "too-costly",
                         "Too many issues; validation stopped after " + std::to_string(kMaxIssues),
                         ""});
      stopped_ = true;
    }
    return stopped_;
  }

  void AddAt(std::string_view name, std::string_view code, std::string_view message) {
    PathPart part(path_, name);
    Add(code, message);
  }

  void ValidateResource(const json::value& value, ResourceRole role) {
    if (!value.is_object()) {
      Add("structure", "a resource must be a JSON object, not " + Describe(value));
      return;
    }
    const json::object& object = value.get_object();
    const json::value* type_value = object.if_contains("resourceType");
    if (type_value == nullptr) {
      Add("required", "the resource has no resourceType");
      return;
    }
    if (!type_value->is_string()) {
      Add("structure", "resourceType must be a string, not " + Describe(*type_value));
      return;
    }
    const std::string_view type(type_value->get_string());
    const Context* context = fhir::IsResourceType(type) ? index_.TypeContext(type) : nullptr;
    if (context == nullptr) {
      Add("structure", Quoted(type) + " is not a known resource type");
      return;
    }
    if (role == ResourceRole::kRoot) path_.assign(type);

    Scope scope;
    const Scope* outer_scope = scope_;
    if (role != ResourceRole::kContained) {
      if (const json::value* contained = object.if_contains("contained");
          contained != nullptr && contained->is_array()) {
        for (const json::value& item : contained->get_array()) {
          const json::value* id = item.is_object() ? item.get_object().if_contains("id") : nullptr;
          if (id != nullptr && id->is_string()) scope.contained_ids.push_back(id->get_string());
        }
      }
      scope_ = &scope;
    } else {
      if (object.contains("contained")) {
        AddAt("contained", "invariant",
              "dom-2: a contained resource must not contain other resources");
      }
      if (const json::value* meta = object.if_contains("meta");
          meta != nullptr && meta->is_object()) {
        PathPart part(path_, "meta");
        for (const std::string_view server_managed : {"versionId", "lastUpdated"}) {
          if (meta->get_object().contains(server_managed)) {
            AddAt(server_managed, "invariant",
                  "dom-4: a contained resource must not have meta.versionId or meta.lastUpdated");
          }
        }
        if (meta->get_object().contains("security")) {
          AddAt("security", "invariant",
                "dom-5: a contained resource must not have security labels");
        }
      }
    }
    ValidateObject(object, *context);
    scope_ = outer_scope;
  }

  // Checks every member of `object` against the children of `context`, then the required ones.
  // `has_value`: the object is a primitive's `_name` partner and the primitive has a value.
  void ValidateObject(const json::object& object, const Context& context, bool has_value = false) {
    if (stopped_) return;
    if (object.empty()) {
      Add("structure", "empty objects are not allowed in FHIR JSON");
      return;
    }
    if (!has_value && !context.is_resource_root && object.size() == 1 && object.contains("id")) {
      Add("invariant", "ele-1: an element must have a value or children other than id");
      return;
    }
    if (depth_ >= kMaxDepth) {
      Add("structure", "the resource is nested too deeply to validate");
      stopped_ = true;
      return;
    }
    ++depth_;
    std::bitset<kMaxChildren> seen;
    // The type chosen for each choice element seen (valueQuantity...): only one is allowed.
    boost::container::small_vector<std::pair<const Child*, const TypeInfo*>, 4> chosen;

    for (const json::key_value_pair& member : object) {
      if (stopped_) break;
      const std::string_view key = member.key();
      if (key == "resourceType" && context.is_resource_root) continue;  // checked by the caller
      const bool is_partner = key.starts_with('_');
      const std::string_view name = is_partner ? key.substr(1) : key;
      const auto [child, type] = context.Find(name);
      if (child == nullptr) {
        PathPart part(path_, key);
        Add("structure", "unknown element " + Quoted(key) + " in " + std::string(context.path));
        continue;
      }
      if (is_partner && (type->primitive == Primitive::kNone || !type->takes_extensions)) {
        PathPart part(path_, key);
        Add("structure", Quoted(key) + " is not allowed: " + std::string(child->name) +
                             (type->primitive == Primitive::kNone ? " is not a primitive element"
                                                                  : " cannot have extensions"));
        continue;
      }
      if (child->is_choice) {
        const auto previous = std::find_if(chosen.begin(), chosen.end(),
                                           [&](const auto& c) { return c.first == child; });
        if (previous == chosen.end()) {
          chosen.emplace_back(child, type);
        } else if (previous->second != type) {
          PathPart part(path_, name);
          Add("structure", "only one type is allowed for " + std::string(child->name) +
                               "[x], but both " + std::string(child->name) +
                               previous->second->suffix + " and " + std::string(name) +
                               " are present");
          continue;
        }
      }
      seen.set(static_cast<size_t>(child - context.children.data()));

      if (is_partner) {
        // Validated together with its value, if there is one.
        if (object.contains(name)) continue;
        ValidateElement(nullptr, &member.value(), context, *child, *type, name);
      } else {
        const json::value* partner = nullptr;
        if (type->primitive != Primitive::kNone) {
          std::array<char, 128> buffer;
          if (name.size() < buffer.size()) {
            buffer[0] = '_';
            std::copy(name.begin(), name.end(), buffer.begin() + 1);
            partner = object.if_contains(std::string_view(buffer.data(), name.size() + 1));
          }
        }
        ValidateElement(&member.value(), partner, context, *child, *type, name);
      }
    }

    if (!stopped_) {
      for (const uint16_t i : context.required) {
        if (seen.test(i)) continue;
        const Child& child = context.children[i];
        PathPart part(path_, child.name);
        Add("required", "missing required element " + Quoted(child.def->path()) +
                            " (minimum cardinality " + std::to_string(child.def->min()) + ")");
      }
    }
    --depth_;
  }

  // One member: `value` is the JSON value of `name` and `partner` that of `_name` (either may be
  // missing, not both).
  void ValidateElement(const json::value* value, const json::value* partner, const Context& parent,
                       const Child& child, const TypeInfo& type, std::string_view name) {
    PathPart part(path_, name);
    if (!child.def->is_array()) {
      if ((value != nullptr && value->is_array()) || (partner != nullptr && partner->is_array())) {
        Add("structure", "must not be an array: the element has maximum cardinality 1");
        return;
      }
      ValidateItem(value, partner, parent, child, type, false);
      return;
    }

    const json::array* values = nullptr;
    const json::array* partners = nullptr;
    if (value != nullptr) {
      if (!value->is_array()) {
        Add("structure", "must be an array: the element repeats (maximum cardinality " +
                             MaxText(*child.def) + "), even with one item");
        return;
      }
      values = &value->get_array();
    }
    if (partner != nullptr) {
      if (!partner->is_array()) {
        Add("structure", "'_" + std::string(name) + "' must be an array, like the element");
        return;
      }
      partners = &partner->get_array();
    }
    if (values != nullptr && partners != nullptr && values->size() != partners->size()) {
      Add("structure", "'" + std::string(name) + "' and '_" + std::string(name) +
                           "' must have the same number of items (" +
                           std::to_string(values->size()) + " and " +
                           std::to_string(partners->size()) + ")");
      return;
    }
    const size_t count = values != nullptr ? values->size() : partners->size();
    if (count == 0) {
      Add("structure", "empty arrays are not allowed in FHIR JSON");
      return;
    }
    if (child.def->max() >= 0 && count > static_cast<size_t>(child.def->max())) {
      Add("structure", "has " + std::to_string(count) + " items, more than the maximum " +
                           std::to_string(child.def->max()));
    }
    for (size_t i = 0; i < count && !stopped_; ++i) {
      PathPart item(path_, i);
      ValidateItem(values != nullptr ? &(*values)[i] : nullptr,
                   partners != nullptr ? &(*partners)[i] : nullptr, parent, child, type, true);
    }
  }

  static std::string MaxText(const fhir::ElementDef& def) {
    return def.max() < 0 ? "*" : std::to_string(def.max());
  }

  void ValidateItem(const json::value* value, const json::value* partner, const Context& parent,
                    const Child& child, const TypeInfo& type, bool in_array) {
    if (type.primitive != Primitive::kNone) {
      ValidatePrimitiveItem(value, partner, child, type, in_array);
      return;
    }
    if (value == nullptr) return;  // only primitives have `_name` partners (checked earlier)
    if (value->is_null()) {
      Add("structure", "null is not allowed in FHIR JSON (leave the element out)");
      return;
    }
    if (!value->is_object()) {
      Add("structure",
          "must be a JSON object (type " + std::string(type.code) + "), not " + Describe(*value));
      return;
    }
    const json::object& object = value->get_object();
    if (type.is_resource) {
      const bool contained = parent.is_resource_root && child.name == "contained";
      ValidateResource(*value, contained ? ResourceRole::kContained : ResourceRole::kNested);
      return;
    }
    if (type.context == nullptr) return;  // a logical model's type: nothing known to check
    ValidateObject(object, *type.context);
    if (stopped_) return;
    switch (type.special) {
      case Special::kExtension:
        CheckExtension(object, parent.is_extension);
        break;
      case Special::kReference:
        CheckReference(object, type);
        break;
      case Special::kSimpleQuantity:
        if (object.contains("comparator")) {
          AddAt("comparator", "invariant",
                "sqty-1: the comparator is not used on a SimpleQuantity");
        }
        break;
      case Special::kCoding:
      case Special::kCodeableConcept:
      case Special::kNone:
        break;
    }
    if (options_.check_bindings && !child.required_value_set.empty()) {
      if (type.special == Special::kCoding) CheckCodingBinding(object, child.required_value_set);
      if (type.special == Special::kCodeableConcept) {
        CheckCodeableConceptBinding(object, child.required_value_set);
      }
    }
  }

  void ValidatePrimitiveItem(const json::value* value, const json::value* partner,
                             const Child& child, const TypeInfo& type, bool in_array) {
    bool has_extension = false;
    if (partner != nullptr) {
      if (partner->is_null()) {
        // In arrays, null marks an item with no extension; alone it means nothing.
        if (!in_array) Add("structure", "null is not allowed in FHIR JSON (leave the element out)");
      } else if (!partner->is_object()) {
        Add("structure", "the '_' partner of a primitive must be an object with id and " +
                             std::string("extension, not ") + Describe(*partner));
      } else if (type.primitive == Primitive::kXhtml) {
        Add("structure", "xhtml values cannot have extensions");
      } else {
        has_extension = true;
        ValidateObject(partner->get_object(), index_.element_context(),
                       value != nullptr && !value->is_null());
      }
    }
    if (value == nullptr) {
      // Only `_name` was sent: each of its items must carry something.
      if (in_array && !has_extension) {
        Add("structure", "null items are only allowed where the element has a value for them");
      }
      return;
    }
    if (value->is_null()) {
      if (!in_array) {
        Add("structure", "null is not allowed in FHIR JSON (leave the element out)");
      } else if (!has_extension) {
        Add("structure", "null items are only allowed where the '_' array has an extension");
      }
      return;
    }
    ValidatePrimitive(*value, child, type);
  }

  void ValidatePrimitive(const json::value& value, const Child& child, const TypeInfo& type) {
    const Primitive primitive = type.primitive;
    const JsonKind kind = internal::JsonKindOf(primitive);
    switch (kind) {
      case JsonKind::kBool:
        if (!value.is_bool()) {
          Add("value", Describe(value) + " is not a valid boolean (expected true or false)");
        }
        return;
      case JsonKind::kNumber:
        if (!value.is_number()) {
          Add("value", Describe(value) + " is not a valid " +
                           std::string(internal::PrimitiveName(primitive)) + " (expected " +
                           std::string(KindName(kind)) + ")");
          return;
        }
        if (primitive != Primitive::kDecimal) CheckInteger(value, primitive);
        return;
      case JsonKind::kString:
        break;
    }
    if (!value.is_string()) {
      Add("value", Describe(value) + " is not a valid " +
                       std::string(internal::PrimitiveName(primitive)) + " (expected " +
                       std::string(KindName(kind)) + ")");
      return;
    }
    const std::string_view s = value.get_string();
    if (s.empty()) {
      Add("value", "empty strings are not allowed in FHIR JSON (leave the element out)");
      return;
    }
    bool valid = true;
    switch (primitive) {
      case Primitive::kString:
      case Primitive::kMarkdown:
        CheckStringValue(s);
        break;
      case Primitive::kCode:
        valid = internal::IsValidCode(s);
        break;
      case Primitive::kId:
        valid = internal::IsValidId(s);
        break;
      case Primitive::kUri:
      case Primitive::kUrl:
      case Primitive::kCanonical:
        valid = internal::IsValidUri(s);
        break;
      case Primitive::kOid:
        valid = internal::IsValidOid(s);
        break;
      case Primitive::kUuid:
        valid = internal::IsValidUuid(s);
        break;
      case Primitive::kBase64Binary:
        valid = internal::IsValidBase64(s);
        break;
      case Primitive::kInstant:
        valid = internal::IsValidInstant(s);
        break;
      case Primitive::kDate:
        valid = internal::IsValidDate(s);
        break;
      case Primitive::kDateTime:
        valid = internal::IsValidDateTime(s);
        break;
      case Primitive::kTime:
        valid = internal::IsValidTime(s);
        break;
      case Primitive::kXhtml:
        if (options_.check_narrative) {
          CheckNarrative(s, path_, issues_);
          StopIfFull();
        }
        break;
      default:
        break;
    }
    if (!valid) {
      Add("value",
          Quoted(s) + " is not a valid " + std::string(internal::PrimitiveName(primitive)));
      return;
    }
    if (options_.check_bindings && !child.required_value_set.empty() &&
        fhir::CheckCode(child.required_value_set, "", s) == fhir::CodeCheck::kNotInValueSet) {
      Add("code-invalid",
          Quoted(s) + " is not in the required value set " + std::string(child.required_value_set));
    }
  }

  void CheckInteger(const json::value& value, Primitive primitive) {
    const std::string_view type_name = internal::PrimitiveName(primitive);
    if (value.is_double()) {
      Add("value", json::serialize(value) + " is not a valid " + std::string(type_name) +
                       " (no fraction or exponent allowed)");
      return;
    }
    constexpr int64_t kMax = INT32_MAX;
    const int64_t min = primitive == Primitive::kInteger       ? INT32_MIN
                        : primitive == Primitive::kPositiveInt ? 1
                                                               : 0;
    const bool in_range = value.is_int64() ? value.get_int64() >= min && value.get_int64() <= kMax
                                           : false;  // uint64: above INT64_MAX
    if (!in_range) {
      Add("value", json::serialize(value) + " is not a valid " + std::string(type_name) +
                       " (allowed: " + std::to_string(min) + " to " + std::to_string(kMax) + ")");
    }
  }

  void CheckStringValue(std::string_view s) {
    switch (internal::CheckString(s)) {
      case internal::StringCheck::kOk:
        return;
      case internal::StringCheck::kForbiddenWhitespace:
        Add("value", "strings must not contain vertical tab or form feed characters");
        return;
      case internal::StringCheck::kTooLong:
        Add("value", "strings must not exceed 1,048,576 characters");
        return;
      case internal::StringCheck::kControlCharacter:
        Add("value",
            "strings should not contain control characters other than tab, carriage "
            "return and line feed",
            Severity::kWarning);
        return;
      case internal::StringCheck::kOnlyWhitespace:
        Add("value", "strings should contain non-whitespace content", Severity::kWarning);
        return;
    }
  }

  // ext-1, and extension urls: absolute, except inside a complex extension, whose parts are named
  // by their simple url ("lang", "content").
  void CheckExtension(const json::object& extension, bool nested) {
    bool has_value = false;
    bool has_extensions = false;
    for (const json::key_value_pair& member : extension) {
      const std::string_view key = member.key();
      if (key.starts_with("value") || key.starts_with("_value")) has_value = true;
      if (key == "extension") has_extensions = true;
    }
    if (has_value && has_extensions) {
      Add("invariant",
          "ext-1: an extension must have either nested extensions or a value, not both");
    } else if (!has_value && !has_extensions) {
      Add("invariant", "ext-1: an extension must have either nested extensions or a value");
    }
    const json::value* url = extension.if_contains("url");
    if (!nested && url != nullptr && url->is_string() && !url->get_string().empty() &&
        !internal::HasUriScheme(url->get_string())) {
      AddAt("url", "value",
            "the extension url " + Quoted(url->get_string()) + " must be an absolute URI");
    }
  }

  void CheckReference(const json::object& reference, const TypeInfo& type) {
    // Target types are checkable when they are all core resource types (not "Resource" = any,
    // and not the URL of a profile).
    const fhir::NameList targets = type.type->target_types();
    const bool check_targets =
        !targets.empty() && std::all_of(targets.begin(), targets.end(),
                                        [](std::string_view t) { return fhir::IsResourceType(t); });

    std::string_view named_type;
    const json::value* literal = reference.if_contains("reference");
    if (literal != nullptr && literal->is_string() && !literal->get_string().empty()) {
      PathPart part(path_, "reference");
      const std::string_view url = literal->get_string();
      named_type = CheckReferenceSyntax(url);
      if (check_targets && !named_type.empty() && !targets.Contains(named_type)) {
        Add("structure", "a reference to " + std::string(named_type) +
                             " is not allowed here (allowed: " + JoinNames(targets) + ")");
      }
    }

    const json::value* type_value = reference.if_contains("type");
    if (type_value != nullptr && type_value->is_string()) {
      std::string_view name = type_value->get_string();
      if (name.starts_with(kCoreStructureDefinitionPrefix)) {
        name.remove_prefix(kCoreStructureDefinitionPrefix.size());
      }
      if (fhir::IsResourceType(name)) {
        PathPart part(path_, "type");
        if (check_targets && !targets.Contains(name)) {
          Add("structure", "a reference to " + std::string(name) +
                               " is not allowed here (allowed: " + JoinNames(targets) + ")");
        } else if (!named_type.empty() && named_type != name) {
          Add("value", "the type " + Quoted(name) + " does not match the reference to " +
                           std::string(named_type));
        }
      }
    }
  }

  // Checks the form of Reference.reference (path_ is at it); returns the resource type it names,
  // if any.
  std::string_view CheckReferenceSyntax(std::string_view url) {
    if (url.starts_with('#')) {
      const std::string_view id = url.substr(1);
      if (id.empty()) return "";  // the container itself
      if (!internal::IsValidId(id)) {
        Add("value", Quoted(url) + " is not a valid local reference (expected #id)");
      } else if (scope_ == nullptr ||
                 std::find(scope_->contained_ids.begin(), scope_->contained_ids.end(), id) ==
                     scope_->contained_ids.end()) {
        Add("invariant", "ref-1: no contained resource has the id " + Quoted(id));
      }
      return "";
    }
    if (url.starts_with("urn:uuid:")) {
      if (!internal::IsValidUuid(url)) Add("value", Quoted(url) + " is not a valid urn:uuid");
      return "";
    }
    if (url.starts_with("urn:oid:")) {
      if (!internal::IsValidOid(url)) Add("value", Quoted(url) + " is not a valid urn:oid");
      return "";
    }
    if (internal::HasUriScheme(url)) {
      // An absolute URL: a server's [base]/Type/id, or any other resolvable location.
      return url.starts_with("http://") || url.starts_with("https://") ? ReferencedType(url) : "";
    }
    // Relative: Type/id, Type/id/_history/vid, or a conditional reference Type?criteria (allowed
    // in transactions, resolved by the server).
    const size_t end_of_type = url.find_first_of("/?");
    const std::string_view type = url.substr(0, end_of_type);
    bool valid = fhir::IsResourceType(type) && end_of_type != std::string_view::npos;
    if (valid && url[end_of_type] == '/') {
      std::string_view rest = url.substr(end_of_type + 1);
      std::string_view version;
      if (const size_t history = rest.find("/_history/"); history != std::string_view::npos) {
        version = rest.substr(history + 10);
        rest = rest.substr(0, history);
        valid = internal::IsValidId(version);
      }
      valid = valid && internal::IsValidId(rest);
    } else if (valid) {
      valid = url.size() > end_of_type + 1;
    }
    if (!valid) {
      Add("value", Quoted(url) +
                       " is not a valid reference (expected Type/id, an absolute URL, "
                       "#id, urn:uuid: or urn:oid:)");
      return "";
    }
    return type;
  }

  static std::string JoinNames(const fhir::NameList& names) {
    std::string out;
    for (const std::string_view name : names) {
      if (!out.empty()) out.append(", ");
      out.append(name);
    }
    return out;
  }

  static std::string_view StringMember(const json::object& object, std::string_view key) {
    const json::value* value = object.if_contains(key);
    return value != nullptr && value->is_string() ? std::string_view(value->get_string())
                                                  : std::string_view();
  }

  void CheckCodingBinding(const json::object& coding, std::string_view value_set) {
    const std::string_view code = StringMember(coding, "code");
    if (code.empty()) return;
    const std::string_view system = StringMember(coding, "system");
    if (fhir::CheckCode(value_set, system, code) == fhir::CodeCheck::kNotInValueSet) {
      Add("code-invalid",
          "the code " +
              Quoted(system.empty() ? std::string(code)
                                    : std::string(system) + "#" + std::string(code)) +
              " is not in the required value set " + std::string(value_set));
    }
  }

  // R4: with a required binding "the concept SHALL be from the value set": at least one coding
  // must be in it, and text alone does not do.
  void CheckCodeableConceptBinding(const json::object& codeable, std::string_view value_set) {
    bool any_code = false;
    if (const json::value* codings = codeable.if_contains("coding");
        codings != nullptr && codings->is_array()) {
      for (const json::value& coding : codings->get_array()) {
        if (!coding.is_object()) continue;
        const std::string_view code = StringMember(coding.get_object(), "code");
        if (code.empty()) continue;
        any_code = true;
        const std::string_view system = StringMember(coding.get_object(), "system");
        if (fhir::CheckCode(value_set, system, code) != fhir::CodeCheck::kNotInValueSet) return;
      }
    }
    if (any_code) {
      Add("code-invalid",
          "none of the codings is in the required value set " + std::string(value_set));
    } else if (codeable.contains("text") &&
               // An empty code is in no expansion: this only asks whether the set is checkable.
               fhir::CheckCode(value_set, "", "") != fhir::CodeCheck::kNotExpandable) {
      Add("code-invalid", "text alone does not meet the required binding to " +
                              std::string(value_set) + "; a coding from it is needed");
    }
  }

  const Options& options_;
  std::vector<Issue>& issues_;
  const ElementIndex& index_;
  std::string path_;
  int depth_ = 0;
  bool stopped_ = false;
  const Scope* scope_ = nullptr;
};

}  // namespace

std::vector<Issue> Validate(const boost::json::value& resource, const Options& options) {
  std::vector<Issue> issues;
  Walker walker(options, issues);
  walker.Run(resource);
  return issues;
}

void WarmUp() { ElementIndex::Get(); }

}  // namespace kiln::validation
