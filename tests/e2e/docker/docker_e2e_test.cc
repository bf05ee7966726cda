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
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/docker_engine.h"
#include "mcpgw/gateway/gateway.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/line_transport.h"
#include "mcpgw/mcp/memory_transport.h"
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

// The gateway pulls a container server's image from a registry (Debian's docker-registry on
// the loopback, tests/docker/start-registry.sh) in the background from its creation; the first
// call waits for the pull and is answered by the server in the pulled image.
TEST(GatewayPull, AServerWhoseImageIsNotPresentIsPulledWhenTheGatewayStarts) {
  absl::StatusOr<std::unique_ptr<container::DockerEngine>> engine =
      container::DockerEngine::Create({});
  MCPGW_REQUIRE_OR_SKIP(engine.ok(), "MCPGW_REQUIRE_DOCKER",
                        "no usable Docker engine: " + engine.status().ToString());
  testing::ChildResult built = testing::RunProgram(
      {std::string(MCPGW_SOURCE_DIR) + "/tests/docker/build-test-images.sh", MCPGW_FIXTURE_SERVER});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  testing::ChildResult registry =
      testing::RunProgram({std::string(MCPGW_SOURCE_DIR) + "/tests/docker/start-registry.sh"});
  MCPGW_REQUIRE_OR_SKIP(registry.exit_code == 0 && !registry.out.empty(), "MCPGW_REQUIRE_DOCKER",
                        "no local registry: " + registry.err);
  std::string image = absl::StrCat(absl::StripAsciiWhitespace(registry.out),
                                   "/mcpgw-test/gateway-pull-", absl::ToUnixNanos(absl::Now()),
                                   ":v1");
  for (std::vector<std::string> step : {std::vector<std::string>{"tag", "mcpgw-test/fixture:latest", image},
                                        std::vector<std::string>{"push", image},
                                        std::vector<std::string>{"rmi", image}}) {
    step.insert(step.begin(), "docker");
    testing::ChildResult r = testing::RunProgram(step);
    ASSERT_EQ(r.exit_code, 0) << step[1] << ": " << r.err;
  }
  ASSERT_NE(testing::RunProgram({"docker", "image", "inspect", image}).exit_code, 0)
      << "the image is still present: nothing would be pulled";

  std::string test_case = absl::StrCat(absl::ToUnixNanos(absl::Now()));
  std::vector<gateway::GatewayServer> servers(1);
  servers[0].config.name = "pulled";
  servers[0].config.spec.image = image;
  servers[0].config.spec.labels = {{"io.mcpgw.test-case", test_case}};
  servers[0].runtime = engine->get();
  servers[0].prepare = true;
  MCPGW_ASSERT_OK_AND_ASSIGN(std::shared_ptr<gateway::Gateway> gw,
                             gateway::Gateway::Create({}, std::move(servers)));
  // The pull began before any client came.
  EXPECT_EQ(gw->preparing(), 1);
  auto [client_side, gateway_side] = mcp::CreateMemoryTransportPair();
  ASSERT_THAT(gw->Serve(std::move(gateway_side)), IsOk());
  std::shared_ptr<mcp::Client> client = mcp::Client::Create(std::move(client_side));
  ASSERT_THAT(testing::AwaitResult<mcp::InitializeResult>(
                  [&](auto done) { client->Connect(std::move(done)); }, absl::Seconds(30))
                  .status(),
              IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"message":"pulled"})"));
  absl::StatusOr<mcp::CallToolResult> called = testing::AwaitResult<mcp::CallToolResult>(
      [&](auto done) { client->CallTool("echo", std::move(args), {}, std::move(done)); },
      absl::Seconds(60));
  ASSERT_THAT(called.status(), IsOk());
  ASSERT_FALSE(called->content.empty());
  const auto* text = std::get_if<mcp::TextContent>(&called->content[0]);
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(text->text, "Echo: pulled");
  EXPECT_EQ(gw->preparing(), 0);
  EXPECT_EQ(testing::RunProgram({"docker", "image", "inspect", image}).exit_code, 0)
      << "the image was not pulled";

  client->Close();
  gw->Shutdown();
  EXPECT_THAT(gw->WaitStopped(absl::Now() + absl::Seconds(15)), IsOk());
  gw.reset();
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  std::vector<container::InstanceInfo> left;
  do {
    MCPGW_ASSERT_OK_AND_ASSIGN(left, (*engine)->List({{"io.mcpgw.test-case", test_case}}));
    if (!left.empty()) {
      absl::SleepFor(absl::Milliseconds(100));
    }
  } while (!left.empty() && absl::Now() < deadline);
  EXPECT_TRUE(left.empty());
  testing::RunProgram({"docker", "rmi", image});
}

}  // namespace
}  // namespace mcpgw
