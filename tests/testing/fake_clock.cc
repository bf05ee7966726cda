#include "testing/fake_clock.h"

namespace mcpgw::testing {

FakeClock::FakeClock() : now_(absl::FromUnixSeconds(1'800'000'000)) {}

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

base::TimerId FakeClock::RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> fn) {
  absl::MutexLock lock(&mu_);
  base::TimerId id = next_++;
  timers_.emplace(std::make_pair(now_ + delay, id), std::move(fn));
  return id;
}

bool FakeClock::Cancel(base::TimerId id) {
  absl::AnyInvocable<void() &&> dropped;
  absl::MutexLock lock(&mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->first.second == id) {
      dropped = std::move(it->second);
      timers_.erase(it);
      return true;
    }
  }
  return false;
}

void FakeClock::Advance(absl::Duration d) {
  absl::Time target;
  {
    absl::MutexLock lock(&mu_);
    target = now_ + d;
  }
  while (true) {
    absl::AnyInvocable<void() &&> fn;
    {
      absl::MutexLock lock(&mu_);
      if (timers_.empty() || timers_.begin()->first.first > target) {
        now_ = target;
        return;
      }
      auto node = timers_.extract(timers_.begin());
      now_ = node.key().first;
      fn = std::move(node.mapped());
    }
    std::move(fn)();
  }
}

size_t FakeClock::PendingTimers() {
  absl::MutexLock lock(&mu_);
  return timers_.size();
}

void ManualExecutor::Post(absl::AnyInvocable<void() &&> fn) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
}

bool ManualExecutor::RunOne() {
  absl::AnyInvocable<void() &&> fn;
  {
    absl::MutexLock lock(&mu_);
    if (queue_.empty()) {
      return false;
    }
    fn = std::move(queue_.front());
    queue_.pop_front();
  }
  std::move(fn)();
  return true;
}

size_t ManualExecutor::RunAll() {
  size_t n = 0;
  while (RunOne()) {
    ++n;
  }
  return n;
}

size_t ManualExecutor::Pending() {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

}  // namespace mcpgw::testing
