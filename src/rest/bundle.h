// Batch and transaction Bundles (R4 http 3.1.0.11): POST [base] with a Bundle of type "batch" or
// "transaction".
//
// A transaction's entries are all prepared (routed, references to urn:uuid fullUrls rewritten,
// validated, indexed) before the write, then written in ONE Store::Write closure in the order
// the spec gives: DELETE, POST, PUT/PATCH, GET. Any entry failing fails the closure, which rolls
// every entry back; the error names the entry. A batch's entries are independent: each is its own
// Store::Write closure (all queued at once, so they share group commits) and fails alone.
//
// ProcessBundle blocks until the store has committed: call it on a worker thread, never on an I/O
// thread. Thread-safe (no state of its own).
#pragma once

#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/store.h"
#include "rest/negotiation.h"
#include "rest/service.h"

namespace kiln::rest {

// Runs the Bundle in `body` and returns the batch-response / transaction-response Bundle to answer
// with 200. A failed Status is the answer to the whole request: the body is not a batch or
// transaction Bundle (400), has more than options.max_bundle_entries entries (413), or a
// transaction entry failed (that entry's status; the OperationOutcome names the entry).
// `prefer` (the request's Prefer return=) decides whether written resources are returned in the
// response entries, as for the single interactions.
Result<std::string> ProcessBundle(std::string_view body, ReturnPreference prefer,
                                  std::string_view request_id, const RestOptions& options,
                                  Store& store);

}  // namespace kiln::rest
