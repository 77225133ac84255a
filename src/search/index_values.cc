// FHIRPath results -> typed index entries, one function per search parameter type. The rules are
// listed in index.h; the R4 search page (search.html) is the source of each.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/log.h"
#include "fhir/terminology.h"
#include "search/index_internal.h"

namespace kiln::search::index_internal {
namespace {

namespace json = boost::json;
using fhir::SearchParamType;
using fhirpath::Item;
using fhirpath::ValueKind;

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr std::string_view kCurrencySystem = "urn:iso:std:iso:4217";
constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";

const json::value* Member(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  return v != nullptr && !v->is_null() ? v : nullptr;
}

std::string_view StringMember(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

const json::object* ObjectMember(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

// Calls fn(value) for obj[key], or for each member when it is an array.
template <typename Fn>
void ForEach(const json::object& obj, std::string_view key, Fn&& fn) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) return;
  if (v->is_array()) {
    for (const json::value& x : v->as_array()) fn(x);
  } else {
    fn(*v);
  }
}

// The text of a JSON scalar: a string as is, numbers in their shortest round-trip form.
std::optional<std::string> ScalarText(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return std::string(v.as_string());
    case json::kind::bool_:
      return std::string(v.as_bool() ? "true" : "false");
    case json::kind::int64:
      return std::to_string(v.as_int64());
    case json::kind::uint64:
      return std::to_string(v.as_uint64());
    case json::kind::double_: {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v.as_double());
      if (ec != std::errc()) return std::nullopt;
      return std::string(buf, end);
    }
    default:
      return std::nullopt;
  }
}

// The value of a primitive element or System value as text; nullopt for complex elements and
// primitives that carry only extensions.
std::optional<std::string> PrimitiveText(const Item& item) {
  if (item.kind != ValueKind::kElement) return fhirpath::ToString(item);
  if (item.node == nullptr) return std::nullopt;
  return ScalarText(*item.node);
}

const json::object* ComplexNode(const Item& item) {
  if (item.kind != ValueKind::kElement || item.node == nullptr || !item.node->is_object()) {
    return nullptr;
  }
  return &item.node->as_object();
}

// A decimal element's number with its precision range (ParseJson keeps decimals as text; an
// integer's range is half a unit either side, which makes integer matches exact).
std::optional<NumberRange> DecimalRange(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  std::optional<std::string> text = ScalarText(*v);
  if (!text || v->is_bool()) return std::nullopt;
  return ParseNumberRange(*text);
}

bool IsQuantityType(std::string_view t) {
  return t == "Quantity" || t == "Age" || t == "Duration" || t == "Distance" || t == "Count" ||
         t == "SimpleQuantity" || t == "MoneyQuantity";
}

// --- string ---

// Values that normalise to nothing ("...") are kept for :exact and :missing.
void AddString(const Sink& sink, std::string_view text) {
  if (text.empty()) return;
  sink.Add(StringValue{NormalizeString(text), std::string(text)});
}

void AddStringMembers(const Sink& sink, const json::object& obj,
                      std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    ForEach(obj, key, [&](const json::value& v) {
      if (v.is_string()) AddString(sink, v.as_string());
    });
  }
}

// A family name, and each of its further words on its own: R4 asks that "servers should search
// the parts of a family name independently" ("Quinones" finds "Carreno Quinones").
void AddFamily(const Sink& sink, std::string_view family) {
  if (family.empty()) return;
  const std::string normalized = NormalizeString(family);
  sink.Add(StringValue{normalized, std::string(family)});
  size_t space = normalized.find(' ');
  while (space != std::string::npos) {
    const size_t next = normalized.find(' ', space + 1);
    const size_t end = next == std::string::npos ? normalized.size() : next;
    sink.Add(StringValue{normalized.substr(space + 1, end - space - 1), std::string()});
    space = next;
  }
}

