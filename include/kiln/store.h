// Store: versioned resources + history + search indexes, transactional.
//
// The interface is backend-neutral: the embedded SQLite store (store/sqlite) implements it now and
// PostgreSQL (store/postgres) will later, without changes above this line. Every row is keyed by
// tenant.
//
// Threading: every method is thread-safe. Reads run concurrently on the caller's thread. Writes are
// closures handed to Write(): the store runs them one at a time, each inside its own savepoint of a
// shared database transaction that groups every write pending at that moment ("group commit"), so
// durable commits do not cap throughput at the disk's fsync rate. A write is acknowledged (its
// `done` runs with OK) only after the transaction that holds it is durably committed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/context.h"
#include "kiln/resource.h"
#include "kiln/status.h"
#include "search/index.h"
#include "search/query.h"

namespace kiln {

// The view of the store a write closure gets. Only valid inside that closure, on the writer thread.
// One page of search results.
struct SearchPage {
  std::vector<StoredResource> matches;  // current versions, in the query's order
  // What query.includes reach from this page's matches (search.mode "include"): current,
  // not deleted versions of the same tenant, each once and never one that is also a match; in
  // the order they were reached (each round of :iterate after the one before).
  std::vector<StoredResource> included;
  // Problems that did not stop the search, e.g. the include cap (Query::max_includes) was hit.
  std::vector<Issue> warnings;
  std::optional<int64_t> total;  // all matches; set for _total=accurate or estimate
  std::string next_cursor;       // empty: no more; otherwise Query::cursor of the next page
  // Query::cursor of the page before this one; empty on the first page.
  std::string previous_cursor;
};

class StoreTxn {
 public:
  virtual ~StoreTxn() = default;

  // The latest version of `key` (which may be a deletion marker) with its JSON, or nullopt if the
  // resource never existed. Sees the writes made earlier in the same transaction.
  virtual Result<std::optional<StoredResource>> ReadLatest(const ResourceKey& key) = 0;

  // Appends a new version. `version.info.version` must be one more than the latest version
  // (or 1 for a new resource): kConflict otherwise. For a deletion, info.deleted is true and
  // json is empty. Sets version.info.seq to the store-wide sequence number it was given.
  //
  // Search index: when `index` is given and the version is not a deletion, the resource's index
  // rows are replaced by these entries (search::ExtractIndex of this version). A deletion removes
  // the resource's index rows whatever `index` is. When `index` is nullptr (and the version is not
  // a deletion) the index rows are left as they are. Entries of kind kText (_text, _content) go to
  // the store's full-text index.
  virtual Status Append(const std::string& tenant, StoredResource& version,
                        const std::vector<search::IndexEntry>* index = nullptr) = 0;

  // A timestamp (microseconds since the epoch, UTC) for meta.lastUpdated: the wall clock, but
  // strictly greater than every timestamp handed out before by this store, so lastUpdated order
  // agrees with commit order even if the clock steps back.
  virtual int64_t NextTimestamp() = 0;

  // Runs a search inside the write transaction: it sees the writes made earlier in the same
  // transaction, and no other write can slip in between it and this closure's own Append. That is
  // what makes conditional create/update/delete safe against concurrent twins (two clients
  // creating "the patient with identifier X" at once create it once). Same results as
  // Store::Search; keep such searches selective, since they run on the single writer.
  virtual Result<SearchPage> Search(const std::string& tenant, const search::Query& query) = 0;

  // --- Index maintenance (server/reindexer.h). The defaults fail with kNotImplemented. ---

  // Replaces the index rows of `key`'s current version with `entries`, but only if that version
  // is still `expected_version` and not a deletion: returns false (and changes nothing) otherwise,
  // since a later write has already stored rows of its own. kNotFound if `key` never existed.
  virtual Result<bool> ReplaceIndex(const ResourceKey& key, int64_t expected_version,
                                    const std::vector<search::IndexEntry>& entries);

  // Sets (or, with nullopt, removes) an integer fact about the store (Store::ReadMeta), committed
  // with the rest of this transaction. Keys the store keeps for itself are refused (kInvalid).
  virtual Status SetMeta(const std::string& key, std::optional<int64_t> value);

  // One step of compacting the search index after most of it was rewritten (a rebuild): about
  // `pages` pages of work. Returns true when the step did some, so another may follow (each in a
  // transaction of its own, so other writes go on in between); false once nothing is left. The
  // default has nothing to compact (false).
  virtual Result<bool> CompactSearchIndex(int64_t pages);
};

// A closure run inside the write transaction. Returning a failed Status rolls back its effects
// (and only its effects) and is passed to `done`.
using WriteFn = std::function<Status(StoreTxn&)>;
// Called once per write, on the store's writer thread, after the commit (OK) or the failure.
// Keep it short: hand the result to another thread rather than doing work here.
using WriteDone = std::function<void(Status)>;

struct HistoryQuery {
  std::string tenant = kDefaultTenant;
  std::string type;  // empty: system history (all types)
  std::string id;    // empty: type history (needs type) or system history
  // Only versions with last_updated >= since.
  std::optional<int64_t> since;
  // Only versions that were current at some point during [at_low, at_high) (microseconds).
  std::optional<int64_t> at_low;
  std::optional<int64_t> at_high;
  // Paging cursor: only versions with seq < before_seq. History is newest first (seq descending),
  // so new writes never shift the pages that follow the first one.
  std::optional<int64_t> before_seq;
  int count = 20;           // page size (0 allowed: no entries, only whether more exist)
  bool want_total = false;  // compute HistoryPage::total (all matching versions, ignoring paging)
};

struct HistoryPage {
  std::vector<StoredResource> entries;  // newest first; deletion markers have empty json
  bool has_more = false;                // more versions past the last entry (for a next link)
  std::optional<int64_t> total;
};

// One page of Store::ScanCurrent.
struct ScannedResource {
  std::string tenant;
  StoredResource resource;  // the current version (never a deletion marker)
};
struct ScanPage {
  std::vector<ScannedResource> resources;
  // Pass back to ScanCurrent for the next page. Opaque; 0 is the start of the scan.
  int64_t next_cursor = 0;
  bool done = false;  // no resources after this page (as of the page's snapshot)
};

struct StoreStats {
  int64_t database_bytes = 0;  // main file + write-ahead log on disk
};

class Store {
 public:
  virtual ~Store() = default;

