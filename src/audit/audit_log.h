// The audit log: AuditEvents as JSON lines, each carrying the SHA-256 of the line before it, so
// that changing, inserting or removing a line breaks the chain (`kiln audit verify`, verify.h).
//
// Record() only queues the event; one background thread (kiln-audit) formats queued events,
// chains them and writes each batch with one write(2), at the latest kBatchDelay after its first
// event was queued. The file is rotated by size: the full
// file is renamed to PATH.<UTC time> and a new PATH continues the same chain. On open, the chain
// continues from the last line already in PATH (or in its newest rotated file).
//
// Thread-safe. Close() (also run by the destructor) writes everything queued before returning.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "kiln/audit.h"
#include "kiln/status.h"

namespace kiln::audit {

struct AuditLogOptions {
  std::string path;           // the file, or "-" for standard output (no rotation)
  int64_t max_bytes = 0;      // rotate once the file reaches this size; 0: never
  int keep = 0;               // rotated files kept (the oldest are deleted); 0: all
  size_t max_queued = 65536;  // Record() waits while this many events are queued
};

// The 64 hex digits that stand for "no previous line" in the first line of a chain.
inline constexpr const char* kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Lowercase hex SHA-256 of `text`.
std::string Sha256Hex(std::string_view text);

// One event as its JSON line (no newline), with its place in the chain.
std::string FormatLine(const AuditEvent& event, uint64_t seq, std::string_view prev_hash);

class AuditLog : public AuditSink {
 public:
  // Queued lines are written once this many are queued, or kBatchDelay after the first of them.
  static constexpr size_t kBatchEvents = 1024;
  static constexpr std::chrono::milliseconds kBatchDelay{10};

  static Result<std::unique_ptr<AuditLog>> Open(AuditLogOptions options);
  ~AuditLog() override;

  void Record(AuditEvent&& event) override;
  // Writes what is queued, stops the thread and closes the file. Later Records are dropped.
  void Close();
  // Blocks until every event recorded so far is written (tests, shutdown).
  void Flush();

  // The hash of the last line written and its sequence number (0 before any line).
  std::string head_hash() const;
  uint64_t head_seq() const;

 private:
  explicit AuditLog(AuditLogOptions options);
  Status OpenFile();  // opens `path` for appending, continuing its chain
  Status Rotate();    // renames the full file away and opens a new one
  void DeleteOldRotations();
  void Run();  // the writer thread
  bool WriteAll(const std::string& data);

  AuditLogOptions options_;
  int fd_ = -1;
  int64_t file_bytes_ = 0;

  mutable std::mutex mu_;
  std::condition_variable wake_;          // the writer: events queued, or closing
  std::condition_variable progress_;      // Record() and Flush() waiters: the queue shrank
  std::deque<AuditEvent> queue_;          // guarded by mu_
  uint64_t recorded_ = 0;                 // events accepted, guarded by mu_
  uint64_t written_ = 0;                  // events written (or failed), guarded by mu_
  bool closing_ = false;                  // guarded by mu_
  int flush_requests_ = 0;                // Flush() callers waiting, guarded by mu_
  std::string head_hash_ = kGenesisHash;  // guarded by mu_
  uint64_t head_seq_ = 0;                 // guarded by mu_
  std::thread thread_;
};

}  // namespace kiln::audit
