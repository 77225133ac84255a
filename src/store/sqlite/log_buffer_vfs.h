// Write-ahead-log writes gathered into one system call per commit.
//
// SQLite writes each frame of a commit to the log as two calls (its 24-byte header, then the
// page), so a commit of 180 pages (a group of about 11 creates into a 1M-resource store) is 360
// pwrite calls, each paying the kernel's per-call path (file times, dirty-page accounting, two
// partially written page-cache pages). A VFS over another one gathers the writes to log files
// (and only those) in a buffer and writes contiguous runs out in pieces of 120 KiB (the most the
// unix VFS takes in one call): 360 calls for a group of 180 frames took 343-433 us against 98 us
// for one (a C program writing the two patterns into a cached file on this machine).
//
// Everything SQLite could observe stays as it was, because the buffer is written out before:
//  - any read of the log through the same handle, a size query, a truncation, the close;
//  - a write that does not continue the buffered run, or that would overflow the buffer;
//  - every sync. The store's writer runs at synchronous=FULL, so SQLite syncs the log at the end
//    of each commit, *before* it publishes the commit to readers (the wal-index header). Inside a
//    LogCommitScope that sync only writes the buffer out: the sync that makes a group durable is
//    the LogSyncer's (log_syncer.h), before any write of the group is acknowledged, as before.
//    A sync right after the log's header was rewritten (a log restart) stays a real one: SQLite
//    orders the header before the frames that follow it on disk with it.
// A failed write-out fails the commit: the file remembers the failure and every later sync and
// write of the transaction fails with it, so a commit whose frames did not reach the file is never
// published. Each LogCommitScope ends clean: its transaction was committed, or rolled back and
// its frames are dead (the next transaction writes over the same place). Meanwhile a sync from
// another thread (the LogSyncer, for earlier commits) leaves the buffer alone.
//
// Thread safety: the writer thread writes and commits; the LogSyncer syncs the same handle from
// its own thread, which writes the buffer out under a mutex first and syncs outside it.
#pragma once

#include <sqlite3.h>

#include <string>

#include "kiln/status.h"

namespace kiln::store::sqlite {

// Registers (once per base) the log-buffering VFS over the registered VFS named `base` (empty: the
// default VFS) and returns the new VFS's name.
Result<std::string> LogBufferVfs(const std::string& base);

// Spans one write transaction of the constructing thread, from after its BEGIN to after its
// COMMIT or ROLLBACK (and before any checkpoint, whose syncs must be real). While alive, syncs of
// `log` on that thread only write the buffered frames out (unless the log's header was rewritten
// since its last real sync); at its end, what is still buffered and any failure are dropped. `log`
// is the connection's log file (SQLITE_FCNTL_JOURNAL_POINTER); a file not opened through
// LogBufferVfs() is left alone.
class LogCommitScope {
 public:
  explicit LogCommitScope(sqlite3_file* log);
  ~LogCommitScope();
  LogCommitScope(const LogCommitScope&) = delete;
  LogCommitScope& operator=(const LogCommitScope&) = delete;

 private:
  struct LogFile* file_ = nullptr;
};

// How many write calls reached the underlying VFS for log files opened through LogBufferVfs()
// (all of them, since start): tests and benchmarks compare it with the frames written.
int64_t LogBufferWriteCalls();

}  // namespace kiln::store::sqlite
