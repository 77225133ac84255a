// The router: method + request target -> Interaction, and the table of interactions Kiln
// supports. The CapabilityStatement is generated from the same table, so it always tells the
// truth about what the router accepts. Pure functions over immutable data; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/status.h"

namespace kiln::rest {

enum class InteractionKind {
  kCapabilities,
  kRead,
  kVRead,
  kUpdate,
  kPatch,
  kDelete,
  kHistoryInstance,
  kHistoryType,
  kHistorySystem,
  kCreate,
  kSearchType,
  kSearchSystem,
  kSearchCompartment,  // GET [base]/Patient/123/Observation (or .../*): search in a compartment
  kBatchOrTransaction,
  kConditionalUpdate,
  kConditionalDelete,
  kConditionalPatch,
  kValidate,  // $validate at system, type or instance level (always POST)
};

enum class Level { kSystem, kType, kInstance };

struct RouteDef {
  InteractionKind kind;
  Level level;
  const char* method;
  const char* fhir_code;  // TypeRestfulInteraction / SystemRestfulInteraction code, or the
                          // operation name for operations ("validate"); "" if none
  const char* label;      // metrics and log label
  bool supported;         // false: answered 501 until the issue that builds it lands
};

// Every interaction the router knows, supported or not.
std::span<const RouteDef> Routes();

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct Interaction {
  const RouteDef* route = nullptr;
  std::string type;
  std::string id;
  std::string vid;
  // Compartment search: the type searched in the compartment `type`/`id` ("Observation"), or "*"
  // for every type in it.
  std::string search_type;
  QueryParams params;  // decoded, in order
  std::string path;    // the path after the base, e.g. "Patient/123/_history" (for links)

  // The first value of parameter `name`, or "" if absent.
  std::string_view Param(std::string_view name) const;
  bool HasParam(std::string_view name) const;
};

struct RouteResult {
  Status status;            // failed: 404 unknown path/type, 405 wrong method, 400 bad id...
  std::string allow;        // for 405: the methods the path does accept
  Interaction interaction;  // when status is OK
};

// `base_path` is the path prefix FHIR is served under (e.g. "/fhir"). `target` is the raw
// origin-form target (path?query).
RouteResult Route(std::string_view method, std::string_view target, std::string_view base_path);

}  // namespace kiln::rest
