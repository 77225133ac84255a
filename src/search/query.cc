// Stage 1 (Parse), the enum names and the debug forms of the query AST. Stage 2 (Bind) is in
// query_bind.cc; the value parsers in query_values.cc.
#include "search/query.h"

#include <sstream>

#include "core/strings.h"
#include "search/query_values.h"

namespace kiln::search {
namespace {

using internal::Escape;
using internal::FormatMicros;

// Reads one parameter name into segments (see NameSegment).
Result<std::vector<NameSegment>> ParseName(std::string_view name) {
  std::vector<NameSegment> path;
  std::string_view rest = name;
  auto fail = [&](std::string problem) {
    std::string diagnostics = "'";
    diagnostics += name;
    diagnostics += "' is not a valid parameter name: " + problem;
    return Status(ErrorCode::kInvalid, "invalid", std::move(diagnostics));
  };
  while (true) {
    if (rest.starts_with("_has:")) {
      // _has:[type]:[parameter]:[what follows, itself a parameter name]
      rest.remove_prefix(5);
      const size_t c1 = rest.find(':');
      const size_t c2 = c1 == std::string_view::npos ? c1 : rest.find(':', c1 + 1);
      if (c2 == std::string_view::npos || c1 == 0 || c2 == c1 + 1 || c2 + 1 == rest.size()) {
        return fail("_has takes the form _has:[type]:[reference parameter]:[parameter]");
      }
      NameSegment has;
      has.code = "_has";
      has.has_type = std::string(rest.substr(0, c1));
      has.has_param = std::string(rest.substr(c1 + 1, c2 - c1 - 1));
      path.push_back(std::move(has));
      rest.remove_prefix(c2 + 1);
      continue;
    }
    const size_t dot = rest.find('.');
    const std::string_view link = rest.substr(0, dot);
    const size_t colon = link.find(':');
    NameSegment segment;
    segment.code = std::string(link.substr(0, colon));
    if (colon != std::string_view::npos) segment.modifier = std::string(link.substr(colon + 1));
    if (segment.code.empty()) return fail(path.empty() ? "empty name" : "empty chain link");
    if (colon != std::string_view::npos && segment.modifier.empty()) return fail("empty modifier");
    if (segment.code == "_has") {
      return fail("_has takes the form _has:[type]:[reference parameter]:[parameter]");
    }
    path.push_back(std::move(segment));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
    if (rest.empty()) return fail("empty chain link");
  }
  return path;
}

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::string OrderedText(Prefix prefix, const Decimal& value, const Decimal& low,
                        const Decimal& high) {
  return std::string(ToString(prefix)) + " " + value.ToString() + " [" + low.ToPlainString() + "," +
         high.ToPlainString() + ")";
}

std::string FormatDouble(double value) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << value;
  return out.str();
}

struct TermPrinter {
  std::string operator()(const NumberTerm& t) const {
    return OrderedText(t.prefix, t.value, t.low, t.high);
  }
  std::string operator()(const DateTerm& t) const {
    return std::string(ToString(t.prefix)) + " " + t.text + " [" + FormatMicros(t.low) + "," +
           FormatMicros(t.high) + ")";
  }
  std::string operator()(const StringTerm& t) const { return core::JsonQuote(t.value); }
  std::string operator()(const TokenTerm& t) const {
    std::string out;
    if (t.system) out += Escape(*t.system) + "|";
    if (t.code) out += Escape(*t.code);
    return out;
  }
  std::string operator()(const IdentifierTypeTerm& t) const {
    return Escape(t.type_system) + "|" + Escape(t.type_code) + "|" + Escape(t.value);
  }
  std::string operator()(const QuantityTerm& t) const {
    std::string out = OrderedText(t.prefix, t.value, t.low, t.high);
    if (t.system) {
      out += ' ';
      out += Escape(*t.system) + "|" + Escape(t.code);
    } else if (!t.code.empty()) {
      out += " ||";
      out += Escape(t.code);
    }
    return out;
  }
  std::string operator()(const ReferenceTerm& t) const {
    switch (t.kind) {
      case ReferenceTerm::Kind::kLocal: {
        std::string out = t.type.empty() ? t.id : t.type + "/" + t.id;
        if (!t.version.empty()) out += "/_history/" + t.version;
        return out;
      }
      case ReferenceTerm::Kind::kUrl:
        return Escape(t.url);
      case ReferenceTerm::Kind::kCanonical:
        return Escape(t.url) + "|" + Escape(t.version);
    }
    return "";
  }
  std::string operator()(const UriTerm& t) const {
    return t.version ? Escape(t.uri) + "|" + Escape(*t.version) : Escape(t.uri);
  }
  std::string operator()(const CompositeTerm& t) const {
    std::string out;
    for (size_t i = 0; i < t.components.size(); ++i) {
      if (i > 0) out += '$';
      out += ToDebugString(t.components[i]);
    }
    return out;
  }
  std::string operator()(const NearTerm& t) const {
    std::string out = FormatDouble(t.latitude) + "|" + FormatDouble(t.longitude);
    if (t.distance) out += "|" + t.distance->ToString() + "|" + Escape(t.units);
    return out;
  }
  std::string operator()(const SpecialTerm& t) const { return core::JsonQuote(t.text); }
};

std::string ModifierText(const Criterion& c) {
  if (c.modifier == Modifier::kNone) return "";
  if (c.modifier == Modifier::kType) return ":" + c.modifier_type;
  std::string out = ":";
  out += ToString(c.modifier);
  return out;
}

}  // namespace

