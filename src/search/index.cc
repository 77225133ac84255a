// ExtractIndex(): per-type plans of compiled search parameter expressions, and the driver that
// evaluates them on a resource (see index.h for the rules).
//
// Plans: one per concrete resource type, built on first use under a std::call_once and immutable
// afterwards, so concurrent extractions share them without locks. A parameter shared by several
// bases has one expression for all of them ("Account.status | Patient.gender | ..."); the plan
// keeps only the union terms that can select something on its own type, so evaluating a
// parameter costs what its own path costs rather than one type test per base.

#include "search/index.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <boost/json/monotonic_resource.hpp>
#include <cctype>
#include <charconv>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

#include "fhir/definitions.h"
#include "fhirpath/fhirpath.h"
#include "search/index_internal.h"

namespace kiln::search {
namespace {

namespace json = boost::json;
using fhir::SearchParamType;

// The variable composite components are evaluated on: each is compiled as
// `%kiln_composite_focus.select(<component expression>)`, so that the component sees the
// composite's value as its focus and the resource as %resource.
constexpr std::string_view kFocusVariable = "kiln_composite_focus";

enum class Special : uint8_t { kNone, kText, kContent };

struct ComponentPlan {
  fhirpath::Expression expression;
  SearchParamType type = SearchParamType::kToken;
  // The component's own expression compiled for each type the composite's values may have (see
  // TypedPath::outputs()); a value of another type, or a null entry, takes `expression`.
  std::vector<std::unique_ptr<const fhirpath::TypedPath>> typed;
};

struct ParamPlan {
  const fhir::SearchParamDef* def = nullptr;
  Special special = Special::kNone;
  std::optional<fhirpath::Expression> expression;
  // The same expression compiled for this type when its shape allows (most do): evaluated
  // instead of `expression`, with the same result (see fhirpath::TypedPath).
  std::unique_ptr<const fhirpath::TypedPath> typed;
  std::vector<ComponentPlan> components;
  index_internal::CodeBinding binding;  // token parameters on a bound `code` element
  bool family_words = false;            // string parameters on HumanName.family
  // When not empty: the expression selects nothing unless the resource has one of these members.
  std::vector<std::string> root_members;
  std::vector<uint16_t> root_ids;  // the same as indexes in TypePlan::member_names
};

// The most distinct root member names a plan tracks with ids (more: by name, per parameter).
constexpr size_t kMaxRootMembers = 512;

struct TypePlan {
  Status status;
  std::vector<ParamPlan> params;
  // Every root member name some parameter needs, and its index: ExtractIndex() reads the
  // resource's names once and then tests bits, where testing each parameter's names against the
  // resource was a search of its members per name.
  std::vector<std::string> member_names;
  std::unordered_map<std::string_view, uint16_t> member_ids;  // views of member_names
};

// --- expressions ---

// Splits `text` at every `separator` outside quotes ('...', `...`, "...") and brackets.
std::vector<std::string_view> SplitTopLevel(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  int depth = 0;
  char quote = 0;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '\'' || c == '`' || c == '"')
      quote = c;
    else if (c == '(' || c == '[' || c == '{')
      ++depth;
    else if (c == ')' || c == ']' || c == '}')
      --depth;
    else if (c == separator && depth == 0) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

// The top-level terms of a union: "A.x | (B.y as Z)" -> {"A.x", "(B.y as Z)"}.
std::vector<std::string_view> UnionTerms(std::string_view expression) {
  std::vector<std::string_view> terms = SplitTopLevel(expression, '|');
  for (std::string_view& t : terms) {
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  }
  return terms;
}

// The identifier a term starts with, after any opening parentheses: "(Observation.value as X)"
// -> "Observation".
std::string_view LeadingName(std::string_view term) {
  size_t i = 0;
  while (i < term.size() && (term[i] == '(' || term[i] == ' ')) ++i;
  size_t start = i;
  while (i < term.size() && (std::isalnum(static_cast<unsigned char>(term[i])) || term[i] == '_')) {
    ++i;
  }
  return term.substr(start, i - start);
}

// The terms of `expression` that may select something on a `type` resource: those starting with
// the type's name, with Resource or DomainResource, or with anything that is not a resource type.
std::vector<std::string_view> TermsFor(std::string_view expression, std::string_view type) {
  std::vector<std::string_view> kept;
  for (std::string_view term : UnionTerms(expression)) {
    std::string_view name = LeadingName(term);
    if (name != type && fhir::IsResourceType(name)) continue;
    kept.push_back(term);
  }
  return kept;
}

// Segments of a path term at depth 0: "X.a.where(b = 'c').d" -> {"X", "a", "where(b = 'c')", "d"}.
std::vector<std::string_view> PathSegments(std::string_view term) {
  return SplitTopLevel(term, '.');
}

// The required value set of the `code` element a simple path term ends on ("Patient.gender",
// "Patient.link.type", "Resource.language" on a Patient...), or "" if the term is not such a path.
std::string_view CodeValueSet(std::string_view term, std::string_view type) {
  while (!term.empty() && term.front() == '(' && term.back() == ')') {
    term = term.substr(1, term.size() - 2);
  }
  std::string_view cast;
  if (size_t as = term.find(" as "); as != std::string_view::npos) {
    cast = term.substr(as + 4);
    term = term.substr(0, as);
  }
  std::vector<std::string_view> segments = PathSegments(term);
  if (segments.empty()) return {};
  std::string_view root = segments[0];
  if (root != type && root != "Resource" && root != "DomainResource") return {};
  const fhir::TypeDef* def = fhir::FindType(root);
  std::string path(root);
  const fhir::ElementDef* element = nullptr;
  std::string_view element_type;
  for (size_t i = 1; i < segments.size() && def != nullptr; ++i) {
    std::string_view s = segments[i];
    if (s.starts_with("where(") || s == "first()") continue;
    if (s.starts_with("as(") || s.starts_with("ofType(")) {
      cast = s.substr(s.find('(') + 1);
      cast.remove_suffix(1);
      continue;
    }
    if (s.find('(') != std::string_view::npos) return {};
    if (element != nullptr) {
      // Step into the previous element's type.
      if (!element->content_reference().empty()) {
        std::string_view ref = element->content_reference().substr(1);
        def = fhir::FindType(ref.substr(0, ref.find('.')));
        path = ref;
      } else if (element_type == "BackboneElement" || element_type == "Element") {
        path = element->path();
      } else {
        def = fhir::FindType(element_type);
        path = element_type;
      }
      if (def == nullptr) return {};
    }
    element = def->FindElement(path + "." + std::string(s));
    if (element == nullptr) element = def->FindElement(path + "." + std::string(s) + "[x]");
    if (element == nullptr) return {};
    auto types = element->types();
    element_type = types.size() == 1 ? types[0].code() : std::string_view();
    cast = {};
  }
  if (element == nullptr) return {};
  std::string_view final_type = cast.empty() ? element_type : cast;
  if (final_type != "code" || element->binding_strength() != fhir::BindingStrength::kRequired) {
    return {};
  }
  return element->binding_value_set();
}

// Required value sets on `code` elements that are not named after their code system, with the
// systems they draw from (from the value sets' compose in the R4 package).
struct ValueSetSystems {
  std::string_view value_set;
  std::array<std::string_view, 3> systems;  // unused places are ""
};
const ValueSetSystems kValueSetSystems[] = {
    {"http://hl7.org/fhir/ValueSet/all-types",
     {"http://hl7.org/fhir/resource-types", "http://hl7.org/fhir/data-types",
      "http://hl7.org/fhir/abstract-types"}},
    {"http://hl7.org/fhir/ValueSet/care-plan-activity-kind",
     {"http://hl7.org/fhir/resource-types"}},
    {"http://hl7.org/fhir/ValueSet/care-plan-intent", {"http://hl7.org/fhir/request-intent"}},
    {"http://hl7.org/fhir/ValueSet/clinicalimpression-status",
     {"http://hl7.org/fhir/event-status"}},
    {"http://hl7.org/fhir/ValueSet/currencies", {"urn:iso:std:iso:4217"}},
    {"http://hl7.org/fhir/ValueSet/defined-types",
     {"http://hl7.org/fhir/resource-types", "http://hl7.org/fhir/data-types"}},
    {"http://hl7.org/fhir/ValueSet/event-timing",
     {"http://terminology.hl7.org/CodeSystem/v3-TimingEvent"}},
    {"http://hl7.org/fhir/ValueSet/immunization-evaluation-status",
     {"http://terminology.hl7.org/CodeSystem/medication-admin-status"}},
    {"http://hl7.org/fhir/ValueSet/immunization-status", {"http://hl7.org/fhir/event-status"}},
    {"http://hl7.org/fhir/ValueSet/mimetypes", {"urn:ietf:bcp:13"}},
    {"http://hl7.org/fhir/ValueSet/system-restful-interaction",
     {"http://hl7.org/fhir/restful-interaction"}},
    {"http://hl7.org/fhir/ValueSet/task-intent",
     {"http://hl7.org/fhir/task-intent", "http://hl7.org/fhir/request-intent"}},
    {"http://hl7.org/fhir/ValueSet/type-restful-interaction",
     {"http://hl7.org/fhir/restful-interaction"}},
    {"http://hl7.org/fhir/ValueSet/units-of-time", {"http://unitsofmeasure.org"}},
    {"http://hl7.org/fhir/ValueSet/verificationresult-status",
     {"http://hl7.org/fhir/CodeSystem/status"}},
    {"http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification",
     {"http://terminology.hl7.org/CodeSystem/v3-Confidentiality"}},
};

// The code systems a code of `value_set` may belong to: R4 names most of its value sets after
// their code system (ValueSet/administrative-gender -> http://hl7.org/fhir/administrative-gender),
// and kValueSetSystems lists the others. Each candidate is confirmed against the expansion before
// use. (A table generated with the definitions would make the guesses unnecessary.)
index_internal::CodeBinding BindingFor(std::string_view value_set) {
  index_internal::CodeBinding binding;
  if (value_set.empty()) return binding;
  binding.value_set = value_set;
  for (const ValueSetSystems& known : kValueSetSystems) {
    if (known.value_set != value_set) continue;
    for (std::string_view system : known.systems) {
      if (!system.empty()) binding.systems.emplace_back(system);
    }
    if (known.systems[1].empty()) binding.unexpanded_system = known.systems[0];
  }
  std::string_view name = value_set.substr(value_set.rfind('/') + 1);
  for (std::string_view base : {"http://hl7.org/fhir/", "http://terminology.hl7.org/CodeSystem/",
                                "http://hl7.org/fhir/CodeSystem/"}) {
    binding.systems.push_back(std::string(base) + std::string(name));
  }
  return binding;
}

// True for [A-Za-z0-9_]+ optionally followed by one indexer "[digits]".
bool IsPlainName(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
  if (i == 0) return false;
  if (i == s.size()) return true;
  if (s[i] != '[' || s.back() != ']' || i + 2 >= s.size()) return false;
  for (size_t j = i + 1; j + 1 < s.size(); ++j) {
    if (!std::isdigit(static_cast<unsigned char>(s[j]))) return false;
  }
  return true;
}

// The members of the resource's JSON that `term` navigates from ("Patient.name.given" ->
// {"name", "_name"}; "Observation.value.as(Quantity)" -> {"valueQuantity", ...}), when the term
// is a plain path that selects nothing without them; nullopt when it may produce values anyway
// (`Patient.deceased.exists() and ...`) or is not understood. This lets ExtractIndex() skip the
// many parameters whose elements a resource does not have without evaluating them.
std::optional<std::vector<std::string>> RootMembers(std::string_view term,
                                                    const fhir::TypeDef& type) {
  while (!term.empty() && term.front() == '(' && term.back() == ')') {
    term = term.substr(1, term.size() - 2);
  }
  if (size_t as = term.find(" as "); as != std::string_view::npos) {
    if (!IsPlainName(term.substr(as + 4))) return std::nullopt;
    term = term.substr(0, as);
  }
  std::vector<std::string_view> segments = PathSegments(term);
  if (segments.size() < 2) return std::nullopt;
  std::string_view root = segments[0];
  if (root != type.name() && root != "Resource" && root != "DomainResource") return std::nullopt;
  for (size_t i = 1; i < segments.size(); ++i) {
    std::string_view s = segments[i];
    if (IsPlainName(s)) continue;
    // Functions that give nothing on nothing.
    const bool empty_on_empty =
        (s.ends_with(")") && (s.starts_with("where(") || s.starts_with("as(") ||
                              s.starts_with("ofType(") || s.starts_with("extension("))) ||
        s == "first()" || s == "last()" || s == "resolve()";
    if (i == 1 || !empty_on_empty) return std::nullopt;
  }
  std::string_view name = segments[1].substr(0, segments[1].find('['));
  const fhir::TypeDef* def = fhir::FindType(root);
  if (def == nullptr) return std::nullopt;
  std::string path = std::string(root) + "." + std::string(name);
  std::vector<std::string> members;
  if (def->FindElement(path) != nullptr) {
    members.emplace_back(name);
  } else if (const fhir::ElementDef* choice = def->FindElement(path + "[x]")) {
    for (const fhir::ElementType& t : choice->types()) {
      std::string key(name);
      std::string_view code = t.code();
      if (code.empty()) return std::nullopt;
      key.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(code[0]))));
      key.append(code.substr(1));
      members.push_back(std::move(key));
    }
  } else {
    return std::nullopt;
  }
  // A primitive with only an extension ("_birthDate") still navigates.
  const size_t n = members.size();
  for (size_t i = 0; i < n; ++i) members.push_back("_" + members[i]);
  return members;
}

