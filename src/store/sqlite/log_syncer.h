// LogSyncer: makes committed groups durable on a thread of its own, then acknowledges them.
//
// With PRAGMA synchronous=FULL SQLite fsyncs the write-ahead log inside every COMMIT, so the
// store's single writer thread sits idle for the length of each fsync before it can start the
// next group. Instead, for Synchronous::kFull, the writer's COMMIT only writes the group's pages
// to the log and returns (its sync is turned into a write-out of the buffered frames by
// log_buffer_vfs.h's LogCommitScope; checkpoints still sync the log before copying it and the
// database file after), and the writer hands each committed group here. This thread
// fdatasyncs the log file and only then runs the group's done callbacks, so no write is
// acknowledged before the log that holds it is on disk, while the writer already builds the next
// group. One sync covers every group committed before it started.
//
// The sync goes through SQLite's own file object for the log (SQLITE_FCNTL_JOURNAL_POINTER), the
// same xSync a synchronous=FULL commit would call: it also syncs the directory after the log file
// was created, and a test VFS sees it. Durability is the same as synchronous=FULL for acknowledged
// writes: a commit's frames are written to the log before COMMIT returns, and the sync that
// follows makes them durable. The difference: a reader can see a group a few milliseconds before
// its writers get their answer; a power cut in that window loses writes nobody was told had
// succeeded.
//
// If an fdatasync fails, the kernel may have dropped the unwritten pages, so whether those groups
// survive is unknown: their writers get kUnavailable, the failure is logged, and every later write
// fails too (Failed()) until the process restarts, as databases do after a failed fsync: after a
// failed fsync the kernel may report later ones as successful although the pages were dropped.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kiln/status.h"

namespace kiln::store::sqlite {

class LogSyncer {
 public:
  // Acknowledges one write: calls its done callback with its result.
  using Ack = std::function<void()>;

  // `log_path`: the database's write-ahead log ("<db>-wal"), for messages.
  explicit LogSyncer(std::string log_path);
  ~LogSyncer();  // Stop()
  LogSyncer(const LogSyncer&) = delete;
  LogSyncer& operator=(const LogSyncer&) = delete;

  // Queues the acknowledgements of a committed group. `fail(status)` is called instead of `ack`
  // for each write if the sync fails. `log` is SQLite's file object of the write-ahead log, which
  // stays valid while the writer connection is open (the store stops the syncer before closing
  // it). Called on the writer thread.
  struct Pending {
    std::function<void()> ack;
    std::function<void(Status)> fail;
  };
  void Submit(sqlite3_file* log, std::vector<Pending> group);

  // Syncs and acknowledges everything submitted, then ends the thread.
  void Stop();

  // True once a sync has failed; the store then refuses writes.
  bool Failed() const;
  bool OnSyncThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void Loop();
  Status SyncLog(sqlite3_file* log);

  const std::string log_path_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;    // guarded by mu_
  sqlite3_file* log_ = nullptr;  // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  bool failed_ = false;          // guarded by mu_
  std::thread thread_;
};

}  // namespace kiln::store::sqlite
