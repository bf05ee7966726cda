#include "cli.h"

#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcpgw::cli {
namespace {

using ::testing::HasSubstr;

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
  EXPECT_THAT(r.err, HasSubstr("Usage: mcpgw <command>"));
}

TEST(Cli, UnknownCommandSaysWhatToDo) {
  Result r = RunMcpgw({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "mcpgw: unknown command 'frobnicate'; run `mcpgw --help` for the commands\n");
}

TEST(Cli, Version) {
  Result r = RunMcpgw({"version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05"));
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
