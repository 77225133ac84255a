// LockFile: an exclusive advisory lock (flock) on a file, held for the lifetime of the object.
//
// The SQLite store takes one on `<data dir>/kiln.lock` before it opens the database, so two Kiln
// processes (or two stores in one process) never serve the same data directory: SQLite's own locks
// would let both open it and then fight over every write. The lock is released when the object is
// destroyed or the process dies (the kernel drops flock locks with the last descriptor), so a
// crashed server never leaves a stale lock behind. Not synchronised; owned by one store.
#pragma once

#include <memory>
#include <string>

#include "kiln/status.h"

namespace kiln::store::sqlite {

class LockFile {
 public:
  // Creates `path` if needed and locks it without waiting. kUnavailable naming the path if another
  // holder has it (with that holder's pid when it wrote one), kInternal on other I/O errors.
  static Result<std::unique_ptr<LockFile>> Acquire(const std::string& path);

  ~LockFile();
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  LockFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_;
};

}  // namespace kiln::store::sqlite
