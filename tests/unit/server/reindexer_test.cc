// The Reindexer on a real SQLite store: when a rebuild is needed, that it rebuilds every current
// resource's rows, records the fingerprint, resumes from its cursor, survives resources that cannot
// be indexed, and leaves alone resources that a client updated meanwhile.
#include "server/reindexer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../store_sqlite/test_util.h"
#include "search/fingerprint.h"
#include "search/index.h"
#include "search/query.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"

namespace kiln::server {
namespace {

using store::sqlite::SqliteStore;
using store::sqlite::testing::Key;
using store::sqlite::testing::OpenOrDie;
using store::sqlite::testing::Put;
using store::sqlite::testing::TempDir;

std::string PatientJson(const std::string& id, const std::string& family) {
  return R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"family":")" + family +
         R"("}]})";
}

// Creates or updates Patient/id; with `indexed`, with its index rows (as the server writes).
Status SavePatient(Store& store, const std::string& id, const std::string& family,
                   bool indexed = true) {
  return store.WriteAndWait([&](StoreTxn& txn) -> Status {
    Result<std::optional<StoredResource>> latest = txn.ReadLatest(Key("Patient", id));
    if (!latest.ok()) return latest.take_status();
    int64_t version = *latest ? (*latest)->info.version + 1 : 1;
    std::string json = PatientJson(id, family);
    Result<std::vector<search::IndexEntry>> index = search::ExtractIndexFromJson(json);
    if (!index.ok()) return index.take_status();
    StoredResource v =
        store::sqlite::testing::Version("Patient", id, version, txn.NextTimestamp(), json,
                                        version == 1 ? WriteMethod::kCreate : WriteMethod::kUpdate);
    return txn.Append(kDefaultTenant, v, indexed ? &*index : nullptr);
  });
}

// The ids of the Patients matching `param`=`value`.
std::set<std::string> Matches(Store& store, const std::string& param, const std::string& value) {
  search::QueryOptions options;
  options.max_count = 1000;
  Result<search::Query> query =
      search::ParseQuery({"Patient"}, {{param, value}, {"_count", "1000"}}, options);
  EXPECT_TRUE(query.ok()) << query.status().message();
  if (!query.ok()) return {"<error>"};
  Result<SearchPage> page = store.Search(kDefaultTenant, *query);
  EXPECT_TRUE(page.ok()) << page.status().message();
  if (!page.ok()) return {"<error>"};
  std::set<std::string> ids;
  for (const StoredResource& r : page->matches) ids.insert(r.info.id);
  return ids;
}

std::set<std::string> FamilyMatches(Store& store, const std::string& family) {
  return Matches(store, "family", family);
}

std::optional<int64_t> Meta(Store& store, const char* key) {
  Result<std::optional<int64_t>> value = store.ReadMeta(key);
  EXPECT_TRUE(value.ok()) << value.status().message();
  return value.ok() ? *value : std::nullopt;
}

Status SetMeta(Store& store, const char* key, std::optional<int64_t> value) {
  return store.WriteAndWait([&](StoreTxn& txn) { return txn.SetMeta(key, value); });
}

class ReindexerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
  }

  // `n` patients p0.. with family "Family", written without index rows (as by a Kiln from before
  // indexing, or after the rows were lost).
  void AddUnindexed(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(
          SavePatient(*store_, store::sqlite::testing::Numbered("p", i), "Family", false).ok());
    }
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(ReindexerTest, FreshStoreRecordsTheFingerprintAndNeedsNothing) {
  Result<ReindexPlan> plan = PlanReindex(*store_, false);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_FALSE(plan->needed);
  EXPECT_EQ(Meta(*store_, kMetaIndexFingerprint), search::IndexFingerprint());
  plan = PlanReindex(*store_, false);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->needed);
  // --reindex forces it anyway.
  plan = PlanReindex(*store_, true);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->needed);
  EXPECT_EQ(plan->cursor, 0);
}

