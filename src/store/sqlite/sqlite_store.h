// The embedded SQLite store: Kiln's default Store, one database file in a data directory.
//
// Layout of the data directory: `kiln.db` (plus SQLite's `kiln.db-wal` and `kiln.db-shm`) and
// `kiln.lock`, an flock held while a store has the directory open, so a second Kiln process (or a
// second store in this one) is refused instead of sharing the file.
//
// The database runs in WAL mode. Reads use a pool of read-only connections, each with its prepared
// statements cached, so reads run concurrently with each other and with the writer and see the
// last committed state. Writes run on one writer thread with one connection: it takes every write
// queued at that moment (up to `max_group_writes`), runs each closure in its own SAVEPOINT inside
// one BEGIN IMMEDIATE transaction, commits once (one fsync for the whole group) and only then
// acknowledges them. The schema is versioned and migrated on open (see schema.h).
//
// Thread-safety: everything in the Store interface, and Counters(), may be called from any thread.
// The store object owns its connections, its writer thread and the lock; Close() (or destruction)
// drains queued writes, checkpoints the write-ahead log and releases the directory. Close() called
// from a write closure or a done callback only stops new writes (the writer cannot join itself);
// the store must not be destroyed from one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kiln/status.h"
#include "kiln/store.h"
#include "store/sqlite/checkpointer.h"

namespace kiln::store::sqlite {

inline constexpr const char* kDatabaseFileName = "kiln.db";
inline constexpr const char* kLockFileName = "kiln.lock";

// PRAGMA synchronous in WAL mode.
enum class Synchronous {
  kOff,     // no fsync: an OS crash or power loss may corrupt the database; benchmarks only
  kNormal,  // fsync at checkpoints only: survives kill -9, may lose the last commits on power loss
  kFull,    // fsync at every commit: an acknowledged write survives kill -9 and power loss
};

struct SqliteOptions {
  // Folder for the database and the lock file; created, with its parents, if missing.
  std::string data_dir;
  Synchronous synchronous = Synchronous::kFull;
  // Most writes one group commit (one transaction, one fsync) takes from the queue.
  int max_group_writes = 1000;
  // Read-only connections in the pool: how many reads run at the same moment (more wait).
  int reader_connections = 8;
  // SQLite page cache of each connection (writer and every reader), in KiB. Pages are allocated as
  // they are used, so this is a ceiling, not a reservation.
  int64_t cache_kib = 32 * 1024;
  // The writer's page cache instead, when not 0. The writer touches pages all over the indexes
  // (every write inserts into each value index it has rows for); on a store larger than the
  // operating system keeps cached, each page it must reread is a disk read on the single writer
  // thread, so it is worth more memory than a reader's cache.
  int64_t writer_cache_kib = 0;
  // Bytes of the database file each connection may memory-map (PRAGMA mmap_size); 0 disables.
  int64_t mmap_bytes = 0;
  // How long a statement waits for a lock held by another connection before failing.
  int busy_timeout_ms = 5000;
  // A registered sqlite3_vfs to use instead of the default (tests inject I/O faults with it).
  std::string vfs;
  // When the write-ahead log is folded back into the database file (checkpointer.h).
  CheckpointOptions checkpoint;
  // A bulk load (kiln import into a new or small store): the open drops the value indexes of the
  // search index tables and Close() builds them once, sorted (deferred_indexes.h). Searches in
  // between are correct but scan. Without it, an open that finds indexes a killed bulk load left
  // deferred builds them before it returns.
  bool defer_value_indexes = false;
};

// What building deferred value indexes did (at an open after an interrupted bulk load, or at the
// Close() of a bulk load).
struct DeferredIndexBuild {
  Status status;       // a failure leaves it and those after recorded: the next open builds them
  int indexes = 0;     // indexes built
  double seconds = 0;  // time it took
};

// What the writer has done since the store was opened.
struct SqliteCounters {
  int64_t commits = 0;           // group transactions committed
  int64_t failed_commits = 0;    // group transactions that could not be committed
  int64_t writes_committed = 0;  // writes acknowledged with OK
  int64_t writes_failed = 0;     // writes acknowledged with a failed Status
  int64_t largest_group = 0;     // most writes in one committed transaction
  // Groups of WriteRerunnable writes run again one savepoint each because one of them failed.
  int64_t rerun_groups = 0;
  int64_t background_checkpoints = 0;  // checkpoint passes run by the checkpointer thread
  int64_t writer_checkpoints = 0;      // catch-up (or hard-limit) checkpoints on the writer
  int64_t log_frames = 0;              // pages written to the write-ahead log (write volume)
};

// The Store returned by OpenSqliteStore, with SQLite-specific extras for tests and metrics.
class SqliteStore : public Store {
 public:
  // A consistent-enough snapshot of the writer's counters. Thread-safe.
  virtual SqliteCounters Counters() const = 0;
  // The database file, `<data_dir>/kiln.db`.
  virtual const std::string& database_path() const = 0;
  // With defer_value_indexes: what Close() did to build them (valid once Close() returned).
  virtual DeferredIndexBuild deferred_index_build() const = 0;
};

// Opens the store in options.data_dir, creating the directory and database if needed and migrating
// the schema. Errors name the path involved:
//   kInvalid      options out of range;
//   kUnavailable  the directory cannot be created or opened, another Kiln store holds it, I/O
//                 errors;
//   kInternal     the file is not a Kiln database, is damaged, or has a newer schema.
// The result is a SqliteStore (static_cast it for Counters()).
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace kiln::store::sqlite
