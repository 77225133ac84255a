// Backend-neutral parts of the Store interface (include/kiln/store.h).
#include "kiln/store.h"

#include <future>
#include <memory>
#include <utility>

namespace kiln {

Status Store::WriteAndWait(WriteFn fn) {
  // Shared, not borrowed: `done` may still be inside set_value() when get() returns, so the
  // promise must outlive this frame.
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> future = promise->get_future();
  Write(std::move(fn), [promise](Status status) { promise->set_value(std::move(status)); });
  return future.get();
}

}  // namespace kiln
