#include "store/sqlite/checkpointer.h"

#include <sqlite3.h>

#include <utility>

#include "core/log.h"
#include "core/thread_pool.h"

namespace kiln::store::sqlite {

Checkpointer::Checkpointer(std::unique_ptr<Connection> connection, CheckpointOptions options)
    : connection_(std::move(connection)), options_(options) {
  thread_ = std::thread([this] {
    core::SetCurrentThreadName("kiln-checkpoint");
    Loop();
  });
}

Checkpointer::~Checkpointer() { Stop(); }

bool Checkpointer::AfterCommit(int64_t log_frames) {
  const bool over_limit = log_frames >= options_.hard_limit_frames;
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return over_limit;
  switch (state_) {
    case State::kIdle:
      if (log_frames >= options_.start_frames) {
        state_ = State::kRequested;
        cv_.notify_one();
      }
      return over_limit;
    case State::kRequested:
    case State::kRunning:
      return over_limit;
    case State::kDone:
      // The log may have restarted since the pass (log_frames < copied_frames_): then what is
      // left is what was written since, and small. A second pass gets the chance to shrink a
      // large remainder; after it the writer copies what is left, whatever its size, so the
      // log's growth stays bounded even when the disk is slower than the writes.
      if (log_frames - copied_frames_ <= options_.catch_up_frames || passes_in_cycle_ >= 2) {
        state_ = State::kIdle;
        passes_in_cycle_ = 0;
        return true;
      }
      state_ = State::kRequested;
      cv_.notify_one();
      return over_limit;
  }
  return false;
}

void Checkpointer::RequestPass() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || state_ == State::kRequested || state_ == State::kRunning) return;
  state_ = State::kRequested;
  cv_.notify_one();
}

void Checkpointer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || state_ == State::kRequested; });
    if (stopping_) return;
    state_ = State::kRunning;
    lock.unlock();
    int log = 0;
    int copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(connection_->db(), "main", SQLITE_CHECKPOINT_PASSIVE, &log,
                                       &copied);
    lock.lock();
    ++background_passes_;
    ++passes_in_cycle_;
    if (rc == SQLITE_OK) {
      state_ = State::kDone;
      copied_frames_ = copied;
    } else {
      // Busy (the writer is checkpointing at its hard limit) or an I/O error: the writer's own
      // checkpoints keep the log bounded; the next commit past start_frames asks again.
      if (rc != SQLITE_BUSY) {
        core::LogWarn("background checkpoint failed",
                      {{"database", connection_->path()},
                       {"error", connection_->Error(rc, "checkpointing").message()}});
      }
      state_ = State::kIdle;
    }
  }
}

void Checkpointer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  connection_.reset();
}

int64_t Checkpointer::background_passes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return background_passes_;
}

}  // namespace kiln::store::sqlite
