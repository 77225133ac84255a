#include "store/sqlite/include_sql.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/strings.h"
#include "fhir/definitions.h"
#include "search/index.h"
#include "store/sqlite/method_code.h"

namespace kiln::store::sqlite {
namespace {

// A resource on the page (a match or an included one), as the next round starts from it.
struct Node {
  int64_t rid = 0;
  std::string type;
  std::string id;
};

// Sets of values travel into SQL as one JSON array parameter read with json_each(), so every
// statement has a fixed shape whatever the page size.
std::string JsonInts(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (int64_t v : values) {
    if (out.size() > 1) out += ',';
    out += std::to_string(v);
  }
  return out + "]";
}

std::string JsonStrings(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += core::JsonQuote(v);
  }
  return out + "]";
}

constexpr int kLocal = static_cast<int>(search::ReferenceKind::kLocal);

// Every include statement finds the rids of what it includes (`found`), then reads those
// resources; ?1 tenant, ?2 frontier, ?3 parameter codes, ?4 type restriction ('' for none), ?5 rids
// already on the page, ?6 limit. The joins are CROSS JOINs so SQLite keeps their order: from the
// few frontier rows through the indexes, never a scan of the tenant's resources.
std::string IncludeSql(const std::string& found) {
  return "SELECT t.rid, t.type, t.id, v.seq, v.version, v.last_updated, v.method, v.json FROM (" +
         found +
         ") AS found CROSS JOIN resource AS t ON t.rid = found.rid "
         "CROSS JOIN resource_version AS v ON v.seq = t.seq "
         "WHERE t.tenant = ?1 AND t.deleted = 0 AND (?4 = '' OR t.type = ?4) "
         "AND t.rid NOT IN (SELECT value FROM json_each(?5)) ORDER BY t.rid LIMIT ?6";
}

// Targets of the references that the frontier rids (?2, a JSON array of rids) make through the
// parameters ?3 (to type ?4 when given: checked on the target row above).
const std::string kForwardSql = IncludeSql(
    "SELECT DISTINCT y.rid AS rid FROM json_each(?2) AS source "
    "CROSS JOIN idx_reference AS x ON x.rid = source.value "
    "CROSS JOIN resource AS y ON y.tenant = ?1 AND y.type = x.type AND y.id = x.id "
    "WHERE x.kind = " +
    std::to_string(kLocal) + " AND x.param IN (SELECT value FROM json_each(?3))");

// Resources of type ?4 (any when '') that refer to one of the frontier resources (?2, a JSON array
// of [type, id] pairs) through the parameters ?3: one lookup in idx_reference_by_id per frontier
// resource and parameter.
const std::string kReverseSql = IncludeSql(
    "SELECT DISTINCT x.rid AS rid FROM json_each(?2) AS target "
    "CROSS JOIN json_each(?3) AS code "
    "CROSS JOIN idx_reference AS x ON x.param = code.value "
    "AND x.id = json_extract(target.value, '$[1]') AND x.type = json_extract(target.value, '$[0]') "
    "WHERE x.kind = " +
    std::to_string(kLocal));

// The rids of the matches, with their types and ids.
constexpr const char* kMatchesSql =
    "SELECT r.rid, r.type, r.id FROM json_each(?2) AS j CROSS JOIN resource AS r "
    "ON r.tenant = ?1 AND r.type = json_extract(j.value, '$[0]') "
    "AND r.id = json_extract(j.value, '$[1]')";

struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using OwnedStatement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

Result<OwnedStatement> Prepare(Connection& connection, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(connection.db(), sql.c_str(), static_cast<int>(sql.size()), &stmt,
                              nullptr);
  OwnedStatement owned(stmt);
  if (rc != SQLITE_OK) return connection.Error(rc, "preparing an _include query");
  return owned;
}

// The codes of a type's reference parameters (what "Type:*" follows).
std::vector<std::string> ReferenceParams(std::string_view type) {
  std::vector<std::string> codes;
  for (const fhir::SearchParamDef& p : fhir::SearchParamsFor(type)) {
    if (p.type() == fhir::SearchParamType::kReference) codes.emplace_back(p.code());
  }
  return codes;
}

// The codes of every reference parameter of every type (what _revinclude=* follows).
const std::vector<std::string>& AllReferenceParams() {
  static const std::vector<std::string> codes = [] {
    std::set<std::string> all;
    for (const fhir::TypeDef& t : fhir::ResourceTypes()) {
      for (std::string& code : ReferenceParams(t.name())) all.insert(std::move(code));
    }
    return std::vector<std::string>(all.begin(), all.end());
  }();
  return codes;
}

class Includer {
 public:
  Includer(Connection& connection, const std::string& tenant, const search::Query& query,
           SearchPage& page)
      : connection_(connection), tenant_(tenant), query_(query), page_(page) {}

  Status Run() {
    std::vector<Node> frontier;
    if (Status s = ResolveMatches(frontier); !s.ok()) return s;
    for (bool first = true; !frontier.empty() && !capped_; first = false) {
      std::vector<Node> added;
      for (const search::Include& include : query_.includes) {
        if (!first && !include.iterate) continue;
        Status s =
            include.reverse ? Reverse(include, frontier, added) : Forward(include, frontier, added);
        if (!s.ok()) return s;
        if (capped_) break;
      }
      frontier = std::move(added);
    }
    if (capped_) {
      page_.warnings.push_back(
          Issue{Severity::kWarning, "incomplete",
                "_include/_revinclude: this page reached the limit of " +
                    std::to_string(query_.max_includes) +
                    " included resources; the rest were left out (use a smaller _count)",
                ""});
    }
    return Status::Ok();
  }

