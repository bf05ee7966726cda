// `mcpgw run`'s errors: each bad input gives one clear line naming what is wrong and how to fix
// it, and a non-zero exit, before anything starts; and the default profile, served by the real
// binary over pipes. (Serving servers of a profile is tested end to end with the TypeScript SDK
// client in tests/e2e/fixture_test.cc.)
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/json.h"
#include "testing/subprocess.h"

namespace mcpgw::cli {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result McpgwRun(std::vector<const char*> args) {
  args.insert(args.begin(), "run");
  args.insert(args.begin(), "mcpgw");
  std::istringstream in;
  std::ostringstream out, err;
  int code = RunCli(static_cast<int>(args.size()), args.data(), in, out, err);
  return {code, out.str(), err.str()};
}

// The error is one line, prefixed with the command.
void ExpectOneLine(const Result& r) {
  EXPECT_THAT(r.err, StartsWith("mcpgw run: "));
  EXPECT_THAT(r.err, EndsWith("\n"));
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
}

class RunCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/mcpgw-run-cli-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string cmd = "mkdir -p " + dir_;
    ASSERT_EQ(system(cmd.c_str()), 0);
    setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);  // no user catalogs or secrets of the machine
    // Gateway lock files of these runs go here, not among the machine's.
    const char* runtime_dir = getenv("XDG_RUNTIME_DIR");
    saved_runtime_dir_ =
        runtime_dir != nullptr ? std::optional<std::string>(runtime_dir) : std::nullopt;
    setenv("XDG_RUNTIME_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("XDG_CONFIG_HOME");
    if (saved_runtime_dir_.has_value()) {
      setenv("XDG_RUNTIME_DIR", saved_runtime_dir_->c_str(), 1);
    } else {
      unsetenv("XDG_RUNTIME_DIR");
    }
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
  std::optional<std::string> saved_runtime_dir_;
};

TEST_F(RunCliTest, WithNothingToRunItServesTheDefaultProfileOverPipes) {
  // A client pipes its requests and closes stdin: every answer is written, then mcpgw exits.
  // No Docker and no network are needed (DOCKER_HOST points nowhere).
  std::string input =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
      R"("capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n"
      R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})"
      "\n"
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_servers","arguments":{}}})"
      "\n";
  testing::ChildResult r = testing::RunProgram({MCPGW_BINARY, "run"}, input,
                                               {"DOCKER_HOST=unix:///nonexistent/docker.sock"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<int, mcp::Json> answers;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    absl::StatusOr<mcp::Json> message = mcp::Json::Parse(line);
    ASSERT_TRUE(message.ok()) << "not JSON on stdout: " << line;
    const mcp::JsonValue* id = mcp::FindMember(message->value(), "id");
    if (id != nullptr && id->IsInt()) {
      answers[id->GetInt()] = *std::move(message);
    }
  }
  ASSERT_EQ(answers.size(), 3u) << r.out << r.err;
  const mcp::JsonValue* tools = mcp::FindMember(answers[2].value(), "result");
  ASSERT_NE(tools, nullptr) << r.out;
  tools = mcp::FindMember(*tools, "tools");
  ASSERT_NE(tools, nullptr);
  std::vector<std::string> names;
  for (const mcp::JsonValue& t : tools->GetArray()) {
    names.emplace_back(mcp::AsStringView(*mcp::FindMember(t, "name")));
  }
  EXPECT_THAT(names, ElementsAre("list_servers", "enable_server", "disable_server",
                                 "search_catalog"));
  std::string listed = answers[3].Serialize();
  EXPECT_THAT(listed, HasSubstr(R"("structuredContent":{"servers":[{"name":"mcpgw",)"
                                R"("kind":"in-process","mode":"on-demand","enabled":true,)"
                                R"("state":"ready","tools":4}]})"));
  EXPECT_THAT(r.err, HasSubstr("serving 1 server(s)"));
}

