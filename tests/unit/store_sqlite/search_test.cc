// Search on the SQLite store: index rows written through Append, queries built with
// search::ParseQuery so each case reads like its URL.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "search/index.h"
#include "search/query.h"
#include "search_test_util.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::IdsOf;
using testing::Key;
using testing::OpenOrDie;
using testing::QueryOf;
using testing::Remove;
using testing::Save;
using testing::TempDir;

class SqliteSearchTest : public testing::SearchTestBase {
 protected:
  void AddPatients() {
    ASSERT_TRUE(Save(*store_, "Patient", "p1",
                     R"("name":[{"family":"Müller","given":["Anna"]}],"gender":"female",)"
                     R"("birthDate":"1974-12-25",)"
                     R"("identifier":[{"system":"http://mrn","value":"A1"}],)"
                     R"("generalPractitioner":[{"reference":"Practitioner/d1"}])",
                     int64_t{1583056800000000} /* 2020-03-01T10:00Z */)
                    .ok());
    ASSERT_TRUE(Save(*store_, "Patient", "p2",
                     R"("name":[{"family":"Mueller","given":["Bob"]}],"gender":"male",)"
                     R"("birthDate":"1974","identifier":[{"system":"http://other","value":"A1"}],)"
                     R"("generalPractitioner":[{"reference":"Organization/o1"}])",
                     int64_t{1614592800000000} /* 2021-03-01T10:00Z */)
                    .ok());
    ASSERT_TRUE(
        Save(*store_, "Patient", "p3",
             R"("name":[{"family":"Smith"}],"gender":"female","birthDate":"1980-06-01",)"
             R"("identifier":[{"value":"Z9"}],)"
             R"("generalPractitioner":[{"reference":"http://remote/fhir/Practitioner/d1"}])",
             int64_t{1646128800000000} /* 2022-03-01T10:00Z */)
            .ok());
    ASSERT_TRUE(Save(*store_, "Patient", "p4", R"("name":[{"family":"Zed"}])").ok());
  }
};

using Set = std::set<std::string>;

TEST_F(SqliteSearchTest, StringDefaultExactContains) {
  AddPatients();
  EXPECT_EQ(IdSet("Patient", "name=muller"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "name=MÜL"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "name=mu"), Set({"p1", "p2"}));
  EXPECT_EQ(IdSet("Patient", "name=anna"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "family:exact=Müller"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "family:exact=muller"), Set());
  EXPECT_EQ(IdSet("Patient", "family:contains=ELL"), Set({"p2"}));
  EXPECT_EQ(IdSet("Patient", "family:contains=LLE"), Set({"p1", "p2"}));
  EXPECT_EQ(IdSet("Patient", "family:contains=uel"), Set({"p2"}));
  EXPECT_EQ(IdSet("Patient", "name=smi,zed"), Set({"p3", "p4"}));
  EXPECT_EQ(IdSet("Patient", "name=nobody"), Set());
}

TEST_F(SqliteSearchTest, TokenForms) {
  AddPatients();
  EXPECT_EQ(IdSet("Patient", "gender=female"), Set({"p1", "p3"}));
  EXPECT_EQ(IdSet("Patient", "gender=http://hl7.org/fhir/administrative-gender|male"), Set({"p2"}));
  EXPECT_EQ(IdSet("Patient", "gender=http://other|male"), Set());
  EXPECT_EQ(IdSet("Patient", "identifier=A1"), Set({"p1", "p2"}));
  EXPECT_EQ(IdSet("Patient", "identifier=http://mrn|A1"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "identifier=http://other|"), Set({"p2"}));
  EXPECT_EQ(IdSet("Patient", "identifier=|A1"), Set());
  EXPECT_EQ(IdSet("Patient", "identifier=|Z9"), Set({"p3"}));
  EXPECT_EQ(IdSet("Patient", "gender:not=female"), Set({"p2", "p4"}));
  EXPECT_EQ(IdSet("Patient", "gender:missing=true"), Set({"p4"}));
  EXPECT_EQ(IdSet("Patient", "gender:missing=false"), Set({"p1", "p2", "p3"}));
  EXPECT_EQ(IdSet("Patient", "_id=p1,p3"), Set({"p1", "p3"}));
  EXPECT_EQ(IdSet("Patient", "_id=P1"), Set());  // ids are case-sensitive

  ASSERT_TRUE(Save(*store_, "Observation", "o1",
                   R"("status":"final","code":{"coding":[{"system":"http://loinc.org",)"
                   R"("code":"15074-8","display":"Glucose [Moles/volume] in Blood"}]})")
                  .ok());
  EXPECT_EQ(IdSet("Observation", "code:text=gluc"), Set({"o1"}));
  EXPECT_EQ(IdSet("Observation", "code:text=blood"), Set());
  EXPECT_EQ(IdSet("Observation", "code=http://loinc.org|15074-8"), Set({"o1"}));
}

