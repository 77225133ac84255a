#include "store/sqlite/log_buffer_vfs.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace kiln::store::sqlite {

// A log file opened through the VFS: SQLite's handle (base, first) followed, at kRealOffset, by
// the underlying VFS's handle for the same file.
struct LogFile {
  sqlite3_file base;
  sqlite3_file* real = nullptr;

  std::mutex mu;
  std::vector<char> buffer;         // guarded by mu: bytes for the file at buffer_offset
  sqlite3_int64 buffer_offset = 0;  // guarded by mu
  int failed_rc = SQLITE_OK;        // guarded by mu: a write-out failed; the transaction fails
  bool header_rewritten = false;    // guarded by mu: a write at offset 0 since the last real sync
  std::thread::id scope_thread;     // guarded by mu: the thread inside a LogCommitScope
};

namespace {

// 4 MiB: a group of creates is well under 1 MiB; a large transaction writes 4 MiB at a time.
constexpr size_t kBufferBytes = size_t{4} << 20;
constexpr size_t kRealOffset = (sizeof(LogFile) + alignof(std::max_align_t) - 1) /
                               alignof(std::max_align_t) * alignof(std::max_align_t);

std::atomic<int64_t> write_calls{0};

LogFile* AsLog(sqlite3_file* file) { return reinterpret_cast<LogFile*>(file); }
const sqlite3_io_methods* Real(LogFile* f) { return f->real->pMethods; }

// SQLite's unix VFS writes at most 128 KiB - 1 bytes per call (it masks the length with 0x1ffff
// and reports a shorter write as a full disk), so runs go out in pieces below that.
constexpr size_t kMaxWriteBytes = size_t{120} << 10;

int WriteReal(LogFile* f, const void* data, size_t size, sqlite3_int64 offset) {
  const char* bytes = static_cast<const char*>(data);
  int rc = SQLITE_OK;
  for (size_t done = 0; done < size && rc == SQLITE_OK;) {
    const size_t piece = std::min(size - done, kMaxWriteBytes);
    write_calls.fetch_add(1, std::memory_order_relaxed);
    rc = Real(f)->xWrite(f->real, bytes + done, static_cast<int>(piece),
                         offset + static_cast<sqlite3_int64>(done));
    done += piece;
  }
  if (rc != SQLITE_OK && f->failed_rc == SQLITE_OK) f->failed_rc = rc;
  return rc;
}

// Writes the buffered run out. Called with mu held.
int FlushLocked(LogFile* f) {
  if (f->buffer.empty()) return SQLITE_OK;
  int rc = WriteReal(f, f->buffer.data(), f->buffer.size(), f->buffer_offset);
  f->buffer.clear();  // written or failed (and remembered): either way not written again
  return rc;
}

int Flush(LogFile* f) {
  std::lock_guard<std::mutex> lock(f->mu);
  return FlushLocked(f);
}

int Close(sqlite3_file* file) {
  LogFile* f = AsLog(file);
  int flushed = Flush(f);
  int closed = Real(f)->xClose(f->real);
  f->~LogFile();
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* file, void* out, int size, sqlite3_int64 offset) {
  LogFile* f = AsLog(file);
  int rc = Flush(f);
  if (rc != SQLITE_OK) return rc;
  return Real(f)->xRead(f->real, out, size, offset);
}

int Write(sqlite3_file* file, const void* data, int size, sqlite3_int64 offset) {
  LogFile* f = AsLog(file);
  std::lock_guard<std::mutex> lock(f->mu);
  if (f->failed_rc != SQLITE_OK) return f->failed_rc;
  if (offset == 0) f->header_rewritten = true;
  const auto n = static_cast<size_t>(size);
  const bool continues = !f->buffer.empty() &&
                         offset == f->buffer_offset + static_cast<sqlite3_int64>(f->buffer.size());
  if (!continues || f->buffer.size() + n > kBufferBytes) {
    int rc = FlushLocked(f);
    if (rc != SQLITE_OK) return rc;
    if (n > kBufferBytes / 2) return WriteReal(f, data, n, offset);
    if (f->buffer.capacity() < kBufferBytes) f->buffer.reserve(kBufferBytes);
    f->buffer_offset = offset;
  }
  const char* bytes = static_cast<const char*>(data);
  f->buffer.insert(f->buffer.end(), bytes, bytes + n);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  LogFile* f = AsLog(file);
  int rc = Flush(f);
  if (rc != SQLITE_OK) return rc;
  return Real(f)->xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  LogFile* f = AsLog(file);
  bool header_was_rewritten = false;
  {
    std::lock_guard<std::mutex> lock(f->mu);
    const std::thread::id self = std::this_thread::get_id();
    if (f->scope_thread != std::thread::id() && f->scope_thread != self) {
      // Another thread (the LogSyncer) syncing what earlier commits wrote out, while the writer
      // is inside its next transaction: the buffer holds that transaction's frames, which are
      // not its business (a failure to write them out fails that transaction's commit), and a
      // header among them is synced by the writer's own sync that follows it.
    } else {
      int rc = FlushLocked(f);
      if (rc != SQLITE_OK) return rc;
      if (f->failed_rc != SQLITE_OK) return f->failed_rc;
      const bool commit_sync = f->scope_thread == self;
      if (commit_sync && !f->header_rewritten) return SQLITE_OK;  // the LogSyncer syncs it
      header_was_rewritten = f->header_rewritten;
      f->header_rewritten = false;
    }
  }
  int rc = Real(f)->xSync(f->real, flags);
  if (rc != SQLITE_OK && header_was_rewritten) {
    std::lock_guard<std::mutex> lock(f->mu);
    f->header_rewritten = true;
  }
  return rc;
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  LogFile* f = AsLog(file);
  int rc = Flush(f);
  if (rc != SQLITE_OK) return rc;
  return Real(f)->xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) {
  return Real(AsLog(file))->xLock(AsLog(file)->real, level);
}
int Unlock(sqlite3_file* file, int level) {
  return Real(AsLog(file))->xUnlock(AsLog(file)->real, level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(AsLog(file))->xCheckReservedLock(AsLog(file)->real, out);
}
int FileControl(sqlite3_file* file, int op, void* arg) {
  return Real(AsLog(file))->xFileControl(AsLog(file)->real, op, arg);
}
int SectorSize(sqlite3_file* file) { return Real(AsLog(file))->xSectorSize(AsLog(file)->real); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Real(AsLog(file))->xDeviceCharacteristics(AsLog(file)->real);
}
int ShmMap(sqlite3_file* file, int page, int size, int extend, void volatile** out) {
  return Real(AsLog(file))->xShmMap(AsLog(file)->real, page, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  return Real(AsLog(file))->xShmLock(AsLog(file)->real, offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) { Real(AsLog(file))->xShmBarrier(AsLog(file)->real); }
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  return Real(AsLog(file))->xShmUnmap(AsLog(file)->real, delete_flag);
}
// Logs are never memory-mapped: SQLite falls back to reads when a fetch yields nothing.
int Fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
  *out = nullptr;
  return SQLITE_OK;
}
int Unfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

const sqlite3_io_methods kLogMethods = {
    .iVersion = 3,
    .xClose = Close,
    .xRead = Read,
    .xWrite = Write,
    .xTruncate = Truncate,
    .xSync = Sync,
    .xFileSize = FileSize,
    .xLock = Lock,
    .xUnlock = Unlock,
    .xCheckReservedLock = CheckReservedLock,
    .xFileControl = FileControl,
    .xSectorSize = SectorSize,
    .xDeviceCharacteristics = DeviceCharacteristics,
    .xShmMap = ShmMap,
    .xShmLock = ShmLock,
    .xShmBarrier = ShmBarrier,
    .xShmUnmap = ShmUnmap,
    .xFetch = Fetch,
    .xUnfetch = Unfetch,
};

// --- the VFS: log files wrapped, every other file and call handed to the base VFS ------------

sqlite3_vfs* Base(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* base = Base(vfs);
  if ((flags & SQLITE_OPEN_WAL) == 0) return base->xOpen(base, name, file, flags, out_flags);
  LogFile* f = new (file) LogFile();
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  f->real->pMethods = nullptr;
  int rc = base->xOpen(base, name, f->real, flags, out_flags);
  if (f->real->pMethods == nullptr) {
    // SQLite calls xClose only when pMethods is set.
    f->~LogFile();
    file->pMethods = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  file->pMethods = &kLogMethods;
  return rc;
}

int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return Base(vfs)->xDelete(Base(vfs), name, sync_dir);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Base(vfs)->xAccess(Base(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return Base(vfs)->xFullPathname(Base(vfs), name, size, out);
}
void* DlOpen(sqlite3_vfs* vfs, const char* name) { return Base(vfs)->xDlOpen(Base(vfs), name); }
void DlError(sqlite3_vfs* vfs, int size, char* out) { Base(vfs)->xDlError(Base(vfs), size, out); }
void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return Base(vfs)->xDlSym(Base(vfs), handle, symbol);
}
void DlClose(sqlite3_vfs* vfs, void* handle) { Base(vfs)->xDlClose(Base(vfs), handle); }
int Randomness(sqlite3_vfs* vfs, int size, char* out) {
  return Base(vfs)->xRandomness(Base(vfs), size, out);
}
int Sleep(sqlite3_vfs* vfs, int micros) { return Base(vfs)->xSleep(Base(vfs), micros); }
int CurrentTime(sqlite3_vfs* vfs, double* out) { return Base(vfs)->xCurrentTime(Base(vfs), out); }
int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return Base(vfs)->xGetLastError(Base(vfs), size, out);
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return Base(vfs)->xCurrentTimeInt64(Base(vfs), out);
}

sqlite3_vfs MakeVfs(sqlite3_vfs* base, const char* name) {
  sqlite3_vfs vfs{};
  // Version 2: the system-call hooks of version 3 are the base VFS's own business.
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(kRealOffset) + base->szOsFile;
  vfs.mxPathname = base->mxPathname;
  vfs.zName = name;
  vfs.pAppData = base;
  vfs.xOpen = Open;
  vfs.xDelete = Delete;
  vfs.xAccess = Access;
  vfs.xFullPathname = FullPathname;
  vfs.xDlOpen = DlOpen;
  vfs.xDlError = DlError;
  vfs.xDlSym = DlSym;
  vfs.xDlClose = DlClose;
  vfs.xRandomness = Randomness;
  vfs.xSleep = Sleep;
  vfs.xCurrentTime = CurrentTime;
  vfs.xGetLastError = GetLastError;
  vfs.xCurrentTimeInt64 = base->iVersion >= 2 ? CurrentTimeInt64 : nullptr;
  return vfs;
}

struct Registered {
  std::string name;
  sqlite3_vfs vfs;
};

}  // namespace

Result<std::string> LogBufferVfs(const std::string& base_name) {
  static std::mutex mu;
  // Registered VFS objects must outlive every connection: kept until the process ends.
  static auto* registered = new std::map<std::string, std::unique_ptr<Registered>>();
  std::lock_guard<std::mutex> lock(mu);
  auto found = registered->find(base_name);
  if (found != registered->end()) return found->second->name;
  sqlite3_vfs* base = sqlite3_vfs_find(base_name.empty() ? nullptr : base_name.c_str());
  if (base == nullptr) return Status::Invalid("no SQLite VFS named '" + base_name + "'");
  auto entry = std::make_unique<Registered>();
  entry->name = base_name.empty() ? "kiln-logbuf" : "kiln-logbuf+" + base_name;
  entry->vfs = MakeVfs(base, entry->name.c_str());
  int rc = sqlite3_vfs_register(&entry->vfs, /*makeDflt=*/0);
  if (rc != SQLITE_OK) {
    return Status::Internal(std::string("registering the log-buffering SQLite VFS failed: ") +
                            sqlite3_errstr(rc));
  }
  std::string name = entry->name;
  registered->emplace(base_name, std::move(entry));
  return name;
}

LogCommitScope::LogCommitScope(sqlite3_file* log) {
  if (log == nullptr || log->pMethods != &kLogMethods) return;
  file_ = AsLog(log);
  std::lock_guard<std::mutex> lock(file_->mu);
  file_->scope_thread = std::this_thread::get_id();
  file_->failed_rc = SQLITE_OK;
}

LogCommitScope::~LogCommitScope() {
  if (file_ == nullptr) return;
  std::lock_guard<std::mutex> lock(file_->mu);
  file_->scope_thread = std::thread::id();
  // The transaction has ended: committed (its commit wrote the buffer out) or rolled back (what
  // is left belongs to no commit, nor does a failure to write it).
  file_->buffer.clear();
  file_->failed_rc = SQLITE_OK;
}

int64_t LogBufferWriteCalls() { return write_calls.load(std::memory_order_relaxed); }

}  // namespace kiln::store::sqlite
