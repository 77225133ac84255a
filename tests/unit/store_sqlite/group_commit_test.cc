// Group commit, concurrency and commit failures of the SQLite store's writer.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "faulty_vfs.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::AppendNext;
using testing::Key;
using testing::Numbered;
using testing::OpenOrDie;
using testing::Outcomes;
using testing::Put;
using testing::TempDir;
using testing::WriterGate;

WriteFn Create(std::string type, std::string id, std::string json = "{}") {
  return [type = std::move(type), id = std::move(id), json = std::move(json)](StoreTxn& txn) {
    return AppendNext(txn, kDefaultTenant, type, id, json);
  };
}

TEST(GroupCommitTest, WritesQueuedTogetherCommitTogether) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriterGate gate;
  gate.Hold(*store);
  constexpr int kWrites = 999;
  Outcomes outcomes(kWrites);
  for (int i = 0; i < kWrites; ++i)
    store->Write(Create("Patient", Numbered("p", i)), outcomes.Callback(i));
  gate.Release();
  ASSERT_TRUE(gate.Wait().ok());
  for (const auto& [index, status] : outcomes.Wait()) ASSERT_TRUE(status.ok()) << index;
  SqliteCounters counters = store->Counters();
  EXPECT_EQ(counters.commits, 2);  // the gate's group, then all 999 in one
  EXPECT_EQ(counters.largest_group, kWrites);
  EXPECT_EQ(counters.writes_committed, kWrites + 1);
  for (int i = 0; i < kWrites; ++i)
    ASSERT_TRUE(store->Read(Key("Patient", Numbered("p", i)))->has_value());
}

TEST(GroupCommitTest, RerunnableWritesCommitTogetherWithoutRerun) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriterGate gate;
  gate.Hold(*store);
  constexpr int kWrites = 500;
  Outcomes outcomes(kWrites);
  std::atomic<int> runs{0};
  for (int i = 0; i < kWrites; ++i) {
    WriteFn create = Create("Patient", Numbered("p", i));
    store->WriteRerunnable(
        [&runs, create](StoreTxn& txn) {
          ++runs;
          return create(txn);
        },
        outcomes.Callback(i));
  }
  gate.Release();
  for (const auto& [index, status] : outcomes.Wait()) ASSERT_TRUE(status.ok()) << index;
  EXPECT_EQ(runs.load(), kWrites);
  SqliteCounters counters = store->Counters();
  EXPECT_EQ(counters.rerun_groups, 0);
  EXPECT_EQ(counters.largest_group, kWrites);
  for (int i = 0; i < kWrites; ++i)
    ASSERT_TRUE(store->Read(Key("Patient", Numbered("p", i)))->has_value());
}

TEST(GroupCommitTest, AFailingRerunnableWriteRollsBackAloneAfterARerun) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriterGate gate;
  gate.Hold(*store);
  constexpr int kWrites = 200;
  constexpr int kFailing = 120;
  Outcomes outcomes(kWrites);
  std::vector<std::atomic<int>> runs(kWrites);
  for (int i = 0; i < kWrites; ++i) {
    WriteFn create = Create("Patient", Numbered("p", i));
    store->WriteRerunnable(
        [&runs, i, create](StoreTxn& txn) -> Status {
          ++runs[i];
          Status s = create(txn);  // written, then refused: its rows must not stay
          if (!s.ok()) return s;
          if (i == kFailing) return Status::Conflict("refused on purpose");
          return Status::Ok();
        },
        outcomes.Callback(i));
  }
  gate.Release();
  auto results = outcomes.Wait();
  for (const auto& [index, status] : results) {
    if (index == kFailing) {
      EXPECT_EQ(status.error(), ErrorCode::kConflict);
    } else {
      EXPECT_TRUE(status.ok()) << index << ": " << status.message();
    }
  }
  EXPECT_EQ(store->Counters().rerun_groups, 1);
  // Up to the failing write each ran twice (without savepoints, then with); after it, once.
  for (int i = 0; i < kWrites; ++i) EXPECT_EQ(runs[i].load(), i <= kFailing ? 2 : 1) << i;
  for (int i = 0; i < kWrites; ++i) {
    auto read = store->Read(Key("Patient", Numbered("p", i)));
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(read->has_value(), i != kFailing) << i;
    if (read->has_value()) EXPECT_EQ((*read)->info.version, 1) << i;
  }
  // The store goes on: the next write of the failed id is its first version.
  ASSERT_TRUE(store->WriteAndWait(Create("Patient", Numbered("p", kFailing))).ok());
  EXPECT_EQ((*store->Read(Key("Patient", Numbered("p", kFailing))))->info.version, 1);
}