void AddStringItem(const Item& item, const Sink& sink) {
  if (const json::object* obj = ComplexNode(item)) {
    if (item.type_name == "HumanName") {
      AddFamily(sink, StringMember(*obj, "family"));
      AddStringMembers(sink, *obj, {"given", "prefix", "suffix", "text"});
    } else if (item.type_name == "Address") {
      AddStringMembers(sink, *obj,
                       {"line", "city", "district", "state", "postalCode", "country", "text"});
    } else if (item.type_name == "CodeableConcept") {
      AddStringMembers(sink, *obj, {"text"});
      ForEach(*obj, "coding", [&](const json::value& c) {
        if (c.is_object()) AddStringMembers(sink, c.as_object(), {"display"});
      });
    } else if (item.type_name == "Coding") {
      AddStringMembers(sink, *obj, {"display"});
    } else {
      sink.Warn("string parameter on a complex type");
    }
    return;
  }
  std::optional<std::string> text = PrimitiveText(item);
  if (!text) return;
  if (sink.family_words) {
    AddFamily(sink, *text);
  } else {
    AddString(sink, *text);
  }
}

// --- token ---

// `text`: the normalised display text for :text, "" if none.
void AddToken(const Sink& sink, std::string_view system, std::string_view code, std::string text) {
  sink.Add(TokenValue{std::string(system), std::string(code), std::move(text), {}, {}});
}

// `shown`, if given, receives the normalised display the entry holds ("" if none).
void AddCoding(const Sink& sink, const json::value& coding, std::string* shown = nullptr) {
  if (!coding.is_object()) return;
  const json::object& c = coding.as_object();
  std::string_view system = StringMember(c, "system");
  std::string_view code = StringMember(c, "code");
  std::string_view display = StringMember(c, "display");
  if (system.empty() && code.empty() && display.empty()) return;
  std::string text = display.empty() ? std::string() : NormalizeString(display);
  if (shown != nullptr) *shown = text;
  AddToken(sink, system, code, std::move(text));
}

void AddCodeableConcept(const Sink& sink, const json::object& cc) {
  std::string_view text = StringMember(cc, "text");
  const std::string normalized = text.empty() ? std::string() : NormalizeString(text);
  // The text gets an entry of its own (system and code empty) for :text, unless a coding's
  // display already says the same once normalised, as it mostly does ("Body Height" and
  // "Body height"): :text matches the same resources either way, and the row would be written
  // for nothing on every create.
  bool repeated = false;
  std::string shown;
  ForEach(cc, "coding", [&](const json::value& c) {
    shown.clear();
    AddCoding(sink, c, normalized.empty() ? nullptr : &shown);
    repeated = repeated || (!shown.empty() && shown == normalized);
  });
  if (!normalized.empty() && !repeated) AddToken(sink, "", "", normalized);
}

void AddIdentifier(const Sink& sink, const json::object& id) {
  std::string_view system = StringMember(id, "system");
  std::string_view value = StringMember(id, "value");
  if (system.empty() && value.empty()) return;
  TokenValue token{std::string(system), std::string(value), {}, {}, {}};
  const json::object* type = ObjectMember(id, "type");
  if (type != nullptr) {
    if (std::string_view text = StringMember(*type, "text"); !text.empty()) {
      token.text = NormalizeString(text);
    }
  }
  bool added = false;
  if (type != nullptr) {
    ForEach(*type, "coding", [&](const json::value& c) {
      if (!c.is_object()) return;
      TokenValue typed = token;
      typed.type_system = StringMember(c.as_object(), "system");
      typed.type_code = StringMember(c.as_object(), "code");
      if (typed.type_code.empty()) return;
      sink.Add(std::move(typed));
      added = true;
    });
  }
  if (!added) sink.Add(std::move(token));
}

