// File: clock.h
//
// Time and timers, injectable so that tests control time (see FakeClock in tests/testing).
//
//   Clock& clock = mcpgw::base::RealClock();
//   TimerId t = clock.RunAfter(absl::Seconds(5), [] { OnTimeout(); });
//   clock.Cancel(t);  // true if the callback had not started
#pragma once

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mcpgw::base {

using TimerId = uint64_t;

// Clock tells the time and runs callbacks after a delay. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;

  // RunAfter schedules `fn` to run once after `delay` (on a thread of the clock's choosing).
  // Never runs `fn` before returning. Returns an id for Cancel; ids are never reused.
  virtual TimerId RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> fn) = 0;

  // Cancel drops a pending timer. Returns false if it already ran, is running, or is unknown.
  virtual bool Cancel(TimerId id) = 0;
};

// TimerThreadClock is the real clock: one thread that sleeps until the earliest deadline and
// runs due callbacks in deadline order. Callbacks should be short; long work belongs on an
// Executor. The destructor drops pending timers and joins the thread.
class TimerThreadClock final : public Clock {
 public:
  TimerThreadClock();
  TimerThreadClock(const TimerThreadClock&) = delete;
  TimerThreadClock& operator=(const TimerThreadClock&) = delete;
  ~TimerThreadClock() override;

  absl::Time Now() override { return absl::Now(); }
  TimerId RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> fn) override;
  bool Cancel(TimerId id) override;

 private:
  void Loop() noexcept;

  absl::Mutex mu_;
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // When the timer thread wakes next by itself (its first deadline when it went to sleep).
  absl::Time wake_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Ordered by (deadline, id), so equal deadlines fire in scheduling order.
  std::map<std::pair<absl::Time, TimerId>, absl::AnyInvocable<void() &&>> timers_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<TimerId, absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// RealClock is the process-wide TimerThreadClock, started on first use. Never destroyed.
Clock& RealClock();

}  // namespace mcpgw::base
