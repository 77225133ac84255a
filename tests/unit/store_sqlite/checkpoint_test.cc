// Checkpoints off the writer thread (store/sqlite/checkpointer.h): the log is folded back into the
// database file by the background thread plus short catch-ups on the writer, it restarts instead
// of growing without bound, and nothing written is lost on the way.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::AppendNext;
using testing::Key;
using testing::Numbered;
using testing::OpenOrDie;
using testing::Outcomes;
using testing::TempDir;

// A resource of about 2 KB, so a few hundred writes make a log of many frames.
std::string Body(int i) {
  return "{\"resourceType\":\"Basic\",\"n\":" + std::to_string(i) + ",\"pad\":\"" +
         std::string(2000, static_cast<char>('a' + i % 26)) + "\"}";
}

void WriteMany(SqliteStore& store, int first, int count) {
  constexpr int kThreads = 4;
  Outcomes outcomes(count);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < count; i += kThreads) {
        int n = first + i;
        store.Write(
            [n](StoreTxn& txn) {
              return AppendNext(txn, kDefaultTenant, "Basic", Numbered("b", n), Body(n));
            },
            outcomes.Callback(i));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& [index, status] : outcomes.Wait()) ASSERT_TRUE(status.ok()) << index;
}

SqliteOptions SmallLog(const std::string& dir) {
  SqliteOptions options;
  options.data_dir = dir;
  options.checkpoint.start_frames = 64;
  options.checkpoint.catch_up_frames = 32;
  options.checkpoint.hard_limit_frames = 100000;
  options.max_group_writes = 8;  // many commits, as with a few dozen clients over HTTP
  return options;
}

TEST(CheckpointTest, BackgroundPassesAndWriterCatchUpsKeepTheLogSmall) {
  TempDir dir;
  auto store = OpenOrDie(SmallLog(dir.path()));
  constexpr int kWrites = 3000;  // about 6 MB of resources, 1,500 frames and more
  WriteMany(*store, 0, kWrites);
  SqliteCounters counters = store->Counters();
  EXPECT_GT(counters.background_checkpoints, 0);
  EXPECT_GT(counters.writer_checkpoints, 0);
  // The log restarted from its beginning: it never held all the writes at once. (How far it
  // grows between restarts depends on how fast the background passes run next to the writer;
  // on a loaded machine they run rarely, so the test only asserts that it restarted.)
  std::string wal = store->database_path() + "-wal";
  ASSERT_TRUE(std::filesystem::exists(wal));
  EXPECT_GT(counters.log_frames, 6000);
  EXPECT_LT(std::filesystem::file_size(wal), static_cast<uintmax_t>(counters.log_frames) * 4096);
  for (int i = 0; i < kWrites; i += 97) {
    Result<std::optional<StoredResource>> read = store->Read(Key("Basic", Numbered("b", i)));
    ASSERT_TRUE(read.ok() && read->has_value()) << i;
    EXPECT_EQ((*read)->json, Body(i));
  }
}

TEST(CheckpointTest, WritesSurviveReopeningAfterCheckpoints) {
  TempDir dir;
  constexpr int kWrites = 1200;
  {
    auto store = OpenOrDie(SmallLog(dir.path()));
    WriteMany(*store, 0, kWrites);
    EXPECT_GT(store->Counters().background_checkpoints, 0);
  }
  auto store = OpenOrDie(SmallLog(dir.path()));
  for (int i = 0; i < kWrites; ++i) {
    Result<std::optional<StoredResource>> read = store->Read(Key("Basic", Numbered("b", i)));
    ASSERT_TRUE(read.ok() && read->has_value()) << i;
    ASSERT_EQ((*read)->json, Body(i)) << i;
  }
}

TEST(CheckpointTest, WriterCheckpointsItselfAtTheHardLimit) {
  TempDir dir;
  SqliteOptions options = SmallLog(dir.path());
  // The background pass never gets a turn that counts: the writer is past the hard limit at once.
  options.checkpoint.start_frames = 1000000;
  options.checkpoint.hard_limit_frames = 1000000;
  {
    auto store = OpenOrDie(options);
    WriteMany(*store, 0, 200);
    SqliteCounters counters = store->Counters();
    EXPECT_EQ(counters.background_checkpoints, 0);
    EXPECT_EQ(counters.writer_checkpoints, 0);  // below the limit: nothing checkpoints
  }
  options.checkpoint.hard_limit_frames = 50;  // with start_frames still out of reach
  auto store = OpenOrDie(options);
  WriteMany(*store, 200, 400);
  EXPECT_EQ(store->Counters().background_checkpoints, 0);
  EXPECT_GT(store->Counters().writer_checkpoints, 0);
  EXPECT_LT(std::filesystem::file_size(store->database_path() + "-wal"),
            static_cast<uintmax_t>(store->Counters().log_frames) * 4096 / 2);
}

}  // namespace
}  // namespace kiln::store::sqlite
