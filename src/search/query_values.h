// Internal to kiln_search's query side: R4's value escaping and the parsers of single search
// values by parameter type (one comma-separated alternative at a time). Used by query.cc and
// query_bind.cc; not part of the public surface (use query.h).
//
// The parsers check syntax only; what a value may mean for a given parameter (a reference's type
// among the parameter's targets, a component count) is the binder's business. Failures are
// Status::Invalid with a short reason and no parameter name ("not a valid date"); the binder
// prefixes "name=value: ". Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"
#include "search/query.h"

namespace kiln::search::internal {

// ---- Escaping (R4 3.1.1.4.19: `\,` `\$` `\|` `\\`) ----

// Splits `text` on each `separator` that is not escaped; the parts keep their escapes. A
// backslash always takes the next character with it, so "a\\|b" splits after the second '\'.
std::vector<std::string_view> SplitUnescaped(std::string_view text, char separator);

// Removes the escapes. nullopt if a backslash is followed by anything but \ , $ | or ends the
// text (R4: "The parameter value xx\xx is illegal").
std::optional<std::string> Unescape(std::string_view text);

// Escapes \ , $ and | for printing values back in R4 syntax.
std::string Escape(std::string_view text);

// ---- Numbers ----

// A FHIR decimal with an optional exponent: -?digits(.digits)?([eE][+-]?digits)?. Leading zeros
// are accepted and are not significant. nullopt if malformed or the exponent is beyond +/-1000.
std::optional<Decimal> ParseDecimal(std::string_view text);

// The implicit range of `value`'s precision: value -/+ half a unit of its last digit.
void ImplicitRange(const Decimal& value, Decimal& low, Decimal& high);

// ---- Terms, one alternative each (escapes still in place) ----

Result<NumberTerm> ParseNumberTerm(std::string_view text);
Result<DateTerm> ParseDateTerm(std::string_view text);
Result<StringTerm> ParseStringTerm(std::string_view text);
Result<TokenTerm> ParseTokenTerm(std::string_view text);
Result<IdentifierTypeTerm> ParseIdentifierTypeTerm(std::string_view text);
Result<QuantityTerm> ParseQuantityTerm(std::string_view text);
// Syntax only: the binder checks the type against the parameter's targets.
Result<ReferenceTerm> ParseReferenceTerm(std::string_view text);
Result<UriTerm> ParseUriTerm(std::string_view text);
Result<NearTerm> ParseNearTerm(std::string_view text);

// [A-Za-z0-9-.]{1,64}, the FHIR id type.
bool IsFhirId(std::string_view text);

// An instant for debug output: "2020-01-01T00:00:00Z", with a fraction only when non-zero.
std::string FormatMicros(int64_t micros);

}  // namespace kiln::search::internal
