// History of the SQLite store: instance, type and system scope; _since, _at, paging cursors,
// totals; checked on a hand-made timeline and against a brute-force model on random data.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::Key;
using testing::OpenOrDie;
using testing::TempDir;
using testing::Version;

// A version to append with an explicit timestamp (so _since and _at are deterministic).
struct Step {
  std::string tenant;
  std::string type;
  std::string id;
  int64_t last_updated;
  bool deleted;
};

// Appends each step as the next version of its resource, one write per step; returns the seqs.
std::vector<StoredResource> Apply(Store& store, const std::vector<Step>& steps) {
  std::vector<StoredResource> written;
  for (const Step& step : steps) {
    StoredResource out;
    Status status = store.WriteAndWait([&](StoreTxn& txn) {
      auto latest = txn.ReadLatest(Key(step.type, step.id, step.tenant));
      if (!latest.ok()) return latest.take_status();
      int64_t next = latest.value() ? latest.value()->info.version + 1 : 1;
      WriteMethod method = step.deleted ? WriteMethod::kDelete
                           : next == 1  ? WriteMethod::kCreate
                                        : WriteMethod::kUpdate;
      std::string json;
      if (!step.deleted) {
        json = R"({"resourceType":")" + step.type + R"(","id":")" + step.id + R"(","v":)" +
               std::to_string(next) + "}";
      }
      out = Version(step.type, step.id, next, step.last_updated, json, method);
      return txn.Append(step.tenant, out);
    });
    EXPECT_TRUE(status.ok()) << status.message();
    written.push_back(out);
  }
  return written;
}

std::vector<int64_t> Seqs(const HistoryPage& page) {
  std::vector<int64_t> seqs;
  for (const StoredResource& entry : page.entries) seqs.push_back(entry.info.seq);
  return seqs;
}

HistoryQuery Query(std::string type = {}, std::string id = {}) {
  HistoryQuery query;
  query.type = std::move(type);
  query.id = std::move(id);
  return query;
}

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.path());
    // seq:            1     2     3     4     5     6     7
    // Patient/a     v1                v2                v3
    // Patient/b           v1                del
    // Observation/o             v1                v2
    // (timestamps 1000 * seq); plus one version in another tenant that must never show up.
    written_ = Apply(*store_, {{"default", "Patient", "a", 1000, false},
                               {"default", "Patient", "b", 2000, false},
                               {"default", "Observation", "o", 3000, false},
                               {"default", "Patient", "a", 4000, false},
                               {"default", "Patient", "b", 5000, true},
                               {"default", "Observation", "o", 6000, false},
                               {"default", "Patient", "a", 7000, false}});
    Apply(*store_, {{"other", "Patient", "a", 7500, false}});
    for (size_t i = 0; i < written_.size(); ++i) ASSERT_EQ(written_[i].info.seq, int64_t(i) + 1);
  }

  std::vector<int64_t> Run(HistoryQuery query) {
    Result<HistoryPage> page = store_->History(query);
    EXPECT_TRUE(page.ok()) << page.status().message();
    return page.ok() ? Seqs(*page) : std::vector<int64_t>{-1};
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
  std::vector<StoredResource> written_;
};

