// Connection's cache of generated statements (searches): the same SQL text reuses the prepared
// statement, reset and unbound; a text already in use gets a fresh statement; the cache stays
// bounded and evicts the least recently used statement that is not in use.
#include "store/sqlite/connection.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::TempDir;

std::unique_ptr<Connection> OpenConnection(TempDir& dir) {
  auto c = Connection::Open(dir.Sub("c.db"), Connection::Mode::kReadWrite, "", 1000);
  EXPECT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE((*c)->Exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1), (2), (3);").ok());
  return std::move(c).value();
}

TEST(GeneratedStatements, TheSameTextIsPreparedOnceAndComesBackReset) {
  TempDir dir;
  auto c = OpenConnection(dir);
  const std::string sql = "SELECT count(*) FROM t WHERE x >= ?1";
  auto first = c->GeneratedStatement(sql);
  ASSERT_TRUE(first.ok());
  sqlite3_bind_int(*first, 1, 2);
  ASSERT_EQ(sqlite3_step(*first), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(*first, 0), 2);
  c->ReleaseGenerated(*first);
  auto again = c->GeneratedStatement(sql);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);  // the same statement, reused
  // Reset and unbound: an unbound ?1 is NULL, and x >= NULL matches nothing.
  ASSERT_EQ(sqlite3_step(*again), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(*again, 0), 0);
  c->ReleaseGenerated(*again);
}

TEST(GeneratedStatements, ATextInUseGetsAFreshStatement) {
  TempDir dir;
  auto c = OpenConnection(dir);
  const std::string sql = "SELECT x FROM t ORDER BY x";
  auto outer = c->GeneratedStatement(sql);
  ASSERT_TRUE(outer.ok());
  ASSERT_EQ(sqlite3_step(*outer), SQLITE_ROW);
  auto inner = c->GeneratedStatement(sql);
  ASSERT_TRUE(inner.ok());
  EXPECT_NE(*inner, *outer);
  ASSERT_EQ(sqlite3_step(*inner), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(*inner, 0), 1);
  c->ReleaseGenerated(*inner);                  // not kept: finalized
  ASSERT_EQ(sqlite3_step(*outer), SQLITE_ROW);  // the outer one was not disturbed
  EXPECT_EQ(sqlite3_column_int(*outer, 0), 2);
  c->ReleaseGenerated(*outer);
}

TEST(GeneratedStatements, TheCacheIsBoundedAndKeepsWhatIsInUse) {
  TempDir dir;
  auto c = OpenConnection(dir);
  auto held = c->GeneratedStatement("SELECT 0 FROM t");
  ASSERT_TRUE(held.ok());
  for (size_t i = 1; i <= Connection::kGeneratedStatements * 3; ++i) {
    auto s = c->GeneratedStatement("SELECT " + std::to_string(i) + " FROM t");
    ASSERT_TRUE(s.ok());
    c->ReleaseGenerated(*s);
  }
  // The held one survived every eviction and still works.
  ASSERT_EQ(sqlite3_step(*held), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(*held, 0), 0);
  c->ReleaseGenerated(*held);
  auto bad = c->GeneratedStatement("SELECT nonsense FROM nowhere");
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace kiln::store::sqlite
