// kiln import: loading NDJSON files and Bundle files straight into a store, with the guarantees
// of the REST API and the throughput of a bulk loader.
//
// Every resource goes through the steps of the single interactions (rest/write_ops.h): parsed,
// checked to be a known type with a valid id, validated (per the ValidationPolicy), its search
// index extracted, then written as `PUT /Type/id` (update, or update-as-create) when it carries an
// id and as `POST /Type` (a server id) when it does not. Transaction and batch Bundles run through
// the same executor as `POST [base]` (rest/bundle.h); collection and searchset Bundles are split
// into their entries' resources, each written as above.
//
// Pipeline: the caller's thread reads files (NDJSON in batches of whole lines); a pool of worker
// threads parses, validates and indexes the batches in parallel; finished batches are handed to
// the store's writer in file order (a resource that appears twice ends at its later version), one
// Store::Write per resource, with many thousands in flight so the writer's group commit fills its
// transactions. The number of resources read but not yet committed is bounded
// (ImportOptions::max_in_flight), which bounds memory.
//
// Thread-safety: ImportFile and Finish are called from one thread; Counts() from any thread.
// The Importer borrows the store, which must outlive it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kiln/status.h"
#include "kiln/store.h"
#include "rest/service.h"

namespace kiln::importer {

struct ImportOptions {
  // The settings shared with the REST API: validation policy, base URL (of fullUrls and
  // locations), limits of the Bundle executor.
  rest::RestOptions rest;
  // The tenant everything is stored in (kiln import --tenant; docs/tenants.md).
  std::string tenant = kDefaultTenant;
  int workers = 2;                  // threads that parse, validate and index
  int64_t max_in_flight = 8000;     // resources read but not yet committed or failed
  size_t batch_bytes = 256 * 1024;  // NDJSON bytes per unit of work handed to a worker
  // Stop at the first failure: what comes before it in file order is stored, nothing after it
  // is read (a failure found only when committing may let writes already queued behind it in).
  bool stop_on_error = false;
};

// One resource (or Bundle) that was not stored, and why.
struct Failure {
  std::string file;
  int64_t line = 0;    // NDJSON: the 1-based line number; 0 when not an NDJSON line
  int64_t entry = -1;  // Bundle: the 0-based entry index (Bundle.entry[N]); -1 when none
  std::string reason;  // the OperationOutcome's issues as text
};

struct TypeCounts {
  int64_t created = 0;  // a new resource (or one brought back after deletion)
  int64_t updated = 0;  // a new version of an existing resource
  int64_t deleted = 0;  // transaction/batch DELETE entries
};

// Progress so far; a consistent-enough snapshot for a progress line.
struct ImportCounts {
  int64_t stored = 0;      // resources committed (created, updated or deleted)
  int64_t failed = 0;      // failures reported
  int64_t bytes_read = 0;  // of all files, as far as read
};

struct ImportSummary {
  std::map<std::string, TypeCounts> by_type;
  int64_t stored = 0;
  // Resources stored although they fail validation (--validation warn-only), and the first few
  // of them with their problems.
  int64_t stored_with_warnings = 0;
  std::vector<Failure> warning_examples;
  // searchset entries with search.mode "outcome" (the server's OperationOutcome, not data).
  int64_t skipped_outcomes = 0;
  std::vector<Failure> failures;  // in file order (by file, then line or entry)
  bool stopped_early = false;     // --stop-on-error stopped the import
};

class Importer {
 public:
  Importer(Store& store, ImportOptions options);
  ~Importer();
  Importer(const Importer&) = delete;
  Importer& operator=(const Importer&) = delete;

  // Reads `path` and queues its resources (blocking while too many are in flight); returns once
  // the whole file is read, before everything is committed. A file that cannot be read or
  // parsed as a whole is a failure of its own. Does nothing after --stop-on-error stopped.
  void ImportFile(const std::string& path);

  // Waits until every queued write is committed or failed, stops the workers, and returns the
  // summary. Call once, after the last ImportFile.
  ImportSummary Finish();

  ImportCounts Counts() const;
  bool stopped() const { return stop_.load(); }

 private:
  struct Batch;
  struct Item;

  void ImportNdjson(const std::string& path);
  void ImportDocument(const std::string& path);
  void ImportExecutedBundle(const std::string& path, std::shared_ptr<const std::string> text,
                            size_t entries);
  // Hands `batch` (its items to prepare) to the workers; waits while too much is in flight.
  void Dispatch(std::shared_ptr<Batch> batch);
  void Prepare(Batch& batch);
  // Submits every prepared batch whose turn it is (file order). Called with mu_ held.
  void SubmitReady();
  void Submit(const std::shared_ptr<Batch>& batch);
  void BatchDone(Batch& batch);
  void AddFailure(Failure failure);
  void WaitForRoom(int64_t resources);
  void Release(int64_t resources);
  // Blocks until every dispatched batch has been handed to the store (not committed).
  void WaitSubmitted();

  Store& store_;
  const ImportOptions options_;
  std::unique_ptr<core::ThreadPool> workers_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t in_flight_ = 0;          // guarded by mu_
  uint64_t next_seq_ = 0;          // guarded by mu_: sequence number of the next batch
  uint64_t next_submit_ = 0;       // guarded by mu_: the batch whose writes go next
  std::map<uint64_t, std::shared_ptr<Batch>> prepared_;  // guarded by mu_: waiting their turn
  int64_t bundles_pending_ = 0;    // guarded by mu_: executed Bundles not finished
  ImportSummary summary_;          // guarded by mu_
  std::vector<std::string> files_;  // guarded by mu_: every file started, in order
  // guarded by mu_: failures so far with the index of their file in files_ (sorted by Finish)
  std::vector<std::pair<size_t, Failure>> failures_;
  std::atomic<bool> stop_{false};  // --stop-on-error saw a failure

  std::atomic<int64_t> stored_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> bytes_done_{0};     // files finished
  std::atomic<int64_t> bytes_current_{0};  // of the file being read
};

// The issues of `status` as one line of text: "expression: diagnostics; ...".
std::string ReasonText(const Status& status);

}  // namespace kiln::importer
