// _include/_revinclude on the SQLite store: what the REST spec cases cannot reach (the include
// cap, tenants), and the rounds of :iterate.
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
using testing::TempDir;

search::SearchParams ParamsOf(const std::string& url_query) {
  search::SearchParams params;
  size_t start = 0;
  while (start < url_query.size()) {
    size_t end = url_query.find('&', start);
    if (end == std::string::npos) end = url_query.size();
    std::string pair = url_query.substr(start, end - start);
    size_t eq = pair.find('=');
    params.emplace_back(pair.substr(0, eq), eq == std::string::npos ? "" : pair.substr(eq + 1));
    start = end + 1;
  }
  return params;
}

search::Query QueryOf(const std::string& type, const std::string& url_query,
                      int max_includes = 1000) {
  search::QueryOptions options;
  options.strict = true;
  options.max_includes = max_includes;
  Result<search::Query> query = search::ParseQuery({type}, ParamsOf(url_query), options);
  EXPECT_TRUE(query.ok()) << url_query << ": " << query.status().message();
  return query.ok() ? std::move(*query) : search::Query();
}

// Creates type/id in `tenant` with `members` after id and meta, indexed.
Status Save(Store& store, const std::string& type, const std::string& id,
            const std::string& members, const std::string& tenant = kDefaultTenant) {
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
    return txn.Append(tenant, v, &*index);
  });
}

std::string Subject(const std::string& reference) {
  return R"("status":"final","code":{"text":"x"},"subject":{"reference":")" + reference + "\"}";
}

std::vector<std::string> Included(const SearchPage& page) {
  std::vector<std::string> out;
  for (const StoredResource& r : page.included) out.push_back(r.info.type + "/" + r.info.id);
  return out;
}

class SqliteIncludeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (store_) store_->Close();
  }

  SearchPage Run(const std::string& type, const std::string& url_query, int max_includes = 1000) {
    Result<SearchPage> page =
        store_->Search(kDefaultTenant, QueryOf(type, url_query, max_includes));
    EXPECT_TRUE(page.ok()) << page.status().message();
    return page.ok() ? std::move(*page) : SearchPage();
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteIncludeTest, CapStopsAndWarns) {
  ASSERT_TRUE(Save(*store_, "Patient", "p", "").ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Save(*store_, "Observation", "o" + std::to_string(i), Subject("Patient/p")).ok());
  }
  SearchPage page = Run("Patient", "_revinclude=Observation:subject", 3);
  EXPECT_EQ(Included(page),
            (std::vector<std::string>{"Observation/o0", "Observation/o1", "Observation/o2"}));
  ASSERT_EQ(page.warnings.size(), 1u);
  EXPECT_EQ(page.warnings[0].severity, Severity::kWarning);
  EXPECT_EQ(page.warnings[0].code, "incomplete");
  EXPECT_NE(page.warnings[0].diagnostics.find("limit of 3 included resources"), std::string::npos);

  // Exactly at the cap: everything fits, no warning.
  page = Run("Patient", "_revinclude=Observation:subject", 5);
  EXPECT_EQ(page.included.size(), 5u);
  EXPECT_TRUE(page.warnings.empty());

  // A cap of 0 includes nothing and says so.
  page = Run("Patient", "_revinclude=Observation:subject", 0);
  EXPECT_TRUE(page.included.empty());
  EXPECT_EQ(page.warnings.size(), 1u);
}

TEST_F(SqliteIncludeTest, NeverCrossesTenants) {
  ASSERT_TRUE(Save(*store_, "Patient", "p", "").ok());
  ASSERT_TRUE(Save(*store_, "Patient", "q", "", "other").ok());
  ASSERT_TRUE(Save(*store_, "Observation", "mine", Subject("Patient/q")).ok());
  ASSERT_TRUE(Save(*store_, "Observation", "theirs", Subject("Patient/p"), "other").ok());
  // Patient/q exists only in the other tenant.
  EXPECT_TRUE(Run("Observation", "_include=Observation:subject").included.empty());
  // The other tenant's Observation refers to "Patient/p", but not to this tenant's p.
  EXPECT_TRUE(Run("Patient", "_revinclude=Observation:subject").included.empty());
}

TEST_F(SqliteIncludeTest, IterateRoundsAndTheirOrder) {
  ASSERT_TRUE(Save(*store_, "Organization", "org", "").ok());
  ASSERT_TRUE(
      Save(*store_, "Patient", "p", R"("managingOrganization":{"reference":"Organization/org"})")
          .ok());
  ASSERT_TRUE(Save(*store_, "Observation", "o", Subject("Patient/p")).ok());
  // Without :iterate the Patient -> Organization step is not taken from included patients.
  SearchPage page = Run("Observation", "_include=Observation:subject");
  EXPECT_EQ(Included(page), (std::vector<std::string>{"Patient/p"}));
  page = Run("Observation", "_include=Observation:subject&_include:iterate=Patient:organization");
  EXPECT_EQ(Included(page), (std::vector<std::string>{"Patient/p", "Organization/org"}));
  // Iterating back to the match adds nothing: the match is already on the page.
  page = Run("Observation",
             "_include:iterate=Observation:subject&_revinclude:iterate=Observation:subject");
  EXPECT_EQ(Included(page), (std::vector<std::string>{"Patient/p"}));
  EXPECT_EQ(page.matches.size(), 1u);
}

TEST_F(SqliteIncludeTest, IncludesArePerPage) {
  ASSERT_TRUE(Save(*store_, "Patient", "p1", "").ok());
  ASSERT_TRUE(Save(*store_, "Patient", "p2", "").ok());
  ASSERT_TRUE(Save(*store_, "Observation", "o1", Subject("Patient/p1")).ok());
  ASSERT_TRUE(Save(*store_, "Observation", "o2", Subject("Patient/p2")).ok());
  SearchPage first = Run("Observation", "_include=Observation:subject&_count=1");
  EXPECT_EQ(Included(first), (std::vector<std::string>{"Patient/p1"}));
  ASSERT_FALSE(first.next_cursor.empty());
  SearchPage second =
      Run("Observation", "_include=Observation:subject&_count=1&_cursor=" + first.next_cursor);
  EXPECT_EQ(Included(second), (std::vector<std::string>{"Patient/p2"}));
}

}  // namespace
}  // namespace kiln::store::sqlite
