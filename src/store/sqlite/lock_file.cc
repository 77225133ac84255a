#include "store/sqlite/lock_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace kiln::store::sqlite {

Result<std::unique_ptr<LockFile>> LockFile::Acquire(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Internal("cannot open lock file " + path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      // The holder wrote its pid; naming it saves the operator a search.
      char buf[32] = {};
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      ::close(fd);
      return Status::Unavailable("the data directory is in use by another Kiln store (lock file " +
                                 path + " is held" +
                                 (holder.empty() ? std::string() : " by pid " + holder) + ")");
    }
    ::close(fd);
    return Status::Internal("cannot lock " + path + ": " + std::strerror(err));
  }
  // Best effort: the pid is only a diagnostic for the message above.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return std::unique_ptr<LockFile>(new LockFile(path, fd));
}

LockFile::~LockFile() {
  // Closing the last descriptor releases the flock. The file stays: deleting it would race with
  // a process that has just opened it and is about to lock it.
  ::close(fd_);
}

}  // namespace kiln::store::sqlite