  // The latest version of `key` (possibly a deletion marker), or nullopt if it never existed.
  virtual Result<std::optional<StoredResource>> Read(const ResourceKey& key) = 0;
  // One version of `key`, or nullopt if there is no such version.
  virtual Result<std::optional<StoredResource>> ReadVersion(const ResourceKey& key,
                                                            int64_t version) = 0;
  virtual Result<HistoryPage> History(const HistoryQuery& query) = 0;

  // Runs a bound search over the current versions of `tenant`'s resources (deleted resources
  // never match). Pages with query.count and query.cursor (a next_cursor of an earlier page of the
  // same search; kInvalid if it cannot be read). Resolves query.includes for the page's matches
  // into SearchPage::included; query.compartment restricts the matches to that compartment.
  // Errors: kNotImplemented naming the parameter for
  // what the store cannot search yet (chains, _has, composites, _text, ...), kInvalid for a bad
  // cursor, kUnavailable/kInternal for database failures.
  virtual Result<SearchPage> Search(const std::string& tenant, const search::Query& query) = 0;

  // Queues `fn` for the writer; `done` is called once it is durably committed or has failed.
  // After Close() has begun, `done` is called at once with kUnavailable.
  virtual void Write(WriteFn fn, WriteDone done) = 0;
  // Write() for a closure that may run more than once: what it does outside the transaction is
  // overwritten, not added to, by each run (it sets results rather than appending them), so that
  // a run whose transaction was rolled back leaves no trace. The store may then skip the
  // per-write savepoint that lets one failing write roll back alone: it runs a group of such
  // writes without savepoints and, if any of them fails, rolls the whole group back and runs it
  // again write by write. A bulk load's writes (kiln import) are written this way.
  virtual void WriteRerunnable(WriteFn fn, WriteDone done) {
    Write(std::move(fn), std::move(done));
  }
  // Write() and wait for the outcome (for tools and tests; never on an I/O thread).
  Status WriteAndWait(WriteFn fn);

  // --- Index maintenance (server/reindexer.h). The defaults fail with kNotImplemented. ---

  // Up to `limit` current, non-deleted resources of every tenant after `cursor` (0 starts), in a
  // stable order in which resources created later come later. Reads one snapshot per page; a
  // resource updated between pages appears once, in its place in the order, in whatever version
  // is current when its page is read. For maintenance jobs, not for serving requests.
  virtual Result<ScanPage> ScanCurrent(int64_t cursor, int limit);
  // How many current, non-deleted resources ScanCurrent would return after `cursor`.
  virtual Result<int64_t> CountCurrent(int64_t cursor);
  // An integer fact about the store recorded with StoreTxn::SetMeta (nullopt if absent).
  virtual Result<std::optional<int64_t>> ReadMeta(const std::string& key);

  // A cheap liveness check of the database (for /healthz).
  virtual Status Check() = 0;
  virtual StoreStats Stats() = 0;

  // Stops taking writes, commits what is queued, and closes the database. Idempotent.
  virtual void Close() = 0;
};

// Forwards every call to another store: subclass it in tests to inject failures.
class StoreWrapper : public Store {
 public:
  explicit StoreWrapper(Store& target) : target_(target) {}
  Result<std::optional<StoredResource>> Read(const ResourceKey& key) override {
    return target_.Read(key);
  }
  Result<std::optional<StoredResource>> ReadVersion(const ResourceKey& key,
                                                    int64_t version) override {
    return target_.ReadVersion(key, version);
  }
  Result<HistoryPage> History(const HistoryQuery& query) override { return target_.History(query); }
  Result<SearchPage> Search(const std::string& tenant, const search::Query& query) override {
    return target_.Search(tenant, query);
  }
  void Write(WriteFn fn, WriteDone done) override { target_.Write(std::move(fn), std::move(done)); }
  void WriteRerunnable(WriteFn fn, WriteDone done) override {
    target_.WriteRerunnable(std::move(fn), std::move(done));
  }
  Result<ScanPage> ScanCurrent(int64_t cursor, int limit) override {
    return target_.ScanCurrent(cursor, limit);
  }
  Result<int64_t> CountCurrent(int64_t cursor) override { return target_.CountCurrent(cursor); }
  Result<std::optional<int64_t>> ReadMeta(const std::string& key) override {
    return target_.ReadMeta(key);
  }
  Status Check() override { return target_.Check(); }
  StoreStats Stats() override { return target_.Stats(); }
  void Close() override { target_.Close(); }

 protected:
  Store& target_;
};

}  // namespace kiln
