// Checks an audit log's hash chain (`kiln audit verify FILE...`): every line must be an audit line
// whose `prev` is the SHA-256 of the line before it and whose `seq` is one more than that line's.
// A changed, inserted, removed or reordered line breaks the chain at the first line after it.
//
// Files are read in the order given and form one chain (rotated files oldest first, then the
// active file). A chain may start in the middle (older files rotated away): its first line is
// then taken as given and the report says so. Removing lines from the end cannot be seen from the
// file alone: compare the head hash with one recorded elsewhere (Kiln logs it at shutdown).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::audit {

struct VerifyReport {
  bool ok = false;
  uint64_t lines = 0;      // lines checked
  uint64_t first_seq = 0;  // seq of the first line (1: the chain starts at its beginning)
  uint64_t last_seq = 0;
  std::string head;   // SHA-256 of the last line
  std::string error;  // when !ok: where and what ("audit.log line 12: ...")
};

VerifyReport VerifyChain(const std::vector<std::string>& files);

}  // namespace kiln::audit
