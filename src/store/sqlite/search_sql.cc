#include "store/sqlite/search_sql.h"

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/terminology.h"
#include "search/index.h"
#include "store/sqlite/method_code.h"

namespace kiln::store::sqlite {
namespace {

using search::Criterion;
using search::Modifier;
using search::Prefix;
using ParamType = fhir::SearchParamType;

constexpr const char* kUcumSystem = "http://unitsofmeasure.org";

// A value bound to a statement parameter.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

// The statement parameters of one search, numbered in the order they are added (?1, ?2, ...).
// The page and count statements share the numbering; each binds only the numbers it uses.
class Params {
 public:
  std::string Add(SqlValue value) {
    values_.push_back(std::move(value));
    return "?" + std::to_string(values_.size());
  }
  std::string Text(std::string text) { return Add(SqlValue(std::move(text))); }
  std::string Int(int64_t value) { return Add(SqlValue(value)); }
  std::string Real(double value) { return Add(SqlValue(value)); }

  // Binds every parameter `stmt` has; the values outlive the statement's use.
  void BindTo(sqlite3_stmt* stmt) const {
    int count = sqlite3_bind_parameter_count(stmt);
    for (int i = 1; i <= count && i <= static_cast<int>(values_.size()); ++i) {
      const SqlValue& value = values_[static_cast<size_t>(i - 1)];
      if (const auto* n = std::get_if<int64_t>(&value)) {
        sqlite3_bind_int64(stmt, i, *n);
      } else if (const auto* d = std::get_if<double>(&value)) {
        sqlite3_bind_double(stmt, i, *d);
      } else if (const auto* s = std::get_if<std::string>(&value)) {
        BindText(stmt, i, *s);
      } else {
        sqlite3_bind_null(stmt, i);
      }
    }
  }

