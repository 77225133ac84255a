#include "server/reindexer.h"

#include <algorithm>
#include <future>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/metrics.h"
#include "core/thread_pool.h"
#include "search/fingerprint.h"
#include "search/index.h"

namespace kiln::server {
namespace {

using LogInt = long long;  // NOLINT(google-runtime-int): the logger's integer type

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One resource of a batch, ready for the writer.
struct Rebuilt {
  ResourceKey key;
  int64_t version = 0;
  std::vector<search::IndexEntry> entries;
};

}  // namespace

Result<ReindexPlan> PlanReindex(Store& store, bool force) {
  const int64_t fingerprint = search::IndexFingerprint();
  ReindexPlan plan;
  if (force) {
    plan.needed = true;
    plan.reason = "requested";
    return plan;
  }
  Result<std::optional<int64_t>> target = store.ReadMeta(kMetaReindexTarget);
  if (!target.ok()) return target.take_status();
  if (*target == fingerprint) {
    Result<std::optional<int64_t>> cursor = store.ReadMeta(kMetaReindexCursor);
    if (!cursor.ok()) return cursor.take_status();
    plan.needed = true;
    plan.cursor = cursor->value_or(0);
    plan.reason = "resuming an interrupted rebuild";
    return plan;
  }
  Result<std::optional<int64_t>> stored = store.ReadMeta(kMetaIndexFingerprint);
  if (!stored.ok()) return stored.take_status();
  if (*stored == fingerprint) return plan;
  if (!stored->has_value()) {
    Result<int64_t> count = store.CountCurrent(0);
    if (!count.ok()) return count.take_status();
    if (*count == 0) {
      // A new (or emptied) store: whatever is written from now on is indexed by this build.
      Status status = store.WriteAndWait(
          [fingerprint](StoreTxn& txn) { return txn.SetMeta(kMetaIndexFingerprint, fingerprint); });
      if (!status.ok()) return status;
      return plan;
    }
    plan.needed = true;
    plan.reason = "no index fingerprint recorded (rows written before index versioning)";
    return plan;
  }
  plan.needed = true;
  plan.reason = "the index rules changed since the rows were written";
  return plan;
}

Reindexer::Reindexer(Store& store, ReindexOptions options)
    : store_(store), options_(std::move(options)) {}

Reindexer::~Reindexer() { Stop(); }

void Reindexer::Start(const ReindexPlan& plan) {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable() || stop_.load()) return;
  running_.store(true);  // before Start() returns, so /metrics never shows a gap
  thread_ = std::thread([this, plan] {
    core::SetCurrentThreadName("kiln-reindex");
    Status status = Run(plan);
    if (!status.ok()) {
      core::LogError("search index rebuild failed; it resumes at the next start",
                     {{"error", std::string_view(status.message())}});
    }
  });
}

void Reindexer::Stop() {
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    stop_.store(true);
  }
  wait_cv_.notify_all();
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable()) thread_.join();
}

bool Reindexer::Sleep(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(wait_mu_);
  return !wait_cv_.wait_for(lock, duration, [&] { return stop_.load(); });
}

ReindexProgress Reindexer::Progress() const {
  ReindexProgress p;
  p.running = running_.load();
  p.done = done_.load();
  p.total = std::max(total_.load(), p.done);
  p.failed = failed_.load();
  p.skipped = skipped_.load();
  int64_t start = started_micros_.load();
  if (start != 0) {
    int64_t end = ended_micros_.load();
    p.seconds = static_cast<double>((end != 0 ? end : SteadyMicros()) - start) / 1e6;
    if (p.seconds > 0) p.rate = static_cast<double>(p.done - done_at_start_.load()) / p.seconds;
  }
  return p;
}

void Reindexer::Report(bool final_line) {
  ReindexProgress p = Progress();
  if (options_.log_progress && !final_line) {
    core::LogInfo("search index rebuild progress", {{"done", static_cast<LogInt>(p.done)},
                                                    {"total", static_cast<LogInt>(p.total)},
                                                    {"failed", static_cast<LogInt>(p.failed)},
                                                    {"resources_per_second", p.rate}});
  }
  if (options_.on_progress) options_.on_progress(p);
}

