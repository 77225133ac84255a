// Identifiers: server-assigned resource ids and the R4 id rule. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace kiln::core {

// A new random resource id: a version-4 UUID in lower-case text (36 chars, valid as an R4 id),
// from OpenSSL's CSPRNG so ids cannot be guessed.
std::string NewResourceId();

// The R4 id rule: [A-Za-z0-9\-\.]{1,64}
bool IsValidId(std::string_view id);

}  // namespace kiln::core
