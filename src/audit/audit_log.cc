#include "audit/audit_log.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/strings.h"

namespace kiln::audit {
namespace {

namespace fs = std::filesystem;

// Longest user agent kept; clients can send kilobytes.
constexpr size_t kMaxUserAgent = 256;
constexpr size_t kMaxForwardedFor = 256;

void AddField(std::string& out, bool& first, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  if (!first) out += ',';
  first = false;
  out += '"';
  out += name;
  out += "\":";
  out += core::JsonQuote(value);
}

std::string Truncated(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  // Cut at a UTF-8 character boundary.
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut));
}

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// "YYYYMMDDTHHMMSS.ffffffZ": the suffix of a rotated file; sorts in time order.
std::string RotationSuffix(int64_t micros) {
  std::string instant = core::FormatInstant(micros);  // 2026-11-22T15:17:00.123456Z
  std::string out;
  for (char c : instant)
    if (c != '-' && c != ':') out += c;
  return out;
}

bool IsRotationOf(const std::string& name, const std::string& base) {
  if (name.size() != base.size() + 1 + 23 || name.compare(0, base.size(), base) != 0 ||
      name[base.size()] != '.')
    return false;
  std::string_view suffix = std::string_view(name).substr(base.size() + 1);
  return suffix[8] == 'T' && suffix[15] == '.' && suffix.back() == 'Z';
}

// The rotated files of `path`, oldest first.
std::vector<fs::path> Rotations(const fs::path& path) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::string base = path.filename().string();
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (IsRotationOf(name, base)) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The last complete line of the file (without its newline), and where the file's complete
// lines end (a crash mid-write can leave a partial line after it). Empty line: no lines.
struct Tail {
  std::string last_line;
  int64_t complete_bytes = 0;
  int64_t file_bytes = 0;
};

Result<Tail> ReadTail(const std::string& path) {
  Tail tail;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return tail;
    return Status::Internal(Errno("cannot read the audit log", path));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::Internal(Errno("cannot read the audit log", path));
  }
  tail.file_bytes = st.st_size;
  // Read backwards in growing chunks until the last two newlines (or the start) are in view.
  std::string buffer;
  int64_t start = tail.file_bytes;
  size_t chunk = 64 * 1024;
  while (true) {
    int64_t from = std::max<int64_t>(0, start - static_cast<int64_t>(chunk));
    std::string piece(static_cast<size_t>(start - from), '\0');
    ssize_t got = ::pread(fd, piece.data(), piece.size(), from);
    if (got != static_cast<ssize_t>(piece.size())) {
      ::close(fd);
      return Status::Internal(Errno("cannot read the audit log", path));
    }
    buffer = piece + buffer;
    start = from;
    size_t last_nl = buffer.rfind('\n');
    if (last_nl != std::string::npos) {
      size_t prev_nl = last_nl == 0 ? std::string::npos : buffer.rfind('\n', last_nl - 1);
      if (prev_nl != std::string::npos || start == 0) {
        size_t line_start = prev_nl == std::string::npos ? 0 : prev_nl + 1;
        tail.last_line = buffer.substr(line_start, last_nl - line_start);
        tail.complete_bytes = start + static_cast<int64_t>(last_nl) + 1;
        break;
      }
    } else if (start == 0) {
      break;  // no complete line at all
    }
    if (start == 0) break;
    chunk *= 2;
  }
  ::close(fd);
  return tail;
}