Status Reindexer::Run(const ReindexPlan& plan) {
  running_.store(true);
  finished_.store(false);
  ended_micros_.store(0);
  started_micros_.store(SteadyMicros());
  failed_.store(0);
  skipped_.store(0);

  Status status = Status::Ok();
  Result<int64_t> total = store_.CountCurrent(0);
  Result<int64_t> remaining = store_.CountCurrent(plan.cursor);
  if (!total.ok()) status = total.take_status();
  if (status.ok() && !remaining.ok()) status = remaining.take_status();
  if (status.ok()) {
    total_.store(*total);
    done_.store(std::max<int64_t>(0, *total - *remaining));
    done_at_start_.store(done_.load());
    core::LogInfo("search index rebuild started",
                  {{"reason", std::string_view(plan.reason)},
                   {"total", static_cast<LogInt>(*total)},
                   {"already_done", static_cast<LogInt>(done_.load())},
                   {"batch", static_cast<LogInt>(options_.batch_size)}});
    status = RunBatches(plan.cursor);
  }
  ended_micros_.store(SteadyMicros());
  running_.store(false);
  ReindexProgress p = Progress();
  if (status.ok() && finished_.load()) {
    core::LogInfo("search index rebuild finished",
                  {{"done", static_cast<LogInt>(p.done)},
                   {"failed", static_cast<LogInt>(p.failed)},
                   {"skipped_updated", static_cast<LogInt>(p.skipped)},
                   {"seconds", p.seconds},
                   {"resources_per_second", p.rate}});
    status = CompactIndex();
  } else if (status.ok()) {
    core::LogInfo("search index rebuild stopped; it resumes at the next start",
                  {{"done", static_cast<LogInt>(p.done)}, {"total", static_cast<LogInt>(p.total)}});
  }
  Report(/*final_line=*/true);
  return status;
}

Status Reindexer::CompactIndex() {
  const int64_t start = SteadyMicros();
  int steps = 0;
  bool more = true;
  while (more && !stop_.load()) {
    Status status = store_.WriteAndWait([&more](StoreTxn& txn) -> Status {
      Result<bool> step = txn.CompactSearchIndex(kCompactPagesPerStep);
      if (!step.ok()) return step.take_status();
      more = *step;
      return Status::Ok();
    });
    if (!status.ok()) {
      // The rebuild itself is done and recorded; a compaction that fails only leaves the index
      // larger than it needs to be, and FTS5's own merges go on.
      core::LogWarn(
          "search index compaction failed; the index stays as it is",
          {{"steps", static_cast<LogInt>(steps)}, {"error", std::string_view(status.message())}});
      return Status::Ok();
    }
    ++steps;
    if (more && options_.pause.count() > 0 && !Sleep(options_.pause)) break;
  }
  core::LogInfo(more ? "search index compaction stopped" : "search index compacted",
                {{"steps", static_cast<LogInt>(steps)},
                 {"seconds", static_cast<double>(SteadyMicros() - start) / 1e6}});
  return Status::Ok();
}

