#include "rest/bundle.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <charconv>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/strings.h"
#include "fhir/definitions.h"
#include "fhir/resource_json.h"
#include "patch/patch.h"
#include "rest/access.h"
#include "rest/bundle_json.h"
#include "rest/history.h"
#include "rest/json_scan.h"
#include "rest/outcome.h"
#include "rest/router.h"
#include "rest/search.h"
#include "rest/validate.h"
#include "rest/write_ops.h"
#include "search/query.h"

namespace kiln::rest {
namespace {

std::optional<std::string> DecodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == ' ' || c == '\n' || c == '\r') continue;
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

bool IsLocalUrn(std::string_view url) {
  return url.starts_with("urn:uuid:") || url.starts_with("urn:oid:");
}

// The [root] of a RESTful fullUrl http(s)://.../[root]/Type/id, or "" when it is not one.
std::string RestfulRoot(std::string_view url) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) return "";
  size_t id_slash = url.rfind('/');
  if (id_slash == std::string_view::npos || id_slash + 1 == url.size()) return "";
  size_t type_slash = url.rfind('/', id_slash - 1);
  if (type_slash == std::string_view::npos || type_slash + 1 == id_slash) return "";
  char first = url[type_slash + 1];
  if (first < 'A' || first > 'Z' || url.find("://") + 3 > type_slash) return "";
  return std::string(url.substr(0, type_slash));
}

// Type/id (no scheme, no query, no fragment).
bool IsRelativeReference(std::string_view ref) {
  size_t slash = ref.find('/');
  return slash != std::string_view::npos && slash > 0 && ref.find('/', slash + 1) == ref.npos &&
         ref.find_first_of(":?#") == std::string_view::npos && ref[0] >= 'A' && ref[0] <= 'Z';
}

