// Index extraction, the write side of FHIR search: ExtractIndex() turns one resource into the
// entries the store keeps in its typed index tables for the resource's current version, one entry
// per searchable value of every R4 search parameter that applies to the resource's type (the
// type's own parameters and those it inherits from Resource and DomainResource).
//
// Values come from the parameters' FHIRPath expressions (fhir/definitions.h). Each expression is
// compiled once per resource type, on first use, and reused; ExtractIndex() is thread-safe and
// keeps no state between calls. The entries own their strings, so they outlive the JSON.
//
// Pass the resource as the store will keep it (the server-owned id and meta already set:
// _lastUpdated comes from them), parsed with fhirpath::ParseJson() or given as text, so decimals
// keep their written precision (a double from Boost.JSON's DOM loses "1.50"'s trailing zero).
//
// What is stored, per type (search.html of R4 describes the matching each must support):
// - string: NormalizeString() of the value for the default starts-with match and :contains, and
//   the value as written for :exact. HumanName gives one entry per family, given, prefix, suffix
//   and text; Address per line, city, district, state, postalCode, country and text. A family
//   name of several words also gives one entry per further word (with `exact` empty), so that
//   "Quinones" finds "Carreno Quinones" as R4 asks. The `phonetic` parameters are indexed like
//   any string (a phonetic key such as Metaphone would be a further column).
// - token: (system, code) for Coding and each coding of a CodeableConcept, (system, value) for
//   Identifier, the value for ContactPoint (no system, as R4's table says), "true"/"false" for
//   booleans, and the value of code/string/id/uri primitives. A `code` element bound (required) to
//   a value set gets the code's system from that value set when it is known (Patient.gender ->
//   http://hl7.org/fhir/administrative-gender). `text` holds the normalised Coding.display,
//   CodeableConcept.text (an entry of its own, system and code empty) or Identifier.type.text for
//   :text; an Identifier repeats its entry once per Identifier.type coding (type_system,
//   type_code) for :of-type. Codes are kept as written: case-insensitive matching, where wanted,
//   is the store's choice (e.g. a NOCASE index), because `_id` must stay case-sensitive.
// - date: the half-open range [low, high) of microseconds since the epoch (UTC) the value covers
//   at its precision: "1974-12-25" is that whole day. Dates, and times without an offset (invalid
//   in R4 but seen in the wild), are taken as UTC. Period: start's low to end's high, a missing
//   end is kMaxInstant and a missing start kMinInstant. Timing: one range over its events and
//   repeat.boundsPeriod (the outer limits, as R4 says); a Timing with neither gives nothing.
// - number: the value and its implicit range at the written precision ("100" -> [99.5, 100.5),
//   "100.00" -> [99.995, 100.005), "1e2" -> [50, 150): half a unit of the last written digit).
//   Integers are written with no decimals, so 2 -> [1.5, 2.5): exact matching falls out. A Range
//   gives its bounds with no value (open ends are -/+infinity).
// - quantity: the number as above plus system, code and unit text, for Quantity and its profiles
//   (Age, Duration, Distance, Count, SimpleQuantity) and Money (system urn:iso:std:iso:4217, the
//   currency as code). A comparator widens the range ("<5" -> [-inf, 5.5)). Range: low's low to
//   high's high, no value, the unit of whichever bound has one. UCUM quantities in a unit
//   CanonicalUcumUnit() knows also carry the canonical unit and the factor to it.
// - reference: the kind (local "Type/id[/_history/v]", absolute URL, canonical "url|version",
//   contained "#id", for canonicals too), the target type, id, version and the URL as written.
//   A logical reference (Reference.identifier, or an Identifier choice such as
//   Consent.sourceIdentifier) gives a token entry under the same parameter, for :identifier.
//   Bundle's composition and message (`Bundle.entry[0].resource`) give the first entry's Type/id
//   only when its type is the parameter's target (Composition, MessageHeader); the entry's own
//   contents are not indexed for chaining into it.
// - uri: the value as written (the store does :above and :below on it).
// - composite: one group per composite value (e.g. per Observation and per Observation.component
//   for combo-code-value-quantity): the entries of each component, typed by the component's own
//   parameter, with the same `group` (unique within the resource) and their `component` index, so
//   that components of the same value are matched together. A value missing a component gives no
//   group.
// - _text: the narrative's text with the tags stripped; _content: every string value of the
//   resource that is text (the narrative as text; left out: base64 `data`, ids, references,
//   `system`/`url`/`profile` URLs, `meta`, and strings without a letter such as dates); both as
//   kText entries for a full-text index, not normalised (the full-text tokenizer folds).
// Not indexed: `_id` (a store keys every resource by its id and answers _id from that row),
// `near` (Location.position, a special parameter: the store reads the coordinates
// itself), _query and _filter (no expression; they are not stored values), Observation values of
// type SampledData under the quantity parameters (a series, not a quantity), a date parameter's
// values that are not dates (e.g. CarePlan's scheduled string).
//
// :missing: a parameter is missing on a resource when it has no entries for it; nothing is
// stored for absence. So `p:missing=true` is "no row for p", `p:missing=false` "some row for p".
//
// resolve(): expressions such as `Observation.subject.where(resolve() is Patient)` are evaluated
// without a store. Contained ("#id") references resolve to the contained resource; any other
// reference resolves to a stub {"resourceType": T} with T read from the reference text
// ("Patient/1", ".../fhir/Patient/1/_history/2"), which is all `is Patient` needs. A reference
// whose text names no resource type (a urn:uuid, a logical reference) does not resolve.
//
// Errors: an expression that fails to evaluate on a resource (e.g. `as` on several values of an
// invalid resource) fails the whole extraction with kUnprocessable naming the parameter: a write
// that stored a resource without all of its index rows would be silently missing from searches
// (and from the compartment filters that authorization relies on). A single value that cannot be
// read as its type (a malformed date when validation is off) is skipped with a logged warning
// (parameter and type only, never the value), since no search could have matched it anyway.
// A definition Kiln cannot compile fails every extraction for that type with kInternal
// (PrepareAllIndexPlans() and the tests check that R4 has none).
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kiln/status.h"

