#include "mcpgw/container/process_runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/no_process_left.h"
#include "testing/status_matchers.h"

namespace mcpgw::container {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kWait = absl::Seconds(20);  // bound on anything that should be quick

// --- Processes of the test itself: tests/testing/no_process_left.cc checks, after every
// test, that none is left running (this binary links it).

// Waits (bounded) until `pid` has exited; true if it has. Works for any process (pidfd).
bool WaitUntilGone(pid_t pid, absl::Duration timeout = kWait) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    return errno == ESRCH;  // already gone (and reaped)
  }
  pollfd p{fd, POLLIN, 0};
  int rc = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  close(fd);
  return rc == 1;
}

// The state letter of `pid` in /proc (R, S, Z...), 0 when there is no such process.
char ProcState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

// Reaps `pid` if it ended up as a child of this process (a grandchild orphaned by a test).
void ReapOrphan(pid_t pid) {
  siginfo_t info = {};
  waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG);
}

// True when `pid` is not a child of this process waiting to be reaped (a zombie). Does not reap.
bool NotAZombieChild(pid_t pid) {
  siginfo_t info = {};
  int rc = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
  return rc != 0 && errno == ECHILD;
}

// --- Helpers ----------------------------------------------------------------------------------

// Collects what a channel reads.
struct Collector {
  absl::Mutex mu;
  std::string data ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;

  base::ByteChannel::Callbacks Callbacks() {
    return {.on_data =
                [this](absl::string_view bytes) {
                  absl::MutexLock lock(&mu);
                  data.append(bytes.data(), bytes.size());
                },
            .on_closed =
                [this](absl::Status) {
                  absl::MutexLock lock(&mu);
                  closed = true;
                }};
  }
  // Waits until `text` has been read (or the stream ended); returns everything read.
  std::string WaitFor(absl::string_view text) {
    absl::MutexLock lock(&mu);
    auto ready = [this, text]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return closed || absl::string_view(data).find(text) != absl::string_view::npos;
    };
    mu.AwaitWithTimeout(absl::Condition(&ready), kWait);
    return data;
  }
  std::string WaitClosed() {
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(&closed), kWait);
    EXPECT_TRUE(closed) << "stdout did not end";
    return data;
  }
};

RunSpec Cmd(std::string command, std::vector<std::string> args = {}) {
  RunSpec spec;
  spec.command = std::move(command);
  spec.args = std::move(args);
  return spec;
}

std::unique_ptr<ProcessRuntime> NewRuntime(ProcessRuntime::Options options = {}) {
  auto runtime = ProcessRuntime::Create(options);
  EXPECT_THAT(runtime, IsOk());
  return runtime.ok() ? *std::move(runtime) : nullptr;
}

pid_t PidOf(const Instance& instance) {
  int pid = -1;
  EXPECT_TRUE(absl::SimpleAtoi(instance.id(), &pid)) << instance.id();
  return pid;
}

// Runs `spec` to its end, feeding `input` to its stdin; returns its stdout.
struct Outcome {
  std::string out;
  ExitStatus status;
  std::string err;
};
Outcome RunToEnd(Runtime& runtime, const RunSpec& spec, absl::string_view input = "") {
  Outcome o;
  auto instance = runtime.Run(spec);
  EXPECT_THAT(instance, IsOk());
  if (!instance.ok()) {
    return o;
  }
  base::ByteChannelPtr stdio = (*instance)->TakeStdio();
  Collector c;
  EXPECT_THAT(stdio->Start(c.Callbacks()), IsOk());
  if (!input.empty()) {
    EXPECT_THAT(stdio->Write({input}), IsOk());
  }
  stdio->CloseWrite();
  o.out = c.WaitClosed();
  auto status = (*instance)->WaitForExit(kWait);
  EXPECT_THAT(status, IsOk());
  if (status.ok()) {
    o.status = *status;
  }
  o.err = (*instance)->StderrTail(100);
  stdio->Close();
  return o;
}

std::map<std::string, std::string> ParseEnv(absl::string_view text) {
  std::map<std::string, std::string> env;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    env[kv.first] = kv.second;
  }
  return env;
}