TEST_F(ReindexerTest, RebuildsAStoreWithoutFingerprint) {
  AddUnindexed(7);
  ASSERT_TRUE(Put(*store_, "Patient", "p3", "").ok());  // deleted: not scanned
  EXPECT_TRUE(FamilyMatches(*store_, "family").empty());

  Result<ReindexPlan> plan = PlanReindex(*store_, false);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->needed);
  EXPECT_EQ(plan->cursor, 0);
  EXPECT_FALSE(Meta(*store_, kMetaIndexFingerprint).has_value());  // not recorded: not rebuilt

  ReindexOptions options;
  options.batch_size = 2;
  std::vector<ReindexProgress> reports;
  options.on_progress = [&](const ReindexProgress& p) { reports.push_back(p); };
  options.progress_interval = std::chrono::milliseconds(0);
  Reindexer reindexer(*store_, options);
  Status status = reindexer.Run(*plan);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(reindexer.finished());

  EXPECT_EQ(FamilyMatches(*store_, "family"),
            std::set<std::string>({"p0", "p1", "p2", "p4", "p5", "p6"}));
  ReindexProgress p = reindexer.Progress();
  EXPECT_FALSE(p.running);
  EXPECT_EQ(p.done, 6);
  EXPECT_EQ(p.total, 6);
  EXPECT_EQ(p.failed, 0);
  ASSERT_FALSE(reports.empty());
  EXPECT_FALSE(reports.back().running);
  EXPECT_EQ(reports.back().done, 6);

  EXPECT_EQ(Meta(*store_, kMetaIndexFingerprint), search::IndexFingerprint());
  EXPECT_FALSE(Meta(*store_, kMetaReindexCursor).has_value());
  EXPECT_FALSE(Meta(*store_, kMetaReindexTarget).has_value());
  plan = PlanReindex(*store_, false);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->needed);
}

TEST_F(ReindexerTest, ChangedFingerprintMeansRebuild) {
  ASSERT_TRUE(SavePatient(*store_, "a", "Indexed").ok());
  ASSERT_TRUE(SetMeta(*store_, kMetaIndexFingerprint, search::IndexFingerprint() ^ 1).ok());
  Result<ReindexPlan> plan = PlanReindex(*store_, false);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->needed);
  EXPECT_EQ(plan->cursor, 0);
  Reindexer reindexer(*store_, {});
  ASSERT_TRUE(reindexer.Run(*plan).ok());
  EXPECT_EQ(FamilyMatches(*store_, "indexed"), std::set<std::string>({"a"}));
  EXPECT_EQ(Meta(*store_, kMetaIndexFingerprint), search::IndexFingerprint());
}

TEST_F(ReindexerTest, ResumesFromTheSavedCursorOfTheSameTarget) {
  AddUnindexed(5);
  Result<ScanPage> first = store_->ScanCurrent(0, 2);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(SetMeta(*store_, kMetaReindexTarget, search::IndexFingerprint()).ok());
  ASSERT_TRUE(SetMeta(*store_, kMetaReindexCursor, first->next_cursor).ok());

  Result<ReindexPlan> plan = PlanReindex(*store_, false);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->needed);
  EXPECT_EQ(plan->cursor, first->next_cursor);
  Reindexer reindexer(*store_, {});
  ASSERT_TRUE(reindexer.Run(*plan).ok());
  // p0 and p1 were "done" by the interrupted run (here: never), the rest now.
  EXPECT_EQ(FamilyMatches(*store_, "family"), std::set<std::string>({"p2", "p3", "p4"}));
  EXPECT_EQ(reindexer.Progress().done, 5);

  // A cursor left by a rebuild towards other rules is not resumed.
  ASSERT_TRUE(SetMeta(*store_, kMetaIndexFingerprint, std::nullopt).ok());
  ASSERT_TRUE(SetMeta(*store_, kMetaReindexTarget, search::IndexFingerprint() ^ 1).ok());
  ASSERT_TRUE(SetMeta(*store_, kMetaReindexCursor, first->next_cursor).ok());
  plan = PlanReindex(*store_, false);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->needed);
  EXPECT_EQ(plan->cursor, 0);
}

