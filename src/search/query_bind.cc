// Stage 2 of search: Bind() resolves a ParsedRequest against the SearchParameter definitions.
//
// Parameters are bound one at a time, in request order; a bad parameter adds an Issue and binding
// goes on, so one 400 lists every problem. A criterion is bound against the search's scope (its
// types); a chain link against the targets of its reference parameter, grouped by the type of the
// next parameter on each target, so `subject.name` on Observation binds `name` once for Location
// and Patient (the targets that have it), and the planner sees one branch per parameter type.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "fhir/definitions.h"
#include "search/query.h"
#include "search/query_values.h"

namespace kiln::search {
namespace {

using fhir::SearchParamDef;
using fhir::SearchParamType;

// Why a name could not be bound. kUnknown: the first parameter of the name is not defined for the
// scope (ignored in lenient mode). kDeadEnd: a chain leads nowhere on some target (dropped when
// other targets work). kInvalid: an error whatever the target.
enum class Failure : uint8_t { kUnknown, kDeadEnd, kInvalid };

struct BindFailure {
  Failure kind = Failure::kInvalid;
  std::string issue_code = "invalid";
  std::string diagnostics;
};

using Outcome = std::variant<Criterion, BindFailure>;

BindFailure Invalid(std::string diagnostics, std::string issue_code = "invalid") {
  return BindFailure{Failure::kInvalid, std::move(issue_code), std::move(diagnostics)};
}

BindFailure DeadEnd(std::string diagnostics) {
  return BindFailure{Failure::kDeadEnd, "invalid", std::move(diagnostics)};
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  return out;
}

std::string ScopeName(const std::vector<std::string>& scope) {
  return scope.empty() ? "all resource types" : Join(scope);
}

bool Contains(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

const std::vector<std::string>& AllResourceTypeNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const fhir::TypeDef& type : fhir::ResourceTypes()) out.emplace_back(type.name());
    return out;
  }();
  return names;
}

// The definitions of `code` across `scope` (DomainResource's, i.e. the common ones, for an empty
// scope), without repeats, and the types that lack it.
struct Lookup {
  std::vector<const SearchParamDef*> defs;
  std::vector<std::string> missing_on;
};

Lookup Find(const std::vector<std::string>& scope, std::string_view code) {
  Lookup found;
  if (scope.empty()) {
    if (const SearchParamDef* def = fhir::FindSearchParam("DomainResource", code)) {
      found.defs.push_back(def);
    }
    return found;
  }
  for (const std::string& type : scope) {
    const SearchParamDef* def = fhir::FindSearchParam(type, code);
    if (def == nullptr) {
      found.missing_on.push_back(type);
    } else if (std::find(found.defs.begin(), found.defs.end(), def) == found.defs.end()) {
      found.defs.push_back(def);
    }
  }
  return found;
}

// The sorted target types of reference parameters; empty if any of them may point anywhere.
std::vector<std::string> UnionTargets(const std::vector<const SearchParamDef*>& defs) {
  std::set<std::string> targets;
  for (const SearchParamDef* def : defs) {
    if (def->targets().empty()) return {};
    for (std::string_view t : def->targets()) targets.emplace(t);
  }
  return std::vector<std::string>(targets.begin(), targets.end());
}

std::optional<Modifier> ModifierNamed(std::string_view name) {
  static constexpr struct {
    std::string_view name;
    Modifier modifier;
  } kModifiers[] = {
      {"missing", Modifier::kMissing},
      {"exact", Modifier::kExact},
      {"contains", Modifier::kContains},
      {"text", Modifier::kText},
      {"not", Modifier::kNot},
      {"above", Modifier::kAbove},
      {"below", Modifier::kBelow},
      {"in", Modifier::kIn},
      {"not-in", Modifier::kNotIn},
      {"of-type", Modifier::kOfType},
      {"identifier", Modifier::kIdentifier},
  };
  for (const auto& m : kModifiers) {
    if (m.name == name) return m.modifier;
  }
  return std::nullopt;
}

// R4 3.1.1.4.4 and the sections per type: which modifiers each parameter type takes.
bool ModifierApplies(SearchParamType type, Modifier modifier) {
  using T = SearchParamType;
  switch (modifier) {
    case Modifier::kNone:
      return true;
    case Modifier::kMissing:  // "for all parameters (except combination)"
      return type != T::kComposite;
    case Modifier::kExact:
    case Modifier::kContains:
      return type == T::kString;
    case Modifier::kText:  // token: display text; string: "advanced text handling"
      return type == T::kToken || type == T::kString;
    case Modifier::kNot:
    case Modifier::kIn:
    case Modifier::kNotIn:
    case Modifier::kOfType:
      return type == T::kToken;
    case Modifier::kAbove:
    case Modifier::kBelow:  // token subsumption, uri prefixes, reference hierarchies/canonicals
      return type == T::kToken || type == T::kUri || type == T::kReference;
    case Modifier::kIdentifier:
    case Modifier::kType:
      return type == T::kReference;
  }
  return false;
}