namespace kiln::fhir {
struct SearchParamDef;
}  // namespace kiln::fhir

namespace kiln::search {

// What an entry holds; the order of IndexValue's alternatives.
enum class IndexKind : uint8_t {
  kString,
  kToken,
  kDate,
  kNumber,
  kQuantity,
  kReference,
  kUri,
  kText,  // full text for _text and _content
};
std::string_view ToString(IndexKind kind);

struct StringValue {
  std::string normalized;  // NormalizeString(exact)
  std::string exact;       // as written; "" for the extra words of a family name
  bool operator==(const StringValue&) const = default;
};

struct TokenValue {
  std::string system;
  std::string code;
  std::string text;         // normalised display text for :text, "" if none
  std::string type_system;  // Identifier.type.coding, for :of-type; "" otherwise
  std::string type_code;
  bool operator==(const TokenValue&) const = default;
};

// The open ends of a Period.
inline constexpr int64_t kMinInstant = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kMaxInstant = std::numeric_limits<int64_t>::max();

// [low, high) in microseconds since 1970-01-01T00:00:00Z.
struct DateValue {
  int64_t low = 0;
  int64_t high = 0;
  bool operator==(const DateValue&) const = default;
};

// value (nullopt for a Range) and the range [low, high) it stands for.
struct NumberValue {
  std::optional<double> value;
  double low = 0;
  double high = 0;
  bool operator==(const NumberValue&) const = default;
};

struct QuantityValue {
  std::optional<double> value;  // nullopt for a Range
  double low = 0;
  double high = 0;
  std::string system;  // Quantity.system; urn:iso:std:iso:4217 for Money
  std::string code;    // Quantity.code; the currency for Money
  std::string unit;    // Quantity.unit as written
  // UCUM units CanonicalUcumUnit() knows: the canonical unit of the dimension ("g", "m", "L",
  // "s") and the factor that turns value, low and high into it; "" and 1 otherwise.
  std::string canonical_code;
  double canonical_factor = 1;
  bool operator==(const QuantityValue&) const = default;
};

enum class ReferenceKind : uint8_t {
  kLocal,      // "Patient/1", "Patient/1/_history/2"
  kAbsolute,   // "http://other/fhir/Patient/1", "urn:uuid:..."; type and id when the URL ends so
  kCanonical,  // a canonical element: "http://x/Questionnaire/q|2.0"
  kContained,  // "#id": only meaningful inside this resource
};

struct ReferenceValue {
  ReferenceKind kind = ReferenceKind::kLocal;
  std::string type;     // target type when known (from the text, Reference.type or contained)
  std::string id;       // the target's id; the contained id for kContained; "" for kCanonical
  std::string version;  // v of "_history/v", or a canonical's "|version"; "" if none
  std::string url;      // the reference as written (a canonical without its |version)
  bool operator==(const ReferenceValue&) const = default;
};

struct UriValue {
  std::string uri;
  bool operator==(const UriValue&) const = default;
};

struct TextValue {
  std::string text;
  bool operator==(const TextValue&) const = default;
};

using IndexValue = std::variant<StringValue, TokenValue, DateValue, NumberValue, QuantityValue,
                                ReferenceValue, UriValue, TextValue>;

struct IndexEntry {
  std::string_view param;  // SearchParameter.code ("name", "code-value-quantity"); static storage
  uint32_t group = 0;      // composite parameters: the value's group (1, 2, ...); 0 otherwise
  uint8_t component = 0;   // composite parameters: the component's index
  IndexValue value;

