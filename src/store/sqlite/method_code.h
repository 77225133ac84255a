// How resource_version.method stores a WriteMethod. This mapping, not the enum's values, is the
// on-disk format: codes are never reused or renumbered.
#pragma once

#include <cstdint>

#include "kiln/resource.h"

namespace kiln::store::sqlite {

inline int MethodCode(WriteMethod method) {
  switch (method) {
    case WriteMethod::kCreate:
      return 0;
    case WriteMethod::kUpdate:
      return 1;
    case WriteMethod::kDelete:
      return 2;
    case WriteMethod::kPatch:
      return 3;
  }
  return 1;
}

// Unknown codes (from a newer Kiln) read as updates, the most general kind of version.
inline WriteMethod MethodFromCode(int64_t code) {
  switch (code) {
    case 0:
      return WriteMethod::kCreate;
    case 2:
      return WriteMethod::kDelete;
    case 3:
      return WriteMethod::kPatch;
    default:
      return WriteMethod::kUpdate;
  }
}

}  // namespace kiln::store::sqlite
