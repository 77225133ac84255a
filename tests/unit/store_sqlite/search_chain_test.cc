// Chained parameters and _has on the SQLite store (R4 3.1.1.4.11 and 3.1.1.4.12): exact result
// sets over a small linked data set, tenancy and deletion at every link, and the query plans
// SQLite picks for them.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "search/query.h"
#include "search_test_util.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/search_sql.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::QueryOf;
using testing::Remove;
using testing::Save;
using Set = std::set<std::string>;

// Organization <- Patient.managingOrganization, Patient/Location <- Observation.subject,
// Encounter <- Observation.encounter, Practitioner <- Observation.performer and
// Patient.generalPractitioner, Observation <- AuditEvent.entity.
class SqliteChainTest : public testing::SearchTestBase {
 protected:
  void SetUp() override {
    SearchTestBase::SetUp();
    Add("Organization", "umbrella", R"("name":"Umbrella Holdings")");
    Add("Organization", "acme",
        R"("name":"Acme Health","partOf":{"reference":"Organization/umbrella"})");
    Add("Organization", "bravo", R"("name":"Bravo Clinic")");
    Add("Practitioner", "joe", R"("name":[{"family":"Doctor","given":["Joe"]}])");
    Add("Location", "ward",
        R"("name":"Peterson Ward","position":{"latitude":52.37,"longitude":4.89})");
    Add("Patient", "pa",
        R"("name":[{"family":"Chalmers","given":["Peter"]}],"gender":"male",)"
        R"("birthDate":"1974-12-25","managingOrganization":{"reference":"Organization/acme"},)"
        R"("generalPractitioner":[{"reference":"Practitioner/joe"}])");
    Add("Patient", "pb",
        R"("name":[{"family":"Müller","given":["Anna"]}],"gender":"female",)"
        R"("birthDate":"1980-02-29","managingOrganization":{"reference":"Organization/bravo"})");
    Add("Patient", "pc",
        R"("name":[{"family":"Parker","given":["Peter"]}],"gender":"male","birthDate":"2001-07-01",)"
        R"("generalPractitioner":[{"reference":"Organization/bravo"}])");
    Add("Patient", "pd",
        R"("name":[{"family":"Both"}],"generalPractitioner":[{"reference":"Practitioner/joe"},)"
        R"({"reference":"Organization/bravo"}])");
    Add("Encounter", "en1",
        R"("status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/pa"},)"
        R"("serviceProvider":{"reference":"Organization/acme"})");
    Add("Observation", "ob1",
        Obs("1234-5", "2020-03-04T10:00:00Z", "Patient/pa") +
            R"(,"encounter":{"reference":"Encounter/en1"},)"
            R"("performer":[{"reference":"Practitioner/joe"}])");
    Add("Observation", "ob2", Obs("8302-2", "2021-06-01", "Patient/pb"));
    Add("Observation", "ob3", Obs("1234-5", "2020-05-05", "Location/ward"));
    Add("Observation", "ob4", Obs("1234-5", "2019-01-01", "Patient/pc"));
    // A reference by absolute URL is not a local one (the same as for subject=Patient/pa).
    Add("Observation", "ob5", Obs("1234-5", "2020-01-01", "http://remote/fhir/Patient/pa"));
    Add("AuditEvent", "ae1",
        R"("type":{"code":"rest"},"recorded":"2020-03-04T10:00:00Z",)"
        R"("agent":[{"who":{"reference":"Practitioner/joe"},"requestor":true}],)"
        R"("source":{"observer":{"reference":"Device/d"}},)"
        R"("entity":[{"what":{"reference":"Observation/ob1"}}])");
  }

