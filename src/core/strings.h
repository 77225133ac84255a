// Small string helpers shared across modules. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::core {

// Appends `text` to `out` as the inside of a JSON string: quotes, backslashes and control
// characters escaped; everything else (valid UTF-8) copied as is.
void AppendJsonEscaped(std::string& out, std::string_view text);

// Appends the UTF-8 encoding of code point `cp` (at most 0x10FFFF) to `out`.
void AppendUtf8(std::string& out, uint32_t cp);

// `text` as a complete JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

// ASCII case-insensitive equality (HTTP header names, media types).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// `text` without leading and trailing spaces and tabs.
std::string_view TrimSpaces(std::string_view text);

// ASCII lower-case copy.
std::string ToLowerAscii(std::string_view text);

// The value of hex digit `c` (0-9, a-f, A-F), or -1.
int HexDigitValue(char c);

}  // namespace kiln::core