// A temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "mcpgw-proc-XXXXXX";
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content, mode_t mode) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << content;
    chmod(file.c_str(), mode);
    return file;
  }

 private:
  std::string path_;
};

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    if (old != nullptr) {
      old_ = old;
    }
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// --- Streams ----------------------------------------------------------------------------------

TEST(ProcessRuntime, OneMebibyteOfEveryByteValueRoundTripsThroughCat) {
  auto runtime = NewRuntime();
  std::string input(size_t{1} << 20, '\0');
  for (size_t i = 0; i < input.size(); ++i) {
    input[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  }
  Outcome o = RunToEnd(*runtime, Cmd("cat"), input);
  EXPECT_EQ(o.out.size(), input.size());
  EXPECT_TRUE(o.out == input) << "the bytes came back changed";
  EXPECT_EQ(o.status, ExitStatus::Exited(0));
}

TEST(ProcessRuntime, AFloodOfStderrNeverBlocksTheServer) {
  auto runtime = NewRuntime();
  // 10 MiB on stderr first (far beyond a pipe's 64 KiB), then an echo of stdin.
  MCPGW_ASSERT_OK_AND_ASSIGN(
      InstancePtr instance,
      runtime->Run(Cmd("sh", {"-c", "yes 'a line of stderr' | head -c 10485760 >&2; cat"})));
  base::ByteChannelPtr stdio = instance->TakeStdio();
  Collector c;
  ASSERT_THAT(stdio->Start(c.Callbacks()), IsOk());
  ASSERT_THAT(stdio->Write({"ping\n"}), IsOk());
  EXPECT_EQ(c.WaitFor("ping\n"), "ping\n");
  stdio->CloseWrite();
  c.WaitClosed();
  MCPGW_ASSERT_OK_AND_ASSIGN(ExitStatus status, instance->WaitForExit(kWait));
  EXPECT_EQ(status, ExitStatus::Exited(0));
  // Only the tail is kept. (`yes` died of SIGPIPE quietly: had SIGPIPE stayed ignored, it would
  // have complained on stderr.)
  std::string tail = instance->StderrTail(3);
  EXPECT_THAT(tail, HasSubstr("a line of stderr\na line of stderr"));
  EXPECT_THAT(tail, Not(HasSubstr("Broken pipe")));
  EXPECT_LE(instance->StderrTail(1000000).size(), ProcessRuntime::Options{}.stderr_tail_bytes);
}

TEST(ProcessRuntime, StdioIsTakenOnce) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, runtime->Run(Cmd("cat")));
  EXPECT_NE(instance->TakeStdio(), nullptr);  // destroyed at once: cat reads end of input
  EXPECT_EQ(instance->TakeStdio(), nullptr);
  EXPECT_THAT(instance->WaitForExit(kWait), IsOk());
}

// --- Descriptors, signals, environment ----------------------------------------------------------

TEST(ProcessRuntime, NoDescriptorOfTheParentLeaksIntoTheChild) {
  // Descriptors opened without O_CLOEXEC by other code in the process must not leak either.
  int devnull = open("/dev/null", O_RDONLY);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto runtime = NewRuntime();
  // Two children alive at once: the second must not hold the first one's pipes.
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr first, runtime->Run(Cmd("cat")));
  Outcome o = RunToEnd(*runtime, Cmd("sh", {"-c", "ls /proc/$$/fd"}));
  EXPECT_EQ(o.out, "0\n1\n2\n");
  close(devnull);
  close(p[0]);
  close(p[1]);
}

TEST(ProcessRuntime, NoDescriptorLeaksInTheParent) {
  auto count_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  auto before = count_fds();
  {
    auto runtime = NewRuntime();
    for (int i = 0; i < 10; ++i) {
      RunToEnd(*runtime, Cmd("true"));
      EXPECT_THAT(runtime->Run(Cmd("mcpgw-no-such-command")), Not(IsOk()));
    }
    MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr left_running, runtime->Run(Cmd("sleep", {"1000"})));
  }
  EXPECT_EQ(count_fds(), before);
}