 private:
  std::vector<SqlValue> values_;
};

Status NotImplemented(const std::string& what) {
  return Status(ErrorCode::kNotImplemented, "not-supported", what);
}

Status Unsupported(const Criterion& c, const std::string& what) {
  return NotImplemented("search parameter '" + c.code + "': " + what +
                        " is not supported by this store yet");
}

// The smallest string greater than every string that starts with `prefix` (byte order), or
// nullopt when there is none (empty or all 0xFF bytes).
std::optional<std::string> PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (prefix.empty()) return std::nullopt;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

// `column` starts with `prefix` (byte-wise), as an index-friendly range.
std::string StartsWith(Params& p, const std::string& column, const std::string& prefix) {
  std::string sql = column + " >= " + p.Text(prefix);
  if (std::optional<std::string> end = PrefixEnd(prefix))
    sql += " AND " + column + " < " + p.Text(*end);
  return sql;
}

const char* TableFor(ParamType type) {
  switch (type) {
    case ParamType::kString:
      return "idx_string";
    case ParamType::kToken:
      return "idx_token";
    case ParamType::kDate:
      return "idx_date";
    case ParamType::kNumber:
      return "idx_number";
    case ParamType::kQuantity:
      return "idx_quantity";
    case ParamType::kReference:
      return "idx_reference";
    case ParamType::kUri:
      return "idx_uri";
    case ParamType::kComposite:
    case ParamType::kSpecial:
      break;
  }
  return nullptr;
}

// The index rows (alias `rows`) of the resource whose rid is `rid`: a range of the table's key,
// rid << 20 | n (schema migration 3).
std::string RowsOf(const std::string& rows, const std::string& rid) {
  return rows + ".key BETWEEN " + rid + " << 20 AND (" + rid + " << 20) + 1048575";
}

// `column` (an index row's param) names criterion `code`'s rows: its own, or for a union parameter
// (search::UnionMembers, e.g. combo-code) its members' rows, which hold the same values.
std::string ParamIs(Params& p, const std::string& column, const std::string& code) {
  const std::vector<std::string>& members = search::UnionMembers(code);
  if (members.empty()) return column + " = " + p.Text(code);
  std::string sql = column + " IN (";
  for (size_t i = 0; i < members.size(); ++i) sql += (i > 0 ? ", " : "") + p.Text(members[i]);
  return sql + ")";
}

// ---- term conditions (SQL over one index table's row) ----

// R4 prefix semantics between the search range [ql, qh) and the indexed range [low, high).
std::string DateCondition(Params& p, Prefix prefix, int64_t ql_value, int64_t qh_value) {
  std::string ql = p.Int(ql_value);
  std::string qh = p.Int(qh_value);
  switch (prefix) {
    case Prefix::kEq:
      return "low >= " + ql + " AND high <= " + qh;
    case Prefix::kNe:
      return "(low < " + ql + " OR high > " + qh + ")";
    case Prefix::kGt:
      return "high > " + qh;
    case Prefix::kLt:
      return "low < " + ql;
    case Prefix::kGe:
      return "(high > " + qh + " OR (low >= " + ql + " AND high <= " + qh + "))";
    case Prefix::kLe:
      return "(low < " + ql + " OR (low >= " + ql + " AND high <= " + qh + "))";
    case Prefix::kSa:
      return "low >= " + qh;
    case Prefix::kEb:
      return "high <= " + ql;
    case Prefix::kAp:
      return "low < " + qh + " AND high > " + ql;  // overlaps
  }
  return "0";
}

// DateCondition for an instant t, the range [t, t + 1) in microseconds, written on t alone so that
// an index on the column serves it: e.g. gt, "t + 1 > qh", is "t >= qh".
std::string InstantCondition(Params& p, Prefix prefix, int64_t ql_value, int64_t qh_value,
                             const std::string& t) {
  std::string ql = p.Int(ql_value);
  std::string qh = p.Int(qh_value);
  switch (prefix) {
    case Prefix::kEq:
    case Prefix::kAp:
      return t + " >= " + ql + " AND " + t + " < " + qh;
    case Prefix::kNe:
      return "(" + t + " < " + ql + " OR " + t + " >= " + qh + ")";
    case Prefix::kGt:
    case Prefix::kSa:
      return t + " >= " + qh;
    case Prefix::kLt:
    case Prefix::kEb:
      return t + " < " + ql;
    case Prefix::kGe:
      return t + " >= " + ql;
    case Prefix::kLe:
      return t + " < " + qh;
  }
  return "0";
}

// Number and quantity: a row has a value (and its implicit range) or, for a Range, only
// [low, high). eq/ne use the search value's implicit range [ql, qh) (a value inside it, or a Range
// inside it); the other prefixes compare with the value itself. `scale` converts to the columns'
// unit.
struct NumberColumns {
  std::string value = "value";
  std::string low = "low";
  std::string high = "high";
};
std::string NumberCondition(Params& p, const NumberColumns& c, Prefix prefix, double v, double ql,
                            double qh) {
  std::string lo = "coalesce(" + c.value + ", " + c.low + ")";
  std::string hi = "coalesce(" + c.value + ", " + c.high + ")";
  auto eq = [&] {
    std::string l = p.Real(ql);
    std::string h = p.Real(qh);
    return "((" + c.value + " IS NOT NULL AND " + c.value + " >= " + l + " AND " + c.value + " < " +
           h + ") OR (" + c.value + " IS NULL AND " + c.low + " >= " + l + " AND " + c.high +
           " <= " + h + "))";
  };
  switch (prefix) {
    case Prefix::kEq:
      return eq();
    case Prefix::kNe:
      return "NOT " + eq();
    case Prefix::kGt:
      return hi + " > " + p.Real(v);
    case Prefix::kLt:
      return lo + " < " + p.Real(v);
    case Prefix::kGe:
      return hi + " >= " + p.Real(v);
    case Prefix::kLe:
      return lo + " <= " + p.Real(v);
    case Prefix::kSa:
      return lo + " > " + p.Real(v);
    case Prefix::kEb:
      return hi + " < " + p.Real(v);
    case Prefix::kAp: {
      double d = std::fabs(v) * 0.1;  // R4 suggests 10%
      return lo + " <= " + p.Real(v + d) + " AND " + hi + " >= " + p.Real(v - d);
    }
  }
  return "0";
}

std::string QuantityCondition(Params& p, const search::QuantityTerm& t) {
  double v = t.value.ToDouble();
  double ql = t.low.ToDouble();
  double qh = t.high.ToDouble();
  std::string raw = NumberCondition(p, NumberColumns{}, t.prefix, v, ql, qh);
  if (!t.system && t.code.empty()) return raw;  // no unit: any unit
  std::string unit;
  if (!t.system) {
    std::string code = p.Text(t.code);
    unit = "(code = " + code + " OR unit = " + code + ")";
  } else {
    unit = "system = " + p.Text(*t.system);
    if (!t.code.empty()) unit += " AND code = " + p.Text(t.code);
  }
  std::string sql = "(" + unit + " AND " + raw + ")";
  // A UCUM unit with a known factor also matches values in other units of its dimension.
  if (!t.code.empty() && (!t.system || *t.system == kUcumSystem)) {
    if (std::optional<search::UcumCanonical> canonical = search::CanonicalUcumUnit(t.code)) {
      double f = canonical->factor;
      NumberColumns columns{"canonical_value", "canonical_low", "canonical_high"};
      sql = "(" + sql + " OR (canonical_code = " + p.Text(std::string(canonical->code)) + " AND " +
            NumberCondition(p, columns, t.prefix, v * f, ql * f, qh * f) + "))";
    }
  }
  return sql;
}

std::string TokenCondition(Params& p, const search::TokenTerm& t) {
  std::string sql;
  if (t.code) sql = "code = " + p.Text(*t.code);
  if (t.system) {
    if (!sql.empty()) sql += " AND ";
    sql += "system = " + p.Text(*t.system);
  }
  return sql.empty() ? "1" : sql;
}

std::string ReferenceCondition(Params& p, const search::ReferenceTerm& t, const Criterion& c) {
  using Kind = search::ReferenceTerm::Kind;
  std::string sql;
  switch (t.kind) {
    case Kind::kLocal:
      sql = "kind = " + std::to_string(static_cast<int>(search::ReferenceKind::kLocal)) +
            " AND id = " + p.Text(t.id);
      if (!t.type.empty()) sql += " AND type = " + p.Text(t.type);
      if (!t.version.empty()) sql += " AND version = " + p.Text(t.version);
      break;
    // `kind <> 0` as written in the partial index idx_reference_by_url (schema migration 5), so
    // SQLite may use it: local references are not in it (their url is only "Type/id" again).
    case Kind::kUrl:
      sql = "kind <> 0 AND url = " + p.Text(t.url);
      break;
    case Kind::kCanonical:
      sql = "kind <> 0 AND url = " + p.Text(t.url) + " AND version = " + p.Text(t.version);
      break;
  }
  if (c.modifier == Modifier::kType && t.kind != Kind::kLocal) {
    sql += " AND type = " + p.Text(c.modifier_type);
  }
  return sql;
}

// token :in / :not-in (the criterion negates :not-in): the row's system and code are one of the
// value set's codes. The value sets known to Kiln are the required-binding ones expanded at build
// time (fhir/terminology.h); others are a 501 naming the value set.
Result<std::string> InValueSet(Params& p, const Criterion& c, const search::UriTerm& t) {
  std::optional<std::vector<fhir::SystemCode>> codes = fhir::ExpandValueSet(t.uri);
  if (!codes) {
    return NotImplemented("search parameter '" + c.code + "': the value set " + t.uri +
                          " is not one this server can expand (only the R4 required-binding "
                          "value sets are known)");
  }
  if (codes->empty()) return std::string("0");
  std::string sql = "(system, code) IN (VALUES ";
  for (size_t i = 0; i < codes->size(); ++i) {
    if (i != 0) sql += ", ";
    sql += "(" + p.Text(std::string((*codes)[i].first)) + ", " +
           p.Text(std::string((*codes)[i].second)) + ")";
  }
  return sql + ")";
}

// token :below / :above (R4 search 3.1.1.4.9): the code, or any code below (above) it in its code
// system's hierarchy. Kiln holds the hierarchies of the code systems in the R4 package
// (fhir::Subsumed); others (SNOMED CT, LOINC, ...) are a 501 naming the system.
Result<std::string> Subsumption(Params& p, const Criterion& c, const search::TokenTerm& t) {
  const std::string modifier(search::ToString(c.modifier));
  if (!t.system || t.system->empty() || !t.code) {
    return Status(ErrorCode::kInvalid, "value",
                  c.code + ":" + modifier +
                      " needs system|code: subsumption is within one code "
                      "system",
                  c.code);
  }
  std::optional<std::vector<std::string_view>> codes =
      fhir::Subsumed(*t.system, *t.code, c.modifier == Modifier::kBelow);
  if (!codes) {
    return NotImplemented("search parameter '" + c.code + "': :" + modifier +
                          " needs the hierarchy of " + *t.system +
                          ", which this server does not hold (only the code systems of the R4 "
                          "package are known)");
  }
  std::string sql = "system = " + p.Text(*t.system) + " AND code IN (";
  for (size_t i = 0; i < codes->size(); ++i) {
    if (i != 0) sql += ", ";
    sql += p.Text(std::string((*codes)[i]));
  }
  return sql + ")";
}

// The condition on one index row for `term` of `c`, or a failed Status for what is unsupported.
Result<std::string> TermCondition(Params& p, const Criterion& c, const search::Term& term) {
  switch (c.type) {
    case ParamType::kString: {
      const auto* t = std::get_if<search::StringTerm>(&term);
      if (t == nullptr) break;
      std::string normalized = search::NormalizeString(t->value);
      switch (c.modifier) {
        case Modifier::kNone:
          return StartsWith(p, "normalized", normalized);
        case Modifier::kExact:
          // exact implies equal normalised forms, which the lookup index serves.
          return "normalized = " + p.Text(normalized) + " AND exact = " + p.Text(t->value);
        case Modifier::kContains:
          return "instr(normalized, " + p.Text(normalized) + ") > 0";
        default:
          break;
      }
      break;
    }
    case ParamType::kToken:
    case ParamType::kReference:
      if (c.type == ParamType::kReference && c.modifier != Modifier::kIdentifier) {
        const auto* t = std::get_if<search::ReferenceTerm>(&term);
        if (t == nullptr || (c.modifier != Modifier::kNone && c.modifier != Modifier::kType)) {
          break;
        }
        return ReferenceCondition(p, *t, c);
      }
      switch (c.modifier) {
        case Modifier::kNone:
        case Modifier::kNot:
        case Modifier::kIdentifier:
          if (const auto* t = std::get_if<search::TokenTerm>(&term)) return TokenCondition(p, *t);
          break;
        case Modifier::kText:
          if (const auto* t = std::get_if<search::StringTerm>(&term)) {
            return StartsWith(p, "text", search::NormalizeString(t->value));
          }
          break;
        case Modifier::kIn:
        case Modifier::kNotIn:
          if (const auto* t = std::get_if<search::UriTerm>(&term)) return InValueSet(p, c, *t);
          break;
        case Modifier::kAbove:
        case Modifier::kBelow:
          if (const auto* t = std::get_if<search::TokenTerm>(&term)) return Subsumption(p, c, *t);
          break;
        case Modifier::kOfType:
          if (const auto* t = std::get_if<search::IdentifierTypeTerm>(&term)) {
            return "type_system = " + p.Text(t->type_system) +
                   " AND type_code = " + p.Text(t->type_code) + " AND code = " + p.Text(t->value);
          }
          break;
        default:
          break;
      }
      break;
    case ParamType::kDate:
      if (const auto* t = std::get_if<search::DateTerm>(&term);
          t != nullptr && c.modifier == Modifier::kNone) {
        return DateCondition(p, t->prefix, t->low, t->high);
      }
      break;
    case ParamType::kNumber:
      if (const auto* t = std::get_if<search::NumberTerm>(&term);
          t != nullptr && c.modifier == Modifier::kNone) {
        return NumberCondition(p, NumberColumns{}, t->prefix, t->value.ToDouble(),
                               t->low.ToDouble(), t->high.ToDouble());
      }
      break;
    case ParamType::kQuantity:
      if (const auto* t = std::get_if<search::QuantityTerm>(&term);
          t != nullptr && c.modifier == Modifier::kNone) {
        return QuantityCondition(p, *t);
      }
      break;
    case ParamType::kUri:
      if (const auto* t = std::get_if<search::UriTerm>(&term)) {
        std::string uri = t->version ? t->uri + "|" + *t->version : t->uri;
        switch (c.modifier) {
          case Modifier::kNone:
            return "uri = " + p.Text(uri);
          case Modifier::kBelow:
            return StartsWith(p, "uri", uri);
          case Modifier::kAbove:
            // The stored URI is a prefix of the search value.
            return "substr(" + p.Text(uri) + ", 1, length(uri)) = uri";
          default:
            break;
        }
      }
      break;
    case ParamType::kComposite:
    case ParamType::kSpecial:
      break;
  }
  std::string modifier(search::ToString(c.modifier));
  return Unsupported(c,
                     modifier.empty() ? "this kind of search" : "the :" + modifier + " modifier");
}

// The FTS5 query for the text of a _text or _content value: every word of it must occur in the
// column, each as a word prefix ("pneumo" finds "pneumonia", as string search matches starts).
// Words are quoted, so FTS5 operators in the text are just words. nullopt: the text has no word.
std::optional<std::string> FullTextQuery(std::string_view column, std::string_view text) {
  std::string words;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!words.empty()) words += ' ';
    words += '"' + word + "\"*";
    word.clear();
  };
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    // Letters, digits and any UTF-8 byte: what unicode61 keeps in a token (it splits on
    // punctuation and spaces itself; a quote cannot appear inside `word`).
    if (std::isalnum(c) != 0 || c >= 0x80) {
      word.push_back(ch);
    } else {
      flush();
    }
  }
  flush();
  if (words.empty()) return std::nullopt;
  return "{" + std::string(column) + "} : (" + words + ")";
}

