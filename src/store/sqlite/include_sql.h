// _include and _revinclude on SQLite (R4 search 3.1.1.5.4): the resources a page's matches refer
// to, and the ones that refer to them, found through the idx_reference rows of schema migration 2.
//
// Per page, in rounds: the first round applies every _include/_revinclude to the page's matches;
// each later round applies only the :iterate ones to what the round before added, until a round
// adds nothing new. Only local references ("Patient/1", kind 0 in idx_reference) are followed:
// contained ("#id"), canonical and absolute ones are not. Targets are the current versions of
// resources of the same tenant that are not deleted; a resource already on the page (as a match or
// included earlier) is never added again. At most Query::max_includes resources are added; when
// the cap cuts a round short, the page carries a warning saying so.
//
// Free functions, no state; the caller owns the connection (and its read transaction).
#pragma once

#include <string>

#include "kiln/status.h"
#include "kiln/store.h"
#include "search/query.h"
#include "store/sqlite/connection.h"

namespace kiln::store::sqlite {

// Fills page.included (and page.warnings when capped) for query.includes, from page.matches.
// Run it on the connection and read transaction the page was read in, so both see one snapshot.
// Errors: database errors as Connection reports them.
Status RunIncludes(Connection& connection, const std::string& tenant, const search::Query& query,
                   SearchPage& page);

}  // namespace kiln::store::sqlite
