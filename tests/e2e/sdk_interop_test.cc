// The official TypeScript SDK client (pinned in tests/e2e/package.json) against a server built
// on libmcp's session and stdio transport: initialize at every revision, ping, and a request
// whose unknown members must come back unchanged.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/json.h"
#include "testing/subprocess.h"

namespace mcpgw::mcp {
namespace {

using ::testing::HasSubstr;

class SdkInterop : public ::testing::TestWithParam<const char*> {};

TEST_P(SdkInterop, InitializePingAndPassThrough) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  testing::ChildResult r = testing::RunProgram(
      {modules + "/.bin/node", std::string(MCPGW_E2E_DIR) + "/sdk-core-client.mjs", GetParam(),
       MCPGW_STDIO_TEST_SERVER});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  absl::StatusOr<Json> seen = Json::Parse(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(seen.ok()) << r.out;
  std::string expected_version = std::string(GetParam()) == "latest" ? "2025-11-25" : GetParam();
  EXPECT_EQ(seen->value()["negotiated"].GetString(), expected_version);
  EXPECT_EQ(SerializeJson(seen->value()["server"]),
            R"({"name":"mcpgw-stdio-test-server","version":"0.1.0"})");
  EXPECT_THAT(SerializeJson(seen->value()["echoed"]),
              HasSubstr(R"("nested":{"future":[1,2.5,null]})"));
  EXPECT_THAT(SerializeJson(seen->value()["echoed"]), HasSubstr(R"("_meta":{"x.y/z":1})"));
}

INSTANTIATE_TEST_SUITE_P(Revisions, SdkInterop,
                         ::testing::Values("latest", "2025-06-18", "2025-03-26", "2024-11-05"));

}  // namespace
}  // namespace mcpgw::mcp
