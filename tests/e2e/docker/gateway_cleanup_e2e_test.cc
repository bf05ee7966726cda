// Several `mcpgw run` on one profile (issue 6, point 5): each gateway labels its containers
// with its instance id and holds a lock for its life. Two gateways run side by side; one is
// killed with SIGKILL; a third one starting removes the dead one's container and none of the
// live one's; then every other way of ending (end of input, SIGINT, SIGTERM) leaves no
// container, lock file or process behind.
//
// The servers run `mcp-fixture-server --ignore-stdin-eof`: when a gateway dies its servers'
// stdin ends, and a server that exited then would remove itself (AutoRemove) — these servers
// do not, so what removes the dead gateway's container can only be the next gateway's sweep,
// and what ends its local server can only be PR_SET_PDEATHSIG.
//
// Needs a running Docker engine: skips without one, fails when CI=true or
// MCPGW_REQUIRE_DOCKER=1.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/docker_engine.h"
#include "testing/no_process_left.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

extern char** environ;

namespace mcpgw {
namespace {

using ::mcpgw::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::SizeIs;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kEndTimeout = absl::Seconds(30);

std::string Initialize() {
  return R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)"
         R"("protocolVersion":"2025-11-25","capabilities":{},)"
         R"("clientInfo":{"name":"cleanup-e2e","version":"0"}}})"
         "\n"
         R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
         "\n";
}

std::string CallEcho(int id, absl::string_view tool, absl::string_view message) {
  return absl::StrCat(R"({"jsonrpc":"2.0","id":)", id,
                      R"(,"method":"tools/call","params":{"name":")", tool,
                      R"(","arguments":{"message":")", message, R"("}}})", "\n");
}

