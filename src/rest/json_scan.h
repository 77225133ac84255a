// A small scanner over JSON text that hands out the raw text of values, so that the resources of
// a Bundle are passed on byte for byte (their decimals keep their exact text; Boost.JSON's DOM
// would turn them into doubles), and a rewriter of Reference.reference values in raw JSON.
// It checks structure (brackets, strings, commas, colons) but not the text of numbers and
// literals: whatever it hands out is parsed strictly later (fhir::PrepareResource).
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::rest {

// `p` at the start of a value: the position just after it, or npos when it is not well formed.
size_t SkipValue(std::string_view text, size_t p);

// The decoded text of a raw JSON string ("..."), or nullopt when `raw` is not a string.
std::optional<std::string> StringOf(std::string_view raw);

// The members of a raw JSON object in order, names decoded, values raw (views into `object`).
// nullopt when `object` is not one well-formed object (optionally surrounded by whitespace).
using Members = std::vector<std::pair<std::string, std::string_view>>;
std::optional<Members> MembersOf(std::string_view object);

// The elements of a raw JSON array, raw; nullopt when `array` is not one well-formed array.
std::optional<std::vector<std::string_view>> ElementsOf(std::string_view array);

// The same for text a strict scan above already checked (a value handed out by MembersOf or
// ElementsOf): the members' or elements' own values are only skipped (brackets matched, strings
// jumped), not checked again, so that a Bundle's resources are not scanned strictly once per
// level. The object's or array's own structure is still checked.
std::optional<Members> MembersOfChecked(std::string_view object);
std::optional<std::vector<std::string_view>> ElementsOfChecked(std::string_view array);

// The raw value of the first member called `name`, or "" if there is none.
std::string_view Member(const Members& members, std::string_view name);

// Gets the raw content (between the quotes) of a reference string and returns the replacement's
// raw content (already JSON-escaped), or nullopt to leave it.
using ReferenceRewriter = std::function<std::optional<std::string>(std::string_view)>;

// `json` with the string values of every member named "reference", at any depth (nested
// elements, extensions' valueReference, contained resources), passed through `fn`. Everything
// else is copied byte for byte.
std::string RewriteReferences(std::string_view json, const ReferenceRewriter& fn);

}  // namespace kiln::rest