TEST(GroupCommitTest, ARerunnableWriteMixedWithOthersRunsInSavepoints) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriterGate gate;
  gate.Hold(*store);
  Outcomes outcomes(3);
  store->WriteRerunnable(Create("Patient", "a"), outcomes.Callback(0));
  store->Write([](StoreTxn&) { return Status::Conflict("no"); }, outcomes.Callback(1));
  store->WriteRerunnable(Create("Patient", "b"), outcomes.Callback(2));
  gate.Release();
  auto results = outcomes.Wait();
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].error(), ErrorCode::kConflict);
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(store->Counters().rerun_groups, 0);
  EXPECT_TRUE(store->Read(Key("Patient", "a"))->has_value());
  EXPECT_TRUE(store->Read(Key("Patient", "b"))->has_value());
}

TEST(GroupCommitTest, MaxGroupWritesCapsAGroup) {
  TempDir dir;
  SqliteOptions options;
  options.data_dir = dir.path();
  options.max_group_writes = 10;
  auto store = OpenOrDie(options);
  WriterGate gate;
  gate.Hold(*store);
  constexpr int kWrites = 95;
  Outcomes outcomes(kWrites);
  for (int i = 0; i < kWrites; ++i)
    store->Write(Create("Patient", Numbered("p", i)), outcomes.Callback(i));
  gate.Release();
  outcomes.Wait();
  SqliteCounters counters = store->Counters();
  EXPECT_EQ(counters.commits, 1 + 10);
  EXPECT_EQ(counters.largest_group, 10);
}

TEST(GroupCommitTest, ConcurrentWritesShareCommits) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 125;
  Outcomes outcomes(kThreads * kPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int n = t * kPerThread + i;
        store->Write(Create("Observation", Numbered("o", n)), outcomes.Callback(n));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& [index, status] : outcomes.Wait()) ASSERT_TRUE(status.ok()) << index;
  SqliteCounters counters = store->Counters();
  EXPECT_EQ(counters.writes_committed, kThreads * kPerThread);
  // Each commit waits for an fsync while the others queue up behind it.
  EXPECT_LE(counters.commits, 100) << "1000 writes took " << counters.commits << " commits";
  Result<HistoryPage> page = store->History([] {
    HistoryQuery query;
    query.type = "Observation";
    query.count = 0;
    query.want_total = true;
    return query;
  }());
  EXPECT_EQ(page->total, kThreads * kPerThread);
}

TEST(GroupCommitTest, ConcurrentUpdatesOfOneResourceAreSerialised) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Read-modify-write in one closure: never a lost update, never a conflict.
        Status status =
            Put(*store, "Patient", t % 2 ? "odd" : "even", Numbered("{\"n\":", i) + "}");
        if (!status.ok()) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ((*store->Read(Key("Patient", "odd")))->info.version, kThreads / 2 * kPerThread);
  EXPECT_EQ((*store->Read(Key("Patient", "even")))->info.version, kThreads / 2 * kPerThread);
}