TEST_F(SqliteSearchTest, DatePrefixes) {
  AddPatients();
  EXPECT_EQ(IdSet("Patient", "birthdate=1974"), Set({"p1", "p2"}));
  EXPECT_EQ(IdSet("Patient", "birthdate=1974-12-25"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "birthdate=ge1974-12-25"), Set({"p1", "p2", "p3"}));
  EXPECT_EQ(IdSet("Patient", "birthdate=lt1974-12-25"), Set({"p2"}));
  EXPECT_EQ(IdSet("Patient", "birthdate=sa1974"), Set({"p3"}));
  EXPECT_EQ(IdSet("Patient", "birthdate=eb1975"), Set({"p1", "p2"}));
  EXPECT_EQ(IdSet("Patient", "birthdate=sa1974-06-01"), Set({"p1", "p3"}));
  EXPECT_EQ(IdSet("Patient", "birthdate=ne1974"), Set({"p3"}));
  EXPECT_EQ(IdSet("Patient", "birthdate=ge1975&birthdate=lt1981"), Set({"p3"}));
  EXPECT_EQ(IdSet("Patient", "_lastUpdated=ge2021"), Set({"p2", "p3", "p4"}));
  EXPECT_EQ(IdSet("Patient", "_lastUpdated=lt2021"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "_lastUpdated=2021-03-01"), Set({"p2"}));
}

TEST_F(SqliteSearchTest, NumberAndQuantityPrefixes) {
  auto obs = [&](const std::string& id, const std::string& quantity) {
    ASSERT_TRUE(Save(*store_, "Observation", id,
                     R"("status":"final","code":{"text":"x"},"valueQuantity":)" + quantity)
                    .ok());
  };
  obs("o1", R"({"value":5.4,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"})");
  obs("o2", R"({"value":5400,"unit":"ug","system":"http://unitsofmeasure.org","code":"ug"})");
  obs("o3", R"({"value":100,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"})");
  obs("o4",
      R"({"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"})");
  EXPECT_EQ(IdSet("Observation", "value-quantity=5.4"), Set({"o1", "o4"}));
  EXPECT_EQ(IdSet("Observation", "value-quantity=5.4|http://unitsofmeasure.org|mg"),
            Set({"o1", "o2"}));
  EXPECT_EQ(IdSet("Observation", "value-quantity=gt50"), Set({"o2", "o3"}));
  EXPECT_EQ(IdSet("Observation", "value-quantity=lt6||mg"), Set({"o1", "o2"}));
  EXPECT_EQ(IdSet("Observation", "value-quantity=le5.4|http://unitsofmeasure.org|mmol/L"),
            Set({"o4"}));
  EXPECT_EQ(IdSet("Observation", "value-quantity=ne5.4"), Set({"o2", "o3"}));

  auto risk = [&](const std::string& id, const std::string& probability) {
    ASSERT_TRUE(Save(*store_, "RiskAssessment", id,
                     R"("status":"final","subject":{"reference":"Patient/p1"},)"
                     R"("prediction":[{"probabilityDecimal":)" +
                         probability + "}]")
                    .ok());
  };
  risk("r1", "0.25");
  risk("r2", "0.5");
  EXPECT_EQ(IdSet("RiskAssessment", "probability=0.25"), Set({"r1"}));
  EXPECT_EQ(IdSet("RiskAssessment", "probability=0.2"), Set());
  EXPECT_EQ(IdSet("RiskAssessment", "probability=gt0.3"), Set({"r2"}));
  EXPECT_EQ(IdSet("RiskAssessment", "probability=ge0.25"), Set({"r1", "r2"}));
  EXPECT_EQ(IdSet("RiskAssessment", "probability=lt0.25"), Set());
  EXPECT_EQ(IdSet("RiskAssessment", "probability=le0.25"), Set({"r1"}));
}

