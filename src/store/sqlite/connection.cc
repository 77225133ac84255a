#include "store/sqlite/connection.h"

#include <string>

namespace kiln::store::sqlite {

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, Mode mode,
                                                     const std::string& vfs, int busy_timeout_ms) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |=
      mode == Mode::kReadWrite ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string message = "cannot open database " + path + ": " +
                          (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);  // a handle is returned even on failure (null only when out of memory)
    return Status::Unavailable(std::move(message));
  }
  std::unique_ptr<Connection> connection(new Connection(db, path));
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return connection;
}

Connection::~Connection() {
  for (sqlite3_stmt* stmt : statements_) sqlite3_finalize(stmt);
  for (Generated& g : generated_) sqlite3_finalize(g.stmt);
  sqlite3_close_v2(db_);
}

Result<sqlite3_stmt*> Connection::GeneratedStatement(const std::string& sql) {
  Generated* reuse = nullptr;  // the same text, free
  Generated* evict = nullptr;  // the least recently used free entry
  bool busy_twin = false;
  for (Generated& g : generated_) {
    if (g.sql == sql) {
      if (!g.in_use) reuse = &g;
      busy_twin |= g.in_use;
    }
    if (!g.in_use && (evict == nullptr || g.last_used < evict->last_used)) evict = &g;
  }
  if (reuse != nullptr) {
    reuse->in_use = true;
    reuse->last_used = ++generated_clock_;
    return reuse->stmt;
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Error(rc, "preparing a search");
  }
  if (busy_twin) return stmt;  // in use twice at once (nested): not kept
  if (generated_.size() < kGeneratedStatements) {
    generated_.push_back(Generated{sql, stmt, true, ++generated_clock_});
  } else if (evict != nullptr) {
    sqlite3_finalize(evict->stmt);
    *evict = Generated{sql, stmt, true, ++generated_clock_};
  }
  return stmt;
}

void Connection::ReleaseGenerated(sqlite3_stmt* stmt) {
  for (Generated& g : generated_) {
    if (g.stmt == stmt) {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
      g.in_use = false;
      return;
    }
  }
  sqlite3_finalize(stmt);  // one that was not kept
}

Status Connection::Exec(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  Status status = Error(rc, sql);
  sqlite3_free(error);
  return status;
}

namespace {

// Runs `sql` on `db` and hands its first row to `read` (not called when there is no row).
template <typename Read>
Status QueryFirstRow(const Connection& connection, const char* sql, Read read) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(connection.db(), sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return connection.Error(rc, sql);
  rc = sqlite3_step(stmt);
  Status status;
  if (rc == SQLITE_ROW) {
    read(stmt);
  } else if (rc != SQLITE_DONE) {
    status = connection.Error(rc, sql);
  }
  sqlite3_finalize(stmt);
  return status;
}

}  // namespace

Result<int64_t> Connection::QueryInt(const char* sql) {
  int64_t value = 0;
  Status status =
      QueryFirstRow(*this, sql, [&](sqlite3_stmt* stmt) { value = sqlite3_column_int64(stmt, 0); });
  if (!status.ok()) return status;
  return value;
}

Result<std::string> Connection::QueryText(const char* sql) {
  std::string value;
  Status status = QueryFirstRow(
      *this, sql, [&](sqlite3_stmt* stmt) { value = std::string(ColumnText(stmt, 0)); });
  if (!status.ok()) return status;
  return value;
}

Result<sqlite3_stmt*> Connection::Prepare(size_t slot, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql);
  if (slot >= statements_.size()) statements_.resize(slot + 1, nullptr);
  statements_[slot] = stmt;
  return stmt;
}

Status Connection::Error(int rc, std::string_view what) const {
  std::string message = "database " + path_ + ": " + sqlite3_errmsg(db_) + " (" +
                        sqlite3_errstr(rc) + ", code " + std::to_string(rc) +
                        ") while running: " + std::string(what);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
      return Status::Unavailable(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

}  // namespace kiln::store::sqlite