// _text (narrative) and _content (all text): R4 leaves the syntax to the server; Kiln takes the
// value's words, all required, as word prefixes, case- and accent-insensitive. Commas are OR.
Result<std::string> FullTextCondition(Params& p, const Criterion& c, const std::string& alias) {
  if (c.kind != Criterion::Kind::kMatch || c.modifier != Modifier::kNone) {
    return Unsupported(c, "modifiers on full-text search");
  }
  const std::string_view column = c.code == "_text" ? "narrative" : "content";
  std::string any;
  for (const search::Term& term : c.terms) {
    const auto* t = std::get_if<search::StringTerm>(&term);
    if (t == nullptr) return Unsupported(c, "this full-text value");
    std::optional<std::string> query = FullTextQuery(column, t->value);
    if (!query) continue;  // no word in it: matches nothing
    // One MATCH with FTS5's own OR: FTS5 cannot serve several MATCH constraints OR'ed in SQL.
    if (!any.empty()) any += " OR ";
    any += "(" + *query + ")";
  }
  if (any.empty()) return std::string("0");
  return alias + ".rid IN (SELECT rowid FROM idx_text WHERE idx_text MATCH " + p.Text(any) + ")";
}

// Kilometres in one `units` of a near distance (UCUM codes of length), or nullopt if unknown.
std::optional<double> KilometresPer(std::string_view units) {
  if (units == "km") return 1.0;
  if (units == "m") return 0.001;
  if (units == "[mi_i]" || units == "mi" || units == "[mi_us]") return 1.609344;
  if (units == "[nmi_i]") return 1.852;
  return std::nullopt;
}

// Location `near` (R4 search 3.1.1.5.8 and Location's near): the great-circle (haversine)
// distance from the point to Location.position is at most the distance given, 50 km when none is
// (R4 leaves it to the server). Positions are read from the current version's JSON: Locations are
// few next to clinical data, and this keeps WGS84 pairs out of the number index.
Result<std::string> NearCondition(Params& p, const Criterion& c, const std::string& alias) {
  if (c.kind != Criterion::Kind::kMatch || c.modifier != Modifier::kNone) {
    return Unsupported(c, "modifiers on near");
  }
  std::string any;
  for (const search::Term& term : c.terms) {
    const auto* t = std::get_if<search::NearTerm>(&term);
    if (t == nullptr) return Unsupported(c, "this near value");
    std::optional<double> per_km = KilometresPer(t->units);
    if (!per_km) {
      return Status(ErrorCode::kInvalid, "value",
                    "near: unknown distance units '" + t->units + "' (km, m, [mi_i] or [nmi_i])",
                    "near");
    }
    const double km = t->distance ? t->distance->ToDouble() * *per_km : 50.0;
    std::string lat = p.Real(t->latitude);
    std::string lon = p.Real(t->longitude);
    std::string sql =
        "(SELECT 2 * 6371.0088 * asin(min(1, sqrt(pow(sin(radians(la - " + lat +
        ") / 2), 2) + cos(radians(" + lat + ")) * cos(radians(la)) * pow(sin(radians(lo - " + lon +
        ") / 2), 2)))) FROM (SELECT json_extract(CAST(nv.json AS TEXT), '$.position.latitude') "
        "AS la, json_extract(CAST(nv.json AS TEXT), '$.position.longitude') AS lo FROM "
        "resource_version AS nv WHERE nv.seq = " +
        alias +
        ".seq) WHERE typeof(la) IN ('real', 'integer') "
        "AND typeof(lo) IN ('real', 'integer')) <= " +
        p.Real(km);
    if (!any.empty()) any += " OR ";
    any += sql;
  }
  if (any.empty()) return Unsupported(c, "a criterion without values");
  return "(" + any + ")";
}