// True unless every path of the parameter's expression resolves to an element that is not an
// Identifier (:of-type only makes sense on identifiers). Paths that cross into data types or use
// functions do not resolve with FindElement; those get the benefit of the doubt.
bool MayBeIdentifier(const SearchParamDef& def) {
  std::string_view expr = def.expression();
  bool resolved_any = false;
  size_t start = 0;
  while (start <= expr.size()) {
    size_t bar = expr.find('|', start);
    if (bar == std::string_view::npos) bar = expr.size();
    std::string_view part = expr.substr(start, bar - start);
    start = bar + 1;
    size_t first = part.find_first_not_of(" (");
    if (first == std::string_view::npos) continue;
    part.remove_prefix(first);
    size_t end = 0;
    while (end < part.size() && (std::isalnum(static_cast<unsigned char>(part[end])) ||
                                 part[end] == '.' || part[end] == '_')) {
      ++end;
    }
    std::string_view path = part.substr(0, end);
    while (!path.empty() && path.back() == '.') path.remove_suffix(1);
    const fhir::ElementDef* element = fhir::FindElement(path);
    if (element == nullptr) continue;
    if (element->HasType("Identifier")) return true;
    resolved_any = true;
  }
  return !resolved_any;
}

// Upper-cases the first letter: the suffix a choice element takes for a type ("Quantity").
std::string Capitalized(std::string_view code) {
  std::string out(code);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 32);
  return out;
}

// True if `name` is a top-level element of `type`: "name", "value[x]" as "value" or as
// "valueQuantity".
bool HasTopLevelElement(const fhir::TypeDef& type, std::string_view name) {
  const std::string prefix = std::string(type.name()) + ".";
  if (type.FindElement(prefix + std::string(name)) != nullptr) return true;
  for (const fhir::ElementDef& element : type.elements()) {
    if (!element.is_choice()) continue;
    const std::string_view path = element.path();
    if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix) continue;
    std::string_view base = path.substr(prefix.size());
    if (base.find('.') != std::string_view::npos) continue;  // not top level
    base.remove_suffix(3);                                   // "[x]"
    if (!name.starts_with(base)) continue;
    const std::string_view suffix = name.substr(base.size());
    if (suffix.empty()) return true;
    for (const fhir::ElementType& t : element.types()) {
      if (Capitalized(t.code()) == suffix) return true;
    }
  }
  return false;
}

bool IsSortable(SearchParamType type) {
  using T = SearchParamType;
  return type == T::kString || type == T::kDate || type == T::kNumber || type == T::kToken ||
         type == T::kQuantity || type == T::kReference || type == T::kUri;
}

class Binder {
 public:
  explicit Binder(const QueryOptions& options) : options_(options) {}

  Result<Query> Run(ParsedRequest request, const std::vector<std::string>& types) {
    for (const std::string& type : types) {
      if (!fhir::IsResourceType(type)) {
        return Status::Invalid("'" + type + "' is not a resource type");
      }
    }
    scope_ = types;
    std::sort(scope_.begin(), scope_.end());
    scope_.erase(std::unique(scope_.begin(), scope_.end()), scope_.end());

    // _type first: it decides the scope every other parameter is bound against.
    for (const ParsedParam& p : request.params) {
      if (IsControl(p, "_type")) BindType(p);
    }
    query_.types = scope_;
    query_.count = std::clamp(options_.default_count, 0, std::max(options_.max_count, 0));

    for (const ParsedParam& p : request.params) BindParam(p);

    query_.max_includes = std::max(options_.max_includes, 0);
    CheckResultParams();
    if (options_.compartment) BindCompartment(*options_.compartment);
    if (!issues_.empty()) return Status(ErrorCode::kInvalid, std::move(issues_));
    return std::move(query_);
  }

 private:
  // Combinations of result parameters that contradict each other.
  void CheckResultParams() {
    const SummaryMode summary = query_.summary;
    if (summary == SummaryMode::kText && !query_.includes.empty()) {
      issues_.push_back(
          Error("invalid", "_summary=text: cannot be combined with _include or _revinclude"));
    }
    if (summary == SummaryMode::kCount) {
      // R4 3.1.1.5.8: a count and no entries, so nothing to include or to cut elements from.
      if (!query_.includes.empty()) {
        issues_.push_back(
            Error("invalid", "_summary=count: cannot be combined with _include or _revinclude"));
      }
      query_.count = 0;
      if (query_.total == TotalMode::kUnspecified) query_.total = TotalMode::kAccurate;
      if (query_.total == TotalMode::kNone) {
        issues_.push_back(Error("invalid", "_summary=count: cannot be combined with _total=none"));
      }
    }
    if (!query_.elements.empty() && summary != SummaryMode::kUnspecified &&
        summary != SummaryMode::kFalse) {
      issues_.push_back(Error("invalid", "_elements: cannot be combined with _summary=" +
                                             std::string(ToString(summary)) +
                                             " (ask for a summary or for elements, not both)"));
    }
  }

  // Compartment search: every type searched must belong to the compartment.
  void BindCompartment(const CompartmentRef& compartment) {
    if (fhir::FindCompartment(compartment.type) == nullptr) {
      issues_.push_back(Error("not-found", compartment.type + " is not a compartment"));
      return;
    }
    std::vector<std::string> outside;
    for (const std::string& type : scope_) {
      if (fhir::CompartmentParams(compartment.type, type).empty()) outside.push_back(type);
    }
    if (scope_.empty() || !outside.empty()) {
      issues_.push_back(
          Error("invalid", (scope_.empty() ? std::string("all resource types") : Join(outside)) +
                               (outside.size() > 1 ? " are" : " is") + " not in the " +
                               compartment.type + " compartment"));
      return;
    }
    query_.compartment = compartment;
  }

