// StoredResource: one version of a resource as the store keeps and serves it.
//
// `json` holds the exact bytes served to clients (compact JSON with id and meta set by the
// server); reads hand them out without re-serialising. Value type; not synchronised.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

// How a version came to be; history bundles report it as entry.request.method.
enum class WriteMethod { kCreate, kUpdate, kDelete, kPatch };

struct VersionInfo {
  std::string type;
  std::string id;
  int64_t version = 0;       // 1, 2, 3 ... per resource
  int64_t last_updated = 0;  // microseconds since the Unix epoch (UTC)
  bool deleted = false;      // this version is a deletion marker (no json)
  WriteMethod method = WriteMethod::kCreate;
  int64_t seq = 0;           // store-wide commit order; history paging cursors use it
};

struct StoredResource {
  VersionInfo info;
  std::string json;  // empty when info.deleted
};

}  // namespace kiln