 private:
  Status ResolveMatches(std::vector<Node>& frontier) {
    if (page_.matches.empty()) return Status::Ok();
    std::string pairs = "[";
    for (const StoredResource& m : page_.matches) {
      if (pairs.size() > 1) pairs += ',';
      pairs += "[" + core::JsonQuote(m.info.type) + "," + core::JsonQuote(m.info.id) + "]";
    }
    pairs += "]";
    Result<OwnedStatement> stmt = Prepare(connection_, kMatchesSql);
    if (!stmt.ok()) return stmt.take_status();
    sqlite3_stmt* s = stmt->get();
    BindText(s, 1, tenant_);
    BindText(s, 2, pairs);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      Node node{sqlite3_column_int64(s, 0), std::string(ColumnText(s, 1)),
                std::string(ColumnText(s, 2))};
      seen_.push_back(node.rid);
      frontier.push_back(std::move(node));
    }
    if (rc != SQLITE_DONE) return connection_.Error(rc, "reading the matches to include from");
    return Status::Ok();
  }

  Status Forward(const search::Include& include, const std::vector<Node>& frontier,
                 std::vector<Node>& added) {
    // The frontier grouped by type: which reference parameters apply depends on it.
    std::map<std::string, std::vector<int64_t>> sources;
    for (const Node& node : frontier) {
      if (include.source_type.empty() || node.type == include.source_type) {
        sources[node.type].push_back(node.rid);
      }
    }
    for (const auto& [type, rids] : sources) {
      std::vector<std::string> params =
          include.param == "*" ? ReferenceParams(type) : std::vector<std::string>{include.param};
      if (params.empty()) continue;
      Status s = Collect(kForwardSql, JsonInts(rids), params, include.target_type, added);
      if (!s.ok() || capped_) return s;
    }
    return Status::Ok();
  }

  Status Reverse(const search::Include& include, const std::vector<Node>& frontier,
                 std::vector<Node>& added) {
    std::string targets = "[";
    for (const Node& node : frontier) {
      if (!include.target_type.empty() && node.type != include.target_type) continue;
      if (targets.size() > 1) targets += ',';
      targets += "[" + core::JsonQuote(node.type) + "," + core::JsonQuote(node.id) + "]";
    }
    targets += "]";
    if (targets == "[]") return Status::Ok();
    std::vector<std::string> params;
    if (include.param != "*") {
      params.push_back(include.param);
    } else if (!include.source_type.empty()) {
      params = ReferenceParams(include.source_type);
    } else {
      params = AllReferenceParams();
    }
    if (params.empty()) return Status::Ok();
    return Collect(kReverseSql, targets, params, include.source_type, added);
  }

  // Runs one include statement and appends what it finds to the page and to `added`.
  Status Collect(const std::string& sql, const std::string& frontier,
                 const std::vector<std::string>& params, const std::string& type,
                 std::vector<Node>& added) {
    const int64_t room =
        static_cast<int64_t>(query_.max_includes) - static_cast<int64_t>(page_.included.size());
    Result<OwnedStatement> stmt = Prepare(connection_, sql);
    if (!stmt.ok()) return stmt.take_status();
    sqlite3_stmt* s = stmt->get();
    const std::string params_json = JsonStrings(params);
    const std::string seen_json = JsonInts(seen_);
    BindText(s, 1, tenant_);
    BindText(s, 2, frontier);
    BindText(s, 3, params_json);
    BindText(s, 4, type);
    BindText(s, 5, seen_json);
    sqlite3_bind_int64(s, 6, room + 1);  // one more than fits: tells whether the cap cut
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (static_cast<int64_t>(page_.included.size()) >= query_.max_includes) {
        capped_ = true;
        break;
      }
      StoredResource& r = page_.included.emplace_back();
      const int64_t rid = sqlite3_column_int64(s, 0);
      r.info.type = ColumnText(s, 1);
      r.info.id = ColumnText(s, 2);
      r.info.seq = sqlite3_column_int64(s, 3);
      r.info.version = sqlite3_column_int64(s, 4);
      r.info.last_updated = sqlite3_column_int64(s, 5);
      const int64_t method = sqlite3_column_int64(s, 6);
      r.info.method = MethodFromCode(method);
      std::string_view json = ColumnBlob(s, 7);
      r.json.assign(json.data(), json.size());
      seen_.push_back(rid);
      added.push_back(Node{rid, r.info.type, r.info.id});
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return connection_.Error(rc, "running an _include query");
    }
    return Status::Ok();
  }

  Connection& connection_;
  const std::string& tenant_;
  const search::Query& query_;
  SearchPage& page_;
  std::vector<int64_t> seen_;  // rids on the page: the matches, then everything included
  bool capped_ = false;
};

}  // namespace

Status RunIncludes(Connection& connection, const std::string& tenant, const search::Query& query,
                   SearchPage& page) {
  if (query.includes.empty()) return Status::Ok();
  return Includer(connection, tenant, query, page).Run();
}

}  // namespace kiln::store::sqlite