TEST(ProcessRuntime, SignalsAreResetAndUnblockedInTheChild) {
  // This process ignores SIGPIPE (FdChannel) and, here, SIGHUP; the calling thread blocks
  // SIGUSR1. None of it may reach the child.
  struct sigaction ignore = {}, old_hup = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGHUP, &ignore, &old_hup), 0);
  sigset_t usr1, old_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr1, &old_mask), 0);
  auto runtime = NewRuntime();
  Outcome o = RunToEnd(*runtime, Cmd("grep", {"-E", "^Sig(Blk|Ign)", "/proc/self/status"}));
  sigaction(SIGHUP, &old_hup, nullptr);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_EQ(o.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST(ProcessRuntime, TheParentEnvironmentIsNotInheritedByDefault) {
  ScopedEnv secret("MCPGW_TEST_SECRET", "do-not-leak");
  ScopedEnv lang("LANG", "C.UTF-8");
  ScopedEnv home("HOME", "/home/mcpgw-test");
  auto runtime = NewRuntime();
  RunSpec spec = Cmd("env");
  spec.env["MCPGW_GIVEN"] = "given";
  std::map<std::string, std::string> env = ParseEnv(RunToEnd(*runtime, spec).out);
  EXPECT_EQ(env.count("MCPGW_TEST_SECRET"), 0u);
  EXPECT_EQ(env["PATH"], getenv("PATH"));
  EXPECT_EQ(env["HOME"], "/home/mcpgw-test");
  EXPECT_EQ(env["LANG"], "C.UTF-8");
  EXPECT_EQ(env["MCPGW_GIVEN"], "given");
  EXPECT_EQ(env.size(), 4u);
}

TEST(ProcessRuntime, SpecEnvironmentOverridesPassedVariables) {
  ScopedEnv home("HOME", "/home/parent");
  auto runtime = NewRuntime();
  RunSpec spec = Cmd("env");
  spec.env["HOME"] = "/home/child";
  spec.env["EMPTY"] = "";
  std::map<std::string, std::string> env = ParseEnv(RunToEnd(*runtime, spec).out);
  EXPECT_EQ(env["HOME"], "/home/child");
  ASSERT_EQ(env.count("EMPTY"), 1u);
  EXPECT_EQ(env["EMPTY"], "");
}

TEST(ProcessRuntime, PassEnvChoosesTheParentVariables) {
  ScopedEnv chosen("MCPGW_TEST_CHOSEN", "yes");
  ScopedEnv lang("LANG", "C.UTF-8");
  auto runtime = NewRuntime();
  RunSpec spec = Cmd("/usr/bin/env");
  spec.pass_env = {"MCPGW_TEST_CHOSEN", "MCPGW_TEST_UNSET"};
  std::map<std::string, std::string> env = ParseEnv(RunToEnd(*runtime, spec).out);
  EXPECT_THAT(env, UnorderedElementsAre(
                       std::pair<const std::string, std::string>("MCPGW_TEST_CHOSEN", "yes")));
}

TEST(ProcessRuntime, InheritModePassesTheWholeEnvironment) {
  ScopedEnv secret("MCPGW_TEST_SECRET", "inherited");
  auto runtime = NewRuntime();
  RunSpec spec = Cmd("env");
  spec.inherit_env = true;
  spec.env["MCPGW_TEST_SECRET"] = "overridden";
  spec.env["MCPGW_EXTRA"] = "x";
  std::map<std::string, std::string> env = ParseEnv(RunToEnd(*runtime, spec).out);
  EXPECT_EQ(env["MCPGW_TEST_SECRET"], "overridden");
  EXPECT_EQ(env["MCPGW_EXTRA"], "x");
  std::map<std::string, std::string> mine;
  for (char** e = environ; *e != nullptr; ++e) {
    std::pair<std::string, std::string> kv = absl::StrSplit(*e, absl::MaxSplits('=', 1));
    mine.emplace(kv.first, kv.second);
  }
  mine["MCPGW_TEST_SECRET"] = "overridden";
  mine["MCPGW_EXTRA"] = "x";
  EXPECT_EQ(env, mine);
}

// --- Errors a user can act on --------------------------------------------------------------------

TEST(ProcessRuntime, ACommandNotInPathIsNotFound) {
  auto runtime = NewRuntime();
  EXPECT_THAT(
      runtime->Run(Cmd("mcpgw-no-such-command")),
      StatusIs(absl::StatusCode::kNotFound,
               AllOf(HasSubstr("'mcpgw-no-such-command' not found in PATH="),
                     HasSubstr(getenv("PATH")), HasSubstr("install it or give the full path"))));
  EXPECT_THAT(runtime->Run(Cmd("/nonexistent/dir/server")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does not exist")));
}

TEST(ProcessRuntime, TheCommandIsLookedUpInTheChildPath) {
  TempDir dir;
  dir.Write("mcpgw-tool", "#!/bin/sh\necho found-it\n", 0755);
  auto runtime = NewRuntime();
  // Not in this process's PATH...
  EXPECT_THAT(runtime->Run(Cmd("mcpgw-tool")), StatusIs(absl::StatusCode::kNotFound));
  // ...but in the child's.
  RunSpec spec = Cmd("mcpgw-tool");
  spec.env["PATH"] = dir.path() + ":/usr/bin:/bin";
  Outcome o = RunToEnd(*runtime, spec);
  EXPECT_EQ(o.out, "found-it\n");
  EXPECT_EQ(o.status, ExitStatus::Exited(0));
}

TEST(ProcessRuntime, ANonExecutableFileIsPermissionDenied) {
  TempDir dir;
  std::string file = dir.Write("mcpgw-plain", "#!/bin/sh\necho hi\n", 0644);
  auto runtime = NewRuntime();
  EXPECT_THAT(runtime->Run(Cmd(file)), StatusIs(absl::StatusCode::kPermissionDenied,
                                                AllOf(HasSubstr("not executable"),
                                                      HasSubstr("0644"), HasSubstr("chmod +x"))));
  RunSpec via_path = Cmd("mcpgw-plain");
  via_path.env["PATH"] = dir.path();
  EXPECT_THAT(runtime->Run(via_path),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not executable: " + file)));
}

TEST(ProcessRuntime, AScriptWithoutInterpreterLineIsRefused) {
  TempDir dir;
  std::string file = dir.Write("no-shebang", "echo hi\n", 0755);
  auto runtime = NewRuntime();
  EXPECT_THAT(runtime->Run(Cmd(file)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("#! line")));
  std::string bad = dir.Write("bad-interp", "#!/nonexistent/interpreter\n", 0755);
  EXPECT_THAT(runtime->Run(Cmd(bad)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("interpreter")));
}

TEST(ProcessRuntime, TheWorkingDirectoryIsUsedAndChecked) {
  TempDir dir;
  auto runtime = NewRuntime();
  RunSpec spec = Cmd("pwd");
  spec.working_dir = dir.path();
  EXPECT_EQ(RunToEnd(*runtime, spec).out, dir.path() + "\n");

  // A relative command path is relative to the working directory.
  dir.Write("local-tool", "#!/bin/sh\necho local\n", 0755);
  RunSpec relative = Cmd("./local-tool");
  relative.working_dir = dir.path();
  EXPECT_EQ(RunToEnd(*runtime, relative).out, "local\n");

  spec.working_dir = dir.path() + "/missing";
  EXPECT_THAT(runtime->Run(spec),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("working directory"), HasSubstr("does not exist"))));
  spec.working_dir = dir.Write("file", "", 0644);
  EXPECT_THAT(runtime->Run(spec),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a directory")));
}

TEST(ProcessRuntime, MalformedSpecsAreInvalidArguments) {
  auto runtime = NewRuntime();
  EXPECT_THAT(runtime->Run(RunSpec{}), StatusIs(absl::StatusCode::kInvalidArgument));
  RunSpec image;
  image.image = "mcp/fetch:latest";
  EXPECT_THAT(runtime->Run(image),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("container runtime")));
  RunSpec bad_name = Cmd("true");
  bad_name.env["A=B"] = "c";
  EXPECT_THAT(runtime->Run(bad_name), StatusIs(absl::StatusCode::kInvalidArgument));
  RunSpec nul = Cmd("echo", {std::string("a\0b", 3)});
  EXPECT_THAT(runtime->Run(nul), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ProcessRuntime, ExitErrorQuotesTheCodeAndTheStderrTail) {
  auto runtime = NewRuntime();
  Outcome o = RunToEnd(*runtime, Cmd("sh", {"-c",
                                            "echo starting >&2; echo 'no API key' >&2; "
                                            "exit 3"}));
  EXPECT_EQ(o.status, ExitStatus::Exited(3));
  absl::Status error = ExitError("the fetch server", o.status, o.err);
  EXPECT_THAT(error, StatusIs(absl::StatusCode::kUnavailable,
                              AllOf(HasSubstr("the fetch server exited with code 3"),
                                    HasSubstr("starting\nno API key"))));
  EXPECT_THAT(ExitError("x", ExitStatus::Killed(SIGKILL), ""),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("x was killed by signal 9 (SIGKILL)"),
                             HasSubstr("wrote nothing to stderr"))));
}

// --- Exit, reaping
// ---------------------------------------------------------------------------------

TEST(ProcessRuntime, ExitCodesAndSignalsAreReported) {
  auto runtime = NewRuntime();
  EXPECT_EQ(RunToEnd(*runtime, Cmd("sh", {"-c", "exit 3"})).status, ExitStatus::Exited(3));
  EXPECT_EQ(RunToEnd(*runtime, Cmd("true")).status, ExitStatus::Exited(0));
  ExitStatus killed = RunToEnd(*runtime, Cmd("sh", {"-c", "kill -USR1 $$"})).status;
  EXPECT_EQ(killed, ExitStatus::Killed(SIGUSR1));
  EXPECT_TRUE(killed.killed());
  EXPECT_FALSE(killed.success());
}

TEST(ProcessRuntime, ExitedProcessesAreReapedAtOnce) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, runtime->Run(Cmd("true")));
  pid_t pid = PidOf(*instance);
  EXPECT_THAT(instance->WaitForExit(kWait), IsOk());
  // Reported only once reaped: no zombie, with the Instance still alive.
  EXPECT_TRUE(NotAZombieChild(pid));
  EXPECT_NE(ProcState(pid), 'Z');  // gone (0), or the pid was reused already
}

