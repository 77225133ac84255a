// Identifiers: server-assigned resource ids and the R4 id rule. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace kiln::core {

// A new resource id: a version-7 UUID in lower-case text (36 chars, valid as an R4 id): the
// creation millisecond, then 74 bits from OpenSSL's CSPRNG so ids cannot be guessed. Ids sort in
// creation order (to the millisecond), which keeps the store's b-trees keyed by id append-only.
std::string NewResourceId();

// The R4 id rule: [A-Za-z0-9\-\.]{1,64}
bool IsValidId(std::string_view id);

}  // namespace kiln::core
