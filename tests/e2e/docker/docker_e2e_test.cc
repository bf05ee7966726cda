// End to end: libmcp's Client connects to an MCP server running in a container started by
// DockerEngine (attach stream → line transport), lists its tools and calls one. Two servers:
// mcp-fixture-server (C++, FROM scratch) and @modelcontextprotocol/server-everything (Node.js
// from the pinned npm kit), both built locally by tests/docker/build-test-images.sh.
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/docker_engine.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/line_transport.h"
#include "testing/await.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace mcpgw {
namespace {

using ::mcpgw::testing::IsOk;
using ::testing::Contains;
using ::testing::Field;

class DockerE2e : public ::testing::TestWithParam<const char*> {};

TEST_P(DockerE2e, ClientSpeaksMcpToTheServerInAContainer) {
  absl::StatusOr<std::unique_ptr<container::DockerEngine>> engine =
      container::DockerEngine::Create({});
  MCPGW_REQUIRE_OR_SKIP(engine.ok(), "MCPGW_REQUIRE_DOCKER",
                        "no usable Docker engine: " + engine.status().ToString());
  testing::ChildResult built = testing::RunProgram(
      {std::string(MCPGW_SOURCE_DIR) + "/tests/docker/build-test-images.sh", MCPGW_FIXTURE_SERVER});
  ASSERT_EQ(built.exit_code, 0) << built.err;

  container::RunSpec spec;
  spec.image = GetParam();
  spec.labels = {{"io.mcpgw.test-suite", "docker_e2e_test"},
                 {"io.mcpgw.test-case", absl::StrCat(absl::ToUnixNanos(absl::Now()))}};
  MCPGW_ASSERT_OK_AND_ASSIGN(container::InstancePtr server, (*engine)->Run(spec));

  std::shared_ptr<mcp::Client> client =
      mcp::Client::Create(mcp::CreateLineTransport(server->TakeStdio()));
  absl::StatusOr<mcp::InitializeResult> init = testing::AwaitResult<mcp::InitializeResult>(
      [&](auto done) { client->Connect(std::move(done)); }, absl::Seconds(30));
  ASSERT_THAT(init.status(), IsOk()) << server->StderrTail(20);

  absl::StatusOr<std::vector<mcp::Tool>> tools = testing::AwaitResult<std::vector<mcp::Tool>>(
      [&](auto done) { client->ListTools(std::move(done)); });
  ASSERT_THAT(tools.status(), IsOk());
  EXPECT_THAT(*tools, Contains(Field(&mcp::Tool::name, "echo")));

  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"message":"from a container"})"));
  absl::StatusOr<mcp::CallToolResult> called = testing::AwaitResult<mcp::CallToolResult>(
      [&](auto done) { client->CallTool("echo", std::move(args), {}, std::move(done)); });
  ASSERT_THAT(called.status(), IsOk());
  ASSERT_FALSE(called->content.empty());
  const auto* text = std::get_if<mcp::TextContent>(&called->content[0]);
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(text->text, "Echo: from a container");

  client->Close();  // closes stdin: the fixture exits
  absl::StatusOr<container::ExitStatus> end = server->WaitForExit(absl::Seconds(30));
  ASSERT_THAT(end.status(), IsOk());
  // A server that ends at end of input, or one that the Docker init stops with SIGTERM/EPIPE,
  // is fine; one that crashes is not.
  EXPECT_TRUE(end->success()) << end->ToString() << "\n" << server->StderrTail(20);

  // AutoRemove: nothing with this test's labels stays behind.
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  std::vector<container::InstanceInfo> left;
  do {
    MCPGW_ASSERT_OK_AND_ASSIGN(left, (*engine)->List(spec.labels));
    if (!left.empty()) {
      absl::SleepFor(absl::Milliseconds(100));
    }
  } while (!left.empty() && absl::Now() < deadline);
  EXPECT_TRUE(left.empty());
}

INSTANTIATE_TEST_SUITE_P(Images, DockerE2e,
                         ::testing::Values("mcpgw-test/fixture:latest",
                                           "mcpgw-test/everything:latest"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           return param.index == 0 ? std::string("Fixture")
                                                  : std::string("Everything");
                         });

}  // namespace
}  // namespace mcpgw