  static std::string Obs(const std::string& code, const std::string& when,
                         const std::string& subject) {
    return R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" + code +
           R"("}]},"effectiveDateTime":")" + when + R"(","subject":{"reference":")" + subject +
           R"("})";
  }

  void Add(const std::string& type, const std::string& id, const std::string& members,
           const std::string& tenant = kDefaultTenant) {
    Status status = Save(*store_, type, id, members, 0, tenant);
    ASSERT_TRUE(status.ok()) << type << "/" << id << ": " << status.message();
  }

  // The page statement's query plan, one line per step.
  std::string Plan(const std::string& type, const std::string& url_query) {
    Result<std::unique_ptr<Connection>> connection =
        Connection::Open(dir_.Sub(kDatabaseFileName), Connection::Mode::kReadOnly, "", 1000);
    EXPECT_TRUE(connection.ok()) << connection.status().message();
    if (!connection.ok()) return "";
    Result<std::string> plan =
        ExplainSearch(**connection, std::string(kDefaultTenant), QueryOf(type, url_query));
    EXPECT_TRUE(plan.ok()) << plan.status().message();
    return plan.ok() ? *plan : "";
  }
};

TEST_F(SqliteChainTest, OneLinkTypedAndUntyped) {
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=peter"), Set({"ob1", "ob4"}));
  // Untyped: every target of subject that has `name` (Location and Patient).
  EXPECT_EQ(IdSet("Observation", "subject.name=peter"), Set({"ob1", "ob3", "ob4"}));
  EXPECT_EQ(IdSet("Observation", "subject:Location.name=peter"), Set({"ob3"}));
  EXPECT_EQ(IdSet("Observation", "patient.name=peter"), Set({"ob1", "ob4"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=nobody"), Set());
  EXPECT_EQ(IdSet("Encounter", "subject.family=chalmers"), Set({"en1"}));
}

TEST_F(SqliteChainTest, TwoAndThreeLinks) {
  EXPECT_EQ(IdSet("Observation", "subject:Patient.organization.name=acme"), Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.organization.name=bravo"), Set({"ob2"}));
  EXPECT_EQ(IdSet("Observation", "subject.organization.name=acme"), Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.organization.partof.name=umbrella"),
            Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "encounter.service-provider.name=acme"), Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "encounter.service-provider.partof.name=umbrella"), Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.general-practitioner:Practitioner.name=joe"),
            Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.general-practitioner.name=bravo"), Set({"ob4"}));
}

TEST_F(SqliteChainTest, EndOfChainIsANormalSearch) {
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name:exact=Peter"), Set({"ob1", "ob4"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name:exact=peter"), Set());
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name:contains=arke"), Set({"ob4"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.gender=male"), Set({"ob1", "ob4"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.gender:not=male"), Set({"ob2"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.birthdate=ge1980"), Set({"ob2", "ob4"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.birthdate=1980-02"), Set({"ob2"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.birthdate=lt1980"), Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient._id=pa,pb"), Set({"ob1", "ob2"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.organization=Organization/acme"), Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.organization:missing=true"), Set({"ob4"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.organization:missing=false"),
            Set({"ob1", "ob2"}));
}