Status Reindexer::RunBatches(int64_t cursor) {
  const int64_t fingerprint = search::IndexFingerprint();
  const int batch_size = std::max(1, options_.batch_size);
  // One batch is written while the next is read and extracted.
  std::optional<std::future<Status>> in_flight;
  int64_t in_flight_count = 0;
  std::shared_ptr<int64_t> in_flight_skipped;
  auto settle = [&]() -> Status {
    if (!in_flight) return Status::Ok();
    Status status = in_flight->get();
    in_flight.reset();
    if (status.ok()) {
      done_.fetch_add(in_flight_count);
      skipped_.fetch_add(*in_flight_skipped);
    }
    return status;
  };

  int64_t last_report = SteadyMicros();
  bool scanned_all = false;
  while (!stop_.load()) {
    Result<ScanPage> page = store_.ScanCurrent(cursor, batch_size);
    if (!page.ok()) {
      (void)settle();
      return page.take_status();
    }
    auto batch = std::make_shared<std::vector<Rebuilt>>();
    batch->reserve(page->resources.size());
    for (ScannedResource& scanned : page->resources) {
      if (stop_.load()) break;
      const VersionInfo& info = scanned.resource.info;
      Result<std::vector<search::IndexEntry>> entries =
          search::ExtractIndexFromJson(scanned.resource.json);
      if (!entries.ok()) {
        failed_.fetch_add(1);
        // Type and id only: the reason names the parameter, never the resource's values.
        core::LogWarn("search index rebuild: cannot index a resource; it keeps its old index rows",
                      {{"tenant", std::string_view(scanned.tenant)},
                       {"type", std::string_view(info.type)},
                       {"id", std::string_view(info.id)},
                       {"reason", std::string_view(entries.status().message())}});
        continue;
      }
      Rebuilt& out = batch->emplace_back();
      out.key.tenant = std::move(scanned.tenant);
      out.key.type = info.type;
      out.key.id = info.id;
      out.version = info.version;
      out.entries = std::move(*entries);
    }
    if (Status status = settle(); !status.ok()) return status;
    if (stop_.load()) break;  // this batch is dropped; the saved cursor is before it

    const int64_t next_cursor = page->next_cursor;
    auto skipped = std::make_shared<int64_t>(0);
    auto promise = std::make_shared<std::promise<Status>>();
    in_flight = promise->get_future();
    in_flight_count = static_cast<int64_t>(page->resources.size());
    in_flight_skipped = skipped;
    store_.Write(
        [batch, skipped, fingerprint, next_cursor](StoreTxn& txn) -> Status {
          *skipped = 0;
          for (const Rebuilt& r : *batch) {
            Result<bool> replaced = txn.ReplaceIndex(r.key, r.version, r.entries);
            if (!replaced.ok()) return replaced.take_status();
            if (!*replaced) ++*skipped;
          }
          Status status = txn.SetMeta(kMetaReindexTarget, fingerprint);
          if (status.ok()) status = txn.SetMeta(kMetaReindexCursor, next_cursor);
          return status;
        },
        [promise](Status status) { promise->set_value(std::move(status)); });
    cursor = next_cursor;
    if (page->done) {
      scanned_all = true;
      break;
    }

    int64_t now = SteadyMicros();
    if (now - last_report >= options_.progress_interval.count() * 1000) {
      last_report = now;
      Report(/*final_line=*/false);
    }
    if (options_.pause.count() > 0) {
      // The pause starts once the batch is committed, so the writer is really left alone.
      if (Status status = settle(); !status.ok()) return status;
      if (!Sleep(options_.pause)) break;
    }
  }
  if (Status status = settle(); !status.ok()) return status;
  if (!scanned_all) return Status::Ok();  // stopped

  Status status = store_.WriteAndWait([fingerprint](StoreTxn& txn) {
    Status s = txn.SetMeta(kMetaIndexFingerprint, fingerprint);
    if (s.ok()) s = txn.SetMeta(kMetaReindexTarget, std::nullopt);
    if (s.ok()) s = txn.SetMeta(kMetaReindexCursor, std::nullopt);
    return s;
  });
  if (!status.ok()) return status;
  finished_.store(true);
  return Status::Ok();
}

void AppendReindexMetrics(std::string& out, const ReindexProgress& p) {
  core::AppendGauge(out, "kiln_reindex_running",
                    "1 while the search index is being rebuilt in the background.",
                    p.running ? 1 : 0);
  core::AppendGauge(out, "kiln_reindex_resources_done",
                    "Resources whose search index rows the current or last rebuild has rebuilt.",
                    static_cast<double>(p.done));
  core::AppendGauge(out, "kiln_reindex_resources_total",
                    "Resources the current or last search index rebuild covers.",
                    static_cast<double>(p.total));
  core::AppendGauge(out, "kiln_reindex_resources_failed",
                    "Resources the current or last rebuild could not index (see the log).",
                    static_cast<double>(p.failed));
}

}  // namespace kiln::server
