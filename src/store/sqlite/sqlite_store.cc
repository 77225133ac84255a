#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "store/sqlite/checkpointer.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/deferred_indexes.h"
#include "store/sqlite/include_sql.h"
#include "store/sqlite/lock_file.h"
#include "store/sqlite/log_buffer_vfs.h"
#include "store/sqlite/log_syncer.h"
#include "store/sqlite/method_code.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/search_sql.h"

namespace kiln::store::sqlite {
namespace {

constexpr int64_t kMinInt64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

// ---------------------------------------------------------------------------------------------
// SQL. Every statement run more than once has a slot in each connection's statement cache.

enum Slot : size_t {
  // Transaction control (writer and readers).
  kBegin,
  kBeginImmediate,
  kCommit,
  kRollback,
  kSavepoint,
  kRelease,
  kRollbackTo,
  // Point reads (readers and, for ReadLatest, the writer).
  kReadLatest,
  kReadVersion,
  // Writer only.
  kFindCurrent,
  kInsertVersion,
  kUpdateCurrent,
  kInsertCurrent,
  kSetMeta,
  kDeleteText,
  kInsertText,
  // Search index rows: one DELETE and one INSERT per table; see kIndexTables.
  kDeleteIndexFirst,
  kInsertIndexFirst = kDeleteIndexFirst + 7,
  // Readers only.
  kCheck = kInsertIndexFirst + 7,
  kMaxSeq,
  kFirstSeqFrom,
  // History: 3 scopes x (plain, with _at) x (page, count); see HistorySlot().
  kHistoryFirst,
  // Index maintenance (ScanCurrent, CountCurrent, ReadMeta on readers; the rest on the writer).
  kScanCurrent = kHistoryFirst + 12,
  kCountCurrent,
  kReadMeta,
  kUpsertMeta,
  kDeleteMeta,
  kMergeText,
  kSlotCount,
};

// Full text (_text, _content): one row per resource, rowid = rid (schema migration 4).
const char* const kDeleteTextSql = "DELETE FROM idx_text WHERE rowid = ?1";
const char* const kInsertTextSql =
    "INSERT INTO idx_text (rowid, narrative, content) VALUES (?1, ?2, ?3)";

const char* const kBeginSql = "BEGIN";
const char* const kBeginImmediateSql = "BEGIN IMMEDIATE";
const char* const kCommitSql = "COMMIT";
const char* const kRollbackSql = "ROLLBACK";
const char* const kSavepointSql = "SAVEPOINT write";
const char* const kReleaseSql = "RELEASE write";
const char* const kRollbackToSql = "ROLLBACK TO write";

// Columns 0..5 of both point reads; FillVersion() reads them.
const char* const kReadLatestSql =
    "SELECT seq, version, last_updated, deleted, method, json FROM resource_version "
    "WHERE tenant = ?1 AND type = ?2 AND id = ?3 ORDER BY version DESC LIMIT 1";
const char* const kReadVersionSql =
    "SELECT seq, version, last_updated, deleted, method, json FROM resource_version "
    "WHERE tenant = ?1 AND type = ?2 AND id = ?3 AND version = ?4";

const char* const kFindCurrentSql =
    "SELECT rid, version FROM resource WHERE tenant = ?1 AND type = ?2 AND id = ?3";
const char* const kInsertVersionSql =
    "INSERT INTO resource_version (tenant, type, id, version, last_updated, deleted, method, "
    "json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const char* const kUpdateCurrentSql =
    "UPDATE resource SET version = ?2, seq = ?3, deleted = ?4, last_updated = ?5 WHERE rid = ?1";
const char* const kInsertCurrentSql =
    "INSERT INTO resource (tenant, type, id, version, seq, deleted, last_updated) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const char* const kSetMetaSql = "UPDATE store_meta SET value = ?2 WHERE key = ?1";

// Index maintenance. The scan walks `resource` in rid order (rids only grow) and joins each
// current row to its version's JSON by seq, the version table's rowid.
const char* const kScanCurrentSql =
    "SELECT r.rid, r.tenant, r.type, r.id, v.seq, v.version, v.last_updated, v.deleted, "
    "v.method, v.json FROM resource AS r JOIN resource_version AS v ON v.seq = r.seq "
    "WHERE r.rid > ?1 AND r.deleted = 0 ORDER BY r.rid LIMIT ?2";
const char* const kCountCurrentSql = "SELECT count(*) FROM resource WHERE rid > ?1 AND deleted = 0";
const char* const kReadMetaSql = "SELECT value FROM store_meta WHERE key = ?1";
const char* const kUpsertMetaSql =
    "INSERT INTO store_meta (key, value) VALUES (?1, ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const char* const kDeleteMetaSql = "DELETE FROM store_meta WHERE key = ?1";

// store_meta keys the writer keeps itself (SaveState); SetMeta refuses them.
bool IsReservedMetaKey(std::string_view key) {
  return key == "max_last_updated" || key == "history_time_ordered";
}

// The index tables in the order of search::IndexKind (kText is not stored).
// Index rows are keyed rid << kIndexKeyBits | n, n counting the resource's entries from 0.
constexpr int kIndexKeyBits = 20;
constexpr int64_t kMaxIndexEntries = int64_t{1} << kIndexKeyBits;

struct IndexTable {
  const char* delete_sql;
  const char* insert_sql;
};
const IndexTable kIndexTables[7] = {
    {"DELETE FROM idx_string WHERE key BETWEEN ?1 AND ?2",
     "INSERT INTO idx_string (key, rid, param, grp, component, normalized, exact) "
     "VALUES (?21, ?1, ?2, ?3, ?4, ?5, ?6)"},
    {"DELETE FROM idx_token WHERE key BETWEEN ?1 AND ?2",
     "INSERT INTO idx_token (key, rid, param, grp, component, system, code, text, type_system, "
     "type_code) VALUES (?21, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
    {"DELETE FROM idx_date WHERE key BETWEEN ?1 AND ?2",
     "INSERT INTO idx_date (key, rid, param, grp, component, low, high) "
     "VALUES (?21, ?1, ?2, ?3, ?4, ?5, ?6)"},
    {"DELETE FROM idx_number WHERE key BETWEEN ?1 AND ?2",
     "INSERT INTO idx_number (key, rid, param, grp, component, value, low, high) "
     "VALUES (?21, ?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    {"DELETE FROM idx_quantity WHERE key BETWEEN ?1 AND ?2",
     "INSERT INTO idx_quantity (key, rid, param, grp, component, value, low, high, system, code, "
     "unit, canonical_code, canonical_value, canonical_low, canonical_high) "
     "VALUES (?21, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"},
    {"DELETE FROM idx_reference WHERE key BETWEEN ?1 AND ?2",
     "INSERT INTO idx_reference (key, rid, param, grp, component, kind, type, id, version, url) "
     "VALUES (?21, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
    {"DELETE FROM idx_uri WHERE key BETWEEN ?1 AND ?2",
     "INSERT INTO idx_uri (key, rid, param, grp, component, uri) VALUES (?21, ?1, ?2, ?3, ?4, ?5)"},
};
static_assert(std::size(kIndexTables) == static_cast<size_t>(search::IndexKind::kText),
              "one table per stored IndexKind, in its order");

void BindOptionalDouble(sqlite3_stmt* stmt, int index, std::optional<double> value) {
  if (value) {
    sqlite3_bind_double(stmt, index, *value);
  } else {
    sqlite3_bind_null(stmt, index);
  }
}

// Binds the value columns (?5 on) of `entry`'s table.
void BindIndexValue(sqlite3_stmt* stmt, const search::IndexEntry& entry) {
  using search::IndexKind;
  switch (entry.kind()) {
    case IndexKind::kString: {
      const auto& v = std::get<search::StringValue>(entry.value);
      BindText(stmt, 5, v.normalized);
      BindText(stmt, 6, v.exact);
      break;
    }
    case IndexKind::kToken: {
      const auto& v = std::get<search::TokenValue>(entry.value);
      BindText(stmt, 5, v.system);
      BindText(stmt, 6, v.code);
      BindText(stmt, 7, v.text);
      BindText(stmt, 8, v.type_system);
      BindText(stmt, 9, v.type_code);
      break;
    }
    case IndexKind::kDate: {
      const auto& v = std::get<search::DateValue>(entry.value);
      sqlite3_bind_int64(stmt, 5, v.low);
      sqlite3_bind_int64(stmt, 6, v.high);
      break;
    }
    case IndexKind::kNumber: {
      const auto& v = std::get<search::NumberValue>(entry.value);
      BindOptionalDouble(stmt, 5, v.value);
      sqlite3_bind_double(stmt, 6, v.low);
      sqlite3_bind_double(stmt, 7, v.high);
      break;
    }
    case IndexKind::kQuantity: {
      const auto& v = std::get<search::QuantityValue>(entry.value);
      BindOptionalDouble(stmt, 5, v.value);
      sqlite3_bind_double(stmt, 6, v.low);
      sqlite3_bind_double(stmt, 7, v.high);
      BindText(stmt, 8, v.system);
      BindText(stmt, 9, v.code);
      BindText(stmt, 10, v.unit);
      BindText(stmt, 11, v.canonical_code);
      if (!v.canonical_code.empty()) {
        double f = v.canonical_factor;
        BindOptionalDouble(stmt, 12, v.value ? std::optional<double>(*v.value * f) : std::nullopt);
        sqlite3_bind_double(stmt, 13, v.low * f);
        sqlite3_bind_double(stmt, 14, v.high * f);
      }
      break;
    }
    case IndexKind::kReference: {
      const auto& v = std::get<search::ReferenceValue>(entry.value);
      sqlite3_bind_int(stmt, 5, static_cast<int>(v.kind));
      BindText(stmt, 6, v.type);
      BindText(stmt, 7, v.id);
      BindText(stmt, 8, v.version);
      // A local reference's url is only "Type/id" again (searches by URL skip local rows, and
      // _sort spells it from type and id): not stored, about 45 bytes of each reference row.
      BindText(stmt, 9, v.kind == search::ReferenceKind::kLocal ? std::string_view() : v.url);
      break;
    }
    case IndexKind::kUri:
      BindText(stmt, 5, std::get<search::UriValue>(entry.value).uri);
      break;
    case IndexKind::kText:
      break;
  }
}

const char* const kCheckSql = "SELECT value FROM store_meta WHERE key = 'max_last_updated'";
const char* const kMaxSeqSql = "SELECT max(seq) FROM resource_version";
const char* const kFirstSeqFromSql =
    "SELECT last_updated FROM resource_version WHERE seq >= ?1 ORDER BY seq LIMIT 1";

enum class Scope { kSystem = 0, kType = 1, kInstance = 2 };

// History parameters, the same numbers in every variant:
//   ?1 tenant  ?2 lowest seq (inclusive)  ?3 highest seq (exclusive)
//   ?4 lowest last_updated (inclusive)  ?5 highest last_updated (exclusive)  ?6 limit
//   ?7 type  ?8 id  ?9 at_low
// Bounds that a query does not have are bound to the int64 extremes rather than left out, so one
// statement per shape serves every combination and the seq range always drives the index.
size_t HistorySlot(Scope scope, bool at, bool count) {
  return kHistoryFirst + static_cast<size_t>(scope) * 4 + (at ? 2 : 0) + (count ? 1 : 0);
}

std::string HistorySql(Scope scope, bool at, bool count) {
  std::string sql = count ? "SELECT count(*)"
                          : "SELECT seq, type, id, version, last_updated, deleted, method, json";
  // The index is named, not left to the planner: without statistics it prefers the type index
  // for instance history (a seq range there looks selective), which scans the whole type.
  sql += " FROM resource_version AS v INDEXED BY ";
  sql += scope == Scope::kSystem ? "resource_version_by_tenant"
         : scope == Scope::kType ? "resource_version_by_type"
                                 : "resource_version_by_key";
  sql += " WHERE tenant = ?1";
  if (scope != Scope::kSystem) sql += " AND type = ?7";
  if (scope == Scope::kInstance) sql += " AND id = ?8";
  sql += " AND seq >= ?2 AND seq < ?3 AND last_updated >= ?4 AND last_updated < ?5";
  if (at) {
    // Current at some point of [at_low, at_high): it started before at_high (?5) and was not
    // replaced by its next version at or before at_low.
    sql +=
        " AND NOT EXISTS (SELECT 1 FROM resource_version AS next WHERE next.tenant = v.tenant"
        " AND next.type = v.type AND next.id = v.id AND next.version = v.version + 1"
        " AND next.last_updated <= ?9)";
  }
  if (!count) {
    // Within one resource, version order is seq order, and the key index already has it.
    sql += scope == Scope::kInstance ? " ORDER BY version DESC" : " ORDER BY seq DESC";
    sql += " LIMIT ?6";
  }
  return sql;
}

const char* HistorySqlFor(Scope scope, bool at, bool count) {
  static const std::vector<std::string> kAll = [] {
    std::vector<std::string> all(12);
    for (Scope s : {Scope::kSystem, Scope::kType, Scope::kInstance}) {
      for (bool a : {false, true}) {
        for (bool c : {false, true}) {
          all[HistorySlot(s, a, c) - kHistoryFirst] = HistorySql(s, a, c);
        }
      }
    }
    return all;
  }();
  return kAll[HistorySlot(scope, at, count) - kHistoryFirst].c_str();
}

// Reads columns seq, version, last_updated, deleted, method, json starting at `first`.
void FillVersion(sqlite3_stmt* stmt, int first, StoredResource& out) {
  out.info.seq = sqlite3_column_int64(stmt, first);
  out.info.version = sqlite3_column_int64(stmt, first + 1);
  out.info.last_updated = sqlite3_column_int64(stmt, first + 2);
  out.info.deleted = sqlite3_column_int64(stmt, first + 3) != 0;
  out.info.method = MethodFromCode(sqlite3_column_int64(stmt, first + 4));
  std::string_view json = ColumnBlob(stmt, first + 5);
  out.json.assign(json.data(), json.size());
}

// Runs a cached no-result statement (transaction control, DML).
Status Run(Connection& connection, size_t slot, const char* sql) {
  Result<sqlite3_stmt*> stmt = connection.Statement(slot, sql);
  if (!stmt.ok()) return stmt.take_status();
  StatementScope scope(*stmt);
  int rc = sqlite3_step(*stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return connection.Error(rc, sql);
  return Status::Ok();
}

// Runs a cached statement and returns the first column of its first row (0 if there is none).
Result<int64_t> QueryInt(Connection& connection, size_t slot, const char* sql) {
  Result<sqlite3_stmt*> stmt = connection.Statement(slot, sql);
  if (!stmt.ok()) return stmt.take_status();
  StatementScope scope(*stmt);
  int rc = sqlite3_step(*stmt);
  if (rc == SQLITE_DONE) return int64_t{0};
  if (rc != SQLITE_ROW) return connection.Error(rc, sql);
  return sqlite3_column_int64(*stmt, 0);
}

// The latest version of `key` as `connection` sees it (its own uncommitted writes included).
Result<std::optional<StoredResource>> ReadLatestOn(Connection& connection, const ResourceKey& key) {
  Result<sqlite3_stmt*> prepared = connection.Statement(kReadLatest, kReadLatestSql);
  if (!prepared.ok()) return prepared.take_status();
  sqlite3_stmt* stmt = *prepared;
  StatementScope scope(stmt);
  BindText(stmt, 1, key.tenant);
  BindText(stmt, 2, key.type);
  BindText(stmt, 3, key.id);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::optional<StoredResource>();
  if (rc != SQLITE_ROW) return connection.Error(rc, kReadLatestSql);
  std::optional<StoredResource> out(std::in_place);
  out->info.type = key.type;
  out->info.id = key.id;
  FillVersion(stmt, 0, *out);
  return out;
}

int SynchronousLevel(Synchronous mode) {
  switch (mode) {
    case Synchronous::kOff:
      return 0;
    case Synchronous::kNormal:
      return 1;
    case Synchronous::kFull:
      return 2;
  }
  return 2;
}

// ---------------------------------------------------------------------------------------------
// Reader pool: read-only connections handed out one per call.

class ReaderPool {
 public:
  void Add(std::unique_ptr<Connection> connection) {
    idle_.push_back(connection.get());
    all_.push_back(std::move(connection));
  }

  // A connection for the caller's exclusive use, or null once the pool is closing.
  Connection* Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    while (idle_.empty() && !closing_) idle_cv_.wait(lock);
    if (closing_) return nullptr;
    Connection* connection = idle_.back();
    idle_.pop_back();
    return connection;
  }

  void Release(Connection* connection) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.push_back(connection);
    }
    idle_cv_.notify_one();
  }

  // Refuses new leases, waits for the outstanding ones to come back, and closes every connection.
  void Close() {
    std::unique_lock<std::mutex> lock(mu_);
    closing_ = true;
    idle_cv_.notify_all();
    idle_cv_.wait(lock, [&] { return idle_.size() == all_.size(); });
    idle_.clear();
    all_.clear();
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_cv_;
  bool closing_ = false;                          // guarded by mu_
  std::vector<Connection*> idle_;                 // guarded by mu_
  std::vector<std::unique_ptr<Connection>> all_;  // fixed after open, cleared by Close()
};

// A connection borrowed from the pool for one call.
class ReaderLease {
 public:
  explicit ReaderLease(ReaderPool& pool) : pool_(pool), connection_(pool.Acquire()) {}
  ~ReaderLease() {
    if (connection_ != nullptr) pool_.Release(connection_);
  }
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;

  Connection* get() const { return connection_; }

 private:
  ReaderPool& pool_;
  Connection* connection_;
};

// Ends an explicit read transaction on scope exit (a read transaction has nothing to roll back;
// COMMIT just releases the snapshot).
class ReadTransaction {
 public:
  explicit ReadTransaction(Connection& connection) : connection_(connection) {}
  Status Begin() {
    Status status = Run(connection_, kBegin, kBeginSql);
    open_ = status.ok();
    return status;
  }
  ~ReadTransaction() {
    if (open_ && !Run(connection_, kCommit, kCommitSql).ok()) {
      (void)Run(connection_, kRollback, kRollbackSql);
    }
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Connection& connection_;
  bool open_ = false;
};

Status Closed() { return Status::Unavailable("the store is closed"); }

// ---------------------------------------------------------------------------------------------

class SqliteStoreImpl final : public SqliteStore {
 public:
  SqliteStoreImpl(SqliteOptions options, std::string database_path, std::unique_ptr<LockFile> lock)
      : options_(std::move(options)),
        database_path_(std::move(database_path)),
        lock_(std::move(lock)),
        txn_(*this) {}

  ~SqliteStoreImpl() override { Close(); }

  // Opens the connections and starts the writer. Called once, by OpenSqliteStore.
  Status Open();

  Result<std::optional<StoredResource>> Read(const ResourceKey& key) override;
  Result<std::optional<StoredResource>> ReadVersion(const ResourceKey& key,
                                                    int64_t version) override;
  Result<HistoryPage> History(const HistoryQuery& query) override;
  Result<SearchPage> Search(const std::string& tenant, const search::Query& query) override;
  void Write(WriteFn fn, WriteDone done) override;
  void WriteRerunnable(WriteFn fn, WriteDone done) override;
  Status Check() override;
  StoreStats Stats() override;
  void Close() override;
  Result<ScanPage> ScanCurrent(int64_t cursor, int limit) override;
  Result<int64_t> CountCurrent(int64_t cursor) override;
  Result<std::optional<int64_t>> ReadMeta(const std::string& key) override;

  SqliteCounters Counters() const override {
    SqliteCounters counters;
    counters.commits = commits_.load(std::memory_order_relaxed);
    counters.failed_commits = failed_commits_.load(std::memory_order_relaxed);
    counters.writes_committed = writes_committed_.load(std::memory_order_relaxed);
    counters.writes_failed = writes_failed_.load(std::memory_order_relaxed);
    counters.largest_group = largest_group_.load(std::memory_order_relaxed);
    counters.rerun_groups = rerun_groups_.load(std::memory_order_relaxed);
    counters.background_checkpoints = checkpointer_ ? checkpointer_->background_passes() : 0;
    counters.writer_checkpoints = writer_checkpoints_.load(std::memory_order_relaxed);
    counters.log_frames = log_frames_written_.load(std::memory_order_relaxed);
    return counters;
  }
  const std::string& database_path() const override { return database_path_; }
  DeferredIndexBuild deferred_index_build() const override {
    std::lock_guard<std::mutex> lock(close_mu_);
    return deferred_build_;
  }

 private:
  struct PendingWrite {
    WriteFn fn;
    WriteDone done;
    bool rerunnable = false;  // WriteRerunnable
  };

  // Writer-thread state that must roll back with a savepoint or a failed commit.
  struct WriterState {
    int64_t max_last_updated = 0;
    bool time_ordered = true;
    bool operator==(const WriterState&) const = default;
  };

  // The StoreTxn handed to write closures. One instance, used only on the writer thread.
  class Txn final : public StoreTxn {
   public:
    explicit Txn(SqliteStoreImpl& store) : store_(store) {}
    Result<std::optional<StoredResource>> ReadLatest(const ResourceKey& key) override {
      return ReadLatestOn(*store_.writer_, key);
    }
    Status Append(const std::string& tenant, StoredResource& version,
                  const std::vector<search::IndexEntry>* index) override {
      return store_.Append(tenant, version, index);
    }
    Result<SearchPage> Search(const std::string& tenant, const search::Query& query) override {
      // Writes the group's pending full-text rows first, so _text/_content criteria see them.
      if (Status s = store_.FlushText(); !s.ok()) return s;
      Result<SearchPage> page = RunSearch(*store_.writer_, tenant, query);
      if (!page.ok()) return page;
      // _include/_revinclude as Store::Search does (a search entry of a Bundle asks for them).
      if (Status s = RunIncludes(*store_.writer_, tenant, query, *page); !s.ok()) return s;
      return page;
    }
    int64_t NextTimestamp() override {
      int64_t now = core::NowMicros();
      store_.last_timestamp_ = std::max(now, store_.last_timestamp_ + 1);
      return store_.last_timestamp_;
    }
    Result<bool> ReplaceIndex(const ResourceKey& key, int64_t expected_version,
                              const std::vector<search::IndexEntry>& entries) override {
      return store_.ReplaceIndex(key, expected_version, entries);
    }
    Status SetMeta(const std::string& key, std::optional<int64_t> value) override {
      return store_.SetMeta(key, value);
    }
    Result<bool> CompactSearchIndex(int64_t pages) override { return store_.MergeText(pages); }

   private:
    SqliteStoreImpl& store_;
  };

  Status OpenWriter();
  Status OpenReaders();
  Status ConfigureConnection(Connection& connection, bool writer);
  // The writer's page cache in KiB: its own size, or the readers' when none is set.
  int64_t WriterCacheKib() const {
    return options_.writer_cache_kib > 0 ? options_.writer_cache_kib : options_.cache_kib;
  }
  // Replaces SQLite's automatic checkpoints on the writer by the Checkpointer and its WAL hook.
  Status StartCheckpointer();
  // At open: defers the value indexes (a bulk load), or builds those an interrupted one left.
  Status PrepareValueIndexes();
  // Builds the deferred value indexes on the writer's connection (idle: at open or close).
  DeferredIndexBuild BuildValueIndexes();
  // After a commit: the writer's share of checkpointing (see checkpointer.h).
  void CheckpointIfDue();

  void WriterLoop();
  void Queue(PendingWrite write);
  void RunGroup(std::vector<PendingWrite>& group);
  // Runs the group's writes without savepoints when every one of them may be run again: true
  // when all succeeded (the transaction stays open for the commit), false after rolling the
  // whole transaction back (a write failed), for RunGroup to run them again one savepoint each.
  bool RunWithoutSavepoints(std::vector<PendingWrite>& group);
  Status RunOne(PendingWrite& write);
  // Runs the only write of a group without a savepoint.
  Status RunAlone(PendingWrite& write);
  // Rolls the group's open transaction back (unless SQLite already did) and forgets the writer
  // state its writes changed (state_, the full-text rows not yet written).
  void RollBackGroup();
  // Calls the write's closure, turning exceptions into a failed Status.
  Status Invoke(PendingWrite& write);
  Status Append(const std::string& tenant, StoredResource& version,
                const std::vector<search::IndexEntry>* index);
  // Replaces the index rows of `rid` with `index` (nullptr: removes them). `fresh`: rid is new
  // and has no rows yet.
  Status WriteIndex(int64_t rid, bool fresh, const std::vector<search::IndexEntry>* index);
  Status SaveState();
  // Writes the pending_text_ entries not yet in idx_text (see PendingText).
  Status FlushText();
  // StoreTxn::ReplaceIndex and SetMeta, on the writer thread.
  Result<bool> ReplaceIndex(const ResourceKey& key, int64_t expected_version,
                            const std::vector<search::IndexEntry>& entries);
  Status SetMeta(const std::string& key, std::optional<int64_t> value);
  // StoreTxn::CompactSearchIndex: merges idx_text's segments (see the definition).
  Result<bool> MergeText(int64_t pages);

  // Smallest seq whose row has last_updated >= `t` (max_seq + 1 if none), by binary search over
  // seq. Only meaningful while history is time ordered (last_updated increases with seq).
  Result<int64_t> FirstSeqAtOrAfter(Connection& connection, int64_t t, int64_t max_seq);

  const SqliteOptions options_;
  const std::string database_path_;
  std::unique_ptr<LockFile> lock_;  // released last, after the database is closed

  ReaderPool readers_;

  // The writer's connection and state: used only by the writer thread once it runs (by Open()
  // before, by Close() after it is joined).
  std::unique_ptr<Connection> writer_;
  // Synchronous::kFull only: syncs the log and acknowledges committed groups (log_syncer.h).
  std::unique_ptr<LogSyncer> syncer_;
  // Runs the big checkpoints off the writer thread (checkpointer.h).
  std::unique_ptr<Checkpointer> checkpointer_;
  // Frames in the log after the last commit, set by the WAL hook (on the writer thread).
  int64_t log_frames_ = 0;
  Txn txn_;
  WriterState state_;  // includes the writes of the current group so far
  // Full-text rows of the current group, written at its end by FlushText(). FTS5 writes its
  // in-memory terms out as a new segment at every SAVEPOINT, so rows inserted write by write (each
  // in its own savepoint) would cost a segment, and later merges, per resource; once per group
  // they cost one. A write that rolls back drops its entries (RunOne).
  struct PendingText {
    int64_t rid = 0;
    bool insert = false;  // false: delete the row of rid
    std::string narrative;
    std::string content;
  };
  std::vector<PendingText> pending_text_;
  // How many of pending_text_ are already in idx_text: a search inside the group (Txn::Search)
  // flushes early. If the write that searched rolls back, so do the rows it flushed (RunOne).
  size_t text_flushed_ = 0;
  WriterState committed_state_;  // as of the last commit
  int64_t last_timestamp_ = 0;   // the last NextTimestamp(), or the largest appended last_updated

  // Whether readers may turn time bounds into seq bounds. Cleared before the commit that breaks
  // the order, so a reader whose snapshot holds that commit always sees it cleared.
  std::atomic<bool> time_ordered_{true};

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<PendingWrite> queue_;  // guarded by queue_mu_
  bool stopping_ = false;           // guarded by queue_mu_
  std::thread writer_thread_;

  bool opened_ = false;                // Open() succeeded; set before the store is shared
  mutable std::mutex close_mu_;        // serialises Close()
  bool closed_ = false;                // guarded by close_mu_
  DeferredIndexBuild deferred_build_;  // guarded by close_mu_: what Close() built

  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> failed_commits_{0};
  std::atomic<int64_t> writes_committed_{0};
  std::atomic<int64_t> writes_failed_{0};
  std::atomic<int64_t> largest_group_{0};
  std::atomic<int64_t> writer_checkpoints_{0};
  std::atomic<int64_t> log_frames_written_{0};
  std::atomic<int64_t> rerun_groups_{0};
};

Status SqliteStoreImpl::Open() {
  Status status = OpenWriter();
  if (!status.ok()) return status;
  status = OpenReaders();
  if (!status.ok()) return status;
  writer_thread_ = std::thread([this] {
    core::SetCurrentThreadName("kiln-writer");
    WriterLoop();
  });
  opened_ = true;
  return Status::Ok();
}

Status SqliteStoreImpl::ConfigureConnection(Connection& connection, bool writer) {
  const int64_t cache_kib = writer ? WriterCacheKib() : options_.cache_kib;
  std::string pragmas = "PRAGMA cache_size = -" + std::to_string(cache_kib) +
                        "; PRAGMA mmap_size = " + std::to_string(options_.mmap_bytes) +
                        "; PRAGMA temp_store = MEMORY";
  if (writer) {
    // FULL unless kOff: the commit's sync of the log is where the log-buffering VFS writes the
    // commit's frames out (OpenWriter); inside RunGroup it syncs nothing, and the LogSyncer
    // (kFull) syncs before acknowledging. Checkpoints sync alike at NORMAL and FULL.
    Synchronous level =
        options_.synchronous == Synchronous::kOff ? Synchronous::kOff : Synchronous::kFull;
    // The log file is kept at up to 512 MiB after a restart, above the checkpoint cycle
    // (checkpointer.h): a limit below the cycle made every cycle cut the file and grow it again,
    // and appending to a file is dearer than overwriting its cached pages.
    pragmas += "; PRAGMA synchronous = " + std::to_string(SynchronousLevel(level)) +
               "; PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 536870912";
  }
  return connection.Exec(pragmas.c_str());
}

Status SqliteStoreImpl::OpenWriter() {
  // The writer's log writes go through the log-buffering VFS (log_buffer_vfs.h), which needs
  // SQLite to sync the log at each commit: synchronous=FULL (ConfigureConnection), with those
  // syncs made cheap by RunGroup's LogCommitScope. Without syncs (kOff) nothing would write the
  // buffer out before a commit is published, so that setting keeps the plain VFS.
  std::string writer_vfs = options_.vfs;
  if (options_.synchronous != Synchronous::kOff) {
    Result<std::string> buffered = LogBufferVfs(options_.vfs);
    if (!buffered.ok()) return buffered.take_status();
    writer_vfs = *buffered;
  }
  Result<std::unique_ptr<Connection>> opened = Connection::Open(
      database_path_, Connection::Mode::kReadWrite, writer_vfs, options_.busy_timeout_ms);
  if (!opened.ok()) return opened.take_status();
  writer_ = std::move(*opened);

  // Migrate() reads the header first, so a foreign or damaged file is reported as such before
  // anything is written to it.
  Status status = Migrate(*writer_);
  if (!status.ok()) return status;
  Result<std::string> mode = writer_->QueryText("PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.take_status();
  if (mode.value() != "wal") {
    return Status::Unavailable("cannot put " + database_path_ +
                               " in write-ahead-log mode (journal mode stays '" + mode.value() +
                               "'); is the file system one that supports shared memory?");
  }
  status = ConfigureConnection(*writer_, /*writer=*/true);
  if (!status.ok()) return status;
  status = PrepareValueIndexes();
  if (!status.ok()) return status;
  status = StartCheckpointer();
  if (!status.ok()) return status;
  if (options_.synchronous == Synchronous::kFull) {
    syncer_ = std::make_unique<LogSyncer>(database_path_ + "-wal");
  }

  Result<int64_t> max_last_updated =
      writer_->QueryInt("SELECT value FROM store_meta WHERE key = 'max_last_updated'");
  if (!max_last_updated.ok()) return max_last_updated.take_status();
  Result<int64_t> time_ordered =
      writer_->QueryInt("SELECT value FROM store_meta WHERE key = 'history_time_ordered'");
  if (!time_ordered.ok()) return time_ordered.take_status();
  state_.max_last_updated = *max_last_updated;
  state_.time_ordered = *time_ordered != 0;
  committed_state_ = state_;
  time_ordered_.store(state_.time_ordered);
  last_timestamp_ = state_.max_last_updated;
  return Status::Ok();
}

Status SqliteStoreImpl::PrepareValueIndexes() {
  if (options_.defer_value_indexes) {
    Result<int> deferred = DeferValueIndexes(*writer_);
    if (!deferred.ok()) return deferred.take_status();
    core::LogInfo("bulk load: value indexes deferred to the end",
                  {{"indexes", static_cast<long long>(*deferred)}});
    return Status::Ok();
  }
  Result<int> pending = DeferredIndexCount(*writer_);
  if (!pending.ok()) return pending.take_status();
  if (*pending == 0) return Status::Ok();
  core::LogWarn(
      "building the search value indexes an interrupted bulk load (kiln import) left "
      "deferred; the store opens when they are built",
      {{"indexes", static_cast<long long>(*pending)}});
  DeferredIndexBuild build = BuildValueIndexes();
  if (!build.status.ok()) return build.status;
  core::LogInfo("deferred value indexes built",
                {{"indexes", static_cast<long long>(build.indexes)}, {"seconds", build.seconds}});
  return Status::Ok();
}

DeferredIndexBuild SqliteStoreImpl::BuildValueIndexes() {
  DeferredIndexBuild build;
  const auto start = std::chrono::steady_clock::now();
  // SQLite sorts each index's rows before writing it. Its sorter keeps up to the page cache's
  // size in memory as one run sorted on this thread; with a small cache it makes smaller runs that
  // helper threads (PRAGMA threads) sort while it reads on, and merges them: on the 1M-resource
  // population the largest index (4M rows) took 9.1-10.8 s that way against 11.3 s with the
  // import's 512 MiB cache (two runs each, warm).
  unsigned cores = std::thread::hardware_concurrency();
  std::string setup =
      "PRAGMA threads = " + std::to_string(cores > 1 ? cores : 1) + "; PRAGMA cache_size = -16384";
  (void)writer_->Exec(setup.c_str());
  // After each index, the checkpointer (when it runs: at Close(), not at an open) copies that
  // index's pages into the database file while the next one builds, on the core the build leaves
  // idle; what the final checkpoint has left to copy is then the last, smallest indexes.
  Result<int> built = BuildDeferredIndexes(*writer_, [this] {
    if (checkpointer_) checkpointer_->RequestPass();
  });
  std::string restore =
      "PRAGMA threads = 0; PRAGMA cache_size = -" + std::to_string(WriterCacheKib());
  (void)writer_->Exec(restore.c_str());
  if (built.ok()) {
    build.indexes = *built;
  } else {
    build.status = built.take_status();
  }
  build.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return build;
}

Status SqliteStoreImpl::StartCheckpointer() {
  Result<std::unique_ptr<Connection>> opened = Connection::Open(
      database_path_, Connection::Mode::kReadWrite, options_.vfs, options_.busy_timeout_ms);
  if (!opened.ok()) return opened.take_status();
  // The writer's synchronous level, so its checkpoints sync the log before copying and the
  // database file after, like the writer's own would.
  Status status = ConfigureConnection(**opened, /*writer=*/true);
  if (!status.ok()) return status;
  checkpointer_ = std::make_unique<Checkpointer>(std::move(*opened), options_.checkpoint);
  // A WAL hook replaces the automatic checkpoint (sqlite3_wal_autocheckpoint installs one too);
  // it only records the log's size, CheckpointIfDue() acts on it once the COMMIT has returned.
  sqlite3_wal_hook(
      writer_->db(),
      [](void* self, sqlite3*, const char*, int frames) {
        auto* store = static_cast<SqliteStoreImpl*>(self);
        // A smaller count than last time: the log restarted from its beginning.
        int64_t added = frames >= store->log_frames_ ? frames - store->log_frames_ : frames;
        store->log_frames_written_.fetch_add(added, std::memory_order_relaxed);
        store->log_frames_ = frames;
        return SQLITE_OK;
      },
      this);
  return Status::Ok();
}

void SqliteStoreImpl::CheckpointIfDue() {
  if (!checkpointer_ || !checkpointer_->AfterCommit(log_frames_)) return;
  int log = 0;
  int copied = 0;
  int rc =
      sqlite3_wal_checkpoint_v2(writer_->db(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  writer_checkpoints_.fetch_add(1, std::memory_order_relaxed);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    core::LogWarn("checkpoint failed", {{"database", database_path_},
                                        {"error", writer_->Error(rc, "checkpointing").message()}});
  }
}

Status SqliteStoreImpl::OpenReaders() {
  for (int i = 0; i < options_.reader_connections; ++i) {
    Result<std::unique_ptr<Connection>> opened = Connection::Open(
        database_path_, Connection::Mode::kReadOnly, options_.vfs, options_.busy_timeout_ms);
    if (!opened.ok()) return opened.take_status();
    Status status = ConfigureConnection(**opened, /*writer=*/false);
    if (!status.ok()) return status;
    readers_.Add(std::move(*opened));
  }
  return Status::Ok();
}

// --- reads -----------------------------------------------------------------------------------

Result<std::optional<StoredResource>> SqliteStoreImpl::Read(const ResourceKey& key) {
  ReaderLease lease(readers_);
  if (lease.get() == nullptr) return Closed();
  return ReadLatestOn(*lease.get(), key);
}

Result<std::optional<StoredResource>> SqliteStoreImpl::ReadVersion(const ResourceKey& key,
                                                                   int64_t version) {
  ReaderLease lease(readers_);
  Connection* connection = lease.get();
  if (connection == nullptr) return Closed();
  Result<sqlite3_stmt*> prepared = connection->Statement(kReadVersion, kReadVersionSql);
  if (!prepared.ok()) return prepared.take_status();
  sqlite3_stmt* stmt = *prepared;
  StatementScope scope(stmt);
  BindText(stmt, 1, key.tenant);
  BindText(stmt, 2, key.type);
  BindText(stmt, 3, key.id);
  sqlite3_bind_int64(stmt, 4, version);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::optional<StoredResource>();
  if (rc != SQLITE_ROW) return connection->Error(rc, kReadVersionSql);
  std::optional<StoredResource> out(std::in_place);
  out->info.type = key.type;
  out->info.id = key.id;
  FillVersion(stmt, 0, *out);
  return out;
}

Result<int64_t> SqliteStoreImpl::FirstSeqAtOrAfter(Connection& connection, int64_t t,
                                                   int64_t max_seq) {
  Result<sqlite3_stmt*> prepared = connection.Statement(kFirstSeqFrom, kFirstSeqFromSql);
  if (!prepared.ok()) return prepared.take_status();
  sqlite3_stmt* stmt = *prepared;
  // f(x) = last_updated of the first row with seq >= x is non-decreasing in x (seqs may have
  // gaps); find the smallest x in [1, max_seq + 1] with f(x) >= t, taking f(max_seq + 1) = +inf.
  int64_t low = 1;
  int64_t high = max_seq + 1;
  while (low < high) {
    int64_t mid = low + (high - low) / 2;
    StatementScope scope(stmt);
    sqlite3_bind_int64(stmt, 1, mid);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return connection.Error(rc, kFirstSeqFromSql);
    bool at_or_after = rc == SQLITE_DONE || sqlite3_column_int64(stmt, 0) >= t;
    if (at_or_after) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  return low;
}

Result<HistoryPage> SqliteStoreImpl::History(const HistoryQuery& query) {
  if (!query.id.empty() && query.type.empty()) {
    return Status::Invalid("instance history needs a resource type");
  }
  if (query.count < 0) return Status::Invalid("history page size must not be negative");
  Scope scope =
      query.id.empty() ? (query.type.empty() ? Scope::kSystem : Scope::kType) : Scope::kInstance;
  bool at = query.at_low.has_value();

  ReaderLease lease(readers_);
  Connection* connection = lease.get();
  if (connection == nullptr) return Closed();
  // One snapshot for the seq probes, the page and the total.
  ReadTransaction transaction(*connection);
  Status status = transaction.Begin();
  if (!status.ok()) return status;

  int64_t seq_low = 0;
  int64_t seq_high = kMaxInt64;  // from the time bounds; before_seq is applied to the page only
  int64_t time_low = query.since.value_or(kMinInt64);
  int64_t time_high = query.at_high.value_or(kMaxInt64);
  if (query.since || query.at_high) {
    Result<int64_t> max_seq = QueryInt(*connection, kMaxSeq, kMaxSeqSql);
    if (!max_seq.ok()) return max_seq.take_status();
    // Read after the snapshot is taken (by the query above): see time_ordered_.
    if (time_ordered_.load()) {
      // last_updated grows with seq, so each time bound is a seq bound: the index then reads
      // exactly the matching rows instead of filtering back through all of history.
      if (query.since) {
        Result<int64_t> seq = FirstSeqAtOrAfter(*connection, *query.since, *max_seq);
        if (!seq.ok()) return seq.take_status();
        seq_low = *seq;
      }
      if (query.at_high) {
        Result<int64_t> seq = FirstSeqAtOrAfter(*connection, *query.at_high, *max_seq);
        if (!seq.ok()) return seq.take_status();
        seq_high = *seq;
      }
    }
  }

  // Binds the parameters every variant shares; the seq upper bound differs (page vs total).
  auto bind = [&](sqlite3_stmt* stmt, int64_t high) {
    BindText(stmt, 1, query.tenant);
    sqlite3_bind_int64(stmt, 2, seq_low);
    sqlite3_bind_int64(stmt, 3, high);
    sqlite3_bind_int64(stmt, 4, time_low);
    sqlite3_bind_int64(stmt, 5, time_high);
    if (scope != Scope::kSystem) BindText(stmt, 7, query.type);
    if (scope == Scope::kInstance) BindText(stmt, 8, query.id);
    if (at) sqlite3_bind_int64(stmt, 9, *query.at_low);
  };

  HistoryPage page;
  {
    const char* sql = HistorySqlFor(scope, at, /*count=*/false);
    Result<sqlite3_stmt*> prepared = connection->Statement(HistorySlot(scope, at, false), sql);
    if (!prepared.ok()) return prepared.take_status();
    sqlite3_stmt* stmt = *prepared;
    StatementScope statement_scope(stmt);
    bind(stmt, std::min(seq_high, query.before_seq.value_or(kMaxInt64)));
    sqlite3_bind_int64(stmt, 6, static_cast<int64_t>(query.count) + 1);
    page.entries.reserve(static_cast<size_t>(std::min(query.count, 1000)));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (page.entries.size() == static_cast<size_t>(query.count)) {
        page.has_more = true;
        break;
      }
      StoredResource& entry = page.entries.emplace_back();
      entry.info.seq = sqlite3_column_int64(stmt, 0);
      entry.info.type = ColumnText(stmt, 1);
      entry.info.id = ColumnText(stmt, 2);
      entry.info.version = sqlite3_column_int64(stmt, 3);
      entry.info.last_updated = sqlite3_column_int64(stmt, 4);
      entry.info.deleted = sqlite3_column_int64(stmt, 5) != 0;
      entry.info.method = MethodFromCode(sqlite3_column_int64(stmt, 6));
      std::string_view json = ColumnBlob(stmt, 7);
      entry.json.assign(json.data(), json.size());
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return connection->Error(rc, sql);
  }
  if (query.want_total) {
    const char* sql = HistorySqlFor(scope, at, /*count=*/true);
    Result<sqlite3_stmt*> prepared = connection->Statement(HistorySlot(scope, at, true), sql);
    if (!prepared.ok()) return prepared.take_status();
    sqlite3_stmt* stmt = *prepared;
    StatementScope statement_scope(stmt);
    bind(stmt, seq_high);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) return connection->Error(rc, sql);
    page.total = sqlite3_column_int64(stmt, 0);
  }
  return page;
}

Result<SearchPage> SqliteStoreImpl::Search(const std::string& tenant, const search::Query& query) {
  ReaderLease lease(readers_);
  Connection* connection = lease.get();
  if (connection == nullptr) return Closed();
  // One snapshot for the page and the total.
  ReadTransaction transaction(*connection);
  Status status = transaction.Begin();
  if (!status.ok()) return status;
  Result<SearchPage> page = RunSearch(*connection, tenant, query);
  if (!page.ok()) return page;
  // In the same snapshot: what the page's matches refer to is what was there when they were read.
  if (Status s = RunIncludes(*connection, tenant, query, *page); !s.ok()) return s;
  return page;
}

Status SqliteStoreImpl::Check() {
  ReaderLease lease(readers_);
  Connection* connection = lease.get();
  if (connection == nullptr) return Closed();
  Result<sqlite3_stmt*> prepared = connection->Statement(kCheck, kCheckSql);
  if (!prepared.ok()) return prepared.take_status();
  StatementScope scope(*prepared);
  int rc = sqlite3_step(*prepared);
  if (rc != SQLITE_ROW) {
    return rc == SQLITE_DONE ? Status::Internal(database_path_ + " has no store_meta row")
                             : connection->Error(rc, kCheckSql);
  }
  return Status::Ok();
}

StoreStats SqliteStoreImpl::Stats() {
  StoreStats stats;
  for (const std::string& path : {database_path_, database_path_ + "-wal"}) {
    std::error_code error;
    uintmax_t size = std::filesystem::file_size(path, error);
    if (!error) stats.database_bytes += static_cast<int64_t>(size);
  }
  return stats;
}

// --- writes ----------------------------------------------------------------------------------

void SqliteStoreImpl::Write(WriteFn fn, WriteDone done) {
  Queue(PendingWrite{std::move(fn), std::move(done), false});
}

void SqliteStoreImpl::WriteRerunnable(WriteFn fn, WriteDone done) {
  Queue(PendingWrite{std::move(fn), std::move(done), true});
}

void SqliteStoreImpl::Queue(PendingWrite write) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!stopping_) {
      queue_.push_back(std::move(write));
      // Notifying under the lock is fine: the writer re-checks the queue before it sleeps.
      queue_cv_.notify_one();
      return;
    }
  }
  if (write.done) write.done(Closed());
}

void SqliteStoreImpl::WriterLoop() {
  std::vector<PendingWrite> group;
  const size_t max_group = static_cast<size_t>(options_.max_group_writes);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued has been committed
      size_t n = std::min(queue_.size(), max_group);
      group.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunGroup(group);
    group.clear();
  }
}

Status SqliteStoreImpl::Invoke(PendingWrite& write) {
  try {
    return write.fn(txn_);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("a write threw an exception: ") + e.what());
  } catch (...) {
    return Status::Internal("a write threw a non-standard exception");
  }
}

// A savepoint costs more than its two statements: every page a write changes that an earlier
// write of the group changed too is copied to the savepoint's journal first (about 28 pages per
// imported resource, a tenth of the writer's instructions). Writes that may run again skip them.
bool SqliteStoreImpl::RunWithoutSavepoints(std::vector<PendingWrite>& group) {
  bool ok = true;
  for (PendingWrite& write : group) {
    if (!Invoke(write).ok() || sqlite3_get_autocommit(writer_->db()) != 0) {
      ok = false;
      break;
    }
  }
  if (ok) return true;
  // Back to where the group began; RunGroup begins again and runs each write in a savepoint.
  RollBackGroup();
  rerun_groups_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void SqliteStoreImpl::RollBackGroup() {
  if (sqlite3_get_autocommit(writer_->db()) == 0) (void)Run(*writer_, kRollback, kRollbackSql);
  state_ = committed_state_;
  pending_text_.clear();
  text_flushed_ = 0;
}

// A group of one write needs no savepoint: when the write fails, rolling the whole transaction
// back undoes exactly that write, and an empty transaction takes its place so that the group ends
// as RunOne's would. (A savepoint copies every page the write changes into its journal first: for
// a 998-entry transaction Bundle, the copying was 6% of the writer's samples.)
Status SqliteStoreImpl::RunAlone(PendingWrite& write) {
  Status status = Invoke(write);
  if (status.ok() || sqlite3_get_autocommit(writer_->db()) != 0) return status;
  RollBackGroup();
  // If this fails, no transaction is open, and RunGroup fails the group for it.
  (void)Run(*writer_, kBeginImmediate, kBeginImmediateSql);
  return status;
}

Status SqliteStoreImpl::RunOne(PendingWrite& write) {
  Status status = Run(*writer_, kSavepoint, kSavepointSql);
  if (!status.ok()) return status;
  WriterState before = state_;
  const size_t text_before = pending_text_.size();
  const size_t flushed_before = text_flushed_;
  status = Invoke(write);
  if (status.ok()) {
    status = Run(*writer_, kRelease, kReleaseSql);
    if (status.ok()) return status;
  }
  // Undo this write only: the savepoint keeps the group's earlier writes.
  state_ = before;
  pending_text_.resize(text_before);
  text_flushed_ = flushed_before;  // the rollback undid what this write flushed
  if (sqlite3_get_autocommit(writer_->db()) == 0) {
    (void)Run(*writer_, kRollbackTo, kRollbackToSql);
    (void)Run(*writer_, kRelease, kReleaseSql);
  }
  return status;
}

void SqliteStoreImpl::RunGroup(std::vector<PendingWrite>& group) {
  std::vector<Status> results(group.size());
  int64_t ok_count = 0;
  Status group_failure =
      syncer_ && syncer_->Failed()
          ? Status::Unavailable("the store takes no writes since syncing its log to disk failed")
          : Run(*writer_, kBeginImmediate, kBeginImmediateSql);
  // The log is open once a transaction has begun. Its commit syncs below only write the buffered
  // frames out: durability is the LogSyncer's (kFull) or the checkpoints' (kNormal).
  sqlite3_file* log = nullptr;
  if (group_failure.ok() && sqlite3_file_control(writer_->db(), "main",
                                                 SQLITE_FCNTL_JOURNAL_POINTER, &log) != SQLITE_OK) {
    log = nullptr;
  }
  std::optional<LogCommitScope> commit_scope(std::in_place, log);
  bool without_savepoints = false;
  if (group_failure.ok() && group.size() > 1 &&
      std::all_of(group.begin(), group.end(), [](const PendingWrite& w) { return w.rerunnable; })) {
    without_savepoints = RunWithoutSavepoints(group);
    if (without_savepoints) {
      ok_count = static_cast<int64_t>(group.size());
    } else {
      group_failure = Run(*writer_, kBeginImmediate, kBeginImmediateSql);
    }
  }
  if (group_failure.ok() && !without_savepoints) {
    for (size_t i = 0; i < group.size(); ++i) {
      results[i] = group.size() == 1 ? RunAlone(group[i]) : RunOne(group[i]);
      if (sqlite3_get_autocommit(writer_->db()) != 0) {
        // SQLite rolled the whole transaction back (disk full, I/O error): the writes before this
        // one are gone too, so none of the group may be acknowledged.
        group_failure = Status::Unavailable(
            "the database rolled back the write transaction: " +
            (results[i].ok() ? std::string("(no detail)") : results[i].message()));
        break;
      }
      if (results[i].ok()) ++ok_count;
    }
  }
  if (group_failure.ok()) {
    group_failure = FlushText();
    if (group_failure.ok()) group_failure = SaveState();
    if (group_failure.ok()) group_failure = Run(*writer_, kCommit, kCommitSql);
    if (!group_failure.ok() && sqlite3_get_autocommit(writer_->db()) == 0) {
      (void)Run(*writer_, kRollback, kRollbackSql);
    }
  }
  pending_text_.clear();  // flushed, or rolled back with the group
  text_flushed_ = 0;
  // Ended before any checkpoint: a checkpoint's sync of the log must be a real one.
  commit_scope.reset();

  if (group_failure.ok()) {
    committed_state_ = state_;
    commits_.fetch_add(1, std::memory_order_relaxed);
    writes_committed_.fetch_add(ok_count, std::memory_order_relaxed);
    writes_failed_.fetch_add(static_cast<int64_t>(group.size()) - ok_count,
                             std::memory_order_relaxed);
    int64_t size = static_cast<int64_t>(group.size());
    if (size > largest_group_.load(std::memory_order_relaxed)) {
      largest_group_.store(size, std::memory_order_relaxed);
    }
  } else {
    // Nothing of this group is durable: every write fails. Those whose closure succeeded (or never
    // ran) get kUnavailable, so a retry is safe since none of them took effect; those that failed
    // on their own keep their own Status.
    state_ = committed_state_;
    failed_commits_.fetch_add(1, std::memory_order_relaxed);
    writes_failed_.fetch_add(static_cast<int64_t>(group.size()), std::memory_order_relaxed);
    core::LogError("store group commit failed",
                   {{"database", database_path_},
                    {"writes", static_cast<long long>(group.size())},  // NOLINT(google-runtime-int)
                    {"error", group_failure.message()}});
    Status failure = Status::Unavailable("the write was not committed: " + group_failure.message());
    for (Status& result : results) {
      if (result.ok()) result = failure;
    }
  }

  if (syncer_ && group_failure.ok()) {
    // Committed: acknowledged once the log holding it is on disk.
    std::vector<LogSyncer::Pending> acks;
    acks.reserve(group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      if (!group[i].done) continue;
      auto result = std::make_shared<Status>(std::move(results[i]));
      auto done = std::make_shared<WriteDone>(std::move(group[i].done));
      acks.push_back({[done, result] { (*done)(std::move(*result)); },
                      [done, result](Status sync_failure) {
                        // A write that failed on its own keeps its own answer.
                        (*done)(result->ok() ? std::move(sync_failure) : std::move(*result));
                      }});
    }
    // A null log makes the syncer fail the group, refusing to guess.
    syncer_->Submit(log, std::move(acks));
    CheckpointIfDue();
    return;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    if (!group[i].done) continue;
    try {
      group[i].done(std::move(results[i]));
    } catch (...) {
      // A throwing callback must not take the writer thread (and every later write) down.
      core::LogError("store write callback threw; ignored", {{"database", database_path_}});
    }
  }
  if (group_failure.ok()) CheckpointIfDue();
}

Status SqliteStoreImpl::Append(const std::string& tenant, StoredResource& version,
                               const std::vector<search::IndexEntry>* index) {
  VersionInfo& info = version.info;
  if (tenant.empty() || info.type.empty() || info.id.empty()) {
    return Status::Invalid("a stored version needs a tenant, a type and an id");
  }
  if (info.deleted && !version.json.empty()) {
    return Status::Invalid("a deletion marker has no content");
  }
  Connection& db = *writer_;

  int64_t rid = 0;
  int64_t latest = 0;
  {
    Result<sqlite3_stmt*> prepared = db.Statement(kFindCurrent, kFindCurrentSql);
    if (!prepared.ok()) return prepared.take_status();
    sqlite3_stmt* stmt = *prepared;
    StatementScope scope(stmt);
    BindText(stmt, 1, tenant);
    BindText(stmt, 2, info.type);
    BindText(stmt, 3, info.id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      rid = sqlite3_column_int64(stmt, 0);
      latest = sqlite3_column_int64(stmt, 1);
    } else if (rc != SQLITE_DONE) {
      return db.Error(rc, kFindCurrentSql);
    }
  }
  if (info.version != latest + 1) {
    return Status::Conflict(info.type + "/" + info.id + ": cannot store version " +
                            std::to_string(info.version) + ", the latest version is " +
                            std::to_string(latest));
  }

  int64_t seq = 0;
  {
    Result<sqlite3_stmt*> prepared = db.Statement(kInsertVersion, kInsertVersionSql);
    if (!prepared.ok()) return prepared.take_status();
    sqlite3_stmt* stmt = *prepared;
    StatementScope scope(stmt);
    BindText(stmt, 1, tenant);
    BindText(stmt, 2, info.type);
    BindText(stmt, 3, info.id);
    sqlite3_bind_int64(stmt, 4, info.version);
    sqlite3_bind_int64(stmt, 5, info.last_updated);
    sqlite3_bind_int(stmt, 6, info.deleted ? 1 : 0);
    sqlite3_bind_int(stmt, 7, MethodCode(info.method));
    BindBlob(stmt, 8, version.json);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return db.Error(rc, kInsertVersionSql);
    // The rowid SQLite picks is one past the largest, so seq follows commit order.
    seq = sqlite3_last_insert_rowid(db.db());
  }
  {
    const char* sql = rid != 0 ? kUpdateCurrentSql : kInsertCurrentSql;
    Result<sqlite3_stmt*> prepared = db.Statement(rid != 0 ? kUpdateCurrent : kInsertCurrent, sql);
    if (!prepared.ok()) return prepared.take_status();
    sqlite3_stmt* stmt = *prepared;
    StatementScope scope(stmt);
    if (rid != 0) {
      sqlite3_bind_int64(stmt, 1, rid);
      sqlite3_bind_int64(stmt, 2, info.version);
      sqlite3_bind_int64(stmt, 3, seq);
      sqlite3_bind_int(stmt, 4, info.deleted ? 1 : 0);
      sqlite3_bind_int64(stmt, 5, info.last_updated);
    } else {
      BindText(stmt, 1, tenant);
      BindText(stmt, 2, info.type);
      BindText(stmt, 3, info.id);
      sqlite3_bind_int64(stmt, 4, info.version);
      sqlite3_bind_int64(stmt, 5, seq);
      sqlite3_bind_int(stmt, 6, info.deleted ? 1 : 0);
      sqlite3_bind_int64(stmt, 7, info.last_updated);
    }
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return db.Error(rc, sql);
  }
  if (info.deleted || index != nullptr) {
    bool fresh = rid == 0;
    if (fresh) rid = sqlite3_last_insert_rowid(db.db());
    Status status = WriteIndex(rid, fresh, info.deleted ? nullptr : index);
    if (!status.ok()) return status;
  }

  if (info.last_updated <= state_.max_last_updated) state_.time_ordered = false;
  state_.max_last_updated = std::max(state_.max_last_updated, info.last_updated);
  last_timestamp_ = std::max(last_timestamp_, info.last_updated);
  info.seq = seq;
  return Status::Ok();
}

Status SqliteStoreImpl::WriteIndex(int64_t rid, bool fresh,
                                   const std::vector<search::IndexEntry>* index) {
  Connection& db = *writer_;
  // A resource's rows are keys rid << 20 | n (schema migration 3).
  const int64_t first_key = rid << kIndexKeyBits;
  if (!fresh) {
    for (size_t table = 0; table < std::size(kIndexTables); ++table) {
      const char* sql = kIndexTables[table].delete_sql;
      Result<sqlite3_stmt*> prepared = db.Statement(kDeleteIndexFirst + table, sql);
      if (!prepared.ok()) return prepared.take_status();
      StatementScope scope(*prepared);
      sqlite3_bind_int64(*prepared, 1, first_key);
      sqlite3_bind_int64(*prepared, 2, first_key + kMaxIndexEntries - 1);
      int rc = sqlite3_step(*prepared);
      if (rc != SQLITE_DONE) return db.Error(rc, sql);
    }
    pending_text_.push_back(PendingText{rid, false, {}, {}});
  }
  if (index == nullptr) return Status::Ok();
  if (static_cast<int64_t>(index->size()) > kMaxIndexEntries) {
    return Status::Invalid("the resource has " + std::to_string(index->size()) +
                           " search index entries; at most " + std::to_string(kMaxIndexEntries) +
                           " are stored per resource");
  }
  int64_t n = 0;
  std::string_view narrative;
  std::string_view content;
  for (const search::IndexEntry& entry : *index) {
    size_t table = static_cast<size_t>(entry.kind());
    if (entry.kind() == search::IndexKind::kText) {
      const std::string& text = std::get<search::TextValue>(entry.value).text;
      (entry.param == "_text" ? narrative : content) = text;
      continue;
    }
    const char* sql = kIndexTables[table].insert_sql;
    Result<sqlite3_stmt*> prepared = db.Statement(kInsertIndexFirst + table, sql);
    if (!prepared.ok()) return prepared.take_status();
    sqlite3_stmt* stmt = *prepared;
    StatementScope scope(stmt);
    sqlite3_bind_int64(stmt, 1, rid);
    BindText(stmt, 2, entry.param);
    sqlite3_bind_int64(stmt, 3, entry.group);
    sqlite3_bind_int(stmt, 4, entry.component);
    sqlite3_bind_int64(stmt, 21, first_key + n++);
    BindIndexValue(stmt, entry);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return db.Error(rc, sql);
  }
  if (!narrative.empty() || !content.empty()) {
    pending_text_.push_back(PendingText{rid, true, std::string(narrative), std::string(content)});
  }
  return Status::Ok();
}

Status SqliteStoreImpl::FlushText() {
  Connection& db = *writer_;
  for (; text_flushed_ < pending_text_.size(); ++text_flushed_) {
    const PendingText& text = pending_text_[text_flushed_];
    const char* sql = text.insert ? kInsertTextSql : kDeleteTextSql;
    Result<sqlite3_stmt*> prepared = db.Statement(text.insert ? kInsertText : kDeleteText, sql);
    if (!prepared.ok()) return prepared.take_status();
    StatementScope scope(*prepared);
    sqlite3_bind_int64(*prepared, 1, text.rid);
    if (text.insert) {
      BindText(*prepared, 2, text.narrative);
      BindText(*prepared, 3, text.content);
    }
    int rc = sqlite3_step(*prepared);
    if (rc != SQLITE_DONE) return db.Error(rc, sql);
  }
  return Status::Ok();
}

// Records the group's effect on store_meta in the group's transaction.
Status SqliteStoreImpl::SaveState() {
  if (state_ == committed_state_) return Status::Ok();
  if (!state_.time_ordered && committed_state_.time_ordered) {
    // Before the commit: a reader whose snapshot includes this group must not trust time order.
    time_ordered_.store(false);
  }
  Result<sqlite3_stmt*> prepared = writer_->Statement(kSetMeta, kSetMetaSql);
  if (!prepared.ok()) return prepared.take_status();
  sqlite3_stmt* stmt = *prepared;
  auto set = [&](const char* key, int64_t value) -> Status {
    StatementScope scope(stmt);
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, value);
    int rc = sqlite3_step(stmt);
    return rc == SQLITE_DONE ? Status::Ok() : writer_->Error(rc, kSetMetaSql);
  };
  Status status = set("max_last_updated", state_.max_last_updated);
  if (status.ok() && state_.time_ordered != committed_state_.time_ordered) {
    status = set("history_time_ordered", state_.time_ordered ? 1 : 0);
  }
  return status;
}

// --- index maintenance -----------------------------------------------------------------------

// FTS5 keeps a deleted or replaced row's terms in its old segments, with a tombstone in a newer
// one, until a merge takes both in. Its automatic merges only join segments of the same size, so
// after a rebuild has replaced every row the big segments of the first load are never merged:
// on the 1M-resource population a rebuild left idx_text_data at 477 MB, 51 MB once merged.
// A negative 'merge' merges every segment, as 'optimize' does, but stops after about `pages`
// pages written; a step that changed fewer than two rows found nothing left (FTS5's own rule).
Result<bool> SqliteStoreImpl::MergeText(int64_t pages) {
  if (pages < 1) return Status::Invalid("a compaction step needs at least one page");
  if (Status status = FlushText(); !status.ok()) return status;
  Connection& db = *writer_;
  const char* sql = "INSERT INTO idx_text (idx_text, rank) VALUES ('merge', ?1)";
  Result<sqlite3_stmt*> prepared = db.Statement(kMergeText, sql);
  if (!prepared.ok()) return prepared.take_status();
  StatementScope scope(*prepared);
  const sqlite3_int64 before = sqlite3_total_changes64(db.db());
  sqlite3_bind_int64(*prepared, 1, -pages);
  int rc = sqlite3_step(*prepared);
  if (rc != SQLITE_DONE) return db.Error(rc, sql);
  return sqlite3_total_changes64(db.db()) - before >= 2;
}

Result<ScanPage> SqliteStoreImpl::ScanCurrent(int64_t cursor, int limit) {
  if (limit < 1) return Status::Invalid("a scan page needs a limit of at least 1");
  if (cursor < 0) return Status::Invalid("not a scan cursor: " + std::to_string(cursor));
  ReaderLease lease(readers_);
  Connection* connection = lease.get();
  if (connection == nullptr) return Closed();
  Result<sqlite3_stmt*> prepared = connection->Statement(kScanCurrent, kScanCurrentSql);
  if (!prepared.ok()) return prepared.take_status();
  sqlite3_stmt* stmt = *prepared;
  // One statement: it reads one snapshot.
  StatementScope scope(stmt);
  sqlite3_bind_int64(stmt, 1, cursor);
  sqlite3_bind_int64(stmt, 2, limit);
  ScanPage page;
  page.next_cursor = cursor;
  page.resources.reserve(static_cast<size_t>(std::min(limit, 1000)));
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    page.next_cursor = sqlite3_column_int64(stmt, 0);
    ScannedResource& out = page.resources.emplace_back();
    out.tenant = ColumnText(stmt, 1);
    out.resource.info.type = ColumnText(stmt, 2);
    out.resource.info.id = ColumnText(stmt, 3);
    FillVersion(stmt, 4, out.resource);
  }
  if (rc != SQLITE_DONE) return connection->Error(rc, kScanCurrentSql);
  page.done = page.resources.size() < static_cast<size_t>(limit);
  return page;
}

