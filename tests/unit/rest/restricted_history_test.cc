// RestrictedHistory (rest/access.h): type history under a patient context keeps only the versions
// of the resources in the compartment, pages without skipping or repeating, and stops looking
// after kMaxHistoryExamined versions with a cursor to continue from. The store is a fake here
// (an in-memory history, and a "compartment search" that answers from a member set); the
// integration tests (auth_granular_history.test.mjs) run the real one.
#include <gtest/gtest.h>

#include <set>

#include "rest/access.h"

namespace kiln::rest {
namespace {

// patient/*.rs: every type within the patient's compartment.
class PatientAuthorizer : public Authorizer {
 public:
  Decision Decide(const Principal&, std::string_view, Permission permission) const override {
    return permission == kPermRead || permission == kPermSearch
               ? Decision::kAllowInPatientCompartment
               : Decision::kDeny;
  }
};

// "o{i}" (appended: g++ 12 warns wrongly about "o" + std::string).
std::string Id(int i) {
  std::string id = "o";
  id += std::to_string(i);
  return id;
}

struct FakeStore {
  std::vector<StoredResource> versions;  // newest first (seq descending)
  std::set<std::string> members;         // Observation ids in the compartment
  int history_calls = 0;

  // `n` versions with seq n..1 of Observations "o{seq % ids}"; `member` picks the members.
  FakeStore(int n, int ids, const std::function<bool(int)>& member) {
    for (int seq = n; seq >= 1; --seq) {
      StoredResource r;
      r.info.type = "Observation";
      r.info.id = Id(seq % ids);
      r.info.seq = seq;
      r.info.version = 1;
      r.json = "{}";
      versions.push_back(std::move(r));
    }
    for (int i = 0; i < ids; ++i)
      if (member(i)) members.insert(Id(i));
  }

  HistoryFn History() {
    return [this](const HistoryQuery& q) -> Result<HistoryPage> {
      ++history_calls;
      HistoryPage page;
      for (const StoredResource& r : versions) {
        if (q.before_seq && r.info.seq >= *q.before_seq) continue;
        if (static_cast<int>(page.entries.size()) == q.count) {
          page.has_more = true;
          break;
        }
        page.entries.push_back(r);
      }
      return page;
    };
  }

  SearchFn Search() {
    // Membership is asked as one id-driven search per compartment parameter
    // (`_id=...&subject=Patient/p1`, access.cc); the fake answers with the member set.
    return [this](const search::Query&) -> Result<SearchPage> {
      SearchPage page;
      for (const std::string& id : members) {
        StoredResource r;
        r.info.type = "Observation";
        r.info.id = id;
        page.matches.push_back(std::move(r));
      }
      return page;
    };
  }

  // What the filtered history should hold, newest first.
  std::vector<int64_t> Expected() const {
    std::vector<int64_t> out;
    for (const StoredResource& r : versions)
      if (members.count(r.info.id)) out.push_back(r.info.seq);
    return out;
  }
};

Access PatientAccess(const PatientAuthorizer& authorizer) {
  Access access;
  access.authorizer = &authorizer;
  access.principal.authenticated = true;
  access.principal.patient = "p1";
  return access;
}

HistoryQuery TypeHistory(int count) {
  HistoryQuery q;
  q.type = "Observation";
  q.count = count;
  return q;
}

// Pages through the filtered history; returns the seqs seen and the number of requests.
std::vector<int64_t> PageAll(const Access& access, FakeStore& store, int count, int& requests) {
  std::vector<int64_t> seen;
  HistoryQuery q = TypeHistory(count);
  requests = 0;
  while (true) {
    std::optional<int64_t> next_before;
    auto page = RestrictedHistory(access, store.Search(), store.History(), q, next_before);
    EXPECT_TRUE(page.ok()) << page.status().message();
    ++requests;
    EXPECT_LE(page->entries.size(), static_cast<size_t>(count));
    EXPECT_FALSE(page->total.has_value());
    for (const StoredResource& r : page->entries) seen.push_back(r.info.seq);
    if (!page->has_more) break;
    EXPECT_TRUE(next_before.has_value());
    if (!next_before) break;
    q.before_seq = *next_before;
    if (requests > 1000) break;
  }
  return seen;
}

TEST(RestrictedHistory, KeepsOnlyCompartmentMembersAndPagesThroughThem) {
  PatientAuthorizer authorizer;
  Access access = PatientAccess(authorizer);
  FakeStore store(500, 10, [](int i) { return i % 3 == 0; });
  int requests = 0;
  EXPECT_EQ(PageAll(access, store, 7, requests), store.Expected());
  EXPECT_GT(requests, 1);
  // One page of everything.
  EXPECT_EQ(PageAll(access, store, 1000, requests), store.Expected());
  EXPECT_EQ(requests, 1);
}

TEST(RestrictedHistory, StopsAfterTheExaminedBoundWithACursor) {
  PatientAuthorizer authorizer;
  Access access = PatientAccess(authorizer);
  // 12,000 versions; only o0 is a member and it is written once every 4,000 versions: most
  // requests find nothing within the bound.
  FakeStore store(12000, 4000, [](int i) { return i == 0; });
  std::optional<int64_t> next_before;
  auto first =
      RestrictedHistory(access, store.Search(), store.History(), TypeHistory(10), next_before);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->has_more);
  ASSERT_TRUE(next_before.has_value());
  EXPECT_LE(12000 - *next_before + 1, kMaxHistoryExamined + 1000);  // looked no further
  int requests = 0;
  EXPECT_EQ(PageAll(access, store, 10, requests), store.Expected());
  EXPECT_EQ(store.Expected().size(), 3u);
  EXPECT_GE(requests, 3);
}

TEST(RestrictedHistory, CountZeroOnlyTellsWhetherThereIsAnything) {
  PatientAuthorizer authorizer;
  Access access = PatientAccess(authorizer);
  FakeStore some(50, 5, [](int i) { return i == 1; });
  std::optional<int64_t> next_before;
  auto page = RestrictedHistory(access, some.Search(), some.History(), TypeHistory(0), next_before);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->entries.empty());
  EXPECT_TRUE(page->has_more);
  EXPECT_FALSE(next_before.has_value());
  FakeStore none(50, 5, [](int) { return false; });
  page = RestrictedHistory(access, none.Search(), none.History(), TypeHistory(0), next_before);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->entries.empty());
  EXPECT_FALSE(page->has_more);
}

}  // namespace
}  // namespace kiln::rest