std::string Join(const std::vector<std::string_view>& terms) {
  std::string out;
  for (std::string_view t : terms) {
    if (!out.empty()) out += " | ";
    out += t;
  }
  return out;
}

Status CompileFailure(const fhir::SearchParamDef& def, std::string_view type,
                      std::string_view expression, const Status& status) {
  return Status::Internal("search parameter " + std::string(type) + "." + std::string(def.code()) +
                          " (" + std::string(expression) +
                          ") does not compile: " + status.message());
}

TypePlan BuildPlan(const fhir::TypeDef& type) {
  TypePlan plan;
  for (const fhir::SearchParamDef& def : type.search_params()) {
    ParamPlan p;
    p.def = &def;
    if (def.code() == "_text") {
      p.special = Special::kText;
    } else if (def.code() == "_content") {
      p.special = Special::kContent;
    } else {
      // _query and _filter have no expression; near is answered from Location.position by the
      // store itself; _id and _lastUpdated from the resource's own row (every store keys
      // resources by id and keeps when each was last written).
      if (def.expression().empty() || def.type() == SearchParamType::kSpecial) continue;
      if (def.code() == "_id" || def.code() == "_lastUpdated") continue;
      if (!UnionMembers(def.code()).empty()) continue;  // its members' entries stand for it
      if (ComposedOfOwnParams(def.code())) continue;    // its components' parameters' entries do
      if (!CompositeUnionMembers(def.code()).empty()) continue;  // its member composites' do
      std::vector<std::string_view> terms = TermsFor(def.expression(), type.name());
      if (terms.empty()) continue;
      std::string text = Join(terms);
      Result<fhirpath::Expression> compiled = fhirpath::Compile(text);
      if (!compiled.ok()) {
        plan.status = CompileFailure(def, type.name(), text, compiled.status());
        return plan;
      }
      p.expression = std::move(compiled).value();
      p.typed = fhirpath::TypedPath::Make(*p.expression, type);
      for (std::string_view term : terms) {
        std::optional<std::vector<std::string>> members = RootMembers(term, type);
        if (!members) {
          p.root_members.clear();
          break;
        }
        p.root_members.insert(p.root_members.end(), members->begin(), members->end());
      }
      if (def.type() == SearchParamType::kComposite) {
        for (const fhir::SearchParamComponent& c : def.components()) {
          std::string component_text =
              "%" + std::string(kFocusVariable) + ".select(" + std::string(c.expression()) + ")";
          Result<fhirpath::Expression> component = fhirpath::Compile(component_text);
          if (!component.ok()) {
            plan.status = CompileFailure(def, type.name(), component_text, component.status());
            return plan;
          }
          const fhir::SearchParamDef* component_def = fhir::FindSearchParamByUrl(c.definition());
          if (component_def == nullptr) {
            plan.status = Status::Internal("search parameter " + std::string(type.name()) + "." +
                                           std::string(def.code()) + ": unknown component " +
                                           std::string(c.definition()));
            return plan;
          }
          ComponentPlan component_plan{std::move(component).value(), component_def->type(), {}};
          if (p.typed) {
            Result<fhirpath::Expression> own = fhirpath::Compile(c.expression());
            for (const fhirpath::TypedPath::Focus& focus : p.typed->outputs()) {
              if (!own.ok()) break;
              component_plan.typed.push_back(fhirpath::TypedPath::Make(*own, type, focus));
            }
          }
          p.components.push_back(std::move(component_plan));
        }
      }
      if (def.type() == SearchParamType::kString) {
        for (std::string_view term : terms) p.family_words |= term.ends_with(".family");
      }
      if (def.type() == SearchParamType::kToken) {
        // One value set for all the terms that end on a bound code, or none.
        std::string_view value_set;
        bool ambiguous = false;
        for (std::string_view term : terms) {
          std::string_view vs = CodeValueSet(term, type.name());
          if (vs.empty()) continue;
          if (!value_set.empty() && vs != value_set) ambiguous = true;
          value_set = vs;
        }
        if (!ambiguous) p.binding = BindingFor(value_set);
      }
    }
    plan.params.push_back(std::move(p));
  }
  std::set<std::string_view> names;
  for (const ParamPlan& p : plan.params) names.insert(p.root_members.begin(), p.root_members.end());
  if (names.size() <= kMaxRootMembers) {
    plan.member_names.assign(names.begin(), names.end());
    for (size_t i = 0; i < plan.member_names.size(); ++i) {
      plan.member_ids.emplace(plan.member_names[i], static_cast<uint16_t>(i));
    }
    for (ParamPlan& p : plan.params) {
      for (const std::string& m : p.root_members) p.root_ids.push_back(plan.member_ids.at(m));
    }
  }
  return plan;
}