TEST_F(ReindexerTest, ResourcesThatCannotBeIndexedAreCountedNotFatal) {
  AddUnindexed(3);
  // Stored JSON that is not JSON any more (a damaged row, or rules this build refuses).
  ASSERT_TRUE(Put(*store_, "Patient", "broken", "{not json").ok());
  ASSERT_TRUE(SavePatient(*store_, "after", "Family", false).ok());

  Reindexer reindexer(*store_, {});
  ASSERT_TRUE(reindexer.Run(*PlanReindex(*store_, true)).ok());
  EXPECT_TRUE(reindexer.finished());
  EXPECT_EQ(reindexer.Progress().failed, 1);
  EXPECT_EQ(reindexer.Progress().done, 5);
  EXPECT_EQ(FamilyMatches(*store_, "family"), std::set<std::string>({"p0", "p1", "p2", "after"}));
}

// Runs `hook` once, after the scan has read its first page and before that page is written.
class ScanHookStore : public StoreWrapper {
 public:
  ScanHookStore(Store& target, std::function<void()> hook)
      : StoreWrapper(target), hook_(std::move(hook)) {}
  Result<ScanPage> ScanCurrent(int64_t cursor, int limit) override {
    Result<ScanPage> page = target_.ScanCurrent(cursor, limit);
    if (hook_) {
      hook_();
      hook_ = nullptr;
    }
    return page;
  }

 private:
  std::function<void()> hook_;
};

TEST_F(ReindexerTest, AClientUpdateDuringTheRebuildWins) {
  AddUnindexed(3);
  ScanHookStore hooked(*store_, [&] { ASSERT_TRUE(SavePatient(*store_, "p1", "Renamed").ok()); });
  Reindexer reindexer(hooked, {});
  ASSERT_TRUE(reindexer.Run(*PlanReindex(hooked, true)).ok());
  EXPECT_EQ(reindexer.Progress().skipped, 1);
  // p1's rows are those of its update, not those built from the version the scan read.
  EXPECT_EQ(FamilyMatches(*store_, "family"), std::set<std::string>({"p0", "p2"}));
  EXPECT_EQ(FamilyMatches(*store_, "renamed"), std::set<std::string>({"p1"}));
}

TEST_F(ReindexerTest, StopIsPromptAndTheNextRunResumes) {
  AddUnindexed(20);
  ReindexOptions options;
  options.batch_size = 2;
  options.pause = std::chrono::milliseconds(60000);  // would take 10 minutes
  Reindexer reindexer(*store_, options);
  reindexer.Start(*PlanReindex(*store_, true));
  EXPECT_TRUE(reindexer.Progress().running);
  // Wait for the first batch to commit.
  for (int i = 0; i < 500 && reindexer.Progress().done < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(reindexer.Progress().done, 2);
  auto before = std::chrono::steady_clock::now();
  reindexer.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  EXPECT_FALSE(reindexer.Progress().running);
  EXPECT_FALSE(reindexer.finished());
  EXPECT_EQ(FamilyMatches(*store_, "family").size(), 2u);
  EXPECT_NE(Meta(*store_, kMetaIndexFingerprint), search::IndexFingerprint());

  // The next start carries on after the committed batch.
  Result<ReindexPlan> plan = PlanReindex(*store_, false);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->needed);
  EXPECT_GT(plan->cursor, 0);
  Reindexer second(*store_, {});
  ASSERT_TRUE(second.Run(*plan).ok());
  EXPECT_EQ(second.Progress().done, 20);
  EXPECT_EQ(FamilyMatches(*store_, "family").size(), 20u);
  EXPECT_EQ(Meta(*store_, kMetaIndexFingerprint), search::IndexFingerprint());
}

// The full-text index's segment bytes and segment count, read beside the open store.
struct TextIndexSize {
  int64_t bytes = -1;
  int64_t blocks = -1;
};
TextIndexSize TextIndexOf(const SqliteStore& store) {
  TextIndexSize size;
  Result<std::unique_ptr<store::sqlite::Connection>> c = store::sqlite::Connection::Open(
      store.database_path(), store::sqlite::Connection::Mode::kReadOnly, "", 1000);
  EXPECT_TRUE(c.ok()) << c.status().message();
  if (!c.ok()) return size;
  Result<int64_t> bytes =
      (*c)->QueryInt("SELECT coalesce(sum(length(block)), 0) FROM idx_text_data");
  Result<int64_t> blocks = (*c)->QueryInt("SELECT count(*) FROM idx_text_data");
  if (bytes.ok()) size.bytes = *bytes;
  if (blocks.ok()) size.blocks = *blocks;
  return size;
}