TEST_F(SqliteChainTest, OrWithinAndAcrossChains) {
  // One chain, several values: one target that matches any of them.
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=anna,parker"), Set({"ob2", "ob4"}));
  EXPECT_EQ(IdSet("Patient", "general-practitioner.name=joe,bravo"), Set({"pa", "pc", "pd"}));
  // Repeated chains are independent criteria: each may be met by a different target.
  EXPECT_EQ(IdSet("Patient", "general-practitioner.name=joe&general-practitioner.name=bravo"),
            Set({"pd"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=peter&subject:Patient.birthdate=lt1990"),
            Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=peter&code=1234-5&date=2019"), Set({"ob4"}));
}

TEST_F(SqliteChainTest, OnlyLocalReferencesAreFollowed) {
  // ob5's absolute URL ends in Patient/pa but names another server's patient.
  EXPECT_EQ(IdSet("Observation", "subject:Patient._id=pa"), Set({"ob1"}));
  // A versioned reference leads to the resource (as its current version is indexed).
  Add("Observation", "ob7", Obs("1111-1", "2020-01-01", "Patient/pb/_history/1"));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=anna"), Set({"ob2", "ob7"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=1111-1"), Set({"pb"}));
  // Contained resources are not resources of the store.
  Add("Observation", "ob8",
      R"("contained":[{"resourceType":"Patient","id":"c","name":[{"family":"Inside"}]}],)" +
          Obs("2222-2", "2020-01-01", "#c"));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=inside"), Set());
  EXPECT_EQ(IdSet("Observation", "code=2222-2"), Set({"ob8"}));
}

TEST_F(SqliteChainTest, DeletedTargetsNeverMatch) {
  Add("Patient", "gone", R"("name":[{"family":"Ghost"}],"gender":"other")");
  Add("Observation", "ob6", Obs("1234-5", "2020-01-01", "Patient/gone"));
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=ghost"), Set({"ob6"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:date=2020-01-01"), Set({"gone"}));
  ASSERT_TRUE(Remove(*store_, "Patient", "gone").ok());
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=ghost"), Set());
  EXPECT_EQ(IdSet("Observation", "subject:Patient.gender=other"), Set());
  EXPECT_EQ(IdSet("Observation", "subject:Patient.organization:missing=true"), Set({"ob4"}));

  // A deleted referrer no longer counts for _has.
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=8302-2"), Set({"pb"}));
  ASSERT_TRUE(Remove(*store_, "Observation", "ob2").ok());
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=8302-2"), Set());
}

TEST_F(SqliteChainTest, OtherTenantsNeverMatch) {
  const std::string other = "other";
  Add("Patient", "pa", R"("name":[{"family":"Elsewhere"}])", other);
  Add("Observation", "x1", Obs("9999-9", "2020-01-01", "Patient/pa"), other);
  Add("Observation", "x2", Obs("1234-5", "2020-01-01", "Patient/pb"), other);
  // Another tenant's Patient/pa is not this tenant's, whichever side the search starts from.
  EXPECT_EQ(IdSet("Observation", "subject:Patient.name=elsewhere"), Set());
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=9999-9"), Set());
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=1234-5"), Set({"pa", "pc"}));

  Result<SearchPage> there =
      store_->Search(other, QueryOf("Observation", "subject:Patient.name=peter"));
  ASSERT_TRUE(there.ok()) << there.status().message();
  EXPECT_TRUE(there->matches.empty());
  there = store_->Search(other, QueryOf("Observation", "subject:Patient.name=elsewhere"));
  ASSERT_TRUE(there.ok()) << there.status().message();
  EXPECT_EQ(testing::IdsOf(*there), std::vector<std::string>({"x1"}));
  // Patient/pb does not exist in `other`: x2 refers to nothing there.
  there = store_->Search(other, QueryOf("Patient", "_has:Observation:patient:code=1234-5"));
  ASSERT_TRUE(there.ok()) << there.status().message();
  EXPECT_TRUE(there->matches.empty());
}

