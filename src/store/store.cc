// Backend-neutral parts of the Store interface (include/kiln/store.h).
#include "kiln/store.h"

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

Status Store::WriteAndWait(WriteFn fn) {
  // Shared, not borrowed: `done` may still be inside set_value() when get() returns, so the
  // promise must outlive this frame.
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> future = promise->get_future();
  Write(std::move(fn), [promise](Status status) { promise->set_value(std::move(status)); });
  return future.get();
}

// Index maintenance: a backend that has not implemented it says so.
namespace {
Status NotImplemented(std::string what) {
  return Status(ErrorCode::kNotImplemented, "not-supported", std::move(what));
}
}  // namespace

Result<bool> StoreTxn::ReplaceIndex(const ResourceKey&, int64_t,
                                    const std::vector<search::IndexEntry>&) {
  return NotImplemented("this store cannot replace index rows");
}
Status StoreTxn::SetMeta(const std::string&, std::optional<int64_t>) {
  return NotImplemented("this store keeps no metadata");
}
Result<bool> StoreTxn::CompactSearchIndex(int64_t) { return false; }
Result<ScanPage> Store::ScanCurrent(int64_t, int) {
  return NotImplemented("this store cannot scan its resources");
}
Result<int64_t> Store::CountCurrent(int64_t) {
  return NotImplemented("this store cannot count its resources");
}
Result<std::optional<int64_t>> Store::ReadMeta(const std::string&) {
  return NotImplemented("this store keeps no metadata");
}

}  // namespace kiln
