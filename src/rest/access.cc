#include "rest/access.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/log.h"
#include "fhir/definitions.h"

namespace kiln::rest {
namespace {

std::string_view LetterOf(Permission p) {
  switch (p) {
    case kPermCreate:
      return "c (create)";
    case kPermRead:
      return "r (read)";
    case kPermUpdate:
      return "u (update)";
    case kPermDelete:
      return "d (delete)";
    case kPermSearch:
      return "s (search)";
  }
  return "?";
}

bool InPatientCompartmentDefinition(std::string_view type) {
  return !fhir::CompartmentParams("Patient", type).empty();
}

Status Need(const Access& access, std::string_view type, Permission p, std::string_view what) {
  if (access.Reaches(type, p)) return Status::Ok();
  return Forbidden(type, p, what);
}

Status NeedAll(const Access& access, std::string_view type, Permission p, std::string_view what) {
  Reach r = access.ReachOf(type, p);
  if (r == Reach::kAll) return Status::Ok();
  if (r == Reach::kNone) return Forbidden(type, p, what);
  return Status(ErrorCode::kForbidden, "forbidden",
                "insufficient_scope: " + std::string(what) + " on " + std::string(type) +
                    " is not available to a token whose access to it is restricted (to a patient's "
                    "compartment, or by a granular scope)");
}

// Rules that name FHIR interactions (auth mode "groups") tell apart what one permission covers:
// vread from read, patch from update, the histories and system search from search-type.
Status NeedInteraction(const Access& access, std::string_view interaction, std::string_view type) {
  if (access.authorizer->PermitsInteraction(access.principal, interaction, type))
    return Status::Ok();
  return Status(ErrorCode::kForbidden, "forbidden",
                "insufficient_scope: the " + std::string(interaction) + " interaction" +
                    (type.empty() || type == "*" ? std::string() : " on " + std::string(type)) +
                    " is not granted to the caller");
}

// Conditional writes select their target by a search of their own: not combined with a granular
// scope's (the answer would tell about resources outside it), so refused.
Status NotFiltered(const Access& access, std::string_view type, Permission p,
                   std::string_view what) {
  if (access.ReachOf(type, p) != Reach::kFiltered) return Status::Ok();
  return Status(ErrorCode::kForbidden, "forbidden",
                "insufficient_scope: " + std::string(what) + " of " + std::string(type) +
                    " is not available to a token whose access to it is limited by a granular "
                    "scope (write the resource by id)");
}

void CollectCriterionTypes(const search::Criterion& c, std::vector<std::string>& out) {
  if (c.kind == search::Criterion::Kind::kChain) {
    out.insert(out.end(), c.targets.begin(), c.targets.end());
  } else if (c.kind == search::Criterion::Kind::kHas) {
    out.push_back(c.has_type);
  }
  for (const search::Criterion& n : c.next) CollectCriterionTypes(n, out);
}

// What a restricted reach limits a caller to: a patient's compartment, a granular scope's search,
// or both.
struct Restriction {
  std::string patient;          // "": no compartment
  search::SearchParams filter;  // empty: no granular search
};

Restriction RestrictionOf(const Access& access, const std::string& type, Permission permission) {
  Restriction r;
  switch (access.ReachOf(type, permission)) {
    case Reach::kPatientCompartment:
      r.patient = access.principal.patient;
      break;
    case Reach::kFiltered:
      if (auto grant = access.FilterOf(type, permission)) {
        r.filter = grant->params;
        if (grant->patient_compartment) r.patient = access.principal.patient;
      }
      break;
    case Reach::kNone:
    case Reach::kAll:
      break;
  }
  return r;
}

// A granular scope's query must be a pure filter that binds for `type`: otherwise lenient search
// would drop an unknown parameter and the scope would reach every resource (fail open), and a
// result parameter (_count, _include, _summary, ...) is no filter at all. Refused: 403.
Status CheckFilter(const std::string& type, const search::SearchParams& filter) {
  auto refuse = [&](const std::string& why) {
    return Status(ErrorCode::kForbidden, "forbidden",
                  "insufficient_scope: the token's granular scope for " + type +
                      " cannot be applied (" + why + "), so it grants nothing");
  };
  for (const auto& [name, value] : filter) {
    std::string_view base = std::string_view(name).substr(0, name.find(':'));
    if (base.starts_with("_") && base != "_id" && base != "_lastUpdated" && base != "_tag" &&
        base != "_profile" && base != "_security" && base != "_source")
      return refuse("'" + name + "' is not a filter");
  }
  search::QueryOptions options;
  options.strict = true;
  auto query = search::ParseQuery({type}, filter, options);
  if (!query.ok()) return refuse(query.status().message());
  if (query->criteria.size() != filter.size()) return refuse("not every parameter is a criterion");
  return Status::Ok();
}

// Which of `ids` (of `type`) the restriction lets through: one search with an _id list, in the
// compartment (the same plan as GET [base]/Patient/{id}/{type}?_id=...) and/or with the
// granular scope's parameters.
Result<std::set<std::string>> Members(const Restriction& restriction, const SearchFn& search,
                                      const std::string& type,
                                      const std::vector<std::string>& ids) {
  std::set<std::string> members;
  std::vector<std::string> candidates = ids;
  bool compartment = !restriction.patient.empty();
  // The patient's own record: R4's Patient compartment lists Patient only through `link` (the
  // records that link to it), not the focal resource itself, so it is matched by id, and linked
  // records are not reached.
  if (compartment && type == "Patient") {
    std::erase_if(candidates, [&](const std::string& id) { return id != restriction.patient; });
    compartment = false;
    if (restriction.filter.empty()) {
      members.insert(candidates.begin(), candidates.end());
      return members;
    }
  }
  if (candidates.empty()) return members;
  if (!restriction.filter.empty()) {
    if (Status s = CheckFilter(type, restriction.filter); !s.ok()) return s;
  }
  std::string list;
  for (const std::string& id : candidates) list += (list.empty() ? "" : ",") + id;
  // The compartment is tested as one search per compartment parameter of the type
  // (`_id=...&subject=Patient/{patient}`, driven by the _id list), not as a compartment search:
  // that one read the patient's whole compartment on every check, so a read by a patient/ token
  // cost time in proportion to the patient's record (24 ms with 5,000 Observations).
  std::vector<std::string> links;
  if (compartment) {
    for (std::string_view param : fhir::CompartmentParams("Patient", type))
      if (param != "{def}") links.emplace_back(param);
    if (links.empty()) return members;
  } else {
    links.emplace_back();  // the granular filter alone
  }
  for (const std::string& link : links) {
    search::QueryOptions options;
    options.max_count = static_cast<int>(candidates.size());
    options.default_count = options.max_count;
    options.strict = true;
    search::SearchParams params = {{"_id", list}, {"_total", "none"}};
    if (!link.empty()) params.emplace_back(link, "Patient/" + restriction.patient);
    params.insert(params.end(), restriction.filter.begin(), restriction.filter.end());
    auto query = search::ParseQuery({type}, params, options);
    if (!query.ok()) return query.take_status();
    auto page = search(*query);
    if (!page.ok()) return page.take_status();
    for (const StoredResource& r : page->matches) members.insert(r.info.id);
    if (members.size() == candidates.size()) break;
  }
  return members;
}

}  // namespace

std::optional<GranularGrant> Access::FilterOf(std::string_view type, Permission permission) const {
  if (authorizer == nullptr) return std::nullopt;
  return authorizer->Granular(principal, type, permission);
}

Reach Access::ReachOf(std::string_view type, Permission permission) const {
  if (authorizer == nullptr) return Reach::kAll;
  const bool write = (permission & (kPermCreate | kPermUpdate | kPermDelete)) != 0;
  switch (authorizer->Decide(principal, type, permission)) {
    case Decision::kAllow:
      return Reach::kAll;
    case Decision::kDeny:
      // Granular grants: the matching resources (writes: checked inside the write,
      // PatientWriteGuard).
      if (type != "*" && authorizer->Granular(principal, type, permission)) return Reach::kFiltered;
      return Reach::kNone;
    case Decision::kAllowInPatientCompartment:
      break;
  }
  if (type == "*" || principal.patient.empty()) return Reach::kNone;
  // Types outside the Patient compartment are shared data (Medication, Practitioner, ...):
  // readable, not writable. Patient records are not writable with a patient/ scope either.
  if (!InPatientCompartmentDefinition(type)) return write ? Reach::kNone : Reach::kAll;
  if (write && type == "Patient") return Reach::kNone;
  return Reach::kPatientCompartment;
}

Status Forbidden(std::string_view type, Permission permission, std::string_view what) {
  return Status(ErrorCode::kForbidden, "forbidden",
                "insufficient_scope: " + std::string(what) + " needs the permission " +
                    std::string(LetterOf(permission)) + " on " +
                    (type == "*" ? std::string("every resource type") : std::string(type)) +
                    ", which the token's scopes do not grant");
}

Status CheckInteraction(const Access& access, const Interaction& in,
                        std::string_view resource_type) {
  if (!access.enabled()) return Status::Ok();
  const std::string& t = in.type;
  switch (in.route->kind) {
    case InteractionKind::kCapabilities:
    case InteractionKind::kBatchOrTransaction:  // each entry is checked on its own
      return Status::Ok();
    case InteractionKind::kRead:
      return Need(access, t, kPermRead, "read");
    case InteractionKind::kVRead:
      if (Status s = Need(access, t, kPermRead, "vread"); !s.ok()) return s;
      return NeedInteraction(access, "vread", t);
    case InteractionKind::kHistoryInstance:
      if (Status s = Need(access, t, kPermRead, "history"); !s.ok()) return s;
      return NeedInteraction(access, "history-instance", t);
    case InteractionKind::kHistoryType:
      // A restricted reach gets the history filtered (RestrictedHistory).
      if (Status s = Need(access, t, kPermSearch, "type history"); !s.ok()) return s;
      return NeedInteraction(access, "history-type", t);
    case InteractionKind::kHistorySystem:
      // Every type, or a patient context on every type (patient/*.rs): filtered.
      if (access.authorizer->Decide(access.principal, "*", kPermSearch) !=
              Decision::kAllowInPatientCompartment ||
          access.principal.patient.empty()) {
        if (Status s = NeedAll(access, "*", kPermSearch, "system history"); !s.ok()) return s;
      }
      return NeedInteraction(access, "history-system", "*");
    case InteractionKind::kCreate:
      return Need(access, t, kPermCreate, "create");
    case InteractionKind::kUpdate:
      // Creating through PUT also needs c: checked where it is known (the write).
      return Need(access, t, kPermUpdate, "update");
    case InteractionKind::kPatch:
      if (Status s = Need(access, t, kPermUpdate, "patch"); !s.ok()) return s;
      return NeedInteraction(access, "patch", t);
    case InteractionKind::kDelete:
      return Need(access, t, kPermDelete, "delete");
    // A conditional write's criteria are a search (its answer tells whether anything matches):
    // it needs s as well.
    case InteractionKind::kConditionalUpdate:
      if (Status s = Need(access, t, kPermUpdate, "update"); !s.ok()) return s;
      if (Status s = NotFiltered(access, t, kPermUpdate, "a conditional update"); !s.ok()) return s;
      return Need(access, t, kPermSearch, "a conditional update's criteria");
    case InteractionKind::kConditionalPatch:
      if (Status s = Need(access, t, kPermUpdate, "patch"); !s.ok()) return s;
      if (Status s = NeedInteraction(access, "patch", t); !s.ok()) return s;
      if (Status s = NotFiltered(access, t, kPermUpdate, "a conditional patch"); !s.ok()) return s;
      return Need(access, t, kPermSearch, "a conditional patch's criteria");
    case InteractionKind::kConditionalDelete:
      if (Status s = Need(access, t, kPermDelete, "delete"); !s.ok()) return s;
      if (Status s = NotFiltered(access, t, kPermDelete, "a conditional delete"); !s.ok()) return s;
      return Need(access, t, kPermSearch, "a conditional delete's criteria");
    case InteractionKind::kSearchType:
      return Need(access, t, kPermSearch, "search");
    case InteractionKind::kSearchSystem:
      // Narrowed once bound (NarrowSystemSearch) to the types with s.
      return NeedInteraction(access, "search-system", "");
    case InteractionKind::kSearchCompartment:
      if (in.search_type == "*") return Status::Ok();  // narrowed (PrepareSearch)
      return Need(access, in.search_type, kPermSearch, "compartment search");
    case InteractionKind::kValidate: {
      // $validate reads and writes nothing: a c or u grant of any reach will do.
      std::string_view type = t.empty() ? resource_type : std::string_view(t);
      if (type.empty()) return Forbidden("*", kPermCreate, "$validate of an untyped resource");
      for (Permission p : {kPermCreate, kPermUpdate})
        if (access.authorizer->Decide(access.principal, type, p) != Decision::kDeny)
          return Status::Ok();
      return Forbidden(type, kPermCreate, "$validate");
    }
  }
  return Status(ErrorCode::kForbidden, "forbidden", "insufficient_scope: unknown interaction");
}

bool HistoryIsRestricted(const Access& access, const Interaction& in) {
  if (!access.enabled()) return false;
  switch (in.route->kind) {
    case InteractionKind::kHistoryType:
      return !access.Allows(in.type, kPermSearch);
    case InteractionKind::kHistorySystem:
      return !access.Allows("*", kPermSearch);
    default:
      return false;
  }
}

Result<HistoryPage> RestrictedHistory(const Access& access, const SearchFn& search,
                                      const HistoryFn& history, const HistoryQuery& query,
                                      std::optional<int64_t>& next_before) {
  next_before.reset();
  HistoryPage out;
  const size_t want = static_cast<size_t>(std::max(query.count, 1));
  HistoryQuery batch = query;
  batch.want_total = false;
  batch.count = std::max(query.count, 100);
  int examined = 0;
  while (true) {
    auto page = history(batch);
    if (!page.ok()) return page.take_status();
    if (page->entries.empty()) break;
    // The batch's resources the caller reaches now, type by type (one search each).
    std::map<std::string, std::vector<std::string>> to_check;
    for (const StoredResource& r : page->entries) {
      Reach reach = access.ReachOf(r.info.type, kPermSearch);
      if (reach == Reach::kPatientCompartment || reach == Reach::kFiltered)
        to_check[r.info.type].push_back(r.info.id);
    }
    std::map<std::string, std::set<std::string>> members;
    for (auto& [type, ids] : to_check) {
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      auto in = Members(RestrictionOf(access, type, kPermSearch), search, type, ids);
      if (!in.ok()) return in.take_status();
      members[type] = std::move(in).value();
    }
    for (StoredResource& r : page->entries) {
      ++examined;
      Reach reach = access.ReachOf(r.info.type, kPermSearch);
      bool keep = reach == Reach::kAll;
      if (reach == Reach::kPatientCompartment || reach == Reach::kFiltered) {
        auto it = members.find(r.info.type);
        keep = it != members.end() && it->second.count(r.info.id) != 0;
      }
      if (!keep) {
        batch.before_seq = r.info.seq;
        continue;
      }
      if (out.entries.size() == want) {  // one more exists: the page is full
        out.has_more = true;
        break;
      }
      batch.before_seq = r.info.seq;
      out.entries.push_back(std::move(r));
    }
    if (out.has_more || !page->has_more) break;
    if (examined >= kMaxHistoryExamined) {
      // Looked far enough for one request: the client continues from here.
      out.has_more = true;
      next_before = batch.before_seq;
      break;
    }
  }
  if (out.has_more && !next_before && !out.entries.empty())
    next_before = out.entries.back().info.seq;
  if (query.count == 0) {  // only whether there is anything
    out.has_more = out.has_more || !out.entries.empty();
    out.entries.clear();
    next_before.reset();
  }
  return out;
}

Status CheckBundleInteraction(const Access& access, bool transaction) {
  if (!access.enabled()) return Status::Ok();
  return NeedInteraction(access, transaction ? "transaction" : "batch", "");
}

Status CheckIfNoneExist(const Access& access, const std::string& type) {
  if (Status s = NotFiltered(access, type, kPermCreate, "a conditional create (If-None-Exist)");
      !s.ok())
    return s;
  if (Status s = Need(access, type, kPermSearch, "If-None-Exist (a search)"); !s.ok()) return s;
  return Need(access, type, kPermRead, "If-None-Exist (it returns the match)");
}

Status CheckReadable(const Access& access, const SearchFn& search, const std::string& type,
                     const std::string& id) {
  Reach reach = access.ReachOf(type, kPermRead);
  if (reach != Reach::kPatientCompartment && reach != Reach::kFiltered) return Status::Ok();
  auto members = Members(RestrictionOf(access, type, kPermRead), search, type, {id});
  if (!members.ok()) return members.take_status();
  if (members->count(id) == 0) return Status::NotFound(type + "/" + id + " is not known");
  return Status::Ok();
}

Status PrepareSearch(const Access& access, const Interaction& in, std::vector<std::string>& types,
                     search::QueryOptions& options, search::SearchParams& params) {
  if (in.route->kind == InteractionKind::kSearchType) {
    types.push_back(in.type);
    Restriction r = RestrictionOf(access, in.type, kPermSearch);
    // The granular scope's parameters join the client's (AND).
    if (!r.filter.empty()) {
      if (Status s = CheckFilter(in.type, r.filter); !s.ok()) return s;
    }
    params.insert(params.end(), r.filter.begin(), r.filter.end());
    if (!r.patient.empty()) {
      if (in.type == "Patient") {
        // Only the patient's own record (see Members); a repeated _id is an AND.
        params.emplace_back("_id", r.patient);
      } else {
        options.compartment = search::CompartmentRef{"Patient", r.patient};
      }
    }
    return Status::Ok();
  }
  if (in.route->kind != InteractionKind::kSearchCompartment) return Status::Ok();
  const fhir::CompartmentDef* compartment = fhir::FindCompartment(in.type);
  if (compartment == nullptr) return Status::Ok();  // the caller reports the 404
  if (in.search_type != "*") {
    types.push_back(in.search_type);
    Restriction r = RestrictionOf(access, in.search_type, kPermSearch);
    if (!r.filter.empty()) {
      if (Status s = CheckFilter(in.search_type, r.filter); !s.ok()) return s;
    }
    params.insert(params.end(), r.filter.begin(), r.filter.end());
    // Patient records in a Patient compartment are those that link to it, which a restricted
    // caller does not reach (see Members): only its own record, which is not a member.
    if (in.search_type == "Patient" && !r.patient.empty()) params.emplace_back("_id", r.patient);
  } else {
    // Types a granular scope filters are searched on their own, not in "*"; linked Patient
    // records are not reached by a caller restricted to a patient's compartment (see Members).
    for (const fhir::CompartmentMember& m : compartment->members()) {
      std::string type(m.resource_type());
      Reach reach = access.ReachOf(type, kPermSearch);
      if (reach == Reach::kPatientCompartment && type == "Patient") continue;
      if (reach == Reach::kAll || reach == Reach::kPatientCompartment)
        types.push_back(std::move(type));
    }
    if (types.empty())
      return Forbidden("*", kPermSearch, "a search of every type in a compartment");
  }
  options.compartment = search::CompartmentRef{in.type, in.id};
  // A compartment search is already one compartment: a restricted caller may only search its
  // own patient's.
  bool restricted = false;
  for (const std::string& t : types)
    restricted |= !RestrictionOf(access, t, kPermSearch).patient.empty();
  if (restricted && !(in.type == "Patient" && in.id == access.principal.patient))
    return Status(ErrorCode::kForbidden, "forbidden",
                  "insufficient_scope: the token is limited to the compartment of Patient/" +
                      access.principal.patient);
  return Status::Ok();
}

Status NarrowSystemSearch(const Access& access, const search::Query& query, bool& rebind,
                          std::vector<std::string>& types, search::QueryOptions& options) {
  rebind = false;
  if (!access.enabled()) return Status::Ok();
  bool restricted = false;
  if (!query.types.empty()) {
    for (const std::string& t : query.types) {
      Reach r = access.ReachOf(t, kPermSearch);
      if (r == Reach::kNone) return Forbidden(t, kPermSearch, "search (_type)");
      if (r == Reach::kFiltered)
        return Status(ErrorCode::kForbidden, "forbidden",
                      "insufficient_scope: the token may only search the " + t +
                          " resources its granular scope selects; search " + t + " on its own");
      restricted |= r == Reach::kPatientCompartment;
      // The compartment's Patient records are the ones that link to the patient, which a
      // restricted caller does not reach (see Members).
      if (r == Reach::kPatientCompartment && t == "Patient")
        return Status(ErrorCode::kForbidden, "forbidden",
                      "insufficient_scope: with a patient-context token, a system search covers "
                      "the patient's compartment, which holds no Patient records it may see; "
                      "search Patient on its own");
    }
    if (!restricted) return Status::Ok();
    // Under a patient context the whole search is the patient's compartment, so every type
    // must be in it.
    for (const std::string& t : query.types)
      if (!InPatientCompartmentDefinition(t))
        return Status(ErrorCode::kForbidden, "forbidden",
                      "insufficient_scope: with a patient-context token, a system search covers "
                      "the patient's compartment; " +
                          t + " is not in it (search it on its own)");
    types = query.types;
  } else {
    if (access.Allows("*", kPermSearch)) return Status::Ok();
    std::vector<std::string> members;
    for (const fhir::TypeDef& t : fhir::ResourceTypes()) {
      std::string name(t.name());
      Reach r = access.ReachOf(name, kPermSearch);
      if (r == Reach::kNone || r == Reach::kFiltered) continue;  // filtered: searched on its own
      restricted |= r == Reach::kPatientCompartment;
      // Linked Patient records are not reached under a restriction (see Members).
      if (InPatientCompartmentDefinition(name) &&
          !(name == "Patient" && r == Reach::kPatientCompartment))
        members.push_back(name);
      types.push_back(std::move(name));
    }
    // Mixed reach (some types in the compartment only): the search is restricted as a whole to
    // the compartment's member types; shared types are searched on their own.
    if (restricted) types = std::move(members);
    if (types.empty()) return Forbidden("*", kPermSearch, "a system search");
  }
  if (restricted) options.compartment = access.PatientCompartment();
  rebind = true;
  return Status::Ok();
}

Status CheckSearchCriteria(const Access& access, const search::Query& query) {
  if (!access.enabled()) return Status::Ok();
  std::vector<std::string> types;
  for (const search::Criterion& c : query.criteria) CollectCriterionTypes(c, types);
  for (const std::string& t : types) {
    // Not through a type the caller only reaches by a granular scope's search: the chain would
    // test resources outside it.
    Reach r = access.ReachOf(t, kPermSearch);
    if (r == Reach::kNone || r == Reach::kFiltered)
      return Forbidden(t, kPermSearch, "a chained or _has search parameter through " + t);
    // Nor through a type it reaches only within a patient's compartment: the linked resources
    // are tested wherever they are (another patient's Observation behind a has-member chain,
    // the Observations behind Practitioner?_has:Observation:performer:subject=...).
    if (r == Reach::kPatientCompartment)
      return Status(ErrorCode::kForbidden, "forbidden",
                    "insufficient_scope: a chained or _has search parameter through " + t +
                        " would test resources outside the compartment of Patient/" +
                        access.principal.patient + ", to which the token's access to " + t +
                        " is limited");
  }
  return Status::Ok();
}

PatientWriteGuard::PatientWriteGuard(const Access& access, const std::string& type,
                                     Permission permission)
    : tenant_(access.tenant), type_(type), patient_(access.principal.patient) {
  auto filter_of = [&](Permission p) {
    Filter f;
    if (access.ReachOf(type, p) != Reach::kFiltered) return f;
    if (auto grant = access.FilterOf(type, p)) {
      f.active = true;
      f.compartment = grant->patient_compartment;
      f.params = std::move(grant->params);
    }
    return f;
  };
  Reach reach = access.ReachOf(type, permission);
  compartment_ = reach == Reach::kPatientCompartment;
  if (reach == Reach::kFiltered) {
    filter_ = filter_of(permission);
    // A filtered reach without a usable grant never happens (ReachOf asked Granular); if it
    // did, fail closed: an empty filter that is active would match everything.
    filtered_ = true;
    compartment_ = filter_.compartment;
  }
  if (permission == kPermUpdate) {
    create_filter_ = filter_of(kPermCreate);
    filtered_ |= create_filter_.active;
  }
}

std::optional<search::CompartmentRef> PatientWriteGuard::compartment() const {
  if (!compartment_) return std::nullopt;
  return search::CompartmentRef{"Patient", patient_};
}

Status PatientWriteGuard::Matches(StoreTxn& txn, const Filter& filter, const std::string& id,
                                  std::string_view when) const {
  if (!filter.active)
    return Status(ErrorCode::kForbidden, "forbidden",
                  "insufficient_scope: the token's granular scope for " + type_ +
                      " cannot be applied to this write");
  SearchFn search = [&txn, this](const search::Query& q) { return txn.Search(tenant_, q); };
  auto members =
      Members(Restriction{filter.compartment ? patient_ : "", filter.params}, search, type_, {id});
  if (!members.ok()) return members.take_status();
  if (members->count(id) != 0) return Status::Ok();
  return Status(ErrorCode::kForbidden, "forbidden",
                "insufficient_scope: " + type_ + "/" + id + " " + std::string(when) +
                    " does not match the token's granular scope for " + type_ +
                    (filter.compartment ? " (in the compartment of Patient/" + patient_ + ")"
                                        : std::string()));
}

Status PatientWriteGuard::Before(StoreTxn& txn, const std::string& id) const {
  if (!active()) return Status::Ok();
  auto latest = txn.ReadLatest(ResourceKey{tenant_, type_, id});
  if (!latest.ok()) return latest.status();
  if (!*latest) return Status::Ok();  // a new resource
  // A deleted resource has no index rows, so whose it was cannot be told; re-creating it would
  // hand its history (earlier versions, perhaps another patient's) to this token.
  if ((*latest)->info.deleted)
    return Status(ErrorCode::kForbidden, "forbidden",
                  "insufficient_scope: " + type_ + "/" + id +
                      " was deleted; a token limited to a patient's compartment (or by a "
                      "granular scope) cannot create it again");
  if (filter_.active || (filtered_ && !create_filter_.active))
    return Matches(txn, filter_, id, "as it is");
  if (!compartment_) return Status::Ok();  // only the create filter: checked in Written
  SearchFn search = [&txn, this](const search::Query& q) { return txn.Search(tenant_, q); };
  auto members = Members(Restriction{patient_, {}}, search, type_, {id});
  if (!members.ok()) return members.take_status();
  if (members->count(id) != 0) return Status::Ok();
  return Status(ErrorCode::kForbidden, "forbidden",
                "insufficient_scope: " + type_ + "/" + id +
                    " is not in the compartment of Patient/" + patient_ +
                    ", to which the token is limited");
}

Status PatientWriteGuard::Written(StoreTxn& txn, const std::string& id, bool created) const {
  if (!filtered_) return Status::Ok();
  if (created && create_filter_.active) return Matches(txn, create_filter_, id, "as written");
  if (!filter_.active && create_filter_.active) return Status::Ok();  // u is not filtered
  return Matches(txn, filter_, id, "as written");
}

Status PatientWriteGuard::After(const std::vector<search::IndexEntry>& index) const {
  if (!compartment_) return Status::Ok();
  fhir::NameList params = fhir::CompartmentParams("Patient", type_);
  for (const search::IndexEntry& e : index) {
    if (e.kind() != search::IndexKind::kReference) continue;
    const auto& ref = std::get<search::ReferenceValue>(e.value);
    if (ref.kind != search::ReferenceKind::kLocal || ref.type != "Patient" || ref.id != patient_)
      continue;
    for (std::string_view p : params)
      if (p == e.param) return Status::Ok();
  }
  return Status(ErrorCode::kForbidden, "forbidden",
                "insufficient_scope: the token is limited to the compartment of Patient/" +
                    patient_ + ", and the " + type_ + " would not be in it (none of " +
                    "its compartment references points to Patient/" + patient_ + ")");
}

Status FilterPage(const Access& access, const SearchFn& search, SearchPage& page) {
  if (!access.enabled()) return Status::Ok();
  size_t matches_before = page.matches.size();
  std::erase_if(page.matches,
                [&](const StoredResource& r) { return !access.Reaches(r.info.type, kPermSearch); });
  if (page.matches.size() != matches_before) {
    // The query was narrowed to permitted types, so this means a bug upstream: say so loudly.
    core::LogError("search returned matches of types the caller may not search; dropped them");
  }
  std::map<std::string, std::vector<std::string>> to_check;  // type -> ids in question
  std::erase_if(page.included, [&](const StoredResource& r) {
    Reach reach = access.ReachOf(r.info.type, kPermRead);
    if (reach == Reach::kPatientCompartment || reach == Reach::kFiltered)
      to_check[r.info.type].push_back(r.info.id);
    return reach == Reach::kNone;
  });
  if (to_check.empty()) return Status::Ok();
  std::map<std::string, std::set<std::string>> members;
  for (const auto& [type, ids] : to_check) {
    auto in = Members(RestrictionOf(access, type, kPermRead), search, type, ids);
    if (!in.ok()) return in.take_status();
    members[type] = std::move(in).value();
  }
  std::erase_if(page.included, [&](const StoredResource& r) {
    auto it = members.find(r.info.type);
    return it != members.end() && it->second.count(r.info.id) == 0;
  });
  return Status::Ok();
}

}  // namespace kiln::rest
