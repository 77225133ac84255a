// Authentication and authorization: the two components every FHIR request passes through when
// an auth mode other than "none" is configured (docs/security.md).
//
//   Authenticator: the request's credentials (the Authorization header) -> a Principal, or a
//                  rejection that becomes 401 with WWW-Authenticate.
//   Authorizer:    Principal x (resource type, permission) -> denied (403), allowed, or allowed
//                  within the patient's compartment only.
//
// Both are called on HTTP I/O threads for every request, so they must be fast and must not block
// there: an Authenticator that needs slow I/O (fetching a rotated key set) says so with
// AuthResult::kRetryOffIoThread and the caller repeats the call on a worker thread with
// may_block = true. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/context.h"
#include "kiln/status.h"

namespace kiln {

struct AuthResult {
  enum class Kind {
    kOk,               // `principal` is filled in
    kRejected,         // `status` says why (kUnauthenticated: 401; kUnavailable: 503)
    kRetryOffIoThread  // only when may_block was false: call again on a worker, may_block = true
  };
  Kind kind = Kind::kRejected;
  Principal principal;
  Status status;

  static AuthResult Rejected(Status why) {
    AuthResult r;
    r.status = std::move(why);
    return r;
  }
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // `authorization` is the request's Authorization header ("" when absent). With
  // may_block == false the call never waits for the network.
  virtual AuthResult Authenticate(std::string_view authorization, bool may_block) = 0;
};

// SMART permissions (v2 letters; v1 read = rs, write = cud). A bit set.
enum Permission : uint8_t {
  kPermCreate = 1,
  kPermRead = 2,
  kPermUpdate = 4,
  kPermDelete = 8,
  kPermSearch = 16,
};

// What a Principal may do with one permission on one type.
enum class Decision : uint8_t {
  kDeny,
  kAllow,                     // on every resource of the type
  kAllowInPatientCompartment  // only on resources in Patient/{principal.patient}'s compartment
};

// Access to only the resources that match a search (SMART v2 granular scopes such as
// `user/Observation.rs?category=...|laboratory`): the query's parameters, and whether the
// patient's compartment applies as well.
struct GranularGrant {
  std::vector<std::pair<std::string, std::string>> params;  // decoded name=value, AND-ed
  bool patient_compartment = false;
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // The decision for `permission` (one bit) on resources of `type` (an R4 resource type name),
  // or on every type at once when `type` is "*". Type level: applying a compartment restriction
  // to the resources is the caller's job (rest/access.h).
  virtual Decision Decide(const Principal& principal, std::string_view type,
                          Permission permission) const = 0;
  // When Decide denies: whether granular grants still allow `permission` on the resources of
  // `type` that match a search. nullopt: they do not (or cannot be combined into one search).
  virtual std::optional<GranularGrant> Granular(const Principal& principal, std::string_view type,
                                                Permission permission) const {
    return std::nullopt;
  }
  // Finer than the five permissions, for rules that name FHIR interactions (auth mode "groups",
  // auth/groups.h): whether `interaction` is allowed on `type`. Asked, besides Decide, for the
  // interactions a permission does not tell apart: "vread" and "history-instance" (besides r),
  // "patch" (besides u), "history-type" (besides s on the type), "history-system" (type "*",
  // besides s on every type), "search-system" (type "", before the search is narrowed to the
  // types with s), "transaction" and "batch" (type "", before the entries are checked).
  virtual bool PermitsInteraction(const Principal& principal, std::string_view interaction,
                                  std::string_view type) const {
    return true;
  }
};

}  // namespace kiln
