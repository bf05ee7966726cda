// File: executor.h
//
// Where work runs. Sessions hand incoming requests to an Executor so that a slow handler never
// stops a reader thread; tests inject an executor they drive by hand.
//
//   mcpgw::base::ThreadPool pool({.max_threads = 8});
//   pool.Post([] { DoWork(); });
#pragma once

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace mcpgw::base {

// Executor runs closures, possibly on other threads. Implementations are thread-safe.
class Executor {
 public:
  virtual ~Executor() = default;

  // Post schedules `fn` to run once. It may run before Post returns (InlineExecutor).
  virtual void Post(absl::AnyInvocable<void() &&> fn) = 0;
};

// InlineExecutor runs each closure on the calling thread, before Post returns. Thread-safe.
class InlineExecutor final : public Executor {
 public:
  void Post(absl::AnyInvocable<void() &&> fn) override { std::move(fn)(); }
};

// ThreadPool grows to at most `max_threads` workers: a worker is added only when a closure is
// posted while every existing worker is busy, so an idle program holds few threads. Closures
// start in FIFO order of posting. Thread-safe. The destructor runs every closure already
// posted, then joins the workers.
class ThreadPool final : public Executor {
 public:
  struct Options {
    size_t max_threads = 64;
  };

  ThreadPool() : ThreadPool(Options{}) {}
  explicit ThreadPool(Options options);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() override;

  void Post(absl::AnyInvocable<void() &&> fn) override;

  // Threads alive now (for tests and diagnostics).
  size_t ThreadCountForTest() const;

 private:
  void WorkerLoop() noexcept;

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  size_t threads_ ABSL_GUARDED_BY(mu_) = 0;
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

// DefaultExecutor is the process-wide pool used when no executor is injected. Never destroyed.
Executor& DefaultExecutor();

}  // namespace mcpgw::base
