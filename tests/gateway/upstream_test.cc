// Upstream: the lifecycle of one backing server, with real processes (mcp-fixture-server and
// small shell programs started by ProcessRuntime) and a fake clock for the timers (idle stop,
// start timeout, back-off).
#include "mcpgw/gateway/upstream.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/mcp/json.h"
#include "testing/await.h"
#include "testing/fake_clock.h"
#include "testing/status_matchers.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::AwaitResult;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(20);

class UpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<container::ProcessRuntime>> runtime =
        container::ProcessRuntime::Create({});
    ASSERT_THAT(runtime.status(), IsOk());
    runtime_ = *std::move(runtime);
  }

  void TearDown() override {
    for (auto& up : upstreams_) {
      up->Shutdown();
    }
    upstreams_.clear();
    // Every process is gone (stopped by Shutdown, reaped by the runtime).
    absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline && Running() > 0) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ(Running(), 0);
    runtime_.reset();
  }

  // Running counts the processes of this runtime that still run.
  int Running() {
    absl::StatusOr<std::vector<container::InstanceInfo>> all = runtime_->List({});
    int n = 0;
    for (const auto& info : all.value_or(std::vector<container::InstanceInfo>{})) {
      n += info.exit_status.has_value() ? 0 : 1;
    }
    return n;
  }

  std::shared_ptr<Upstream> Make(UpstreamConfig config) {
    if (config.spec.command.empty()) {
      config.spec.command = MCPGW_FIXTURE_SERVER;
    }
    auto up = Upstream::Create(std::move(config), runtime_.get(), &clock_);
    upstreams_.push_back(up);
    return up;
  }

  static absl::StatusOr<Upstream::Lease> Acquire(Upstream& up) {
    return AwaitResult<Upstream::Lease>([&](auto done) { up.Acquire(std::move(done)); }, kWait);
  }

  static absl::StatusOr<std::string> Echo(const Upstream::Lease& lease, const std::string& text) {
    absl::StatusOr<mcp::Json> args = mcp::Json::Parse(R"({"message":")" + text + R"("})");
    if (!args.ok()) {
      return args.status();
    }
    absl::StatusOr<mcp::CallToolResult> r = AwaitResult<mcp::CallToolResult>(
        [&](auto done) { lease->CallTool("echo", *std::move(args), {}, std::move(done)); }, kWait);
    if (!r.ok()) {
      return r.status();
    }
    const auto* t = r->content.empty() ? nullptr : std::get_if<mcp::TextContent>(&r->content[0]);
    return t != nullptr ? t->text : "";
  }

  // WaitForState polls (bounded) until the upstream reaches `state`.
  static bool WaitForState(const Upstream& up, UpstreamState state) {
    absl::Time deadline = absl::Now() + kWait;
    while (up.state() != state) {
      if (absl::Now() > deadline) {
        return false;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }

  testing::FakeClock clock_;
  std::unique_ptr<container::ProcessRuntime> runtime_;
  std::vector<std::shared_ptr<Upstream>> upstreams_;
};

TEST_F(UpstreamTest, ConcurrentAcquiresShareOneStartAndOneInstance) {
  auto up = Make({.name = "fixture"});
  EXPECT_EQ(up->state(), UpstreamState::kStopped);
  EXPECT_EQ(up->client_if_ready(), nullptr);
  constexpr int kCallers = 8;
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::vector<std::shared_ptr<mcp::Client>> clients;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<Upstream::Lease> lease = Acquire(*up);
      ASSERT_THAT(lease.status(), IsOk());
      EXPECT_THAT(Echo(*lease, "caller " + std::to_string(i)),
                  ::mcpgw::testing::IsOkAndHolds("Echo: caller " + std::to_string(i)));
      absl::MutexLock lock(&mu);
      clients.push_back(lease->client());
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  ASSERT_EQ(clients.size(), size_t{kCallers});
  for (const auto& c : clients) {
    EXPECT_EQ(c, clients[0]) << "every caller shares one connection";
  }
  EXPECT_EQ(Running(), 1) << "one process for all callers";
  EXPECT_EQ(up->state(), UpstreamState::kReady);
  EXPECT_EQ(up->client_if_ready(), clients[0]);
}

TEST_F(UpstreamTest, ACrashFailsTheCallInFlightAndTheNextCallRestartsIt) {
  auto up = Make({.name = "fixture"});
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease lease, Acquire(*up));
  std::shared_ptr<mcp::Client> first = lease.client();
  // The fixture's `crash` tool exits without answering: the call fails at once.
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"exit_code":7})"));
  absl::Time start = absl::Now();
  absl::StatusOr<mcp::CallToolResult> crashed = AwaitResult<mcp::CallToolResult>(
      [&](auto done) { lease->CallTool("crash", std::move(args), {}, std::move(done)); }, kWait);
  EXPECT_FALSE(crashed.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(WaitForState(*up, UpstreamState::kStopped));
  EXPECT_THAT(up->last_error(), HasSubstr("exited with code 7"));
  {
    Upstream::Lease gone = std::move(lease);
  }
  // The next need starts it again at once.
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease again, Acquire(*up));
  EXPECT_NE(again.client(), first);
  EXPECT_THAT(Echo(again, "back"), ::mcpgw::testing::IsOkAndHolds("Echo: back"));
}

