// The search interaction's REST side (R4 search page): the parameters of GET [type]?... and of
// POST [type]/_search (form body), and the searchset Bundle. Parsing, binding and running the
// query are search/ and the store's job. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/store.h"
#include "rest/router.h"
#include "search/query.h"

namespace kiln::rest {

// The decoded parameters of an application/x-www-form-urlencoded body ('+' is a space).
// kInvalid for a malformed percent-escape.
Result<QueryParams> DecodeFormBody(std::string_view body);

// A Bundle of type "searchset": `total` when computed, self and next links (the next one carries
// the store's cursor), entries with search.mode "match", and one OperationOutcome entry
// (search.mode "outcome") warning about the parameters that were ignored.
std::string SearchBundleJson(std::string_view base_url, std::string_view type,
                             const search::Query& query, const SearchPage& page);

}  // namespace kiln::rest