// A reference of the form Type?criteria (R4 http 3.1.0.11.2: a conditional reference).
bool IsConditionalReference(std::string_view ref) {
  size_t q = ref.find('?');
  if (q == std::string_view::npos || q == 0) return false;
  for (size_t i = 0; i < q; ++i) {
    char c = ref[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  }
  return ref[0] >= 'A' && ref[0] <= 'Z';
}

// One entry of the request Bundle, from parsing to its response.
struct Entry {
  size_t index = 0;
  std::string method;
  std::string url;
  std::string full_url;
  std::string if_none_exist;
  std::string if_match_header;
  std::string if_none_match;
  std::string if_modified_since;
  std::string_view resource_raw;  // empty: no resource

  Interaction in;
  InteractionKind kind = InteractionKind::kRead;
  std::string text;         // the resource after reference rewriting
  bool deferred = false;    // rendered inside the write (conditional references, ifNoneExist)
  int streamed_phase = -1;  // a streamed transaction's entry: its phase (RunStreamedTransaction)
  std::vector<std::pair<std::string, search::Query>> conditional_refs;
  std::string id;  // create: the id it gets
  std::optional<search::Query> condition;
  std::optional<int64_t> if_match;
  std::optional<patch::Patch> patch;
  std::optional<search::Query> search;
  std::string link_path;                       // search: where the searchset's links point
  std::optional<HistoryQuery> history;         // history: read from the store after the commit
  std::optional<StoredResource> existing;      // create: ifNoneExist found this one
  std::optional<StoredResource> version_read;  // vread: read before the write
  bool may_create = true;   // the caller has c on the type: PUT may create (access.h)
  PatientWriteGuard guard;  // a patient-context write: kept inside the compartment (access.h)
  WriteState state;

  // The outcome.
  Status status;
  int http_status = 200;
  bool has_version = false;   // state.stored describes a version to report
  std::string resource_json;  // GET: the answer's resource
};

// `s` as the failure of entry `e`: its first issue names the entry and its request.
Status EntryError(const Entry& e, const Status& s) {
  std::vector<Issue> issues = s.issues();
  std::string where = "Bundle entry " + std::to_string(e.index) +
                      (e.method.empty() && e.url.empty() ? std::string(": ")
                                                         : " (" + e.method + " " + e.url + "): ");
  if (issues.empty()) issues.push_back(Issue{});
  issues.front().diagnostics = where + issues.front().diagnostics;
  for (Issue& issue : issues) {
    if (issue.expression.empty()) {
      issue.expression = "Bundle.entry[" + std::to_string(e.index) + "]";
    } else if (!issue.expression.starts_with("Bundle.")) {
      issue.expression =
          "Bundle.entry[" + std::to_string(e.index) + "].resource." + issue.expression;
    }
  }
  return Status(s.error(), std::move(issues));
}

struct Context {
  const RestOptions& options;
  bool transaction;
  Access access;   // every entry is checked against it (access.h); access.tenant is where it acts
  LinkBase links;  // entries' urls are relative to links.base_url; response links point there
  // Transaction: urn:uuid/urn:oid fullUrl -> "Type/id" it stands for.
  std::map<std::string, std::string> targets;
  // fullUrls whose target is only known inside the write (POST with ifNoneExist).
  std::set<std::string> pending_targets;
};

// Parses, validates and indexes e.text (the resource of a create or update). `final`: the text
// that will be stored (false for the check of a deferred entry before the write).
Status RenderEntry(Entry& e, const Context& ctx, bool final) {
  auto prepared = fhir::PrepareResource(e.text);
  if (!prepared.ok()) return prepared.status();
  if (prepared->resource_type != e.in.type)
    return Status(ErrorCode::kInvalid, "invalid",
                  "The resource's resourceType '" + prepared->resource_type +
                      "' does not match the request url's type '" + e.in.type + "'",
                  "resourceType");
  if (e.kind == InteractionKind::kUpdate) {
    if (!prepared->has_id)
      return Status(ErrorCode::kInvalid, "required",
                    "An update must carry the resource id in the body", "id");
    if (prepared->id != e.in.id)
      return Status(
          ErrorCode::kInvalid, "invalid",
          "The resource's id '" + prepared->id + "' does not match the url's id '" + e.in.id + "'",
          e.in.type + ".id");
  }
  e.state.warnings.clear();
  if (Status s = CheckWrite(e.text, ctx.options.validation, e.state.warnings); !s.ok()) return s;
  if (final && !e.state.warnings.empty()) {
    core::LogWarn("stored a resource that fails validation (warn-only mode)",
                  {{"bundle_entry", static_cast<long long>(e.index)},
                   {"issues", static_cast<long long>(e.state.warnings.size())},
                   {"first", std::string_view(e.state.warnings.front().diagnostics)}});
  }
  std::string index_id = e.kind == InteractionKind::kCreate   ? e.id
                         : e.kind == InteractionKind::kUpdate ? e.in.id
                         : prepared->has_id                   ? prepared->id
                                                              : std::string("pending");
  e.state.resource = std::move(prepared).value();
  auto index = IndexFor(e.state.resource, index_id);
  if (!index.ok()) return index.take_status();
  e.state.index = std::move(index).value();
  return Status::Ok();
}

// Rewrites e's references to fullUrls of the Bundle (R4 bundle 2.36.4.1): a urn: or absolute
// reference equal to an entry's fullUrl, or a relative Type/id one that, resolved against the
// root of e's own RESTful fullUrl, equals an entry's fullUrl. `final` (inside the write) also
// rewrites those whose target was pending.
std::string RewriteFor(const Entry& e, const Context& ctx, std::string_view text, bool final,
                       bool* needs_deferral) {
  const std::string root = RestfulRoot(e.full_url);
  return RewriteReferences(text, [&](std::string_view ref) -> std::optional<std::string> {
    if (!ctx.transaction || ctx.targets.empty()) return std::nullopt;
    std::string key(ref);
    if (!ctx.targets.contains(key) && !root.empty() && IsRelativeReference(ref))
      key = root + "/" + key;
    if (!final && ctx.pending_targets.contains(key)) {
      *needs_deferral = true;
      return std::nullopt;
    }
    auto it = ctx.targets.find(key);
    if (it == ctx.targets.end()) return std::nullopt;
    return it->second;
  });
}

Result<search::Query> QueryForUrl(std::string_view url, const RestOptions& o, std::string_view what,
                                  int limit) {
  RouteResult routed = Route("GET", o.base_path + "/" + std::string(url), o.base_path);
  if (!routed.status.ok() || routed.interaction.route->kind != InteractionKind::kSearchType)
    return Status::Invalid(std::string(what) + " '" + std::string(url) +
                           "' is not a search of the form Type?criteria");
  return ConditionQuery(routed.interaction.type, routed.interaction.params, limit, what);
}

// The permission a write entry needs, nullopt for reads and searches.
std::optional<Permission> WritePermission(InteractionKind kind) {
  switch (kind) {
    case InteractionKind::kCreate:
      return kPermCreate;
    case InteractionKind::kUpdate:
    case InteractionKind::kConditionalUpdate:
    case InteractionKind::kPatch:
    case InteractionKind::kConditionalPatch:
      return kPermUpdate;
    case InteractionKind::kDelete:
    case InteractionKind::kConditionalDelete:
      return kPermDelete;
    default:
      return std::nullopt;
  }
}

// Everything about an entry that can be done before the write transaction.
Status PrepareEntry(Entry& e, const Context& ctx) {
  const RestOptions& o = ctx.options;
  std::string url = e.url;
  // An absolute url must be under the request's base (a tenant's, in the URL tenancy modes);
  // any other (another tenant's) is not a path of this base and fails to route.
  const std::string& base_url = ctx.links.base_url;
  if (url.starts_with(base_url + "/")) url = url.substr(base_url.size() + 1);
  while (url.starts_with("/")) url.erase(0, 1);
  if (url.empty()) return Status::Invalid("The entry has no request.url", "request.url");
  RouteResult routed = Route(e.method, o.base_path + "/" + url, o.base_path);
  if (!routed.status.ok()) return routed.status;
  e.in = std::move(routed.interaction);
  e.kind = e.in.route->kind;
  if (Status s = CheckInteraction(ctx.access, e.in); !s.ok()) return s;
  // Paging cursors of searches and histories come sealed for this tenant and caller.
  if (Status s = OpenCursorParams(ctx.links.seal, e.in.params); !s.ok()) return s;
  e.may_create = ctx.access.Reaches(e.in.type, kPermCreate);
  // Patient-context writes stay in the compartment, as single requests do (service.cc).
  if (std::optional<Permission> write = WritePermission(e.kind))
    e.guard = PatientWriteGuard(ctx.access, e.in.type, *write);
  const bool needs_resource = e.kind == InteractionKind::kCreate ||
                              e.kind == InteractionKind::kUpdate ||
                              e.kind == InteractionKind::kConditionalUpdate;
  if (needs_resource && e.resource_raw.empty())
    return Status(ErrorCode::kInvalid, "required", "A " + e.method + " entry needs a resource",
                  "resource");
  Status if_match_error;
  e.if_match = ParseIfMatch(e.if_match_header, if_match_error);
  if (!if_match_error.ok()) return if_match_error;

  switch (e.kind) {
    case InteractionKind::kCreate: {
      // A urn: fullUrl's id was assigned up front (ProcessBundle); otherwise a new one.
      auto it = ctx.targets.find(e.full_url);
      e.id = it != ctx.targets.end() ? it->second.substr(it->second.find('/') + 1)
                                     : core::NewResourceId();
      if (!e.if_none_exist.empty()) {
        if (Status s = CheckIfNoneExist(ctx.access, e.in.type); !s.ok()) return s;
        auto params = IfNoneExistParams(e.if_none_exist, e.in.type, o.base_path);
        if (!params.ok()) return params.status();
        auto query = ConditionQuery(e.in.type, *params, 2, "ifNoneExist", e.guard.compartment());
        if (!query.ok()) return query.status();
        if (Status a = CheckSearchCriteria(ctx.access, *query); !a.ok()) return a;
        e.condition = std::move(query).value();
      }
      break;
    }
    case InteractionKind::kUpdate:
      break;
    case InteractionKind::kConditionalUpdate: {
      auto query =
          ConditionQuery(e.in.type, e.in.params, 2, "A conditional update", e.guard.compartment());
      if (!query.ok()) return query.status();
      if (Status a = CheckSearchCriteria(ctx.access, *query); !a.ok()) return a;
      e.condition = std::move(query).value();
      break;
    }
    case InteractionKind::kDelete:
      break;
    case InteractionKind::kConditionalDelete: {
      auto query = ConditionQuery(e.in.type, e.in.params, o.conditional_delete_max + 1,
                                  "A conditional delete", e.guard.compartment());
      if (!query.ok()) return query.status();
      if (Status a = CheckSearchCriteria(ctx.access, *query); !a.ok()) return a;
      e.condition = std::move(query).value();
      break;
    }
    case InteractionKind::kPatch:
    case InteractionKind::kConditionalPatch: {
      if (e.resource_raw.empty())
        return Status(ErrorCode::kInvalid, "required",
                      "A PATCH entry needs a Binary (JSON Patch) or Parameters (FHIRPath Patch) "
                      "resource",
                      "resource");
      auto members = MembersOfChecked(e.resource_raw);
      if (!members) return Status::Invalid("The entry's resource is not a JSON object", "resource");
      auto type = StringOf(Member(*members, "resourceType"));
      Result<patch::Patch> parsed = Status::Invalid("");
      if (type == "Parameters") {
        parsed = patch::Patch::Parse(patch::Format::kFhirPathPatch, e.resource_raw);
      } else if (type == "Binary") {
        auto content_type = StringOf(Member(*members, "contentType")).value_or("");
        auto data = StringOf(Member(*members, "data"));
        std::optional<std::string> decoded;
        if (data) decoded = DecodeBase64(*data);
        if (content_type.substr(0, content_type.find(';')) != "application/json-patch+json" ||
            !decoded)
          return Status::Invalid(
              "A PATCH entry's Binary needs contentType application/json-patch+json and the "
              "patch, base64 encoded, in data",
              "resource");
        parsed = patch::Patch::Parse(patch::Format::kJsonPatch, *decoded);
      } else {
        return Status::Invalid(
            "A PATCH entry's resource must be a Binary (JSON Patch) or a Parameters (FHIRPath "
            "Patch)",
            "resource");
      }
      if (!parsed.ok()) return parsed.status();
      e.patch = std::move(parsed).value();
      if (e.kind == InteractionKind::kConditionalPatch) {
        auto query =
            ConditionQuery(e.in.type, e.in.params, 2, "A conditional patch", e.guard.compartment());
        if (!query.ok()) return query.status();
        if (Status a = CheckSearchCriteria(ctx.access, *query); !a.ok()) return a;
        e.condition = std::move(query).value();
      }
      break;
    }
    case InteractionKind::kRead:
      break;
    case InteractionKind::kVRead:
      break;
    case InteractionKind::kSearchType:
    case InteractionKind::kSearchSystem:
    case InteractionKind::kSearchCompartment: {
      search::SearchParams params;
      for (const auto& [k, v] : e.in.params) {
        if (k == "_format" || k == "_pretty") continue;
        params.emplace_back(k, v);
      }
      search::QueryOptions options;
      options.default_count = o.default_count;
      options.max_count = o.max_count;
      options.max_includes = o.max_includes;
      // What the search ranges over and where its links point, as for GET (service.cc).
      std::vector<std::string> types;
      if (e.kind == InteractionKind::kSearchType) {
        if (Status s = PrepareSearch(ctx.access, e.in, types, options, params); !s.ok()) return s;
        e.link_path = e.in.type;
      } else if (e.kind == InteractionKind::kSearchCompartment) {
        const fhir::CompartmentDef* compartment = fhir::FindCompartment(e.in.type);
        if (compartment == nullptr) return Status::NotFound(e.in.type + " is not a compartment");
        if (Status s = PrepareSearch(ctx.access, e.in, types, options, params); !s.ok()) return s;
        e.link_path = e.in.type + "/" + e.in.id + "/" + e.in.search_type;
      }
      auto query = search::ParseQuery(types, params, options);
      if (!query.ok()) return query.status();
      if (e.kind == InteractionKind::kSearchSystem) {
        bool narrow = false;
        std::vector<std::string> permitted;
        if (Status s = NarrowSystemSearch(ctx.access, *query, narrow, permitted, options); !s.ok())
          return s;
        if (narrow) {
          query = search::ParseQuery(permitted, params, options);
          if (!query.ok()) return query.status();
        }
      }
      if (Status s = CheckSearchCriteria(ctx.access, *query); !s.ok()) return s;
      e.search = std::move(query).value();
      break;
    }
    case InteractionKind::kHistoryInstance:
    case InteractionKind::kHistoryType:
    case InteractionKind::kHistorySystem: {
      auto query = ParseHistoryQuery(e.in, o.default_count, o.max_count);
      if (!query.ok()) return query.status();
      e.history = std::move(query).value();
      e.history->tenant = ctx.access.tenant;
      break;
    }
    default:
      return Status(ErrorCode::kNotImplemented, "not-supported",
                    "The " + std::string(e.in.route->label) +
                        " interaction is not supported in a Bundle entry");
  }

  if (needs_resource) {
    bool deferral = false;
    e.text = RewriteFor(e, ctx, e.resource_raw, false, &deferral);
    RewriteReferences(e.text, [&](std::string_view ref) -> std::optional<std::string> {
      if (!IsConditionalReference(ref)) return std::nullopt;
      std::string key(ref);
      for (const auto& [k, q] : e.conditional_refs)
        if (k == key) return std::nullopt;
      auto query = QueryForUrl(key, o, "The conditional reference", 2);
      if (query.ok() && ctx.access.enabled()) {
        // Resolving it searches the referenced type: the caller must be allowed to.
        Status a = query->types.size() == 1 && ctx.access.Allows(query->types[0], kPermSearch)
                       ? CheckSearchCriteria(ctx.access, *query)
                       : Forbidden(query->types.empty() ? "*" : query->types[0], kPermSearch,
                                   "the conditional reference " + key);
        if (!a.ok()) query = a;
      }
      if (!query.ok()) {
        deferral = false;
        e.status = query.status();
        return std::nullopt;
      }
      e.conditional_refs.emplace_back(key, std::move(query).value());
      return std::nullopt;
    });
    if (!e.status.ok()) return e.status;
    e.deferred = deferral || !e.conditional_refs.empty();
    // Validate now even when deferred, so most problems are found before the write; a deferred
    // entry is validated again once its references are final.
    if (Status s = RenderEntry(e, ctx, !e.deferred); !s.ok()) return s;
  }
  return Status::Ok();
}

// Inside the write: finds the target of a POST's ifNoneExist.
// Searches inside the entry's write transaction (for access checks that look at data).
SearchFn TxnSearch(StoreTxn& txn, const Context& ctx) {
  return
      [&txn, &tenant = ctx.access.tenant](const search::Query& q) { return txn.Search(tenant, q); };
}

Status ResolveIfNoneExist(StoreTxn& txn, Entry& e, Context& ctx) {
  if (!e.condition) return Status::Ok();
  auto found = txn.Search(ctx.access.tenant, *e.condition);
  if (!found.ok()) return found.status();
  if (found->matches.size() > 1)
    return Status::PreconditionFailed("ifNoneExist: more than one " + e.in.type +
                                      " matches the criteria; they must select at most one");
  if (found->matches.size() == 1) {
    e.existing = std::move(found->matches.front());
    if (!e.full_url.empty() && ctx.targets.contains(e.full_url))
      ctx.targets[e.full_url] = e.in.type + "/" + e.existing->info.id;
  }
  return Status::Ok();
}

// Inside the write: final references and rendering of a deferred entry.
Status RenderDeferred(StoreTxn& txn, Entry& e, Context& ctx) {
  if (!e.deferred) return Status::Ok();
  std::map<std::string, std::string> resolved;
  for (const auto& [ref, query] : e.conditional_refs) {
    auto found = txn.Search(ctx.access.tenant, query);
    if (!found.ok()) return found.status();
    if (found->matches.size() != 1)
      return Status::PreconditionFailed(
          "The conditional reference '" + ref + "' must match exactly one resource; it matches " +
          (found->matches.empty() ? std::string("none") : std::string("more than one")));
    resolved[ref] = found->matches.front().info.type + "/" + found->matches.front().info.id;
  }
  bool unused = false;
  std::string text = RewriteFor(e, ctx, e.resource_raw, true, &unused);
  e.text = RewriteReferences(text, [&](std::string_view ref) -> std::optional<std::string> {
    auto it = resolved.find(std::string(ref));
    if (it == resolved.end()) return std::nullopt;
    return it->second;
  });
  return RenderEntry(e, ctx, true);
}

class Touched {
 public:
  Status Add(const std::string& type, const std::string& id) {
    if (!keys_.insert(type + "/" + id).second)
      return Status::Invalid("More than one entry of the transaction writes " + type + "/" + id);
    return Status::Ok();
  }

 private:
  std::set<std::string> keys_;
};

// Inside the write: runs one entry.
Status ExecuteEntry(StoreTxn& txn, Entry& e, Context& ctx, Touched& touched) {
  const RestOptions& o = ctx.options;
  WriteState& state = e.state;
  switch (e.kind) {
    case InteractionKind::kCreate: {
      if (e.existing) {
        state.stored = *e.existing;
        state.changed = false;
        e.http_status = 200;
        e.has_version = true;
        return touched.Add(e.in.type, state.stored.info.id);
      }
      if (Status s = touched.Add(e.in.type, e.id); !s.ok()) return s;
      if (Status s = e.guard.After(state.index); !s.ok()) return s;
      if (Status s = AppendCreate(txn, state, ResourceKey{ctx.access.tenant, e.in.type, e.id});
          !s.ok())
        return s;
      if (Status s = e.guard.Written(txn, e.id, true); !s.ok()) return s;
      e.http_status = 201;
      e.has_version = true;
      return Status::Ok();
    }
    case InteractionKind::kUpdate: {
      if (Status s = touched.Add(e.in.type, e.in.id); !s.ok()) return s;
      if (Status s = e.guard.Before(txn, e.in.id); !s.ok()) return s;
      if (Status s = e.guard.After(state.index); !s.ok()) return s;
      if (!e.may_create) {
        auto latest = txn.ReadLatest(ResourceKey{ctx.access.tenant, e.in.type, e.in.id});
        if (!latest.ok()) return latest.status();
        if (!*latest || (*latest)->info.deleted)
          return Forbidden(e.in.type, kPermCreate,
                           "an update that creates " + e.in.type + "/" + e.in.id);
      }
      if (Status s = AppendUpdate(txn, state, ResourceKey{ctx.access.tenant, e.in.type, e.in.id},
                                  e.if_match);
          !s.ok())
        return s;
      if (Status s = e.guard.Written(txn, e.in.id, state.created); !s.ok()) return s;
      e.http_status = state.created ? 201 : 200;
      e.has_version = true;
      return Status::Ok();
    }
    case InteractionKind::kConditionalUpdate: {
      const std::string& type = e.in.type;
      auto found = txn.Search(ctx.access.tenant, *e.condition);
      if (!found.ok()) return found.status();
      if (found->matches.size() > 1)
        return Status::PreconditionFailed("Conditional update: more than one " + type +
                                          " matches the criteria");
      std::optional<std::string> body_id;
      if (state.resource.has_id) body_id = state.resource.id;
      ResourceKey target{ctx.access.tenant, type, ""};
      if (found->matches.size() == 1) {
        target.id = found->matches.front().info.id;
        if (body_id && *body_id != target.id)
          return Status(ErrorCode::kInvalid, "invalid",
                        "The resource's id '" + *body_id + "' is not the id of the " + type +
                            " the criteria select ('" + target.id + "')",
                        type + ".id");
      } else if (e.if_match) {
        return Status::PreconditionFailed("If-Match: no " + type + " matches the criteria");
      } else if (!e.may_create) {
        return Forbidden(type, kPermCreate, "a conditional update that creates a " + type);
      } else if (!body_id) {
        target.id = core::NewResourceId();
        if (Status s = e.guard.After(state.index); !s.ok()) return s;
        if (Status s = touched.Add(type, target.id); !s.ok()) return s;
        if (Status s = AppendCreate(txn, state, target); !s.ok()) return s;
        if (Status s = e.guard.Written(txn, target.id, true); !s.ok()) return s;
        e.http_status = 201;
        e.has_version = true;
        return Status::Ok();
      } else {
        target.id = *body_id;
        auto latest = txn.ReadLatest(target);
        if (!latest.ok()) return latest.status();
        if (*latest && !(*latest)->info.deleted)
          return Status::Conflict(type + "/" + target.id +
                                  " exists but does not match the criteria");
        if (Status s = e.guard.Before(txn, target.id); !s.ok()) return s;
      }
      if (Status s = e.guard.After(state.index); !s.ok()) return s;
      if (Status s = touched.Add(type, target.id); !s.ok()) return s;
      if (Status s = AppendUpdate(txn, state, target, e.if_match); !s.ok()) return s;
      if (Status s = e.guard.Written(txn, target.id, state.created); !s.ok()) return s;
      e.http_status = state.created ? 201 : 200;
      e.has_version = true;
      return Status::Ok();
    }
    case InteractionKind::kDelete: {
      if (Status s = touched.Add(e.in.type, e.in.id); !s.ok()) return s;
      if (Status s = e.guard.Before(txn, e.in.id); !s.ok()) return s;
      if (Status s = AppendDelete(txn, state, ResourceKey{ctx.access.tenant, e.in.type, e.in.id});
          !s.ok())
        return s;
      e.http_status = 204;
      e.has_version = state.changed;
      return Status::Ok();
    }
    case InteractionKind::kConditionalDelete: {
      auto found = txn.Search(ctx.access.tenant, *e.condition);
      if (!found.ok()) return found.status();
      const int limit = o.conditional_delete_max;
      if (static_cast<int64_t>(found->matches.size()) > limit)
        return Status::PreconditionFailed("Conditional delete: more than " + std::to_string(limit) +
                                          " " + e.in.type + " match the criteria");
      for (const StoredResource& match : found->matches) {
        if (Status s = touched.Add(e.in.type, match.info.id); !s.ok()) return s;
        WriteState one;
        Status s = AppendDelete(txn, one, ResourceKey{ctx.access.tenant, e.in.type, match.info.id});
        if (!s.ok()) return s;
        if (one.changed) {
          ++state.deleted;
          state.stored = std::move(one.stored);
        }
      }
      e.http_status = 204;
      e.has_version = state.deleted == 1;
      return Status::Ok();
    }
    case InteractionKind::kPatch:
    case InteractionKind::kConditionalPatch: {
      ResourceKey target{ctx.access.tenant, e.in.type, e.in.id};
      if (e.condition) {
        auto found = txn.Search(ctx.access.tenant, *e.condition);
        if (!found.ok()) return found.status();
        if (found->matches.empty())
          return Status::NotFound("Conditional patch: no " + e.in.type + " matches the criteria");
        if (found->matches.size() > 1)
          return Status::PreconditionFailed("Conditional patch: more than one " + e.in.type +
                                            " matches the criteria");
        target.id = found->matches.front().info.id;
      }
      if (Status s = touched.Add(target.type, target.id); !s.ok()) return s;
      if (Status s = e.guard.Before(txn, target.id); !s.ok()) return s;
      if (Status s = AppendPatch(txn, state, target, *e.patch, e.if_match, o.validation); !s.ok())
        return s;
      // The patched version must still be in the compartment, and match a granular scope
      // (failing rolls it back).
      if (Status s = e.guard.After(state.index); !s.ok()) return s;
      if (Status s = e.guard.Written(txn, target.id, false); !s.ok()) return s;
      e.http_status = 200;
      e.has_version = true;
      return Status::Ok();
    }
    case InteractionKind::kRead:
    case InteractionKind::kVRead: {
      ResourceKey key{ctx.access.tenant, e.in.type, e.in.id};
      // Patient context: only resources in the patient's compartment.
      if (Status s = CheckReadable(ctx.access, TxnSearch(txn, ctx), key.type, key.id); !s.ok())
        return s;
      auto latest = txn.ReadLatest(key);
      if (!latest.ok()) return latest.status();
      std::optional<StoredResource> res;
      if (e.kind == InteractionKind::kRead) {
        res = std::move(*latest);
        if (!res) return Status::NotFound(key.type + "/" + key.id + " is not known");
        if (res->info.deleted) return Status::Gone(key.type + "/" + key.id + " was deleted");
      } else {
        if (*latest && std::to_string((*latest)->info.version) == e.in.vid) {
          res = std::move(*latest);
        } else {
          res = e.version_read;
        }
        if (!res) return Status::NotFound(key.type + "/" + key.id + " has no version " + e.in.vid);
        if (res->info.deleted)
          return Status::Gone(key.type + "/" + key.id + " version " + e.in.vid + " is a deletion");
      }
      bool not_modified = false;
      if (!e.if_none_match.empty()) {
        not_modified = core::TrimSpaces(e.if_none_match) == "*" ||
                       ParseVersionETag(e.if_none_match) == res->info.version;
      } else if (!e.if_modified_since.empty()) {
        std::optional<int64_t> since = core::ParseHttpDate(core::TrimSpaces(e.if_modified_since));
        if (!since) {
          // Bundle.entry.request.ifModifiedSince is an instant.
          if (auto range = core::ParseFhirDateTime(e.if_modified_since)) since = range->low;
        }
        not_modified = since && res->info.last_updated / 1000000 <= *since / 1000000;
      }
      state.stored = std::move(*res);
      e.has_version = true;
      e.http_status = not_modified ? 304 : 200;
      if (!not_modified) e.resource_json = state.stored.json;
      return Status::Ok();
    }
    case InteractionKind::kSearchType:
    case InteractionKind::kSearchSystem:
    case InteractionKind::kSearchCompartment: {
      auto page = txn.Search(ctx.access.tenant, *e.search);
      if (!page.ok()) return page.status();
      if (Status s = FilterPage(ctx.access, TxnSearch(txn, ctx), *page); !s.ok()) return s;
      e.resource_json = SearchBundleJson(ctx.links, e.link_path, *e.search, *page);
      e.http_status = 200;
      return Status::Ok();
    }
    case InteractionKind::kHistoryInstance: {
      // The page is read after the commit (ReadHistory); an unknown resource fails here, where
      // it can still fail a transaction.
      if (Status s = CheckReadable(ctx.access, TxnSearch(txn, ctx), e.in.type, e.in.id); !s.ok())
        return s;
      auto latest = txn.ReadLatest(ResourceKey{ctx.access.tenant, e.in.type, e.in.id});
      if (!latest.ok()) return latest.status();
      if (!*latest) return Status::NotFound(e.in.type + "/" + e.in.id + " is not known");
      return Status::Ok();
    }
    case InteractionKind::kHistoryType:
    case InteractionKind::kHistorySystem:
      return Status::Ok();  // read after the commit (ReadHistory)
    default:
      return Status(ErrorCode::kNotImplemented, "not-supported",
                    "This interaction is not supported in a Bundle entry");
  }
}

// One batch entry, or one entry of a transaction in its phase: resolve, render, run.
Status RunEntry(StoreTxn& txn, Entry& e, Context& ctx, Touched& touched) {
  if (e.kind == InteractionKind::kCreate) {
    if (Status s = ResolveIfNoneExist(txn, e, ctx); !s.ok()) return s;
  }
  if (Status s = RenderDeferred(txn, e, ctx); !s.ok()) return s;
  return ExecuteEntry(txn, e, ctx, touched);
}

int Phase(InteractionKind kind) {
  switch (kind) {
    case InteractionKind::kDelete:
    case InteractionKind::kConditionalDelete:
      return 0;
    case InteractionKind::kCreate:
      return 1;
    case InteractionKind::kUpdate:
    case InteractionKind::kConditionalUpdate:
    case InteractionKind::kPatch:
    case InteractionKind::kConditionalPatch:
      return 2;
    default:
      return 3;
  }
}

Status RunTransaction(StoreTxn& txn, std::vector<Entry>& entries, Context& ctx) {
  Touched touched;
  // Every ifNoneExist is resolved before any entry renders its references to those fullUrls.
  auto run_phase = [&](int phase) -> Status {
    for (Entry& e : entries) {
      if (Phase(e.kind) != phase) continue;
      if (Status s = ExecuteEntry(txn, e, ctx, touched); !s.ok()) return EntryError(e, s);
    }
    return Status::Ok();
  };
  if (Status s = run_phase(0); !s.ok()) return s;
  for (Entry& e : entries) {
    if (e.kind != InteractionKind::kCreate) continue;
    if (Status s = ResolveIfNoneExist(txn, e, ctx); !s.ok()) return EntryError(e, s);
  }
  for (Entry& e : entries) {
    if (Status s = RenderDeferred(txn, e, ctx); !s.ok()) return EntryError(e, s);
  }
  for (int phase = 1; phase <= 3; ++phase) {
    if (Status s = run_phase(phase); !s.ok()) return s;
  }
  return Status::Ok();
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

void AppendResponseEntry(std::string& out, const Entry& e, const std::string& base_url,
                         ReturnPreference prefer, std::string_view request_id) {
  out += '{';
  const StoredResource& stored = e.state.stored;
  bool wrote = e.status.ok() && e.has_version && !stored.info.deleted &&
               e.kind != InteractionKind::kRead && e.kind != InteractionKind::kVRead;
  std::string_view resource;
  if (e.status.ok()) {
    if (!e.resource_json.empty()) {
      resource = e.resource_json;
    } else if (wrote && prefer == ReturnPreference::kRepresentation) {
      resource = stored.json;
    }
  }
  if (e.status.ok() && e.has_version && !stored.info.deleted) {
    out += "\"fullUrl\":";
    AppendJsonString(out, base_url + "/" + stored.info.type + "/" + stored.info.id);
    out += ',';
  }
  if (!resource.empty()) {
    out += "\"resource\":";
    out += resource;
    out += ',';
  }
  int status = e.status.ok() ? e.http_status : HttpStatusFor(e.status.error());
  out += "\"response\":{\"status\":";
  AppendJsonString(out, std::to_string(status) + " " + ReasonPhrase(status));
  if (e.status.ok() && e.has_version) {
    if (wrote) {
      out += ",\"location\":";
      AppendJsonString(out, VersionLocation(base_url, stored.info));
    }
    out += ",\"etag\":";
    AppendJsonString(out, "W/\"" + std::to_string(stored.info.version) + "\"");
    out += ",\"lastModified\":";
    AppendJsonString(out, core::FormatInstant(stored.info.last_updated));
  }
  if (!e.status.ok()) {
    out += ",\"outcome\":";
    out += OperationOutcomeJson(e.status, request_id);
  } else if (wrote && prefer == ReturnPreference::kOperationOutcome) {
    std::vector<Issue> issues = e.state.warnings;
    issues.insert(issues.begin(), Issue{Severity::kInformation, "informational",
                                        std::string(e.http_status == 201 ? "Created" : "Updated") +
                                            " " + stored.info.type + "/" + stored.info.id +
                                            " version " + std::to_string(stored.info.version),
                                        ""});
    out += ",\"outcome\":";
    out += IssuesOutcomeJson(issues);
  }
  out += "}}";
}

// One batch or transaction being processed: owns the body its entries point into.
struct Job {
  std::string body;
  ReturnPreference prefer = ReturnPreference::kRepresentation;
  std::string request_id;
  bool transaction = false;
  std::vector<Entry> entries;
  std::unique_ptr<Context> ctx;
  BundleDone done;
  std::atomic<size_t> pending{0};  // batch: entries whose write has not finished
};

// Runs PrepareEntry on every entry not failed yet. Validating and indexing are most of a large
// Bundle's work before its write, and entries are independent there (PrepareEntry only reads
// `ctx`), so chunks of entries are prepared on the worker pool as well as on the calling thread.
// Whoever created it claims chunks too (Claim) until none is left, so every chunk is prepared
// even when the pool is busy, and waiting for a chunk (WaitFor) cannot deadlock as long as the
// creator's thread is not the one waiting.
class ChunkedPrep : public std::enable_shared_from_this<ChunkedPrep> {
 public:
  static constexpr size_t kChunk = 32;

  // `keep_alive` owns `entries` and `ctx` (helpers may run after the creator returned).
  ChunkedPrep(std::vector<Entry>& entries, const Context& ctx, std::shared_ptr<void> keep_alive)
      : entries_(entries),
        ctx_(ctx),
        keep_alive_(std::move(keep_alive)),
        chunks_((entries.size() + kChunk - 1) / kChunk),
        done_(chunks_, false) {}

  // One helper per chunk beyond the creator's first, as far as the pool has threads to give.
  void StartHelpers(core::ThreadPool& workers) {
    for (size_t i = 1; i < std::min<size_t>(chunks_, 4); ++i)
      workers.Post([self = shared_from_this()] { self->Claim(); });
  }

  // Prepares chunks until every chunk is claimed.
  void Claim() {
    for (size_t chunk = next_++; chunk < chunks_; chunk = next_++) {
      size_t end = std::min(entries_.size(), (chunk + 1) * kChunk);
      for (size_t i = chunk * kChunk; i < end; ++i) {
        Entry& e = entries_[i];
        if (e.status.ok()) e.status = PrepareEntry(e, ctx_);
      }
      std::lock_guard lock(mu_);
      done_[chunk] = true;
      ++finished_;
      cv_.notify_all();
    }
  }

  // Until the chunk holding entry `index` is prepared.
  void WaitForEntry(size_t index) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_[index / kChunk]; });
  }

  void WaitAll() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return finished_ == chunks_; });
  }

 private:
  std::vector<Entry>& entries_;
  const Context& ctx_;
  std::shared_ptr<void> keep_alive_;
  const size_t chunks_;
  std::atomic<size_t> next_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> done_;  // guarded by mu_
  size_t finished_ = 0;     // guarded by mu_
};

