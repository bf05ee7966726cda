// `mcpgw secret set/ls/rm`: in process through RunCli, and as the real binary where what other
// processes see of it matters (its argv, concurrent writers).
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/gateway/secret_store.h"
#include "testing/subprocess.h"

extern char** environ;

namespace mcpgw::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

// Each test gets its own XDG_CONFIG_HOME and an environment without MCPGW_SECRET* variables.
class SecretCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mcpgw-secret-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    for (char** e = environ; *e != nullptr; ++e) {
      saved_env_.emplace_back(*e);
    }
    for (const std::string& entry : saved_env_) {
      std::string name = entry.substr(0, entry.find('='));
      if (name.rfind("MCPGW_SECRET", 0) == 0) {
        unsetenv(name.c_str());
      }
    }
    setenv("XDG_CONFIG_HOME", (root_ + "/config").c_str(), 1);
    store_path_ = root_ + "/config/mcpgw/secrets.yaml";
  }

  void TearDown() override {
    std::vector<std::string> now;
    for (char** e = environ; *e != nullptr; ++e) {
      now.emplace_back(*e);
    }
    for (const std::string& entry : now) {
      unsetenv(entry.substr(0, entry.find('=')).c_str());
    }
    for (const std::string& entry : saved_env_) {
      size_t eq = entry.find('=');
      setenv(entry.substr(0, eq).c_str(), entry.substr(eq + 1).c_str(), 1);
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static Result Run(std::vector<const char*> args, const std::string& input = "") {
    args.insert(args.begin(), "mcpgw");
    std::istringstream in(input);
    std::ostringstream out, err;
    int code = RunCli(static_cast<int>(args.size()), args.data(), in, out, err);
    return {code, out.str(), err.str()};
  }

  // The value the file store holds for `name` (empty when none).
  std::string Stored(const std::string& name) const {
    gateway::FileSecretProvider file(store_path_);
    absl::StatusOr<std::optional<std::string>> value = file.Get(name);
    return value.ok() && value->has_value() ? **value : "";
  }

  std::string root_;
  std::string store_path_;
  std::vector<std::string> saved_env_;
};

TEST_F(SecretCliTest, SetReadsTheValueFromStdin) {
  Result set = Run({"secret", "set", "github.token"}, "ghp_cli_value_123\n");
  ASSERT_EQ(set.code, 0) << set.err;
  EXPECT_EQ(set.out, "saved secret \"github.token\" in file " + store_path_ + "\n");
  EXPECT_THAT(set.err, IsEmpty());
  EXPECT_EQ(Stored("github.token"), "ghp_cli_value_123");  // one trailing newline stripped
  struct stat st;
  ASSERT_EQ(stat(store_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Only one newline is stripped, and "\r\n" counts as one.
  ASSERT_EQ(Run({"secret", "set", "two"}, "value-two\n\n").code, 0);
  EXPECT_EQ(Stored("two"), "value-two\n");
  ASSERT_EQ(Run({"secret", "set", "crlf"}, "value-crlf\r\n").code, 0);
  EXPECT_EQ(Stored("crlf"), "value-crlf");
}

TEST_F(SecretCliTest, SetRefusesAnEmptyValue) {
  for (const char* input : {"", "\n", "\r\n"}) {
    Result r = Run({"secret", "set", "a"}, input);
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, StartsWith("mcpgw secret set: the secret value is empty"));
    EXPECT_EQ(Lines(r.err), 1u) << r.err;
    EXPECT_THAT(r.out, IsEmpty());
  }
  EXPECT_FALSE(fs::exists(store_path_));
}

TEST_F(SecretCliTest, SetRefusesAnOversizedValue) {
  Result r = Run({"secret", "set", "big"}, std::string(gateway::kMaxSecretValueBytes + 100, 'x'));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("limit"));
  EXPECT_THAT(r.err, Not(HasSubstr("xxxx")));
}

TEST_F(SecretCliTest, AValueOnTheCommandLineIsRefusedAndNeverEchoed) {
  Result extra = Run({"secret", "set", "github.token", "ghp_typed_by_mistake"});
  EXPECT_EQ(extra.code, 2);
  EXPECT_THAT(extra.err, HasSubstr("never from the command line"));
  EXPECT_THAT(extra.err + extra.out, Not(HasSubstr("ghp_typed")));
  EXPECT_EQ(Lines(extra.err), 1u);

  Result option = Run({"secret", "set", "github.token", "--value=ghp_typed_by_mistake"});
  EXPECT_EQ(option.code, 2);
  EXPECT_THAT(option.err, HasSubstr("unknown option --value"));
  EXPECT_THAT(option.err + option.out, Not(HasSubstr("ghp_typed")));
  EXPECT_FALSE(fs::exists(store_path_));
}

TEST_F(SecretCliTest, UsageErrors) {
  EXPECT_EQ(Run({"secret"}).code, 2);
  Result help = Run({"secret", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("set NAME"));
  EXPECT_EQ(Run({"secret", "set", "--help"}).code, 0);
  EXPECT_EQ(Run({"secret", "frobnicate"}).code, 2);
  EXPECT_EQ(Run({"secret", "ls", "extra"}).code, 2);
  EXPECT_EQ(Run({"secret", "rm"}).code, 2);
  EXPECT_EQ(Run({"secret", "set"}, "value").code, 2);
  Result bad_name = Run({"secret", "set", "no/slashes"}, "value");
  EXPECT_EQ(bad_name.code, 2);
  EXPECT_THAT(bad_name.err, HasSubstr("is not a valid secret name"));
  EXPECT_EQ(Lines(bad_name.err), 1u);
  EXPECT_THAT(Run({"--help"}).out, HasSubstr("secret"));
}

TEST_F(SecretCliTest, LsShowsNamesAndSourcesNeverValues) {
  Result empty = Run({"secret", "ls"});
  EXPECT_EQ(empty.code, 0);
  EXPECT_THAT(empty.out, IsEmpty());
  EXPECT_THAT(empty.err, HasSubstr("no secrets yet"));

  ASSERT_EQ(Run({"secret", "set", "github.token"}, "ghp_value_in_file").code, 0);
  ASSERT_EQ(Run({"secret", "set", "slack.token"}, "xoxb-value-in-file").code, 0);
  setenv("MCPGW_SECRET_SLACK_TOKEN", "xoxb-value-in-env", 1);
  setenv("MCPGW_SECRET_ONLY_ENV", "value-only-in-env", 1);
  Result ls = Run({"secret", "ls"});
  ASSERT_EQ(ls.code, 0) << ls.err;
  std::string expected = "ONLY_ENV      env MCPGW_SECRET_ONLY_ENV\n";
  expected += "github.token  file " + store_path_ + "\n";
  expected += "slack.token   env MCPGW_SECRET_SLACK_TOKEN (overrides file " + store_path_ + ")\n";
  EXPECT_EQ(ls.out, expected);
  EXPECT_THAT(ls.out + ls.err, Not(HasSubstr("value")));
}

TEST_F(SecretCliTest, SetNotesAnOverridingEnvironmentVariable) {
  setenv("MCPGW_SECRET_A_TOKEN", "value-in-env", 1);
  Result r = Run({"secret", "set", "a.token"}, "value-in-file");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.err,
            "note: env MCPGW_SECRET_A_TOKEN is set and takes precedence over the saved "
            "value\n");
}

TEST_F(SecretCliTest, RmRemovesAndAMissingSecretIsAnError) {
  ASSERT_EQ(Run({"secret", "set", "a.token"}, "value-a").code, 0);
  Result rm = Run({"secret", "rm", "a.token"});
  EXPECT_EQ(rm.code, 0) << rm.err;
  EXPECT_EQ(rm.out, "removed secret \"a.token\" from file " + store_path_ + "\n");
  EXPECT_EQ(Stored("a.token"), "");

  Result again = Run({"secret", "rm", "a.token"});
  EXPECT_EQ(again.code, 1);
  EXPECT_EQ(again.err,
            "mcpgw secret rm: no secret named \"a.token\"; `mcpgw secret ls` lists them\n");

  setenv("MCPGW_SECRET_B", "value-b-env", 1);
  Result env_only = Run({"secret", "rm", "b"});
  EXPECT_EQ(env_only.code, 1);
  EXPECT_THAT(env_only.err, HasSubstr("comes from env MCPGW_SECRET_B"));
  EXPECT_THAT(env_only.err, Not(HasSubstr("value-b-env")));
}

TEST_F(SecretCliTest, ALooseStoreFileIsRefusedWithTheFix) {
  ASSERT_EQ(Run({"secret", "set", "a"}, "value-a").code, 0);
  ASSERT_EQ(chmod(store_path_.c_str(), 0644), 0);
  for (std::vector<const char*> args : std::vector<std::vector<const char*>>{
           {"secret", "ls"}, {"secret", "rm", "a"}, {"secret", "set", "b"}}) {
    Result r = Run(args, "value-b");
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("has mode 0644"));
    EXPECT_THAT(r.err, HasSubstr("`chmod 600 " + store_path_ + "`"));
    EXPECT_EQ(Lines(r.err), 1u) << r.err;
    EXPECT_THAT(r.err, Not(HasSubstr("value-")));
  }
}

