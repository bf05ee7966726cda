// Deterministic time and execution for tests.
//
//   FakeClock clock;                 // starts at a fixed instant
//   clock.RunAfter(absl::Seconds(1), [&] { fired = true; });
//   clock.Advance(absl::Seconds(1));  // runs the callback on this thread
//
//   ManualExecutor executor;          // collects posted closures
//   executor.RunAll();                // runs them (and any they post) on this thread
#pragma once

#include <deque>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "mcpgw/base/clock.h"
#include "mcpgw/base/executor.h"

namespace mcpgw::testing {

// FakeClock only moves when Advance is called; due callbacks run inside Advance, in deadline
// order, on the calling thread. Thread-safe.
class FakeClock final : public base::Clock {
 public:
  FakeClock();
  absl::Time Now() override;
  base::TimerId RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> fn) override;
  bool Cancel(base::TimerId id) override;

  void Advance(absl::Duration d);
  size_t PendingTimers();

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  base::TimerId next_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<absl::Time, base::TimerId>, absl::AnyInvocable<void() &&>> timers_
      ABSL_GUARDED_BY(mu_);
};

// ManualExecutor queues closures until the test runs them. Thread-safe.
class ManualExecutor final : public base::Executor {
 public:
  void Post(absl::AnyInvocable<void() &&> fn) override;
  // Runs the oldest queued closure; returns false if none.
  bool RunOne();
  // Runs closures until none is queued (including ones posted meanwhile). Returns how many.
  size_t RunAll();
  size_t Pending();

 private:
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mcpgw::testing