Result<int64_t> SqliteStoreImpl::CountCurrent(int64_t cursor) {
  ReaderLease lease(readers_);
  Connection* connection = lease.get();
  if (connection == nullptr) return Closed();
  Result<sqlite3_stmt*> prepared = connection->Statement(kCountCurrent, kCountCurrentSql);
  if (!prepared.ok()) return prepared.take_status();
  StatementScope scope(*prepared);
  sqlite3_bind_int64(*prepared, 1, cursor);
  int rc = sqlite3_step(*prepared);
  if (rc != SQLITE_ROW) return connection->Error(rc, kCountCurrentSql);
  return sqlite3_column_int64(*prepared, 0);
}

Result<std::optional<int64_t>> SqliteStoreImpl::ReadMeta(const std::string& key) {
  ReaderLease lease(readers_);
  Connection* connection = lease.get();
  if (connection == nullptr) return Closed();
  Result<sqlite3_stmt*> prepared = connection->Statement(kReadMeta, kReadMetaSql);
  if (!prepared.ok()) return prepared.take_status();
  StatementScope scope(*prepared);
  BindText(*prepared, 1, key);
  int rc = sqlite3_step(*prepared);
  if (rc == SQLITE_DONE) return std::optional<int64_t>();
  if (rc != SQLITE_ROW) return connection->Error(rc, kReadMetaSql);
  return std::optional<int64_t>(sqlite3_column_int64(*prepared, 0));
}