// The seq of an audit line, or nullopt if it is not one.
std::optional<uint64_t> LineSeq(std::string_view line) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const boost::json::value* seq = v.as_object().if_contains("seq");
  const boost::json::value* prev = v.as_object().if_contains("prev");
  if (!seq || !prev || !prev->is_string()) return std::nullopt;
  if (seq->is_uint64()) return seq->as_uint64();
  if (seq->is_int64() && seq->as_int64() > 0) return static_cast<uint64_t>(seq->as_int64());
  return std::nullopt;
}

}  // namespace

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::string FormatLine(const AuditEvent& e, uint64_t seq, std::string_view prev_hash) {
  std::string out;
  out.reserve(512);
  out += "{\"time\":";
  out += core::JsonQuote(core::FormatInstant(e.time_micros));
  out += ",\"seq\":";
  out += std::to_string(seq);
  out += ",\"request_id\":";
  out += core::JsonQuote(e.request_id);
  out += ",\"tenant\":";
  out += core::JsonQuote(e.tenant);

  out += ",\"who\":{\"authenticated\":";
  out += e.authenticated ? "true" : "false";
  bool first = false;
  AddField(out, first, "sub", e.subject);
  AddField(out, first, "client_id", e.client_id);
  AddField(out, first, "fhir_user", e.fhir_user);
  AddField(out, first, "patient", e.patient);

  out += "},\"what\":{";
  first = true;
  AddField(out, first, "method", e.method);
  AddField(out, first, "interaction", e.interaction);
  AddField(out, first, "type", e.type);
  AddField(out, first, "id", e.id);
  AddField(out, first, "version", e.version);
  if (!e.params.empty()) {
    if (!first) out += ',';
    first = false;
    out += "\"params\":[";
    for (size_t i = 0; i < e.params.size(); ++i) {
      if (i) out += ',';
      out += core::JsonQuote(e.params[i]);
    }
    out += ']';
  }

  out += "},\"where\":{";
  first = true;
  AddField(out, first, "ip", e.remote_address);
  AddField(out, first, "forwarded_for", Truncated(e.forwarded_for, kMaxForwardedFor));
  AddField(out, first, "user_agent", Truncated(e.user_agent, kMaxUserAgent));

  out += "},\"outcome\":{\"status\":";
  out += std::to_string(e.status);
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", e.duration_ms);
  out += "},\"duration_ms\":";
  out += duration;
  out += ",\"prev\":\"";
  out += prev_hash;
  out += "\"}";
  return out;
}

AuditLog::AuditLog(AuditLogOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(AuditLogOptions options) {
  if (options.path.empty()) return Status::Invalid("the audit log needs a path (or '-')");
  if (options.max_queued == 0) options.max_queued = 1;
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options)));
  if (Status s = log->OpenFile(); !s.ok()) return s;
  log->thread_ = std::thread([raw = log.get()] { raw->Run(); });
  return log;
}

AuditLog::~AuditLog() { Close(); }

Status AuditLog::OpenFile() {
  if (options_.path == "-") {
    fd_ = STDOUT_FILENO;
    return Status::Ok();
  }
  auto tail = ReadTail(options_.path);
  if (!tail.ok()) return tail.status();
  if (tail->last_line.empty()) {
    // A new file (or one whose only line was cut short): continue the newest rotated file's
    // chain, if there is one.
    std::vector<fs::path> rotated = Rotations(options_.path);
    if (!rotated.empty()) {
      auto older = ReadTail(rotated.back().string());
      if (!older.ok()) return older.status();
      if (!older->last_line.empty()) {
        std::optional<uint64_t> seq = LineSeq(older->last_line);
        if (!seq)
          return Status::Invalid("the last line of " + rotated.back().string() +
                                 " is not an audit log line; move the file away to start anew");
        head_seq_ = *seq;
        head_hash_ = Sha256Hex(older->last_line);
      }
    }
  } else {
    std::optional<uint64_t> seq = LineSeq(tail->last_line);
    if (!seq)
      return Status::Invalid("the last line of " + options_.path +
                             " is not an audit log line; is --audit-log the right file?");
    head_seq_ = *seq;
    head_hash_ = Sha256Hex(tail->last_line);
  }
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) return Status::Internal(Errno("cannot open the audit log", options_.path));
  if (tail->file_bytes > tail->complete_bytes) {
    // A line cut short by a crash: it was never a whole line, and keeping it would leave
    // the next line glued to it.
    if (::ftruncate(fd_, tail->complete_bytes) != 0)
      return Status::Internal(Errno("cannot repair the audit log", options_.path));
    core::LogWarn("audit log: removed a line cut short (by a crash?) at its end",
                  {{"path", std::string_view(options_.path)},
                   {"bytes", static_cast<long long>(tail->file_bytes - tail->complete_bytes)}});
  }
  file_bytes_ = tail->complete_bytes;
  return Status::Ok();
}

Status AuditLog::Rotate() {
  ::close(fd_);
  fd_ = -1;
  int64_t micros = core::NowMicros();
  std::error_code ec;
  std::string target;
  do {
    target = options_.path + "." + RotationSuffix(micros++);
  } while (fs::exists(target, ec));
  if (::rename(options_.path.c_str(), target.c_str()) != 0)
    core::LogError("audit log: cannot rotate", {{"path", std::string_view(options_.path)},
                                                {"error", std::string_view(std::strerror(errno))}});
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) return Status::Internal(Errno("cannot open the audit log", options_.path));
  struct stat st {};
  file_bytes_ = ::fstat(fd_, &st) == 0 ? st.st_size : 0;
  DeleteOldRotations();
  return Status::Ok();
}