struct PlanSlot {
  std::once_flag once;
  TypePlan plan;
};

const TypePlan& PlanFor(const fhir::TypeDef& type) {
  static const std::span<const fhir::TypeDef> types = fhir::ResourceTypes();
  static const std::unique_ptr<PlanSlot[]> slots = std::make_unique<PlanSlot[]>(types.size());
  const ptrdiff_t index = &type - types.data();
  if (index < 0 || static_cast<size_t>(index) >= types.size()) {
    static const TypePlan kNotAResource{Status::Internal("index: no plan for a non-resource type"),
                                        {}};
    return kNotAResource;
  }
  PlanSlot& slot = slots[index];
  std::call_once(slot.once, [&] { slot.plan = BuildPlan(type); });
  return slot.plan;
}

// --- resolve() without a store ---

// {"resourceType": T} for every resource type, indexed like fhir::ResourceTypes(); immutable.
const std::vector<json::value>& Stubs() {
  static const std::vector<json::value> stubs = [] {
    std::vector<json::value> out;
    for (const fhir::TypeDef& t : fhir::ResourceTypes()) {
      out.push_back(json::object{{"resourceType", t.name()}});
    }
    return out;
  }();
  return stubs;
}

const json::value* ResolveStub(std::string_view reference) {
  ReferenceValue ref = index_internal::ParseReference(reference);
  if (ref.type.empty() || ref.kind == ReferenceKind::kContained) return nullptr;
  const fhir::TypeDef* def = fhir::FindType(ref.type);
  const ptrdiff_t index = def - fhir::ResourceTypes().data();
  if (def == nullptr || index < 0 || static_cast<size_t>(index) >= Stubs().size()) return nullptr;
  return &Stubs()[index];
}

