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
    if (timers_.empty()) {
      mu_.Await(absl::Condition(
          +[](TimerThreadClock* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->stopping_ || !c->timers_.empty();
          },
          this));
      continue;
    }
    absl::Time deadline = timers_.begin()->first.first;
    if (absl::Now() < deadline) {
      // Wakes early when a nearer timer is added or on stop; then re-evaluates.
      TimerId first = timers_.begin()->first.second;
      size_t count = timers_.size();
      struct Args {
        TimerThreadClock* self;
        TimerId first;
        size_t count;
      } args{this, first, count};
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                  return a->self->stopping_ || a->self->timers_.empty() ||
                                         a->self->timers_.begin()->first.second != a->first ||
                                         a->self->timers_.size() != a->count;
                                },
                                &args),
                            deadline);
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
