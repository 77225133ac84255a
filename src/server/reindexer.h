// Rebuilding the search index rows of every stored resource: after an upgrade whose index rules
// differ (search::IndexFingerprint()), for databases written before indexing existed, or on
// request (`kiln serve --reindex`, `kiln reindex`).
//
// A Reindexer walks Store::ScanCurrent in batches on its own thread (or the caller's, Run()),
// extracts each resource's entries there, off the store's writer thread, and hands each batch to
// the writer as one write: a StoreTxn::ReplaceIndex per resource plus the progress cursor, so
// reads and client writes keep flowing between batches, and a rebuild that is stopped (shutdown,
// crash) resumes from its last committed batch. ReplaceIndex leaves a resource alone when a client
// updated it since the scan read it: that write stored rows by this build's rules already. When
// the scan is through, the new fingerprint is recorded and the cursor cleared.
//
// A resource whose JSON cannot be indexed any more is logged (type, id, reason) and counted, and
// keeps the rows it had; it does not stop the rebuild.
//
// State in store_meta: index_fingerprint (the rules the rows were built by), and while a rebuild
// is under way reindex_target (the fingerprint it builds) and reindex_cursor.
//
// Thread-safety: Start(), Stop() and Progress() may be called from any thread; Run() from one
// thread at a time, and not while started. The store must outlive the Reindexer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "kiln/status.h"
#include "kiln/store.h"

namespace kiln::server {

inline constexpr const char* kMetaIndexFingerprint = "index_fingerprint";
inline constexpr const char* kMetaReindexTarget = "reindex_target";
inline constexpr const char* kMetaReindexCursor = "reindex_cursor";

// A snapshot of a rebuild's progress.
struct ReindexProgress {
  bool running = false;
  int64_t done = 0;     // resources scanned so far (including those of an earlier, resumed run)
  int64_t total = 0;    // current resources when the rebuild started (an estimate while it runs)
  int64_t failed = 0;   // resources whose JSON could not be indexed (kept their old rows)
  int64_t skipped = 0;  // resources updated by a client meanwhile (their rows were fresh already)
  double seconds = 0;   // since this run started
  double rate = 0;      // resources per second in this run
};

// Whether a store's index rows need rebuilding, and from where.
struct ReindexPlan {
  bool needed = false;
  int64_t cursor = 0;  // where to start: 0, or the cursor of an interrupted rebuild
  std::string reason;  // for the log: "requested", "index rules changed", ...
};

struct ReindexOptions {
  int batch_size = 500;
  // Pause between batches, to leave the disk and the writer to client traffic.
  std::chrono::milliseconds pause{0};
  // How often progress is logged (and `on_progress` called) while running.
  std::chrono::milliseconds progress_interval{5000};
  // Called on the rebuilding thread every progress_interval and once at the end.
  std::function<void(const ReindexProgress&)> on_progress;
  // Log each progress line (the server does; the CLI prints its own).
  bool log_progress = true;
};

// Reads the store's index state and decides. `force`: rebuild everything from the start. A fresh
// store with no current resources and no recorded fingerprint gets this build's fingerprint
// recorded here and needs nothing. Errors are the store's.
Result<ReindexPlan> PlanReindex(Store& store, bool force);

class Reindexer {
 public:
  Reindexer(Store& store, ReindexOptions options);
  ~Reindexer();  // Stop()
  Reindexer(const Reindexer&) = delete;
  Reindexer& operator=(const Reindexer&) = delete;

  // Rebuilds according to `plan` on the calling thread until done, Stop() or a store failure.
  // OK when the rebuild finished or was stopped (check Progress().running / finished()). A
  // finished rebuild then compacts the store's search index (CompactIndex), which Stop() cuts
  // short harmlessly.
  Status Run(const ReindexPlan& plan);
  // Run() on a background thread (named kiln-reindex). At most once per Reindexer.
  void Start(const ReindexPlan& plan);
  // Asks the rebuild to stop after the batch being written (a batch being extracted is dropped:
  // the saved cursor makes the next run redo it) and waits for its thread. Idempotent.
  void Stop();

  ReindexProgress Progress() const;
  // The last Run() went through to the end and recorded the fingerprint.
  bool finished() const { return finished_.load(); }

 private:
  // About 1 MiB of merged full-text index per compaction step: on the 1M-resource population a
  // whole compaction is about 9 s of the writer's time, so each step holds other writes up for
  // a fraction of a second at most.
  static constexpr int64_t kCompactPagesPerStep = 256;

  Status RunBatches(int64_t cursor);
  // After a finished rebuild: StoreTxn::CompactSearchIndex until nothing is left or Stop(), one
  // write per step, pausing between steps as between batches. Best effort: a failure is logged,
  // not returned (the rebuild is done either way).
  Status CompactIndex();
  // Waits up to `duration`; false if Stop() was called meanwhile.
  bool Sleep(std::chrono::milliseconds duration);
  void Report(bool final_line);

  Store& store_;
  const ReindexOptions options_;
  std::thread thread_;
  std::mutex thread_mu_;  // serialises Start() and Stop() on thread_
  std::atomic<bool> stop_{false};
  std::mutex wait_mu_;  // with wait_cv_: wakes Sleep() on Stop()
  std::condition_variable wait_cv_;
  std::atomic<bool> running_{false};
  std::atomic<bool> finished_{false};
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> total_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> skipped_{0};
  std::atomic<int64_t> done_at_start_{0};   // done_ when this run began (resumed runs)
  std::atomic<int64_t> started_micros_{0};  // steady clock; 0 before Run()
  std::atomic<int64_t> ended_micros_{0};    // steady clock; 0 while running
};

// Appends the kiln_reindex_* gauges for `progress` to a Prometheus text exposition.
void AppendReindexMetrics(std::string& out, const ReindexProgress& progress);

}  // namespace kiln::server
