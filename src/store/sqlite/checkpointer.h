// Checkpointer: folds the write-ahead log back into the database file on a thread of its own.
//
// SQLite's automatic checkpoint runs inside the COMMIT that pushes the log past 1,000 pages, on
// the committing thread: for Kiln that is the single writer thread, which then copies pages into
// the database file and waits for its fsync. On a large store those pages land all over the file,
// and the writer measured half of its time blocked in that fsync (a 1M-resource store took creates
// at 2,050/s; the writer was in the block layer, not on the CPU).
//
// A checkpoint from another connection does not block the writer, but it cannot finish the job on
// its own under steady writes: the log only restarts from its beginning once every frame in it has
// been copied, and by the time a background pass has copied the frames that existed when it began,
// the writer has appended more. So the work is split:
//  1. when the log grows past `start_frames`, this thread runs a PASSIVE checkpoint (the bulk of
//     the copying and the expensive fsync), while the writer goes on committing;
//  2. after each commit, the writer asks AfterCommit() and, once a background pass has left at
//     most `catch_up_frames` behind (or a second pass still left more), checkpoints the rest
//     itself (usually a short copy and sync); its next transaction then restarts the log (when no
//     reader still reads from it);
//  3. if the log reaches `hard_limit_frames` anyway (a slow disk, a failing background pass), the
//     writer checkpoints itself as SQLite would have, so the log stays bounded.
// Durability does not change: checkpoints at synchronous=NORMAL sync the log before copying and
// the database file before the log may be reused, on whichever connection runs them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "kiln/status.h"
#include "store/sqlite/connection.h"

namespace kiln::store::sqlite {

struct CheckpointOptions {
  // 256 MiB of 4 KiB pages: start a background pass. Each cycle ends in one catch-up on the
  // writer (a copy and a database fsync, 100-200 ms on a large store, hardly less when more
  // background passes shrink what is left to copy), so a longer cycle costs the writer less.
  // 1M-resource store, 32 connections creating, alternating 10 s runs: 32 MiB 3,062/3,026/3,649
  // creates/s against 128 MiB 3,519/4,176/3,801; later 128 MiB 3,639/4,578 against 256 MiB
  // 5,553/4,923/4,858. Longer pauses: create p99 55 ms (32 MiB), 100-150 ms, 160-200 ms.
  int64_t start_frames = 65536;
  int64_t catch_up_frames = 2048;      // a remainder the writer copies itself after one pass
  int64_t hard_limit_frames = 262144;  // 1 GiB: the writer checkpoints whatever the state
};

class Checkpointer {
 public:
  // Takes a read-write connection of its own (configured by the caller with the writer's
  // synchronous level) and starts the thread.
  Checkpointer(std::unique_ptr<Connection> connection, CheckpointOptions options);
  ~Checkpointer();  // Stop()
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Called on the writer thread after each commit with the number of frames in the log (from
  // sqlite3_wal_hook). True: the writer should run a PASSIVE checkpoint itself now.
  bool AfterCommit(int64_t log_frames);

  // Starts a background pass now unless one is already asked for or running, whatever the log's
  // size: for a writer between the large transactions of an index build (deferred_indexes.h),
  // whose frames can then be copied while it builds the next index.
  void RequestPass();

  // Waits for a running pass and ends the thread. Idempotent.
  void Stop();

  int64_t background_passes() const;

 private:
  enum class State { kIdle, kRequested, kRunning, kDone };
  void Loop();

  std::unique_ptr<Connection> connection_;
  const CheckpointOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kIdle;     // guarded by mu_
  int64_t copied_frames_ = 0;      // guarded by mu_: frames the last finished pass covered
  int64_t background_passes_ = 0;  // guarded by mu_
  int passes_in_cycle_ = 0;        // guarded by mu_: passes since the writer last caught up
  bool stopping_ = false;          // guarded by mu_
  std::thread thread_;
};

}  // namespace kiln::store::sqlite
