// JSON texts whose objects repeat a member name. RFC 8259 leaves their meaning open (parsers
// keep the first, the last, or fail), so a token or introspection answer with one could mean one
// thing to the authorization server and another to Kiln; RFC 7515 section 5.2 lets a JWS parser
// refuse them, and Kiln does (jwt.cc, introspection.cc). Pure function; thread-safe.
#pragma once

#include <string_view>

namespace kiln::auth {

// True when `json` is valid JSON and some object in it (at any depth) has two members with the
// same name (after unescaping). False for valid JSON without duplicates and for invalid JSON
// (which the caller refuses anyway when it parses it).
bool HasDuplicateMembers(std::string_view json);

}  // namespace kiln::auth