TEST_F(UpstreamTest, ANeedBetweenTheLostConnectionAndTheExitWaitsForTheRestart) {
  // The server's connection closes a second before its process ends (the shell closes the
  // pipe, then sleeps): a need in between must not get the dead connection.
  UpstreamConfig config{.name = "lingering"};
  config.spec.command = "/bin/sh";
  config.spec.args = {"-c", absl::StrCat("'", MCPGW_FIXTURE_SERVER, "'; exec >&-; sleep 1")};
  auto up = Make(std::move(config));
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease lease, Acquire(*up));
  std::shared_ptr<mcp::Client> first = lease.client();
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"exit_code":0})"));
  EXPECT_FALSE(AwaitResult<mcp::CallToolResult>(
                   [&](auto done) { lease->CallTool("crash", std::move(args), {}, std::move(done)); },
                   kWait)
                   .ok());
  {
    Upstream::Lease gone = std::move(lease);
  }
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease again, Acquire(*up));
  EXPECT_NE(again.client(), first);
  EXPECT_THAT(Echo(again, "after the restart"),
              ::mcpgw::testing::IsOkAndHolds("Echo: after the restart"));
}

TEST_F(UpstreamTest, ANeedWaitingForTheRestartIsNotLostToAnIdleStop) {
  // As above, and meanwhile the last lease ends and the idle timeout passes: the waiting need
  // must still be served once the old process is gone.
  UpstreamConfig config{.name = "lingering", .idle_timeout = absl::Seconds(1)};
  config.spec.command = "/bin/sh";
  config.spec.args = {"-c", absl::StrCat("'", MCPGW_FIXTURE_SERVER, "'; exec >&-; sleep 1")};
  auto up = Make(std::move(config));
  std::optional<Upstream::Lease> lease;
  {
    MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease first, Acquire(*up));
    lease.emplace(std::move(first));
  }
  std::shared_ptr<mcp::Client> first = lease->client();
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"exit_code":0})"));
  EXPECT_FALSE(AwaitResult<mcp::CallToolResult>(
                   [&](auto done) {
                     (*lease)->CallTool("crash", std::move(args), {}, std::move(done));
                   },
                   kWait)
                   .ok());
  absl::Notification served;
  absl::StatusOr<Upstream::Lease> waited = absl::UnknownError("not answered");
  up->Acquire([&](absl::StatusOr<Upstream::Lease> result) {
    waited = std::move(result);
    served.Notify();
  });
  lease.reset();                     // the last lease ends: no idle stop may follow now
  clock_.Advance(absl::Seconds(2));  // past the idle timeout
  ASSERT_TRUE(served.WaitForNotificationWithTimeout(kWait)) << "the waiting need was lost";
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease again, std::move(waited));
  EXPECT_NE(again.client(), first);
  EXPECT_THAT(Echo(again, "served"), ::mcpgw::testing::IsOkAndHolds("Echo: served"));
}

