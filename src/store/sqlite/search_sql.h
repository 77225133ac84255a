// Search on SQLite: plans a bound search::Query into SQL over the index tables of schema
// migration 2 (idx_string, idx_token, idx_date, idx_number, idx_quantity, idx_reference, idx_uri,
// keyed by resource.rid) and runs it on a reader connection.
//
// Shape: the resources of the tenant and the searched types (every type for a system search
// without _type; in a compartment, only those whose compartment parameters refer to the focal
// resource) that are not deleted, AND-ed with one
// `r.rid [NOT] IN (SELECT rid FROM idx_<kind> WHERE param = ? AND (<term> OR <term> ...))` per
// criterion, where a chain or _has criterion nests the same shape for the linked resources (see
// ConditionWriter in search_sql.cc); each _sort key is the per-resource minimum (ascending) or
// maximum (descending) of the parameter's values, resources without one last, rid the final
// tie-break. Paging is keyset: the cursor holds the last row's sort values and rid, so the next
// page starts strictly after it (no repeats or skips while writes go on; new resources get larger
// rids). Every value is bound as a parameter; statements are prepared per query.
//
// Free functions, no state; the caller owns the connection (and its read transaction).
#pragma once

#include <string>

#include "kiln/status.h"
#include "kiln/store.h"
#include "search/query.h"
#include "store/sqlite/connection.h"

namespace kiln::store::sqlite {

// Runs `query` for `tenant` on `connection`, which should be inside a read transaction so the page
// and the total see one snapshot. Errors: kNotImplemented naming the parameter for what this
// planner cannot search, kInvalid for a cursor it cannot read, database errors as Connection does.
Result<SearchPage> RunSearch(Connection& connection, const std::string& tenant,
                             const search::Query& query);

// The SQLite query plan (EXPLAIN QUERY PLAN, one line per step) of the page statement `query`
// would run, or of its count statement for _count=0: for tests and for diagnosing slow searches.
Result<std::string> ExplainSearch(Connection& connection, const std::string& tenant,
                                  const search::Query& query);

}  // namespace kiln::store::sqlite
