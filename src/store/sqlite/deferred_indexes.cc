#include "store/sqlite/deferred_indexes.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace kiln::store::sqlite {
namespace {

using NamedSql = std::pair<std::string, std::string>;

Result<std::vector<NamedSql>> Rows(Connection& connection, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(connection.db(), sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return connection.Error(rc, "listing the value indexes");
  std::vector<NamedSql> rows;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    rows.emplace_back(std::string(ColumnText(stmt, 0)), std::string(ColumnText(stmt, 1)));
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return connection.Error(rc, "listing the value indexes");
  return rows;
}

Status ExecBound(Connection& connection, const char* sql, const std::string& a,
                 const std::string* b) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(connection.db(), sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return connection.Error(rc, "recording a deferred index");
  BindText(stmt, 1, a);
  if (b != nullptr) BindText(stmt, 2, *b);
  rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return connection.Error(rc, "recording a deferred index");
  return Status::Ok();
}

// Runs `body` in BEGIN IMMEDIATE ... COMMIT, rolling back when it fails.
template <typename Body>
Status InTransaction(Connection& connection, Body body) {
  Status status = connection.Exec("BEGIN IMMEDIATE");
  if (!status.ok()) return status;
  status = body();
  if (status.ok()) status = connection.Exec("COMMIT");
  if (!status.ok() && sqlite3_get_autocommit(connection.db()) == 0)
    (void)connection.Exec("ROLLBACK");
  return status;
}

// An index's place in the build order, from its definition's "ON <table>": the tables that are
// usually the largest first. Kiln's own schema, so a fixed order does.
int SizeRank(const std::string& sql) {
  static const char* const kLargestFirst[] = {"idx_token", "idx_reference", "idx_quantity",
                                              "idx_date",  "idx_string",    "idx_number",
                                              "idx_uri"};
  for (int i = 0; i < static_cast<int>(std::size(kLargestFirst)); ++i) {
    if (sql.find(std::string(" ON ") + kLargestFirst[i] + " ") != std::string::npos) return i;
  }
  return static_cast<int>(std::size(kLargestFirst));
}

}  // namespace

Result<int> DeferValueIndexes(Connection& connection) {
  // The explicit indexes (sql not null) of the typed index tables; idx_text is FTS5, whose own
  // tables are not value indexes.
  auto indexes =
      Rows(connection,
           "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL "
           "AND tbl_name LIKE 'idx\\_%' ESCAPE '\\' AND tbl_name NOT LIKE 'idx\\_text%' "
           "ESCAPE '\\' ORDER BY name");
  if (!indexes.ok()) return indexes.take_status();
  Status status = InTransaction(connection, [&]() -> Status {
    for (const auto& [name, sql] : *indexes) {
      Status s =
          ExecBound(connection, "INSERT OR REPLACE INTO deferred_index (name, sql) VALUES (?1, ?2)",
                    name, &sql);
      if (!s.ok()) return s;
      // Names come from sqlite_schema (Kiln's own migrations), quoted all the same.
      std::string drop = "DROP INDEX \"" + name + "\"";
      s = connection.Exec(drop.c_str());
      if (!s.ok()) return s;
    }
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return DeferredIndexCount(connection);
}

Result<int> BuildDeferredIndexes(Connection& connection, const std::function<void()>& after_each) {
  auto deferred = Rows(connection, "SELECT name, sql FROM deferred_index ORDER BY name");
  if (!deferred.ok()) return deferred.take_status();
  // The largest first (on the Synthea population token and reference rows are three quarters of
  // the rows), so that what is left for the end, after the last commit, is small.
  std::stable_sort(deferred->begin(), deferred->end(), [](const NamedSql& a, const NamedSql& b) {
    return SizeRank(a.second) < SizeRank(b.second);
  });
  int built = 0;
  for (const auto& [name, sql] : *deferred) {
    Status status = InTransaction(connection, [&]() -> Status {
      Status s = connection.Exec(sql.c_str());
      if (!s.ok()) {
        return Status(s.error(), "exception",
                      "building the search index " + name + " failed: " + s.message());
      }
      return ExecBound(connection, "DELETE FROM deferred_index WHERE name = ?1", name, nullptr);
    });
    if (!status.ok()) return status;
    ++built;
    if (after_each) after_each();
  }
  return built;
}

Result<int> DeferredIndexCount(Connection& connection) {
  Result<int64_t> n = connection.QueryInt("SELECT count(*) FROM deferred_index");
  if (!n.ok()) return n.take_status();
  return static_cast<int>(*n);
}

}  // namespace kiln::store::sqlite