TEST_F(UpstreamTest, CrashingAgainSoonAfterTheStartBacksOff) {
  auto up = Make({.name = "fixture", .backoff_initial = absl::Seconds(3)});
  for (int round = 0; round < 2; ++round) {
    MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease lease, Acquire(*up));
    MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"exit_code":9})"));
    AwaitResult<mcp::CallToolResult>(
        [&](auto done) { lease->CallTool("crash", std::move(args), {}, std::move(done)); }, kWait)
        .IgnoreError();
    ASSERT_TRUE(WaitForState(*up, round == 0 ? UpstreamState::kStopped
                                             : UpstreamState::kBackingOff));
  }
  // While backing off, a need fails at once and says why and when it retries.
  EXPECT_THAT(Acquire(*up).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("server \"fixture\" exited with code 9"),
                             HasSubstr("crash: exiting at once"), HasSubstr("retries in"))));
  clock_.Advance(absl::Seconds(3));
  ASSERT_TRUE(WaitForState(*up, UpstreamState::kStopped));
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease lease, Acquire(*up));
  EXPECT_THAT(Echo(lease, "recovered"), ::mcpgw::testing::IsOkAndHolds("Echo: recovered"));
}

TEST_F(UpstreamTest, AProgramThatCannotStartIsReportedAndBacksOff) {
  UpstreamConfig config{.name = "missing"};
  config.spec.command = "mcpgw-no-such-server";
  auto up = Make(std::move(config));
  EXPECT_THAT(Acquire(*up).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("server \"missing\" could not be started"),
                             HasSubstr("'mcpgw-no-such-server' not found"))));
  EXPECT_EQ(up->state(), UpstreamState::kBackingOff);
}

TEST_F(UpstreamTest, AServerThatExitsDuringStartUpQuotesItsStderr) {
  UpstreamConfig config{.name = "broken"};
  config.spec.command = "/bin/sh";
  config.spec.args = {"-c", "echo 'cannot open config file' >&2; exit 3"};
  auto up = Make(std::move(config));
  EXPECT_THAT(Acquire(*up).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("server \"broken\""), HasSubstr("exited with code 3"),
                             HasSubstr("cannot open config file"))));
  EXPECT_EQ(up->state(), UpstreamState::kBackingOff);
}

TEST_F(UpstreamTest, ASecretThatAServerPrintsNeverReachesTheErrorsOrTheLog) {
  auto redactor = std::make_shared<Redactor>();
  redactor->Add("tok-8f3a9c2e");
  UpstreamConfig config{.name = "leaky"};
  config.spec.command = "/bin/sh";
  config.spec.args = {"-c", "echo \"using token $TOKEN\" >&2; exit 4"};
  config.spec.env["TOKEN"] = "tok-8f3a9c2e";
  config.redactor = redactor;
  auto up = Make(std::move(config));
  absl::Status failed = Acquire(*up).status();
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable,
                               AllOf(HasSubstr("exited with code 4"), HasSubstr("using token ***"))));
  EXPECT_THAT(std::string(failed.message()), Not(HasSubstr("tok-8f3a9c2e")));
  EXPECT_THAT(up->last_error(), Not(HasSubstr("tok-8f3a9c2e")));
  // The tail is quoted once.
  std::string message(failed.message());
  EXPECT_EQ(message.find("using token ***"), message.rfind("using token ***")) << message;
}

