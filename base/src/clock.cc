#include "mcpgw/base/clock.h"

namespace mcpgw::base {

TimerThreadClock::TimerThreadClock() : thread_([this] { Loop(); }) {}

TimerThreadClock::~TimerThreadClock() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

TimerId TimerThreadClock::RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> fn) {
  absl::MutexLock lock(&mu_);
  TimerId id = next_id_++;
  absl::Time deadline = absl::Now() + delay;
  timers_.emplace(std::make_pair(deadline, id), std::move(fn));
  deadlines_.emplace(id, deadline);
  return id;
}

bool TimerThreadClock::Cancel(TimerId id) {
  absl::AnyInvocable<void() &&> dropped;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) {
    return false;
  }
  auto timer = timers_.find(std::make_pair(it->second, id));
  dropped = std::move(timer->second);
  timers_.erase(timer);
  deadlines_.erase(it);
  return true;
}

void TimerThreadClock::Loop() noexcept {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (timers_.empty() || absl::Now() < timers_.begin()->first.first) {
      // Sleeps until the first deadline, woken early only by a nearer timer or by the stop:
      // a cancelled timer does not wake it (it wakes at that deadline and finds nothing to
      // run), nor does a timer due after the deadline it sleeps until. Requests arm and
      // cancel a timeout each, so this spares a thread wake-up per request.
      wake_at_ = timers_.empty() ? absl::InfiniteFuture() : timers_.begin()->first.first;
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](TimerThreadClock* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
                                  return c->stopping_ ||
                                         (!c->timers_.empty() &&
                                          c->timers_.begin()->first.first < c->wake_at_);
                                },
                                this),
                            wake_at_);
      continue;
    }
    auto node = timers_.extract(timers_.begin());
    deadlines_.erase(node.key().second);
    mu_.Unlock();
    std::move(node.mapped())();
    node = {};
    mu_.Lock();
  }
}

Clock& RealClock() {
  static TimerThreadClock* clock = new TimerThreadClock();
  return *clock;
}

}  // namespace mcpgw::base