void PrepareEntries(std::vector<Entry>& entries, const Context& ctx, core::ThreadPool& workers) {
  auto prep = std::make_shared<ChunkedPrep>(entries, ctx, nullptr);
  prep->StartHelpers(workers);
  prep->Claim();
  prep->WaitAll();
}

// The phase (Phase) a streamed transaction's entry will have once routed, from its request
// alone; -1 when the entry is not one a streamed transaction takes.
int StreamedPhase(const Entry& e) {
  if (!e.if_none_exist.empty() || e.url.find('?') != std::string::npos) return -1;
  // No conditional reference can hide in a resource without a '?' (they are Type?query).
  if (e.resource_raw.empty() || e.resource_raw.find('?') != std::string_view::npos) return -1;
  size_t slashes = static_cast<size_t>(std::count(e.url.begin(), e.url.end(), '/'));
  if (e.method == "POST" && slashes == 0) return 1;  // create
  if (e.method == "PUT" && slashes == 1) return 2;   // update
  return -1;
}

// A transaction of creates and updates only, without ifNoneExist or conditional references, as
// the likes of Synthea send: its entries need nothing from each other's preparation nor from a
// pass over all of them before the first write, so the write can start while later entries are
// still being prepared (RunStreamedTransaction).
bool Streamable(std::vector<Entry>& entries) {
  if (entries.size() <= ChunkedPrep::kChunk) return false;
  for (const Entry& e : entries)
    if (!e.status.ok() || StreamedPhase(e) < 0) return false;
  // Decided now, from the requests alone: the writer reads it while entries are being prepared.
  for (Entry& e : entries) e.streamed_phase = StreamedPhase(e);
  return true;
}

