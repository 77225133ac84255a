// The first two stages of FHIR R4 search (https://hl7.org/fhir/R4/search.html), the read side of
// kiln_search: Parse() splits the decoded query parameters of a search request into their syntax
// (names into chain links, modifiers and _has hops; values into comma-separated alternatives), and
// Bind() resolves that syntax against the compiled-in SearchParameter definitions
// (fhir/definitions.h) into a Query: a backend-neutral, fully typed tree of AND-ed Criteria, each
// an OR of typed Terms, plus the result parameters (_sort, _count, _include, _summary, ...). A
// store's planner turns a Query into SQL; nothing here knows about storage.
//
// Each stage takes ownership of the previous stage's output (parse -> bind -> plan -> run).
// ParseQuery() runs both.
//
// Errors are Status values with ErrorCode::kInvalid (HTTP 400) holding one Issue per offending
// parameter, each naming it ("date=2023-02-30: not a valid date"), ready for an OperationOutcome.
// Unknown and unsupported parameters are errors only when QueryOptions::strict is set (the
// client's `Prefer: handling=strict`); otherwise they are left out of the Query and listed in
// Query::ignored, so the REST layer can leave them out of the self link and report them as
// warnings (R4 3.1.1.3). Unknown or inapplicable modifiers are always errors: R4 says servers
// SHALL reject them.
//
// Everything here is pure (no I/O, no shared state) and thread-safe. A Query is a value type; the
// SearchParamDef pointers it holds point into the static definition tables and stay valid for the
// life of the program.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fhir/definitions.h"
#include "kiln/status.h"

namespace kiln::search {

// The decoded query parameters (or form fields of POST _search) in request order. Same shape as
// rest::QueryParams.
using SearchParams = std::vector<std::pair<std::string, std::string>>;

// ---- Stage 1: syntax ----

// One step of a parameter name. A plain name ("code:text") is one segment; a chain
// ("subject:Patient.organization.name") is one segment per link; a reverse chain
// ("_has:Observation:patient:code") is a _has segment followed by the segments of what follows.
struct NameSegment {
  std::string code;       // parameter code, or "_has"
  std::string modifier;   // the text after ':' ("exact", "Patient", "iterate"); "" if none
  std::string has_type;   // _has: the type of the referring resources ("Observation")
  std::string has_param;  // _has: their reference parameter that points back ("patient")

  bool is_has() const { return code == "_has"; }
};

struct ParsedParam {
  std::string name;   // as received
  std::string value;  // as received (URL-decoded; R4's backslash escapes still in place)
  std::vector<NameSegment> path;
  // The value split on commas that are not escaped; escapes are still in place, because which
  // other separators ('|', '$') apply depends on the parameter's type, known only after binding.
  std::vector<std::string> alternatives;
};

struct ParsedRequest {
  std::vector<ParsedParam> params;  // in request order
};

// Splits names and values. Fails (kInvalid) only on names that cannot be read: an empty name or
// chain link ("subject..name"), or an incomplete _has ("_has:Observation:patient").
Result<ParsedRequest> Parse(const SearchParams& params);

// ---- Stage 2: the bound query ----

// Comparison prefixes of number, date and quantity values.
enum class Prefix : uint8_t { kEq, kNe, kGt, kLt, kGe, kLe, kSa, kEb, kAp };
std::string_view ToString(Prefix prefix);  // "eq", "ne", ...

enum class Modifier : uint8_t {
  kNone,
  kMissing,
  kExact,
  kContains,
  kText,
  kNot,
  kAbove,
  kBelow,
  kIn,
  kNotIn,
  kOfType,
  kIdentifier,
  kType,  // reference :[type], e.g. subject:Patient; the type is in Criterion::modifier_type
};
std::string_view ToString(Modifier modifier);  // "missing", "not-in", "of-type"; "" for kNone

// A decimal exactly as written: (negative ? -1 : 1) * digits * 10^exponent. `digits` are the
// significant digits, leading zeros dropped but trailing zeros kept, so the written precision
// survives: "100.00" is {"10000", -2}, "1e2" is {"1", 2}, "0.050" is {"50", -3}, "0" is {"0", 0}.
struct Decimal {
  bool negative = false;
  std::string digits = "0";
  int32_t exponent = 0;