  static bool IsControl(const ParsedParam& p, std::string_view code) {
    return p.path.size() == 1 && !p.path[0].is_has() && p.path[0].code == code;
  }

  static std::string Where(const ParsedParam& p) { return p.name + "=" + p.value + ": "; }

  static Issue Error(std::string code, std::string diagnostics) {
    return Issue{Severity::kError, std::move(code), std::move(diagnostics), ""};
  }

  void Fail(const ParsedParam& p, std::string code, const std::string& problem) {
    issues_.push_back(Error(std::move(code), p.name + "=" + p.value + ": " + problem));
  }

  // An unknown or unsupported parameter: an error when strict, else left out and reported.
  void Unsupported(const ParsedParam& p, std::string reason) {
    if (options_.strict) {
      issues_.push_back(Error("not-supported", p.name + "=" + p.value + ": " + reason));
      return;
    }
    query_.ignored.push_back(IgnoredParam{p.name, p.value, std::move(reason), "not-supported"});
  }

  void Applied(const ParsedParam& p) { query_.applied.emplace_back(p.name, p.value); }

  // Unescaped comma-separated items of a control parameter, empty ones dropped.
  std::optional<std::vector<std::string>> Items(const ParsedParam& p) {
    std::vector<std::string> items;
    for (const std::string& alt : p.alternatives) {
      std::optional<std::string> item = internal::Unescape(alt);
      if (!item) {
        Fail(p, "value", "invalid escape: a backslash must precede \\ , $ or |");
        return std::nullopt;
      }
      if (!item->empty()) items.push_back(std::move(*item));
    }
    return items;
  }

  bool Once(const ParsedParam& p, bool& seen) {
    if (seen) {
      Fail(p, "invalid", p.path[0].code + " may appear only once");
      return false;
    }
    seen = true;
    return true;
  }

  bool NoModifier(const ParsedParam& p) {
    if (p.path[0].modifier.empty()) return true;
    Fail(p, "invalid",
         "modifier ':" + p.path[0].modifier + "' is not allowed on " + p.path[0].code);
    return false;
  }

  void BindParam(const ParsedParam& p) {
    const NameSegment& head = p.path[0];
    const bool plain = p.path.size() == 1 && !head.is_has();
    if (plain && (head.code == "_format" || head.code == "_pretty")) return;  // REST's business
    if (p.value.empty()) {
      // R4 3.1.1.3: "Empty parameters are not an error - they are just ignored by the server."
      query_.ignored.push_back(IgnoredParam{p.name, p.value, "empty value", "informational"});
      return;
    }
    if (plain) {
      const std::string& code = head.code;
      if (code == "_type") return Applied(p);  // bound first, in Run
      if (code == "_count") return BindCount(p);
      if (code == "_total") return BindTotal(p);
      if (code == "_summary") return BindSummary(p);
      if (code == "_elements") return BindElements(p);
      if (code == "_sort") return BindSort(p);
      if (code == "_include" || code == "_revinclude") return BindInclude(p);
      if (code == "_contained") return BindContained(p);
      if (code == "_containedType") return BindContainedType(p);
      if (code == "_cursor") return BindCursor(p);
      if (code == "_list") return BindList(p);
      if (code == "_query") {
        // R4 3.1.1.7: servers SHALL refuse a _query they do not recognise; Kiln knows none.
        return Fail(p, "not-supported", "named queries (_query) are not supported");
      }
      if (code == "_filter") return Unsupported(p, "_filter is not supported");
    }
    Outcome outcome = BindPath(scope_, p, 0);
    if (Criterion* c = std::get_if<Criterion>(&outcome)) {
      query_.criteria.push_back(std::move(*c));
      Applied(p);
      return;
    }
    BindFailure& failure = std::get<BindFailure>(outcome);
    if (failure.kind == Failure::kUnknown) return Unsupported(p, failure.diagnostics);
    issues_.push_back(Error(failure.issue_code, failure.diagnostics));
  }

  // ---- Criteria ----

  Outcome BindPath(const std::vector<std::string>& scope, const ParsedParam& p, size_t i) {
    const NameSegment& segment = p.path[i];
    if (segment.is_has()) return BindHas(scope, p, i);
    Lookup found = Find(scope, segment.code);
    if (found.defs.empty()) {
      return BindFailure{Failure::kUnknown, "not-supported",
                         "Unknown search parameter '" + segment.code + "' for " + ScopeName(scope)};
    }
    if (!found.missing_on.empty()) {
      return BindFailure{Failure::kUnknown, "not-supported",
                         "Search parameter '" + segment.code + "' is not defined for " +
                             Join(found.missing_on) +
                             " (a search over several types takes "
                             "only parameters they all have)"};
    }
    Criterion c;
    c.scope = scope;
    c.code = segment.code;
    c.type = found.defs[0]->type();
    for (const SearchParamDef* def : found.defs) {
      if (def->type() != c.type) {
        return Invalid(Where(p) + "search parameter '" + segment.code +
                       "' has different types across " + ScopeName(scope) + " (" +
                       std::string(fhir::ToString(c.type)) + " and " +
                       std::string(fhir::ToString(def->type())) + ")");
      }
    }
    c.defs = std::move(found.defs);
    if (i + 1 < p.path.size()) return BindChainLink(std::move(c), p, i);
    return BindTerminal(std::move(c), p, i);
  }