TEST_F(SqliteSearchTest, ReferenceAndUriForms) {
  AddPatients();
  EXPECT_EQ(IdSet("Patient", "general-practitioner=Practitioner/d1"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "general-practitioner=d1"), Set({"p1"}));
  EXPECT_EQ(IdSet("Patient", "general-practitioner:Organization=o1"), Set({"p2"}));
  EXPECT_EQ(IdSet("Patient", "general-practitioner:Organization=d1"), Set());
  EXPECT_EQ(IdSet("Patient", "general-practitioner=http://remote/fhir/Practitioner/d1"),
            Set({"p3"}));
  EXPECT_EQ(IdSet("Patient", "general-practitioner:missing=true"), Set({"p4"}));
  {
    // A local reference's row keeps type and id, not its "Type/id" url again.
    Result<std::unique_ptr<Connection>> db = Connection::Open(
        dir_.path() + "/" + kDatabaseFileName, Connection::Mode::kReadOnly, "", 1000);
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(*(*db)->QueryInt("SELECT count(*) FROM idx_reference WHERE kind = 0"), 2);
    EXPECT_EQ(*(*db)->QueryInt("SELECT count(*) FROM idx_reference WHERE kind = 0 AND url <> ''"),
              0);
  }

  ASSERT_TRUE(
      Save(*store_, "ValueSet", "v1", R"("status":"active","url":"http://x.org/vs/colors")").ok());
  ASSERT_TRUE(
      Save(*store_, "ValueSet", "v2", R"("status":"active","url":"http://x.org/vs/sizes")").ok());
  EXPECT_EQ(IdSet("ValueSet", "url=http://x.org/vs/colors"), Set({"v1"}));
  EXPECT_EQ(IdSet("ValueSet", "url=http://x.org/vs"), Set());
  EXPECT_EQ(IdSet("ValueSet", "url:below=http://x.org/vs"), Set({"v1", "v2"}));
  EXPECT_EQ(IdSet("ValueSet", "url:above=http://x.org/vs/sizes/v2"), Set({"v2"}));
}

TEST_F(SqliteSearchTest, AndOr) {
  AddPatients();
  EXPECT_EQ(IdSet("Patient", "gender=female&name=smith"), Set({"p3"}));
  EXPECT_EQ(IdSet("Patient", "gender=female,male&birthdate=1974"), Set({"p1", "p2"}));
  EXPECT_EQ(IdSet("Patient", "gender=male&name=muller"), Set());
}

TEST_F(SqliteSearchTest, SortAscendingDescendingWithTies) {
  AddPatients();
  EXPECT_EQ(Ids("Patient", "_sort=family"),
            (std::vector<std::string>{"p2", "p1", "p3", "p4"}));  // mueller, muller, smith, zed
  EXPECT_EQ(Ids("Patient", "_sort=-family"), (std::vector<std::string>{"p4", "p3", "p1", "p2"}));
  EXPECT_EQ(Ids("Patient", "_sort=-birthdate"),
            (std::vector<std::string>{"p3", "p1", "p2", "p4"}));  // no birthDate last
  EXPECT_EQ(Ids("Patient", "_sort=gender"), (std::vector<std::string>{"p1", "p3", "p2", "p4"}));
  EXPECT_EQ(Ids("Patient", "_sort=-gender,-_id"),
            (std::vector<std::string>{"p2", "p3", "p1", "p4"}));
  // By a reference as written: "Organization/o1" < "Practitioner/d1" < "http://remote/...".
  EXPECT_EQ(Ids("Patient", "_sort=general-practitioner"),
            (std::vector<std::string>{"p2", "p1", "p3", "p4"}));
  EXPECT_EQ(Ids("Patient", "_sort=-general-practitioner"),
            (std::vector<std::string>{"p3", "p1", "p2", "p4"}));
  EXPECT_EQ(Ids("Patient", "_sort=-_lastUpdated"),
            (std::vector<std::string>{"p4", "p3", "p2", "p1"}));
  EXPECT_EQ(Ids("Patient", ""), (std::vector<std::string>{"p1", "p2", "p3", "p4"}));
}

TEST_F(SqliteSearchTest, TotalAndCount) {
  AddPatients();
  Result<SearchPage> page =
      store_->Search(kDefaultTenant, QueryOf("Patient", "_total=accurate&_count=2"));
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page->total, 4);
  EXPECT_EQ(IdsOf(*page), (std::vector<std::string>{"p1", "p2"}));
  EXPECT_FALSE(page->next_cursor.empty());

  page = store_->Search(kDefaultTenant, QueryOf("Patient", "gender=female&_count=2"));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, std::nullopt);
  EXPECT_EQ(IdsOf(*page), (std::vector<std::string>{"p1", "p3"}));
  EXPECT_TRUE(page->next_cursor.empty());

  page =
      store_->Search(kDefaultTenant, QueryOf("Patient", "gender=female&_count=0&_total=accurate"));
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->matches.empty());
  EXPECT_EQ(page->total, 2);
  EXPECT_TRUE(page->next_cursor.empty());
}

// Pages through everything (with `url_query` and _count=`count`), calling `between` after each
// page; returns the ids in the order seen.
template <typename Between>
std::vector<std::string> AllPages(Store& store, const std::string& type,
                                  const std::string& url_query, Between between) {
  std::vector<std::string> seen;
  search::Query query = QueryOf(type, url_query);
  for (int pages = 0; pages < 1000; ++pages) {
    Result<SearchPage> page = store.Search(kDefaultTenant, query);
    EXPECT_TRUE(page.ok()) << page.status().message();
    if (!page.ok()) break;
    for (const std::string& id : IdsOf(*page)) seen.push_back(id);
    if (page->next_cursor.empty()) break;
    query.cursor = page->next_cursor;
    between();
  }
  return seen;
}

TEST_F(SqliteSearchTest, PagingNeverRepeatsOrSkipsWhileWritesGoOn) {
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    std::string id = testing::Numbered("a", i);
    ASSERT_TRUE(Save(*store_, "Patient", id, R"("gender":"other")").ok());
    expected.push_back(id);
  }
  int added = 0;
  std::vector<std::string> seen = AllPages(*store_, "Patient", "gender=other&_count=7", [&] {
    std::string id = testing::Numbered("b", added++);
    ASSERT_TRUE(Save(*store_, "Patient", id, R"("gender":"other")").ok());
    expected.push_back(id);
    // Updating an already seen resource must not make it show up again.
    ASSERT_TRUE(Save(*store_, "Patient", "a0", R"("gender":"other","active":true)").ok());
  });
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(added, 3);  // 25 + 3 resources in 4 pages of 7
}