TEST(ProcessRuntime, OnExitIsCalledOnceWithTheStatus) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance,
                             runtime->Run(Cmd("sh", {"-c", "read x; exit 5"})));
  absl::Mutex mu;
  std::vector<ExitStatus> seen;
  absl::Notification done;
  instance->OnExit([&](ExitStatus s) {
    absl::MutexLock lock(&mu);
    seen.push_back(s);
    done.Notify();
  });
  instance->TakeStdio().reset();  // end of input: `read` returns
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  // Registered after the end: called at once, on this thread.
  std::thread::id caller;
  instance->OnExit([&](ExitStatus s) {
    absl::MutexLock lock(&mu);
    seen.push_back(s);
    caller = std::this_thread::get_id();
  });
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen, ElementsAre(ExitStatus::Exited(5), ExitStatus::Exited(5)));
  EXPECT_EQ(caller, std::this_thread::get_id());
}

TEST(ProcessRuntime, WaitForExitTimesOut) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, runtime->Run(Cmd("cat")));
  EXPECT_THAT(instance->WaitForExit(absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("still running")));
}

// --- Stop ----------------------------------------------------------------------------------------

TEST(ProcessRuntime, StopEndsAPoliteProcessWithSigterm) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, runtime->Run(Cmd("sleep", {"1000"})));
  absl::Time start = absl::Now();
  instance->Stop(absl::Seconds(60));
  MCPGW_ASSERT_OK_AND_ASSIGN(ExitStatus status, instance->WaitForExit(kWait));
  EXPECT_EQ(status, ExitStatus::Killed(SIGTERM));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // did not wait for the grace
}