// The system of a code from a required binding, when the value set is expanded locally and the
// code belongs to one of the candidate systems.
std::string_view BoundSystem(const CodeBinding* binding, std::string_view code) {
  if (binding == nullptr || binding->value_set.empty()) return {};
  for (const std::string& system : binding->systems) {
    if (fhir::CheckCode(binding->value_set, system, code) == fhir::CodeCheck::kInValueSet) {
      return system;
    }
  }
  if (!binding->unexpanded_system.empty() &&
      fhir::CheckCode(binding->value_set, "", code) == fhir::CodeCheck::kNotExpandable) {
    return binding->unexpanded_system;
  }
  return {};
}

void AddTokenItem(const Item& item, const Sink& sink) {
  if (const json::object* obj = ComplexNode(item)) {
    std::string_view t = item.type_name;
    if (t == "CodeableConcept") {
      AddCodeableConcept(sink, *obj);
    } else if (t == "Coding") {
      AddCoding(sink, *item.node);
    } else if (t == "Identifier") {
      AddIdentifier(sink, *obj);
    } else if (t == "ContactPoint") {
      // R4's token table: ContactPoint.value, no system.
      if (std::string_view value = StringMember(*obj, "value"); !value.empty()) {
        AddToken(sink, "", value, "");
      }
    } else if (t == "Reference") {
      if (const json::object* id = ObjectMember(*obj, "identifier")) AddIdentifier(sink, *id);
    } else {
      sink.Warn("token parameter on an unsupported complex type");
    }
    return;
  }
  std::optional<std::string> text = PrimitiveText(item);
  if (!text || text->empty()) return;
  std::string_view system;
  if (item.kind == ValueKind::kElement && item.type_name == "code") {
    system = BoundSystem(sink.binding, *text);
  }
  sink.Add(TokenValue{std::string(system), std::move(*text), {}, {}, {}});
}

// --- date ---

// The instants a date, dateTime or instant covers; times without an offset are taken as UTC.
std::optional<core::TimeRange> DateRange(std::string_view text) {
  if (auto range = core::ParseFhirDateTime(text)) return range;
  if (text.find('T') != std::string_view::npos) {
    return core::ParseFhirDateTime(std::string(text) + "Z");
  }
  return std::nullopt;
}

std::optional<core::TimeRange> DateMember(const json::object& obj, std::string_view key,
                                          const Sink& sink) {
  std::string_view text = StringMember(obj, key);
  if (text.empty()) return std::nullopt;
  auto range = DateRange(text);
  if (!range) sink.Warn("malformed date");
  return range;
}

void AddPeriod(const Sink& sink, const json::object& period) {
  auto start = DateMember(period, "start", sink);
  auto end = DateMember(period, "end", sink);
  if (!start && !end) return;
  sink.Add(DateValue{start ? start->low : kMinInstant, end ? end->high : kMaxInstant});
}

void AddTiming(const Sink& sink, const json::object& timing) {
  bool any = false;
  int64_t low = kMaxInstant, high = kMinInstant;
  auto widen = [&](int64_t lo, int64_t hi) {
    any = true;
    low = std::min(low, lo);
    high = std::max(high, hi);
  };
  ForEach(timing, "event", [&](const json::value& e) {
    if (!e.is_string()) return;
    if (auto r = DateRange(e.as_string())) {
      widen(r->low, r->high);
    } else {
      sink.Warn("malformed date");
    }
  });
  if (const json::object* repeat = ObjectMember(timing, "repeat")) {
    if (const json::object* bounds = ObjectMember(*repeat, "boundsPeriod")) {
      auto start = DateMember(*bounds, "start", sink);
      auto end = DateMember(*bounds, "end", sink);
      if (start || end) widen(start ? start->low : kMinInstant, end ? end->high : kMaxInstant);
    }
  }
  if (any) sink.Add(DateValue{low, high});
}

