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
  search::QueryOptions options;
  if (compartment) options.compartment = search::CompartmentRef{"Patient", restriction.patient};
  options.max_count = static_cast<int>(candidates.size());
  options.default_count = options.max_count;
  options.strict = true;
  search::SearchParams params = {{"_id", list}, {"_total", "none"}};
  params.insert(params.end(), restriction.filter.begin(), restriction.filter.end());
  auto query = search::ParseQuery({type}, params, options);
  if (!query.ok()) return query.take_status();
  auto page = search(*query);
  if (!page.ok()) return page.take_status();
  for (const StoredResource& r : page->matches) members.insert(r.info.id);
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
      // Granular grants: reads and searches of the matching resources; never writes (checking a
      // written version against a search is not done yet: fail closed).
      if (!write && type != "*" && authorizer->Granular(principal, type, permission))
        return Reach::kFiltered;
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
      return Need(access, t, kPermRead, "vread");
    case InteractionKind::kHistoryInstance:
      return Need(access, t, kPermRead, "history");
    case InteractionKind::kHistoryType:
      return NeedAll(access, t, kPermSearch, "type history");
    case InteractionKind::kHistorySystem:
      return NeedAll(access, "*", kPermSearch, "system history");
    case InteractionKind::kCreate:
      return Need(access, t, kPermCreate, "create");
    case InteractionKind::kUpdate:
      // Creating through PUT also needs c: checked where it is known (the write).
      return Need(access, t, kPermUpdate, "update");
    case InteractionKind::kPatch:
      return Need(access, t, kPermUpdate, "patch");
    case InteractionKind::kDelete:
      return Need(access, t, kPermDelete, "delete");
    // A conditional write's criteria are a search (its answer tells whether anything matches):
    // it needs s as well.
    case InteractionKind::kConditionalUpdate:
      if (Status s = Need(access, t, kPermUpdate, "update"); !s.ok()) return s;
      return Need(access, t, kPermSearch, "a conditional update's criteria");
    case InteractionKind::kConditionalPatch:
      if (Status s = Need(access, t, kPermUpdate, "patch"); !s.ok()) return s;
      return Need(access, t, kPermSearch, "a conditional patch's criteria");
    case InteractionKind::kConditionalDelete:
      if (Status s = Need(access, t, kPermDelete, "delete"); !s.ok()) return s;
      return Need(access, t, kPermSearch, "a conditional delete's criteria");
    case InteractionKind::kSearchType:
      return Need(access, t, kPermSearch, "search");
    case InteractionKind::kSearchSystem:
      return Status::Ok();  // narrowed once bound (NarrowSystemSearch)
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

Status CheckIfNoneExist(const Access& access, const std::string& type) {
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
  } else {
    // Types a granular scope filters are searched on their own, not in "*".
    for (const fhir::CompartmentMember& m : compartment->members()) {
      std::string type(m.resource_type());
      Reach reach = access.ReachOf(type, kPermSearch);
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
      if (InPatientCompartmentDefinition(name)) members.push_back(name);
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
  }
  return Status::Ok();
}

PatientWriteGuard::PatientWriteGuard(const Access& access, const std::string& type,
                                     Permission permission)
    : active_(access.ReachOf(type, permission) == Reach::kPatientCompartment),
      tenant_(access.tenant),
      type_(type),
      patient_(access.principal.patient) {}

std::optional<search::CompartmentRef> PatientWriteGuard::compartment() const {
  if (!active_) return std::nullopt;
  return search::CompartmentRef{"Patient", patient_};
}

Status PatientWriteGuard::Before(StoreTxn& txn, const std::string& id) const {
  if (!active_) return Status::Ok();
  auto latest = txn.ReadLatest(ResourceKey{tenant_, type_, id});
  if (!latest.ok()) return latest.status();
  if (!*latest) return Status::Ok();  // a new resource
  // A deleted resource has no index rows, so whose it was cannot be told; re-creating it would
  // hand its history (earlier versions, perhaps another patient's) to this token.
  if ((*latest)->info.deleted)
    return Status(ErrorCode::kForbidden, "forbidden",
                  "insufficient_scope: " + type_ + "/" + id +
                      " was deleted; a token limited to a patient's compartment cannot create it "
                      "again");
  SearchFn search = [&txn, this](const search::Query& q) { return txn.Search(tenant_, q); };
  auto members = Members(Restriction{patient_, {}}, search, type_, {id});
  if (!members.ok()) return members.take_status();
  if (members->count(id) != 0) return Status::Ok();
  return Status(ErrorCode::kForbidden, "forbidden",
                "insufficient_scope: " + type_ + "/" + id +
                    " is not in the compartment of Patient/" + patient_ +
                    ", to which the token is limited");
}

Status PatientWriteGuard::After(const std::vector<search::IndexEntry>& index) const {
  if (!active_) return Status::Ok();
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