TEST_F(SqliteSearchTest, PagingWithSortMatchesOnePage) {
  const char* families[] = {"Lee", "Kim", "Lee", "Ng", "Kim", "Lee", "Abe"};
  for (int i = 0; i < 14; ++i) {
    std::string members = i % 5 == 4
                              ? R"("active":true)"
                              : std::string(R"("name":[{"family":")") + families[i % 7] +
                                    R"("}],"birthDate":"19)" + std::to_string(70 + i % 3) + "\"";
    ASSERT_TRUE(Save(*store_, "Patient", testing::Numbered("s", i), members).ok());
  }
  for (const char* sort : {"_sort=family", "_sort=-family", "_sort=-birthdate,family",
                           "_sort=birthdate,-_id", "_sort=-family,-birthdate"}) {
    std::vector<std::string> whole = Ids("Patient", std::string(sort) + "&_count=100");
    ASSERT_EQ(whole.size(), 14u) << sort;
    for (int count : {1, 3, 5}) {
      EXPECT_EQ(AllPages(*store_, "Patient", std::string(sort) + "&_count=" + std::to_string(count),
                         [] {}),
                whole)
          << sort << " _count=" << count;
    }
  }
}

TEST_F(SqliteSearchTest, DeletionAndUpdateReplaceIndexRows) {
  AddPatients();
  ASSERT_TRUE(Remove(*store_, "Patient", "p1").ok());
  EXPECT_EQ(IdSet("Patient", "name=muller"), Set());
  EXPECT_EQ(IdSet("Patient", "gender=female"), Set({"p3"}));
  EXPECT_EQ(IdSet("Patient", ""), Set({"p2", "p3", "p4"}));

  ASSERT_TRUE(Save(*store_, "Patient", "p2", R"("name":[{"family":"Jones"}])").ok());
  EXPECT_EQ(IdSet("Patient", "name=mueller"), Set());
  EXPECT_EQ(IdSet("Patient", "gender=male"), Set());
  EXPECT_EQ(IdSet("Patient", "name=jones"), Set({"p2"}));

  // Recreated after the deletion: indexed again.
  ASSERT_TRUE(Save(*store_, "Patient", "p1", R"("name":[{"family":"Back"}])").ok());
  EXPECT_EQ(IdSet("Patient", "name=back"), Set({"p1"}));

  // Without index entries, an update leaves the rows as they were.
  ASSERT_TRUE(
      testing::Put(*store_, "Patient", "p3", R"({"resourceType":"Patient","id":"p3"})").ok());
  EXPECT_EQ(IdSet("Patient", "name=smith"), Set({"p3"}));
}