void AddDateItem(const Item& item, const Sink& sink) {
  if (const json::object* obj = ComplexNode(item)) {
    if (item.type_name == "Period") {
      AddPeriod(sink, *obj);
    } else if (item.type_name == "Timing") {
      AddTiming(sink, *obj);
    }
    // Other types in a date parameter's choices (CarePlan's scheduledString, Age...) carry no
    // dates.
    return;
  }
  std::string_view t = item.type_name;
  bool is_date =
      item.kind == ValueKind::kDate || item.kind == ValueKind::kDateTime ||
      (item.kind == ValueKind::kElement && (t == "date" || t == "dateTime" || t == "instant"));
  if (!is_date) return;
  std::optional<std::string> text = PrimitiveText(item);
  if (!text) return;
  if (auto range = DateRange(*text)) {
    sink.Add(DateValue{range->low, range->high});
  } else {
    sink.Warn("malformed date");
  }
}

// --- number and quantity ---

struct Bounds {
  double low = -kInfinity;
  double high = kInfinity;
  bool any = false;
};

// A Range's low and high Quantities as number bounds; `unit` gets the first bound with a unit.
Bounds RangeBounds(const json::object& range, const json::object** unit, const Sink& sink) {
  Bounds b;
  if (const json::object* low = ObjectMember(range, "low")) {
    if (auto r = DecimalRange(Member(*low, "value"))) {
      b.low = r->low;
      b.any = true;
      if (unit != nullptr && *unit == nullptr) *unit = low;
    } else if (Member(*low, "value") != nullptr) {
      sink.Warn("malformed decimal");
    }
  }
  if (const json::object* high = ObjectMember(range, "high")) {
    if (auto r = DecimalRange(Member(*high, "value"))) {
      b.high = r->high;
      b.any = true;
      if (unit != nullptr && *unit == nullptr) *unit = high;
    } else if (Member(*high, "value") != nullptr) {
      sink.Warn("malformed decimal");
    }
  }
  return b;
}

void AddNumberItem(const Item& item, const Sink& sink) {
  if (const json::object* obj = ComplexNode(item)) {
    if (item.type_name == "Range") {
      Bounds b = RangeBounds(*obj, nullptr, sink);
      if (b.any) sink.Add(NumberValue{std::nullopt, b.low, b.high});
    }
    return;
  }
  std::optional<std::string> text = PrimitiveText(item);
  if (!text) return;
  if (auto r = ParseNumberRange(*text)) {
    sink.Add(NumberValue{r->value, r->low, r->high});
  } else {
    sink.Warn("malformed number");
  }
}

QuantityValue MakeQuantity(std::optional<double> value, double low, double high,
                           std::string_view system, std::string_view code, std::string_view unit) {
  QuantityValue q{value, low, high, std::string(system), std::string(code), std::string(unit),
                  {},    1};
  if (system == kUcumSystem) {
    if (auto canonical = CanonicalUcumUnit(code)) {
      q.canonical_code = canonical->code;
      q.canonical_factor = canonical->factor;
    }
  }
  return q;
}

void AddQuantityObject(const Sink& sink, const json::object& q) {
  const json::value* v = Member(q, "value");
  if (v == nullptr) return;  // a unit alone cannot be compared
  auto r = DecimalRange(v);
  if (!r) {
    sink.Warn("malformed decimal");
    return;
  }
  double low = r->low, high = r->high;
  std::string_view comparator = StringMember(q, "comparator");
  if (comparator == "<" || comparator == "<=") low = -kInfinity;
  if (comparator == ">" || comparator == ">=") high = kInfinity;
  sink.Add(MakeQuantity(r->value, low, high, StringMember(q, "system"), StringMember(q, "code"),
                        StringMember(q, "unit")));
}