// The enums' names, indexed by their values (declaration order).

std::string_view ToString(Prefix prefix) {
  static constexpr std::string_view kNames[] = {"eq", "ne", "gt", "lt", "ge",
                                                "le", "sa", "eb", "ap"};
  return kNames[static_cast<size_t>(prefix)];
}

std::string_view ToString(Modifier modifier) {
  static constexpr std::string_view kNames[] = {
      "",      "missing", "exact",  "contains", "text",       "not",    "above",
      "below", "in",      "not-in", "of-type",  "identifier", "[type]",
  };
  return kNames[static_cast<size_t>(modifier)];
}

std::string_view ToString(DatePrecision precision) {
  static constexpr std::string_view kNames[] = {"year",   "month",  "day",
                                                "minute", "second", "fraction"};
  return kNames[static_cast<size_t>(precision)];
}

std::string_view ToString(TotalMode mode) {
  static constexpr std::string_view kNames[] = {"", "none", "estimate", "accurate"};
  return kNames[static_cast<size_t>(mode)];
}

std::string_view ToString(SummaryMode mode) {
  static constexpr std::string_view kNames[] = {"", "true", "text", "data", "count", "false"};
  return kNames[static_cast<size_t>(mode)];
}

std::string_view ToString(ContainedMode mode) {
  static constexpr std::string_view kNames[] = {"false", "true", "both"};
  return kNames[static_cast<size_t>(mode)];
}

std::string_view ToString(ContainedType type) {
  static constexpr std::string_view kNames[] = {"container", "contained"};
  return kNames[static_cast<size_t>(type)];
}

Issue IgnoredParam::ToIssue() const {
  return Issue{Severity::kWarning, issue_code, "Parameter '" + name + "' was ignored: " + reason,
               ""};
}

Result<ParsedRequest> Parse(const SearchParams& params) {
  ParsedRequest request;
  std::vector<Issue> issues;
  request.params.reserve(params.size());
  for (const auto& [name, value] : params) {
    Result<std::vector<NameSegment>> path = ParseName(name);
    if (!path.ok()) {
      for (const Issue& issue : path.status().issues()) issues.push_back(issue);
      continue;
    }
    ParsedParam param;
    param.name = name;
    param.value = value;
    param.path = std::move(*path);
    if (!value.empty()) {
      for (std::string_view alt : internal::SplitUnescaped(value, ',')) {
        param.alternatives.emplace_back(alt);
      }
    }
    request.params.push_back(std::move(param));
  }
  if (!issues.empty()) return Status(ErrorCode::kInvalid, std::move(issues));
  return request;
}