// RunTransaction for a Streamable transaction, overlapping its write with the preparation of the
// entries still being prepared: each entry is written as soon as its chunk is ready, in the same
// order as RunTransaction (creates, then updates). Any failure fails the whole transaction, and
// then, as in the unstreamed path, a failed preparation is reported before a failed write: the
// first entry (in Bundle order) whose preparation failed, once all are prepared.
Status RunStreamedTransaction(StoreTxn& txn, std::vector<Entry>& entries, Context& ctx,
                              ChunkedPrep& prep) {
  auto preparation_failure = [&]() -> std::optional<Status> {
    prep.WaitAll();
    for (const Entry& e : entries)
      if (!e.status.ok()) return EntryError(e, e.status);
    return std::nullopt;
  };
  Touched touched;
  for (int phase = 1; phase <= 2; ++phase) {
    for (size_t i = 0; i < entries.size(); ++i) {
      Entry& e = entries[i];
      if (e.streamed_phase != phase) continue;
      prep.WaitForEntry(i);
      if (!e.status.ok()) return *preparation_failure();
      Status s = Phase(e.kind) == phase
                     ? RenderDeferred(txn, e, ctx)
                     : Status::Internal("a streamed transaction entry changed its phase");
      if (s.ok()) s = ExecuteEntry(txn, e, ctx, touched);
      if (!s.ok()) {
        if (std::optional<Status> failed = preparation_failure()) return *failed;
        return EntryError(e, s);
      }
    }
  }
  return Status::Ok();
}