// A composite parameter (R4 search 3.1.1.4.8): the values of its components must come from the
// same composite value, i.e. from index rows with the same group (index.h). Component 0's rows
// are the driving set; each further component is an EXISTS over the same resource's rows (its
// key range) with the same group. A composite made of its components' own parameters
// (search::ComposedOfOwnParams: the resource is its one composite value) has no rows of its own:
// its components match those parameters' rows of the same resource, in any group. Either way
// the unary + on a further component's param keeps SQLite on the candidate's key range, which it
// otherwise left for the (param, value) index: each Observation with a heart rate was tested
// against every quantity row of the parameter above 100 (over a minute on the 1M population,
// instead of a fraction of a second).
//
// CompositeRows: the rids of the resources holding one composite value whose component i matches
// `conditions[i]`; `own_params` as above.
std::string CompositeRows(Params& p, const Criterion& c, const std::vector<const char*>& tables,
                          const std::vector<std::string>& conditions, bool own_params) {
  std::string sql;
  for (size_t i = 0; i < c.components.size(); ++i) {
    const std::string part_alias = "c" + std::to_string(i);
    std::string rows;
    if (own_params) {
      rows = (i == 0 ? "" : "+") + part_alias +
             ".param = " + p.Text(std::string(c.components[i].def->code()));
    } else if (i == 0) {
      rows = "c0.param = " + p.Text(c.code) + " AND c0.component = 0";
    } else {
      rows = "+" + part_alias + ".param = c0.param AND " + part_alias + ".grp = c0.grp AND " +
             part_alias + ".component = " + std::to_string(i);
    }
    // Unqualified columns in the condition resolve to the innermost table, this one.
    rows += " AND (" + conditions[i] + ")";
    sql += i == 0 ? "SELECT c0.rid FROM " + std::string(tables[0]) + " AS c0 WHERE " + rows
                  : " AND EXISTS (SELECT 1 FROM " + std::string(tables[i]) + " AS " + part_alias +
                        " WHERE " + RowsOf(part_alias, "c0.rid") + " AND " + rows + ")";
  }
  return sql;
}

Result<std::string> CompositeCondition(Params& p, const Criterion& c, const std::string& alias);

// A composite that is the union of other composites (search::CompositeUnionMembers) has no rows
// of its own: a value matches if it is a value of any member. Each member is searched as itself
// (its code, its components' definitions), with the criterion's values, which parse alike (the
// components are of the same kinds).
Result<std::string> CompositeUnionCondition(
    Params& p, const Criterion& c, const std::string& alias,
    const std::vector<const fhir::SearchParamDef*>& members) {
  std::string sql;
  for (const fhir::SearchParamDef* member : members) {
    Criterion m = c;
    m.code = std::string(member->code());
    m.components.clear();
    for (const fhir::SearchParamComponent& component : member->components()) {
      m.components.push_back(
          {fhir::FindSearchParamByUrl(component.definition()), component.expression()});
    }
    Result<std::string> condition = CompositeCondition(p, m, alias);
    if (!condition.ok()) return condition.take_status();
    sql += (sql.empty() ? "" : " OR ") + *condition;
  }
  return "(" + sql + ")";
}

Result<std::string> CompositeCondition(Params& p, const Criterion& c, const std::string& alias) {
  if (c.components.empty()) return Unsupported(c, "a composite parameter without components");
  // R4 3.1.1.4.4: :missing is for every type but composites (the query binder refuses it).
  if (c.kind != Criterion::Kind::kMatch) return Unsupported(c, ":missing on a composite parameter");
  const std::vector<const fhir::SearchParamDef*>& members = search::CompositeUnionMembers(c.code);
  if (!members.empty()) return CompositeUnionCondition(p, c, alias, members);
  std::vector<const char*> tables;
  for (const search::CompositeComponent& component : c.components) {
    const char* table = component.def != nullptr ? TableFor(component.def->type()) : nullptr;
    if (table == nullptr) return Unsupported(c, "this composite parameter's components");
    tables.push_back(table);
  }
  const bool own_params = search::ComposedOfOwnParams(c.code);
  std::string any;
  for (const search::Term& term : c.terms) {
    const auto* composite = std::get_if<search::CompositeTerm>(&term);
    if (composite == nullptr || composite->components.size() != c.components.size()) {
      return Unsupported(c, "this composite value");
    }
    std::vector<std::string> conditions;
    for (size_t i = 0; i < c.components.size(); ++i) {
      // The component's own parameter decides how its value matches.
      Criterion part;
      part.code = c.code;
      part.type = c.components[i].def->type();
      search::Term part_term =
          std::visit([](const auto& t) { return search::Term(t); }, composite->components[i]);
      Result<std::string> condition = TermCondition(p, part, part_term);
      if (!condition.ok()) return condition.take_status();
      conditions.push_back(std::move(condition).value());
    }
    if (!any.empty()) any += " OR ";
    any += alias + ".rid IN (" + CompositeRows(p, c, tables, conditions, own_params) + ")";
  }
  if (any.empty()) return Unsupported(c, "a criterion without values");
  return "(" + any + ")";
}

// Writes the SQL conditions of criteria, recursing through chains and _has. A condition tests
// one resource row named by an alias ("r" at the top); a chain or _has link is an uncorrelated
// `alias.rid IN (SELECT ...)` over the linked resources, so SQLite computes each link once, drives
// it from the index of the condition at the far end and follows references through
// idx_reference_by_id, instead of testing every candidate row by row. Links count only local
// references (kind 0: "Type/id", the same as a reference criterion's local form) to current,
// not-deleted resources of the same tenant; index rows carry no tenant or type, so every link joins
// `resource` for both.
class ConditionWriter {
 public:
  ConditionWriter(Params& p, const std::string& tenant) : p_(p), tenant_(p.Text(tenant)) {}

  // The SQL condition on `alias` (a `resource` row) for criterion `c`. `probe`: the criterion is
  // not the one a search is driven by, so a plain parameter is tested per candidate against the
  // candidate's own index rows (EXISTS over its key range) instead of as `rid IN (every matching
  // row)`, which SQLite would materialise in full: `date=ge2020` alone matches most Observations,
  // and building that set for each search cost more than the rest of the query.
  Result<std::string> Condition(const Criterion& c, const std::string& alias, bool probe = false) {
    switch (c.kind) {
      case Criterion::Kind::kChain:
        return ChainCondition(c, alias);
      case Criterion::Kind::kHas:
        return HasCondition(c, alias);
      case Criterion::Kind::kMatch:
      case Criterion::Kind::kMissing:
        break;
    }
    return MatchCondition(c, alias, probe);
  }

  // `alias` is a current, not-deleted resource of this tenant and one of `types` (any if empty).
  std::string Current(const std::string& alias, const std::vector<std::string>& types) {
    std::string sql = alias + ".tenant = " + tenant_ + " AND " + alias + ".deleted = 0";
    if (types.size() == 1) {
      sql += " AND " + alias + ".type = " + p_.Text(types[0]);
    } else if (!types.empty()) {
      sql += " AND " + alias + ".type IN (";
      for (size_t i = 0; i < types.size(); ++i) sql += (i > 0 ? ", " : "") + p_.Text(types[i]);
      sql += ")";
    }
    return sql;
  }

 private:
  static constexpr int kLocalReference = static_cast<int>(search::ReferenceKind::kLocal);