Result<bool> CompactStep(Store& store, int64_t pages = 16) {
  bool more = false;
  Status status = store.WriteAndWait([&more, pages](StoreTxn& txn) -> Status {
    Result<bool> step = txn.CompactSearchIndex(pages);
    if (!step.ok()) return step.take_status();
    more = *step;
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return more;
}

std::set<std::string> ContentMatches(Store& store, const std::string& word) {
  return Matches(store, "_content", word);
}

TEST_F(ReindexerTest, CompactingTheSearchIndexMergesWhatRewritesLeftBehind) {
  // One large load (one big full-text segment), then every row rewritten by many small commits:
  // FTS5 keeps the old terms, and tombstones for them, in segments its automatic merges leave
  // apart from the big one, as after a rebuild.
  constexpr int kPatients = 2000;
  auto save_range = [&](int from, int to, int round) {
    return store_->WriteAndWait([&](StoreTxn& txn) -> Status {
      for (int i = from; i < to; ++i) {
        const std::string id = store::sqlite::testing::Numbered("p", i);
        Result<std::optional<StoredResource>> latest = txn.ReadLatest(Key("Patient", id));
        if (!latest.ok()) return latest.take_status();
        const int64_t version = *latest ? (*latest)->info.version + 1 : 1;
        std::string json = PatientJson(id, "Name" + std::to_string(round * 10000 + i));
        Result<std::vector<search::IndexEntry>> index = search::ExtractIndexFromJson(json);
        if (!index.ok()) return index.take_status();
        StoredResource v = store::sqlite::testing::Version(
            "Patient", id, version, txn.NextTimestamp(), json,
            version == 1 ? WriteMethod::kCreate : WriteMethod::kUpdate);
        if (Status s = txn.Append(kDefaultTenant, v, &*index); !s.ok()) return s;
      }
      return Status::Ok();
    });
  };
  ASSERT_TRUE(save_range(0, kPatients, 0).ok());
  for (int from = 0; from < kPatients; from += 50) ASSERT_TRUE(save_range(from, from + 50, 1).ok());
  const TextIndexSize before = TextIndexOf(*store_);
  int steps = 0;
  for (;;) {
    Result<bool> more = CompactStep(*store_, /*pages=*/1);
    ASSERT_TRUE(more.ok()) << more.status().message();
    ++steps;
    ASSERT_LT(steps, 1000) << "compaction does not end";
    if (!*more) break;
  }
  const TextIndexSize after = TextIndexOf(*store_);
  EXPECT_GT(steps, 2) << "one page a step: it takes several";
  EXPECT_LT(after.bytes * 2, before.bytes) << before.bytes << " -> " << after.bytes;
  EXPECT_LT(after.blocks, before.blocks);
  // Nothing left: the next step does nothing.
  Result<bool> again = CompactStep(*store_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  // Only the last round's words are found, each on its resource.
  EXPECT_EQ(ContentMatches(*store_, "name10007"), std::set<std::string>({"p7"}));
  EXPECT_TRUE(ContentMatches(*store_, "name7").empty());
  EXPECT_EQ(FamilyMatches(*store_, "name11999"), std::set<std::string>({"p1999"}));
}

TEST_F(ReindexerTest, AFinishedRebuildLeavesTheSearchIndexCompacted) {
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(
        SavePatient(*store_, store::sqlite::testing::Numbered("p", i), "Name" + std::to_string(i))
            .ok());
  }
  Result<ReindexPlan> plan = PlanReindex(*store_, /*force=*/true);
  ASSERT_TRUE(plan.ok());
  ReindexOptions options;
  options.batch_size = 10;  // 30 batches: 30 commits rewriting full-text rows
  Reindexer reindexer(*store_, options);
  ASSERT_TRUE(reindexer.Run(*plan).ok());
  EXPECT_TRUE(reindexer.finished());
  Result<bool> more = CompactStep(*store_);
  ASSERT_TRUE(more.ok()) << more.status().message();
  EXPECT_FALSE(*more) << "the rebuild left the full-text index to merge";
  EXPECT_EQ(ContentMatches(*store_, "name123"), std::set<std::string>({"p123"}));
}

// A store whose write transactions fail every compaction step (a full disk, say).
class FailingCompactionStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  void Write(WriteFn fn, WriteDone done) override {
    StoreWrapper::Write(
        [fn = std::move(fn)](StoreTxn& txn) {
          FailingCompaction failing(txn);
          return fn(failing);
        },
        std::move(done));
  }

 private:
  class FailingCompaction : public StoreTxn {
   public:
    explicit FailingCompaction(StoreTxn& txn) : txn_(txn) {}
    Result<std::optional<StoredResource>> ReadLatest(const ResourceKey& key) override {
      return txn_.ReadLatest(key);
    }
    Status Append(const std::string& tenant, StoredResource& version,
                  const std::vector<search::IndexEntry>* index) override {
      return txn_.Append(tenant, version, index);
    }
    int64_t NextTimestamp() override { return txn_.NextTimestamp(); }
    Result<SearchPage> Search(const std::string& tenant, const search::Query& query) override {
      return txn_.Search(tenant, query);
    }
    Result<bool> ReplaceIndex(const ResourceKey& key, int64_t expected_version,
                              const std::vector<search::IndexEntry>& entries) override {
      return txn_.ReplaceIndex(key, expected_version, entries);
    }
    Status SetMeta(const std::string& key, std::optional<int64_t> value) override {
      return txn_.SetMeta(key, value);
    }
    Result<bool> CompactSearchIndex(int64_t) override {
      return Status::Unavailable("disk full (injected)");
    }

   private:
    StoreTxn& txn_;
  };
};

TEST_F(ReindexerTest, AFailedCompactionLeavesTheRebuildFinished) {
  AddUnindexed(5);
  FailingCompactionStore failing(*store_);
  Reindexer reindexer(failing, {});
  Status status = reindexer.Run(*PlanReindex(failing, true));
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(reindexer.finished());
  EXPECT_EQ(FamilyMatches(*store_, "family").size(), 5u);
  EXPECT_EQ(Meta(*store_, kMetaIndexFingerprint), search::IndexFingerprint());
}

TEST(ReindexUpgradeTest, ADatabaseFromSchemaOneGetsItsIndexRowsBuilt) {
  TempDir dir;
  {
    // Schema 1 had no index tables: its resources have no rows after the upgrade.
    Result<std::unique_ptr<store::sqlite::Connection>> connection =
        store::sqlite::Connection::Open(dir.Sub(store::sqlite::kDatabaseFileName),
                                        store::sqlite::Connection::Mode::kReadWrite, "", 1000);
    ASSERT_TRUE(connection.ok()) << connection.status().message();
    ASSERT_TRUE(store::sqlite::MigrateTo(**connection, 1).ok());
    std::string json = PatientJson("old", "Oldtimer");
    std::string insert =
        "INSERT INTO resource_version (seq, tenant, type, id, version, last_updated, deleted, "
        "method, json) VALUES (1, 'default', 'Patient', 'old', 1, 5, 0, 0, '" +
        json +
        "'); INSERT INTO resource (tenant, type, id, version, seq, deleted, last_updated) "
        "VALUES ('default', 'Patient', 'old', 1, 1, 0, 5)";
    ASSERT_TRUE((*connection)->Exec(insert.c_str()).ok());
  }
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(FamilyMatches(*store, "oldtimer").empty());
  Result<ReindexPlan> plan = PlanReindex(*store, false);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->needed);
  EXPECT_NE(plan->reason.find("no index fingerprint"), std::string::npos) << plan->reason;
  Reindexer reindexer(*store, {});
  ASSERT_TRUE(reindexer.Run(*plan).ok());
  EXPECT_EQ(FamilyMatches(*store, "oldtimer"), std::set<std::string>({"old"}));
}

TEST(ReindexMetricsTest, RendersGauges) {
  ReindexProgress p;
  p.running = true;
  p.done = 12;
  p.total = 40;
  std::string out;
  AppendReindexMetrics(out, p);
  EXPECT_NE(out.find("kiln_reindex_running 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("kiln_reindex_resources_done 12\n"), std::string::npos) << out;
  EXPECT_NE(out.find("kiln_reindex_resources_total 40\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace kiln::server