// Everything before the write: the Bundle's shape, every entry parsed and prepared, vreads.
// A failed Status is the answer to the whole request.
Status PrepareJob(Job& job, const Access& access, const LinkBase& links, const RestOptions& options,
                  Store& store, core::ThreadPool& workers, bool* streamed) {
  auto bundle = MembersOf(job.body);
  if (!bundle) return Status(ErrorCode::kInvalid, "structure", "The body is not a JSON object");
  if (StringOf(Member(*bundle, "resourceType")) != "Bundle")
    return Status(ErrorCode::kInvalid, "invalid",
                  "POST to the base takes a Bundle of type batch or transaction", "resourceType");
  std::optional<std::string> type = StringOf(Member(*bundle, "type"));
  if (type != "batch" && type != "transaction")
    return Status(ErrorCode::kInvalid, "invalid",
                  "The Bundle's type must be batch or transaction, not " +
                      (type ? "'" + *type + "'" : std::string("absent")),
                  "Bundle.type");
  const bool transaction = *type == "transaction";
  job.transaction = transaction;
  if (Status s = CheckBundleInteraction(access, transaction); !s.ok()) return s;
  std::vector<std::string_view> raw_entries;
  if (std::string_view raw = Member(*bundle, "entry"); !raw.empty()) {
    auto elements = ElementsOfChecked(raw);  // checked by MembersOf(job.body)
    if (!elements) return Status::Invalid("Bundle.entry must be an array", "Bundle.entry");
    raw_entries = std::move(*elements);
  }
  if (static_cast<int64_t>(raw_entries.size()) > options.max_bundle_entries)
    return Status(ErrorCode::kTooLarge, "too-costly",
                  "The Bundle has " + std::to_string(raw_entries.size()) +
                      " entries; this server takes at most " +
                      std::to_string(options.max_bundle_entries) + " (--max-bundle-entries)",
                  "Bundle.entry");

  job.ctx = std::make_unique<Context>(Context{options, transaction, access, links, {}, {}});
  Context& ctx = *job.ctx;
  std::vector<Entry>& entries = job.entries;
  entries.resize(raw_entries.size());
  for (size_t i = 0; i < raw_entries.size(); ++i) {
    Entry& e = entries[i];
    e.index = i;
    auto members = MembersOfChecked(raw_entries[i]);
    if (!members) {
      e.status = Status::Invalid("The entry is not a JSON object");
      continue;
    }
    e.full_url = StringOf(Member(*members, "fullUrl")).value_or("");
    e.resource_raw = Member(*members, "resource");
    auto request = MembersOfChecked(Member(*members, "request"));
    if (!request) {
      e.status = Status(ErrorCode::kInvalid, "required", "The entry has no request", "request");
      continue;
    }
    e.method = StringOf(Member(*request, "method")).value_or("");
    e.url = StringOf(Member(*request, "url")).value_or("");
    e.if_none_exist = StringOf(Member(*request, "ifNoneExist")).value_or("");
    e.if_match_header = StringOf(Member(*request, "ifMatch")).value_or("");
    e.if_none_match = StringOf(Member(*request, "ifNoneMatch")).value_or("");
    e.if_modified_since = StringOf(Member(*request, "ifModifiedSince")).value_or("");
    if (e.method.empty() || e.url.empty())
      e.status = Status(ErrorCode::kInvalid, "required",
                        "The entry's request needs a method and a url", "request");
  }
  // Transaction: the ids that urn: and RESTful fullUrls stand for, known before any entry is
  // rendered.
  if (transaction) {
    for (Entry& e : entries) {
      if (!e.status.ok() || (!IsLocalUrn(e.full_url) && RestfulRoot(e.full_url).empty())) continue;
      std::string path = e.url.substr(0, e.url.find('?'));
      if (e.method == "POST" && path.find('/') == std::string::npos) {
        if (ctx.targets.contains(e.full_url)) {
          e.status = Status::Invalid("fullUrl " + e.full_url + " is used by more than one entry",
                                     "fullUrl");
          continue;
        }
        ctx.targets[e.full_url] = path + "/" + core::NewResourceId();
        if (!e.if_none_exist.empty()) ctx.pending_targets.insert(e.full_url);
      } else if (e.method == "PUT" && e.url.find('?') == std::string::npos) {
        ctx.targets[e.full_url] = path;
      }
    }
  }
  // A Streamable transaction's entries are prepared while it is written (ProcessBundle).
  *streamed = transaction && Streamable(entries);
  if (*streamed) return Status::Ok();
  PrepareEntries(entries, ctx, workers);
  if (transaction) {
    for (Entry& e : entries) {
      if (!e.status.ok()) return EntryError(e, e.status);
    }
  }
  // vread: versions are immutable, so they are read before the write (one written by this very
  // transaction is picked up inside it).
  for (Entry& e : entries) {
    if (!e.status.ok() || e.kind != InteractionKind::kVRead) continue;
    int64_t vid = 0;
    auto [p, ec] = std::from_chars(e.in.vid.data(), e.in.vid.data() + e.in.vid.size(), vid);
    if (ec != std::errc() || vid < 1) continue;
    auto found = store.ReadVersion(ResourceKey{ctx.access.tenant, e.in.type, e.in.id}, vid);
    if (!found.ok()) return found.status();
    e.version_read = std::move(*found);
  }

  return Status::Ok();
}

