// Connection: one SQLite database handle with its prepared statements cached for reuse.
//
// The store opens one read-write Connection for its writer thread and a pool of read-only ones for
// readers. Preparing a statement costs far more than running a point lookup, so every statement
// the store runs repeatedly is prepared once per connection (SQLITE_PREPARE_PERSISTENT) into a
// numbered slot and reset after each use (StatementScope). Errors become Status values that name
// the database file.
//
// Not synchronised: a Connection is used by one thread at a time (the handle is opened with
// SQLITE_OPEN_NOMUTEX; the owner guarantees exclusive use).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln::store::sqlite {

class Connection {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (kReadWrite: creating if missing) the database file at `path`. `vfs` names a registered
  // sqlite3_vfs, empty for the default one (tests pass a fault-injecting one).
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, Mode mode,
                                                  const std::string& vfs, int busy_timeout_ms);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

  // Runs `sql` (one or more statements, no result rows wanted).
  Status Exec(const char* sql);
  // Runs `sql` and returns the first column of its first row (0 or "" if there is no row).
  Result<int64_t> QueryInt(const char* sql);
  Result<std::string> QueryText(const char* sql);

  // The statement cached in `slot`, prepared from `sql` on first use. Every call for a slot must
  // pass the same `sql`. The caller binds, steps, and resets it (see StatementScope).
  Result<sqlite3_stmt*> Statement(size_t slot, const char* sql) {
    if (slot < statements_.size() && statements_[slot] != nullptr) return statements_[slot];
    return Prepare(slot, sql);
  }

  // A failed Status for result code `rc` of this connection: kUnavailable for conditions that can
  // pass (busy, locked, disk full, I/O errors), kInternal otherwise. `what` says what was being
  // done.
  Status Error(int rc, std::string_view what) const;

  // A statement for generated SQL (searches), kept by its text for the next search of the same
  // shape (the same parameters and modifiers; values are bound): SQLite's parse and plan cost
  // more than a selective search itself. Not in use by anyone else; give it back with
  // ReleaseGenerated, which resets it and drops its bindings. When the same text is already in
  // use (or the cache is full of statements in use) the statement is a fresh one, finalized on
  // release.
  Result<sqlite3_stmt*> GeneratedStatement(const std::string& sql);
  void ReleaseGenerated(sqlite3_stmt* stmt);
  static constexpr size_t kGeneratedStatements = 64;

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Result<sqlite3_stmt*> Prepare(size_t slot, const char* sql);

  sqlite3* db_;
  std::string path_;
  std::vector<sqlite3_stmt*> statements_;  // indexed by slot; null until first use
  struct Generated {
    std::string sql;
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
    uint64_t last_used = 0;
  };
  std::vector<Generated> generated_;  // at most kGeneratedStatements, least recently used evicted
  uint64_t generated_clock_ = 0;
};

// Resets a cached statement (and drops its bindings) when the scope ends, so the statement can be
// reused and a reader's snapshot is released promptly.
class StatementScope {
 public:
  explicit StatementScope(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementScope() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementScope(const StatementScope&) = delete;
  StatementScope& operator=(const StatementScope&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// Binding helpers. Text is bound SQLITE_STATIC: the caller's strings outlive the statement's use.
inline void BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  // '' rather than NULL for an empty view without storage (sqlite3_bind_text binds NULL for
  // nullptr), as BindBlob does.
  sqlite3_bind_text(stmt, index, text.data() == nullptr ? "" : text.data(),
                    static_cast<int>(text.size()), SQLITE_STATIC);
}
inline void BindBlob(sqlite3_stmt* stmt, int index, std::string_view bytes) {
  // A zero-length blob, not NULL, for an empty string (sqlite3_bind_blob binds NULL for nullptr).
  sqlite3_bind_blob(stmt, index, bytes.empty() ? "" : bytes.data(), static_cast<int>(bytes.size()),
                    SQLITE_STATIC);
}
inline std::string_view ColumnText(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  int size = sqlite3_column_bytes(stmt, column);
  return text == nullptr
             ? std::string_view()
             : std::string_view(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}
inline std::string_view ColumnBlob(sqlite3_stmt* stmt, int column) {
  const void* bytes = sqlite3_column_blob(stmt, column);
  int size = sqlite3_column_bytes(stmt, column);
  return bytes == nullptr
             ? std::string_view()
             : std::string_view(static_cast<const char*>(bytes), static_cast<size_t>(size));
}

}  // namespace kiln::store::sqlite