  IndexKind kind() const { return static_cast<IndexKind>(value.index()); }
  bool operator==(const IndexEntry&) const = default;
};

// The index entries of `resource` (a JSON object with resourceType), grouped by parameter in the
// order of the type's parameters (sorted by code). Fails with kInvalid when `resource` is not a
// resource of a known type, and with kUnprocessable naming the parameter when an expression fails
// on it (see above).
Result<std::vector<IndexEntry>> ExtractIndex(const boost::json::value& resource);
// The same from JSON text (parsed with fhirpath::ParseJson; kInvalid if it is not JSON).
Result<std::vector<IndexEntry>> ExtractIndexFromJson(std::string_view json_text);

// The parameters a union parameter stands for, empty for any other: R4 defines a few parameters
// as exactly the union of others of the same type (Observation's combo-code is code |
// component-code; combo-value-quantity, combo-value-concept and combo-data-absent-reason
// likewise), found from the expressions, not listed by hand. Such a parameter gets no index
// entries of its own (its members' entries are the same values) and stores match it against its
// members' entries. Only parameters that are such a union on every type that has them, and not
// references (chains and includes follow a reference parameter's own rows).
const std::vector<std::string>& UnionMembers(std::string_view code);

// Whether composite parameter `code` is made of its components' own parameters: on every type
// that has it, its expression selects the resource itself (so the whole resource is its one
// composite value) and each component's values are exactly those of the plain parameter the
// component's definition names (Observation's code-value-quantity is code and value-quantity;
// code-value-concept likewise). Found from the definitions, not listed by hand. Such a parameter
// gets no index entries of its own, and stores match it as "the resource has an entry of each
// component's parameter that matches that component's value". Composites over a repeating
// element (component-code-value-quantity: both values from the same Observation.component) and
// those whose components select other values than the named parameter (code-value-string: value-
// string also indexes CodeableConcept.text) keep their own grouped entries.
bool ComposedOfOwnParams(std::string_view code);

// The composites a composite parameter is the union of, empty for any other: on every type that
// has it, each term of its expression is the one term of another composite of the type with the
// same components (the same paths, values of the same kinds), so its composite values are exactly
// theirs. Observation's combo-code-value-quantity is code-value-quantity (the Observation's own
// code and value) and component-code-value-quantity (each component's); combo-code-value-concept
// likewise. Found from the definitions, not listed by hand. Such a parameter gets no index entries
// of its own, and stores match it as any of its members (a member may be ComposedOfOwnParams).
// The definitions are the members' on every type that has the parameter.
const std::vector<const fhir::SearchParamDef*>& CompositeUnionMembers(std::string_view code);

// Compiles every search parameter expression of every resource type now rather than on first
// use (start-up warm-up, and the test that all of R4's expressions compile). Returns the first
// failure (kInternal: a definition Kiln cannot evaluate).
Status PrepareAllIndexPlans();

// One line per entry for logs and tests: `name string "chalmers" exact="Chalmers"`.
std::string ToDebugString(const IndexEntry& entry);

// --- Shared with the query side, so both sides normalise alike ---

// The form string search compares: case folded (ASCII, Latin-1, Latin Extended-A, Greek and
// Cyrillic capitals), diacritics removed (precomposed Latin-1 and Latin Extended-A letters to
// their base letters, e.g. "Müller" -> "muller", "Łódź" -> "lodz", "ß" -> "ss", "Æ" -> "ae";
// combining marks dropped, so decomposed input folds too), apostrophes dropped ("O'Brien" ->
// "obrien"), other punctuation and whitespace runs turned into one space, trimmed. Invalid UTF-8
// bytes are dropped. Other scripts pass through unchanged.
std::string NormalizeString(std::string_view text);

// A decimal as written ("100", "-1.50", "1e2") and its implicit range: half a unit of the last
// written digit either side. nullopt if `text` is not a decimal.
struct NumberRange {
  double value = 0;
  double low = 0;
  double high = 0;
};
std::optional<NumberRange> ParseNumberRange(std::string_view text);

// UCUM units with a simple factor to the canonical unit of their dimension: mass (kg, g, mg, ug,
// ng, pg -> g), length (km, m, cm, mm, um, nm -> m), volume (L, dL, cL, mL, uL, l, dl, ml, ul ->
// L) and time (a, mo, wk, d, h, min, s, ms, us -> s; UCUM's Julian year and month). Anything else
// (temperatures, ratios, arbitrary units) is nullopt: compare such quantities in their own units.
// This is where a full UCUM converter would go.
struct UcumCanonical {
  std::string_view code;
  double factor = 1;
};
std::optional<UcumCanonical> CanonicalUcumUnit(std::string_view ucum_code);

}  // namespace kiln::search