TEST(GroupCommitTest, ReadersSeeCommittedStateWhileWritesRun) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  constexpr int kResources = 20;
  for (int i = 0; i < kResources; ++i) {
    ASSERT_TRUE(Put(*store, "Patient", Numbered("p", i), Numbered("{\"v\":", 1) + "}").ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::atomic<int64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::vector<int64_t> last_seen(kResources, 0);
      int i = t;
      while (!stop.load()) {
        i = (i + 7) % kResources;
        Result<std::optional<StoredResource>> got = store->Read(Key("Patient", Numbered("p", i)));
        if (!got.ok() || !got->has_value()) {
          errors.fetch_add(1);
          continue;
        }
        const StoredResource& r = **got;
        // The body is the one written with that version, and versions never go back.
        if (r.json != Numbered("{\"v\":", r.info.version) + "}" || r.info.version < last_seen[i]) {
          errors.fetch_add(1);
        }
        last_seen[i] = r.info.version;
        if (reads.fetch_add(1) % 50 == 0) {
          HistoryQuery query;
          query.type = "Patient";
          query.id = Numbered("p", i);
          query.count = 5;
          Result<HistoryPage> page = store->History(query);
          if (!page.ok() || page->entries.empty() ||
              page->entries[0].info.version < r.info.version) {
            errors.fetch_add(1);
            continue;
          }
          for (size_t k = 1; k < page->entries.size(); ++k) {
            if (page->entries[k].info.version != page->entries[k - 1].info.version - 1) {
              errors.fetch_add(1);
            }
          }
        }
      }
    });
  }
  // Two writer threads updating every resource over and over.
  std::vector<std::thread> writers;
  std::atomic<int> write_errors{0};
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int round = 0; round < 40; ++round) {
        for (int i = w; i < kResources; i += 2) {
          Status status = store->WriteAndWait([&](StoreTxn& txn) {
            auto latest = txn.ReadLatest(Key("Patient", Numbered("p", i)));
            if (!latest.ok()) return latest.take_status();
            int64_t next = (*latest)->info.version + 1;
            return AppendNext(txn, kDefaultTenant, "Patient", Numbered("p", i),
                              Numbered("{\"v\":", next) + "}");
          });
          if (!status.ok()) write_errors.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : writers) t.join();
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(write_errors.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 100);
  for (int i = 0; i < kResources; ++i) {
    EXPECT_EQ((*store->Read(Key("Patient", Numbered("p", i))))->info.version, 41);
  }
}

TEST(GroupCommitTest, DoneMayWriteAgainAndMayThrow) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  std::promise<Status> second;
  store->Write(Create("Patient", "first"), [&](Status status) {
    ASSERT_TRUE(status.ok());
    // From the writer thread, inside done(): queued for a later group.
    store->Write(Create("Patient", "second"), [&](Status s) { second.set_value(std::move(s)); });
    throw std::runtime_error("a careless callback");
  });
  EXPECT_TRUE(second.get_future().get().ok());
  // The writer survived the exception.
  EXPECT_TRUE(Put(*store, "Patient", "third", "{}").ok());
  EXPECT_TRUE(store->Read(Key("Patient", "second"))->has_value());
}

TEST(GroupCommitTest, CloseFromADoneCallbackStopsWritesWithoutDeadlock) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  std::promise<void> closed;
  store->Write(Create("Patient", "p1"), [&](Status status) {
    EXPECT_TRUE(status.ok());
    store->Close();  // on the writer thread: cannot join itself, so it only stops new writes
    closed.set_value();
  });
  closed.get_future().wait();
  EXPECT_EQ(store->WriteAndWait(Create("Patient", "p2")).error(), ErrorCode::kUnavailable);
  store->Close();  // finishes the job
  auto reopened = OpenOrDie(dir.path());
  EXPECT_TRUE(reopened->Read(Key("Patient", "p1"))->has_value());
}

TEST(GroupCommitTest, AWriteAloneThatFailsAfterWritingLeavesNothing) {
  // A group of one write runs without a savepoint (RunAlone): its failure rolls the whole
  // transaction back, and the store goes on as after any failed write.
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Put(*store, "Patient", "before", "{}").ok());
  const int64_t commits_before = store->Counters().commits;
  Status failed = store->WriteAndWait([](StoreTxn& txn) {
    Status status = AppendNext(txn, kDefaultTenant, "Patient", "half", R"({"v":1})");
    if (!status.ok()) return status;
    status = AppendNext(txn, kDefaultTenant, "Patient", "before", R"({"v":2})");
    if (!status.ok()) return status;
    return Status::Conflict("changed my mind");
  });
  EXPECT_EQ(failed.error(), ErrorCode::kConflict);
  EXPECT_FALSE(store->Read(Key("Patient", "half"))->has_value());
  EXPECT_EQ((*store->Read(Key("Patient", "before")))->info.version, 1);
  EXPECT_EQ(store->Counters().commits, commits_before + 1);  // the empty group still ends
  StoredResource update;
  ASSERT_TRUE(Put(*store, "Patient", "before", R"({"v":2})", &update).ok());
  EXPECT_EQ(update.info.version, 2);
  ASSERT_TRUE(Put(*store, "Patient", "half", "{}").ok());
  store->Close();

  auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ((*reopened->Read(Key("Patient", "before")))->info.version, 2);
  EXPECT_EQ((*reopened->Read(Key("Patient", "half")))->info.version, 1);
}