  Outcome BindChainLink(Criterion c, const ParsedParam& p, size_t i) {
    const NameSegment& segment = p.path[i];
    const std::string where = Where(p);
    if (c.type != SearchParamType::kReference) {
      return DeadEnd(where + "'" + c.code + "' is a " + std::string(fhir::ToString(c.type)) +
                     " parameter, not a reference, so it cannot be chained");
    }
    const std::vector<std::string> targets = UnionTargets(c.defs);
    std::vector<std::string> candidates;
    if (!segment.modifier.empty()) {
      if (fhir::IsResourceType(segment.modifier)) {
        if (!targets.empty() && !Contains(targets, segment.modifier)) {
          return Invalid(where + "'" + c.code + "' cannot refer to " + segment.modifier +
                         " (its targets are " + Join(targets) + ")");
        }
        c.modifier = Modifier::kType;
        c.modifier_type = segment.modifier;
        candidates = {segment.modifier};
      } else if (segment.modifier == "identifier") {
        return Invalid(where + "chaining is not supported with :identifier (R4 3.1.1.4.12)");
      } else if (ModifierNamed(segment.modifier)) {
        return Invalid(where + "modifier ':" + segment.modifier +
                       "' cannot be used on a chained parameter; only a resource type can");
      } else {
        return Invalid(where + "unknown modifier ':" + segment.modifier + "'", "not-supported");
      }
    } else {
      candidates = targets.empty() ? AllResourceTypeNames() : targets;
    }

    // Group the candidate targets by the type of the next parameter on each (-1: a _has hop).
    const NameSegment& next = p.path[i + 1];
    std::map<int, std::vector<std::string>> groups;
    for (const std::string& target : candidates) {
      if (next.is_has()) {
        groups[-1].push_back(target);
      } else if (const SearchParamDef* def = fhir::FindSearchParam(target, next.code)) {
        groups[static_cast<int>(def->type())].push_back(target);
      }
    }
    if (groups.empty()) {
      if (c.modifier == Modifier::kType) {
        return DeadEnd(where + c.modifier_type + " has no search parameter '" + next.code + "'");
      }
      return DeadEnd(where + "no target of '" + c.code + "' (" + Join(candidates) +
                     ") has a search parameter '" + next.code + "'");
    }
    std::optional<BindFailure> first_failure;
    for (auto& [type, group] : groups) {
      Outcome outcome = BindPath(group, p, i + 1);
      if (Criterion* n = std::get_if<Criterion>(&outcome)) {
        c.targets.insert(c.targets.end(), group.begin(), group.end());
        c.next.push_back(std::move(*n));
        continue;
      }
      BindFailure& failure = std::get<BindFailure>(outcome);
      if (failure.kind == Failure::kInvalid) return failure;
      if (!first_failure) first_failure = std::move(failure);
    }
    if (c.next.empty()) {
      first_failure->kind = Failure::kDeadEnd;
      return *first_failure;
    }
    std::sort(c.targets.begin(), c.targets.end());
    c.kind = Criterion::Kind::kChain;
    return c;
  }

  Outcome BindHas(const std::vector<std::string>& scope, const ParsedParam& p, size_t i) {
    const NameSegment& segment = p.path[i];
    const std::string where = Where(p);
    if (!fhir::IsResourceType(segment.has_type)) {
      return Invalid(where + "_has: '" + segment.has_type + "' is not a resource type");
    }
    const SearchParamDef* ref = fhir::FindSearchParam(segment.has_type, segment.has_param);
    if (ref == nullptr) {
      return DeadEnd(where + "_has: " + segment.has_type + " has no search parameter '" +
                     segment.has_param + "'");
    }
    if (ref->type() != SearchParamType::kReference) {
      return DeadEnd(where + "_has: " + segment.has_type + " '" + segment.has_param + "' is a " +
                     std::string(fhir::ToString(ref->type())) + " parameter, not a reference");
    }
    const std::vector<std::string> targets = UnionTargets({ref});
    if (!targets.empty() && !scope.empty() &&
        std::none_of(scope.begin(), scope.end(),
                     [&](const std::string& t) { return Contains(targets, t); })) {
      return DeadEnd(where + "_has: " + segment.has_type + " '" + segment.has_param +
                     "' cannot refer to " + ScopeName(scope) + " (its targets are " +
                     Join(targets) + ")");
    }
    Outcome outcome = BindPath({segment.has_type}, p, i + 1);
    if (BindFailure* failure = std::get_if<BindFailure>(&outcome)) {
      if (failure->kind == Failure::kUnknown) {
        failure->kind = Failure::kDeadEnd;
        failure->issue_code = "invalid";
        failure->diagnostics = where + failure->diagnostics;
      }
      return outcome;
    }
    Criterion c;
    c.kind = Criterion::Kind::kHas;
    c.scope = scope;
    c.code = segment.has_param;
    c.type = SearchParamType::kReference;
    c.defs = {ref};
    c.has_type = segment.has_type;
    c.targets = {segment.has_type};
    c.next.push_back(std::move(std::get<Criterion>(outcome)));
    return c;
  }

