// Value indexes built after a bulk load instead of row by row.
//
// Each search index row is an append to its kind's table and an insert into that table's value
// index (schema.cc): the inserts land all over the index, and on a large store each one rereads
// and rewrites a page. A bulk load (kiln import into a new or small store) instead drops the value
// indexes at its start and builds them once at its end, where SQLite sorts the rows and writes
// each index page once: docs/import.md has the figures.
//
// The definitions of what was dropped are kept in the database (table deferred_index, written in
// the same transaction as the drops), so a bulk load that is killed half-way leaves a store that
// knows what it lacks: the next open that is not a bulk load builds it before taking any request.
// Searches stay correct while the indexes are missing (SQLite scans the tables), only slower.
//
// Free functions on the writer's connection, outside any transaction; the caller must not share
// the connection during the call.
#pragma once

#include <functional>

#include "kiln/status.h"
#include "store/sqlite/connection.h"

namespace kiln::store::sqlite {

// Drops every value index of the search index tables (idx_*; full text excluded), recording each
// definition first. Idempotent: an index already deferred stays recorded. Returns how many indexes
// are deferred now.
Result<int> DeferValueIndexes(Connection& connection);

// Builds every recorded index and forgets it, each in a transaction of its own, those of the
// largest tables first; `after_each` (if any) runs after each commit (the store starts copying
// the log into the database file there while the next index builds). Stops at the first failure:
// the indexes built before it stay built, it and the rest stay recorded. Returns how many were
// built (0 when none was deferred).
Result<int> BuildDeferredIndexes(Connection& connection,
                                 const std::function<void()>& after_each = {});

// How many indexes are recorded as deferred.
Result<int> DeferredIndexCount(Connection& connection);

}  // namespace kiln::store::sqlite
