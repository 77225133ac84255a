// The history interactions' parameters and Bundle (R4 http 3.1.0.9). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/store.h"
#include "rest/router.h"
#include "rest/tenancy.h"

namespace kiln::rest {

// _count, _since, _at and the paging cursor (_cursor, already opened: CursorSeal::Open) of a
// history request. Bad values -> 400. The query's tenant is left for the caller to set.
Result<HistoryQuery> ParseHistoryQuery(const Interaction& in, int default_count, int max_count);

// A Bundle of type "history": entries newest first with request/response, deletions without a
// resource, a self link and (when there is more) a next link that continues below the page's
// last entry, so pages neither skip nor repeat versions while writes go on. Links and fullUrls
// are under links.base_url; cursors are sealed with links.seal. `next_before`, when set, is the
// next link's cursor instead of the last entry's seq (a filtered history, rest/access.h
// RestrictedHistory, may have looked further than its last entry, or found nothing on a page that
// is not the last).
std::string HistoryBundleJson(const LinkBase& links, const Interaction& in,
                              const HistoryQuery& query, const HistoryPage& page,
                              std::optional<int64_t> next_before = std::nullopt);

}  // namespace kiln::rest