  Result<std::string> MatchCondition(const Criterion& c, const std::string& alias, bool probe) {
    if (c.code == "_id" && c.type == ParamType::kToken) return IdCondition(c, alias);
    if (c.code == "_lastUpdated" && c.type == ParamType::kDate) {
      return LastUpdatedCondition(c, alias);
    }
    if (c.code == "_list" && c.type == ParamType::kSpecial) return ListCondition(c, alias);
    if (c.code == "_text" || c.code == "_content") return FullTextCondition(p_, c, alias);
    if (c.code == "near" && c.type == ParamType::kSpecial) return NearCondition(p_, c, alias);
    if (c.type == ParamType::kComposite) return CompositeCondition(p_, c, alias);
    const char* table = TableFor(c.type);
    if (c.type == ParamType::kReference && c.modifier == Modifier::kIdentifier) table = "idx_token";
    if (table == nullptr) {
      return Unsupported(c,
                         c.type == ParamType::kComposite ? "composite search" : "this parameter");
    }
    // The OR of the criterion's terms over one row of `table` (unqualified columns); none for
    // :missing, which only asks whether the resource has rows of the parameter.
    std::string any;
    if (c.kind != Criterion::Kind::kMissing) {
      if (c.terms.empty()) return Unsupported(c, "a criterion without values");
      for (const search::Term& term : c.terms) {
        Result<std::string> condition = TermCondition(p_, c, term);
        if (!condition.ok()) return condition.take_status();
        if (!any.empty()) any += " OR ";
        any += "(" + *condition + ")";
      }
    }
    const bool without = c.kind == Criterion::Kind::kMissing
                             ? c.missing
                             : c.modifier == Modifier::kNot || c.modifier == Modifier::kNotIn;
    const std::string terms = any.empty() ? "" : " AND (" + any + ")";
    if (probe) {
      // The unary + keeps SQLite on the candidate's key range rather than the (param, ...) index;
      // unqualified columns resolve to the innermost table, `own`.
      std::string own = NewAlias("e");
      return std::string(without ? "NOT EXISTS (" : "EXISTS (") + "SELECT 1 FROM " + table +
             " AS " + own + " WHERE " + RowsOf(own, alias + ".rid") + " AND " +
             ParamIs(p_, "+" + own + ".param", c.code) + terms + ")";
    }
    return alias + (without ? ".rid NOT IN (" : ".rid IN (") + "SELECT rid FROM " + table +
           " WHERE " + ParamIs(p_, "param", c.code) + terms + ")";
  }

  // _id is answered from the resource row itself (its UNIQUE (tenant, type, id) index), not from
  // index rows: ids are not extracted (search/index.h), which saves every write an index row.
  Result<std::string> IdCondition(const Criterion& c, const std::string& alias) {
    if (c.kind == Criterion::Kind::kMissing) return std::string(c.missing ? "0" : "1");
    if (c.modifier != Modifier::kNone && c.modifier != Modifier::kNot) {
      return Unsupported(c, "the :" + std::string(search::ToString(c.modifier)) + " modifier");
    }
    std::string ids;
    for (const search::Term& term : c.terms) {
      const auto* t = std::get_if<search::TokenTerm>(&term);
      if (t == nullptr || !t->code) return Unsupported(c, "a value without an id");
      if (!ids.empty()) ids += ", ";
      ids += p_.Text(*t->code);
    }
    if (ids.empty()) return Unsupported(c, "a criterion without values");
    return alias + (c.modifier == Modifier::kNot ? ".id NOT IN (" : ".id IN (") + ids + ")";
  }

  // _lastUpdated is the resource row's last_updated (an instant: the range [t, t + 1us)), served
  // by the resource_by_updated index (schema migration 6); it has no index rows either.
  Result<std::string> LastUpdatedCondition(const Criterion& c, const std::string& alias) {
    if (c.kind == Criterion::Kind::kMissing) return std::string(c.missing ? "0" : "1");
    if (c.modifier != Modifier::kNone) {
      return Unsupported(c, "the :" + std::string(search::ToString(c.modifier)) + " modifier");
    }
    std::string any;
    for (const search::Term& term : c.terms) {
      const auto* t = std::get_if<search::DateTerm>(&term);
      if (t == nullptr) return Unsupported(c, "a value that is not a date");
      if (!any.empty()) any += " OR ";
      any += "(" + InstantCondition(p_, t->prefix, t->low, t->high, alias + ".last_updated") + ")";
    }
    if (any.empty()) return Unsupported(c, "a criterion without values");
    return "(" + any + ")";
  }

  // `alias` refers through parameter c.code to a resource that matches one of c.next (one per
  // group of target types). Written target first: the targets that match, then the rows of the
  // reference parameter that point at them, found by (param, id, type) in idx_reference_by_id.
  Result<std::string> ChainCondition(const Criterion& c, const std::string& alias) {
    if (c.next.empty()) return Unsupported(c, "a chain without a next parameter");
    std::string code = p_.Text(c.code);
    std::string arms;
    for (const Criterion& next : c.next) {
      std::string target = NewAlias("t");
      std::string ref = NewAlias("x");
      Result<std::string> condition = Condition(next, target);
      if (!condition.ok()) return condition.take_status();
      if (!arms.empty()) arms += " UNION ALL ";
      arms += "SELECT " + ref + ".rid FROM resource AS " + target +
              " CROSS JOIN idx_reference AS " + ref + " ON " + ref + ".param = " + code + " AND " +
              ref + ".id = " + target + ".id AND " + ref + ".type = " + target + ".type WHERE " +
              Current(target, next.scope) + " AND " + ref +
              ".kind = " + std::to_string(kLocalReference) + " AND " + *condition;
    }
    return alias + ".rid IN (" + arms + ")";
  }

  // Some c.has_type resource that matches c.next[0] refers to `alias` through its parameter
  // c.code. Written referrer first: the referrers that match, their rows of the reference
  // parameter (a key range per referrer), then the resources those rows name.
  Result<std::string> HasCondition(const Criterion& c, const std::string& alias) {
    if (c.next.size() != 1) return Unsupported(c, "a _has without one next parameter");
    std::string referrer = NewAlias("h");
    std::string ref = NewAlias("x");
    std::string target = NewAlias("t");
    Result<std::string> condition = Condition(c.next[0], referrer);
    if (!condition.ok()) return condition.take_status();
    // The unary + keeps SQLite on the referrer's key range; with the (param, ...) index it would
    // read every row of the parameter for each referrer.
    return alias + ".rid IN (SELECT " + target + ".rid FROM resource AS " + referrer +
           " CROSS JOIN idx_reference AS " + ref + " ON " + RowsOf(ref, referrer + ".rid") +
           " AND +" + ref + ".param = " + p_.Text(c.code) + " AND " + ref +
           ".kind = " + std::to_string(kLocalReference) + " CROSS JOIN resource AS " + target +
           " ON " + target + ".tenant = " + tenant_ + " AND " + target + ".type = " + ref +
           ".type AND " + target + ".id = " + ref + ".id WHERE " + Current(referrer, {c.has_type}) +
           " AND " + *condition + ")";
  }

  // _list (R4 search 3.1.1.5.7): `alias` is an item of one of the named Lists (List.entry.item,
  // local references, to current resources of the tenant). Functional lists ($current-problems
  // and the like) need knowledge of the patient's records Kiln does not keep: a 501.
  Result<std::string> ListCondition(const Criterion& c, const std::string& alias) {
    std::string ids;
    for (const search::Term& term : c.terms) {
      const auto* t = std::get_if<search::SpecialTerm>(&term);
      if (t == nullptr) return Unsupported(c, "this _list value");
      if (!t->text.empty() && t->text[0] == '$') {
        return Unsupported(c, "the functional list " + t->text);
      }
      if (!ids.empty()) ids += ", ";
      ids += p_.Text(t->text);
    }
    if (ids.empty()) return Unsupported(c, "a criterion without values");
    std::string list = NewAlias("l");
    std::string ref = NewAlias("x");
    std::string item = NewAlias("t");
    return alias + ".rid IN (SELECT " + item + ".rid FROM resource AS " + list +
           " CROSS JOIN idx_reference AS " + ref + " ON " + RowsOf(ref, list + ".rid") + " AND +" +
           ref + ".param = 'item' AND " + ref + ".kind = " + std::to_string(kLocalReference) +
           " CROSS JOIN resource AS " + item + " ON " + item + ".tenant = " + tenant_ + " AND " +
           item + ".type = " + ref + ".type AND " + item + ".id = " + ref + ".id AND " + item +
           ".deleted = 0 WHERE " + Current(list, {"List"}) + " AND " + list + ".id IN (" + ids +
           "))";
  }