  Outcome BindTerminal(Criterion c, const ParsedParam& p, size_t i) {
    const NameSegment& segment = p.path[i];
    const std::string where = Where(p);
    const std::string type_name(fhir::ToString(c.type));
    if (!segment.modifier.empty()) {
      if (std::optional<Modifier> m = ModifierNamed(segment.modifier)) {
        c.modifier = *m;
      } else if (fhir::IsResourceType(segment.modifier)) {
        c.modifier = Modifier::kType;
        c.modifier_type = segment.modifier;
      } else {
        return Invalid(where + "unknown modifier ':" + segment.modifier + "'", "not-supported");
      }
      if (!ModifierApplies(c.type, c.modifier)) {
        if (c.modifier == Modifier::kType) {
          return Invalid(where + "a resource type modifier (:" + c.modifier_type +
                         ") applies to reference parameters only; '" + c.code + "' is a " +
                         type_name + " parameter");
        }
        return Invalid(where + "modifier ':" + segment.modifier + "' cannot be used on " +
                       type_name + " parameter '" + c.code + "'");
      }
    }
    if (c.modifier == Modifier::kType) {
      const std::vector<std::string> targets = UnionTargets(c.defs);
      if (!targets.empty() && !Contains(targets, c.modifier_type)) {
        return Invalid(where + "'" + c.code + "' cannot refer to " + c.modifier_type +
                       " (its targets are " + Join(targets) + ")");
      }
    }
    if (c.modifier == Modifier::kOfType &&
        std::none_of(c.defs.begin(), c.defs.end(),
                     [](const SearchParamDef* d) { return MayBeIdentifier(*d); })) {
      return Invalid(where + ":of-type applies to identifiers; '" + c.code +
                     "' does not search an Identifier");
    }
    if (c.modifier == Modifier::kMissing) {
      if (p.alternatives.size() != 1 ||
          (p.alternatives[0] != "true" && p.alternatives[0] != "false")) {
        return Invalid(Where(p) + ":missing takes true or false", "value");
      }
      c.kind = Criterion::Kind::kMissing;
      c.missing = p.alternatives[0] == "true";
      return c;
    }
    if (c.type == SearchParamType::kComposite) {
      std::optional<BindFailure> failure = BindComponents(c, where);
      if (failure) return *failure;
    }
    for (const std::string& alt : p.alternatives) {
      if (alt.empty()) continue;  // "a,,b": nothing between the commas
      Result<Term> term = ParseTerm(c, alt);
      if (!term.ok()) return Invalid(p.name + "=" + alt + ": " + term.status().message(), "value");
      c.terms.push_back(std::move(*term));
    }
    if (c.terms.empty()) return Invalid(Where(p) + "no value", "value");
    c.kind = Criterion::Kind::kMatch;
    return c;
  }

  // The components of a composite parameter, the same for each of its definitions.
  std::optional<BindFailure> BindComponents(Criterion& c, const std::string& where) {
    for (const SearchParamDef* def : c.defs) {
      std::vector<CompositeComponent> components;
      for (const fhir::SearchParamComponent& component : def->components()) {
        const SearchParamDef* part = fhir::FindSearchParamByUrl(component.definition());
        if (part == nullptr) {
          return Invalid(where + "component " + std::string(component.definition()) + " of '" +
                         c.code + "' is not a known search parameter");
        }
        components.push_back(CompositeComponent{part, component.expression()});
      }
      if (def == c.defs.front()) {
        c.components = std::move(components);
        continue;
      }
      bool same = components.size() == c.components.size();
      for (size_t k = 0; same && k < components.size(); ++k) {
        same = components[k].def->type() == c.components[k].def->type();
      }
      if (!same) {
        return Invalid(where + "composite parameter '" + c.code +
                       "' has different components on the types searched");
      }
    }
    return std::nullopt;
  }

  // One alternative of a criterion's value, by the parameter's type and modifier.
  Result<Term> ParseTerm(const Criterion& c, std::string_view text) {
    using T = SearchParamType;
    auto wrap = [](auto result) -> Result<Term> {
      if (!result.ok()) return result.take_status();
      return Term(std::move(*result));
    };
    switch (c.type) {
      case T::kNumber:
        return wrap(internal::ParseNumberTerm(text));
      case T::kDate:
        return wrap(internal::ParseDateTerm(text));
      case T::kString:
        return wrap(internal::ParseStringTerm(text));
      case T::kQuantity:
        return wrap(internal::ParseQuantityTerm(text));
      case T::kUri:
        return wrap(internal::ParseUriTerm(text));
      case T::kToken:
        switch (c.modifier) {
          case Modifier::kText:
            return wrap(internal::ParseStringTerm(text));
          case Modifier::kIn:
          case Modifier::kNotIn:
            return wrap(internal::ParseUriTerm(text));
          case Modifier::kOfType:
            return wrap(internal::ParseIdentifierTypeTerm(text));
          default:
            break;
        }
        if (c.code == "_id") {
          // R4: "there is no system for the _id parameter": the whole value is the id.
          Result<StringTerm> id = internal::ParseStringTerm(text);
          if (!id.ok()) return id.take_status();
          return Term(TokenTerm{std::nullopt, std::move(id->value)});
        }
        return wrap(internal::ParseTokenTerm(text));
      case T::kReference: {
        if (c.modifier == Modifier::kIdentifier) return wrap(internal::ParseTokenTerm(text));
        Result<ReferenceTerm> ref = internal::ParseReferenceTerm(text);
        if (!ref.ok()) return ref.take_status();
        Status s = CheckReference(c.code, UnionTargets(c.defs), c.modifier_type, *ref);
        if (!s.ok()) return s;
        return Term(std::move(*ref));
      }
      case T::kComposite:
        return ParseComposite(c, text);
      case T::kSpecial: {
        if (c.code == "near") return wrap(internal::ParseNearTerm(text));
        Result<StringTerm> s = internal::ParseStringTerm(text);
        if (!s.ok()) return s.take_status();
        return Term(SpecialTerm{std::move(s->value)});
      }
    }
    return Status::Invalid("unsupported parameter type");
  }

