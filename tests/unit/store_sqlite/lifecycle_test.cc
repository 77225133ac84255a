// Opening, reopening, migrating, locking, refusing foreign files, and closing the SQLite store.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::Key;
using testing::OpenOrDie;
using testing::Outcomes;
using testing::Put;
using testing::TempDir;

// Runs `sql` directly on the database file, outside any store.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

int64_t RawInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  int64_t value = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SqliteLifecycleTest, CreatesTheDataDirectoryAndTheDatabase) {
  TempDir tmp;
  std::string dir = tmp.Sub("a/b/c");
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::filesystem::exists(dir + "/kiln.db"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/kiln.lock"));
  EXPECT_EQ(store->database_path(), dir + "/kiln.db");
  store->Close();
  EXPECT_EQ(RawInt(dir + "/kiln.db", "PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(RawInt(dir + "/kiln.db", "PRAGMA application_id"), kApplicationId);
  EXPECT_EQ(RawInt(dir + "/kiln.db", "PRAGMA journal_mode = WAL"), 0);  // text "wal" -> 0
}

TEST(SqliteLifecycleTest, ReopenKeepsDataAndTimestampsKeepIncreasing) {
  TempDir tmp;
  StoredResource written;
  {
    auto store = OpenOrDie(tmp.path());
    ASSERT_TRUE(Put(*store, "Patient", "p1", R"({"a":1})").ok());
    ASSERT_TRUE(Put(*store, "Patient", "p1", R"({"a":2})", &written).ok());
  }  // the destructor closes
  auto store = OpenOrDie(tmp.path());
  Result<std::optional<StoredResource>> latest = store->Read(Key("Patient", "p1"));
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->info.version, 2);
  EXPECT_EQ((*latest)->json, R"({"a":2})");
  EXPECT_EQ((*latest)->info.seq, written.info.seq);
  int64_t next = 0;
  ASSERT_TRUE(store
                  ->WriteAndWait([&](StoreTxn& txn) {
                    next = txn.NextTimestamp();
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_GT(next, written.info.last_updated);
  StoredResource third;
  ASSERT_TRUE(Put(*store, "Patient", "p1", R"({"a":3})", &third).ok());
  EXPECT_EQ(third.info.version, 3);
  EXPECT_GT(third.info.seq, written.info.seq);
}

TEST(SqliteLifecycleTest, MigrationsAreIdempotentOnReopen) {
  TempDir tmp;
  for (int round = 0; round < 3; ++round) {
    auto store = OpenOrDie(tmp.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(Put(*store, "Patient", testing::Numbered("p", round), "{}").ok());
  }
  std::string db = tmp.path() + "/kiln.db";
  EXPECT_EQ(RawInt(db, "PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(RawInt(db, "SELECT count(*) FROM resource_version"), 3);
  EXPECT_EQ(RawInt(db, "SELECT count(*) FROM resource"), 3);
  EXPECT_EQ(RawInt(db, "SELECT count(*) FROM store_meta"), 2);
  // Closing folded the log into the database file.
  EXPECT_EQ(std::filesystem::exists(db + "-wal") ? std::filesystem::file_size(db + "-wal") : 0u,
            0u);
}

TEST(SqliteLifecycleTest, RefusesANewerSchema) {
  TempDir tmp;
  { OpenOrDie(tmp.path()); }
  RawExec(tmp.path() + "/kiln.db", "PRAGMA user_version = " + std::to_string(kSchemaVersion + 1));
  SqliteOptions options;
  options.data_dir = tmp.path();
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().error(), ErrorCode::kInternal);
  EXPECT_TRUE(Contains(store.status().message(), tmp.path() + "/kiln.db"))
      << store.status().message();
  EXPECT_TRUE(Contains(store.status().message(), "newer")) << store.status().message();
  // The refusal released the directory: an older-schema file opens again once fixed.
  RawExec(tmp.path() + "/kiln.db", "PRAGMA user_version = " + std::to_string(kSchemaVersion));
  EXPECT_NE(OpenOrDie(tmp.path()), nullptr);
}

TEST(SqliteLifecycleTest, RefusesAFileThatIsNotADatabase) {
  TempDir tmp;
  {
    std::ofstream garbage(tmp.path() + "/kiln.db", std::ios::binary);
    for (int i = 0; i < 1000; ++i) garbage << "this is not an SQLite file ";
  }
  SqliteOptions options;
  options.data_dir = tmp.path();
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(Contains(store.status().message(), tmp.path() + "/kiln.db"));
  EXPECT_TRUE(Contains(store.status().message(), "not a Kiln database"))
      << store.status().message();
  // Nothing was written over it.
  EXPECT_EQ(std::filesystem::file_size(tmp.path() + "/kiln.db"), 27000u);
}

TEST(SqliteLifecycleTest, RefusesAnotherApplicationsDatabase) {
  TempDir tmp;
  RawExec(tmp.path() + "/kiln.db", "CREATE TABLE stuff (x); INSERT INTO stuff VALUES (1)");
  SqliteOptions options;
  options.data_dir = tmp.path();
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(Contains(store.status().message(), "not a Kiln database"))
      << store.status().message();
  EXPECT_EQ(RawInt(tmp.path() + "/kiln.db", "SELECT count(*) FROM stuff"), 1);

  TempDir other;
  RawExec(other.path() + "/kiln.db", "PRAGMA application_id = 42");
  options.data_dir = other.path();
  store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(Contains(store.status().message(), "application id 42")) << store.status().message();
}

TEST(SqliteLifecycleTest, RefusesADamagedDatabase) {
  TempDir tmp;
  {
    auto store = OpenOrDie(tmp.path());
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(Put(*store, "Patient", testing::Numbered("p", i), std::string(2000, 'x')).ok());
    }
  }
  // Overwrite the header's magic string.
  int fd = ::open((tmp.path() + "/kiln.db").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "garbage garbage!", 16, 0), 16);
  ::close(fd);
  SqliteOptions options;
  options.data_dir = tmp.path();
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(Contains(store.status().message(), tmp.path() + "/kiln.db"));
  EXPECT_TRUE(Contains(store.status().message(), "damaged")) << store.status().message();
}

TEST(SqliteLifecycleTest, ASecondOpenOfTheSameDirectoryIsRefused) {
  TempDir tmp;
  auto first = OpenOrDie(tmp.path());
  ASSERT_NE(first, nullptr);
  SqliteOptions options;
  options.data_dir = tmp.path();
  Result<std::unique_ptr<Store>> second = OpenSqliteStore(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().error(), ErrorCode::kUnavailable);
  EXPECT_TRUE(Contains(second.status().message(), tmp.path() + "/kiln.lock"))
      << second.status().message();
  EXPECT_TRUE(Contains(second.status().message(), "pid " + std::to_string(::getpid())))
      << second.status().message();
  // The refused open did not disturb the first store.
  ASSERT_TRUE(Put(*first, "Patient", "p1", "{}").ok());
  first->Close();
  auto third = OpenOrDie(tmp.path());
  ASSERT_NE(third, nullptr);
  EXPECT_TRUE(third->Read(Key("Patient", "p1"))->has_value());
}

TEST(SqliteLifecycleTest, ReportsADataDirectoryThatCannotBeCreated) {
  TempDir tmp;
  { std::ofstream file(tmp.path() + "/plain-file"); }
  SqliteOptions options;
  options.data_dir = tmp.path() + "/plain-file/data";
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().error(), ErrorCode::kUnavailable);
  EXPECT_TRUE(Contains(store.status().message(), options.data_dir)) << store.status().message();

  options.data_dir = tmp.path() + "/plain-file";
  store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(Contains(store.status().message(), "ot a directory")) << store.status().message();
}

TEST(SqliteLifecycleTest, RejectsBadOptions) {
  TempDir tmp;
  SqliteOptions options;
  EXPECT_EQ(OpenSqliteStore(options).status().error(), ErrorCode::kInvalid);  // no directory
  options.data_dir = tmp.path();
  options.max_group_writes = 0;
  EXPECT_EQ(OpenSqliteStore(options).status().error(), ErrorCode::kInvalid);
  options.max_group_writes = 1;
  options.reader_connections = 0;
  EXPECT_EQ(OpenSqliteStore(options).status().error(), ErrorCode::kInvalid);
  options.reader_connections = 1;
  options.writer_cache_kib = -1;
  EXPECT_EQ(OpenSqliteStore(options).status().error(), ErrorCode::kInvalid);
}

TEST(SqliteLifecycleTest, CloseCommitsEveryQueuedWrite) {
  TempDir tmp;
  constexpr int kWrites = 500;
  Outcomes outcomes(kWrites);
  {
    auto store = OpenOrDie(tmp.path());
    for (int i = 0; i < kWrites; ++i) {
      store->Write(
          [i](StoreTxn& txn) {
            return testing::AppendNext(txn, kDefaultTenant, "Patient", testing::Numbered("p", i),
                                       "{}");
          },
          outcomes.Callback(i));
    }
    store->Close();
    // Every done() ran before Close() returned.
    std::map<int, Status> results = outcomes.Wait();
    for (const auto& [index, status] : results) ASSERT_TRUE(status.ok()) << index;
    EXPECT_EQ(store->Counters().writes_committed, kWrites);
  }
  auto store = OpenOrDie(tmp.path());
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(store->Read(Key("Patient", testing::Numbered("p", i)))->has_value()) << i;
  }
}

TEST(SqliteLifecycleTest, EverythingFailsAfterClose) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_TRUE(Put(*store, "Patient", "p1", "{}").ok());
  store->Close();
  store->Close();  // idempotent

  // done runs at once, on the caller's thread, and the closure never runs.
  bool ran = false;
  std::thread::id done_thread;
  Status status;
  store->Write(
      [&](StoreTxn&) {
        ran = true;
        return Status::Ok();
      },
      [&](Status s) {
        done_thread = std::this_thread::get_id();
        status = std::move(s);
      });
  EXPECT_FALSE(ran);
  EXPECT_EQ(done_thread, std::this_thread::get_id());
  EXPECT_EQ(status.error(), ErrorCode::kUnavailable);
  EXPECT_EQ(store->WriteAndWait([](StoreTxn&) { return Status::Ok(); }).error(),
            ErrorCode::kUnavailable);
  EXPECT_EQ(store->Read(Key("Patient", "p1")).status().error(), ErrorCode::kUnavailable);
  EXPECT_EQ(store->ReadVersion(Key("Patient", "p1"), 1).status().error(), ErrorCode::kUnavailable);
  EXPECT_EQ(store->History(HistoryQuery()).status().error(), ErrorCode::kUnavailable);
  EXPECT_EQ(store->Check().error(), ErrorCode::kUnavailable);
  // The directory is free again.
  EXPECT_NE(OpenOrDie(tmp.path()), nullptr);
}

TEST(SqliteLifecycleTest, CloseWaitsForReadsInFlight) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(Put(*store, "Patient", testing::Numbered("p", i), "{}").ok());
  std::atomic<bool> stop{false};
  std::atomic<int> ok_reads{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        Result<std::optional<StoredResource>> r = store->Read(Key("Patient", "p7"));
        if (r.ok()) {
          ok_reads.fetch_add(1);
        } else if (r.status().error() != ErrorCode::kUnavailable) {
          bad.fetch_add(1);
        }
      }
    });
  }
  while (ok_reads.load() < 1000) std::this_thread::yield();
  store->Close();
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace kiln::store::sqlite
