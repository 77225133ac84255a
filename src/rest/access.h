// Access control for the REST layer: which SMART permission each interaction needs on which
// resource types, checked against the request's Principal through the Authorizer
// (include/kiln/auth.h), and how a patient-context grant restricts what is read. The rules, one
// place for single requests and Bundle entries alike (docs/security.md has the table):
//
//   read, vread, instance history           r on the type
//   search-type, type history               s on the type; chained parameters and _has need s on
//                                           every type they pass through (they reveal facts
//                                           about those resources)
//   search-system                           s on every type searched: _type naming a type the
//                                           caller may not search is a 403; without _type the
//                                           search is narrowed to the permitted types
//   compartment search                      s on the type searched (for "*": narrowed)
//   system history                          s on every type (system/*.s, user/*.rs, ...), or a
//                                           patient grant on every type (filtered)
//   create                                  c;  update (PUT) u, and c as well when it creates
//   patch                                   u;  delete d
//   conditional update/patch/delete         as above, and s (the criteria are a search)
//   create with If-None-Exist               c, s and r (a match is returned)
//   $validate                               c or u on the resource's type
//   _include/_revinclude results            entries the caller may not read are dropped
//   batch/transaction                       every entry checked on its own (a transaction fails
//                                           whole; a batch entry fails alone)
//
// Authorizers whose rules name FHIR interactions (auth mode "groups") are also asked, through
// Authorizer::PermitsInteraction, for vread, history-instance, patch, history-type,
// history-system, search-system, and for posting a batch or transaction.
//
// Granular scopes (SMART v2 `?query`, auth/smart.h): reads of resources that do not match the
// query are 404s, searches of the type get the query's parameters added, included resources
// that do not match are dropped; such a type is left out of system searches (and of "*"
// compartment searches), chains may not pass through it. Writes: what is written must match the
// query, and so must the current version of what is updated or deleted (PatientWriteGuard);
// conditional writes are refused.
//
// Patient context (a patient/ scope and the token's `patient` claim): a type in the R4 Patient
// compartment is reached only within Patient/{patient}'s compartment: reads of other resources
// are 404s, searches get the compartment as a filter (the same machinery as GET
// [base]/Patient/{id}/{type}), included resources outside it are dropped. Of the Patient type,
// only the patient's own record is reached (R4's compartment holds the records that link to it,
// not the patient itself). Types outside the
// compartment (Medication, Practitioner, Organization, ...) are shared data: readable and
// searchable, never writable, with a patient/ scope. Writes (PatientWriteGuard): the resource
// must be in the compartment before (if it exists) and after the write; Patient records
// themselves are not writable with a patient/ scope. Type and system history keep only the
// versions of resources currently in the compartment (RestrictedHistory).
//
// An Access with no authorizer (auth mode "none") allows everything. Thread-safe as the borrowed
// authorizer is.
#pragma once

#include <functional>
#include <optional>
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

// How far a permission on a type reaches for this caller: nowhere, every resource, the patient's
// compartment, or the resources that match a granular scope's search (Access::FilterOf).
enum class Reach { kNone, kAll, kPatientCompartment, kFiltered };

struct Access {
  const Authorizer* authorizer = nullptr;  // nullptr: no access control (auth mode "none")
  Principal principal;
  // The tenant the request acts in (rest/tenancy.h): every store access, including the reads and
  // searches of these checks, goes to it.
  std::string tenant = kDefaultTenant;

  bool enabled() const { return authorizer != nullptr; }
  Reach ReachOf(std::string_view type, Permission permission) const;
  // Unrestricted: every resource of the type.
  bool Allows(std::string_view type, Permission permission) const {
    return ReachOf(type, permission) == Reach::kAll;
  }
  // At least some resources of the type.
  bool Reaches(std::string_view type, Permission permission) const {
    return ReachOf(type, permission) != Reach::kNone;
  }
  // Patient/{patient}: the compartment a restricted reach is limited to.
  search::CompartmentRef PatientCompartment() const { return {"Patient", principal.patient}; }
  // For Reach::kFiltered: the granular grant's search, and whether the compartment applies too.
  std::optional<GranularGrant> FilterOf(std::string_view type, Permission permission) const;
};

// Runs a search in whatever context the caller is in (the store, or a write transaction).
using SearchFn = std::function<Result<SearchPage>(const search::Query&)>;

// A 403 "insufficient_scope" Status naming what was needed.
Status Forbidden(std::string_view type, Permission permission, std::string_view what);

// The check of an interaction before anything is read or written. `resource_type` is the type
// of the body for a system-level $validate ("" otherwise). Searches are checked further once
// bound.
Status CheckInteraction(const Access& access, const Interaction& in,
                        std::string_view resource_type = {});

// A create with If-None-Exist: its criteria are a search, and a match is returned: s and r.
Status CheckIfNoneExist(const Access& access, const std::string& type);