  // A reference value against the parameter's targets and :[type] modifier; fills the type of a
  // bare id when it can only be one.
  static Status CheckReference(const std::string& code, const std::vector<std::string>& targets,
                               const std::string& modifier_type, ReferenceTerm& ref) {
    if (ref.kind != ReferenceTerm::Kind::kLocal) {
      if (!modifier_type.empty()) {
        // R4 3.1.1.4.12: the [type] modifier can't be used with a reference to another server.
        return Status::Invalid("a resource type modifier (:" + modifier_type + ") takes an id or " +
                               modifier_type + "/[id], not a URL");
      }
      return Status::Ok();
    }
    if (ref.type.empty()) {
      if (!modifier_type.empty()) {
        ref.type = modifier_type;
      } else if (targets.size() == 1) {
        ref.type = targets[0];
      }
      return Status::Ok();
    }
    if (!modifier_type.empty() && ref.type != modifier_type) {
      return Status::Invalid("the value names " + ref.type + " but the modifier says " +
                             modifier_type);
    }
    if (!targets.empty() && !Contains(targets, ref.type)) {
      return Status::Invalid("'" + code + "' cannot refer to " + ref.type + " (its targets are " +
                             Join(targets) + ")");
    }
    return Status::Ok();
  }

  Result<Term> ParseComposite(const Criterion& c, std::string_view text) {
    const std::vector<std::string_view> parts = internal::SplitUnescaped(text, '$');
    if (parts.size() != c.components.size()) {
      return Status::Invalid("'" + c.code + "' takes " + std::to_string(c.components.size()) +
                             " values joined by '$', not " + std::to_string(parts.size()));
    }
    CompositeTerm composite;
    for (size_t k = 0; k < parts.size(); ++k) {
      const SearchParamDef& def = *c.components[k].def;
      if (parts[k].empty()) {
        return Status::Invalid("component " + std::to_string(k + 1) + " (" +
                               std::string(def.code()) + ") is empty");
      }
      Result<ComponentTerm> term = ParseComponent(def, parts[k]);
      if (!term.ok()) {
        return Status::Invalid("component " + std::to_string(k + 1) + " (" +
                               std::string(def.code()) + "): " + term.status().message());
      }
      composite.components.push_back(std::move(*term));
    }
    return Term(std::move(composite));
  }

  static Result<ComponentTerm> ParseComponent(const SearchParamDef& def, std::string_view text) {
    using T = SearchParamType;
    auto wrap = [](auto result) -> Result<ComponentTerm> {
      if (!result.ok()) return result.take_status();
      return ComponentTerm(std::move(*result));
    };
    switch (def.type()) {
      case T::kNumber:
        return wrap(internal::ParseNumberTerm(text));
      case T::kDate:
        return wrap(internal::ParseDateTerm(text));
      case T::kString:
        return wrap(internal::ParseStringTerm(text));
      case T::kToken:
        return wrap(internal::ParseTokenTerm(text));
      case T::kQuantity:
        return wrap(internal::ParseQuantityTerm(text));
      case T::kUri:
        return wrap(internal::ParseUriTerm(text));
      case T::kReference: {
        Result<ReferenceTerm> ref = internal::ParseReferenceTerm(text);
        if (!ref.ok()) return ref.take_status();
        std::vector<const SearchParamDef*> defs = {&def};
        Status s = CheckReference(std::string(def.code()), UnionTargets(defs), "", *ref);
        if (!s.ok()) return s;
        return ComponentTerm(std::move(*ref));
      }
      case T::kComposite:
      case T::kSpecial:
        break;
    }
    return Status::Invalid("a " + std::string(fhir::ToString(def.type())) +
                           " parameter cannot be a composite's component");
  }

  // ---- _type and _list ----

  void BindType(const ParsedParam& p) {
    if (!NoModifier(p) || p.value.empty() || !Once(p, type_seen_)) return;
    std::optional<std::vector<std::string>> items = Items(p);
    if (!items) return;
    std::vector<std::string> types;
    for (std::string& type : *items) {
      if (!fhir::IsResourceType(type)) {
        Fail(p, "value", "'" + type + "' is not a resource type");
        return;
      }
      if (!scope_.empty() && !Contains(scope_, type)) {
        Fail(p, "invalid", "the search is over " + Join(scope_) + " only");
        return;
      }
      if (!Contains(types, type)) types.push_back(std::move(type));
    }
    if (types.empty()) return;
    std::sort(types.begin(), types.end());
    scope_ = std::move(types);
  }