TEST_F(UpstreamTest, AServerThatNeverAnswersInitializeTimesOut) {
  UpstreamConfig config{.name = "mute", .start_timeout = absl::Seconds(10)};
  config.spec.command = "/bin/sh";
  config.spec.args = {"-c", "exec sleep 600"};
  auto up = Make(std::move(config));
  absl::Mutex mu;
  std::optional<absl::Status> got;
  up->Acquire([&](absl::StatusOr<Upstream::Lease> lease) {
    absl::MutexLock lock(&mu);
    got = lease.status();
  });
  ASSERT_TRUE(WaitForState(*up, UpstreamState::kStarting));
  // Wait until the process runs and its timer is armed, then let the start time out.
  absl::Time deadline = absl::Now() + kWait;
  while (Running() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  while (clock_.PendingTimers() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  clock_.Advance(absl::Seconds(10));
  absl::MutexLock lock(&mu);
  auto answered = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return got.has_value(); };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&answered), kWait));
  EXPECT_THAT(*got, StatusIs(absl::StatusCode::kDeadlineExceeded,
                             HasSubstr("server \"mute\" did not answer initialize within 10s")));
}

TEST_F(UpstreamTest, AnOnDemandServerStopsWhenIdleButNotWhileLeased) {
  auto up = Make({.name = "fixture", .idle_timeout = absl::Minutes(5)});
  {
    MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease lease, Acquire(*up));
    clock_.Advance(absl::Minutes(10));  // leased: never idle
    EXPECT_EQ(up->state(), UpstreamState::kReady);
    EXPECT_THAT(Echo(lease, "busy"), ::mcpgw::testing::IsOkAndHolds("Echo: busy"));
  }
  clock_.Advance(absl::Minutes(4));
  EXPECT_EQ(up->state(), UpstreamState::kReady);
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(up->state(), UpstreamState::kStopped);
  absl::Time deadline = absl::Now() + kWait;
  while (Running() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Running(), 0) << "the idle server's process ended";
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease lease, Acquire(*up));  // and starts again
  EXPECT_THAT(Echo(lease, "again"), ::mcpgw::testing::IsOkAndHolds("Echo: again"));
}

TEST_F(UpstreamTest, ALongLivedServerStartsWithoutANeedAndComesBackAfterACrash) {
  auto up = Make({.name = "fixture", .mode = RunMode::kLongLived});
  up->Start();
  ASSERT_TRUE(WaitForState(*up, UpstreamState::kReady));
  std::shared_ptr<mcp::Client> first = up->client_if_ready();
  clock_.Advance(absl::Hours(1));  // long-lived: no idle stop
  EXPECT_EQ(up->state(), UpstreamState::kReady);
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"exit_code":1})"));
  first->CallTool("crash", std::move(args), {}, [](absl::StatusOr<mcp::CallToolResult>) {});
  absl::Time deadline = absl::Now() + kWait;
  while ((up->client_if_ready() == nullptr || up->client_if_ready() == first) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_NE(up->client_if_ready(), nullptr) << "restarted by itself";
  EXPECT_NE(up->client_if_ready(), first);
}

TEST_F(UpstreamTest, ShutdownFailsWhoeverWaitsAndRefusesLaterNeeds) {
  UpstreamConfig config{.name = "mute"};
  config.spec.command = "/bin/sh";
  config.spec.args = {"-c", "exec sleep 600"};
  auto up = Make(std::move(config));
  absl::Mutex mu;
  std::optional<absl::Status> got;
  up->Acquire([&](absl::StatusOr<Upstream::Lease> lease) {
    absl::MutexLock lock(&mu);
    got = lease.status();
  });
  up->Shutdown();
  {
    absl::MutexLock lock(&mu);
    auto answered = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return got.has_value(); };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&answered), kWait));
    EXPECT_THAT(*got, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("shut down")));
  }
  EXPECT_THAT(Acquire(*up).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(up->state(), UpstreamState::kStopped);
}