void AddQuantityItem(const Item& item, const Sink& sink) {
  if (item.kind == ValueKind::kQuantity) {  // a computed System Quantity
    double half = 0.5 * std::pow(10.0, -std::max(item.decimal.scale, 0));
    sink.Add(MakeQuantity(item.decimal.value, item.decimal.value - half, item.decimal.value + half,
                          kUcumSystem, item.text, item.text));
    return;
  }
  const json::object* obj = ComplexNode(item);
  if (obj == nullptr) return;
  std::string_view t = item.type_name;
  if (IsQuantityType(t)) {
    AddQuantityObject(sink, *obj);
  } else if (t == "Money") {
    const json::value* v = Member(*obj, "value");
    if (v == nullptr) return;
    auto r = DecimalRange(v);
    if (!r) {
      sink.Warn("malformed decimal");
      return;
    }
    std::string_view currency = StringMember(*obj, "currency");
    sink.Add(MakeQuantity(r->value, r->low, r->high, currency.empty() ? "" : kCurrencySystem,
                          currency, currency));
  } else if (t == "Range") {
    const json::object* unit = nullptr;
    Bounds b = RangeBounds(*obj, &unit, sink);
    if (!b.any) return;
    sink.Add(MakeQuantity(std::nullopt, b.low, b.high,
                          unit ? StringMember(*unit, "system") : std::string_view(),
                          unit ? StringMember(*unit, "code") : std::string_view(),
                          unit ? StringMember(*unit, "unit") : std::string_view()));
  }
  // SampledData (Observation value-quantity) is a series, not a quantity: not indexed.
}

// --- reference and uri ---

void AddReferenceText(const Sink& sink, std::string_view text, std::string_view declared_type) {
  ReferenceValue ref = ParseReference(text);
  if (ref.kind == ReferenceKind::kContained) {
    // The contained resource's type, so that `subject:Patient` still works on it.
    if (const json::value* c = sink.root->as_object().if_contains("contained");
        c != nullptr && c->is_array()) {
      for (const json::value& r : c->as_array()) {
        if (!r.is_object() || StringMember(r.as_object(), "id") != ref.id) continue;
        ref.type = StringMember(r.as_object(), "resourceType");
        break;
      }
    }
  }
  if (ref.type.empty() && !declared_type.empty()) {
    // Reference.type is a type name or a StructureDefinition URL.
    std::string_view t = declared_type.substr(declared_type.rfind('/') + 1);
    if (fhir::IsResourceType(t)) ref.type = t;
  }
  sink.Add(std::move(ref));
}

void AddReferenceItem(const Item& item, const Sink& sink) {
  if (const json::object* obj = ComplexNode(item)) {
    if (const json::value* rt = obj->if_contains("resourceType"); rt && rt->is_string()) {
      // An expression that selects a resource: Bundle's composition and message are
      // `Bundle.entry[0].resource`, meant for the first entry of a document or message Bundle
      // only, which the parameter's target type (Composition, MessageHeader) tells.
      if (!sink.targets.empty() && !sink.targets.Contains(rt->as_string())) return;
      ReferenceValue ref{ReferenceKind::kLocal,
                         std::string(rt->as_string()),
                         std::string(StringMember(*obj, "id")),
                         {},
                         {}};
      if (!ref.id.empty()) ref.url = ref.type + "/" + ref.id;
      sink.Add(std::move(ref));
      return;
    }
    if (item.type_name == "Reference") {
      std::string_view text = StringMember(*obj, "reference");
      if (!text.empty()) AddReferenceText(sink, text, StringMember(*obj, "type"));
      // A logical reference, searchable with :identifier.
      if (const json::object* id = ObjectMember(*obj, "identifier")) AddIdentifier(sink, *id);
    } else if (item.type_name == "Identifier") {
      // A choice between a reference and an identifier (Consent.source[x]): the identifier is a
      // logical reference.
      AddIdentifier(sink, *obj);
    }
    // Other choices in a reference parameter (Consent.sourceAttachment) are not references.
    return;
  }
  std::optional<std::string> text = PrimitiveText(item);
  if (!text || text->empty()) return;
  if (item.kind == ValueKind::kElement && item.type_name == "canonical" &&
      !text->starts_with("#")) {  // "#id" canonicals point to contained resources
    ReferenceValue ref{ReferenceKind::kCanonical, {}, {}, {}, *text};
    if (size_t bar = text->find('|'); bar != std::string::npos) {
      ref.version = text->substr(bar + 1);
      ref.url.resize(bar);
    }
    ref.type = ParseReference(ref.url).type;
    sink.Add(std::move(ref));
    return;
  }
  AddReferenceText(sink, *text, "");
}