TEST_F(SqliteSearchTest, TenantsAreSeparate) {
  AddPatients();
  Result<SearchPage> page = store_->Search("other", QueryOf("Patient", "name=muller"));
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->matches.empty());
}

TEST_F(SqliteSearchTest, UnsupportedIsNotImplemented) {
  AddPatients();
  EXPECT_EQ(ErrorOf("Patient", "gender:in=http://x.org/vs"), ErrorCode::kNotImplemented);
  // Full text and composites are supported now (tests/spec/search_text.test and
  // search_composite.test).
  EXPECT_EQ(ErrorOf("Patient", "_text=x"), ErrorCode::kOk);
  EXPECT_EQ(ErrorOf("Observation", "code-value-quantity=http://loinc.org|1$5"), ErrorCode::kOk);
  // A system search over every type is supported (scope_test.cc).
  EXPECT_TRUE(store_->Search(kDefaultTenant, search::Query()).ok());
  Status status =
      store_->Search(kDefaultTenant, QueryOf("Patient", "gender:in=http://x.org/vs")).status();
  EXPECT_NE(status.message().find("gender"), std::string::npos) << status.message();

  search::Query bad = QueryOf("Patient", "");
  bad.cursor = "garbage";
  EXPECT_EQ(store_->Search(kDefaultTenant, bad).status().error(), ErrorCode::kInvalid);
  bad.cursor = "k1.n.r5";  // a cursor of a sorted search
  EXPECT_EQ(store_->Search(kDefaultTenant, bad).status().error(), ErrorCode::kInvalid);
}

TEST(SqliteSearchMigration, UpgradesSchemaOneInPlace) {
  TempDir dir;
  std::string path = dir.path() + "/" + kDatabaseFileName;
  {
    Result<std::unique_ptr<Connection>> connection =
        Connection::Open(path, Connection::Mode::kReadWrite, "", 1000);
    ASSERT_TRUE(connection.ok()) << connection.status().message();
    ASSERT_TRUE(MigrateTo(**connection, 1).ok());
    std::string insert =
        "INSERT INTO resource_version (seq, tenant, type, id, version, last_updated, deleted, "
        "method, json) VALUES (1, '" +
        std::string(kDefaultTenant) +
        "', 'Patient', 'old', 1, 5, 0, 0, '{}'); INSERT INTO resource (tenant, type, id, version, "
        "seq, deleted, last_updated) VALUES ('" +
        std::string(kDefaultTenant) + "', 'Patient', 'old', 1, 1, 0, 5)";
    ASSERT_TRUE((*connection)->Exec(insert.c_str()).ok());
    EXPECT_EQ(*SchemaVersion(**connection), 1);
    EXPECT_EQ(
        *(*connection)->QueryInt("SELECT count(*) FROM sqlite_schema WHERE name = 'idx_string'"),
        0);
  }
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    Result<std::optional<StoredResource>> old = store->Read(Key("Patient", "old"));
    ASSERT_TRUE(old.ok() && old->has_value());
    ASSERT_TRUE(Save(*store, "Patient", "new", R"("name":[{"family":"Newman"}])").ok());
    Result<SearchPage> page = store->Search(kDefaultTenant, QueryOf("Patient", "name=newman"));
    ASSERT_TRUE(page.ok()) << page.status().message();
    EXPECT_EQ(IdsOf(*page), std::vector<std::string>{"new"});
    // Resources written before the upgrade have no index rows (until reindexed) but still
    // match a search without criteria.
    page = store->Search(kDefaultTenant, QueryOf("Patient", ""));
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(IdsOf(*page), (std::vector<std::string>{"old", "new"}));
  }
  Result<std::unique_ptr<Connection>> connection =
      Connection::Open(path, Connection::Mode::kReadOnly, "", 1000);
  ASSERT_TRUE(connection.ok());
  EXPECT_EQ(*SchemaVersion(**connection), kSchemaVersion);
  EXPECT_EQ(kSchemaVersion, 8);
}