// ---- the real binary --------------------------------------------------------------------

// Starts `mcpgw secret set NAME` with a pipe as stdin and, while it waits for the value, reads
// its command line as `ps` would; then sends the value.
TEST_F(SecretCliTest, TheValueIsNeverInTheProcessArguments) {
  int in[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = {MCPGW_BINARY, "secret", "set", "github.token"};
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  ASSERT_EQ(rc, 0);

  // posix_spawn returns once the kernel has released the parent from the vfork, which is
  // before the new program's arguments are in place: until then cmdline reads empty. The child
  // blocks on stdin, so its arguments are final once they appear.
  std::string cmdline;
  for (int i = 0; i < 5000 && cmdline.empty(); ++i) {
    std::ifstream cmdline_file("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    cmdline.assign(std::istreambuf_iterator<char>(cmdline_file), {});
    if (cmdline.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const std::string value = "ghp_only_on_stdin_42";
  ASSERT_EQ(write(in[1], value.data(), value.size()), static_cast<ssize_t>(value.size()));
  close(in[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  std::string expected_cmdline =
      std::string(MCPGW_BINARY) + '\0' + "secret" + '\0' + "set" + '\0' + "github.token" + '\0';
  EXPECT_EQ(cmdline, expected_cmdline);
  EXPECT_EQ(Stored("github.token"), value);

  testing::ChildResult ls = testing::RunProgram({MCPGW_BINARY, "secret", "ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_THAT(ls.out, HasSubstr("github.token  file " + store_path_));
  EXPECT_THAT(ls.out + ls.err, Not(HasSubstr(value)));
}

TEST_F(SecretCliTest, ConcurrentSetsFromSeveralProcessesLoseNothing) {
  constexpr int kProcesses = 8;
  std::vector<testing::ChildResult> results(kProcesses);
  std::vector<std::thread> threads;
  for (int i = 0; i < kProcesses; ++i) {
    threads.emplace_back([&results, i] {
      std::string name = "proc" + std::to_string(i);
      results[static_cast<size_t>(i)] =
          testing::RunProgram({MCPGW_BINARY, "secret", "set", name}, "value-" + name + "\n");
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  for (const testing::ChildResult& r : results) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out + r.err, Not(HasSubstr("value-")));
  }
  for (int i = 0; i < kProcesses; ++i) {
    std::string name = "proc" + std::to_string(i);
    EXPECT_EQ(Stored(name), "value-" + name);
  }
  testing::ChildResult ls = testing::RunProgram({MCPGW_BINARY, "secret", "ls"});
  EXPECT_EQ(Lines(ls.out), static_cast<size_t>(kProcesses));
  EXPECT_THAT(ls.out, EndsWith("\n"));
}

}  // namespace
}  // namespace mcpgw::cli
