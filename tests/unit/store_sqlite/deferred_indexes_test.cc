// Bulk loads that build the value indexes at the end (deferred_indexes.h): searches stay correct
// while they are missing, Close() builds them, and a bulk load that never reached Close() leaves a
// store whose next open builds them.
#include "store/sqlite/deferred_indexes.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "search_test_util.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::IdsOf;
using testing::OpenOrDie;
using testing::QueryOf;
using testing::Save;
using testing::TempDir;

// The names of the explicit indexes on the idx_* tables, sorted.
std::vector<std::string> ValueIndexes(const std::string& db) {
  Result<std::unique_ptr<Connection>> c =
      Connection::Open(db, Connection::Mode::kReadOnly, "", 1000);
  EXPECT_TRUE(c.ok());
  if (!c.ok()) return {};
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2((*c)->db(),
                     "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND "
                     "tbl_name LIKE 'idx%' ORDER BY name",
                     -1, &stmt, nullptr);
  std::vector<std::string> names;
  while (sqlite3_step(stmt) == SQLITE_ROW) names.emplace_back(ColumnText(stmt, 0));
  sqlite3_finalize(stmt);
  return names;
}

int64_t Deferred(const std::string& db) {
  Result<std::unique_ptr<Connection>> c =
      Connection::Open(db, Connection::Mode::kReadOnly, "", 1000);
  EXPECT_TRUE(c.ok());
  return c.ok() ? *(*c)->QueryInt("SELECT count(*) FROM deferred_index") : -1;
}

// Runs `fn` on a read-write connection of its own to `db` (what another process would do).
template <typename Fn>
void WithConnection(const std::string& db, Fn fn) {
  Result<std::unique_ptr<Connection>> c =
      Connection::Open(db, Connection::Mode::kReadWrite, "", 1000);
  ASSERT_TRUE(c.ok()) << c.status().message();
  fn(**c);
}

// The options of a bulk load into `dir`.
SqliteOptions BulkLoad(const std::string& dir) {
  SqliteOptions options;
  options.data_dir = dir;
  options.defer_value_indexes = true;
  return options;
}

const std::vector<std::string> kAllValueIndexes = {
    "idx_date_by_value",    "idx_number_by_value", "idx_quantity_by_value", "idx_reference_by_id",
    "idx_reference_by_url", "idx_string_by_value", "idx_token_by_value",    "idx_uri_by_value"};