  // As written, up to notation: "100.00", "0.050", "-2.5"; exponent form when the precision is
  // coarser than units ("1e2"), since "100" would claim three significant figures.
  std::string ToString() const;
  // The exact value in plain notation ("100", "99.5", "0.0005"), for bounds and SQL NUMERIC.
  std::string ToPlainString() const;
  // Nearest double (+/-inf past the double range).
  double ToDouble() const;
  bool operator==(const Decimal&) const = default;
};

// number: `[prefix]decimal`.
struct NumberTerm {
  Prefix prefix = Prefix::kEq;
  Decimal value;
  // The implicit range [low, high) of the value's precision, half a unit of the last significant
  // digit either side: "100" -> [99.5, 100.5), "100.00" -> [99.995, 100.005), "1e2" -> [50, 150),
  // "0.5" -> [0.45, 0.55). R4 uses it for eq, ne and ap; the other prefixes compare with `value`
  // itself ("treated as if they have arbitrarily high precision").
  Decimal low;
  Decimal high;
};

enum class DatePrecision : uint8_t { kYear, kMonth, kDay, kMinute, kSecond, kFraction };
std::string_view ToString(DatePrecision precision);  // "year", "month", ...

// date: `[prefix]yyyy(-mm(-dd(Thh:mm(:ss(.fff)?)?(Z|+hh:mm|-hh:mm)?)?)?)?`.
struct DateTerm {
  Prefix prefix = Prefix::kEq;
  std::string text;  // as written, without the prefix
  DatePrecision precision = DatePrecision::kDay;
  // False when the value has no offset (a date, or a time without one). Kiln then reads it as
  // UTC, the same as the index side does with stored values, so the two agree (R4: "the server's
  // local time zone should be assumed"; Kiln's is UTC).
  bool has_time_zone = false;
  // The range the value covers at its precision, microseconds since 1970-01-01T00:00:00Z,
  // [low, high): "2020" is the whole year, "2020-02-29T10:00Z" that minute.
  int64_t low = 0;
  int64_t high = 0;
};

// string (and token :text, which is a string search on the display text).
struct StringTerm {
  std::string value;  // unescaped
};

// token: `code`, `system|code`, `|code` (no system), `system|` (any code in the system).
struct TokenTerm {
  std::optional<std::string> system;  // nullopt: any system; "": no system
  std::optional<std::string> code;    // nullopt: any code
};

// token :of-type on identifiers: `system|code|value`, Identifier.type.coding and the value.
struct IdentifierTypeTerm {
  std::string type_system;
  std::string type_code;
  std::string value;
};

// quantity: `[prefix]number`, `[prefix]number|system|code`, `[prefix]number||code`.
struct QuantityTerm {
  Prefix prefix = Prefix::kEq;
  Decimal value;
  Decimal low;  // implicit range, as for NumberTerm
  Decimal high;
  // nullopt with a code: "number||code", match the code or the unit text. nullopt without a code:
  // no unit given, any unit matches.
  std::optional<std::string> system;
  std::string code;
};

// reference: `id`, `Type/id`, `Type/id/_history/version`, an absolute URL, a canonical
// `url|version`; with :identifier the criterion holds TokenTerms instead.
struct ReferenceTerm {
  enum class Kind : uint8_t {
    kLocal,      // [Type/]id[/_history/version]: a reference on this server
    kUrl,        // an absolute URL: a remote resource, a local one by full URL, or a canonical
    kCanonical,  // url|version: a canonical reference with its business version
  };
  Kind kind = Kind::kLocal;
  // kLocal: the target type, "" when the value is a bare id and the parameter can point at
  // several types (the id must then match whatever the type). Filled from :[type] or from a
  // parameter with a single target ("patient=23" is Patient/23). kUrl: the type, id and version
  // when the URL ends in [Type]/[id](/_history/[version]), so a planner that knows the server's
  // base can treat it as local; "" otherwise.
  std::string type;
  std::string id;
  std::string version;  // kLocal, kUrl: the _history version; kCanonical: the business version
  std::string url;      // kUrl: as written; kCanonical: without |version
};

// uri (and token :in / :not-in, whose value is a value set's URI). A canonical uri
// (`url|version`) keeps the version apart, as R4 asks servers to detect it.
struct UriTerm {
  std::string uri;
  std::optional<std::string> version;
};

// Location `near`: `latitude|longitude|distance|units`.
struct NearTerm {
  double latitude = 0;
  double longitude = 0;
  std::optional<Decimal> distance;  // nullopt: at the server's discretion
  std::string units = "km";         // R4: kilometres when omitted
};

// Other special parameters (_list): the unescaped text, interpreted by the planner.
struct SpecialTerm {
  std::string text;
};

// One component of a composite value; which alternative follows the component's own parameter.
using ComponentTerm =
    std::variant<NumberTerm, DateTerm, StringTerm, TokenTerm, QuantityTerm, ReferenceTerm, UriTerm>;

// composite: `a$b[$c]`, one term per component, in the definition's order.
struct CompositeTerm {
  std::vector<ComponentTerm> components;
};

using Term =
    std::variant<NumberTerm, DateTerm, StringTerm, TokenTerm, IdentifierTypeTerm, QuantityTerm,
                 ReferenceTerm, UriTerm, CompositeTerm, NearTerm, SpecialTerm>;

// One component definition of a composite parameter: its own parameter and the FHIRPath of its
// value relative to the composite's node.
struct CompositeComponent {
  const fhir::SearchParamDef* def = nullptr;
  std::string_view expression;
};

// One search criterion: a parameter occurrence of the request, bound. The query is the AND of
// its criteria; a criterion with several terms matches if any term does (R4's comma OR).
struct Criterion {
  enum class Kind : uint8_t {
    kMatch,    // the parameter matches one of `terms` (under `modifier`)
    kMissing,  // :missing: the parameter has no value (missing = true) or has one (false)
    kChain,    // reference parameter `code` points at a resource matching one of `next`
    kHas,      // some `has_type` resource refers back through its parameter `code` and matches
               // next[0]
  };
  Kind kind = Kind::kMatch;
  // The resource types the criterion tests, sorted; empty means any type (a system search
  // without _type). Inside a chain: the target types of that branch.
  std::vector<std::string> scope;
  // The parameter. For kHas, the reference parameter of has_type.
  std::string code;
  fhir::SearchParamType type = fhir::SearchParamType::kString;
  // Its definitions across `scope` without repeats: one for a single type, one per distinct
  // SearchParameter when several types share the code. Empty only for _list.
  std::vector<const fhir::SearchParamDef*> defs;
  Modifier modifier = Modifier::kNone;
  std::string modifier_type;  // Modifier::kType: the resource type named by the modifier
  bool missing = false;       // kMissing
  std::vector<Term> terms;    // kMatch: OR'ed
  // kMatch on a composite parameter: the components (the same for every def in `defs`).
  std::vector<CompositeComponent> components;
  // kChain: the target types the chain may pass through (from :[type], or every target of the
  // parameter that has the next parameter). kHas: {has_type}.
  std::vector<std::string> targets;
  std::string has_type;  // kHas
  // kChain: one criterion per group of targets whose next parameter has the same type (usually
  // one), OR'ed; each has those targets as its scope. kHas: one criterion, on has_type.
  std::vector<Criterion> next;
};

// One _sort key.
struct SortKey {
  std::string code;
  bool descending = false;
  fhir::SearchParamType type = fhir::SearchParamType::kString;
  std::vector<const fhir::SearchParamDef*> defs;  // as in Criterion
};

// One _include or _revinclude.
struct Include {
  bool reverse = false;  // _revinclude
  bool iterate = false;  // :iterate (or R3's :recurse)
  // "Type:param[:target]". For "*" alone, source_type is "" (any) and param "*"; for "Type:*",
  // param is "*" (every reference parameter of the type).
  std::string source_type;
  std::string param;
  std::string target_type;                    // "" = any target
  const fhir::SearchParamDef* def = nullptr;  // nullptr for wildcards
};

enum class TotalMode : uint8_t { kUnspecified, kNone, kEstimate, kAccurate };
enum class SummaryMode : uint8_t { kUnspecified, kTrue, kText, kData, kCount, kFalse };
enum class ContainedMode : uint8_t { kFalse, kTrue, kBoth };
enum class ContainedType : uint8_t { kContainer, kContained };
std::string_view ToString(TotalMode mode);      // "none", ...; "" for kUnspecified
std::string_view ToString(SummaryMode mode);    // "true", "text", ...; "" for kUnspecified
std::string_view ToString(ContainedMode mode);  // "false", "true", "both"
std::string_view ToString(ContainedType type);  // "container", "contained"

// A parameter left out of the query (lenient mode).
struct IgnoredParam {
  std::string name;
  std::string value;
  std::string reason;  // "Unknown search parameter 'foo' for Patient"
  // "not-supported" (unknown or unsupported parameter) or "informational" (an empty value).
  std::string issue_code = "not-supported";

