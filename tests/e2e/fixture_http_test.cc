// `mcp-fixture-server --http`: the official MCP conformance suite
// (@modelcontextprotocol/conformance, pinned in tests/e2e/package.json) against
// `mcp-fixture-server --http 0` — every scenario required for 2025-11-25 must pass, i.e.
// `conformance server --url URL --requirements 2025-11-25` exits 0 — and the flags' checks.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"

extern char** environ;

namespace mcpgw::mcp {
namespace {

// The fixture in --http mode, its stderr on a pipe. Killed (SIGTERM) and reaped by Stop.
class HttpFixture {
 public:
  HttpFixture() = default;
  HttpFixture(const HttpFixture&) = delete;
  HttpFixture& operator=(const HttpFixture&) = delete;
  ~HttpFixture() { Stop(); }

  // Starts the fixture and reads its stderr (at most 30 s) until it names its URL; returns the
  // URL, or "" with the reason in `err`.
  std::string Start(std::string* err) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
      *err = absl::StrCat("pipe2: ", strerror(errno));
      return "";
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::vector<std::string> args = {MCPGW_FIXTURE_SERVER, "--http", "0"};
    std::vector<char*> argv;
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    if (rc != 0) {
      close(pipe_fds[0]);
      pid_ = -1;
      *err = absl::StrCat("posix_spawn ", MCPGW_FIXTURE_SERVER, ": ", strerror(rc));
      return "";
    }
    err_fd_ = pipe_fds[0];
    const std::string marker = "mcp-fixture-server: listening on ";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      size_t at = stderr_.find(marker);
      if (at != std::string::npos) {
        size_t end = stderr_.find('\n', at);
        if (end != std::string::npos) {
          return stderr_.substr(at + marker.size(), end - at - marker.size());
        }
      }
      pollfd p{.fd = err_fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 1000) <= 0) {
        continue;
      }
      char buf[4096];
      ssize_t n = read(err_fd_, buf, sizeof(buf));
      if (n <= 0) {
        break;
      }
      stderr_.append(buf, static_cast<size_t>(n));
    }
    *err = absl::StrCat("the fixture did not print its URL; its stderr: ", stderr_);
    return "";
  }

  // Sends SIGTERM and reaps it; returns its exit code (-1 when a signal killed it).
  int Stop() {
    if (pid_ <= 0) {
      return -1;
    }
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (err_fd_ >= 0) {
      close(err_fd_);
      err_fd_ = -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string stderr_;
};

TEST(Conformance, FixtureOverHttpPassesTheRequired2025_11_25Scenarios) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  HttpFixture fixture;
  std::string err;
  std::string url = fixture.Start(&err);
  ASSERT_FALSE(url.empty()) << err;
  ASSERT_TRUE(absl::StartsWith(url, "http://127.0.0.1:")) << url;
  // `npx conformance` as documented (tests/e2e/node_modules/.bin first on PATH: the suite
  // needs the kit's Node 22), bounded by coreutils' timeout.
  const char* path = std::getenv("PATH");
  testing::ChildResult r = testing::RunProgram(
      {"timeout", "600", "env", absl::StrCat("PATH=", modules, "/.bin:", path ? path : ""),
       "conformance", "server", "--url", url, "--requirements", "2025-11-25"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr(" 0 failed")) << r.out;
  // The fixture ends cleanly on SIGTERM.
  EXPECT_EQ(fixture.Stop(), 0);
}

TEST(FixtureHttp, RefusesToServeOffLoopbackWithoutAToken) {
  testing::ChildResult r =
      testing::RunProgram({MCPGW_FIXTURE_SERVER, "--http", "0", "--host", "0.0.0.0"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("without authentication"));
  EXPECT_THAT(r.err, ::testing::HasSubstr("--bearer-token-env"));
  r = testing::RunProgram({MCPGW_FIXTURE_SERVER, "--http", "0", "--host", "0.0.0.0",
                           "--bearer-token-env", "MCPGW_TEST_NO_SUCH_VARIABLE"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("MCPGW_TEST_NO_SUCH_VARIABLE is unset or empty"));
  r = testing::RunProgram({MCPGW_FIXTURE_SERVER, "--http", "70000"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("between 0 and 65535"));
  r = testing::RunProgram({MCPGW_FIXTURE_SERVER, "--host", "127.0.0.1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("need --http"));
  r = testing::RunProgram({MCPGW_FIXTURE_SERVER, "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, ::testing::HasSubstr("--http PORT"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("listening on"));
}

}  // namespace
}  // namespace mcpgw::mcp
