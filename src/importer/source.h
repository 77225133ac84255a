// Reading import files: what kind of file a path is, and NDJSON cut into batches of numbered
// lines.
//
// NDJSON is read in large blocks (no per-line system calls) and handed out as batches of about a
// given number of bytes that end at a line boundary, each batch owning its text, so that batches
// can be parsed on other threads while the next one is read. Line numbers count every line of the
// file (1-based, blank ones included), so a failure names the line an editor shows.
//
// NdjsonReader is not thread-safe: one thread reads; the batches it returns are plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln::importer {

enum class FileKind {
  kNdjson,  // one resource per line
  kJson,    // one JSON document: a Bundle or a single resource
};

// .ndjson and .jsonl files are NDJSON and .json files one document. Any other name is decided by
// `head` (the file's first bytes): NDJSON when its first non-blank line is a complete JSON object
// and more text follows it, one document otherwise.
FileKind DetectKind(std::string_view path, std::string_view head);

// The whole content of `path`; kUnavailable naming the file and the reason when it cannot be read.
Result<std::string> ReadWholeFile(const std::string& path);

// Whether running `document` (a JSON file's whole text) as a Bundle might search the store: it
// has a conditional request (`ifNoneExist`, a `url` with a query), a conditional reference (a
// `reference` with a query), or a GET or HEAD entry (a search, a compartment, an operation). Found
// in the text without parsing it, erring towards yes: any `url` or `reference` string with a '?'
// counts, wherever it is. Synthea's transaction Bundles (POST entries linked by urn:uuid) never
// search. A search during a bulk load with deferred value indexes is right but scans the tables.
bool MaySearchStore(std::string_view document);

// One non-blank line of an NDJSON file; `text` points into its LineBatch::text (without the line
// break or a trailing '\r').
struct Line {
  int64_t number = 0;
  std::string_view text;
};

struct LineBatch {
  std::shared_ptr<const std::string> text;  // owns what the lines point into
  std::vector<Line> lines;
};

class NdjsonReader {
 public:
  // Opens `path` for reading. kUnavailable naming the file and the reason when it cannot be.
  static Result<std::unique_ptr<NdjsonReader>> Open(const std::string& path);
  ~NdjsonReader();
  NdjsonReader(const NdjsonReader&) = delete;
  NdjsonReader& operator=(const NdjsonReader&) = delete;

  // Fills `batch` with the next lines: whole lines totalling at least `min_bytes` (fewer at the
  // end of the file; a single line longer than that comes whole). Blank lines are skipped but
  // counted. Returns false once the file is exhausted (batch then empty); kUnavailable on a read
  // error.
  Result<bool> Next(LineBatch& batch, size_t min_bytes);

  // Bytes consumed from the file so far.
  int64_t bytes_read() const { return bytes_read_; }

 private:
  explicit NdjsonReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_;
  std::string path_;
  std::string carry_;  // the start of a line whose end has not been read yet
  int64_t next_line_ = 1;
  int64_t bytes_read_ = 0;
  bool eof_ = false;
};

}  // namespace kiln::importer