TEST(GroupCommitTest, AFailedCommitFailsTheWholeGroup) {
  TempDir dir;
  SqliteOptions options;
  options.data_dir = dir.path();
  options.vfs = testing::FaultyVfs();
  auto store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Put(*store, "Patient", "before", "{}").ok());

  WriterGate gate;
  gate.Hold(*store);
  // The group's pages cannot be written to the log, so its COMMIT fails.
  testing::FailWalWrite(true);
  int writes_before = testing::FailedWalWrites();
  constexpr int kWrites = 5;
  Outcomes outcomes(kWrites + 1);
  // One write of the group fails on its own: it keeps its own Status.
  store->Write([](StoreTxn&) { return Status::Conflict("mine"); }, outcomes.Callback(kWrites));
  for (int i = 0; i < kWrites; ++i)
    store->Write(Create("Patient", Numbered("lost", i)), outcomes.Callback(i));
  gate.Release();
  // The gate's group wrote nothing, so its commit wrote no log page and succeeded.
  EXPECT_TRUE(gate.Wait().ok());
  std::map<int, Status> results = outcomes.Wait();
  EXPECT_EQ(results[kWrites].error(), ErrorCode::kConflict);
  results.erase(kWrites);
  for (const auto& [index, status] : results) {
    EXPECT_EQ(status.error(), ErrorCode::kUnavailable) << index;
    EXPECT_NE(status.message().find("not committed"), std::string::npos) << status.message();
  }
  EXPECT_GT(testing::FailedWalWrites(), writes_before);
  testing::FailWalWrite(false);

  SqliteCounters counters = store->Counters();
  EXPECT_EQ(counters.failed_commits, 1);
  EXPECT_EQ(counters.writes_failed, kWrites + 1);
  // Nothing of the failed groups is visible, and the store keeps working.
  for (int i = 0; i < kWrites; ++i)
    EXPECT_FALSE(store->Read(Key("Patient", Numbered("lost", i)))->has_value());
  ASSERT_TRUE(Put(*store, "Patient", "after", "{}").ok());
  StoredResource update;
  ASSERT_TRUE(Put(*store, "Patient", "before", R"({"v":2})", &update).ok());
  EXPECT_EQ(update.info.version, 2);
  store->Close();

  auto reopened = OpenOrDie(dir.path());
  EXPECT_TRUE(reopened->Read(Key("Patient", "before"))->has_value());
  EXPECT_TRUE(reopened->Read(Key("Patient", "after"))->has_value());
  EXPECT_EQ((*reopened->Read(Key("Patient", "before")))->info.version, 2);
  for (int i = 0; i < kWrites; ++i) {
    EXPECT_FALSE(reopened->Read(Key("Patient", Numbered("lost", i)))->has_value());
  }
}

TEST(GroupCommitTest, AFailedLogSyncFailsItsWritesAndStopsTheStoreTakingWrites) {
  // With durable commits the log is synced after COMMIT and before the answer (log_syncer.h).
  // A failed sync leaves it unknown whether the group will survive a crash: its writers are not
  // told it succeeded, and the store takes no more writes, since after a failed fsync a later one
  // may report success for pages the kernel dropped. Reads go on.
  TempDir dir;
  SqliteOptions options;
  options.data_dir = dir.path();
  options.vfs = testing::FaultyVfs();
  auto store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Put(*store, "Patient", "before", "{}").ok());

  testing::FailWalSync(true);
  int syncs_before = testing::FailedWalSyncs();
  Status failed = Put(*store, "Patient", "unsure", "{}");
  EXPECT_EQ(failed.error(), ErrorCode::kUnavailable);
  EXPECT_NE(failed.message().find("syncing the write-ahead log"), std::string::npos)
      << failed.message();
  EXPECT_GT(testing::FailedWalSyncs(), syncs_before);
  testing::FailWalSync(false);

  Status refused = Put(*store, "Patient", "after", "{}");
  EXPECT_EQ(refused.error(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.message().find("no writes"), std::string::npos) << refused.message();
  EXPECT_TRUE(store->Read(Key("Patient", "before"))->has_value());
  store->Close();

  // A restart (here: reopening) takes writes again.
  auto reopened = OpenOrDie(options);
  ASSERT_NE(reopened, nullptr);
  EXPECT_TRUE(reopened->Read(Key("Patient", "before"))->has_value());
  EXPECT_TRUE(Put(*reopened, "Patient", "after", "{}").ok());
}

}  // namespace
}  // namespace kiln::store::sqlite
