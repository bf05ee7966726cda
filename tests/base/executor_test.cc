#include "mcpgw/base/executor.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace mcpgw::base {
namespace {

TEST(InlineExecutor, RunsBeforePostReturns) {
  InlineExecutor executor;
  int ran = 0;
  executor.Post([&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(ThreadPool, RunsEverythingPostedAndGrowsOnlyWhenBusy) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool({.max_threads = 4});
    for (int i = 0; i < 1000; ++i) {
      pool.Post([&] { ++ran; });
    }
  }  // the destructor runs what was posted, then joins
  EXPECT_EQ(ran, 1000);
}

TEST(ThreadPool, BlockedWorkersDoNotStopOthers) {
  ThreadPool pool({.max_threads = 3});
  absl::Notification release;
  absl::Notification second_ran;
  pool.Post([&] { release.WaitForNotification(); });
  pool.Post([&] { second_ran.Notify(); });
  EXPECT_TRUE(second_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LE(pool.ThreadCountForTest(), 3u);
  release.Notify();
}

TEST(ThreadPool, NeverExceedsMaxThreads) {
  ThreadPool pool({.max_threads = 2});
  absl::Notification release;
  std::atomic<int> started{0};
  for (int i = 0; i < 10; ++i) {
    pool.Post([&] {
      ++started;
      release.WaitForNotification();
    });
  }
  EXPECT_EQ(pool.ThreadCountForTest(), 2u);
  release.Notify();
}

}  // namespace
}  // namespace mcpgw::base