void AddUriItem(const Item& item, const Sink& sink) {
  std::optional<std::string> text = PrimitiveText(item);
  if (!text || text->empty()) return;
  sink.Add(UriValue{std::move(*text)});
}

// --- full text ---

void AppendWords(std::string& out, std::string_view text) {
  if (text.empty()) return;
  if (!out.empty()) out.push_back(' ');
  out.append(text);
}

void CollectStrings(const json::value& v, std::string& out, int depth);

// Members whose values are machinery, not text a person would search for: ids, references
// ("Patient/018c..."), code system, extension and profile URLs, and the server's meta. Their
// words (UUID fragments, "http", "hl7", "org") were about half of a Synthea resource's words and
// three quarters of the distinct terms, each costing the full-text index on every write; what
// they hold is searchable through _id, the reference, token and uri parameters and _profile.
bool IsMachineryMember(std::string_view key) {
  return key == "resourceType" || key == "id" || key == "meta" || key == "reference" ||
         key == "system" || key == "url" || key == "fullUrl" || key == "profile";
}

// A string with no letter (a number, a bare code like "8302-2", a date or time: their T and Z
// do not count) adds nothing a word search would look for; such values are searched through
// their own parameters.
bool HasLetter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z' && u != 'T' && u != 'Z') || u >= 0x80;
  });
}

// `narrative` is the text of obj's own narrative when obj is the resource (computed once for
// _text and _content); nested narratives (contained resources, Bundle entries) are stripped here.
void CollectObject(const json::object& obj, std::string& out, int depth,
                   const std::string* narrative) {
  for (const auto& member : obj) {
    std::string_view key = member.key();
    if (IsMachineryMember(key)) continue;
    if (key == "text" && narrative != nullptr && member.value().is_object()) {
      // The narrative's status, then its text.
      AppendWords(out, StringMember(member.value().as_object(), "status"));
      AppendWords(out, *narrative);
    } else if (key == "div" && member.value().is_string()) {
      AppendWords(out, XhtmlText(member.value().as_string()));
    } else if (key != "data") {  // base64 (Attachment, Binary, Signature): not text
      CollectStrings(member.value(), out, depth + 1);
    }
  }
}

void CollectStrings(const json::value& v, std::string& out, int depth) {
  if (depth > 64) return;
  if (v.is_string()) {
    if (HasLetter(v.as_string())) AppendWords(out, v.as_string());
  } else if (v.is_array()) {
    for (const json::value& x : v.as_array()) CollectStrings(x, out, depth + 1);
  } else if (v.is_object()) {
    CollectObject(v.as_object(), out, depth, nullptr);
  }
}

}  // namespace

void Sink::Warn(std::string_view reason) const {
  core::LogWarn("search index: value skipped",
                {{"param", param}, {"type", resource_type}, {"reason", reason}});
}

void AddValues(SearchParamType type, const fhirpath::Collection& items, const Sink& sink) {
  for (const Item& item : items) {
    switch (type) {
      case SearchParamType::kString:
        AddStringItem(item, sink);
        break;
      case SearchParamType::kToken:
        AddTokenItem(item, sink);
        break;
      case SearchParamType::kDate:
        AddDateItem(item, sink);
        break;
      case SearchParamType::kNumber:
        AddNumberItem(item, sink);
        break;
      case SearchParamType::kQuantity:
        AddQuantityItem(item, sink);
        break;
      case SearchParamType::kReference:
        AddReferenceItem(item, sink);
        break;
      case SearchParamType::kUri:
        AddUriItem(item, sink);
        break;
      case SearchParamType::kComposite:
      case SearchParamType::kSpecial:
        break;
    }
  }
}

