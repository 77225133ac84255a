// Turning a client's resource JSON into the bytes Kiln stores and serves.
//
// A client body is parsed once (Boost.JSON's SAX parser, so no DOM and no loss: numbers keep
// their exact text, e.g. a decimal 1.50 stays 1.50) and re-emitted as compact JSON split around
// the parts the server owns: `resourceType` and `id` first, then `meta` with the server's
// `versionId` and `lastUpdated` (client values for those two are dropped), then every other
// member in the client's order. Rendering a version is then plain concatenation, cheap enough to
// do inside the store's write transaction. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::fhir {

struct PreparedResource {
  std::string resource_type;
  std::string id;  // as sent by the client; empty if absent
  bool has_id = false;
  // Other members of `meta` (profile, security, tag, source, extension...), each as
  // `,"name":value`.
  std::string meta_rest;
  // Every top-level member except resourceType, id and meta, each as `,"name":value`.
  std::string body_rest;
};

// Parses `body`. Fails with kInvalid (issue code "structure", or "invalid"/"required") when the
// body is not JSON, not an object, has duplicate member names, lacks a string `resourceType`, or
// has a non-string `id` or non-object `meta`.
Result<PreparedResource> PrepareResource(std::string_view body);

// The stored form of one version:
// {"resourceType":T,"id":ID,"meta":{"versionId":"V","lastUpdated":L<meta_rest>}<body_rest>}
std::string RenderResource(const PreparedResource& resource, std::string_view id, int64_t version,
                           std::string_view last_updated);

// Re-indents compact JSON (as produced by RenderResource, or any valid JSON) with two spaces.
std::string PrettyPrint(std::string_view json);

}  // namespace kiln::fhir
