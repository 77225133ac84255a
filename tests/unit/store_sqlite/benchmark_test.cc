// Throughput figures for the SQLite store (not pass/fail; disabled by default). Run with
//   kiln_unit_store_sqlite --gtest_also_run_disabled_tests --gtest_filter='*Benchmark*'
// KILN_BENCH_DIR picks the data directory's parent (default: the system temp folder), so the
// figures can be taken on the disk a deployment would use.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "search/index.h"
#include "store/sqlite/sqlite_store.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::Key;
using testing::Numbered;
using testing::OpenOrDie;
using testing::TempDir;
using testing::Version;
using Clock = std::chrono::steady_clock;

// A Patient of about 1 KB, as the server would store it.
std::string PatientJson(const std::string& id) {
  std::string json = R"({"resourceType":"Patient","id":")" + id +
                     R"(","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000000Z"},)";
  json +=
      R"("identifier":[{"system":"http://hospital.example.org/mrn","value":"MRN-)" + id +
      R"("}],"active":true,"name":[{"use":"official","family":"Example","given":["Pat","Q"]}],)";
  json += R"("telecom":[{"system":"phone","value":"+1-555-0100","use":"home"}],"gender":"female",)";
  json +=
      R"("birthDate":"1974-12-25","address":[{"line":["534 Erewhon St"],"city":"PleasantVille",)";
  json +=
      R"("state":"Vic","postalCode":"3999","country":"AU"}],"text":{"status":"generated","div":")";
  json += "<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">";
  while (json.size() < 1000) json += "Lorem ipsum dolor sit amet. ";
  json += R"(</div>"}})";
  return json;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string BenchParent() {
  const char* dir = std::getenv("KILN_BENCH_DIR");
  return dir != nullptr ? dir : "";
}

TEST(SqliteStoreBenchmark, DISABLED_ReadsById) {
  TempDir dir;
  SqliteOptions options;
  options.data_dir = BenchParent().empty() ? dir.path() : BenchParent() + "/kiln-bench-reads";
  auto store = OpenOrDie(options);
  constexpr int kResources = 10000;
  // Load in big groups: this benchmark is about reads.
  for (int start = 0; start < kResources; start += 1000) {
    ASSERT_TRUE(store
                    ->WriteAndWait([&](StoreTxn& txn) {
                      for (int i = start; i < start + 1000; ++i) {
                        std::string id = Numbered("pat-", i);
                        StoredResource v = Version("Patient", id, 1, txn.NextTimestamp(),
                                                   PatientJson(id), WriteMethod::kCreate);
                        Status status = txn.Append(kDefaultTenant, v);
                        if (!status.ok()) return status;
                      }
                      return Status::Ok();
                    })
                    .ok());
  }
  std::vector<ResourceKey> keys;
  for (int i = 0; i < kResources; ++i) keys.push_back(Key("Patient", Numbered("pat-", i)));
  std::mt19937 random(7);
  std::vector<int> order(1 << 20);
  for (int& k : order) k = static_cast<int>(random() % kResources);

  for (int pass = 0; pass < 2; ++pass) {  // the first pass warms the caches
    int64_t reads = 0;
    size_t bytes = 0;
    Clock::time_point start = Clock::now();
    while (Seconds(start) < 2.0) {
      for (int n = 0; n < 1000; ++n) {
        Result<std::optional<StoredResource>> r =
            store->Read(keys[order[reads++ & (order.size() - 1)]]);
        bytes += (*r)->json.size();
      }
    }
    double s = Seconds(start);
    if (pass == 1) {
      std::printf(
          "[bench] Read by id, 1 thread, %d resources of ~%zu B: %.0f reads/s (%.2f us/read)\n",
          kResources, bytes / static_cast<size_t>(reads), reads / s, s * 1e6 / reads);
    }
  }
  {
    int64_t reads = 0;
    Clock::time_point start = Clock::now();
    while (Seconds(start) < 2.0) {
      for (int n = 0; n < 1000; ++n) {
        auto r = store->ReadVersion(keys[order[reads++ & (order.size() - 1)]], 1);
        ASSERT_TRUE(r.ok() && r->has_value());
      }
    }
    double s = Seconds(start);
    std::printf("[bench] vread, 1 thread: %.0f reads/s (%.2f us/read)\n", reads / s,
                s * 1e6 / reads);
  }
  for (int threads : {2, 4}) {
    std::atomic<int64_t> total{0};
    std::vector<std::thread> workers;
    Clock::time_point start = Clock::now();
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        int64_t reads = 0;
        size_t k = static_cast<size_t>(t) * 4099;
        while (Seconds(start) < 2.0) {
          for (int n = 0; n < 1000; ++n) (void)store->Read(keys[order[k++ & (order.size() - 1)]]);
          reads += 1000;
        }
        total += reads;
      });
    }
    for (std::thread& w : workers) w.join();
    std::printf("[bench] Read by id, %d threads: %.0f reads/s\n", threads,
                total.load() / Seconds(start));
  }
  {
    HistoryQuery query;
    query.type = "Patient";
    query.count = 20;
    int64_t pages = 0;
    Clock::time_point start = Clock::now();
    while (Seconds(start) < 1.0) {
      query.before_seq = 1 + static_cast<int64_t>(random() % kResources) + 20;
      ASSERT_TRUE(store->History(query).ok());
      ++pages;
    }
    std::printf("[bench] type history page of 20: %.0f pages/s\n", pages / Seconds(start));
    query.before_seq.reset();
    query.want_total = true;
    query.since = 0;
    pages = 0;
    start = Clock::now();
    while (Seconds(start) < 1.0) {
      ASSERT_EQ(store->History(query)->total, kResources);
      ++pages;
    }
    std::printf(
        "[bench] type history page of 20 with _since and total over %d versions: %.0f "
        "pages/s\n",
        kResources, pages / Seconds(start));
  }
  store->Close();
  if (!BenchParent().empty()) std::filesystem::remove_all(options.data_dir);
}