// One `mcpgw run` process: stdin and stdout are pipes of this test, stderr goes to a file.
class Gateway {
 public:
  Gateway(const std::vector<std::string>& args, const std::vector<std::string>& env,
          std::string stderr_path)
      : stderr_path_(std::move(stderr_path)) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << strerror(errno);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    std::vector<std::string> argv_copy = {MCPGW_BINARY, "run"};
    argv_copy.insert(argv_copy.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_copy) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    // This process's environment with `env` ("NAME=VALUE") replacing variables of those names.
    std::vector<std::string> env_copy = env;
    for (char** e = environ; *e != nullptr; ++e) {
      absl::string_view name = absl::string_view(*e).substr(0, absl::string_view(*e).find('='));
      bool replaced = false;
      for (const std::string& mine : env) {
        replaced = replaced || absl::StartsWith(mine, absl::StrCat(name, "="));
      }
      if (!replaced) {
        env_copy.emplace_back(*e);
      }
    }
    std::vector<char*> envp;
    for (std::string& e : env_copy) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << MCPGW_BINARY << ": " << strerror(rc);
      pid_ = -1;
      close(in[1]);
      close(out[0]);
      return;
    }
    stdin_ = in[1];
    stdout_ = out[0];
  }

  ~Gateway() {
    CloseStdin();
    if (stdout_ >= 0) {
      close(stdout_);
    }
    if (pid_ > 0) {  // the test failed before it ended it
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  bool Send(absl::string_view text) {
    while (!text.empty() && stdin_ >= 0) {
      ssize_t n = write(stdin_, text.data(), text.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return false;
      }
      text.remove_prefix(static_cast<size_t>(n));
    }
    return text.empty();
  }

  void CloseStdin() {
    if (stdin_ >= 0) {
      close(stdin_);
      stdin_ = -1;
    }
  }

  // The response line to request `id`, or "" when none came within `timeout`.
  std::string AwaitResponse(int id, absl::Duration timeout = kStartTimeout) {
    const std::string key = absl::StrCat(R"("id":)", id, ",");
    absl::Time deadline = absl::Now() + timeout;
    while (true) {
      size_t nl;
      while ((nl = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (absl::StrContains(line, key) && !absl::StrContains(line, R"("method")")) {
          return line;
        }
      }
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration() || stdout_ < 0) {
        return "";
      }
      pollfd p{.fd = stdout_, .events = POLLIN, .revents = 0};
      int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0 && errno == EINTR) {
        continue;
      }
      if (ready <= 0) {
        continue;  // the deadline is checked above
      }
      char buf[65536];
      ssize_t n = read(stdout_, buf, sizeof(buf));
      if (n <= 0) {
        return "";  // stdout closed: no answer will come
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  // Initializes and calls `echo` on each of `tools`, which starts their servers.
  void StartServers(const std::vector<std::string>& tools) {
    ASSERT_TRUE(Send(Initialize()));
    std::string init = AwaitResponse(1);
    ASSERT_THAT(init, HasSubstr(R"("result")")) << Stderr();
    int id = 2;
    for (const std::string& tool : tools) {
      ASSERT_TRUE(Send(CallEcho(id, tool, "hi " + tool)));
      std::string answer = AwaitResponse(id++);
      ASSERT_THAT(answer, HasSubstr("Echo: hi " + tool)) << answer << "\n" << Stderr();
    }
  }

  void Signal(int sig) { kill(pid_, sig); }

  // Waits (at most `timeout`) for the process to end; its wait status, or nullopt.
  std::optional<int> Wait(absl::Duration timeout = kEndTimeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (pid_ > 0) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      if (r < 0 || absl::Now() >= deadline) {
        return std::nullopt;
      }
      absl::SleepFor(absl::Milliseconds(20));  // polling, bounded by the deadline
    }
    return std::nullopt;
  }

  std::string Stderr() const {
    std::ifstream in(stderr_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // The instance id the gateway logged at start ("gateway instance <id>"), "" if none yet.
  std::string InstanceId() const {
    std::string err = Stderr();
    const std::string marker = "gateway instance ";
    size_t at = err.find(marker);
    return at == std::string::npos ? "" : err.substr(at + marker.size(), 32);
  }

 private:
  std::string stderr_path_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string buffer_;
};

class GatewayCleanupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // a dead gateway's stdin must be an error, not our end
    absl::StatusOr<std::unique_ptr<container::DockerEngine>> engine =
        container::DockerEngine::Create({});
    MCPGW_REQUIRE_OR_SKIP(engine.ok(), "MCPGW_REQUIRE_DOCKER",
                          "no usable Docker engine: " + engine.status().ToString());
    docker_ = *std::move(engine);
    testing::ChildResult built =
        testing::RunProgram({std::string(MCPGW_SOURCE_DIR) + "/tests/docker/build-test-images.sh",
                             MCPGW_FIXTURE_SERVER});
    ASSERT_EQ(built.exit_code, 0) << built.err;

    std::string test_name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(test_name.begin(), test_name.end(), '/', '-');  // parameterized names
    root_ = absl::StrCat(::testing::TempDir(), "/mcpgw-cleanup-e2e-", getpid(), "-", test_name);
    std::filesystem::remove_all(root_);
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir((root_ + "/config").c_str(), 0700), 0);
    profile_name_ = absl::StrCat("cleanup-e2e-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
    profile_path_ = root_ + "/profile.yaml";
    std::ofstream(profile_path_) << "version: 1\n"
                                 << "name: " << profile_name_ << "\n"
                                 << "servers:\n"
                                 << "  boxed:\n"
                                 << "    image: mcpgw-test/fixture:latest\n"
                                 << "    args: [--ignore-stdin-eof]\n";
    lock_dir_ = root_ + "/mcpgw/instances";
  }

  void TearDown() override {
    if (docker_ != nullptr) {
      // Whatever a failed test left.
      absl::StatusOr<std::vector<container::InstanceInfo>> left =
          docker_->List({{"io.mcpgw.profile", profile_name_}});
      if (left.ok()) {
        for (const container::InstanceInfo& c : *left) {
          docker_->Remove(c.id).IgnoreError();  // best effort; the test has failed already
        }
      }
    }
    docker_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  std::unique_ptr<Gateway> StartGateway(const std::string& name) {
    return std::make_unique<Gateway>(
        std::vector<std::string>{
            "--profile", profile_path_, "--command",
            absl::StrCat("local=", MCPGW_FIXTURE_SERVER, " --ignore-stdin-eof")},
        std::vector<std::string>{"XDG_RUNTIME_DIR=" + root_,
                                 "XDG_CONFIG_HOME=" + root_ + "/config"},
        absl::StrCat(root_, "/", name, ".stderr"));
  }

  std::vector<container::InstanceInfo> ContainersOf(const std::string& gateway_id) {
    absl::StatusOr<std::vector<container::InstanceInfo>> list =
        docker_->List({{"io.mcpgw.gateway", gateway_id}});
    EXPECT_THAT(list.status(), IsOk());
    return list.ok() ? *list : std::vector<container::InstanceInfo>{};
  }

  // Waits (bounded) until no container with `selector` is left; what is left then.
  std::vector<container::InstanceInfo> AwaitNoContainer(const container::Labels& selector) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (true) {
      absl::StatusOr<std::vector<container::InstanceInfo>> list = docker_->List(selector);
      EXPECT_THAT(list.status(), IsOk());
      if (!list.ok() || list->empty() || absl::Now() >= deadline) {
        return list.ok() ? *list : std::vector<container::InstanceInfo>{};
      }
      absl::SleepFor(absl::Milliseconds(100));  // polling, bounded by the deadline
    }
  }

  bool LockFileExists(const std::string& id) const {
    struct stat st;
    return stat(absl::StrCat(lock_dir_, "/", id, ".lock").c_str(), &st) == 0;
  }

  std::vector<std::string> LockFiles() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(lock_dir_, ec)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  // Reaps the children of this process other than `keep` (servers of a dead gateway, which
  // are re-parented to this test: see no_process_left.h), waiting at most `timeout` for each.
  // Returns how each ended.
  std::vector<int> ReapOrphans(const std::vector<pid_t>& keep,
                               absl::Duration timeout = kEndTimeout) {
    std::vector<int> statuses;
    for (pid_t pid : testing::ChildrenOfThisProcess()) {
      if (std::find(keep.begin(), keep.end(), pid) != keep.end()) {
        continue;
      }
      absl::Time deadline = absl::Now() + timeout;
      int status = 0;
      while (waitpid(pid, &status, WNOHANG) == 0 && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(20));  // polling, bounded by the deadline
      }
      statuses.push_back(status);
    }
    return statuses;
  }

  std::unique_ptr<container::DockerEngine> docker_;
  std::string root_;
  std::string profile_name_;
  std::string profile_path_;
  std::string lock_dir_;
};

const std::vector<std::string> kBothServers = {"boxed__echo", "local__echo"};

TEST_F(GatewayCleanupTest, AKilledGatewaysContainersAreRemovedByTheNextOneAndNoLiveOnes) {
  // Two gateways on one profile, side by side, each with its container and local server.
  std::unique_ptr<Gateway> g1 = StartGateway("g1");
  std::unique_ptr<Gateway> g2 = StartGateway("g2");
  ASSERT_NO_FATAL_FAILURE(g1->StartServers(kBothServers));
  ASSERT_NO_FATAL_FAILURE(g2->StartServers(kBothServers));
  std::string id1 = g1->InstanceId(), id2 = g2->InstanceId();
  ASSERT_THAT(id1, MatchesRegex("[0-9a-f]{32}")) << g1->Stderr();
  ASSERT_THAT(id2, MatchesRegex("[0-9a-f]{32}")) << g2->Stderr();
  ASSERT_NE(id1, id2);
  std::vector<container::InstanceInfo> c1 = ContainersOf(id1), c2 = ContainersOf(id2);
  ASSERT_THAT(c1, SizeIs(1));
  ASSERT_THAT(c2, SizeIs(1));
  EXPECT_EQ(c1[0].labels["io.mcpgw.server"], "boxed");
  EXPECT_EQ(c1[0].labels["io.mcpgw.profile"], profile_name_);
  EXPECT_EQ(c2[0].labels["io.mcpgw.profile"], profile_name_);

  // SIGKILL: gateway 1 cleans up nothing.
  g1->Signal(SIGKILL);
  std::optional<int> end1 = g1->Wait();
  ASSERT_TRUE(end1.has_value());
  EXPECT_TRUE(WIFSIGNALED(*end1) && WTERMSIG(*end1) == SIGKILL);
  // Its local server died with it (PR_SET_PDEATHSIG; it would not end on its own).
  std::vector<int> orphans = ReapOrphans({g2->pid()});
  ASSERT_THAT(orphans, SizeIs(1));
  EXPECT_TRUE(WIFSIGNALED(orphans[0]) && WTERMSIG(orphans[0]) == SIGKILL);
  // Its container outlives it (its server ignores the end of its input), and so does its lock
  // file: only the next gateway can remove them.
  ASSERT_THAT(ContainersOf(id1), SizeIs(1));
  EXPECT_FALSE(ContainersOf(id1)[0].exit_status.has_value());
  EXPECT_TRUE(LockFileExists(id1));

  // Gateway 3 starts: it sweeps before it serves, so once it has answered initialize, the dead
  // gateway's container is gone and the live one's is untouched.
  std::unique_ptr<Gateway> g3 = StartGateway("g3");
  ASSERT_TRUE(g3->Send(Initialize()));
  ASSERT_THAT(g3->AwaitResponse(1), HasSubstr(R"("result")")) << g3->Stderr();
  EXPECT_THAT(AwaitNoContainer({{"io.mcpgw.gateway", id1}}), IsEmpty());
  EXPECT_FALSE(LockFileExists(id1));
  EXPECT_THAT(g3->Stderr(), HasSubstr(absl::StrCat("removed container ", c1[0].id.substr(0, 12),
                                                   " (server boxed) of gateway ", id1)));
  std::vector<container::InstanceInfo> live = ContainersOf(id2);
  ASSERT_THAT(live, SizeIs(1));
  EXPECT_EQ(live[0].id, c2[0].id);
  EXPECT_FALSE(live[0].exit_status.has_value());
  EXPECT_TRUE(LockFileExists(id2));
  // And gateway 2 still works through it.
  ASSERT_TRUE(g2->Send(CallEcho(10, "boxed__echo", "still here")));
  EXPECT_THAT(g2->AwaitResponse(10), HasSubstr("Echo: still here")) << g2->Stderr();

  // Gateway 3 starts its own servers, then 2 and 3 end normally (SIGTERM, end of input).
  ASSERT_TRUE(g3->Send(CallEcho(2, "boxed__echo", "three")));
  ASSERT_THAT(g3->AwaitResponse(2), HasSubstr("Echo: three")) << g3->Stderr();
  std::string id3 = g3->InstanceId();
  ASSERT_THAT(ContainersOf(id3), SizeIs(1));
  g2->Signal(SIGTERM);
  g3->CloseStdin();
  std::optional<int> end2 = g2->Wait(), end3 = g3->Wait();
  ASSERT_TRUE(end2.has_value());
  ASSERT_TRUE(end3.has_value());
  EXPECT_TRUE(WIFEXITED(*end2) && WEXITSTATUS(*end2) == 0) << *end2 << g2->Stderr();
  EXPECT_TRUE(WIFEXITED(*end3) && WEXITSTATUS(*end3) == 0) << *end3 << g3->Stderr();

  // Nothing of any of the three is left: containers, lock files, processes.
  for (const std::string& id : {id1, id2, id3}) {
    EXPECT_THAT(AwaitNoContainer({{"io.mcpgw.gateway", id}}), IsEmpty()) << id;
  }
  EXPECT_THAT(AwaitNoContainer({{"io.mcpgw.profile", profile_name_}}), IsEmpty());
  EXPECT_THAT(LockFiles(), IsEmpty());
  EXPECT_THAT(testing::ChildrenOfThisProcess(), IsEmpty());
}

// Every clean way of ending a gateway stops and removes everything it started.
class GatewayExitTest : public GatewayCleanupTest, public ::testing::WithParamInterface<int> {};

TEST_P(GatewayExitTest, LeavesNoContainerLockFileOrProcess) {
  std::unique_ptr<Gateway> g = StartGateway("g");
  ASSERT_NO_FATAL_FAILURE(g->StartServers(kBothServers));
  std::string id = g->InstanceId();
  ASSERT_THAT(id, MatchesRegex("[0-9a-f]{32}")) << g->Stderr();
  ASSERT_THAT(ContainersOf(id), SizeIs(1));
  ASSERT_TRUE(LockFileExists(id));
  if (GetParam() == 0) {
    g->CloseStdin();
  } else {
    g->Signal(GetParam());
  }
  std::optional<int> end = g->Wait();
  ASSERT_TRUE(end.has_value()) << g->Stderr();
  EXPECT_TRUE(WIFEXITED(*end) && WEXITSTATUS(*end) == 0) << *end << g->Stderr();
  EXPECT_THAT(AwaitNoContainer({{"io.mcpgw.gateway", id}}), IsEmpty());
  EXPECT_THAT(LockFiles(), IsEmpty());
  // Its local server was stopped and reaped by the gateway itself: nothing re-parented here.
  EXPECT_THAT(testing::ChildrenOfThisProcess(), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Ends, GatewayExitTest, ::testing::Values(0, SIGINT, SIGTERM, SIGHUP),
                         [](const ::testing::TestParamInfo<int>& param) {
                           switch (param.param) {
                             case 0:
                               return std::string("EndOfInput");
                             case SIGINT:
                               return std::string("Sigint");
                             case SIGTERM:
                               return std::string("Sigterm");
                             default:
                               return std::string("Sighup");
                           }
                         });

}  // namespace
}  // namespace mcpgw
