#include "cli.h"

#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"

namespace mcpgw::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunMcpgw(std::vector<const char*> args) {
  args.insert(args.begin(), "mcpgw");
  std::ostringstream out, err;
  int code = RunCli(static_cast<int>(args.size()), args.data(), out, err);
  return {code, out.str(), err.str()};
}

TEST(Cli, NoArgumentsIsAUsageError) {
  Result r = RunMcpgw({});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, StartsWith("mcpgw — one MCP endpoint"));
  EXPECT_THAT(r.err, HasSubstr("Usage: mcpgw <command>"));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST(Cli, UnknownCommandSaysWhatToDo) {
  Result r = RunMcpgw({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "mcpgw: unknown command 'frobnicate'; run `mcpgw --help` for the commands\n");
  EXPECT_THAT(r.out, IsEmpty());
  Result help = RunMcpgw({"help", "frobnicate"});
  EXPECT_EQ(help.code, 2);
  EXPECT_EQ(help.err, r.err);
}

TEST(Cli, UnknownTopLevelOptionIsOneLine) {
  Result r = RunMcpgw({"--frobnicate=secret-value"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "mcpgw: unknown option '--frobnicate'; run `mcpgw --help` for the commands and "
            "options\n");
  EXPECT_THAT(r.out, IsEmpty());
}

TEST(Cli, HelpGoesToStdoutAndSucceeds) {
  for (const char* flag : {"--help", "-h", "help"}) {
    Result r = RunMcpgw({flag});
    EXPECT_EQ(r.code, 0) << flag;
    EXPECT_THAT(r.out, HasSubstr("Usage: mcpgw <command> [options]")) << flag;
    EXPECT_THAT(r.out, HasSubstr("mcpgw --help | --version")) << flag;
    for (const char* command : {"run", "secret", "selftest", "version"}) {
      EXPECT_THAT(r.out, HasSubstr(std::string("\n  ") + command + " ")) << flag;
    }
    EXPECT_THAT(r.err, IsEmpty()) << flag;
  }
}

TEST(Cli, Version) {
  Result r = RunMcpgw({"version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, StartsWith("mcpgw 0.1.0\n"));
  EXPECT_THAT(r.out, HasSubstr("2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05"));
  Result flag = RunMcpgw({"--version"});
  EXPECT_EQ(flag.code, 0);
  EXPECT_EQ(flag.out, r.out);
  EXPECT_THAT(flag.err, IsEmpty());
  Result extra = RunMcpgw({"version", "now"});
  EXPECT_EQ(extra.code, 2);
  EXPECT_EQ(extra.err, "mcpgw version: takes no arguments (see `mcpgw version --help`)\n");
}

TEST(Cli, EveryCommandHasItsOwnHelp) {
  for (const char* command : {"run", "secret", "selftest", "version"}) {
    Result r = RunMcpgw({command, "--help"});
    EXPECT_EQ(r.code, 0) << command;
    EXPECT_THAT(r.out, HasSubstr(std::string("mcpgw ") + command)) << command;
    EXPECT_THAT(r.out, HasSubstr("Usage")) << command;
    EXPECT_THAT(r.err, IsEmpty()) << command;
    Result short_flag = RunMcpgw({command, "-h"});
    EXPECT_EQ(short_flag.code, 0) << command;
    EXPECT_EQ(short_flag.out, r.out) << command;
    // `mcpgw help COMMAND` is the same.
    Result help = RunMcpgw({"help", command});
    EXPECT_EQ(help.code, 0) << command;
    EXPECT_EQ(help.out, r.out) << command;
  }
  EXPECT_THAT(RunMcpgw({"run", "--help"}).out, HasSubstr("--profile"));
}

TEST(Cli, TheBinaryExitsWithTheSameCodes) {
  testing::ChildResult none = testing::RunProgram({MCPGW_BINARY});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("Usage: mcpgw <command>"));
  EXPECT_THAT(none.out, IsEmpty());
  testing::ChildResult version = testing::RunProgram({MCPGW_BINARY, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, StartsWith("mcpgw 0.1.0\n"));
  testing::ChildResult help = testing::RunProgram({MCPGW_BINARY, "run", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("mcpgw run"));
  testing::ChildResult unknown = testing::RunProgram({MCPGW_BINARY, "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err,
            "mcpgw: unknown command 'frobnicate'; run `mcpgw --help` for the commands\n");
}

TEST(Cli, SelfTestNegotiatesEveryRevision) {
  Result r = RunMcpgw({"selftest", "--pings", "50"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("offering 2024-11-05 → server negotiated 2024-11-05"));
  EXPECT_THAT(r.out, HasSubstr("offering 2025-03-26 → server negotiated 2025-03-26"));
  EXPECT_THAT(r.out, HasSubstr("offering 2025-06-18 → server negotiated 2025-06-18"));
  EXPECT_THAT(r.out, HasSubstr("offering 2025-11-25 → server negotiated 2025-11-25"));
  EXPECT_THAT(r.out, HasSubstr("offering 2099-01-01 → server negotiated 2025-11-25"));
  EXPECT_THAT(r.out, HasSubstr("50 pings: round trip p50"));
  EXPECT_THAT(r.out, HasSubstr("mcpgw run --help"));
}

TEST(Cli, BadFlagsAreUsageErrors) {
  Result r = RunMcpgw({"selftest", "--pings", "many"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("mcpgw selftest:"));
  EXPECT_THAT(r.err, HasSubstr("--help"));
  Result neg = RunMcpgw({"selftest", "--pings", "-5"});
  EXPECT_EQ(neg.code, 2);
  EXPECT_THAT(neg.err, HasSubstr("--pings must be between 0 and 10000000"));
  Result unknown = RunMcpgw({"selftest", "--nope"});
  EXPECT_EQ(unknown.code, 2);
}

}  // namespace
}  // namespace mcpgw::cli
