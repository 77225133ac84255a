// The search interaction's REST side (R4 search page): the parameters of GET [type]?... and of
// POST [type]/_search (form body), and the searchset Bundle. Parsing, binding and running the
// query are search/ and the store's job. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "fhir/subset.h"
#include "kiln/status.h"
#include "kiln/store.h"
#include "rest/router.h"
#include "rest/tenancy.h"
#include "search/query.h"

namespace kiln::rest {

// The decoded parameters of an application/x-www-form-urlencoded body ('+' is a space).
// kInvalid for a malformed percent-escape.
Result<QueryParams> DecodeFormBody(std::string_view body);

// The subset of each resource that _summary and _elements ask for; nullopt for whole resources
// (no _summary, _summary=false or count, no _elements).
std::optional<fhir::Subset> SubsetFor(const search::Query& query);

// The subset a read (GET [type]/[id]) asks for with _summary and _elements among `params`;
// nullopt when it asks for none. kInvalid for bad values, and for _summary=count, which only
// searches have.
Result<std::optional<fhir::Subset>> ReadSubsetFor(const std::string& type,
                                                  const QueryParams& params);

// A Bundle of type "searchset": `total` when computed, self and next links to
// links.base_url/link_path (the type, "Patient/123/Observation" for a compartment, "" for a system
// search; the next link carries the store's cursor, sealed with links.seal), entries with
// search.mode "match" then "include", and one OperationOutcome entry (search.mode "outcome") with
// warnings about the parameters that were ignored and from the store. _summary applies to matches
// and included resources alike; _elements, which names elements of the types searched, only to the
// matches.
std::string SearchBundleJson(const LinkBase& links, std::string_view link_path,
                             const search::Query& query, const SearchPage& page);

}  // namespace kiln::rest
