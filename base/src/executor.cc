#include "mcpgw/base/executor.h"

#include <utility>

namespace mcpgw::base {

ThreadPool::ThreadPool(Options options) : options_(options) {}

ThreadPool::~ThreadPool() {
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  for (std::thread& t : workers) {
    t.join();
  }
}

void ThreadPool::Post(absl::AnyInvocable<void() &&> fn) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
  if (idle_ < queue_.size() && threads_ < options_.max_threads) {
    ++threads_;
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

size_t ThreadPool::ThreadCountForTest() const {
  absl::MutexLock lock(&mu_);
  return threads_;
}

void ThreadPool::WorkerLoop() noexcept {
  absl::MutexLock lock(&mu_);
  while (true) {
    ++idle_;
    mu_.Await(absl::Condition(
        +[](ThreadPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return !p->queue_.empty() || p->stopping_;
        },
        this));
    --idle_;
    if (queue_.empty()) {
      return;  // stopping and drained
    }
    absl::AnyInvocable<void() &&> fn = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    std::move(fn)();
    fn = nullptr;  // destroy captured state outside the lock too
    mu_.Lock();
  }
}

Executor& DefaultExecutor() {
  static ThreadPool* pool = new ThreadPool(ThreadPool::Options{.max_threads = 256});
  return *pool;
}

}  // namespace mcpgw::base
