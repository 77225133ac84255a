// The FHIR R4 primitive datatypes: which JSON kind carries each one, and hand-written checkers
// for their lexical rules (the regexes of the R4 StructureDefinitions, plus real calendar dates,
// which no regex can express). Internal to kiln_validation.
//
// Written by hand rather than with std::regex because they run for every primitive value of every
// resource Kiln stores: none of them allocates, and each is a single pass over the text.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln::validation::internal {

enum class Primitive : uint8_t {
  kNone,  // not a primitive type
  kBoolean,
  kInteger,
  kUnsignedInt,
  kPositiveInt,
  kDecimal,
  kString,
  kMarkdown,
  kCode,
  kId,
  kUri,
  kUrl,
  kCanonical,
  kOid,
  kUuid,
  kBase64Binary,
  kInstant,
  kDate,
  kDateTime,
  kTime,
  kXhtml,
};

// The primitive named by a FHIR type code ("dateTime", "positiveInt"); kNone for any other name.
Primitive PrimitiveFromName(std::string_view name);
// The FHIR type code of a primitive ("" for kNone).
std::string_view PrimitiveName(Primitive primitive);

// The JSON representation of each primitive (R4 JSON page): true/false, a number, or a string.
enum class JsonKind : uint8_t { kBool, kNumber, kString };
JsonKind JsonKindOf(Primitive primitive);

// Verdict on a string value of type string or markdown.
enum class StringCheck : uint8_t {
  kOk,
  kForbiddenWhitespace,  // \v or \f: outside the R4 regex [ \r\n\t\S]+ (error)
  kTooLong,              // over 1,048,576 characters ("SHALL NOT exceed 1MB") (error)
  kControlCharacter,     // another character below U+0020 other than \t \r \n (R4: SHOULD NOT)
  kOnlyWhitespace,       // R4: strings SHOULD always contain non-whitespace content
};
StringCheck CheckString(std::string_view s);

// Each returns true if `s` (non-empty; emptiness is checked by the caller) matches the type's
// R4 lexical rule.
bool IsValidCode(std::string_view s);    // [^\s]+(\s[^\s]+)*
bool IsValidId(std::string_view s);      // [A-Za-z0-9\-\.]{1,64}
bool IsValidUri(std::string_view s);     // \S* (uri, url, canonical)
bool IsValidOid(std::string_view s);     // urn:oid:[0-2](\.(0|[1-9][0-9]*))+
bool IsValidUuid(std::string_view s);    // urn:uuid: + lowercase 8-4-4-4-12 hex
bool IsValidBase64(std::string_view s);  // (\s*([0-9a-zA-Z\+/=]){4}\s*)+
// Dates and times: the R4 regexes (years 0001-9999, hours 00-23, seconds up to 60, zones from
// -14:00 to +14:00) and real calendar days (no 2023-02-30; 2024-02-29 is fine).
bool IsValidDate(std::string_view s);      // YYYY, YYYY-MM or YYYY-MM-DD
bool IsValidDateTime(std::string_view s);  // a date, or a full date + Thh:mm:ss[.f+] + zone
bool IsValidInstant(std::string_view s);   // full date + Thh:mm:ss[.f+] + zone
bool IsValidTime(std::string_view s);      // hh:mm:ss[.f+]

// True if `s` starts with a URI scheme and a colon (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" /
// "-" / "." ) ":"), i.e. is an absolute URI rather than a relative reference.
bool HasUriScheme(std::string_view s);

}  // namespace kiln::validation::internal
