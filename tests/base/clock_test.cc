#include "mcpgw/base/clock.h"

#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "testing/fake_clock.h"

namespace mcpgw::base {
namespace {

TEST(TimerThreadClock, RunsInDeadlineOrderAndCancels) {
  TimerThreadClock clock;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  auto record = [&](int v) {
    absl::MutexLock lock(&mu);
    order.push_back(v);
  };
  clock.RunAfter(absl::Milliseconds(30), [&] {
    record(3);
    done.Notify();
  });
  clock.RunAfter(absl::Milliseconds(10), [&] { record(1); });
  TimerId cancelled = clock.RunAfter(absl::Milliseconds(20), [&] { record(2); });
  EXPECT_TRUE(clock.Cancel(cancelled));
  EXPECT_FALSE(clock.Cancel(cancelled));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 3}));
}

TEST(TimerThreadClock, ANearerTimerWakesItAndACancelledFirstOneDoesNotDelayTheNext) {
  TimerThreadClock clock;
  // It sleeps until the hour's timer; a nearer one must still run on time.
  TimerId far = clock.RunAfter(absl::Hours(1), [] {});
  absl::Notification near_ran;
  absl::Time start = absl::Now();
  clock.RunAfter(absl::Milliseconds(20), [&] { near_ran.Notify(); });
  ASSERT_TRUE(near_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The first timer is cancelled while it sleeps for it; the next (sooner than the cancelled
  // one was) still runs.
  TimerId first = clock.RunAfter(absl::Milliseconds(200), [] {});
  absl::Notification second_ran;
  clock.RunAfter(absl::Milliseconds(100), [&] { second_ran.Notify(); });
  EXPECT_TRUE(clock.Cancel(first));
  ASSERT_TRUE(second_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // With nothing left but a far timer cancelled, a new one after it was due still runs.
  EXPECT_TRUE(clock.Cancel(far));
  absl::Notification last_ran;
  clock.RunAfter(absl::Milliseconds(30), [&] { last_ran.Notify(); });
  EXPECT_TRUE(last_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(TimerThreadClock, DestructorDropsPendingTimers) {
  bool ran = false;
  {
    TimerThreadClock clock;
    clock.RunAfter(absl::Hours(1), [&] { ran = true; });
  }
  EXPECT_FALSE(ran);
}

TEST(FakeClock, AdvanceRunsDueTimersInOrder) {
  testing::FakeClock clock;
  std::vector<int> order;
  absl::Time start = clock.Now();
  clock.RunAfter(absl::Seconds(2), [&] { order.push_back(2); });
  clock.RunAfter(absl::Seconds(1), [&] {
    order.push_back(1);
    clock.RunAfter(absl::Seconds(0), [&] { order.push_back(11); });  // scheduled while running
  });
  clock.Advance(absl::Milliseconds(999));
  EXPECT_TRUE(order.empty());
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(order, (std::vector<int>{1, 11, 2}));
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(5999));
}

}  // namespace
}  // namespace mcpgw::base