  std::string NewAlias(const char* stem) { return stem + std::to_string(++aliases_); }

 public:
  // For a criterion whose rows, for its one value, are a single range of its value index in rid
  // order (token system|code: (param, code, system, rid); local reference Type/id: (param, id,
  // type, rid)): those rows' SELECT, so a page in rid order can read them as a stream and stop
  // after the page instead of first collecting every match. nullopt for any other criterion.
  std::optional<std::string> StreamRows(const Criterion& c) {
    if (c.kind != Criterion::Kind::kMatch || c.terms.size() != 1) return std::nullopt;
    // A union's rows are several ranges (one per member): not one stream in rid order.
    if (!search::UnionMembers(c.code).empty()) return std::nullopt;
    const search::Term& term = c.terms.front();
    std::string condition;
    if (c.type == ParamType::kToken && c.modifier == Modifier::kNone && c.code != "_id") {
      const auto* t = std::get_if<search::TokenTerm>(&term);
      if (t == nullptr || !t->system || t->system->empty() || !t->code) return std::nullopt;
      condition = "code = " + p_.Text(*t->code) + " AND system = " + p_.Text(*t->system);
      return "SELECT rid FROM idx_token WHERE param = " + p_.Text(c.code) + " AND " + condition;
    }
    if (c.type == ParamType::kReference &&
        (c.modifier == Modifier::kNone || c.modifier == Modifier::kType)) {
      const auto* t = std::get_if<search::ReferenceTerm>(&term);
      if (t == nullptr || t->kind != search::ReferenceTerm::Kind::kLocal || t->type.empty() ||
          !t->version.empty()) {
        return std::nullopt;
      }
      return "SELECT rid FROM idx_reference WHERE param = " + p_.Text(c.code) +
             " AND id = " + p_.Text(t->id) + " AND type = " + p_.Text(t->type) +
             " AND kind = " + std::to_string(kLocalReference);
    }
    return std::nullopt;
  }

 private:
  Params& p_;
  std::string tenant_;  // the tenant's placeholder, bound once
  int aliases_ = 0;
};

// The per-resource value a _sort key orders by: a range scan of the resource's rows, whose keys
// are rid << 20 | n (schema migration 3). The unary + keeps the planner on that key: it would
// otherwise pick the (param, value) index and scan every row of the parameter for each resource.
Result<std::string> SortExpression(Params& p, const search::SortKey& key) {
  if (key.code == "_id" && key.type == ParamType::kToken) return std::string("r.id");
  if (key.code == "_lastUpdated" && key.type == ParamType::kDate) {
    return std::string("r.last_updated");
  }
  const char* column = nullptr;
  switch (key.type) {
    case ParamType::kString:
      column = "normalized";
      break;
    case ParamType::kToken:
      column = "code";
      break;
    case ParamType::kDate:
      column = "low";
      break;
    case ParamType::kNumber:
    case ParamType::kQuantity:
      column = "coalesce(value, low)";
      break;
    case ParamType::kReference:
      // Local rows keep no url (sqlite_store.cc WriteIndex); older rows may still have one.
      column = "CASE kind WHEN 0 THEN type || '/' || id ELSE url END";
      break;
    case ParamType::kUri:
      column = "uri";
      break;
    case ParamType::kComposite:
    case ParamType::kSpecial:
      break;
  }
  if (column == nullptr || key.code == "_text" || key.code == "_content") {
    return NotImplemented("_sort=" + key.code + ": sorting by this parameter is not supported");
  }
  return std::string("(SELECT ") + (key.descending ? "max(" : "min(") + column + ") FROM " +
         TableFor(key.type) + " AS x WHERE " + RowsOf("x", "r.rid") + " AND " +
         ParamIs(p, "+x.param", key.code) + ")";
}

// ---- cursor: "k<keys>" then ".n" (null), ".i<int>", ".f<hex bits>", ".s<hex bytes>" per sort
// key, then ".r<rid>": the page starts after that row. With a "b" in front, the page ends before
// it (a previous link); "bend" is the last page. Only characters that need no escaping in a URL.

std::string Hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::optional<std::string> Unhex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
    if (ec != std::errc() || end != hex.data() + i + 2) return std::nullopt;
    out += static_cast<char>(value);
  }
  return out;
}

std::string EncodeCursor(sqlite3_stmt* stmt, int first_key, size_t keys, int64_t rid) {
  std::string out = "k" + std::to_string(keys);
  for (size_t i = 0; i < keys; ++i) {
    int column = first_key + static_cast<int>(i);
    switch (sqlite3_column_type(stmt, column)) {
      case SQLITE_INTEGER:
        out += ".i" + std::to_string(sqlite3_column_int64(stmt, column));
        break;
      case SQLITE_FLOAT: {
        uint64_t bits = std::bit_cast<uint64_t>(sqlite3_column_double(stmt, column));
        char buffer[17];
        auto [end, ec] = std::to_chars(buffer, buffer + 16, bits, 16);
        out += ".f" + std::string(buffer, end);
        break;
      }
      case SQLITE_TEXT:
      case SQLITE_BLOB:
        out += ".s" + Hex(ColumnText(stmt, column));
        break;
      default:
        out += ".n";
        break;
    }
  }
  return out + ".r" + std::to_string(rid);
}

struct Cursor {
  std::vector<SqlValue> keys;  // monostate for "no value"
  int64_t rid = 0;
  bool backward = false;  // the page ends before this row (or at the end, when `end`)
  bool end = false;
};

template <typename T>
bool ParseNumber(std::string_view text, T& value, int base = 10) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