  void BindList(const ParsedParam& p) {
    if (!NoModifier(p)) return;
    std::optional<std::vector<std::string>> items = Items(p);
    if (!items) return;
    Criterion c;
    c.scope = scope_;
    c.code = "_list";
    c.type = SearchParamType::kSpecial;
    for (std::string& item : *items) c.terms.push_back(SpecialTerm{std::move(item)});
    if (c.terms.empty()) return Fail(p, "value", "no value");
    query_.criteria.push_back(std::move(c));
    Applied(p);
  }

  // ---- Result parameters ----

  void BindCount(const ParsedParam& p) {
    if (!NoModifier(p) || !Once(p, count_seen_)) return;
    const std::string& v = p.value;
    if (v.empty() ||
        !std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return Fail(p, "value", "_count must be a non-negative integer");
    }
    // Anything longer than 9 digits is past any max_count; no overflow to care about.
    const int64_t n = v.size() > 9 ? INT64_MAX : std::stoll(v);
    query_.count = static_cast<int>(std::min<int64_t>(n, std::max(options_.max_count, 0)));
    query_.count_given = true;
    Applied(p);
  }

  void BindTotal(const ParsedParam& p) {
    if (!NoModifier(p) || !Once(p, total_seen_)) return;
    static constexpr std::pair<std::string_view, TotalMode> kModes[] = {
        {"none", TotalMode::kNone},
        {"estimate", TotalMode::kEstimate},
        {"accurate", TotalMode::kAccurate},
    };
    for (const auto& [name, mode] : kModes) {
      if (p.value == name) {
        query_.total = mode;
        return Applied(p);
      }
    }
    Fail(p, "value", "_total takes none, estimate or accurate");
  }

  void BindSummary(const ParsedParam& p) {
    if (!NoModifier(p) || !Once(p, summary_seen_)) return;
    static constexpr std::pair<std::string_view, SummaryMode> kModes[] = {
        {"true", SummaryMode::kTrue},   {"text", SummaryMode::kText},
        {"data", SummaryMode::kData},   {"count", SummaryMode::kCount},
        {"false", SummaryMode::kFalse},
    };
    for (const auto& [name, mode] : kModes) {
      if (p.value == name) {
        query_.summary = mode;
        return Applied(p);
      }
    }
    Fail(p, "value", "_summary takes true, text, data, count or false");
  }

  void BindElements(const ParsedParam& p) {
    if (!NoModifier(p)) return;
    std::optional<std::vector<std::string>> items = Items(p);
    if (!items) return;
    std::vector<std::string> unknown;
    for (std::string& name : *items) {
      if (name.find('.') != std::string::npos) {
        return Fail(p, "value",
                    "'" + name + "': _elements takes top-level element names (R4 3.1.1.5.9)");
      }
      if (!ElementExists(name)) {
        unknown.push_back(name);
        continue;
      }
      if (!Contains(query_.elements, name)) query_.elements.push_back(std::move(name));
    }
    if (!unknown.empty()) {
      return Fail(p, "value",
                  "unknown element" + std::string(unknown.size() > 1 ? "s " : " ") + Join(unknown) +
                      " for " + ScopeName(scope_));
    }
    Applied(p);
  }

  bool ElementExists(std::string_view name) const {
    if (scope_.empty()) {
      for (const fhir::TypeDef& type : fhir::ResourceTypes()) {
        if (HasTopLevelElement(type, name)) return true;
      }
      return false;
    }
    for (const std::string& type_name : scope_) {
      const fhir::TypeDef* type = fhir::FindType(type_name);
      if (type != nullptr && HasTopLevelElement(*type, name)) return true;
    }
    return false;
  }

  void BindSort(const ParsedParam& p) {
    if (!p.path[0].modifier.empty()) {
      return Fail(p, "invalid",
                  "_sort takes no modifier; prefix a key with '-' to sort in descending order");
    }
    std::optional<std::vector<std::string>> items = Items(p);
    if (!items) return;
    std::vector<SortKey> keys;
    for (std::string& item : *items) {
      SortKey key;
      std::string_view code = item;
      if (code.starts_with('-')) {
        key.descending = true;
        code.remove_prefix(1);
      }
      if (code.empty()) return Fail(p, "value", "'-' needs a parameter name after it");
      Lookup found = Find(scope_, code);
      if (found.defs.empty() || !found.missing_on.empty()) {
        return Fail(p, "invalid",
                    "cannot sort by '" + std::string(code) + "': not a search parameter of " +
                        (found.missing_on.empty() ? ScopeName(scope_) : Join(found.missing_on)));
      }
      key.code = std::string(code);
      key.type = found.defs[0]->type();
      for (const SearchParamDef* def : found.defs) {
        if (def->type() != key.type) {
          return Fail(p, "invalid",
                      "cannot sort by '" + key.code + "': it has different types across " +
                          ScopeName(scope_));
        }
      }
      if (std::any_of(found.defs.begin(), found.defs.end(),
                      [](const SearchParamDef* d) { return d->expression().empty(); })) {
        // _text, _content, _query: no element to take a value from.
        return Fail(p, "invalid", "cannot sort by '" + key.code + "': it has no value to sort on");
      }
      if (!IsSortable(key.type)) {
        return Fail(p, "invalid",
                    "cannot sort by '" + key.code + "': " + std::string(fhir::ToString(key.type)) +
                        " parameters are not sortable");
      }
      key.defs = std::move(found.defs);
      keys.push_back(std::move(key));
    }
    for (SortKey& key : keys) query_.sort.push_back(std::move(key));
    Applied(p);
  }