const fhirpath::EvalContext& BaseContext() {
  static const fhirpath::EvalContext context = [] {
    fhirpath::EvalContext c;
    c.resolver = ResolveStub;
    return c;
  }();
  return context;
}

Status EvaluationFailure(const fhir::SearchParamDef& def, std::string_view type,
                         const Status& status) {
  return Status(ErrorCode::kUnprocessable, "processing",
                "cannot index search parameter '" + std::string(def.code()) + "' of " +
                    std::string(type) + ": " + status.message(),
                std::string(def.expression()));
}

// Drops repeated entries among out[begin..] (e.g. the same given name twice); small sets only.
void Dedupe(std::vector<IndexEntry>& out, size_t begin) {
  constexpr size_t kMaxDedupe = 64;
  if (out.size() - begin < 2 || out.size() - begin > kMaxDedupe) return;
  size_t kept = begin;
  for (size_t i = begin; i < out.size(); ++i) {
    bool seen = false;
    for (size_t j = begin; j < kept && !seen; ++j) seen = out[j] == out[i];
    if (!seen) {
      if (kept != i) out[kept] = std::move(out[i]);
      ++kept;
    }
  }
  out.resize(kept);
}

std::string FormatDouble(double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// A union term compared as written, without the parentheses R4 puts around some ("(X.value as
// Quantity)") and surrounding blanks.
std::string_view BareTerm(std::string_view term) {
  while (!term.empty() && (term.front() == ' ' || term.back() == ' ')) {
    term = term.front() == ' ' ? term.substr(1) : term.substr(0, term.size() - 1);
  }
  while (term.size() >= 2 && term.front() == '(' && term.back() == ')') {
    term = term.substr(1, term.size() - 2);
  }
  return term;
}

using UnionMap = std::map<std::string, std::vector<std::string>, std::less<>>;

// See UnionMembers() in index.h. Per type, a parameter is a union when other parameters of the
// same type and kind, whose terms do not overlap, together have exactly its terms; it is kept
// only if it is such a union, of the same members, on every type that has it.
UnionMap BuildUnions() {
  UnionMap unions;
  std::set<std::string, std::less<>> rejected;
  for (const fhir::TypeDef& type : fhir::ResourceTypes()) {
    struct Param {
      const fhir::SearchParamDef* def;
      std::set<std::string_view> terms;
    };
    std::vector<Param> params;
    for (const fhir::SearchParamDef& def : type.search_params()) {
      if (def.expression().empty()) continue;
      Param p{&def, {}};
      for (std::string_view term : TermsFor(def.expression(), type.name())) {
        p.terms.insert(BareTerm(term));
      }
      if (!p.terms.empty()) params.push_back(std::move(p));
    }
    for (const Param& p : params) {
      const std::string code(p.def->code());
      const SearchParamType kind = p.def->type();
      std::vector<std::string> members;
      if (p.terms.size() >= 2 && kind != SearchParamType::kComposite &&
          kind != SearchParamType::kSpecial && kind != SearchParamType::kReference) {
        std::set<std::string_view> covered;
        for (const Param& q : params) {
          if (q.def == p.def || q.def->type() != kind) continue;
          bool inside = std::all_of(q.terms.begin(), q.terms.end(), [&](std::string_view t) {
            return p.terms.contains(t) && !covered.contains(t);
          });
          if (!inside) continue;
          covered.insert(q.terms.begin(), q.terms.end());
          members.emplace_back(q.def->code());
        }
        if (covered != p.terms) members.clear();
      }
      if (members.empty()) {
        rejected.insert(code);
        continue;
      }
      std::sort(members.begin(), members.end());
      auto [it, inserted] = unions.try_emplace(code, members);
      if (!inserted && it->second != members) rejected.insert(code);
    }
  }
  for (const std::string& code : rejected) unions.erase(code);
  // A member must have entries of its own.
  for (auto it = unions.begin(); it != unions.end();) {
    bool nested = std::any_of(it->second.begin(), it->second.end(),
                              [&](const std::string& m) { return unions.contains(m); });
    it = nested ? unions.erase(it) : std::next(it);
  }
  return unions;
}

const UnionMap& Unions() {
  static const UnionMap* unions = new UnionMap(BuildUnions());
  return *unions;
}

// A term in one spelling for comparing paths: without surrounding parentheses and blanks, and
// with a cast written as a function: "(Observation.value as Quantity)" -> "Observation.value.as(
// Quantity)". Only a cast at the end of the term is rewritten (R4's own terms have no other).
std::string PathForm(std::string_view term) {
  term = BareTerm(term);
  std::vector<std::string_view> parts = SplitTopLevel(term, ' ');
  if (parts.size() == 3 && parts[1] == "as") {
    return std::string(parts[0]) + ".as(" + std::string(parts[2]) + ")";
  }
  return std::string(term);
}

// The terms of `q` on `type` in PathForm, leaving out those that never give index values of q's
// kind: a SampledData is a series, not a quantity (index_values.cc does not index it).
std::set<std::string> IndexedPaths(const fhir::SearchParamDef& q, std::string_view type) {
  std::set<std::string> paths;
  for (std::string_view term : TermsFor(q.expression(), type)) {
    std::string path = PathForm(term);
    if (q.type() == SearchParamType::kQuantity && path.ends_with(".as(SampledData)")) continue;
    paths.insert(std::move(path));
  }
  return paths;
}

// A composite component's terms in PathForm, each after `prefix` ("" or "Type.").
std::set<std::string> ComponentPaths(const fhir::SearchParamComponent& component,
                                     const std::string& prefix = "") {
  std::set<std::string> paths;
  for (std::string_view term : UnionTerms(component.expression())) {
    paths.insert(prefix + PathForm(term));
  }
  return paths;
}

// Whether `composite`, on `type`, is ComposedOfOwnParams (index.h): its expression selects the
// resource itself, and each component's values are exactly those of the parameter the component's
// definition names, a plain parameter of the same type whose terms on `type` are the component's
// terms below the resource (compared as written, casts spelled alike), without a bound code (that
// parameter's own token entries would then differ from a component's).
bool ComposedOfOwnParamsOn(const fhir::SearchParamDef& composite, const fhir::TypeDef& type) {
  std::vector<std::string_view> terms = TermsFor(composite.expression(), type.name());
  if (terms.size() != 1 || BareTerm(terms[0]) != type.name()) return false;
  if (composite.components().empty()) return false;
  for (const fhir::SearchParamComponent& c : composite.components()) {
    const fhir::SearchParamDef* q = fhir::FindSearchParamByUrl(c.definition());
    if (q == nullptr || q->type() == SearchParamType::kComposite ||
        q->type() == SearchParamType::kSpecial || q->type() == SearchParamType::kReference) {
      return false;
    }
    const fhir::SearchParamDef* own = type.FindSearchParam(q->code());
    if (own == nullptr || own->url() != q->url()) return false;
    if (ComponentPaths(c, std::string(type.name()) + ".") != IndexedPaths(*q, type.name())) {
      return false;
    }
    for (std::string_view term : TermsFor(q->expression(), type.name())) {
      if (!CodeValueSet(term, type.name()).empty()) return false;
    }
  }
  return true;
}

// The codes of the composite parameters that are ComposedOfOwnParams on every type that has them.
std::set<std::string, std::less<>> BuildComposedOfOwnParams() {
  std::set<std::string, std::less<>> composed;
  std::set<std::string, std::less<>> rejected;
  for (const fhir::TypeDef& type : fhir::ResourceTypes()) {
    for (const fhir::SearchParamDef& def : type.search_params()) {
      if (def.type() != SearchParamType::kComposite) continue;
      std::string code(def.code());
      (ComposedOfOwnParamsOn(def, type) ? composed : rejected).insert(std::move(code));
    }
  }
  for (const std::string& code : rejected) composed.erase(code);
  return composed;
}

// Whether composites `a` and `b` make their values alike: the same number of components, each
// pair selecting the same paths (casts spelled alike) as values of the same kind. A composite's
// entries depend on nothing else of its components' definitions (ExtractIndexWith adds them by
// kind, without a bound value set).
bool SameComponents(const fhir::SearchParamDef& a, const fhir::SearchParamDef& b) {
  if (a.components().empty() || a.components().size() != b.components().size()) return false;
  for (size_t i = 0; i < a.components().size(); ++i) {
    const fhir::SearchParamComponent& ca = a.components()[i];
    const fhir::SearchParamComponent& cb = b.components()[i];
    const fhir::SearchParamDef* qa = fhir::FindSearchParamByUrl(ca.definition());
    const fhir::SearchParamDef* qb = fhir::FindSearchParamByUrl(cb.definition());
    if (qa == nullptr || qb == nullptr || qa->type() != qb->type()) return false;
    if (ComponentPaths(ca) != ComponentPaths(cb)) return false;
  }
  return true;
}

using CompositeUnionMap =
    std::map<std::string, std::vector<const fhir::SearchParamDef*>, std::less<>>;

// See CompositeUnionMembers() in index.h. Per type, each term of the composite's expression must
// be the one term of another composite of the type with the same components; kept only with the
// same members (by definition) on every type that has it.
CompositeUnionMap BuildCompositeUnions() {
  CompositeUnionMap unions;
  std::set<std::string, std::less<>> rejected;
  for (const fhir::TypeDef& type : fhir::ResourceTypes()) {
    for (const fhir::SearchParamDef& def : type.search_params()) {
      if (def.type() != SearchParamType::kComposite) continue;
      std::string code(def.code());
      std::vector<std::string_view> terms = TermsFor(def.expression(), type.name());
      if (terms.size() < 2) {
        rejected.insert(std::move(code));
        continue;
      }
      std::vector<const fhir::SearchParamDef*> members;
      for (std::string_view term : terms) {
        const fhir::SearchParamDef* found = nullptr;
        for (const fhir::SearchParamDef& q : type.search_params()) {
          if (&q == &def || q.type() != SearchParamType::kComposite) continue;
          std::vector<std::string_view> q_terms = TermsFor(q.expression(), type.name());
          if (q_terms.size() == 1 && BareTerm(q_terms[0]) == BareTerm(term) &&
              SameComponents(def, q)) {
            found = &q;
            break;
          }
        }
        if (found == nullptr) {
          members.clear();
          break;
        }
        members.push_back(found);
      }
      if (members.empty()) {
        rejected.insert(std::move(code));
        continue;
      }
      auto [it, inserted] = unions.try_emplace(code, members);
      auto same_url = [](const fhir::SearchParamDef* x, const fhir::SearchParamDef* y) {
        return x->url() == y->url();
      };
      if (!inserted && !std::equal(it->second.begin(), it->second.end(), members.begin(),
                                   members.end(), same_url)) {
        rejected.insert(std::move(code));
      }
    }
  }
  for (const std::string& code : rejected) unions.erase(code);
  return unions;
}

}  // namespace