TEST(ProcessRuntime, StopKillsTheWholeGroupWhenSigtermIsIgnored) {
  auto runtime = NewRuntime();
  // A shell ignoring SIGTERM with a child (in its group) that ignores it too.
  MCPGW_ASSERT_OK_AND_ASSIGN(
      InstancePtr instance,
      runtime->Run(Cmd("sh", {"-c", "trap '' TERM; sleep 1000 & echo $!; wait"})));
  base::ByteChannelPtr stdio = instance->TakeStdio();
  Collector c;
  ASSERT_THAT(stdio->Start(c.Callbacks()), IsOk());
  int grandchild = -1;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripSuffix(c.WaitFor("\n"), "\n"), &grandchild));

  absl::Time start = absl::Now();
  const absl::Duration grace = absl::Milliseconds(300);
  instance->Stop(grace);
  MCPGW_ASSERT_OK_AND_ASSIGN(ExitStatus status, instance->WaitForExit(kWait));
  EXPECT_EQ(status, ExitStatus::Killed(SIGKILL));
  EXPECT_GE(absl::Now() - start, grace);
  EXPECT_TRUE(WaitUntilGone(grandchild));
  ReapOrphan(grandchild);
}

TEST(ProcessRuntime, StopIsIdempotentAndMayOnlyShortenTheGrace) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(
      InstancePtr instance,
      runtime->Run(Cmd("sh", {"-c", "trap '' TERM; echo ready; while :; do :; done"})));
  base::ByteChannelPtr stdio = instance->TakeStdio();
  Collector c;
  ASSERT_THAT(stdio->Start(c.Callbacks()), IsOk());
  ASSERT_EQ(c.WaitFor("\n"), "ready\n");  // SIGTERM is ignored from here on
  instance->Stop(absl::Seconds(600));
  instance->Stop(absl::Seconds(900));  // longer: ignored
  EXPECT_THAT(instance->WaitForExit(absl::Milliseconds(200)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  absl::Time start = absl::Now();
  instance->Stop(absl::Milliseconds(100));  // shorter: applies
  MCPGW_ASSERT_OK_AND_ASSIGN(ExitStatus status, instance->WaitForExit(kWait));
  EXPECT_EQ(status, ExitStatus::Killed(SIGKILL));
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
  instance->Stop(absl::ZeroDuration());  // after the end: nothing
  instance->Stop(absl::Seconds(1));
  EXPECT_THAT(instance->WaitForExit(absl::ZeroDuration()), IsOk());
}

TEST(ProcessRuntime, WhatAProcessLeavesInItsGroupIsKilledWhenItExits) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance,
                             runtime->Run(Cmd("sh", {"-c", "sleep 1000 & echo $!"})));
  base::ByteChannelPtr stdio = instance->TakeStdio();
  Collector c;
  ASSERT_THAT(stdio->Start(c.Callbacks()), IsOk());
  int grandchild = -1;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripSuffix(c.WaitFor("\n"), "\n"), &grandchild));
  EXPECT_EQ(*instance->WaitForExit(kWait), ExitStatus::Exited(0));
  EXPECT_TRUE(WaitUntilGone(grandchild));
  ReapOrphan(grandchild);
}