void SavePatients(Store& store) {
  ASSERT_TRUE(Save(store, "Patient", "a",
                   R"("name":[{"family":"Müller"}],"gender":"female","birthDate":"1974-12-25",)"
                   R"("generalPractitioner":[{"reference":"Practitioner/d1"}])")
                  .ok());
  ASSERT_TRUE(Save(store, "Patient", "b",
                   R"("name":[{"family":"Smith"}],"gender":"male","birthDate":"1980",)"
                   R"("generalPractitioner":[{"reference":"http://x/fhir/Practitioner/d1"}])")
                  .ok());
}

void ExpectSearchesWork(Store& store) {
  auto ids = [&](const std::string& q) {
    Result<SearchPage> page = store.Search(kDefaultTenant, QueryOf("Patient", q));
    EXPECT_TRUE(page.ok()) << q << ": " << page.status().message();
    return page.ok() ? IdsOf(*page) : std::vector<std::string>{};
  };
  EXPECT_EQ(ids("family=muller"), std::vector<std::string>{"a"});
  EXPECT_EQ(ids("gender=male"), std::vector<std::string>{"b"});
  EXPECT_EQ(ids("birthdate=lt1975"), std::vector<std::string>{"a"});
  EXPECT_EQ(ids("general-practitioner=Practitioner/d1"), std::vector<std::string>{"a"});
  EXPECT_EQ(ids("general-practitioner=http://x/fhir/Practitioner/d1"),
            std::vector<std::string>{"b"});
}

TEST(DeferredIndexesTest, ABulkLoadBuildsTheValueIndexesAtClose) {
  TempDir tmp;
  const SqliteOptions options = BulkLoad(tmp.path());
  auto store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  const std::string db = store->database_path();
  EXPECT_TRUE(ValueIndexes(db).empty());
  EXPECT_EQ(Deferred(db), 8);
  SavePatients(*store);
  ExpectSearchesWork(*store);  // without the indexes: scans, same answers
  store->Close();
  DeferredIndexBuild build = store->deferred_index_build();
  EXPECT_TRUE(build.status.ok()) << build.status.message();
  EXPECT_EQ(build.indexes, 8);
  EXPECT_EQ(ValueIndexes(db), kAllValueIndexes);
  EXPECT_EQ(Deferred(db), 0);

  auto reopened = OpenOrDie(tmp.path());
  ExpectSearchesWork(*reopened);
}

TEST(DeferredIndexesTest, AnInterruptedBulkLoadIsFinishedByTheNextOpen) {
  TempDir tmp;
  {
    auto store = OpenOrDie(tmp.path());
    SavePatients(*store);
  }
  const std::string db = tmp.Sub("kiln.db");
  // What a bulk load killed before its Close() leaves: the indexes dropped and recorded.
  WithConnection(db, [](Connection& c) {
    Result<int> deferred = DeferValueIndexes(c);
    ASSERT_TRUE(deferred.ok()) << deferred.status().message();
    EXPECT_EQ(*deferred, 8);
    // Deferring again changes nothing.
    deferred = DeferValueIndexes(c);
    ASSERT_TRUE(deferred.ok());
    EXPECT_EQ(*deferred, 8);
  });
  EXPECT_TRUE(ValueIndexes(db).empty());
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ValueIndexes(db), kAllValueIndexes);
  EXPECT_EQ(Deferred(db), 0);
  ExpectSearchesWork(*store);
}

TEST(DeferredIndexesTest, ABulkLoadAfterAnInterruptedOneKeepsThemDeferred) {
  TempDir tmp;
  const SqliteOptions options = BulkLoad(tmp.path());
  {
    auto store = OpenOrDie(options);
    SavePatients(*store);
  }  // Close() built them; defer again, then re-run as a bulk load
  const std::string db = tmp.Sub("kiln.db");
  WithConnection(db, [](Connection& c) { ASSERT_TRUE(DeferValueIndexes(c).ok()); });
  auto store = OpenOrDie(options);
  EXPECT_TRUE(ValueIndexes(db).empty());
  EXPECT_EQ(Deferred(db), 8);
  ExpectSearchesWork(*store);
  store->Close();
  EXPECT_EQ(store->deferred_index_build().indexes, 8);
  EXPECT_EQ(ValueIndexes(db), kAllValueIndexes);
}

TEST(DeferredIndexesTest, AFailedBuildIsReportedAndStaysRecorded) {
  TempDir tmp;
  const SqliteOptions options = BulkLoad(tmp.path());
  auto store = OpenOrDie(options);
  SavePatients(*store);
  const std::string db = store->database_path();
  // A definition that cannot be built (its table does not exist), recorded beside the others.
  WithConnection(db, [](Connection& c) {
    ASSERT_TRUE(c.Exec("INSERT INTO deferred_index (name, sql) VALUES ('idx_zzz', "
                       "'CREATE INDEX idx_zzz ON no_such_table (a)')")
                    .ok());
  });
  store->Close();
  DeferredIndexBuild build = store->deferred_index_build();
  EXPECT_FALSE(build.status.ok());
  EXPECT_NE(build.status.message().find("idx_zzz"), std::string::npos) << build.status.message();
  // Each index is its own transaction: those built before the failure (every real one: an
  // unknown table builds last) stay built and are forgotten; the failing one stays recorded, and
  // the next open says what fails.
  EXPECT_EQ(Deferred(db), 1);
  EXPECT_EQ(ValueIndexes(db), kAllValueIndexes);
  SqliteOptions plain;
  plain.data_dir = tmp.path();
  Result<std::unique_ptr<Store>> reopened = OpenSqliteStore(plain);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.status().message().find("idx_zzz"), std::string::npos);
}