  void BindInclude(const ParsedParam& p) {
    Include include;
    include.reverse = p.path[0].code == "_revinclude";
    const std::string& modifier = p.path[0].modifier;
    if (modifier == "iterate" || modifier == "recurse") {  // recurse: R3's name for iterate
      include.iterate = true;
    } else if (!modifier.empty()) {
      return Fail(
          p, "invalid",
          "modifier ':" + modifier + "' is not allowed on " + p.path[0].code + " (only :iterate)");
    }
    if (p.alternatives.size() > 1) {
      return Fail(
          p, "invalid",
          p.path[0].code + " takes one value; repeat the parameter for more (R4 3.1.1.5.4)");
    }
    const std::string& v = p.value;
    if (v == "*") {
      include.param = "*";
      query_.includes.push_back(std::move(include));
      return Applied(p);
    }
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      const size_t colon = v.find(':', start);
      parts.push_back(v.substr(start, colon == std::string::npos ? colon : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    if (parts.size() < 2 || parts.size() > 3) {
      return Fail(p, "value",
                  "expected [type]:[parameter], [type]:[parameter]:[target type], "
                  "[type]:* or *");
    }
    include.source_type = parts[0];
    include.param = parts[1];
    if (!fhir::IsResourceType(include.source_type)) {
      return Fail(p, "value", "'" + include.source_type + "' is not a resource type");
    }
    std::vector<std::string> targets;
    if (include.param == "*") {
      if (parts.size() == 3) {
        return Fail(p, "value", "a wildcard include takes no target type");
      }
    } else {
      include.def = fhir::FindSearchParam(include.source_type, include.param);
      if (include.def == nullptr) {
        return Fail(p, "value",
                    include.source_type + " has no search parameter '" + include.param + "'");
      }
      if (include.def->type() != SearchParamType::kReference) {
        return Fail(p, "value",
                    "'" + include.param + "' is a " +
                        std::string(fhir::ToString(include.def->type())) +
                        " parameter; only reference parameters can be included");
      }
      targets = UnionTargets({include.def});
      if (parts.size() == 3) {
        include.target_type = parts[2];
        if (!fhir::IsResourceType(include.target_type)) {
          return Fail(p, "value", "'" + include.target_type + "' is not a resource type");
        }
        if (!targets.empty() && !Contains(targets, include.target_type)) {
          return Fail(p, "value",
                      include.source_type + " '" + include.param + "' cannot refer to " +
                          include.target_type + " (its targets are " + Join(targets) + ")");
        }
      }
    }
    // Without :iterate the join starts (or, reversed, ends) at the matches: a type outside the
    // search can never take part.
    if (!include.iterate && !scope_.empty()) {
      if (!include.reverse && !Contains(scope_, include.source_type)) {
        return Fail(p, "invalid",
                    include.source_type + " is not among the types searched (" + Join(scope_) +
                        "); use _include:iterate to follow included resources");
      }
      if (include.reverse && include.param != "*") {
        const bool reaches = !include.target_type.empty()
                                 ? Contains(scope_, include.target_type)
                                 : targets.empty() || std::any_of(scope_.begin(), scope_.end(),
                                                                  [&](const std::string& t) {
                                                                    return Contains(targets, t);
                                                                  });
        if (!reaches) {
          return Fail(p, "invalid",
                      include.source_type + " '" + include.param + "' cannot refer to " +
                          ScopeName(scope_));
        }
      }
    }
    query_.includes.push_back(std::move(include));
    Applied(p);
  }

  void BindContained(const ParsedParam& p) {
    if (!NoModifier(p) || !Once(p, contained_seen_)) return;
    if (p.value == "false") {
      query_.contained = ContainedMode::kFalse;
    } else if (p.value == "true") {
      query_.contained = ContainedMode::kTrue;
    } else if (p.value == "both") {
      query_.contained = ContainedMode::kBoth;
    } else {
      return Fail(p, "value", "_contained takes false, true or both");
    }
    Applied(p);
  }

  void BindContainedType(const ParsedParam& p) {
    if (!NoModifier(p) || !Once(p, contained_type_seen_)) return;
    if (p.value == "container") {
      query_.contained_type = ContainedType::kContainer;
    } else if (p.value == "contained") {
      query_.contained_type = ContainedType::kContained;
    } else {
      return Fail(p, "value", "_containedType takes container or contained");
    }
    Applied(p);
  }

  void BindCursor(const ParsedParam& p) {
    if (!NoModifier(p) || !Once(p, cursor_seen_)) return;
    query_.cursor = p.value;
    Applied(p);
  }

  const QueryOptions& options_;
  std::vector<std::string> scope_;
  Query query_;
  std::vector<Issue> issues_;
  bool type_seen_ = false;
  bool count_seen_ = false;
  bool total_seen_ = false;
  bool summary_seen_ = false;
  bool contained_seen_ = false;
  bool contained_type_seen_ = false;
  bool cursor_seen_ = false;
};

}  // namespace

Result<Query> Bind(ParsedRequest request, const std::vector<std::string>& types,
                   const QueryOptions& options) {
  Binder binder(options);
  return binder.Run(std::move(request), types);
}

}  // namespace kiln::search
