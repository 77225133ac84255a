// Helpers shared by the SQLite store tests: a fresh temporary data directory per test, shortcuts
// that write through the Store interface, and a gate that holds the writer thread so that the
// writes queued meanwhile form one group commit. Test-only; not synchronised unless stated.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "kiln/store.h"
#include "store/sqlite/sqlite_store.h"

namespace kiln::store::sqlite::testing {

// A directory under the system temp folder, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "kiln-store-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
    EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::unique_ptr<SqliteStore> OpenOrDie(SqliteOptions options) {
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  EXPECT_TRUE(store.ok()) << store.status().message();
  if (!store.ok()) return nullptr;
  return std::unique_ptr<SqliteStore>(static_cast<SqliteStore*>(store->release()));
}

inline std::unique_ptr<SqliteStore> OpenOrDie(const std::string& dir) {
  SqliteOptions options;
  options.data_dir = dir;
  return OpenOrDie(options);
}

// prefix + i. (Not `"p" + std::to_string(i)`: g++ 12 warns falsely on that, -Wrestrict.)
inline std::string Numbered(std::string_view prefix, int64_t i) {
  std::string out(prefix);
  out += std::to_string(i);
  return out;
}

inline ResourceKey Key(std::string type, std::string id, std::string tenant = kDefaultTenant) {
  ResourceKey key;
  key.tenant = std::move(tenant);
  key.type = std::move(type);
  key.id = std::move(id);
  return key;
}

inline StoredResource Version(std::string type, std::string id, int64_t version,
                              int64_t last_updated, std::string json,
                              WriteMethod method = WriteMethod::kUpdate) {
  StoredResource out;
  out.info.type = std::move(type);
  out.info.id = std::move(id);
  out.info.version = version;
  out.info.last_updated = last_updated;
  out.info.method = method;
  out.info.deleted = method == WriteMethod::kDelete;
  out.json = std::move(json);
  return out;
}

// Appends the next version of type/id the way a handler does (create or update, or a deletion
// marker when `json` is empty) and stores what was written in *written.
inline Status AppendNext(StoreTxn& txn, const std::string& tenant, const std::string& type,
                         const std::string& id, const std::string& json,
                         StoredResource* written = nullptr) {
  Result<std::optional<StoredResource>> latest = txn.ReadLatest(Key(type, id, tenant));
  if (!latest.ok()) return latest.take_status();
  int64_t next = latest.value() ? latest.value()->info.version + 1 : 1;
  WriteMethod method = json.empty() ? WriteMethod::kDelete
                       : next == 1  ? WriteMethod::kCreate
                                    : WriteMethod::kUpdate;
  StoredResource version = Version(type, id, next, txn.NextTimestamp(), json, method);
  Status status = txn.Append(tenant, version);
  if (status.ok() && written != nullptr) *written = version;
  return status;
}

inline Status Put(Store& store, const std::string& type, const std::string& id,
                  const std::string& json, StoredResource* written = nullptr,
                  const std::string& tenant = kDefaultTenant) {
  return store.WriteAndWait(
      [&](StoreTxn& txn) { return AppendNext(txn, tenant, type, id, json, written); });
}

// Holds the writer thread inside one write until Release(): writes queued meanwhile are taken
// together as the next group. Thread-safe.
class WriterGate {
 public:
  // Queues the blocking write and returns once the writer is inside it.
  void Hold(Store& store) {
    std::future<void> entered = entered_.get_future();
    std::shared_future<void> released = released_.get_future().share();
    store.Write(
        [this, released](StoreTxn&) {
          entered_.set_value();
          released.wait();
          return Status::Ok();
        },
        [this](Status status) { done_.set_value(std::move(status)); });
    entered.wait();
  }
  void Release() { released_.set_value(); }
  Status Wait() { return done_.get_future().get(); }

 private:
  std::promise<void> entered_;
  std::promise<void> released_;
  std::promise<Status> done_;
};

// Collects the outcome of asynchronous writes. Thread-safe.
class Outcomes {
 public:
  explicit Outcomes(int expected) : expected_(expected) {}
  WriteDone Callback(int index) {
    return [this, index](Status status) {
      std::lock_guard<std::mutex> lock(mu_);
      statuses_[index] = std::move(status);
      if (static_cast<int>(statuses_.size()) == expected_) all_.notify_all();
    };
  }
  // Waits for every expected outcome; returns them by index.
  std::map<int, Status> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    all_.wait(lock, [&] { return static_cast<int>(statuses_.size()) == expected_; });
    return statuses_;
  }

 private:
  const int expected_;
  std::mutex mu_;
  std::condition_variable all_;
  std::map<int, Status> statuses_;
};

}  // namespace kiln::store::sqlite::testing