TEST_F(SqliteChainTest, Has) {
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=1234-5"), Set({"pa", "pc"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:subject:code=1234-5"), Set({"pa", "pc"}));
  EXPECT_EQ(IdSet("Location", "_has:Observation:subject:code=1234-5"), Set({"ward"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=http://loinc.org|8302-2"), Set({"pb"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=http://other|8302-2"), Set());
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code=8302-2,1234-5"),
            Set({"pa", "pb", "pc"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code:not=1234-5"), Set({"pb"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:date=ge2020"), Set({"pa", "pb"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:date=lt2020"), Set({"pc"}));
  EXPECT_EQ(
      IdSet("Patient", "_has:Observation:patient:code=1234-5&_has:Observation:patient:date=ge2020"),
      Set({"pa"}));
  EXPECT_EQ(IdSet("Encounter", "_has:Observation:encounter:code=1234-5"), Set({"en1"}));
  EXPECT_EQ(IdSet("Organization", "_has:Patient:organization:gender=female"), Set({"bravo"}));
  EXPECT_EQ(IdSet("Practitioner", "_has:Observation:performer:code=1234-5"), Set({"joe"}));
}

TEST_F(SqliteChainTest, HasNestedAndChained) {
  EXPECT_EQ(
      IdSet("Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/joe"),
      Set({"pa"}));
  EXPECT_EQ(
      IdSet("Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/x"),
      Set());
  EXPECT_EQ(IdSet("Patient", "_has:Observation:subject:performer:Practitioner.name=joe"),
            Set({"pa"}));
  EXPECT_EQ(IdSet("Organization", "_has:Patient:organization:_has:Observation:patient:code=8302-2"),
            Set({"bravo"}));
  // A chain that ends in _has: Observations about a patient some Encounter is about.
  EXPECT_EQ(IdSet("Observation", "subject:Patient._has:Encounter:patient:status=finished"),
            Set({"ob1"}));
}

TEST_F(SqliteChainTest, WorksWithSortPagingAndTotals) {
  EXPECT_EQ(Ids("Observation", "subject:Patient.name=peter&_sort=-date"),
            std::vector<std::string>({"ob1", "ob4"}));
  search::Query query = QueryOf("Observation", "subject.name=peter&_count=2&_total=accurate");
  Result<SearchPage> page = store_->Search(kDefaultTenant, query);
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page->total, 3);
  EXPECT_EQ(page->matches.size(), 2u);
  query.cursor = page->next_cursor;
  page = store_->Search(kDefaultTenant, query);
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page->matches.size(), 1u);
}

TEST_F(SqliteChainTest, FullTextCompositeAndNearAtTheEnd) {
  EXPECT_EQ(IdSet("Observation", "subject:Patient._content=chalmers"), Set({"ob1"}));
  EXPECT_EQ(IdSet("Observation", "subject:Location.near=52.37|4.9|2|km"), Set({"ob3"}));
  EXPECT_EQ(IdSet("Observation", "subject:Location.near=51.0|4.9|2|km"), Set());
  Add("Observation", "ob9",
      Obs("3333-3", "2020-01-01", "Patient/pc") +
          R"(,"valueQuantity":{"value":5,"system":"http://unitsofmeasure.org","code":"mg"})");
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code-value-quantity=3333-3$5"), Set({"pc"}));
  EXPECT_EQ(IdSet("Patient", "_has:Observation:patient:code-value-quantity=3333-3$6"), Set());
}

TEST_F(SqliteChainTest, WhatTheEndCannotSearchIsNotImplementedNamingIt) {
  Result<SearchPage> page = store_->Search(
      kDefaultTenant, QueryOf("Observation", "subject:Patient.gender:in=http://x.org/vs"));
  EXPECT_EQ(page.status().error(), ErrorCode::kNotImplemented);
  EXPECT_NE(page.status().message().find("'gender'"), std::string::npos) << page.status().message();
  EXPECT_EQ(ErrorOf("Patient", "_has:Observation:patient:code:in=http://x.org/vs"),
            ErrorCode::kNotImplemented);
}

// The chain is computed from the far end through the value indexes: the target's matching
// index rows first, then idx_reference_by_id for the rows that point at them. No step scans a
// whole index table or every resource of a type for each candidate.
TEST_F(SqliteChainTest, PlansUseTheValueIndexes) {
  std::string plan = Plan("Observation", "subject.name=x");
  EXPECT_NE(plan.find("idx_string_by_value"), std::string::npos) << plan;
  EXPECT_NE(plan.find("idx_reference_by_id"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN"), std::string::npos) << plan;

  plan = Plan("Observation", "subject:Patient.organization.name=acme");
  EXPECT_NE(plan.find("idx_reference_by_id"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN"), std::string::npos) << plan;

  // _has: the matching referrers, then their own reference rows by key range, not every row of
  // the reference parameter.
  plan = Plan("Patient", "_has:Observation:patient:code=1234-5");
  EXPECT_NE(plan.find("idx_token_by_value"), std::string::npos) << plan;
  EXPECT_NE(plan.find("INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN"), std::string::npos) << plan;

  plan = Plan("Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/joe");
  EXPECT_NE(plan.find("idx_reference_by_id"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN"), std::string::npos) << plan;
}

TEST_F(SqliteChainTest, IdIsAnsweredFromTheResourceRow) {
  // No index rows for _id (extractor version 5): the resource's own (tenant, type, id) key.
  EXPECT_EQ(IdSet("Patient", "_id=pa,pb"), Set({"pa", "pb"}));
  EXPECT_EQ(IdSet("Patient", "_id=PA"), Set());  // ids are case-sensitive
  EXPECT_EQ(IdSet("Observation", "_id:not=ob1&subject=Patient/pa"), Set());
  EXPECT_EQ(IdSet("Observation", "_id:not=ob2&code=1234-5&subject=Patient/pa"), Set({"ob1"}));
  EXPECT_EQ(IdSet("Patient", "_id:missing=true"), Set());
  EXPECT_EQ(IdSet("Observation", "subject:Patient._id=pa&_id=ob1"), Set({"ob1"}));
  std::string plan = Plan("Patient", "_id=pa");
  EXPECT_NE(plan.find("sqlite_autoindex_resource_1"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("idx_token"), std::string::npos) << plan;
}

TEST_F(SqliteChainTest, LastUpdatedIsAnsweredFromTheResourceRow) {
  // No index rows for _lastUpdated (extractor version 6): resource.last_updated and its index.
  EXPECT_EQ(IdSet("Patient", "_lastUpdated=gt2000-01-01"), Set({"pa", "pb", "pc", "pd"}));
  EXPECT_EQ(IdSet("Patient", "_lastUpdated=lt2000-01-01"), Set());
  EXPECT_EQ(IdSet("Patient", "_lastUpdated=ne2000-01-01&_id=pa"), Set({"pa"}));
  EXPECT_EQ(IdSet("Patient", "_lastUpdated:missing=false"), Set({"pa", "pb", "pc", "pd"}));
  // Written pa, pb, pc, pd in that order.
  EXPECT_EQ(Ids("Patient", "_sort=-_lastUpdated"),
            (std::vector<std::string>{"pd", "pc", "pb", "pa"}));
  EXPECT_EQ(Ids("Patient", "_sort=_lastUpdated&_count=2"), (std::vector<std::string>{"pa", "pb"}));
  std::string plan = Plan("Patient", "_lastUpdated=gt2000-01-01");
  EXPECT_NE(plan.find("resource_by_updated"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("idx_date"), std::string::npos) << plan;
}

TEST_F(SqliteChainTest, UnionParametersMatchTheirMembersRows) {
  // combo-code is code | component-code (search::UnionMembers) and has no rows of its own.
  Add("Observation", "bp",
      R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},)"
      R"("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},)"
      R"("valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}],)"
      R"("subject":{"reference":"Patient/pa"})");
  EXPECT_EQ(IdSet("Observation", "combo-code=8480-6"), Set({"bp"}));
  EXPECT_EQ(IdSet("Observation", "combo-code=http://loinc.org|85354-9"), Set({"bp"}));
  EXPECT_EQ(IdSet("Observation", "combo-code=8302-2"), Set({"ob2"}));
  EXPECT_EQ(IdSet("Observation", "combo-value-quantity=gt100"), Set({"bp"}));
  EXPECT_EQ(IdSet("Observation", "combo-value-quantity=lt100"), Set());
  EXPECT_EQ(IdSet("Observation", "combo-code=8480-6&subject=Patient/pa"), Set({"bp"}));
  EXPECT_EQ(IdSet("Observation", "combo-value-quantity:missing=false"), Set({"bp"}));
  EXPECT_EQ(IdSet("Observation", "combo-code:missing=true"), Set());
  EXPECT_EQ(
      Ids("Observation", "combo-code=8480-6,8302-2&_sort=-combo-code"),
      (std::vector<std::string>{"bp", "ob2"}));  // by each one's greatest code: 8480-6, 8302-2
  std::string plan = Plan("Observation", "combo-code=8480-6");
  EXPECT_NE(plan.find("idx_token_by_value"), std::string::npos) << plan;
}

TEST_F(SqliteChainTest, ACompositeTestsItsSecondComponentPerCandidate) {
  // code-value-quantity has no rows of its own (search::ComposedOfOwnParams): the code's rows
  // drive, and the value is tested on each candidate's own quantity rows (key range), never by
  // going through every quantity row of the value's range.
  std::string plan = Plan("Observation", "code-value-quantity=http://loinc.org|8867-4$gt100");
  EXPECT_NE(plan.find("idx_token_by_value"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("idx_quantity_by_value"), std::string::npos) << plan;
  plan = Plan("Observation", "code-value-quantity=8867-4$gt100&_count=0");
  EXPECT_EQ(plan.find("idx_quantity_by_value"), std::string::npos) << plan;
  // The same for a composite over Observation.component, whose rows are grouped.
  plan = Plan("Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt120");
  EXPECT_NE(plan.find("idx_token_by_value"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("idx_quantity_by_value"), std::string::npos) << plan;
}

TEST_F(SqliteChainTest, AbsoluteReferencesUseThePartialUrlIndex) {
  // Only references that are not local ("Patient/x") are in idx_reference_by_url (schema 5).
  EXPECT_EQ(IdSet("Observation", "subject=http://remote/fhir/Patient/pa"), Set({"ob5"}));
  EXPECT_EQ(IdSet("Observation", "subject=Patient/pa"), Set({"ob1"}));
  std::string plan = Plan("Observation", "subject=http://remote/fhir/Patient/pa");
  EXPECT_NE(plan.find("idx_reference_by_url"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN"), std::string::npos) << plan;
}

TEST_F(SqliteChainTest, OneCriterionDrivesTheOthersAreTestedPerCandidate) {
  // The reference is the driver (a set from idx_reference_by_id); the date range and the code are
  // tested on each candidate's own rows (key range), not materialised as "every Observation dated
  // after 2020".
  std::string plan = Plan("Observation", "date=ge2020&subject=Patient/p1&code=1234-5");
  EXPECT_NE(plan.find("idx_reference_by_id"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("idx_date_by_value"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("idx_token_by_value"), std::string::npos) << plan;
  EXPECT_NE(plan.find("CORRELATED"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN"), std::string::npos) << plan;
  // The results are the same as when every criterion is a set.
  EXPECT_EQ(IdSet("Observation", "date=ge2020&subject=Patient/p1"),
            IdSet("Observation", "subject=Patient/p1&date=ge2020"));
  // A date alone still drives from its index.
  plan = Plan("Observation", "date=ge2020");
  EXPECT_NE(plan.find("idx_date_by_value"), std::string::npos) << plan;
}

TEST_F(SqliteChainTest, AnUnsortedPageDrivenBySystemAndCodeIsReadAsAStream) {
  // (param, code, system, rid): the rows of one system|code come in rid order, so a page needs
  // neither the whole set of matches nor a sort.
  std::string plan = Plan("Observation", "code=http://loinc.org|1234-5&_count=10");
  EXPECT_NE(plan.find("idx_token_by_value"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("LIST SUBQUERY"), std::string::npos) << plan;
  plan = Plan("Observation", "subject=Patient/p1&date=ge2020&_count=10");
  EXPECT_NE(plan.find("idx_reference_by_id"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  // Sorted pages keep the set and the sort.
  plan = Plan("Observation", "code=http://loinc.org|1234-5&_sort=date");
  EXPECT_NE(plan.find("TEMP B-TREE"), std::string::npos) << plan;
}

}  // namespace
}  // namespace kiln::store::sqlite