Result<bool> SqliteStoreImpl::ReplaceIndex(const ResourceKey& key, int64_t expected_version,
                                           const std::vector<search::IndexEntry>& entries) {
  Connection& db = *writer_;
  int64_t rid = 0;
  int64_t version = 0;
  {
    Result<sqlite3_stmt*> prepared = db.Statement(kFindCurrent, kFindCurrentSql);
    if (!prepared.ok()) return prepared.take_status();
    sqlite3_stmt* stmt = *prepared;
    StatementScope scope(stmt);
    BindText(stmt, 1, key.tenant);
    BindText(stmt, 2, key.type);
    BindText(stmt, 3, key.id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return Status::NotFound(key.type + "/" + key.id + " does not exist");
    if (rc != SQLITE_ROW) return db.Error(rc, kFindCurrentSql);
    rid = sqlite3_column_int64(stmt, 0);
    version = sqlite3_column_int64(stmt, 1);
  }
  // A deletion is a version of its own, so an unchanged version number means not deleted since
  // the caller read it; the caller never passes a deletion's version (ScanCurrent skips them).
  if (version != expected_version) return false;
  Status status = WriteIndex(rid, /*fresh=*/false, &entries);
  if (!status.ok()) return status;
  return true;
}

Status SqliteStoreImpl::SetMeta(const std::string& key, std::optional<int64_t> value) {
  if (key.empty() || IsReservedMetaKey(key)) {
    return Status::Invalid("store_meta key '" + key + "' is not one a caller may set");
  }
  Connection& db = *writer_;
  const char* sql = value ? kUpsertMetaSql : kDeleteMetaSql;
  Result<sqlite3_stmt*> prepared = db.Statement(value ? kUpsertMeta : kDeleteMeta, sql);
  if (!prepared.ok()) return prepared.take_status();
  StatementScope scope(*prepared);
  BindText(*prepared, 1, key);
  if (value) sqlite3_bind_int64(*prepared, 2, *value);
  int rc = sqlite3_step(*prepared);
  return rc == SQLITE_DONE ? Status::Ok() : db.Error(rc, sql);
}

// --- lifecycle -------------------------------------------------------------------------------

void SqliteStoreImpl::Close() {
  if (std::this_thread::get_id() == writer_thread_.get_id() ||
      (syncer_ && syncer_->OnSyncThread())) {
    // From a write closure or a done callback: the writer cannot join itself. Stop taking writes
    // now; the owner's Close() (or the destructor) finishes the job.
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
    return;
  }
  std::lock_guard<std::mutex> close_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  if (syncer_) syncer_->Stop();  // acknowledges the last groups
  readers_.Close();
  if (writer_ && opened_ && options_.defer_value_indexes) {
    // Before the final checkpoint, which then folds the new index pages into the file too. The
    // checkpointer still runs: it copies each index built while the next one builds.
    deferred_build_ = BuildValueIndexes();
    if (deferred_build_.status.ok()) {
      core::LogInfo("deferred value indexes built",
                    {{"indexes", static_cast<long long>(deferred_build_.indexes)},
                     {"seconds", deferred_build_.seconds}});
    } else {
      core::LogError("building the deferred value indexes failed; the next open builds them",
                     {{"error", deferred_build_.status.message()}});
    }
  }
  if (checkpointer_) checkpointer_->Stop();
  if (writer_ && opened_) {
    // Folds the log into the database file and truncates it, so a closed data directory is one
    // self-contained file (easy to copy) and the next open has no log to replay. Best effort: a
    // failure leaves a valid log that the next open uses.
    Status status = writer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    if (!status.ok()) {
      core::LogWarn("store checkpoint on close failed", {{"error", status.message()}});
    }
  }
  writer_.reset();
  lock_.reset();
  SqliteCounters c = Counters();
  core::LogInfo("store closed",
                {{"commits", static_cast<long long>(c.commits)},
                 {"writes_committed", static_cast<long long>(c.writes_committed)},
                 {"writes_failed", static_cast<long long>(c.writes_failed)},
                 {"largest_group", static_cast<long long>(c.largest_group)},
                 {"background_checkpoints", static_cast<long long>(c.background_checkpoints)},
                 {"writer_checkpoints", static_cast<long long>(c.writer_checkpoints)},
                 {"log_frames", static_cast<long long>(c.log_frames)}});
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  static std::once_flag configured;
  std::call_once(configured, [] {
    // Memory statistics take a process-wide mutex on every SQLite allocation, which readers on
    // many threads then queue on; Kiln does not read them. Only possible before SQLite's first
    // use in the process: if something initialised SQLite earlier, this fails harmlessly.
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  });
  if (options.data_dir.empty()) return Status::Invalid("the SQLite store needs a data directory");
  if (options.max_group_writes < 1) return Status::Invalid("max_group_writes must be at least 1");
  if (options.reader_connections < 1) {
    return Status::Invalid("reader_connections must be at least 1");
  }
  if (options.cache_kib < 0 || options.writer_cache_kib < 0 || options.mmap_bytes < 0 ||
      options.busy_timeout_ms < 0) {
    return Status::Invalid(
        "cache_kib, writer_cache_kib, mmap_bytes and busy_timeout_ms must not be negative");
  }

  std::filesystem::path dir(options.data_dir);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return Status::Unavailable("cannot create the data directory " + options.data_dir + ": " +
                               error.message());
  }
  if (!std::filesystem::is_directory(dir, error)) {
    return Status::Unavailable("the data directory " + options.data_dir + " is not a directory");
  }

  Result<std::unique_ptr<LockFile>> lock = LockFile::Acquire((dir / kLockFileName).string());
  if (!lock.ok()) return lock.take_status();

  auto store = std::make_unique<SqliteStoreImpl>(options, (dir / kDatabaseFileName).string(),
                                                 std::move(*lock));
  Status status = store->Open();
  if (!status.ok()) return status;  // the destructor closes what was opened, lock last
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace kiln::store::sqlite
