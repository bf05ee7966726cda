#include "mcpgw/base/clock.h"

#include <vector>

#include "absl/synchronization/notification.h"
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
