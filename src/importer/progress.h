// The progress line of `kiln import`: resources stored, rate, share of the input read and the
// time left, estimated from bytes (the only measure of the input known before it is parsed).
// Value type; not synchronised (one thread prints progress).
#pragma once

#include <cstdint>
#include <string>

namespace kiln::importer {

struct ProgressSample {
  double seconds = 0;       // since the import started
  int64_t stored = 0;       // resources committed
  int64_t failed = 0;
  int64_t bytes_read = 0;
  int64_t bytes_total = 0;  // of every file to import; 0 when unknown
};

class ProgressMeter {
 public:
  // One line (no line break) for `now`. The rate is that since the previous call (the overall
  // one at the first call); the time left is the bytes not read yet at the overall read rate.
  std::string Line(const ProgressSample& now);

 private:
  ProgressSample last_;
  bool has_last_ = false;
};

// "1,234,567"
std::string FormatCount(int64_t n);
// "512 B", "12.3 MB", "1.4 GB" (powers of 1000, as disk sizes are quoted)
std::string FormatBytes(int64_t n);
// "45s", "12m05s", "2h03m"
std::string FormatDuration(double seconds);

}  // namespace kiln::importer
