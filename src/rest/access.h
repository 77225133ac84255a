// Type-level access control for the REST layer: which SMART permission each interaction needs
// on which resource types, checked against the request's Principal through the Authorizer
// (include/kiln/auth.h). The rules, one place for single requests and Bundle entries alike:
//
//   read, vread, instance history           r on the type
//   search-type, type history               s on the type; chained parameters and _has need s on
//                                           every type they pass through (they reveal facts
//                                           about those resources)
//   search-system                           s on every type searched: _type naming a type the
//                                           caller may not search is a 403; without _type the
//                                           search is narrowed to the permitted types
//   compartment search                      s on the type searched (for "*": narrowed)
//   system history                          s on every type (system/*.s, user/*.rs, ...)
//   create                                  c;  update (PUT) u, and c as well when it creates
//   patch                                   u;  delete d;  conditional forms the same
//   $validate                               c or u on the resource's type
//   _include/_revinclude results            entries of types without r are dropped
//   batch/transaction                       every entry checked on its own (a transaction fails
//                                           whole; a batch entry fails alone)
//
// An Access with no authorizer (auth mode "none") allows everything. Pure functions over the
// borrowed authorizer and principal; thread-safe as they are.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/auth.h"
#include "kiln/context.h"
#include "kiln/status.h"
#include "kiln/store.h"
#include "rest/router.h"
#include "search/query.h"

namespace kiln::rest {

struct Access {
  const Authorizer* authorizer = nullptr;  // nullptr: no access control (auth mode "none")
  Principal principal;

  bool enabled() const { return authorizer != nullptr; }
  bool Allows(std::string_view type, Permission permission) const {
    return authorizer == nullptr || authorizer->Allows(principal, type, permission);
  }
};

// A 403 "insufficient_scope" Status naming what was needed.
Status Forbidden(std::string_view type, Permission permission, std::string_view what);

// The check of an interaction before anything is read or written. `resource_type` is the type
// of the body for a system-level $validate ("" otherwise). Searches are checked further by
// CheckSearch once bound.
Status CheckInteraction(const Access& access, const Interaction& in,
                        std::string_view resource_type = {});

// Search types: fills `types` for ParseQuery. For a compartment search over "*", the members
// the caller may search; fails when none. (Type searches: {type}; system searches: left empty,
// see NarrowSystemSearch.)
Status CompartmentSearchTypes(const Access& access, const Interaction& in,
                              std::vector<std::string>& types);

// A bound system search: fails (403) if _type names a type the caller may not search; returns
// true in `narrow` with the permitted types in `types` when the search must be re-bound over them
// (no _type, and the caller may not search every type).
Status NarrowSystemSearch(const Access& access, const search::Query& query, bool& narrow,
                          std::vector<std::string>& types);

// Chained parameters and _has: s on every type they pass through.
Status CheckSearchCriteria(const Access& access, const search::Query& query);

// Drops matches (defence in depth: the query is already narrowed) and _include/_revinclude
// entries the caller may not read. Returns how many were dropped.
size_t FilterPage(const Access& access, SearchPage& page);

}  // namespace kiln::rest