// For a read, vread or instance history under a patient context: is `type`/`id` in the patient's
// compartment? Not (or not any more) -> 404, so that other patients' ids are not confirmed.
// OK when the caller's reach is not restricted.
Status CheckReadable(const Access& access, const SearchFn& search, const std::string& type,
                     const std::string& id);

// What a search ranges over, decided before binding: for a type search and a compartment search
// the patient compartment to apply (if any; for Patient itself an `_id` criterion added to
// `params`); for a compartment search over "*" the member types the caller may search. Fails
// (403) when nothing is left.
Status PrepareSearch(const Access& access, const Interaction& in, std::vector<std::string>& types,
                     search::QueryOptions& options, search::SearchParams& params);

// A bound system search: fails (403) if _type names a type the caller may not search. Sets
// `rebind` with the types and options to bind again with, when the search must be narrowed to
// the permitted types (no _type, and the caller may not search every type) or restricted to the
// patient's compartment.
Status NarrowSystemSearch(const Access& access, const search::Query& query, bool& rebind,
                          std::vector<std::string>& types, search::QueryOptions& options);

// Chained parameters and _has: s on every type they pass through.
Status CheckSearchCriteria(const Access& access, const search::Query& query);

// A write under a patient context (a patient/ c, u or d grant on a Patient-compartment type):
// the resource must be in the patient's compartment before the write (if it exists) and as
// written, so a patient-context token can neither touch another patient's data nor move data
// out of (or into another patient's part of) the store. Under a granular scope (a SMART v2
// `?query` c, u or d grant): the resource must match the scope's search before the write (if it
// exists) and as written (Written, inside the write transaction, after the version is appended:
// the transaction's own search sees it, so failing rolls the write back). Inactive, every check
// OK, when the caller's reach is not restricted. A copyable value, captured by write closures.
class PatientWriteGuard {
 public:
  PatientWriteGuard() = default;  // inactive
  PatientWriteGuard(const Access& access, const std::string& type, Permission permission);
  bool active() const { return compartment_ || filtered_; }
  // For conditional writes: the criteria only select resources in the compartment.
  std::optional<search::CompartmentRef> compartment() const;
  // Inside the write: the current version of type/id, if there is one, must be in the
  // compartment (match the granular scope's search), and must not be a deletion (whose earlier
  // versions may be another patient's, or not match); 403 otherwise.
  Status Before(StoreTxn& txn, const std::string& id) const;
  // The version being written (its search index entries) must refer to the patient through one
  // of the compartment's parameters for its type (403 otherwise).
  Status After(const std::vector<search::IndexEntry>& index) const;
  // Inside the write, once the version is appended: under a granular scope it must match the
  // scope's search (for a version that `created` the resource: the c scope's, for an update
  // the u scope's); 403 otherwise.
  Status Written(StoreTxn& txn, const std::string& id, bool created) const;

 private:
  struct Filter {
    bool active = false;
    bool compartment = false;  // the patient's compartment applies as well
    search::SearchParams params;
  };
  Status Matches(StoreTxn& txn, const Filter& filter, const std::string& id,
                 std::string_view when) const;

  bool compartment_ = false;
  bool filtered_ = false;
  std::string tenant_;
  std::string type_;
  std::string patient_;
  Filter filter_;         // the grant's own (c, u or d)
  Filter create_filter_;  // for an update that creates: the c grant's, when it is granular
};

// Type and system history (`in`) for a caller whose reach is restricted (a patient context, or a
// granular scope): whether the history must be filtered with RestrictedHistory.
bool HistoryIsRestricted(const Access& access, const Interaction& in);

using HistoryFn = std::function<Result<HistoryPage>(const HistoryQuery&)>;

// One page of a type or system history keeping only the versions of the resources the caller
// reaches now: as for instance history, membership of a patient's compartment (or a granular
// scope's selection) is decided on each resource's current version, so a resource that left the
// compartment (or was deleted) takes its whole history with it, and one that entered it brings
// its earlier versions. Reads the store's history in batches, checking each batch's resources
// with one search per type, and stops once the page is full or after examining
// kMaxHistoryExamined versions; `next_before` is then the cursor to continue from (the page may
// be short, even empty, and still have a next link). No total.
inline constexpr int kMaxHistoryExamined = 5000;
Result<HistoryPage> RestrictedHistory(const Access& access, const SearchFn& search,
                                      const HistoryFn& history, const HistoryQuery& query,
                                      std::optional<int64_t>& next_before);

// A batch or transaction Bundle (`transaction` says which): whether the caller may post one at
// all (rules that name FHIR interactions, auth mode "groups"); its entries are checked on their
// own.
Status CheckBundleInteraction(const Access& access, bool transaction);

// Drops the matches and _include/_revinclude entries the caller may not see (included resources
// under a patient context: those outside its compartment, found with `search`).
Status FilterPage(const Access& access, const SearchFn& search, SearchPage& page);

}  // namespace kiln::rest
