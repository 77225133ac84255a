#include "store/sqlite/log_syncer.h"

#include <exception>
#include <utility>

#include "core/log.h"
#include "core/thread_pool.h"

namespace kiln::store::sqlite {

LogSyncer::LogSyncer(std::string log_path) : log_path_(std::move(log_path)) {
  thread_ = std::thread([this] {
    core::SetCurrentThreadName("kiln-logsync");
    Loop();
  });
}

LogSyncer::~LogSyncer() { Stop(); }

void LogSyncer::Submit(sqlite3_file* log, std::vector<Pending> group) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_ = log;
    for (Pending& pending : group) queue_.push_back(std::move(pending));
  }
  cv_.notify_one();
}

void LogSyncer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable() && !OnSyncThread()) thread_.join();
}

bool LogSyncer::Failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

Status LogSyncer::SyncLog(sqlite3_file* log) {
  if (log == nullptr || log->pMethods == nullptr) {
    return Status::Unavailable("the write-ahead log " + log_path_ + " is not open; cannot sync it");
  }
  int rc = log->pMethods->xSync(log, SQLITE_SYNC_NORMAL);
  if (rc != SQLITE_OK) {
    return Status::Unavailable("syncing the write-ahead log " + log_path_ +
                               " failed: " + sqlite3_errstr(rc));
  }
  return Status::Ok();
}

void LogSyncer::Loop() {
  std::deque<Pending> batch;
  while (true) {
    bool failed = false;
    sqlite3_file* log = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything has been acknowledged
      batch.swap(queue_);
      failed = failed_;
      log = log_;
    }
    Status synced = failed ? Status::Unavailable(
                                 "an earlier sync of the write-ahead log failed; "
                                 "the store takes no more writes")
                           : SyncLog(log);
    if (!synced.ok() && !failed) {
      core::LogError("store log sync failed; refusing further writes",
                     {{"log", log_path_}, {"error", synced.message()}});
    }
    if (!synced.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      failed_ = true;
    }
    for (Pending& pending : batch) {
      try {
        if (synced.ok()) {
          pending.ack();
        } else {
          pending.fail(synced);
        }
      } catch (...) {
        // A throwing callback must not take the sync thread (and every later answer) down.
        core::LogError("store write callback threw; ignored", {{"log", log_path_}});
      }
    }
    batch.clear();
  }
}

}  // namespace kiln::store::sqlite