const std::vector<const fhir::SearchParamDef*>& CompositeUnionMembers(std::string_view code) {
  static const auto* unions = new CompositeUnionMap(BuildCompositeUnions());
  static const std::vector<const fhir::SearchParamDef*> kNone;
  auto it = unions->find(code);
  return it == unions->end() ? kNone : it->second;
}

bool ComposedOfOwnParams(std::string_view code) {
  static const auto* composed = new std::set<std::string, std::less<>>(BuildComposedOfOwnParams());
  return composed->contains(code);
}

const std::vector<std::string>& UnionMembers(std::string_view code) {
  static const std::vector<std::string> kNone;
  const UnionMap& unions = Unions();
  auto it = unions.find(code);
  return it == unions.end() ? kNone : it->second;
}

std::string_view ToString(IndexKind kind) {
  switch (kind) {
    case IndexKind::kString:
      return "string";
    case IndexKind::kToken:
      return "token";
    case IndexKind::kDate:
      return "date";
    case IndexKind::kNumber:
      return "number";
    case IndexKind::kQuantity:
      return "quantity";
    case IndexKind::kReference:
      return "reference";
    case IndexKind::kUri:
      return "uri";
    case IndexKind::kText:
      return "text";
  }
  return "";
}

Result<std::vector<IndexEntry>> ExtractIndex(const boost::json::value& resource) {
  return index_internal::ExtractIndexWith(resource, /*typed_paths=*/true);
}