TEST_F(RunCliTest, ABadCommandFlag) {
  Result unbalanced = McpgwRun({"--command", "x='unbalanced"});
  EXPECT_EQ(unbalanced.code, 1);
  EXPECT_THAT(unbalanced.err, HasSubstr("unterminated single quote"));
  ExpectOneLine(unbalanced);
  Result nameless = McpgwRun({"--command", "just-a-command"});
  EXPECT_EQ(nameless.code, 1);
  EXPECT_THAT(nameless.err, HasSubstr("--command"));
  ExpectOneLine(nameless);
  Result env = McpgwRun({"--command", "x=/bin/cat", "--env", "NOVALUE"});
  EXPECT_EQ(env.code, 1);
  EXPECT_THAT(env.err, HasSubstr("is not NAME=VALUE"));
  ExpectOneLine(env);
}

TEST_F(RunCliTest, UnknownFlagsAreUsageErrors) {
  Result r = McpgwRun({"--frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("mcpgw run:"));
}

TEST_F(RunCliTest, NarrowingNeedsAProfile) {
  Result r = McpgwRun({"--servers", "a", "--command", "a=/bin/cat"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("--servers and --tools narrow a profile"));
}

TEST_F(RunCliTest, AMissingOrBrokenProfile) {
  Result missing = McpgwRun({"--profile", "/nonexistent/mcpgw.yaml"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/mcpgw.yaml"));
  ExpectOneLine(missing);
  std::string broken = Write(
      "broken.yaml", "version: 1\nservers:\n  notes:\n    command: [/bin/cat]\n    tools: {a: 1}\n");
  Result r = McpgwRun({"--profile", broken.c_str()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("broken.yaml:5:"));  // file and line of the mistake
  EXPECT_THAT(r.err, HasSubstr("servers.notes.tools: expected a list of tool names, got a map"));
  ExpectOneLine(r);
}

TEST_F(RunCliTest, AnUnknownServerName) {
  std::string profile = Write("p.yaml", "version: 1\nservers:\n  no-such-server: {}\n");
  Result r = McpgwRun({"--profile", profile.c_str()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("no-such-server"));
  ExpectOneLine(r);
  std::string good = Write("good.yaml",
                           "version: 1\nservers:\n  cat:\n    command: [/bin/cat]\n");
  Result narrow = McpgwRun({"--profile", good.c_str(), "--servers", "dog"});
  EXPECT_EQ(narrow.code, 1);
  EXPECT_THAT(narrow.err, AllOf(HasSubstr("dog"), HasSubstr("cat")));
}

TEST_F(RunCliTest, AMissingSecretNamesTheSecretTheServerAndTheFix) {
  unsetenv("MCPGW_SECRET_API_TOKEN");
  Result r = McpgwRun({"--command", "api=/bin/cat", "--env", "TOKEN={{secret.api_token}}"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("server 'api'"), HasSubstr("api_token"),
                           HasSubstr("mcpgw secret set api_token")));
  ExpectOneLine(r);
}

TEST_F(RunCliTest, AContainerServerWithoutADockerEngine) {
  std::string profile =
      Write("img.yaml", "version: 1\nservers:\n  boxed:\n    image: mcpgw-test/cat:latest\n");
  setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock", 1);
  Result r = McpgwRun({"--profile", profile.c_str()});
  unsetenv("DOCKER_HOST");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("server 'boxed' runs in a container"),
                           HasSubstr("cannot reach the Docker engine")));
  ExpectOneLine(r);
}

TEST_F(RunCliTest, ALockDirectoryOpenToOtherUsersIsRefused) {
  // Whoever may write there decides which containers get removed.
  std::string dir = dir_ + "/mcpgw";
  std::filesystem::remove_all(dir);  // left by an earlier run
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  Result r = McpgwRun({"--command", "x=/bin/cat"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("gateway instance directory " + dir), HasSubstr("mode 0777"),
                           HasSubstr("chmod 700 " + dir)));
  ExpectOneLine(r);
}

}  // namespace
}  // namespace mcpgw::cli
