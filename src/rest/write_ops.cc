#include "rest/write_ops.h"

#include "core/clock.h"
#include "core/ids.h"
#include "core/strings.h"
#include "rest/negotiation.h"

namespace kiln::rest {

std::string VersionLocation(std::string_view base_url, const VersionInfo& info) {
  return std::string(base_url) + "/" + info.type + "/" + info.id + "/_history/" +
         std::to_string(info.version);
}

// The search index entries of a resource about to be written, computed before the write
// transaction (off the single writer thread). The id is the one it will be stored under. (Nothing
// in them depends on the version or lastUpdated the transaction assigns: _id and _lastUpdated
// are answered from the resource row.)
Result<std::vector<search::IndexEntry>> IndexFor(const fhir::PreparedResource& resource,
                                                 std::string_view id) {
  auto index = search::ExtractIndexFromJson(
      fhir::RenderResource(resource, id, 1, "1970-01-01T00:00:00.000000Z"));
  if (!index.ok()) {
    Status s = index.take_status();
    return Status(ErrorCode::kUnprocessable, "processing",
                  "The resource cannot be indexed for search: " + s.message());
  }
  return index;
}

// Stores version 1 of a new resource (`key`) from state.resource: the body of a create.
Status AppendCreate(StoreTxn& txn, WriteState& state, const ResourceKey& key) {
  const std::string& id = key.id;
  StoredResource v;
  v.info.type = key.type;
  v.info.id = id;
  v.info.version = 1;
  v.info.last_updated = txn.NextTimestamp();
  v.info.method = WriteMethod::kCreate;
  v.json = fhir::RenderResource(state.resource, id, 1, core::FormatInstant(v.info.last_updated));
  if (Status s = txn.Append(key.tenant, v, &state.index); !s.ok()) return s;
  state.created = true;
  state.stored = std::move(v);
  return Status::Ok();
}

// Stores state.resource as the next version of `key` (update, or update-as-create), honouring
// If-Match.
Status AppendUpdate(StoreTxn& txn, WriteState& state, const ResourceKey& key,
                    std::optional<int64_t> if_match, WriteMethod method) {
  auto latest = txn.ReadLatest(key);
  if (!latest.ok()) return latest.status();
  const std::optional<StoredResource>& cur = *latest;
  if (if_match) {
    if (!cur || cur->info.deleted)
      return Status::PreconditionFailed("If-Match: " + key.type + "/" + key.id + " does not exist");
    if (cur->info.version != *if_match)
      return Status::PreconditionFailed("If-Match: version " + std::to_string(*if_match) +
                                        " is not current; " + key.type + "/" + key.id +
                                        " is at version " + std::to_string(cur->info.version));
  }
  StoredResource v;
  v.info.type = key.type;
  v.info.id = key.id;
  v.info.version = cur ? cur->info.version + 1 : 1;
  v.info.last_updated = txn.NextTimestamp();
  v.info.method = method;
  v.json = fhir::RenderResource(state.resource, key.id, v.info.version,
                                core::FormatInstant(v.info.last_updated));
  if (Status s = txn.Append(key.tenant, v, &state.index); !s.ok()) return s;
  state.created = !cur || cur->info.deleted;
  state.stored = std::move(v);
  return Status::Ok();
}

// Appends a deletion marker for `key` unless it is absent or already deleted (state.changed
// false: deleting what is not there is fine, the interaction is idempotent).
Status AppendDelete(StoreTxn& txn, WriteState& state, const ResourceKey& key) {
  auto latest = txn.ReadLatest(key);
  if (!latest.ok()) return latest.status();
  const std::optional<StoredResource>& cur = *latest;
  if (!cur || cur->info.deleted) {
    state.changed = false;
    return Status::Ok();
  }
  StoredResource v;
  v.info.type = key.type;
  v.info.id = key.id;
  v.info.version = cur->info.version + 1;
  v.info.last_updated = txn.NextTimestamp();
  v.info.deleted = true;
  v.info.method = WriteMethod::kDelete;
  if (Status s = txn.Append(key.tenant, v); !s.ok()) return s;
  state.changed = true;
  state.stored = std::move(v);
  return Status::Ok();
}

std::optional<int64_t> ParseIfMatch(std::string_view header, Status& error) {
  if (header.empty()) return std::nullopt;
  std::optional<int64_t> version = ParseVersionETag(header);
  if (!version) {
    error = Status::Invalid("If-Match must be a version ETag such as W/\"3\", not " +
                            std::string(header));
  }
  return version;
}

// The search that picks the target of a conditional create, update or delete (R4 http 3.1.0.8,
// 3.1.0.4.3, 3.1.0.7.1): `params` are its search parameters. Unlike a search, unknown or
// unsupported parameters are always an error: ignoring one would widen the match, and a widened
// conditional delete deletes what the client did not mean. At most `limit` matches are fetched,
// so one more than the caller accepts tells "too many" apart.
Result<search::Query> ConditionQuery(const std::string& type, const QueryParams& params, int limit,
                                     std::string_view what,
                                     const std::optional<search::CompartmentRef>& compartment) {
  search::SearchParams search_params;
  for (const auto& [k, v] : params) {
    if (k == "_format" || k == "_pretty") continue;
    search_params.emplace_back(k, v);
  }
  search::QueryOptions options;
  options.strict = true;
  options.default_count = limit;
  options.max_count = limit;
  options.compartment = compartment;
  auto query = search::ParseQuery({type}, search_params, options);
  if (!query.ok()) return query;
  if (query->criteria.empty()) {
    return Status(ErrorCode::kInvalid, "required",
                  std::string(what) +
                      " needs search criteria that select the resource, such as "
                      "identifier=system|value");
  }
  if (!query->sort.empty() || !query->includes.empty() || query->count_given) {
    return Status::Invalid(std::string(what) +
                           " takes search criteria only, not _sort, _count or _include");
  }
  query->count = limit;
  return query;
}

// The parameters of an If-None-Exist header: "identifier=x|1" (R4), also accepted with a leading
// "?" or "[type]?". Decoded the way the router decodes a URL's query.
Result<QueryParams> IfNoneExistParams(std::string_view header, const std::string& type,
                                      std::string_view base_path) {
  std::string_view text = core::TrimSpaces(header);
  if (text.size() > type.size() && text.substr(0, type.size()) == type &&
      text[type.size()] == '?') {
    text.remove_prefix(type.size() + 1);
  } else if (!text.empty() && text.front() == '?') {
    text.remove_prefix(1);
  }
  RouteResult routed =
      Route("GET", std::string(base_path) + "/" + type + "?" + std::string(text), base_path);
  if (!routed.status.ok()) {
    return Status::Invalid("If-None-Exist is not a valid search: " + routed.status.message());
  }
  return std::move(routed.interaction.params);
}

// Applies `patch` to the current version of `key` and stores the result as the next version.
// Runs inside the write transaction, so patches of one resource serialise and each sees the
// last one's result. The patched resource must keep its type and id, is validated like an update
// (a patch that makes it invalid is a 422 listing the problems) and re-indexed here, since its
// JSON is only known now.
Status AppendPatch(StoreTxn& txn, WriteState& state, const ResourceKey& key,
                   const patch::Patch& patch, std::optional<int64_t> if_match,
                   const ValidationPolicy& policy) {
  auto latest = txn.ReadLatest(key);
  if (!latest.ok()) return latest.status();
  const std::optional<StoredResource>& cur = *latest;
  if (!cur) return Status::NotFound(key.type + "/" + key.id + " is not known");
  if (cur->info.deleted) return Status::Gone(key.type + "/" + key.id + " was deleted");
  if (if_match && cur->info.version != *if_match)
    return Status::PreconditionFailed("If-Match: version " + std::to_string(*if_match) +
                                      " is not current; " + key.type + "/" + key.id +
                                      " is at version " + std::to_string(cur->info.version));
  auto patched = patch.Apply(cur->json);
  if (!patched.ok()) return patched.take_status();
  auto prepared = fhir::PrepareResource(*patched);
  if (!prepared.ok())
    return Status(ErrorCode::kInvalid, "invalid",
                  "The patched resource is not a resource: " + prepared.status().message());
  if (prepared->resource_type != key.type)
    return Status(ErrorCode::kInvalid, "invalid",
                  "A patch must not change resourceType (" + key.type + " would become '" +
                      prepared->resource_type + "')",
                  "resourceType");
  if (!prepared->has_id || prepared->id != key.id)
    return Status(ErrorCode::kInvalid, "invalid",
                  "A patch must not change or remove the id ('" + key.id + "')", key.type + ".id");
  if (Status s = CheckWrite(*patched, policy, state.warnings); !s.ok()) {
    std::vector<Issue> issues = s.issues();
    issues.insert(issues.begin(),
                  Issue{Severity::kError, "processing",
                        "The patched resource is not valid; nothing was stored", ""});
    return Status(ErrorCode::kUnprocessable, std::move(issues));
  }
  state.resource = std::move(prepared).value();
  auto index = IndexFor(state.resource, key.id);
  if (!index.ok()) return index.take_status();
  state.index = std::move(index).value();
  return AppendUpdate(txn, state, key, cur->info.version, WriteMethod::kPatch);
}

}  // namespace kiln::rest