TEST(SqliteSearchMigration, SchemaThreeKeepsTheIndexRowsOfSchemaTwo) {
  // Migration 3 re-keys the index tables (rid << 20 | n); rows written under schema 2 must still
  // match, sort, and be replaced when their resource is updated.
  TempDir dir;
  std::string path = dir.path() + "/" + kDatabaseFileName;
  {
    Result<std::unique_ptr<Connection>> connection =
        Connection::Open(path, Connection::Mode::kReadWrite, "", 1000);
    ASSERT_TRUE(connection.ok()) << connection.status().message();
    ASSERT_TRUE(MigrateTo(**connection, 2).ok());
    std::string t = std::string(kDefaultTenant);
    std::string insert =
        "INSERT INTO resource_version (seq, tenant, type, id, version, last_updated, deleted, "
        "method, json) VALUES (1, '" +
        t + "', 'Patient', 'a', 1, 5, 0, 0, '{}'), (2, '" + t +
        "', 'Patient', 'b', 1, 6, 0, 0, '{}');"
        "INSERT INTO resource (rid, tenant, type, id, version, seq, deleted, last_updated) VALUES "
        "(1, '" +
        t + "', 'Patient', 'a', 1, 1, 0, 5), (2, '" + t +
        "', 'Patient', 'b', 1, 2, 0, 6);"
        "INSERT INTO idx_string (rid, n, param, grp, component, normalized, exact) VALUES "
        "(1, 0, 'family', 0, 0, 'zed', 'Zed'), (2, 0, 'family', 0, 0, 'adams', 'Adams'),"
        "(2, 1, 'given', 0, 0, 'ann', 'Ann');"
        "INSERT INTO idx_reference (rid, n, param, grp, component, kind, type, id, version, url) "
        "VALUES (1, 1, 'general-practitioner', 0, 0, 1, 'Practitioner', 'd1', '', "
        "'http://remote/fhir/Practitioner/d1'), "
        "(2, 2, 'general-practitioner', 0, 0, 0, 'Practitioner', 'd2', '', 'Practitioner/d2');"
        "INSERT INTO store_meta (key, value) VALUES ('max_last_updated', 6) "
        "ON CONFLICT (key) DO UPDATE SET value = 6";
    ASSERT_TRUE((*connection)->Exec(insert.c_str()).ok());
  }
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  Result<SearchPage> page = store->Search(kDefaultTenant, QueryOf("Patient", "family=zed"));
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(IdsOf(*page), std::vector<std::string>{"a"});
  page = store->Search(kDefaultTenant, QueryOf("Patient", "_sort=family"));
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(IdsOf(*page), (std::vector<std::string>{"b", "a"}));
  // References survive migration 5 (the url index keeps only absolute and canonical ones).
  page =
      store->Search(kDefaultTenant,
                    QueryOf("Patient", "general-practitioner=http://remote/fhir/Practitioner/d1"));
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(IdsOf(*page), std::vector<std::string>{"a"});
  page = store->Search(kDefaultTenant, QueryOf("Patient", "general-practitioner=Practitioner/d2"));
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(IdsOf(*page), std::vector<std::string>{"b"});
  // Updating b replaces its migrated rows with new ones.
  ASSERT_TRUE(Save(*store, "Patient", "b", R"("name":[{"family":"Young"}])").ok());
  page = store->Search(kDefaultTenant, QueryOf("Patient", "given=ann"));
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(IdsOf(*page).empty());
  page = store->Search(kDefaultTenant, QueryOf("Patient", "family=young"));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(IdsOf(*page), std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace kiln::store::sqlite