std::string NarrativeText(const json::object& resource) {
  const json::object* text = ObjectMember(resource, "text");
  if (text == nullptr) return {};
  return XhtmlText(StringMember(*text, "div"));
}

void AddNarrativeText(const std::string& narrative, const Sink& sink) {
  if (!narrative.empty()) sink.Add(TextValue{narrative});
}

void AddContent(const json::object& resource, const std::string& narrative, const Sink& sink) {
  std::string text;
  CollectObject(resource, text, 0, &narrative);
  if (!text.empty()) sink.Add(TextValue{std::move(text)});
}

ReferenceValue ParseReference(std::string_view text) {
  ReferenceValue ref;
  ref.url = text;
  if (!text.empty() && text[0] == '#') {
    ref.kind = ReferenceKind::kContained;
    ref.id = text.substr(1);
    return ref;
  }
  const bool absolute = text.find("://") != std::string_view::npos || text.starts_with("urn:");
  ref.kind = absolute ? ReferenceKind::kAbsolute : ReferenceKind::kLocal;
  if (text.starts_with("urn:")) return ref;
  std::string_view path = text;
  // (A loop rather than find_first_of("?#"), which searches the set once per character.)
  for (size_t q = 0; q < path.size(); ++q) {
    if (path[q] == '?' || path[q] == '#') {
      path = path.substr(0, q);
      break;
    }
  }
  std::string_view version;
  if (size_t h = path.find("/_history/"); h != std::string_view::npos) {
    version = path.substr(h + 10);
    path = path.substr(0, h);
  }
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == path.size()) return ref;
  std::string_view id = path.substr(slash + 1);
  std::string_view before = path.substr(0, slash);
  std::string_view type = before.substr(before.rfind('/') + 1);  // npos + 1 == 0
  if (!fhir::IsResourceType(type)) return ref;
  ref.type = type;
  ref.id = id;
  ref.version = version;
  return ref;
}

std::string XhtmlText(std::string_view xhtml) {
  std::string raw;
  raw.reserve(xhtml.size());
  size_t i = 0;
  while (i < xhtml.size()) {
    char c = xhtml[i];
    if (c == '<') {
      size_t close = xhtml.find('>', i);
      if (close == std::string_view::npos) break;
      raw.push_back(' ');
      i = close + 1;
    } else if (c == '&') {
      size_t semi = xhtml.find(';', i);
      std::string_view entity = semi == std::string_view::npos || semi - i > 10
                                    ? std::string_view()
                                    : xhtml.substr(i + 1, semi - i - 1);
      uint32_t cp = 0;
      if (entity == "amp")
        cp = '&';
      else if (entity == "lt")
        cp = '<';
      else if (entity == "gt")
        cp = '>';
      else if (entity == "quot")
        cp = '"';
      else if (entity == "apos")
        cp = '\'';
      else if (entity == "nbsp")
        cp = ' ';
      else if (entity.size() > 1 && entity[0] == '#') {
        const bool hex = entity[1] == 'x' || entity[1] == 'X';
        std::string_view digits = entity.substr(hex ? 2 : 1);
        auto [p, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
        if (ec != std::errc() || p != digits.data() + digits.size() || cp > 0x10FFFF) cp = 0;
      }
      if (cp == 0) {
        raw.push_back('&');
        ++i;
        continue;
      }
      // UTF-8 of cp.
      if (cp < 0x80) {
        raw.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        raw.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        raw.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        raw.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        raw.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        raw.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        raw.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        raw.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        raw.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        raw.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      i = semi + 1;
    } else {
      raw.push_back(c);
      ++i;
    }
  }
  // Collapse whitespace runs to one space.
  std::string out;
  out.reserve(raw.size());
  bool space = false;
  for (char c : raw) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace kiln::search::index_internal
