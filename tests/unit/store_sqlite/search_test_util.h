// Helpers shared by the SQLite search tests (search_test.cc, search_chain_test.cc): writes that
// index what they store, queries built with search::ParseQuery from URL-like strings so each case
// reads like its request, and a fixture with a fresh store per test. Test-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "search/index.h"
#include "search/query.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite::testing {

// "a=1&b=2" -> {{"a","1"},{"b","2"}} (values as decoded; no '&' or '=' inside them).
inline search::SearchParams ParamsOf(const std::string& url_query) {
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

// The bound query (strict: an unknown parameter fails the test).
inline search::Query QueryOf(const std::string& type, const std::string& url_query) {
  search::QueryOptions options;
  options.strict = true;
  Result<search::Query> query = search::ParseQuery({type}, ParamsOf(url_query), options);
  EXPECT_TRUE(query.ok()) << url_query << ": " << query.status().message();
  return query.ok() ? std::move(*query) : search::Query();
}

// Creates or updates type/id with `members` (JSON object members after id and meta), indexed.
// `last_updated` 0: the store's next timestamp.
inline Status Save(Store& store, const std::string& type, const std::string& id,
                   const std::string& members, int64_t last_updated = 0,
                   const std::string& tenant = kDefaultTenant) {
  return store.WriteAndWait([&](StoreTxn& txn) -> Status {
    Result<std::optional<StoredResource>> latest = txn.ReadLatest(Key(type, id, tenant));
    if (!latest.ok()) return latest.take_status();
    int64_t version = *latest ? (*latest)->info.version + 1 : 1;
    int64_t ts = last_updated != 0 ? last_updated : txn.NextTimestamp();
    std::string json = R"({"resourceType":")" + type + R"(","id":")" + id +
                       R"(","meta":{"versionId":")" + std::to_string(version) +
                       R"(","lastUpdated":")" + core::FormatInstant(ts) + "\"}";
    if (!members.empty()) json += "," + members;
    json += "}";
    Result<std::vector<search::IndexEntry>> index = search::ExtractIndexFromJson(json);
    if (!index.ok()) return index.take_status();
    StoredResource v = Version(type, id, version, ts, json,
                               version == 1 ? WriteMethod::kCreate : WriteMethod::kUpdate);
    return txn.Append(tenant, v, &*index);
  });
}

inline Status Remove(Store& store, const std::string& type, const std::string& id) {
  return store.WriteAndWait([&](StoreTxn& txn) -> Status {
    Result<std::optional<StoredResource>> latest = txn.ReadLatest(Key(type, id));
    if (!latest.ok()) return latest.take_status();
    StoredResource v = Version(type, id, (*latest)->info.version + 1, txn.NextTimestamp(), "",
                               WriteMethod::kDelete);
    return txn.Append(kDefaultTenant, v);
  });
}

inline std::vector<std::string> IdsOf(const SearchPage& page) {
  std::vector<std::string> ids;
  for (const StoredResource& r : page.matches) ids.push_back(r.info.id);
  return ids;
}

// A fresh store per test, and searches on the default tenant by URL-like query strings.
class SearchTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
  }

  // Ids of the matches in result order (one page of up to 100).
  std::vector<std::string> Ids(const std::string& type, const std::string& url_query) {
    Result<SearchPage> page = store_->Search(kDefaultTenant, QueryOf(type, url_query));
    EXPECT_TRUE(page.ok()) << type << "?" << url_query << ": " << page.status().message();
    return page.ok() ? IdsOf(*page) : std::vector<std::string>{"<error>"};
  }
  // The same, sorted (for searches without _sort).
  std::set<std::string> IdSet(const std::string& type, const std::string& url_query) {
    std::vector<std::string> ids = Ids(type, url_query);
    return {ids.begin(), ids.end()};
  }
  ErrorCode ErrorOf(const std::string& type, const std::string& url_query) {
    return store_->Search(kDefaultTenant, QueryOf(type, url_query)).status().error();
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

}  // namespace kiln::store::sqlite::testing
