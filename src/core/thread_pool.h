// A fixed pool of worker threads running queued tasks in FIFO order.
//
// Used to keep work that may block (large history pages, later search) off the HTTP I/O threads.
// Thread-safe. The destructor (or Shutdown) runs the tasks already queued, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::core {

// Names the calling thread (as `top -H`, `ps -L` and debuggers show it); Linux keeps the first
// 15 bytes.
void SetCurrentThreadName(const char* name);

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`. After Shutdown() began, runs it on the caller's thread instead.
  void Post(std::function<void()> task);
  // Finishes queued tasks and joins the workers. Idempotent.
  void Shutdown();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace kiln::core
