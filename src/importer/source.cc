#include "importer/source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace kiln::importer {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsBlank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

// The position just after the JSON object starting at `p` (strings and nesting respected), or
// npos when it does not end within `text`.
size_t ObjectEnd(std::string_view text, size_t p) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = p; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

bool IsBlankChar(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Whether the string that starts at text[open] (its opening quote) is the value of a member
// called `key`: before it, optional blanks, a colon, optional blanks and "key".
bool IsValueOf(std::string_view text, size_t open, std::string_view key) {
  size_t p = open;
  while (p > 0 && IsBlankChar(text[p - 1])) --p;
  if (p == 0 || text[p - 1] != ':') return false;
  --p;
  while (p > 0 && IsBlankChar(text[p - 1])) --p;
  if (p < key.size() + 2 || text[p - 1] != '"' || text[p - key.size() - 2] != '"') return false;
  return text.substr(p - key.size() - 1, key.size()) == key;
}

// Where `needle` occurs in `text` from `from` on (memmem: fast on long texts), or npos.
size_t Find(std::string_view text, std::string_view needle, size_t from = 0) {
  if (from >= text.size()) return std::string_view::npos;
  const void* hit = memmem(text.data() + from, text.size() - from, needle.data(), needle.size());
  return hit == nullptr ? std::string_view::npos
                        : static_cast<size_t>(static_cast<const char*>(hit) - text.data());
}

}  // namespace

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  std::string text(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
  in.seekg(0);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status::Unavailable("cannot read " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

bool MaySearchStore(std::string_view text) {
  if (Find(text, "ifNoneExist\"") != std::string_view::npos) return true;
  // A '?' is only ever inside a string: the nearest unescaped quote before it opens that string,
  // the next one closes it. The search goes on after the string, so that each string is walked
  // once however many '?' it holds.
  auto unescaped = [&](size_t quote) {
    size_t backslashes = 0;
    while (quote > backslashes && text[quote - 1 - backslashes] == '\\') ++backslashes;
    return backslashes % 2 == 0;
  };
  for (size_t q = Find(text, "?"); q != std::string_view::npos;) {
    size_t open = q;
    while (open > 0 && !(text[--open] == '"' && unescaped(open))) {
    }
    if (text[open] == '"' && (IsValueOf(text, open, "url") || IsValueOf(text, open, "reference"))) {
      return true;
    }
    size_t close = q;
    while (close < text.size() && !(text[close] == '"' && unescaped(close))) ++close;
    q = Find(text, "?", close + 1);
  }
  for (std::string_view read : {"\"GET\"", "\"HEAD\""}) {
    for (size_t p = Find(text, read); p != std::string_view::npos; p = Find(text, read, p + 1)) {
      if (IsValueOf(text, p, "method")) return true;
    }
  }
  return false;
}

FileKind DetectKind(std::string_view path, std::string_view head) {
  if (EndsWith(path, ".ndjson") || EndsWith(path, ".jsonl")) return FileKind::kNdjson;
  if (EndsWith(path, ".json")) return FileKind::kJson;
  size_t start = head.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || head[start] != '{') return FileKind::kJson;
  size_t end = ObjectEnd(head, start);
  if (end == std::string_view::npos) return FileKind::kJson;
  // NDJSON: the first object ends its line, and another value follows.
  size_t newline = head.find('\n', end);
  if (newline == std::string_view::npos || !IsBlank(head.substr(end, newline - end)))
    return FileKind::kJson;
  return head.find_first_not_of(" \t\r\n", newline) == std::string_view::npos ? FileKind::kJson
                                                                              : FileKind::kNdjson;
}

Result<std::unique_ptr<NdjsonReader>> NdjsonReader::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  return std::unique_ptr<NdjsonReader>(new NdjsonReader(fd, path));
}

NdjsonReader::~NdjsonReader() { ::close(fd_); }

Result<bool> NdjsonReader::Next(LineBatch& batch, size_t min_bytes) {
  batch.lines.clear();
  batch.text.reset();
  std::string text = std::move(carry_);
  carry_.clear();
  // Cut after the first line break at or past min_bytes, reading blocks until there is one or
  // the file ends. Blocks about a batch long: few system calls, and little text carried over.
  const size_t block = std::clamp<size_t>(min_bytes, 64 * 1024, 1 << 20);
  auto cut_at = [&]() -> size_t {
    if (text.size() < min_bytes) return std::string::npos;
    return text.find('\n', min_bytes > 0 ? min_bytes - 1 : 0);
  };
  size_t cut = cut_at();
  while (!eof_ && cut == std::string::npos) {
    size_t old = text.size();
    text.resize(old + block);
    ssize_t n = ::read(fd_, text.data() + old, block);
    if (n < 0) {
      text.resize(old);
      if (errno == EINTR) continue;
      return Status::Unavailable("cannot read " + path_ + ": " + std::strerror(errno));
    }
    text.resize(old + static_cast<size_t>(n));
    bytes_read_ += n;
    if (n == 0) eof_ = true;
    cut = cut_at();
  }
  if (cut != std::string::npos) {
    // Keep what follows for the next batch.
    carry_ = text.substr(cut + 1);
    text.resize(cut + 1);
  }
  if (text.empty()) return false;

  auto owner = std::make_shared<std::string>(std::move(text));
  std::string_view all(*owner);
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    size_t end = nl == std::string_view::npos ? all.size() : nl;
    std::string_view line = all.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!IsBlank(line)) batch.lines.push_back(Line{next_line_, line});
    ++next_line_;
    pos = end + 1;
  }
  batch.text = std::move(owner);
  // A batch of blank lines only is still progress; the caller asks again.
  return true;
}

}  // namespace kiln::importer
