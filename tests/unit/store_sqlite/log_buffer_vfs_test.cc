// The log-buffering VFS (log_buffer_vfs.h): a commit's frames reach the log in a few large
// writes, yet every commit is on the file before other connections can see it, a failed
// write-out fails the commit and publishes nothing, and a sync from another thread leaves the
// writer's unfinished transaction alone.
#include "store/sqlite/log_buffer_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>
#include <string>
#include <thread>

#include "faulty_vfs.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::TempDir;

sqlite3* OpenDb(const std::string& path, const std::string& vfs) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                           vfs.empty() ? nullptr : vfs.c_str());
  EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db);
  return db;
}

int Exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

int64_t Count(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &stmt, nullptr), SQLITE_OK);
  int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  return n;
}

sqlite3_file* LogOf(sqlite3* db) {
  sqlite3_file* log = nullptr;
  EXPECT_EQ(sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &log), SQLITE_OK);
  return log;
}

// The writer as the store runs it: buffered log, synchronous=FULL, a scope per transaction.
struct Writer {
  sqlite3* db;
  explicit Writer(const std::string& path, const std::string& base = "") {
    Result<std::string> vfs = LogBufferVfs(base);
    EXPECT_TRUE(vfs.ok());
    db = OpenDb(path, *vfs);
    EXPECT_EQ(Exec(db,
                   "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                   "CREATE TABLE IF NOT EXISTS t (x BLOB)"),
              SQLITE_OK);
  }
  ~Writer() { sqlite3_close(db); }
  // Inserts `rows` rows of 3 KB (a page each) in one transaction; `before_commit` runs between
  // the inserts and the COMMIT.
  int Insert(
      int rows, const std::function<void()>& before_commit = [] {}) {
    int rc = Exec(db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) return rc;
    LogCommitScope scope(LogOf(db));
    const std::string sql =
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
        "LIMIT " +
        std::to_string(rows) + ") INSERT INTO t SELECT randomblob(3000) FROM s";
    rc = Exec(db, sql.c_str());
    if (rc == SQLITE_OK) before_commit();
    if (rc == SQLITE_OK) rc = Exec(db, "COMMIT");
    if (rc != SQLITE_OK && sqlite3_get_autocommit(db) == 0) Exec(db, "ROLLBACK");
    return rc;
  }
};

TEST(LogBufferVfsTest, ACommitsFramesReachTheLogInAFewWritesAndAreSeenAtOnce) {
  TempDir dir;
  const std::string path = dir.Sub("t.db");
  Writer writer(path);
  sqlite3* reader = OpenDb(path, "");
  ASSERT_EQ(writer.Insert(1), SQLITE_OK);  // the log exists and has its header
  ASSERT_EQ(Count(reader), 1);

  const int64_t calls_before = LogBufferWriteCalls();
  ASSERT_EQ(writer.Insert(200), SQLITE_OK);
  const int64_t calls = LogBufferWriteCalls() - calls_before;
  // 200 pages and more are 400 writes unbuffered; buffered, one per 120 KiB (29 frames).
  EXPECT_GT(calls, 0);
  EXPECT_LE(calls, 12) << "write calls for one commit of 200+ pages";
  // Another connection reads the frames through a file handle of its own: they were on the file
  // before the commit was published.
  EXPECT_EQ(Count(reader), 201);
  sqlite3_close(reader);
}

TEST(LogBufferVfsTest, AFailedWriteOutFailsTheCommitAndPublishesNothing) {
  TempDir dir;
  const std::string path = dir.Sub("t.db");
  Writer writer(path, testing::FaultyVfs());
  sqlite3* reader = OpenDb(path, "");
  ASSERT_EQ(writer.Insert(3), SQLITE_OK);

  int rc = writer.Insert(50, [] { testing::FailWalWrite(true); });
  testing::FailWalWrite(false);
  EXPECT_NE(rc, SQLITE_OK);
  EXPECT_EQ(Count(reader), 3);

  // The next transaction starts clean and writes over the same place.
  ASSERT_EQ(writer.Insert(5), SQLITE_OK);
  EXPECT_EQ(Count(reader), 8);
  sqlite3_close(reader);
  sqlite3* check = OpenDb(path, "");
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(check, "PRAGMA integrity_check", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "ok");
  sqlite3_finalize(stmt);
  sqlite3_close(check);
}

TEST(LogBufferVfsTest, ASyncFromAnotherThreadLeavesTheOpenTransactionsFramesAlone) {
  TempDir dir;
  const std::string path = dir.Sub("t.db");
  Writer writer(path);
  ASSERT_EQ(writer.Insert(1), SQLITE_OK);
  // A small page cache spills the transaction's pages to the log before its commit: frames of an
  // unfinished transaction, buffered.
  ASSERT_EQ(Exec(writer.db, "PRAGMA cache_size = 10"), SQLITE_OK);
  sqlite3* reader = OpenDb(path, "");
  int64_t written_by_sync = -1;
  int sync_rc = SQLITE_ERROR;
  ASSERT_EQ(writer.Insert(60,
                          [&] {
                            // The LogSyncer's sync of earlier commits, meanwhile.
                            sqlite3_file* log = LogOf(writer.db);
                            const int64_t before = LogBufferWriteCalls();
                            std::thread syncer(
                                [&] { sync_rc = log->pMethods->xSync(log, SQLITE_SYNC_NORMAL); });
                            syncer.join();
                            written_by_sync = LogBufferWriteCalls() - before;
                          }),
            SQLITE_OK);
  EXPECT_EQ(sync_rc, SQLITE_OK);
  EXPECT_EQ(written_by_sync, 0);
  EXPECT_EQ(Count(reader), 61);
  sqlite3_close(reader);
}

}  // namespace
}  // namespace kiln::store::sqlite