void AuditLog::DeleteOldRotations() {
  if (options_.keep <= 0) return;
  std::vector<fs::path> rotated = Rotations(options_.path);
  std::error_code ec;
  for (size_t i = 0; i + static_cast<size_t>(options_.keep) < rotated.size(); ++i)
    fs::remove(rotated[i], ec);
}

bool AuditLog::WriteAll(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      core::LogError("audit log: write failed; the chain will show the gap",
                     {{"path", std::string_view(options_.path)},
                      {"error", std::string_view(std::strerror(errno))}});
      return false;
    }
    done += static_cast<size_t>(n);
  }
  file_bytes_ += static_cast<int64_t>(data.size());
  return true;
}

void AuditLog::Run() {
  std::deque<AuditEvent> batch;
  std::string pending;
  while (true) {
    std::string hash;
    uint64_t seq = 0;
    {
      std::unique_lock lock(mu_);
      // Lines are written in batches: Record() wakes this thread only when a batch is full (or
      // on Flush/Close); otherwise what is queued goes out within kBatchDelay. One wake-up and
      // one write per request would cost a busy server a quarter of its reads.
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      wake_.wait_for(lock, kBatchDelay, [&] {
        return closing_ || flush_requests_ > 0 || queue_.size() >= kBatchEvents;
      });
      if (queue_.empty()) return;  // closing, and everything is written
      batch.swap(queue_);
      hash = head_hash_;
      seq = head_seq_;
    }
    progress_.notify_all();  // room in the queue again
    pending.clear();
    const bool rotates = options_.max_bytes > 0 && fd_ != STDOUT_FILENO;
    for (const AuditEvent& event : batch) {
      std::string line = FormatLine(event, ++seq, hash);
      hash = Sha256Hex(line);
      line += '\n';
      if (rotates &&
          file_bytes_ + static_cast<int64_t>(pending.size() + line.size()) > options_.max_bytes &&
          file_bytes_ + static_cast<int64_t>(pending.size()) > 0) {
        if (!pending.empty()) WriteAll(pending);
        pending.clear();
        if (Status s = Rotate(); !s.ok())
          core::LogError("audit log: rotation failed", {{"error", std::string_view(s.message())}});
      }
      pending += line;
    }
    if (fd_ >= 0) WriteAll(pending);
    {
      std::lock_guard lock(mu_);
      written_ += batch.size();
      head_hash_ = hash;
      head_seq_ = seq;
    }
    batch.clear();
    progress_.notify_all();
  }
}

void AuditLog::Record(AuditEvent&& event) {
  {
    std::unique_lock lock(mu_);
    if (closing_) return;
    // Back-pressure rather than loss: an audit trail with holes is worth little.
    progress_.wait(lock, [&] { return closing_ || queue_.size() < options_.max_queued; });
    if (closing_) return;
    queue_.push_back(std::move(event));
    ++recorded_;
    // The first event of a batch wakes the writer to start its delay; a full batch ends it.
    if (queue_.size() != 1 && queue_.size() != kBatchEvents) return;
  }
  wake_.notify_one();
}

void AuditLog::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = recorded_;
  ++flush_requests_;
  wake_.notify_all();
  progress_.wait(lock, [&] { return written_ >= target; });
  --flush_requests_;
}

void AuditLog::Close() {
  {
    std::lock_guard lock(mu_);
    if (closing_ && !thread_.joinable()) return;
    closing_ = true;
  }
  wake_.notify_all();
  progress_.notify_all();
  const bool was_open = thread_.joinable();
  if (was_open) thread_.join();
  if (fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);
  fd_ = -1;
  // The head, for comparing later: removing lines from the end cannot be seen in the file alone.
  if (was_open && options_.path != "-")
    core::LogInfo("audit log closed", {{"path", std::string_view(options_.path)},
                                       {"seq", static_cast<long long>(head_seq())},
                                       {"head", std::string_view(head_hash())}});
}

std::string AuditLog::head_hash() const {
  std::lock_guard lock(mu_);
  return head_hash_;
}

uint64_t AuditLog::head_seq() const {
  std::lock_guard lock(mu_);
  return head_seq_;
}

}  // namespace kiln::audit