TEST_F(UpstreamTest, PerCallGivesEachLeaseAFreshInstanceAndStopsItOnRelease) {
  auto up = Make({.name = "fixture", .mode = RunMode::kPerCall, .per_call_concurrency = 2});
  int connected = 0;
  absl::Mutex mu;
  up->SetConnectHook([&](mcp::Client&) {
    absl::MutexLock lock(&mu);
    ++connected;
  });
  EXPECT_EQ(up->mode(), RunMode::kPerCall);
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease first, Acquire(*up));
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease second, Acquire(*up));
  EXPECT_NE(first.client(), second.client()) << "each lease has its own instance";
  EXPECT_EQ(Running(), 2);
  EXPECT_EQ(up->state(), UpstreamState::kReady);
  EXPECT_EQ(up->client_if_ready(), nullptr) << "no instance is shared in per-call mode";
  EXPECT_THAT(Echo(first, "one"), ::mcpgw::testing::IsOkAndHolds("Echo: one"));
  EXPECT_THAT(Echo(second, "two"), ::mcpgw::testing::IsOkAndHolds("Echo: two"));

  // At the cap, a third Acquire waits until an instance stops.
  absl::Notification third_done;
  std::optional<absl::StatusOr<Upstream::Lease>> third;
  up->Acquire([&](absl::StatusOr<Upstream::Lease> lease) {
    third = std::move(lease);
    third_done.Notify();
  });
  EXPECT_FALSE(third_done.WaitForNotificationWithTimeout(absl::Milliseconds(300)))
      << "a third instance started above per_call_concurrency";
  std::shared_ptr<mcp::Client> first_client = first.client();
  {
    Upstream::Lease done = std::move(first);  // released: that instance stops
  }
  ASSERT_TRUE(third_done.WaitForNotificationWithTimeout(kWait));
  ASSERT_THAT(third->status(), IsOk());
  EXPECT_NE((*third)->client(), first_client);
  EXPECT_NE((*third)->client(), second.client());
  EXPECT_THAT(Echo(**third, "three"), ::mcpgw::testing::IsOkAndHolds("Echo: three"));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(connected, 3) << "the connect hook sees every instance";
  }
  // Released leases leave nothing running.
  { Upstream::Lease a = std::move(second); }
  { Upstream::Lease b = *std::move(*third); }
  third.reset();
  absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && Running() > 0) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Running(), 0);
  EXPECT_TRUE(WaitForState(*up, UpstreamState::kStopped));
  EXPECT_THAT(up->WaitStopped(absl::Now() + kWait), IsOk());
}

TEST_F(UpstreamTest, PerCallStartFailuresFailOnlyTheirOwnCallAndShutdownFailsTheWaiting) {
  UpstreamConfig config{.name = "broken", .mode = RunMode::kPerCall, .per_call_concurrency = 1};
  config.spec.command = "mcpgw-no-such-server";
  auto up = Make(std::move(config));
  EXPECT_THAT(Acquire(*up).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("'mcpgw-no-such-server' not found")));
  // Not backing off as a whole: the next call tries a fresh instance again.
  EXPECT_THAT(Acquire(*up).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("'mcpgw-no-such-server' not found")));
  EXPECT_THAT(up->last_error(), HasSubstr("'mcpgw-no-such-server' not found"));

  auto ok = Make({.name = "fixture", .mode = RunMode::kPerCall, .per_call_concurrency = 1});
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease held, Acquire(*ok));
  absl::Notification waiting_done;
  absl::Status waiting_status;
  ok->Acquire([&](absl::StatusOr<Upstream::Lease> lease) {
    waiting_status = lease.status();
    waiting_done.Notify();
  });
  ok->Shutdown();
  ASSERT_TRUE(waiting_done.WaitForNotificationWithTimeout(kWait));
  EXPECT_THAT(waiting_status, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Acquire(*ok).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(UpstreamTest, TheConnectHookSeesEachNewClientFirst) {
  auto up = Make({.name = "fixture"});
  absl::Mutex mu;
  std::vector<mcp::Client*> hooked;
  up->SetConnectHook([&](mcp::Client& c) {
    absl::MutexLock lock(&mu);
    hooked.push_back(&c);
  });
  MCPGW_ASSERT_OK_AND_ASSIGN(Upstream::Lease lease, Acquire(*up));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(hooked.size(), 1u);
  EXPECT_EQ(hooked[0], lease.client().get());
}

}  // namespace
}  // namespace mcpgw::gateway