Result<Cursor> DecodeCursor(std::string_view text, size_t keys) {
  Status bad = Status::Invalid("_cursor: not a paging position of this search", "_cursor");
  bool backward = !text.empty() && text[0] == 'b';
  if (backward) text.remove_prefix(1);
  if (backward && text == "end") {
    Cursor last;
    last.backward = true;
    last.end = true;
    return last;
  }
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    parts.push_back(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  size_t n = 0;
  if (parts.size() != keys + 2 || parts[0].empty() || parts[0][0] != 'k' ||
      !ParseNumber(parts[0].substr(1), n) || n != keys) {
    return bad;
  }
  Cursor cursor;
  for (size_t i = 0; i < keys; ++i) {
    std::string_view part = parts[i + 1];
    if (part.empty()) return bad;
    std::string_view body = part.substr(1);
    if (part[0] == 'n' && body.empty()) {
      cursor.keys.emplace_back();
    } else if (int64_t v = 0; part[0] == 'i' && ParseNumber(body, v)) {
      cursor.keys.emplace_back(v);
    } else if (uint64_t bits = 0; part[0] == 'f' && ParseNumber(body, bits, 16)) {
      cursor.keys.emplace_back(std::bit_cast<double>(bits));
    } else if (std::optional<std::string> s; part[0] == 's' && (s = Unhex(body))) {
      cursor.keys.emplace_back(std::move(*s));
    } else {
      return bad;
    }
  }
  std::string_view last = parts.back();
  if (last.empty() || last[0] != 'r' || !ParseNumber(last.substr(1), cursor.rid)) return bad;
  cursor.backward = backward;
  return cursor;
}

// Rows strictly after `cursor` in the order (key0 nulls last, key1 ..., rid).
std::string AfterCursor(Params& p, const Cursor& cursor, const std::vector<search::SortKey>& sort,
                        size_t i = 0) {
  if (i == sort.size()) return "q.rid > " + p.Int(cursor.rid);
  std::string key = "q.s" + std::to_string(i);
  const SqlValue& value = cursor.keys[i];
  if (std::holds_alternative<std::monostate>(value)) {
    // Nothing sorts after "no value" but other resources without a value.
    return "(" + key + " IS NULL AND " + AfterCursor(p, cursor, sort, i + 1) + ")";
  }
  std::string v = p.Add(value);
  return "(" + key + " IS NULL OR " + key + (sort[i].descending ? " < " : " > ") + v + " OR (" +
         key + " = " + v + " AND " + AfterCursor(p, cursor, sort, i + 1) + "))";
}

// Rows strictly before `cursor` in the same order: the mirror of AfterCursor.
std::string BeforeCursor(Params& p, const Cursor& cursor, const std::vector<search::SortKey>& sort,
                         size_t i = 0) {
  if (i == sort.size()) return "q.rid < " + p.Int(cursor.rid);
  std::string key = "q.s" + std::to_string(i);
  const SqlValue& value = cursor.keys[i];
  if (std::holds_alternative<std::monostate>(value)) {
    // Every resource with a value sorts before "no value".
    return "(" + key + " IS NOT NULL OR " + BeforeCursor(p, cursor, sort, i + 1) + ")";
  }
  std::string v = p.Add(value);
  return "(" + key + " IS NOT NULL AND (" + key + (sort[i].descending ? " > " : " < ") + v +
         " OR (" + key + " = " + v + " AND " + BeforeCursor(p, cursor, sort, i + 1) + ")))";
}

// A search statement from the connection's cache of generated SQL, given back (reset, its
// bindings dropped) when it goes out of scope.
struct StatementReleaser {
  Connection* connection = nullptr;
  void operator()(sqlite3_stmt* stmt) const { connection->ReleaseGenerated(stmt); }
};
using OwnedStatement = std::unique_ptr<sqlite3_stmt, StatementReleaser>;

Result<OwnedStatement> Prepare(Connection& connection, const std::string& sql,
                               const Params& params) {
  Result<sqlite3_stmt*> stmt = connection.GeneratedStatement(sql);
  if (!stmt.ok()) return stmt.take_status();
  OwnedStatement owned(*stmt, StatementReleaser{&connection});
  params.BindTo(*stmt);
  return owned;
}

// The statements of one search: the filter on `resource AS r`, and the page statement.
struct SearchSql {
  Params params;
  std::string filter;
  std::string page;       // "" when no page is wanted (_count=0)
  bool backward = false;  // `page` reads the order in reverse (a previous or last page)
};

// ---- what a search ranges over: the tenant, the types, the compartment ----

// `r` is in query.compartment: for its type, one of the compartment's parameters refers to the
// focal resource ("{def}": r is the focal resource itself).
Result<std::string> CompartmentCondition(Params& p, const search::Query& query) {
  const search::CompartmentRef& compartment = *query.compartment;
  if (query.types.empty()) {
    return NotImplemented("a compartment search needs the types it covers");
  }
  const std::string focal_type = p.Text(compartment.type);
  const std::string focal_id = p.Text(compartment.id);
  std::string any;
  for (const std::string& type : query.types) {
    std::string codes;
    bool itself = false;
    for (std::string_view param : fhir::CompartmentParams(compartment.type, type)) {
      if (param == "{def}") {
        itself = true;
        continue;
      }
      if (!codes.empty()) codes += ", ";
      codes += p.Text(std::string(param));
    }
    std::string in;
    if (!codes.empty()) {
      in = "r.rid IN (SELECT rid FROM idx_reference WHERE param IN (" + codes +
           ") AND id = " + focal_id + " AND type = " + focal_type +
           " AND kind = " + std::to_string(static_cast<int>(search::ReferenceKind::kLocal)) + ")";
    }
    if (itself) in = "r.id = " + focal_id + (in.empty() ? "" : " OR " + in);
    if (in.empty()) in = "0";
    if (!any.empty()) any += " OR ";
    any += query.types.size() == 1 ? "(" + in + ")"
                                   : "(r.type = " + p.Text(type) + " AND (" + in + "))";
  }
  return "(" + any + ")";
}

// The current resources of the tenant a search may match: of its types (all types for a system
// search without _type), in its compartment if it has one.
Result<std::string> ScopeCondition(Params& p, ConditionWriter& conditions,
                                   const search::Query& query) {
  std::string filter = conditions.Current("r", query.types);
  if (query.compartment) {
    Result<std::string> in = CompartmentCondition(p, query);
    if (!in.ok()) return in.take_status();
    filter += " AND " + *in;
  }
  return filter;
}

// How well a criterion narrows a search when it drives it (lower is better), from its kind alone:
// an id or a reference names a few resources, a code or a name some, a range or a negation many.
// Without statistics this is what picks the one criterion computed as a set; the others are
// tested per candidate (ConditionWriter::Condition's `probe`).
int DriverRank(const Criterion& c) {
  if (c.kind == Criterion::Kind::kMissing) return 10;
  if (c.kind != Criterion::Kind::kMatch) return 3;  // chain, _has: a set of linked resources
  switch (c.modifier) {
    case Modifier::kNot:
    case Modifier::kNotIn:
      return 10;
    case Modifier::kContains:
    case Modifier::kText:
    case Modifier::kAbove:
    case Modifier::kBelow:
    case Modifier::kIn:
      return 7;
    default:
      break;
  }
  if (c.code == "_id") return 0;
  if (c.code == "_list") return 1;
  if (c.code == "_text" || c.code == "_content") return 4;
  if (c.code == "near") return 9;
  switch (c.type) {
    case ParamType::kReference:
      return 1;
    case ParamType::kToken: {
      bool codes = std::all_of(c.terms.begin(), c.terms.end(), [](const search::Term& t) {
        const auto* token = std::get_if<search::TokenTerm>(&t);
        return token == nullptr || token->code.has_value();
      });
      return codes ? 2 : 6;
    }
    case ParamType::kUri:
    case ParamType::kComposite:
      return 2;
    case ParamType::kString:
      return c.modifier == Modifier::kExact ? 2 : 3;
    case ParamType::kNumber:
    case ParamType::kQuantity:
      return 5;
    case ParamType::kDate:
      return 6;
    case ParamType::kSpecial:
      return 9;
  }
  return 5;
}

Result<SearchSql> PlanSearch(const std::string& tenant, const search::Query& query) {
  SearchSql plan;
  Params& p = plan.params;
  ConditionWriter conditions(p, tenant);
  Result<std::string> scope = ScopeCondition(p, conditions, query);
  if (!scope.ok()) return scope.take_status();
  std::string filter = std::move(*scope);
  size_t driver = query.criteria.size();
  for (size_t i = 0; i < query.criteria.size(); ++i) {
    if (driver == query.criteria.size() ||
        DriverRank(query.criteria[i]) < DriverRank(query.criteria[driver])) {
      driver = i;
    }
  }
  std::string others = filter;  // the scope and every criterion but the driver
  for (size_t i = 0; i < query.criteria.size(); ++i) {
    Result<std::string> condition = conditions.Condition(query.criteria[i], "r", i != driver);
    if (!condition.ok()) return condition.take_status();
    filter += " AND " + *condition;
    if (i != driver) others += " AND " + *condition;
  }
  plan.filter = filter;
  if (query.count <= 0) return plan;

  // A page in rid order driven by a criterion whose rows come in rid order: read them as a stream
  // (GROUP BY merges a resource's repeated rows without a sort) and stop after the page.
  // `Observation?code=http://loinc.org|8302-2&_count=10` then reads ten-odd index entries instead
  // of collecting the thousands of Observations with that code first.
  std::optional<std::string> stream;
  if (query.sort.empty() && driver < query.criteria.size()) {
    stream = conditions.StreamRows(query.criteria[driver]);
  }
  if (stream) {
    std::string bound = "1";
    bool backward = false;
    if (!query.cursor.empty()) {
      Result<Cursor> cursor = DecodeCursor(query.cursor, 0);
      if (!cursor.ok()) return cursor.take_status();
      backward = cursor->backward;
      if (!cursor->end)
        bound = std::string("d.rid ") + (backward ? "< " : "> ") + p.Int(cursor->rid);
    }
    plan.backward = backward;
    plan.page =
        "SELECT r.rid, r.id, v.seq, v.version, v.last_updated, v.method, v.json, r.type "
        "FROM (" +
        *stream +
        ") AS d CROSS JOIN resource AS r ON r.rid = d.rid "
        "CROSS JOIN resource_version AS v ON v.seq = r.seq WHERE " +
        others + " AND " + bound + " GROUP BY d.rid ORDER BY d.rid" + (backward ? " DESC" : "") +
        " LIMIT " + p.Int(static_cast<int64_t>(query.count) + 1);
    return plan;
  }

  std::string columns = "r.rid AS rid, r.seq AS seq, r.id AS id, r.type AS type";
  std::string after = "1";
  bool backward = false;
  if (!query.cursor.empty()) {
    Result<Cursor> cursor = DecodeCursor(query.cursor, query.sort.size());
    if (!cursor.ok()) return cursor.take_status();
    backward = cursor->backward;
    if (!cursor->end) {
      after = backward ? BeforeCursor(p, *cursor, query.sort) : AfterCursor(p, *cursor, query.sort);
    }
  }
  // A backward page reads the order in reverse from its cursor; RunSearch turns the rows round.
  plan.backward = backward;
  const char* asc = backward ? " DESC" : "";
  const char* desc = backward ? "" : " DESC";
  std::string order;
  for (size_t i = 0; i < query.sort.size(); ++i) {
    Result<std::string> expression = SortExpression(p, query.sort[i]);
    if (!expression.ok()) return expression.take_status();
    std::string key = "q.s" + std::to_string(i);
    columns += ", " + *expression + " AS s" + std::to_string(i);
    order +=
        "(" + key + " IS NULL)" + asc + ", " + key + (query.sort[i].descending ? desc : asc) + ", ";
  }
  order += std::string("q.rid") + asc;
  std::string sql =
      "SELECT q.rid, q.id, v.seq, v.version, v.last_updated, v.method, v.json, q.type";
  for (size_t i = 0; i < query.sort.size(); ++i) sql += ", q.s" + std::to_string(i);
  sql += " FROM (SELECT " + columns + " FROM resource AS r WHERE " + filter +
         ") AS q JOIN resource_version AS v ON v.seq = q.seq WHERE " + after + " ORDER BY " +
         order + " LIMIT " + p.Int(static_cast<int64_t>(query.count) + 1);
  plan.page = std::move(sql);
  return plan;
}

}  // namespace

