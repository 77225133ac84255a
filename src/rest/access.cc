#include "rest/access.h"

#include <algorithm>

#include "fhir/definitions.h"
#include "core/log.h"

namespace kiln::rest {
namespace {

std::string_view LetterOf(Permission p) {
  switch (p) {
    case kPermCreate: return "c (create)";
    case kPermRead: return "r (read)";
    case kPermUpdate: return "u (update)";
    case kPermDelete: return "d (delete)";
    case kPermSearch: return "s (search)";
  }
  return "?";
}

Status Need(const Access& access, std::string_view type, Permission p, std::string_view what) {
  if (access.Allows(type, p)) return Status::Ok();
  return Forbidden(type, p, what);
}

void CollectCriterionTypes(const search::Criterion& c, std::vector<std::string>& out) {
  if (c.kind == search::Criterion::Kind::kChain) {
    out.insert(out.end(), c.targets.begin(), c.targets.end());
  } else if (c.kind == search::Criterion::Kind::kHas) {
    out.push_back(c.has_type);
  }
  for (const search::Criterion& n : c.next) CollectCriterionTypes(n, out);
}

}  // namespace

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
      return Need(access, t, kPermSearch, "type history");
    case InteractionKind::kHistorySystem:
      return Need(access, "*", kPermSearch, "system history");
    case InteractionKind::kCreate:
      return Need(access, t, kPermCreate, "create");
    case InteractionKind::kUpdate:
    case InteractionKind::kConditionalUpdate:
      // Creating through PUT also needs c: checked where it is known (the write).
      return Need(access, t, kPermUpdate, "update");
    case InteractionKind::kPatch:
    case InteractionKind::kConditionalPatch:
      return Need(access, t, kPermUpdate, "patch");
    case InteractionKind::kDelete:
    case InteractionKind::kConditionalDelete:
      return Need(access, t, kPermDelete, "delete");
    case InteractionKind::kSearchType:
      return Need(access, t, kPermSearch, "search");
    case InteractionKind::kSearchSystem:
      return Status::Ok();  // narrowed once bound (NarrowSystemSearch)
    case InteractionKind::kSearchCompartment:
      if (in.search_type == "*") return Status::Ok();  // narrowed (CompartmentSearchTypes)
      return Need(access, in.search_type, kPermSearch, "compartment search");
    case InteractionKind::kValidate: {
      std::string_view type = t.empty() ? resource_type : std::string_view(t);
      if (type.empty()) return Forbidden("*", kPermCreate, "$validate of an untyped resource");
      if (access.Allows(type, kPermCreate) || access.Allows(type, kPermUpdate))
        return Status::Ok();
      return Forbidden(type, kPermCreate, "$validate");
    }
  }
  return Status(ErrorCode::kForbidden, "forbidden", "insufficient_scope: unknown interaction");
}

Status CompartmentSearchTypes(const Access& access, const Interaction& in,
                              std::vector<std::string>& types) {
  const fhir::CompartmentDef* compartment = fhir::FindCompartment(in.type);
  if (compartment == nullptr) return Status::Ok();  // the caller reports the 404
  if (in.search_type != "*") {
    types.push_back(in.search_type);
    return Status::Ok();
  }
  for (const fhir::CompartmentMember& m : compartment->members()) {
    std::string type(m.resource_type());
    if (access.Allows(type, kPermSearch)) types.push_back(std::move(type));
  }
  if (types.empty()) return Forbidden("*", kPermSearch, "a search of every type in a compartment");
  return Status::Ok();
}

Status NarrowSystemSearch(const Access& access, const search::Query& query, bool& narrow,
                          std::vector<std::string>& types) {
  narrow = false;
  if (!access.enabled()) return Status::Ok();
  if (!query.types.empty()) {
    for (const std::string& t : query.types)
      if (!access.Allows(t, kPermSearch)) return Forbidden(t, kPermSearch, "search (_type)");
    return Status::Ok();
  }
  if (access.Allows("*", kPermSearch)) return Status::Ok();
  for (const fhir::TypeDef& t : fhir::ResourceTypes()) {
    std::string name(t.name());
    if (access.Allows(name, kPermSearch)) types.push_back(std::move(name));
  }
  if (types.empty()) return Forbidden("*", kPermSearch, "a system search");
  narrow = true;
  return Status::Ok();
}

Status CheckSearchCriteria(const Access& access, const search::Query& query) {
  if (!access.enabled()) return Status::Ok();
  std::vector<std::string> types;
  for (const search::Criterion& c : query.criteria) CollectCriterionTypes(c, types);
  for (const std::string& t : types)
    if (!access.Allows(t, kPermSearch))
      return Forbidden(t, kPermSearch, "a chained or _has search parameter through " + t);
  return Status::Ok();
}

size_t FilterPage(const Access& access, SearchPage& page) {
  if (!access.enabled()) return 0;
  size_t before = page.matches.size() + page.included.size();
  size_t matches_before = page.matches.size();
  std::erase_if(page.matches,
                [&](const StoredResource& r) { return !access.Allows(r.info.type, kPermSearch); });
  if (page.matches.size() != matches_before) {
    // The query was narrowed to permitted types, so this means a bug upstream: say so loudly.
    core::LogError("search returned matches of types the caller may not search; dropped them");
  }
  std::erase_if(page.included,
                [&](const StoredResource& r) { return !access.Allows(r.info.type, kPermRead); });
  return before - page.matches.size() - page.included.size();
}

}  // namespace kiln::rest