TEST(ProcessRuntime, DestroyingTheInstanceStopsTheProcess) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, runtime->Run(Cmd("sleep", {"1000"})));
  pid_t pid = PidOf(*instance);
  absl::Notification ended;
  instance->OnExit([&](ExitStatus s) {
    EXPECT_EQ(s, ExitStatus::Killed(SIGTERM));
    ended.Notify();
  });
  instance.reset();
  EXPECT_TRUE(ended.WaitForNotificationWithTimeout(kWait));  // callbacks outlive the Instance
  runtime.reset();
  EXPECT_TRUE(NotAZombieChild(pid));
}

TEST(ProcessRuntime, DestroyingTheRuntimeKillsAndReapsItsProcesses) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr a, runtime->Run(Cmd("sleep", {"1000"})));
  MCPGW_ASSERT_OK_AND_ASSIGN(
      InstancePtr b,
      runtime->Run(Cmd("sh", {"-c", "echo last words >&2; trap '' TERM; exec cat"})));
  base::ByteChannelPtr stdio = b->TakeStdio();  // kept open: cat does not end by itself
  Collector c;
  ASSERT_THAT(stdio->Start(c.Callbacks()), IsOk());
  ASSERT_THAT(stdio->Write({"x\n"}), IsOk());
  c.WaitFor("x\n");  // the shell is past its trap
  runtime.reset();
  // The Instances outlive the runtime; they report the end.
  EXPECT_THAT(a->WaitForExit(absl::ZeroDuration()), IsOk());
  EXPECT_EQ(*b->WaitForExit(absl::ZeroDuration()), ExitStatus::Killed(SIGKILL));
  EXPECT_EQ(b->StderrTail(1), "last words");
  EXPECT_TRUE(NotAZombieChild(PidOf(*a)));
  EXPECT_TRUE(NotAZombieChild(PidOf(*b)));
  a->Stop(absl::ZeroDuration());
  stdio->Close();
}