// History entries read the store after the commit (StoreTxn has no history): they see the
// transaction's writes, and possibly later ones. A failure here cannot undo a committed
// transaction; it is reported in the entry.
void ReadHistory(Job& job, Store& store) {
  const Context& ctx = *job.ctx;
  for (Entry& e : job.entries) {
    if (!e.status.ok() || !e.history) continue;
    if (e.kind == InteractionKind::kHistoryInstance) {
      auto exists = store.Read({ctx.access.tenant, e.in.type, e.in.id});
      if (!exists.ok()) {
        e.status = exists.status();
        continue;
      }
      if (!exists->has_value()) {
        e.status = Status::NotFound(e.in.type + "/" + e.in.id + " is not known");
        continue;
      }
    }
    std::optional<int64_t> next_before;
    const Access& access = job.ctx->access;
    auto page = HistoryIsRestricted(access, e.in)
                    ? RestrictedHistory(
                          access,
                          [&store, &access](const search::Query& q) {
                            return store.Search(access.tenant, q);
                          },
                          [&store](const HistoryQuery& q) { return store.History(q); }, *e.history,
                          next_before)
                    : store.History(*e.history);
    if (!page.ok()) {
      e.status = page.status();
      continue;
    }
    e.resource_json = HistoryBundleJson(ctx.links, e.in, *e.history, *page, next_before);
    e.http_status = 200;
  }
}