TEST_F(HistoryTest, ScopesNewestFirst) {
  EXPECT_EQ(Run(Query()), (std::vector<int64_t>{7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(Run(Query("Patient")), (std::vector<int64_t>{7, 5, 4, 2, 1}));
  EXPECT_EQ(Run(Query("Observation")), (std::vector<int64_t>{6, 3}));
  EXPECT_EQ(Run(Query("Patient", "a")), (std::vector<int64_t>{7, 4, 1}));
  EXPECT_EQ(Run(Query("Patient", "zzz")), (std::vector<int64_t>{}));
  EXPECT_EQ(Run(Query("Encounter")), (std::vector<int64_t>{}));
  HistoryQuery other = Query();
  other.tenant = "other";
  EXPECT_EQ(Run(other), (std::vector<int64_t>{8}));
}

TEST_F(HistoryTest, EntriesCarryEverything) {
  Result<HistoryPage> page = store_->History(Query("Patient", "b"));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 2u);
  const StoredResource& marker = page->entries[0];
  EXPECT_EQ(marker.info.type, "Patient");
  EXPECT_EQ(marker.info.id, "b");
  EXPECT_EQ(marker.info.version, 2);
  EXPECT_EQ(marker.info.last_updated, 5000);
  EXPECT_TRUE(marker.info.deleted);
  EXPECT_EQ(marker.info.method, WriteMethod::kDelete);
  EXPECT_TRUE(marker.json.empty());
  const StoredResource& created = page->entries[1];
  EXPECT_EQ(created.info.method, WriteMethod::kCreate);
  EXPECT_EQ(created.json, written_[1].json);
  EXPECT_FALSE(page->has_more);
  EXPECT_FALSE(page->total.has_value());
}

TEST_F(HistoryTest, PagesWithBeforeSeq) {
  HistoryQuery query = Query();
  query.count = 3;
  query.want_total = true;
  Result<HistoryPage> page = store_->History(query);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Seqs(*page), (std::vector<int64_t>{7, 6, 5}));
  EXPECT_TRUE(page->has_more);
  EXPECT_EQ(page->total, 7);

  query.before_seq = page->entries.back().info.seq;
  page = store_->History(query);
  EXPECT_EQ(Seqs(*page), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_TRUE(page->has_more);
  EXPECT_EQ(page->total, 7);  // the total ignores paging

  query.before_seq = page->entries.back().info.seq;
  page = store_->History(query);
  EXPECT_EQ(Seqs(*page), (std::vector<int64_t>{1}));
  EXPECT_FALSE(page->has_more);

  // An exactly full last page has no more.
  query.before_seq = 4;
  page = store_->History(query);
  EXPECT_EQ(Seqs(*page), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_FALSE(page->has_more);
}

TEST_F(HistoryTest, CountZeroOnlySaysWhetherThereIsMore) {
  HistoryQuery query = Query("Patient", "a");
  query.count = 0;
  query.want_total = true;
  Result<HistoryPage> page = store_->History(query);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->entries.empty());
  EXPECT_TRUE(page->has_more);
  EXPECT_EQ(page->total, 3);
  query.id = "zzz";
  page = store_->History(query);
  EXPECT_FALSE(page->has_more);
  EXPECT_EQ(page->total, 0);
}

TEST_F(HistoryTest, PagesStayPutWhileWritesArrive) {
  HistoryQuery query = Query("Patient");
  query.count = 2;
  Result<HistoryPage> first = store_->History(query);
  EXPECT_EQ(Seqs(*first), (std::vector<int64_t>{7, 5}));
  // New versions land between the pages...
  Apply(*store_, {{"default", "Patient", "a", 8000, false},
                  {"default", "Patient", "c", 8100, false},
                  {"default", "Patient", "b", 8200, false}});
  // ...and the following pages neither repeat nor skip anything.
  query.before_seq = 5;
  Result<HistoryPage> second = store_->History(query);
  EXPECT_EQ(Seqs(*second), (std::vector<int64_t>{4, 2}));
  EXPECT_TRUE(second->has_more);
  query.before_seq = 2;
  Result<HistoryPage> third = store_->History(query);
  EXPECT_EQ(Seqs(*third), (std::vector<int64_t>{1}));
  EXPECT_FALSE(third->has_more);
  // A fresh first page shows the new versions.
  query.before_seq.reset();
  query.count = 4;
  EXPECT_EQ(Run(query), (std::vector<int64_t>{11, 10, 9, 7}));  // 8 is the other tenant's
}

TEST_F(HistoryTest, Since) {
  HistoryQuery query = Query();
  query.since = 4000;  // inclusive
  EXPECT_EQ(Run(query), (std::vector<int64_t>{7, 6, 5, 4}));
  query.since = 4001;
  EXPECT_EQ(Run(query), (std::vector<int64_t>{7, 6, 5}));
  query.since = 7001;
  EXPECT_EQ(Run(query), (std::vector<int64_t>{}));
  query.since = 0;
  EXPECT_EQ(Run(query), (std::vector<int64_t>{7, 6, 5, 4, 3, 2, 1}));
  query = Query("Patient");
  query.since = 2000;
  query.count = 2;
  query.want_total = true;
  Result<HistoryPage> page = store_->History(query);
  EXPECT_EQ(Seqs(*page), (std::vector<int64_t>{7, 5}));
  EXPECT_EQ(page->total, 4);
  EXPECT_TRUE(page->has_more);
  query = Query("Patient", "a");
  query.since = 1500;
  EXPECT_EQ(Run(query), (std::vector<int64_t>{7, 4}));
}

TEST_F(HistoryTest, At) {
  auto at = [&](int64_t low, int64_t high, std::string type = {}, std::string id = {}) {
    HistoryQuery query = Query(std::move(type), std::move(id));
    query.at_low = low;
    query.at_high = high;
    return Run(query);
  };
  // At 4500: a v2 (4000..7000), b v1 (2000..5000), o v1 (3000..6000).
  EXPECT_EQ(at(4500, 4501), (std::vector<int64_t>{4, 3, 2}));
  // At 4000 exactly, a v1 has just been replaced: it does not count.
  EXPECT_EQ(at(4000, 4001), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(at(3999, 4000), (std::vector<int64_t>{3, 2, 1}));
  // Nothing existed before the first write.
  EXPECT_EQ(at(0, 1000), (std::vector<int64_t>{}));
  // A range catches every version current at some point of it.
  EXPECT_EQ(at(2500, 6500), (std::vector<int64_t>{6, 5, 4, 3, 2, 1}));
  // Long after: the latest versions, deletion marker included.
  EXPECT_EQ(at(100000, 100001), (std::vector<int64_t>{7, 6, 5}));
  EXPECT_EQ(at(4500, 4501, "Patient"), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(at(4500, 4501, "Patient", "a"), (std::vector<int64_t>{4}));

  HistoryQuery query = Query();
  query.at_low = 2500;
  query.at_high = 6500;
  query.count = 2;
  query.want_total = true;
  query.before_seq = 6;
  Result<HistoryPage> page = store_->History(query);
  EXPECT_EQ(Seqs(*page), (std::vector<int64_t>{5, 4}));
  EXPECT_TRUE(page->has_more);
  EXPECT_EQ(page->total, 6);
}

TEST_F(HistoryTest, RejectsBadQueries) {
  HistoryQuery query = Query("", "a");
  EXPECT_EQ(store_->History(query).status().error(), ErrorCode::kInvalid);
  query = Query();
  query.count = -1;
  EXPECT_EQ(store_->History(query).status().error(), ErrorCode::kInvalid);
}

TEST_F(HistoryTest, OutOfOrderTimestampsStillFilterCorrectly) {
  // An imported version older than everything else breaks the time order of seq.
  Apply(*store_, {{"default", "Patient", "old", 500, false}});  // seq 9
  auto since = [&](int64_t t) {
    HistoryQuery query = Query();
    query.since = t;
    return Run(query);
  };
  EXPECT_EQ(since(4001), (std::vector<int64_t>{7, 6, 5}));
  EXPECT_EQ(since(400), (std::vector<int64_t>{9, 7, 6, 5, 4, 3, 2, 1}));
  HistoryQuery at = Query();
  at.at_low = 600;
  at.at_high = 601;
  EXPECT_EQ(Run(at), (std::vector<int64_t>{9}));
  // The store remembers across a restart that time order no longer holds.
  store_->Close();
  store_ = OpenOrDie(dir_.path());
  EXPECT_EQ(since(4001), (std::vector<int64_t>{7, 6, 5}));
  EXPECT_EQ(Run(at), (std::vector<int64_t>{9}));
}

// --- random data against a brute-force model ---------------------------------------------------

struct ModelVersion {
  int64_t seq;
  Step step;
  int64_t version;
};

// What History must return, computed the slow, obvious way.
HistoryPage Expected(const std::vector<ModelVersion>& all, const HistoryQuery& query) {
  std::map<std::tuple<std::string, std::string, std::string, int64_t>, int64_t> next_time;
  for (const ModelVersion& v : all) {
    next_time[{v.step.tenant, v.step.type, v.step.id, v.version - 1}] = v.step.last_updated;
  }
  std::vector<const ModelVersion*> matching;
  for (const ModelVersion& v : all) {
    if (v.step.tenant != query.tenant) continue;
    if (!query.type.empty() && v.step.type != query.type) continue;
    if (!query.id.empty() && v.step.id != query.id) continue;
    if (query.since && v.step.last_updated < *query.since) continue;
    if (query.at_high && v.step.last_updated >= *query.at_high) continue;
    if (query.at_low) {
      auto next = next_time.find({v.step.tenant, v.step.type, v.step.id, v.version});
      if (next != next_time.end() && next->second <= *query.at_low) continue;
    }
    matching.push_back(&v);
  }
  std::sort(matching.begin(), matching.end(),
            [](const ModelVersion* a, const ModelVersion* b) { return a->seq > b->seq; });
  HistoryPage page;
  if (query.want_total) page.total = static_cast<int64_t>(matching.size());
  for (const ModelVersion* v : matching) {
    if (query.before_seq && v->seq >= *query.before_seq) continue;
    if (page.entries.size() == static_cast<size_t>(query.count)) {
      page.has_more = true;
      break;
    }
    StoredResource& entry = page.entries.emplace_back();
    entry.info.seq = v->seq;
  }
  return page;
}

void CheckAgainstModel(bool time_ordered, uint32_t seed) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  std::mt19937 random(seed);
  const std::vector<std::string> tenants = {"default", "t2"};
  const std::vector<std::string> types = {"Patient", "Observation", "Encounter"};
  std::vector<Step> steps;
  int64_t clock = 10000;
  for (int i = 0; i < 400; ++i) {
    Step step;
    step.tenant = tenants[random() % 4 == 0 ? 1 : 0];
    step.type = types[random() % types.size()];
    step.id = testing::Numbered("r", random() % 15);
    clock += 1 + random() % 5;
    step.last_updated = time_ordered ? clock : 10000 + random() % 2000;
    step.deleted = random() % 8 == 0;
    steps.push_back(step);
  }
  std::vector<StoredResource> written = Apply(*store, steps);
  std::vector<ModelVersion> model;
  for (size_t i = 0; i < steps.size(); ++i) {
    model.push_back({written[i].info.seq, steps[i], written[i].info.version});
  }
  int64_t lowest = 10000;
  int64_t highest = time_ordered ? clock + 10 : 12010;
  auto any_time = [&] {
    return lowest - 5 + static_cast<int64_t>(random() % (highest - lowest + 10));
  };

  for (int i = 0; i < 600; ++i) {
    HistoryQuery query;
    query.tenant = tenants[random() % 3 == 0 ? 1 : 0];
    int scope = random() % 3;
    if (scope >= 1) query.type = types[random() % types.size()];
    if (scope == 2) query.id = testing::Numbered("r", random() % 16);
    if (random() % 2) query.since = any_time();
    if (random() % 3 == 0) {
      int64_t a = any_time();
      query.at_low = a;
      query.at_high = a + 1 + static_cast<int64_t>(random() % 300);
    }
    query.count = static_cast<int>(random() % 12);
    query.want_total = random() % 2;
    // Walk every page and check each one.
    for (int pages = 0; pages < 100; ++pages) {
      HistoryPage expected = Expected(model, query);
      Result<HistoryPage> got = store->History(query);
      ASSERT_TRUE(got.ok()) << got.status().message();
      ASSERT_EQ(Seqs(*got), Seqs(expected)) << "query " << i << " page " << pages;
      ASSERT_EQ(got->has_more, expected.has_more) << "query " << i << " page " << pages;
      ASSERT_EQ(got->total, expected.total) << "query " << i;
      if (!got->has_more || got->entries.empty()) break;
      query.before_seq = got->entries.back().info.seq;
    }
  }
  // Every returned entry matches the version that was written.
  Result<HistoryPage> all = store->History([] {
    HistoryQuery query;
    query.count = 1000;
    return query;
  }());
  for (const StoredResource& entry : all->entries) {
    const StoredResource& w = written[static_cast<size_t>(entry.info.seq - 1)];
    ASSERT_EQ(entry.info.type, w.info.type);
    ASSERT_EQ(entry.info.id, w.info.id);
    ASSERT_EQ(entry.info.version, w.info.version);
    ASSERT_EQ(entry.info.last_updated, w.info.last_updated);
    ASSERT_EQ(entry.info.method, w.info.method);
    ASSERT_EQ(entry.json, w.json);
  }
}

TEST(HistoryModelTest, TimeOrderedDataMatchesTheModel) { CheckAgainstModel(true, 1); }
TEST(HistoryModelTest, UnorderedDataMatchesTheModel) { CheckAgainstModel(false, 2); }

}  // namespace
}  // namespace kiln::store::sqlite