Result<Query> ParseQuery(const std::vector<std::string>& types, const SearchParams& params,
                         const QueryOptions& options) {
  Result<ParsedRequest> parsed = Parse(params);
  if (!parsed.ok()) return parsed.take_status();
  return Bind(std::move(*parsed), types, options);
}

std::string ToDebugString(const Term& term) { return std::visit(TermPrinter{}, term); }

std::string ToDebugString(const ComponentTerm& term) { return std::visit(TermPrinter{}, term); }

std::string ToDebugString(const Criterion& c) {
  std::string out = "(";
  switch (c.kind) {
    case Criterion::Kind::kMatch: {
      out += fhir::ToString(c.type);
      out += " " + c.code + ModifierText(c);
      for (size_t i = 0; i < c.terms.size(); ++i) {
        out += i == 0 ? " " : " OR ";
        out += ToDebugString(c.terms[i]);
      }
      break;
    }
    case Criterion::Kind::kMissing:
      out += fhir::ToString(c.type);
      out += " " + c.code + ":missing " + (c.missing ? "true" : "false");
      break;
    case Criterion::Kind::kChain:
      out += "chain " + c.code + ModifierText(c);
      for (size_t i = 0; i < c.next.size(); ++i) {
        out += i == 0 ? " " : " | ";
        out += '[';
        out += Join(c.next[i].scope, ",");
        out += "] ";
        out += ToDebugString(c.next[i]);
      }
      break;
    case Criterion::Kind::kHas:
      out += "has " + c.has_type + ":" + c.code;
      if (!c.next.empty()) {
        out += ' ';
        out += ToDebugString(c.next[0]);
      }
      break;
  }
  out += ")";
  return out;
}

std::string ToDebugString(const Include& include) {
  std::string out = include.reverse ? "_revinclude" : "_include";
  if (include.iterate) out += ":iterate";
  out += "=";
  if (!include.source_type.empty()) out += include.source_type + ":";
  out += include.param;
  if (!include.target_type.empty()) out += ":" + include.target_type;
  return out;
}

std::string ToDebugString(const Query& query) {
  std::string out = query.types.empty() ? "*" : Join(query.types, ",");
  if (query.compartment) {
    out += " in " + query.compartment->type + "/" + query.compartment->id;
  }
  for (const Criterion& c : query.criteria) {
    out += ' ';
    out += ToDebugString(c);
  }
  if (!query.sort.empty()) {
    out += " _sort=";
    for (size_t i = 0; i < query.sort.size(); ++i) {
      if (i > 0) out += ",";
      if (query.sort[i].descending) out += "-";
      out += query.sort[i].code;
    }
  }
  out += " _count=";
  out += std::to_string(query.count);
  if (query.total != TotalMode::kUnspecified) {
    out += " _total=";
    out += ToString(query.total);
  }
  if (query.summary != SummaryMode::kUnspecified) {
    out += " _summary=";
    out += ToString(query.summary);
  }
  if (!query.elements.empty()) {
    out += " _elements=";
    out += Join(query.elements, ",");
  }
  for (const Include& include : query.includes) {
    out += ' ';
    out += ToDebugString(include);
  }
  if (query.contained != ContainedMode::kFalse) {
    out += " _contained=";
    out += ToString(query.contained);
  }
  if (query.contained_type != ContainedType::kContainer) {
    out += " _containedType=";
    out += ToString(query.contained_type);
  }
  if (!query.cursor.empty()) out += " _cursor=" + query.cursor;
  if (!query.ignored.empty()) {
    std::vector<std::string> names;
    for (const IgnoredParam& p : query.ignored) names.push_back(p.name);
    out += " ignored=[";
    out += Join(names, ",");
    out += "]";
  }
  return out;
}

}  // namespace kiln::search
