// Index maintenance on the SQLite store: ScanCurrent/CountCurrent paging, ReplaceIndex (and its
// stale-version guard), and the integer facts of store_meta (SetMeta/ReadMeta).
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "search/index.h"
#include "search/query.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::Key;
using testing::OpenOrDie;
using testing::Put;
using testing::TempDir;

std::string PatientJson(const std::string& id, const std::string& family) {
  return R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"family":")" + family +
         R"("}]})";
}

// Creates or updates Patient/id with family `family`; with `indexed`, its index rows too.
Status SavePatient(Store& store, const std::string& id, const std::string& family,
                   bool indexed = true, const std::string& tenant = kDefaultTenant) {
  return store.WriteAndWait([&](StoreTxn& txn) -> Status {
    Result<std::optional<StoredResource>> latest = txn.ReadLatest(Key("Patient", id, tenant));
    if (!latest.ok()) return latest.take_status();
    int64_t version = *latest ? (*latest)->info.version + 1 : 1;
    std::string json = PatientJson(id, family);
    Result<std::vector<search::IndexEntry>> index = search::ExtractIndexFromJson(json);
    if (!index.ok()) return index.take_status();
    StoredResource v = testing::Version("Patient", id, version, txn.NextTimestamp(), json,
                                        version == 1 ? WriteMethod::kCreate : WriteMethod::kUpdate);
    return txn.Append(tenant, v, indexed ? &*index : nullptr);
  });
}

std::set<std::string> FamilyMatches(Store& store, const std::string& family,
                                    const std::string& tenant = kDefaultTenant) {
  search::QueryOptions options;
  Result<search::Query> query = search::ParseQuery({"Patient"}, {{"family", family}}, options);
  EXPECT_TRUE(query.ok()) << query.status().message();
  if (!query.ok()) return {"<error>"};
  Result<SearchPage> page = store.Search(tenant, *query);
  EXPECT_TRUE(page.ok()) << page.status().message();
  if (!page.ok()) return {"<error>"};
  std::set<std::string> ids;
  for (const StoredResource& r : page->matches) ids.insert(r.info.id);
  return ids;
}

class SqliteMaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
  }

  // Every page of a scan with `limit`, as "tenant/type/id@version" in scan order.
  std::vector<std::string> ScanAll(int limit, int* pages = nullptr) {
    std::vector<std::string> out;
    int64_t cursor = 0;
    int n = 0;
    while (true) {
      Result<ScanPage> page = store_->ScanCurrent(cursor, limit);
      EXPECT_TRUE(page.ok()) << page.status().message();
      if (!page.ok()) break;
      ++n;
      EXPECT_LE(page->resources.size(), static_cast<size_t>(limit));
      for (const ScannedResource& r : page->resources) {
        EXPECT_FALSE(r.resource.info.deleted);
        EXPECT_FALSE(r.resource.json.empty());
        out.push_back(r.tenant + "/" + r.resource.info.type + "/" + r.resource.info.id + "@" +
                      std::to_string(r.resource.info.version));
      }
      if (page->done) break;
      EXPECT_GT(page->next_cursor, cursor);
      cursor = page->next_cursor;
      if (n > 100) break;
    }
    if (pages != nullptr) *pages = n;
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteMaintenanceTest, ScanPagesCurrentVersionsSkipsDeletedAndCoversTenants) {
  ASSERT_TRUE(SavePatient(*store_, "a", "One").ok());
  ASSERT_TRUE(SavePatient(*store_, "b", "Two").ok());
  ASSERT_TRUE(SavePatient(*store_, "c", "Three", true, "t2").ok());
  ASSERT_TRUE(SavePatient(*store_, "d", "Four").ok());
  ASSERT_TRUE(
      Put(*store_, "Observation", "o1", R"({"resourceType":"Observation","id":"o1"})").ok());
  ASSERT_TRUE(SavePatient(*store_, "b", "Two again").ok());  // b is at version 2
  ASSERT_TRUE(Put(*store_, "Patient", "d", "").ok());        // d is deleted

  const std::vector<std::string> expected = {"default/Patient/a@1", "default/Patient/b@2",
                                             "t2/Patient/c@1", "default/Observation/o1@1"};
  int pages = 0;
  EXPECT_EQ(ScanAll(2, &pages), expected);
  // a b | c o1 (d skipped) | nothing: a full page cannot know it was the last.
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(ScanAll(1), expected);
  EXPECT_EQ(ScanAll(500, &pages), expected);
  EXPECT_EQ(pages, 1);

  // The scanned JSON is the current version's.
  Result<ScanPage> first = store_->ScanCurrent(0, 2);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->resources[1].resource.json, PatientJson("b", "Two again"));
  EXPECT_FALSE(first->done);

  Result<int64_t> all = store_->CountCurrent(0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 4);
  Result<int64_t> rest = store_->CountCurrent(first->next_cursor);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 2);

  EXPECT_EQ(store_->ScanCurrent(0, 0).status().error(), ErrorCode::kInvalid);
  EXPECT_EQ(store_->ScanCurrent(-1, 5).status().error(), ErrorCode::kInvalid);
}

