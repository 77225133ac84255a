// Batch and transaction Bundles (R4 http 3.1.0.11): POST [base] with a Bundle of type "batch" or
// "transaction".
//
// A transaction's entries are all prepared (routed, references to urn:uuid fullUrls rewritten,
// validated, indexed) before the write, then written in ONE Store::Write closure in the order
// the spec gives: DELETE, POST, PUT/PATCH, GET. Any entry failing fails the closure, which rolls
// every entry back; the error names the entry. A batch's entries are independent: each is its own
// Store::Write closure (all queued at once, so they share group commits) and fails alone.
//
// ProcessBundle does the preparation on the calling thread, so call it on a worker, not on an I/O
// thread; it does not wait for the store. Thread-safe (no state of its own).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/thread_pool.h"
#include "kiln/status.h"
#include "kiln/store.h"
#include "rest/access.h"
#include "rest/negotiation.h"
#include "rest/service.h"
#include "rest/tenancy.h"

namespace kiln::rest {

using BundleDone = std::function<void(Result<std::string>)>;

// Runs the Bundle in `body` and calls `done` once with the batch-response / transaction-response
// Bundle to answer with 200, or with a failed Status that is the answer to the whole request: the
// body is not a batch or transaction Bundle (400), has more than options.max_bundle_entries
// entries (413), or a transaction entry failed (that entry's status; the OperationOutcome names
// the entry). `prefer` (the request's Prefer return=) decides whether written resources are
// returned in the response entries, as for the single interactions.
//
// Parses, validates and indexes on the calling thread (a worker), then queues the writes and
// returns; `done` runs on a `workers` thread once they are committed (or on the calling thread
// for a whole-request error found before the write). `options`, `store` and `workers` must
// outlive the call's completion. Every entry is checked against `access` (rest/access.h): a
// transaction with a forbidden entry fails whole (403), a batch entry fails alone. Every entry
// acts in access.tenant; entries' urls are relative to links.base_url (the request's base, with
// its tenant prefix if it has one), where fullUrls, locations and paging links point too.
void ProcessBundle(std::string body, ReturnPreference prefer, std::string request_id,
                   const Access& access, const LinkBase& links, const RestOptions& options,
                   Store& store, core::ThreadPool& workers, BundleDone done);

}  // namespace kiln::rest