// Search index rows for each create (about 30 for this Patient).
enum class Indexing {
  kNone,         // no index rows
  kPrecomputed,  // the same extracted entries for every create: the store's own cost
  kExtracted,    // each writer extracts the entries on its own thread first, as a handler does
};

void DurableCreates(int writers, double seconds, Synchronous synchronous, const char* label,
                    Indexing indexing = Indexing::kNone) {
  const bool indexed = indexing != Indexing::kNone;
  TempDir dir;
  SqliteOptions options;
  options.data_dir = BenchParent().empty() ? dir.path() : BenchParent() + "/kiln-bench-writes";
  options.synchronous = synchronous;
  auto store = OpenOrDie(options);
  std::string body = PatientJson("x");
  Result<std::vector<search::IndexEntry>> precomputed = search::ExtractIndexFromJson(body);
  ASSERT_TRUE(precomputed.ok()) << precomputed.status().message();
  std::atomic<int64_t> created{0};
  std::atomic<int64_t> failed{0};
  std::vector<std::thread> threads;
  Clock::time_point start = Clock::now();
  for (int t = 0; t < writers; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t n = 0; Seconds(start) < seconds; ++n) {
        std::string id = Numbered(Numbered("w", t) + "-", n);
        Result<std::vector<search::IndexEntry>> index = std::vector<search::IndexEntry>();
        if (indexing == Indexing::kPrecomputed) index = *precomputed;
        if (indexing == Indexing::kExtracted) index = search::ExtractIndexFromJson(body);
        if (!index.ok()) {
          failed.fetch_add(1);
          continue;
        }
        Status status = store->WriteAndWait([&](StoreTxn& txn) {
          // What a create handler does: check the id is free, stamp, append.
          auto latest = txn.ReadLatest(Key("Patient", id));
          if (!latest.ok()) return latest.take_status();
          if (latest->has_value()) return Status::Conflict("exists");
          StoredResource v =
              Version("Patient", id, 1, txn.NextTimestamp(), body, WriteMethod::kCreate);
          return txn.Append(kDefaultTenant, v, indexed ? &*index : nullptr);
        });
        (status.ok() ? created : failed).fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  double s = Seconds(start);
  SqliteCounters counters = store->Counters();
  std::printf(
      "[bench] %s%s creates (~%zu B), %d writers: %.0f creates/s; %lld commits "
      "(%.1f writes/commit, largest %lld), %lld failed\n",
      label,
      indexing == Indexing::kNone          ? ""
      : indexing == Indexing::kPrecomputed ? " indexed (precomputed entries)"
                                           : " indexed (extracted per write)", body.size(), writers, created.load() / s, static_cast<long long>(counters.commits),
      static_cast<double>(counters.writes_committed) / std::max<int64_t>(1, counters.commits),
      static_cast<long long>(counters.largest_group), static_cast<long long>(failed.load()));
  store->Close();
  if (!BenchParent().empty()) std::filesystem::remove_all(options.data_dir);
}

TEST(SqliteStoreBenchmark, DISABLED_DurableCreates32Writers) {
  DurableCreates(32, 5.0, Synchronous::kFull, "durable (synchronous=FULL)");
}

TEST(SqliteStoreBenchmark, DISABLED_DurableIndexedCreates32Writers) {
  DurableCreates(32, 5.0, Synchronous::kFull, "durable (synchronous=FULL)",
                 Indexing::kPrecomputed);
  DurableCreates(32, 5.0, Synchronous::kFull, "durable (synchronous=FULL)", Indexing::kExtracted);
  DurableCreates(32, 3.0, Synchronous::kNormal, "synchronous=NORMAL");
  DurableCreates(32, 3.0, Synchronous::kNormal, "synchronous=NORMAL", Indexing::kPrecomputed);
}

TEST(SqliteStoreBenchmark, DISABLED_CreatesOtherSettings) {
  DurableCreates(1, 3.0, Synchronous::kFull, "durable (synchronous=FULL)");
  DurableCreates(8, 3.0, Synchronous::kFull, "durable (synchronous=FULL)");
  DurableCreates(128, 3.0, Synchronous::kFull, "durable (synchronous=FULL)");
  DurableCreates(32, 3.0, Synchronous::kNormal, "synchronous=NORMAL");
}

}  // namespace
}  // namespace kiln::store::sqlite
