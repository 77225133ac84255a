// HTTP content negotiation and FHIR request headers: Accept/_format/_pretty, the request body's
// Content-Type, Prefer, ETags and If-* preconditions. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::rest {

// How to write the response body.
struct OutputFormat {
  std::string content_type;  // "application/fhir+json; charset=utf-8" or application/json
  bool pretty = false;
};

// From `_format` (which wins) and the Accept header. JSON only: XML or any other format the
// client insists on -> kNotAcceptable (406). `pretty_param` is the `_pretty` value ("" if absent;
// otherwise must be true/false -> kInvalid).
Result<OutputFormat> NegotiateOutput(std::string_view format_param, std::string_view accept,
                                     std::string_view pretty_param);

// Checks the Content-Type of a request body carrying a resource: FHIR JSON (or plain JSON)
// passes; XML and anything else -> kUnsupportedMediaType (415). An absent Content-Type is taken
// as JSON.
Status CheckResourceContentType(std::string_view content_type);

enum class ReturnPreference { kRepresentation, kMinimal, kOperationOutcome };

// The `return=` preference of a Prefer header (RFC 7240); representation when absent.
ReturnPreference ParsePreferReturn(std::string_view prefer);

// A version from an ETag as FHIR uses them: W/"3", "3" -> 3. nullopt if malformed.
std::optional<int64_t> ParseVersionETag(std::string_view etag);
std::string VersionETag(int64_t version);  // W/"3"

}  // namespace kiln::rest