std::string ResponseJson(const Job& job) {
  std::string out;
  out.reserve(256 * job.entries.size());
  AppendBundleStart(out, job.transaction ? "transaction-response" : "batch-response");
  out += ",\"entry\":[";
  for (size_t i = 0; i < job.entries.size(); ++i) {
    if (i > 0) out += ',';
    AppendResponseEntry(out, job.entries[i], job.ctx->links.base_url, job.prefer, job.request_id);
  }
  out += "]}";
  return out;
}

}  // namespace

void ProcessBundle(std::string body, ReturnPreference prefer, std::string request_id,
                   const Access& access, const LinkBase& links, const RestOptions& options,
                   Store& store, core::ThreadPool& workers, BundleDone done) {
  auto job = std::make_shared<Job>();
  job->body = std::move(body);
  job->prefer = prefer;
  job->request_id = std::move(request_id);
  bool streamed = false;
  if (Status s = PrepareJob(*job, access, links, options, store, workers, &streamed); !s.ok())
    return done(s);
  job->done = std::move(done);
  // Runs on the writer thread: the response is built on a worker.
  auto finish = [job, &store, &workers](Status s) {
    workers.Post([job, &store, s = std::move(s)] {
      if (!s.ok()) return job->done(s);
      ReadHistory(*job, store);
      job->done(ResponseJson(*job));
    });
  };
  if (streamed) {
    // The writer starts on the entries as their chunks are prepared; this thread prepares
    // chunks too, so the writer never waits for a chunk nobody works on.
    auto prep = std::make_shared<ChunkedPrep>(job->entries, *job->ctx, job);
    prep->StartHelpers(workers);
    store.Write(
        [job, prep](StoreTxn& txn) -> Status {
          return RunStreamedTransaction(txn, job->entries, *job->ctx, *prep);
        },
        finish);
    prep->Claim();
    return;
  }
  if (job->transaction) {
    store.Write(
        [job](StoreTxn& txn) -> Status { return RunTransaction(txn, job->entries, *job->ctx); },
        finish);
    return;
  }
  // Batch: each entry its own write, all queued at once so that they share commits.
  size_t pending = 0;
  for (const Entry& e : job->entries) pending += e.status.ok() ? 1 : 0;
  if (pending == 0) return finish(Status::Ok());
  job->pending = pending;
  for (Entry& e : job->entries) {
    if (!e.status.ok()) continue;
    Entry* entry = &e;
    store.Write(
        [job, entry](StoreTxn& txn) -> Status {
          Touched touched;
          return RunEntry(txn, *entry, *job->ctx, touched);
        },
        [job, entry, finish](Status s) {
          entry->status = std::move(s);
          if (job->pending.fetch_sub(1) == 1) finish(Status::Ok());
        });
  }
}

}  // namespace kiln::rest