// --- Threads, parent death -----------------------------------------------------------------------

TEST(ProcessRuntime, AChildOutlivesTheThreadThatStartedIt) {
  // PR_SET_PDEATHSIG fires when the thread that forked exits: the runtime must fork from its own
  // thread, not the caller's.
  std::unique_ptr<ProcessRuntime> runtime;
  absl::StatusOr<InstancePtr> instance;
  std::thread([&] {
    runtime = NewRuntime();
    instance = runtime->Run(Cmd("cat"));
  }).join();
  ASSERT_THAT(instance, IsOk());
  base::ByteChannelPtr stdio = (*instance)->TakeStdio();
  Collector c;
  ASSERT_THAT(stdio->Start(c.Callbacks()), IsOk());
  ASSERT_THAT(stdio->Write({"still here\n"}), IsOk());
  EXPECT_EQ(c.WaitFor("\n"), "still here\n");
  stdio->CloseWrite();
  EXPECT_EQ(*(*instance)->WaitForExit(kWait), ExitStatus::Exited(0));
}

TEST(ProcessRuntime, TheChildDiesWhenItsParentIsKilled) {
  auto runtime = NewRuntime();
  // The helper starts `sleep 1000` through its own ProcessRuntime and prints its pid.
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr helper,
                             runtime->Run(Cmd(MCPGW_PROCESS_RUNTIME_HELPER, {"sleep", "1000"})));
  base::ByteChannelPtr stdio = helper->TakeStdio();
  Collector c;
  ASSERT_THAT(stdio->Start(c.Callbacks()), IsOk());
  int grandchild = -1;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripSuffix(c.WaitFor("\n"), "\n"), &grandchild))
      << helper->StderrTail(10);
  ASSERT_FALSE(WaitUntilGone(grandchild, absl::ZeroDuration()));

  ASSERT_EQ(kill(PidOf(*helper), SIGKILL), 0);  // no chance to clean up
  EXPECT_EQ(*helper->WaitForExit(kWait), ExitStatus::Killed(SIGKILL));
  EXPECT_TRUE(WaitUntilGone(grandchild));
  ReapOrphan(grandchild);
}

TEST(ProcessRuntime, RunMayBeCalledFromAnOnExitCallback) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr first, runtime->Run(Cmd("true")));
  absl::StatusOr<InstancePtr> restarted;
  absl::Notification done;
  first->OnExit([&](ExitStatus) {
    restarted = runtime->Run(Cmd("sh", {"-c", "exit 7"}));
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  ASSERT_THAT(restarted, IsOk());
  EXPECT_EQ(*(*restarted)->WaitForExit(kWait), ExitStatus::Exited(7));
}

TEST(ProcessRuntime, TheRuntimeMayBeDestroyedFromAnOnExitCallback) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr survivor, runtime->Run(Cmd("sleep", {"1000"})));
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr first, runtime->Run(Cmd("true")));
  absl::Notification destroyed;
  first->OnExit([&](ExitStatus) {
    runtime.reset();  // on the runtime's own thread: it cannot join itself
    destroyed.Notify();
  });
  ASSERT_TRUE(destroyed.WaitForNotificationWithTimeout(kWait));
  // The runtime's thread still kills and reaps what was left.
  EXPECT_EQ(*survivor->WaitForExit(kWait), ExitStatus::Killed(SIGKILL));
  EXPECT_TRUE(NotAZombieChild(PidOf(*survivor)));
}