  // A warning for the searchset Bundle's OperationOutcome entry.
  Issue ToIssue() const;
};

// A compartment (R4 3.1.1.2): the resources a CompartmentDefinition links to one focal resource,
// e.g. everything that refers to Patient/123 through the parameters the Patient compartment lists
// for its type.
struct CompartmentRef {
  std::string type;  // the compartment's code, a CompartmentDefinition ("Patient")
  std::string id;    // the focal resource's id
};

struct Query {
  // The types searched, sorted: the one type of a type-level search, the _type list of a system
  // search; empty for a system search over all types.
  std::vector<std::string> types;
  // Compartment search (GET [base]/Patient/123/Observation): only resources in this compartment
  // match. Every type in `types` is a member of it.
  std::optional<CompartmentRef> compartment;
  std::vector<Criterion> criteria;  // AND
  std::vector<SortKey> sort;        // in priority order
  int count = 0;                    // page size: _count capped at max_count, else default_count
  bool count_given = false;         // _count was in the request (0 means _summary=count)
  TotalMode total = TotalMode::kUnspecified;
  SummaryMode summary = SummaryMode::kUnspecified;
  std::vector<std::string> elements;  // _elements, in request order, without repeats
  std::vector<Include> includes;      // _include and _revinclude in request order
  // The most resources _include/_revinclude may add to one page (from QueryOptions); past it the
  // store stops and says so in SearchPage::warnings.
  int max_includes = 1000;
  ContainedMode contained = ContainedMode::kFalse;
  ContainedType contained_type = ContainedType::kContainer;
  std::string cursor;  // _cursor, opaque: the store's paging position
  // The parameters that were used (everything but `ignored`, _format and _pretty), in request
  // order: what the self link should show.
  SearchParams applied;
  std::vector<IgnoredParam> ignored;
};

struct QueryOptions {
  int default_count = 20;
  int max_count = 1000;
  int max_includes = 1000;  // see Query::max_includes
  bool strict = false;      // Prefer: handling=strict
  // A compartment search: the compartment to search in. Every type searched must be a member
  // (fhir::CompartmentParams not empty), else binding fails.
  std::optional<CompartmentRef> compartment = std::nullopt;
};

// Resolves `request` for a search over `types`: one type for `GET [base]/Patient?...`, none for
// a system search `GET [base]?...` (whose _type, if any, then picks the types; with types given,
// _type may only narrow them). Every type must be a concrete resource type. Fails with kInvalid
// and one Issue per bad parameter.
Result<Query> Bind(ParsedRequest request, const std::vector<std::string>& types,
                   const QueryOptions& options);

// Parse() then Bind().
Result<Query> ParseQuery(const std::vector<std::string>& types, const SearchParams& params,
                         const QueryOptions& options);

// Debug forms for tests and logs, e.g. for
// `Observation?subject:Patient.name=peter&date=ge2020&_sort=-date`:
//   Observation (chain subject:Patient [Patient] (string name "peter"))
//     (date date ge 2020 [2020-01-01T00:00:00Z,2021-01-01T00:00:00Z)) _sort=-date _count=20
// (one line). Values print in R4 syntax with R4 escapes; numbers with their implicit range.
std::string ToDebugString(const Query& query);
std::string ToDebugString(const Criterion& criterion);
std::string ToDebugString(const Term& term);
std::string ToDebugString(const ComponentTerm& term);
std::string ToDebugString(const Include& include);

}  // namespace kiln::search