Result<std::vector<IndexEntry>> index_internal::ExtractIndexWith(const boost::json::value& resource,
                                                                 bool typed_paths) {
  if (!resource.is_object()) return Status::Invalid("index: the resource is not a JSON object");
  const json::object& obj = resource.as_object();
  const json::value* rt = obj.if_contains("resourceType");
  if (rt == nullptr || !rt->is_string()) return Status::Invalid("index: no resourceType");
  const fhir::TypeDef* type = fhir::FindType(rt->as_string());
  if (type == nullptr || !type->is_resource()) {
    return Status::Invalid("index: unknown resource type " + std::string(rt->as_string()));
  }
  const TypePlan& plan = PlanFor(*type);
  if (!plan.status.ok()) return plan.status;

  std::vector<IndexEntry> out;
  out.reserve(64);
  index_internal::Sink sink;
  sink.out = &out;
  sink.resource_type = type->name();
  sink.root = &resource;
  const fhirpath::EvalContext& context = BaseContext();
  std::optional<fhirpath::EvalContext> composite_context;  // made on the first composite
  std::optional<std::string> narrative;                    // for _text and _content
  uint32_t next_group = 1;
  std::bitset<kMaxRootMembers> present;  // by TypePlan::member_ids
  for (const json::key_value_pair& member : obj) {
    if (auto it = plan.member_ids.find(member.key()); it != plan.member_ids.end()) {
      present.set(it->second);
    }
  }

  for (const ParamPlan& p : plan.params) {
    sink.param = p.def->code();
    sink.group = 0;
    sink.component = 0;
    sink.binding = p.binding.value_set.empty() ? nullptr : &p.binding;
    sink.family_words = p.family_words;
    sink.targets = p.def->targets();
    const size_t begin = out.size();
    if (p.special != Special::kNone) {
      if (!narrative) narrative = index_internal::NarrativeText(obj);
      if (p.special == Special::kText) {
        index_internal::AddNarrativeText(*narrative, sink);
      } else {
        index_internal::AddContent(obj, *narrative, sink);
      }
      continue;
    }
    if (!p.root_ids.empty()) {
      if (std::none_of(p.root_ids.begin(), p.root_ids.end(),
                       [&present](uint16_t id) { return present.test(id); })) {
        continue;
      }
    } else if (!p.root_members.empty() &&
               std::none_of(p.root_members.begin(), p.root_members.end(),
                            [&obj](const std::string& m) { return obj.contains(m); })) {
      continue;
    }
    const bool typed = p.typed && typed_paths;
    std::optional<fhirpath::Collection> values;
    if (typed) values = p.typed->Evaluate(resource, context);
    if (!values) {
      Result<fhirpath::Collection> evaluated = fhirpath::Evaluate(*p.expression, resource, context);
      if (!evaluated.ok()) return EvaluationFailure(*p.def, type->name(), evaluated.status());
      values = std::move(evaluated).value();
    }
    if (values->empty()) continue;
    if (p.components.empty()) {
      index_internal::AddValues(p.def->type(), *values, sink);
      Dedupe(out, begin);
      continue;
    }
    // Composite: each value is a group; its components are evaluated with it as the focus.
    if (!composite_context) composite_context = context;
    fhirpath::Collection& focus = composite_context->variables[std::string(kFocusVariable)];
    sink.binding = nullptr;
    sink.family_words = false;
    sink.targets = {};
    for (const fhirpath::Item& value : *values) {
      const size_t group_begin = out.size();
      sink.group = next_group;
      focus.assign(1, value);
      bool complete = true;
      for (size_t c = 0; c < p.components.size() && complete; ++c) {
        const size_t component_begin = out.size();
        sink.component = static_cast<uint8_t>(c);
        const ComponentPlan& component = p.components[c];
        std::optional<fhirpath::Collection> parts;
        if (typed_paths) {
          for (const auto& typed : component.typed) {
            if (typed && typed->Fits(value)) {
              parts = typed->EvaluateOn(&value, resource, context);
              break;
            }
          }
        }
        if (!parts) {
          Result<fhirpath::Collection> evaluated =
              fhirpath::Evaluate(component.expression, resource, *composite_context);
          if (!evaluated.ok()) return EvaluationFailure(*p.def, type->name(), evaluated.status());
          parts = std::move(evaluated).value();
        }
        index_internal::AddValues(component.type, *parts, sink);
        complete = out.size() > component_begin;
      }
      if (complete) {
        ++next_group;
      } else {
        out.resize(group_begin);
      }
    }
  }
  return out;
}