TEST_F(SqliteMaintenanceTest, ScanFindsResourcesCreatedBetweenPagesLater) {
  ASSERT_TRUE(SavePatient(*store_, "a", "One").ok());
  ASSERT_TRUE(SavePatient(*store_, "b", "Two").ok());
  Result<ScanPage> first = store_->ScanCurrent(0, 1);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->resources.size(), 1u);
  ASSERT_TRUE(SavePatient(*store_, "z", "Late").ok());
  ASSERT_TRUE(SavePatient(*store_, "a", "One again").ok());  // before the cursor: not seen again
  Result<ScanPage> second = store_->ScanCurrent(first->next_cursor, 10);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->resources.size(), 2u);
  EXPECT_EQ(second->resources[0].resource.info.id, "b");
  EXPECT_EQ(second->resources[1].resource.info.id, "z");
  EXPECT_TRUE(second->done);
}

TEST_F(SqliteMaintenanceTest, EmptyStoreScansNothing) {
  Result<ScanPage> page = store_->ScanCurrent(0, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->resources.empty());
  EXPECT_TRUE(page->done);
  EXPECT_EQ(*store_->CountCurrent(0), 0);
}

TEST_F(SqliteMaintenanceTest, ReplaceIndexRewritesRowsOfTheExpectedVersionOnly) {
  ASSERT_TRUE(SavePatient(*store_, "a", "Old", /*indexed=*/false).ok());
  ASSERT_TRUE(SavePatient(*store_, "b", "Bee").ok());
  EXPECT_TRUE(FamilyMatches(*store_, "old").empty());  // never indexed

  Result<std::vector<search::IndexEntry>> a_rows =
      search::ExtractIndexFromJson(PatientJson("a", "Old"));
  ASSERT_TRUE(a_rows.ok());
  bool replaced = false;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTxn& txn) -> Status {
                    Result<bool> r = txn.ReplaceIndex(Key("Patient", "a"), 1, *a_rows);
                    if (!r.ok()) return r.take_status();
                    replaced = *r;
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_TRUE(replaced);
  EXPECT_EQ(FamilyMatches(*store_, "old"), std::set<std::string>({"a"}));
  EXPECT_EQ(FamilyMatches(*store_, "bee"), std::set<std::string>({"b"}));  // untouched

  // b moved on to version 2 (family "New"): rows built from version 1 must not replace its rows.
  ASSERT_TRUE(SavePatient(*store_, "b", "New").ok());
  Result<std::vector<search::IndexEntry>> stale =
      search::ExtractIndexFromJson(PatientJson("b", "Bee"));
  ASSERT_TRUE(stale.ok());
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTxn& txn) -> Status {
                    Result<bool> r = txn.ReplaceIndex(Key("Patient", "b"), 1, *stale);
                    if (!r.ok()) return r.take_status();
                    replaced = *r;
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_FALSE(replaced);
  EXPECT_TRUE(FamilyMatches(*store_, "bee").empty());
  EXPECT_EQ(FamilyMatches(*store_, "new"), std::set<std::string>({"b"}));

  // Deleted since the scan: the deletion is a newer version, so nothing comes back.
  ASSERT_TRUE(Put(*store_, "Patient", "a", "").ok());
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTxn& txn) -> Status {
                    Result<bool> r = txn.ReplaceIndex(Key("Patient", "a"), 1, *a_rows);
                    if (!r.ok()) return r.take_status();
                    replaced = *r;
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_FALSE(replaced);
  EXPECT_TRUE(FamilyMatches(*store_, "old").empty());

  // Another tenant's key, or one that never existed.
  Status missing = store_->WriteAndWait([&](StoreTxn& txn) -> Status {
    return txn.ReplaceIndex(Key("Patient", "b", "t2"), 1, *stale).status();
  });
  EXPECT_EQ(missing.error(), ErrorCode::kNotFound);
}

TEST_F(SqliteMaintenanceTest, MetaIsSetWithTheTransactionAndSurvivesReopening) {
  Result<std::optional<int64_t>> absent = store_->ReadMeta("index_fingerprint");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());

  ASSERT_TRUE(store_
                  ->WriteAndWait([](StoreTxn& txn) {
                    Status s = txn.SetMeta("index_fingerprint", int64_t{0x7123456789abcdef});
                    if (s.ok()) s = txn.SetMeta("reindex_cursor", 42);
                    return s;
                  })
                  .ok());
  EXPECT_EQ(*store_->ReadMeta("index_fingerprint"), int64_t{0x7123456789abcdef});
  EXPECT_EQ(*store_->ReadMeta("reindex_cursor"), 42);

  // A failed closure takes its SetMeta back with it.
  Status failed = store_->WriteAndWait([](StoreTxn& txn) {
    Status s = txn.SetMeta("reindex_cursor", 43);
    if (!s.ok()) return s;
    return Status::Conflict("changed my mind");
  });
  EXPECT_EQ(failed.error(), ErrorCode::kConflict);
  EXPECT_EQ(*store_->ReadMeta("reindex_cursor"), 42);

  // The store's own facts are not for callers.
  Status reserved =
      store_->WriteAndWait([](StoreTxn& txn) { return txn.SetMeta("max_last_updated", 1); });
  EXPECT_EQ(reserved.error(), ErrorCode::kInvalid);

  ASSERT_TRUE(
      store_
          ->WriteAndWait([](StoreTxn& txn) { return txn.SetMeta("reindex_cursor", std::nullopt); })
          .ok());
  EXPECT_FALSE(store_->ReadMeta("reindex_cursor")->has_value());

  store_->Close();
  store_ = OpenOrDie(dir_.path());
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(*store_->ReadMeta("index_fingerprint"), int64_t{0x7123456789abcdef});
  EXPECT_FALSE(store_->ReadMeta("reindex_cursor")->has_value());
  EXPECT_TRUE(store_->Check().ok());
}

}  // namespace
}  // namespace kiln::store::sqlite