TEST(ProcessRuntime, ManyProcessesFromManyThreads) {
  auto runtime = NewRuntime();
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::vector<std::string> outputs;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        std::string line = "t" + std::to_string(t) + "-" + std::to_string(i) + "\n";
        Outcome o = RunToEnd(*runtime, Cmd("cat"), line);
        absl::MutexLock lock(&mu);
        outputs.push_back(o.out == line ? "ok" : o.out);
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(outputs, std::vector<std::string>(32, "ok"));
}

// --- Listing
// ---------------------------------------------------------------------------------------

TEST(ProcessRuntime, ListFindsInstancesByLabel) {
  auto runtime = NewRuntime();
  RunSpec a = Cmd("cat");
  a.labels = {{"mcpgw.server", "a"}, {"mcpgw.gateway", "test"}};
  RunSpec b = Cmd("cat");
  b.labels = {{"mcpgw.server", "b"}, {"mcpgw.gateway", "test"}};
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr ia, runtime->Run(a));
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr ib, runtime->Run(b));

  auto ids = [&](const Labels& selector) {
    std::vector<std::string> out;
    auto list = runtime->List(selector);
    EXPECT_THAT(list, IsOk());
    for (const InstanceInfo& info : *list) {
      out.push_back(info.id);
    }
    return out;
  };
  EXPECT_THAT(ids({{"mcpgw.gateway", "test"}}), UnorderedElementsAre(ia->id(), ib->id()));
  EXPECT_THAT(ids({{"mcpgw.server", "a"}}), ElementsAre(ia->id()));
  EXPECT_THAT(ids({{"mcpgw.server", "a"}, {"mcpgw.gateway", "other"}}), IsEmpty());
  EXPECT_THAT(ids({}), UnorderedElementsAre(ia->id(), ib->id()));

  // An ended instance is listed with its status while its Instance exists, then forgotten.
  ia->Stop(absl::ZeroDuration());
  ASSERT_THAT(ia->WaitForExit(kWait), IsOk());
  auto listed = runtime->List({{"mcpgw.server", "a"}});
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].exit_status, ExitStatus::Killed(SIGKILL));
  EXPECT_EQ((*listed)[0].labels.at("mcpgw.server"), "a");
  ia.reset();
  EXPECT_THAT(ids({{"mcpgw.gateway", "test"}}), ElementsAre(ib->id()));
}

TEST(ProcessRuntime, PrepareResolvesTheCommandAsRunWould) {
  TempDir dir;
  dir.Write("mcpgw-tool", "#!/bin/sh\necho found-it\n", 0755);
  auto runtime = NewRuntime();
  RunSpec spec = Cmd("mcpgw-tool");
  spec.env["PATH"] = dir.path();
  int events = 0;
  MCPGW_ASSERT_OK_AND_ASSIGN(Prepared prepared,
                             runtime->Prepare(spec, [&](const PullProgress&) { ++events; }));
  EXPECT_EQ(prepared.digest, dir.path() + "/mcpgw-tool");
  EXPECT_FALSE(prepared.pulled);
  EXPECT_TRUE(prepared.image_id.empty());
  EXPECT_EQ(events, 0);
  // A relative path is made absolute against the working directory.
  RunSpec relative = Cmd("./mcpgw-tool");
  relative.working_dir = dir.path();
  MCPGW_ASSERT_OK_AND_ASSIGN(prepared, runtime->Prepare(relative));
  EXPECT_EQ(prepared.digest, dir.path() + "/./mcpgw-tool");
  EXPECT_THAT(runtime->Prepare(Cmd("mcpgw-no-such-command")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found in PATH=")));
}

TEST(ProcessRuntime, RemoveKillsAProcessOfThisRuntimeOnly) {
  auto runtime = NewRuntime();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, runtime->Run(Cmd("cat")));
  ASSERT_THAT(runtime->Remove(cat->id()), IsOk());
  absl::StatusOr<ExitStatus> end = cat->WaitForExit(kWait);
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(*end, ExitStatus::Killed(SIGKILL));
  EXPECT_THAT(runtime->Remove("1"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace mcpgw::container