Result<std::vector<IndexEntry>> ExtractIndexFromJson(std::string_view json_text) {
  // The tree lives only for this call, and the entries copy what they keep: an arena (on the
  // stack for a typical resource) replaces a malloc and a free per JSON node.
  unsigned char buffer[16384];
  json::monotonic_resource arena(buffer, sizeof(buffer));
  Result<json::value> parsed = fhirpath::ParseJson(json_text, &arena);
  if (!parsed.ok()) return parsed.take_status();
  return ExtractIndex(*parsed);
}

Status PrepareAllIndexPlans() {
  for (const fhir::TypeDef& type : fhir::ResourceTypes()) {
    const TypePlan& plan = PlanFor(type);
    if (!plan.status.ok()) return plan.status;
  }
  return Status::Ok();
}

std::string ToDebugString(const IndexEntry& entry) {
  std::string out(entry.param);
  if (entry.group != 0) {
    out += "#" + std::to_string(entry.group) + "." + std::to_string(entry.component);
  }
  out += " ";
  out += ToString(entry.kind());
  out += " ";
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, StringValue>) {
          out += Quoted(v.normalized) + " exact=" + Quoted(v.exact);
        } else if constexpr (std::is_same_v<T, TokenValue>) {
          out += v.system + "|" + v.code;
          if (!v.text.empty()) out += " text=" + Quoted(v.text);
          if (!v.type_code.empty()) out += " type=" + v.type_system + "|" + v.type_code;
        } else if constexpr (std::is_same_v<T, DateValue>) {
          out += "[" + (v.low == kMinInstant ? std::string("min") : std::to_string(v.low)) + ", " +
                 (v.high == kMaxInstant ? std::string("max") : std::to_string(v.high)) + ")";
        } else if constexpr (std::is_same_v<T, NumberValue>) {
          out += (v.value ? FormatDouble(*v.value) : std::string("-")) + " [" +
                 FormatDouble(v.low) + ", " + FormatDouble(v.high) + ")";
        } else if constexpr (std::is_same_v<T, QuantityValue>) {
          out += (v.value ? FormatDouble(*v.value) : std::string("-")) + " [" +
                 FormatDouble(v.low) + ", " + FormatDouble(v.high) + ") " + v.system + "|" +
                 v.code + " unit=" + Quoted(v.unit);
          if (!v.canonical_code.empty()) {
            out += " canonical=" + v.canonical_code + "*" + FormatDouble(v.canonical_factor);
          }
        } else if constexpr (std::is_same_v<T, ReferenceValue>) {
          static constexpr std::string_view kKinds[] = {"local", "absolute", "canonical",
                                                        "contained"};
          out += std::string(kKinds[static_cast<int>(v.kind)]) + " " + v.type + "/" + v.id;
          if (!v.version.empty()) out += " version=" + v.version;
          out += " url=" + Quoted(v.url);
        } else if constexpr (std::is_same_v<T, UriValue>) {
          out += Quoted(v.uri);
        } else if constexpr (std::is_same_v<T, TextValue>) {
          out += Quoted(v.text.size() > 60 ? v.text.substr(0, 60) + "..." : v.text);
        }
      },
      entry.value);
  return out;
}

}  // namespace kiln::search