Result<SearchPage> RunSearch(Connection& connection, const std::string& tenant,
                             const search::Query& query) {
  Result<SearchSql> plan = PlanSearch(tenant, query);
  if (!plan.ok()) return plan.take_status();
  const Params& p = plan->params;
  SearchPage page;
  if (!plan->page.empty()) {
    const std::string& sql = plan->page;
    Result<OwnedStatement> stmt = Prepare(connection, sql, p);
    if (!stmt.ok()) return stmt.take_status();
    sqlite3_stmt* s = stmt->get();
    int rc;
    std::vector<std::string> positions;  // each match's cursor position
    bool more = false;                   // a row past the page (in the direction read)
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (page.matches.size() == static_cast<size_t>(query.count)) {
        more = true;
        break;
      }
      StoredResource& match = page.matches.emplace_back();
      int64_t rid = sqlite3_column_int64(s, 0);
      match.info.type = ColumnText(s, 7);
      match.info.id = ColumnText(s, 1);
      match.info.seq = sqlite3_column_int64(s, 2);
      match.info.version = sqlite3_column_int64(s, 3);
      match.info.last_updated = sqlite3_column_int64(s, 4);
      int64_t method = sqlite3_column_int64(s, 5);
      match.info.method = MethodFromCode(method);
      std::string_view json = ColumnBlob(s, 6);
      match.json.assign(json.data(), json.size());
      positions.push_back(EncodeCursor(s, 8, query.sort.size(), rid));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return connection.Error(rc, "running a search");
    if (plan->backward) {
      std::reverse(page.matches.begin(), page.matches.end());
      std::reverse(positions.begin(), positions.end());
    }
    if (!positions.empty()) {
      // Forward: more after the page if a row was left over; more before it if the page did not
      // start at the beginning. Backward: the other way round; a "bend" page has nothing after.
      const bool end_page = query.cursor == "bend";
      const bool after = plan->backward ? !end_page : more;
      const bool before = plan->backward ? more : !query.cursor.empty();
      if (after) page.next_cursor = positions.back();
      if (before) page.previous_cursor = "b" + positions.front();
    }
  }

  if (query.total == search::TotalMode::kAccurate || query.total == search::TotalMode::kEstimate) {
    Result<OwnedStatement> stmt =
        Prepare(connection, "SELECT count(*) FROM resource AS r WHERE " + plan->filter, p);
    if (!stmt.ok()) return stmt.take_status();
    int rc = sqlite3_step(stmt->get());
    if (rc != SQLITE_ROW) return connection.Error(rc, "counting search matches");
    page.total = sqlite3_column_int64(stmt->get(), 0);
  }
  return page;
}

Result<std::string> ExplainSearch(Connection& connection, const std::string& tenant,
                                  const search::Query& query) {
  Result<SearchSql> plan = PlanSearch(tenant, query);
  if (!plan.ok()) return plan.take_status();
  const std::string& statement =
      plan->page.empty() ? "SELECT count(*) FROM resource AS r WHERE " + plan->filter : plan->page;
  Result<OwnedStatement> stmt =
      Prepare(connection, "EXPLAIN QUERY PLAN " + statement, plan->params);
  if (!stmt.ok()) return stmt.take_status();
  std::string out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    out += ColumnText(stmt->get(), 3);
    out += '\n';
  }
  if (rc != SQLITE_DONE) return connection.Error(rc, "explaining a search");
  return out;
}

}  // namespace kiln::store::sqlite