TEST(DeferredIndexesTest, EachIndexIsCommittedOnItsOwnTheLargestTablesFirst) {
  TempDir tmp;
  auto store = OpenOrDie(BulkLoad(tmp.path()));
  SavePatients(*store);
  const std::string db = store->database_path();
  store.reset();  // its Close() builds them; defer them again to build them here
  WithConnection(db, [&](Connection& c) {
    Result<int> deferred = DeferValueIndexes(c);
    ASSERT_TRUE(deferred.ok()) << deferred.status().message();
    std::vector<std::string> built_after_each;  // what another connection sees after each call
    Result<int> built = BuildDeferredIndexes(c, [&] {
      std::vector<std::string> now = ValueIndexes(db);
      built_after_each.push_back(
          std::to_string(now.size()) + ":" +
          std::to_string(*c.QueryInt("SELECT count(*) FROM deferred_index")));
      if (built_after_each.size() == 1) {
        EXPECT_EQ(now, std::vector<std::string>({"idx_token_by_value"}));
      }
    });
    ASSERT_TRUE(built.ok()) << built.status().message();
    EXPECT_EQ(*built, 8);
    EXPECT_EQ(built_after_each,
              std::vector<std::string>({"1:7", "2:6", "3:5", "4:4", "5:3", "6:2", "7:1", "8:0"}));
  });
  EXPECT_EQ(ValueIndexes(db), kAllValueIndexes);
}

TEST(DeferredIndexesTest, NothingDeferredNothingBuilt) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  SavePatients(*store);
  store->Close();
  EXPECT_EQ(store->deferred_index_build().indexes, 0);
  EXPECT_EQ(ValueIndexes(tmp.Sub("kiln.db")), kAllValueIndexes);
}

TEST(DeferredIndexesTest, MigrationEightRebuildsTheReferenceIndexDeferredOrNot) {
  // Schema 8 puts `kind` into idx_reference_by_id. A schema-7 store whose value indexes a bulk
  // load left deferred gets that index built by the migration, no longer recorded as deferred;
  // the others stay deferred and build as before.
  TempDir tmp;
  const std::string db = tmp.Sub("kiln.db");
  WithConnection(db, [](Connection& c) {
    ASSERT_TRUE(MigrateTo(c, 7).ok());
    Result<int> deferred = DeferValueIndexes(c);
    ASSERT_TRUE(deferred.ok());
    EXPECT_EQ(*deferred, static_cast<int>(kAllValueIndexes.size()));
    ASSERT_TRUE(MigrateTo(c, 8).ok());
    EXPECT_EQ(*c.QueryText("SELECT sql FROM sqlite_schema WHERE name = 'idx_reference_by_id'"),
              "CREATE INDEX idx_reference_by_id ON idx_reference (param, id, type, kind, rid)");
  });
  EXPECT_EQ(Deferred(db), static_cast<int64_t>(kAllValueIndexes.size()) - 1);
  WithConnection(db, [](Connection& c) {
    Result<int> built = BuildDeferredIndexes(c);
    ASSERT_TRUE(built.ok()) << built.status().message();
    EXPECT_EQ(*built, static_cast<int>(kAllValueIndexes.size()) - 1);
  });
  EXPECT_EQ(ValueIndexes(db), kAllValueIndexes);
  EXPECT_EQ(Deferred(db), 0);

  // Not deferred: rebuilt in place.
  TempDir other;
  WithConnection(other.Sub("kiln.db"), [](Connection& c) {
    ASSERT_TRUE(MigrateTo(c, 7).ok());
    ASSERT_TRUE(MigrateTo(c, 8).ok());
    EXPECT_EQ(*c.QueryText("SELECT sql FROM sqlite_schema WHERE name = 'idx_reference_by_id'"),
              "CREATE INDEX idx_reference_by_id ON idx_reference (param, id, type, kind, rid)");
  });
  EXPECT_EQ(ValueIndexes(other.Sub("kiln.db")), kAllValueIndexes);
}

}  // namespace
}  // namespace kiln::store::sqlite
