// What a search on the SQLite store ranges over: several types (system search, with and without
// _type) and compartments. The REST spec cases (tests/spec/search_compartment.test) cover the
// same from the outside; these pin the store's part.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "search/index.h"
#include "search/query.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

Status Save(Store& store, const std::string& type, const std::string& id,
            const std::string& members) {
  return store.WriteAndWait([&](StoreTxn& txn) -> Status {
    int64_t ts = txn.NextTimestamp();
    std::string json = R"({"resourceType":")" + type + R"(","id":")" + id +
                       R"(","meta":{"versionId":"1","lastUpdated":")" + core::FormatInstant(ts) +
                       "\"}";
    if (!members.empty()) json += "," + members;
    json += "}";
    Result<std::vector<search::IndexEntry>> index = search::ExtractIndexFromJson(json);
    if (!index.ok()) return index.take_status();
    StoredResource v = testing::Version(type, id, 1, ts, json, WriteMethod::kCreate);
    return txn.Append(kDefaultTenant, v, &*index);
  });
}

class SqliteScopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(Save(*store_, "Patient", "p", "").ok());
    ASSERT_TRUE(Save(*store_, "Encounter", "e", R"("subject":{"reference":"Patient/p"})").ok());
    ASSERT_TRUE(
        Save(*store_, "Observation", "o1",
             R"("subject":{"reference":"Patient/p"},"encounter":{"reference":"Encounter/e"})")
            .ok());
    ASSERT_TRUE(
        Save(*store_, "Observation", "o2", R"("performer":[{"reference":"Patient/p"}])").ok());
    ASSERT_TRUE(Save(*store_, "Observation", "o3", R"("subject":{"reference":"Patient/x"})").ok());
  }
  void TearDown() override {
    if (store_) store_->Close();
  }

  // "Type/id" of the matches of `params` over `types`, in order.
  std::vector<std::string> Find(const std::vector<std::string>& types, search::SearchParams params,
                                std::optional<search::CompartmentRef> compartment = std::nullopt) {
    search::QueryOptions options;
    options.strict = true;
    options.compartment = std::move(compartment);
    Result<search::Query> query = search::ParseQuery(types, params, options);
    EXPECT_TRUE(query.ok()) << query.status().message();
    if (!query.ok()) return {};
    Result<SearchPage> page = store_->Search(kDefaultTenant, *query);
    EXPECT_TRUE(page.ok()) << page.status().message();
    std::vector<std::string> out;
    if (page.ok()) {
      for (const StoredResource& r : page->matches) out.push_back(r.info.type + "/" + r.info.id);
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

using Ids = std::vector<std::string>;

TEST_F(SqliteScopeTest, SystemSearch) {
  EXPECT_EQ(Find({}, {{"_id", "p,e,o2"}}), (Ids{"Patient/p", "Encounter/e", "Observation/o2"}));
  EXPECT_EQ(Find({}, {{"_type", "Encounter,Patient"}}), (Ids{"Patient/p", "Encounter/e"}));
  EXPECT_EQ(Find({}, {{"_type", "Observation,Encounter"}, {"patient", "Patient/p"}}),
            (Ids{"Encounter/e", "Observation/o1"}));
}

TEST_F(SqliteScopeTest, Compartments) {
  const search::CompartmentRef patient{"Patient", "p"};
  EXPECT_EQ(Find({"Observation"}, {}, patient), (Ids{"Observation/o1", "Observation/o2"}));
  EXPECT_EQ(Find({"Encounter", "Observation"}, {}, patient),
            (Ids{"Encounter/e", "Observation/o1", "Observation/o2"}));
  // Encounter compartment: the encounter itself ({def}) and what refers to it by `encounter`.
  EXPECT_EQ(Find({"Encounter", "Observation"}, {}, search::CompartmentRef{"Encounter", "e"}),
            (Ids{"Encounter/e", "Observation/o1"}));
  EXPECT_EQ(Find({"Observation"}, {}, search::CompartmentRef{"Patient", "nobody"}), Ids{});
}

}  // namespace
}  // namespace kiln::store::sqlite
