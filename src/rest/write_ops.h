// The write steps shared by the single interactions (service.cc) and batch/transaction Bundles
// (bundle.cc): storing a create, update, delete or patch inside a store write transaction, the
// search index of a resource about to be written, and the parsing of conditional criteria.
// Internal to rest/. The Append* functions run inside a Store::Write closure (on the writer
// thread); the others are pure functions. Thread-safe in that sense.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/resource_json.h"
#include "kiln/status.h"
#include "kiln/store.h"
#include "patch/patch.h"
#include "rest/router.h"
#include "rest/service.h"
#include "rest/validate.h"
#include "search/index.h"
#include "search/query.h"

namespace kiln::rest {

// base_url/type/id/_history/version: the Location of a written version (base_url is the
// request's base, with its tenant prefix if it has one).
std::string VersionLocation(std::string_view base_url, const VersionInfo& info);

// A write's result travels from the writer closure to its completion callback through this.
struct WriteState {
  fhir::PreparedResource resource;
  StoredResource stored;
  bool created = false;                   // a new resource (or one brought back after deletion)
  bool changed = true;                    // false: delete of an absent or already deleted resource
  std::vector<Issue> warnings;            // validation problems let through in warn-only mode
  std::vector<search::IndexEntry> index;  // the new version's search index entries
  int64_t deleted = 0;                    // conditional delete: resources deleted
};

// The search index entries of a resource about to be written, computed before the write
// transaction (off the single writer thread). The id is the one it will be stored under. (Nothing
// in them depends on the version or lastUpdated the transaction assigns: _id and _lastUpdated
// are answered from the resource row.)
Result<std::vector<search::IndexEntry>> IndexFor(const fhir::PreparedResource& resource,
                                                 std::string_view id);

// Stores version 1 of a new resource (`key`: its tenant, type and new id) from state.resource:
// the body of a create.
Status AppendCreate(StoreTxn& txn, WriteState& state, const ResourceKey& key);
// Stores state.resource as the next version of `key` (update, or update-as-create), honouring
// If-Match. `method` is what history reports the version as (kPatch for a PATCH).
Status AppendUpdate(StoreTxn& txn, WriteState& state, const ResourceKey& key,
                    std::optional<int64_t> if_match, WriteMethod method = WriteMethod::kUpdate);
// Appends a deletion marker for `key` unless it is absent or already deleted (state.changed
// false: deleting what is not there is fine, the interaction is idempotent).
Status AppendDelete(StoreTxn& txn, WriteState& state, const ResourceKey& key);
// Applies `patch` to the current version of `key`, validates and re-indexes the result and
// stores it as the next version (404/410/412/422 as for PATCH).
Status AppendPatch(StoreTxn& txn, WriteState& state, const ResourceKey& key,
                   const patch::Patch& patch, std::optional<int64_t> if_match,
                   const ValidationPolicy& policy);

// The version of an If-Match header (nullopt when empty); sets `error` when it is malformed.
std::optional<int64_t> ParseIfMatch(std::string_view header, Status& error);

// The search that picks the target of a conditional create, update or delete; unknown
// parameters are always an error. At most `limit` matches are fetched. With `compartment`, only
// resources in it are selected (a patient-context caller: rest/access.h).
Result<search::Query> ConditionQuery(
    const std::string& type, const QueryParams& params, int limit, std::string_view what,
    const std::optional<search::CompartmentRef>& compartment = std::nullopt);

// The parameters of an If-None-Exist header: "identifier=x|1", also with a leading "?" or
// "[type]?".
Result<QueryParams> IfNoneExistParams(std::string_view header, const std::string& type,
                                      std::string_view base_path);

}  // namespace kiln::rest
