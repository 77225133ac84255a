// Small pieces of HTTP message handling that need no Boost: request ids, the cached Date value,
// OperationOutcome bodies for the errors the server answers itself, header sanity checks.
//
// Kept apart from server.cc so they are cheap to compile and to test. All functions are
// thread-safe; the ones with per-thread state (random generator, date cache) use thread_local.
#pragma once

#include <string>
#include <string_view>

namespace kiln::http {

// True if a client-sent X-Request-Id can be echoed: 1..128 chars of [A-Za-z0-9._:-].
bool IsSaneRequestId(std::string_view id);

// A fresh request id: 16 lower-case hex chars from a per-thread generator seeded once from
// std::random_device. Unique enough to correlate logs, not a secret.
std::string NewRequestId();

// The current time as an IMF-fixdate for the Date header. Formatted at most once per second per
// thread; the view stays valid until the calling thread's next call.
std::string_view HttpDateNow();

// {"resourceType":"OperationOutcome","issue":[{"severity":"error","code":...,"diagnostics":...}]}
std::string OperationOutcomeJson(std::string_view issue_code, std::string_view diagnostics);

// True if `text` can go into a header value as is: no CR, LF or NUL (which would let a value
// split the response).
bool IsSafeHeaderText(std::string_view text);

// True if `name` is a valid header field name (an RFC 9110 token).
bool IsHeaderName(std::string_view name);

}  // namespace kiln::http
