// Strict base64url (RFC 4648 section 5) without padding, as JOSE uses it (RFC 7515 section 2).
// "Strict" means exactly one encoding is accepted for any byte string: no padding, no whitespace,
// no characters outside the url-safe alphabet, no impossible length (n mod 4 == 1) and no set
// bits left over in the last character. A token that differs from its canonical form is a
// different token, so tampering cannot hide in slack bits. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kiln::auth {

// The decoded bytes, or nullopt if `text` is not canonical unpadded base64url.
std::optional<std::string> DecodeBase64Url(std::string_view text);

std::string EncodeBase64Url(std::string_view bytes);

}  // namespace kiln::auth
