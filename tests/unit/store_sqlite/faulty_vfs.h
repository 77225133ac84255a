// A fault-injecting SQLite VFS for tests: forwards every call to the default VFS, except that
// fsync of write-ahead-log files fails while FailWalSync(true) is in effect, and writes to them
// while FailWalWrite(true) is. Passing its name as
// SqliteOptions::vfs lets a test make a group commit fail without touching the store's code
// (the LevelDB "faulty Env" idea). Registration is idempotent and thread-safe; the switch is an
// atomic.
#pragma once

#include <sqlite3.h>

#include <atomic>

namespace kiln::store::sqlite::testing {

namespace faulty_vfs_internal {

inline std::atomic<bool> fail_wal_sync{false};
inline std::atomic<int> failed_syncs{0};
inline std::atomic<bool> fail_wal_write{false};
inline std::atomic<int> failed_writes{0};

struct File {
  sqlite3_file base;
  sqlite3_file* real;  // the default VFS's file, allocated right after this struct
  bool is_wal;
};

inline sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }
inline const sqlite3_io_methods* M(sqlite3_file* f) { return Real(f)->pMethods; }

inline int Close(sqlite3_file* f) { return M(f)->xClose(Real(f)); }
inline int Read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
  return M(f)->xRead(Real(f), b, n, o);
}
inline int Write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  if (reinterpret_cast<File*>(f)->is_wal && fail_wal_write.load()) {
    failed_writes.fetch_add(1);
    return SQLITE_IOERR_WRITE;
  }
  return M(f)->xWrite(Real(f), b, n, o);
}
inline int Truncate(sqlite3_file* f, sqlite3_int64 size) { return M(f)->xTruncate(Real(f), size); }
inline int Sync(sqlite3_file* f, int flags) {
  if (reinterpret_cast<File*>(f)->is_wal && fail_wal_sync.load()) {
    failed_syncs.fetch_add(1);
    return SQLITE_IOERR_FSYNC;
  }
  return M(f)->xSync(Real(f), flags);
}
inline int FileSize(sqlite3_file* f, sqlite3_int64* size) { return M(f)->xFileSize(Real(f), size); }
inline int Lock(sqlite3_file* f, int level) { return M(f)->xLock(Real(f), level); }
inline int Unlock(sqlite3_file* f, int level) { return M(f)->xUnlock(Real(f), level); }
inline int CheckReservedLock(sqlite3_file* f, int* out) {
  return M(f)->xCheckReservedLock(Real(f), out);
}
inline int FileControl(sqlite3_file* f, int op, void* arg) {
  return M(f)->xFileControl(Real(f), op, arg);
}
inline int SectorSize(sqlite3_file* f) { return M(f)->xSectorSize(Real(f)); }
inline int DeviceCharacteristics(sqlite3_file* f) { return M(f)->xDeviceCharacteristics(Real(f)); }
inline int ShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return M(f)->xShmMap(Real(f), page, size, extend, out);
}
inline int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return M(f)->xShmLock(Real(f), offset, n, flags);
}
inline void ShmBarrier(sqlite3_file* f) { M(f)->xShmBarrier(Real(f)); }
inline int ShmUnmap(sqlite3_file* f, int delete_flag) {
  return M(f)->xShmUnmap(Real(f), delete_flag);
}
inline int Fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return M(f)->xFetch(Real(f), offset, amount, out);
}
inline int Unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return M(f)->xUnfetch(Real(f), offset, p);
}

inline const sqlite3_io_methods kMethods = {
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

inline sqlite3_vfs* Root(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

inline int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = reinterpret_cast<File*>(file);
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
  int rc = Root(vfs)->xOpen(Root(vfs), name, f->real, flags, out_flags);
  // SQLite calls xClose only when pMethods is set; mirror the real file.
  file->pMethods = f->real->pMethods != nullptr ? &kMethods : nullptr;
  return rc;
}

inline sqlite3_vfs MakeVfs() {
  sqlite3_vfs* root = sqlite3_vfs_find(nullptr);
  sqlite3_vfs vfs = *root;
  vfs.pNext = nullptr;
  vfs.zName = "kiln-test-faulty";
  vfs.szOsFile = static_cast<int>(sizeof(File)) + root->szOsFile;
  vfs.pAppData = root;
  vfs.xOpen = Open;
  return vfs;
}

}  // namespace faulty_vfs_internal

// Registers the VFS (once) and returns its name.
inline const char* FaultyVfs() {
  static sqlite3_vfs vfs = faulty_vfs_internal::MakeVfs();
  static const bool registered = sqlite3_vfs_register(&vfs, /*makeDflt=*/0) == SQLITE_OK;
  (void)registered;
  return vfs.zName;
}

inline void FailWalSync(bool fail) { faulty_vfs_internal::fail_wal_sync.store(fail); }
inline int FailedWalSyncs() { return faulty_vfs_internal::failed_syncs.load(); }
inline void FailWalWrite(bool fail) { faulty_vfs_internal::fail_wal_write.store(fail); }
inline int FailedWalWrites() { return faulty_vfs_internal::failed_writes.load(); }

}  // namespace kiln::store::sqlite::testing
