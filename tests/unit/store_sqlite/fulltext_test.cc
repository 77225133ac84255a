// The full-text index inside group commits: its rows are written once per group (FTS5 writes a
// segment at every SAVEPOINT), so these tests check that a search inside the group sees the
// group's earlier writes, and that a write rolled back after such a search loses only its own
// rows.
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

using testing::Key;
using testing::OpenOrDie;
using testing::Outcomes;
using testing::TempDir;
using testing::WriterGate;

search::Query TextQuery(const std::string& param, const std::string& words) {
  search::QueryOptions options;
  options.strict = true;
  Result<search::Query> query = search::ParseQuery({"Basic"}, {{param, words}}, options);
  EXPECT_TRUE(query.ok()) << query.status().message();
  return query.ok() ? std::move(*query) : search::Query();
}

// A write of version `version` of Basic/id whose narrative says `words` (1: a create).
WriteFn SaveBasic(const std::string& id, const std::string& words, int64_t version = 1) {
  return [id, words, version](StoreTxn& txn) -> Status {
    int64_t ts = txn.NextTimestamp();
    std::string json =
        R"({"resourceType":"Basic","id":")" + id + R"(","meta":{"versionId":")" +
        std::to_string(version) + R"(","lastUpdated":")" + core::FormatInstant(ts) +
        R"("},"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">)" +
        words + R"(</div>"},"code":{"text":"x"}})";
    Result<std::vector<search::IndexEntry>> index = search::ExtractIndexFromJson(json);
    if (!index.ok()) return index.take_status();
    StoredResource v = testing::Version("Basic", id, version, ts, json,
                                        version == 1 ? WriteMethod::kCreate : WriteMethod::kUpdate);
    return txn.Append(kDefaultTenant, v, &*index);
  };
}

std::vector<std::string> Found(Store& store, const std::string& words) {
  Result<SearchPage> page = store.Search(kDefaultTenant, TextQuery("_text", words));
  EXPECT_TRUE(page.ok()) << page.status().message();
  std::vector<std::string> ids;
  if (page.ok())
    for (const StoredResource& r : page->matches) ids.push_back(r.info.id);
  return ids;
}

TEST(FullTextTest, ASearchInsideTheGroupSeesEarlierWritesAndARollbackKeepsThem) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);

  WriterGate gate;
  gate.Hold(*store);  // the next writes form one group
  Outcomes outcomes(4);
  store->Write(SaveBasic("a", "alpha words"), outcomes.Callback(0));
  // Searches (and so flushes the pending rows of "a"), writes its own row, then fails: its
  // savepoint rolls back, taking the flushed rows with it; "a" must still be found afterwards.
  std::vector<std::string> seen;
  store->Write(
      [&seen](StoreTxn& txn) -> Status {
        Result<SearchPage> page = txn.Search(kDefaultTenant, TextQuery("_text", "alpha"));
        if (!page.ok()) return page.take_status();
        for (const StoredResource& r : page->matches) seen.push_back(r.info.id);
        Status wrote = SaveBasic("b", "beta words")(txn);
        if (!wrote.ok()) return wrote;
        return Status::Conflict("changed my mind");
      },
      outcomes.Callback(1));
  store->Write(SaveBasic("c", "gamma words"), outcomes.Callback(2));
  // A search after the rollback, in the same group: sees "a" and "c", not "b".
  std::vector<std::string> seen_later;
  store->Write(
      [&seen_later](StoreTxn& txn) -> Status {
        Result<SearchPage> page = txn.Search(kDefaultTenant, TextQuery("_text", "words"));
        if (!page.ok()) return page.take_status();
        for (const StoredResource& r : page->matches) seen_later.push_back(r.info.id);
        return Status::Ok();
      },
      outcomes.Callback(3));
  gate.Release();
  ASSERT_TRUE(gate.Wait().ok());
  std::map<int, Status> results = outcomes.Wait();
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].error(), ErrorCode::kConflict);
  EXPECT_TRUE(results[2].ok());
  EXPECT_TRUE(results[3].ok());
  EXPECT_EQ(seen, std::vector<std::string>{"a"});
  EXPECT_EQ(seen_later, (std::vector<std::string>{"a", "c"}));

  EXPECT_EQ(Found(*store, "alpha"), std::vector<std::string>{"a"});
  EXPECT_TRUE(Found(*store, "beta").empty());
  EXPECT_EQ(Found(*store, "gamma"), std::vector<std::string>{"c"});
  EXPECT_FALSE(store->Read(Key("Basic", "b"))->has_value());
}

TEST(FullTextTest, TwoUpdatesInOneGroupLeaveOnlyTheLastText) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->WriteAndWait(SaveBasic("x", "first text")).ok());

  WriterGate gate;
  gate.Hold(*store);
  Outcomes outcomes(2);
  // Update x twice in one group: only the last text remains.
  store->Write(SaveBasic("x", "second text", 2), outcomes.Callback(0));
  store->Write(SaveBasic("x", "third text", 3), outcomes.Callback(1));
  gate.Release();
  ASSERT_TRUE(gate.Wait().ok());
  for (const auto& [i, s] : outcomes.Wait()) EXPECT_TRUE(s.ok()) << i << " " << s.message();
  EXPECT_TRUE(Found(*store, "first").empty());
  EXPECT_TRUE(Found(*store, "second").empty());
  EXPECT_EQ(Found(*store, "third"), std::vector<std::string>{"x"});
}

}  // namespace
}  // namespace kiln::store::sqlite
