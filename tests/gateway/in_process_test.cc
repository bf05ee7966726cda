// In-process servers behind the gateway, enabling and disabling servers: a libmcp Client talks
// to a Gateway over an in-memory transport; behind it run libmcp Servers of this process and a
// real mcp-fixture-server process started by ProcessRuntime.
#include "mcpgw/gateway/gateway.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/gateway/upstream.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/memory_transport.h"
#include "mcpgw/mcp/server.h"
#include "testing/await.h"
#include "testing/status_matchers.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::AwaitResult;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kWait = absl::Seconds(20);

std::string TextOf(const mcp::CallToolResult& r) {
  std::string out;
  for (const auto& block : r.content) {
    if (const auto* t = std::get_if<mcp::TextContent>(&block)) {
      out += t->text;
    }
  }
  return out;
}

mcp::Tool SimpleTool(std::string name) {
  mcp::Tool tool;
  tool.name = std::move(name);
  tool.input_schema =
      mcp::Json::Parse(R"({"type":"object","properties":{"text":{"type":"string"}}})").value();
  return tool;
}

std::string TextArg(const mcp::Json& args) {
  const mcp::JsonValue* v = mcp::FindMember(args.value(), "text");
  return v != nullptr && v->IsString() ? std::string(mcp::AsStringView(*v)) : "";
}

// A libmcp server of this process: `name`_tool answers "<name>: <text>", and every server has
// `echo` (so two of them clash).
std::shared_ptr<mcp::Server> InProcessServer(const std::string& name) {
  auto server = mcp::Server::Create({.info = {.name = name, .version = "1"}});
  EXPECT_THAT(server->AddSyncTool(SimpleTool(name + "_tool"),
                                  [name](const mcp::Json& args, mcp::RequestContext&)
                                      -> absl::StatusOr<mcp::CallToolResult> {
                                    return mcp::TextResult(name + ": " + TextArg(args));
                                  }),
              IsOk());
  EXPECT_THAT(server->AddSyncTool(SimpleTool("echo"),
                                  [name](const mcp::Json& args, mcp::RequestContext&)
                                      -> absl::StatusOr<mcp::CallToolResult> {
                                    return mcp::TextResult(name + " echoes " + TextArg(args));
                                  }),
              IsOk());
  return server;
}

// Counts notifications of one method.
class Counter {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++n_;
  }
  int Get() {
    absl::MutexLock lock(&mu_);
    return n_;
  }
  // WaitFor waits (bounded) until the count reaches `n`.
  bool WaitFor(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return n_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kWait);
  }

 private:
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
};

// --- Upstream over a connector --------------------------------------------------------------

TEST(InProcessUpstream, StartsByConnectingAndStopsByClosing) {
  std::shared_ptr<mcp::Server> server = InProcessServer("mem");
  UpstreamConfig config;
  config.name = "mem";
  config.connector = InProcessConnector(server);
  auto up = Upstream::Create(std::move(config), /*runtime=*/nullptr);
  EXPECT_EQ(up->state(), UpstreamState::kStopped);
  {
    absl::StatusOr<Upstream::Lease> lease = AwaitResult<Upstream::Lease>(
        [&](auto done) { up->Acquire(std::move(done)); }, kWait);
    ASSERT_THAT(lease.status(), IsOk());
    EXPECT_EQ(up->state(), UpstreamState::kReady);
    EXPECT_EQ(server->sessions().size(), 1u);
    MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"text":"hi"})"));
    absl::StatusOr<mcp::CallToolResult> r = AwaitResult<mcp::CallToolResult>(
        [&](auto done) { (*lease)->CallTool("mem_tool", std::move(args), {}, std::move(done)); },
        kWait);
    ASSERT_THAT(r.status(), IsOk());
    EXPECT_EQ(TextOf(*r), "mem: hi");
  }
  up->Shutdown();
  EXPECT_EQ(up->state(), UpstreamState::kStopped);
  absl::Time deadline = absl::Now() + kWait;
  while (!server->sessions().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(server->sessions().empty()) << "stopping closed the in-process session";
}

TEST(InProcessUpstream, AConnectorThatFailsIsAStartFailure) {
  UpstreamConfig config;
  config.name = "broken";
  config.connector = []() -> absl::StatusOr<mcp::TransportPtr> {
    return absl::UnavailableError("no such server here");
  };
  auto up = Upstream::Create(std::move(config), nullptr);
  absl::StatusOr<Upstream::Lease> lease =
      AwaitResult<Upstream::Lease>([&](auto done) { up->Acquire(std::move(done)); }, kWait);
  EXPECT_THAT(lease.status(), StatusIs(absl::StatusCode::kUnavailable,
                                       HasSubstr("no such server here")));
  EXPECT_EQ(up->state(), UpstreamState::kBackingOff);
  up->Shutdown();
}

// --- The gateway with in-process servers and the built-in server ---------------------------

class InProcessGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<container::ProcessRuntime>> runtime =
        container::ProcessRuntime::Create({});
    ASSERT_THAT(runtime.status(), IsOk());
    runtime_ = *std::move(runtime);
  }

  void TearDown() override {
    if (client_ != nullptr) {
      client_->Close();
    }
    if (gateway_ != nullptr) {
      gateway_->Shutdown();
      EXPECT_THAT(gateway_->WaitStopped(absl::Now() + kWait), IsOk());
      gateway_.reset();
    }
    absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline && Running() > 0) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ(Running(), 0) << "a server outlived the gateway";
    runtime_.reset();
  }

  int Running() {
    int n = 0;
    for (const auto& info : runtime_->List({}).value_or(std::vector<container::InstanceInfo>{})) {
      n += info.exit_status.has_value() ? 0 : 1;
    }
    return n;
  }

  GatewayServer Fixture(std::string name) {
    GatewayServer s;
    s.config.name = std::move(name);
    s.config.spec.command = MCPGW_FIXTURE_SERVER;
    s.runtime = runtime_.get();
    return s;
  }

  static GatewayServer InProcess(const std::string& name) {
    GatewayServer s;
    s.config.name = name;
    s.server = InProcessServer(name);
    return s;
  }

  void Connect(std::vector<GatewayServer> servers) {
    MCPGW_ASSERT_OK_AND_ASSIGN(gateway_, Gateway::Create({}, std::move(servers)));
    auto [client_side, gateway_side] = mcp::CreateMemoryTransportPair();
    ASSERT_THAT(gateway_->Serve(std::move(gateway_side)), IsOk());
    client_ = mcp::Client::Create(std::move(client_side));
    client_->SetNotificationHandler(mcp::method::kToolsListChanged,
                                    [this](const mcp::Message&) { tools_changed_.Add(); });
    client_->SetNotificationHandler(mcp::method::kPromptsListChanged,
                                    [this](const mcp::Message&) { prompts_changed_.Add(); });
    absl::StatusOr<mcp::InitializeResult> init = AwaitResult<mcp::InitializeResult>(
        [&](auto done) { client_->Connect(std::move(done)); }, kWait);
    ASSERT_THAT(init.status(), IsOk());
  }

  std::vector<std::string> ToolNames() {
    absl::StatusOr<std::vector<mcp::Tool>> tools = AwaitResult<std::vector<mcp::Tool>>(
        [&](auto done) { client_->ListTools(std::move(done)); }, kWait);
    EXPECT_THAT(tools.status(), IsOk());
    std::vector<std::string> names;
    for (const auto& t : tools.value_or(std::vector<mcp::Tool>{})) {
      names.push_back(t.name);
    }
    return names;
  }

  absl::StatusOr<mcp::CallToolResult> Call(const std::string& tool, const std::string& args) {
    absl::StatusOr<mcp::Json> json = mcp::Json::Parse(args);
    if (!json.ok()) {
      return json.status();
    }
    return AwaitResult<mcp::CallToolResult>(
        [&](auto done) { client_->CallTool(tool, *std::move(json), {}, std::move(done)); }, kWait);
  }

  std::unique_ptr<container::ProcessRuntime> runtime_;
  std::shared_ptr<Gateway> gateway_;
  std::shared_ptr<mcp::Client> client_;
  Counter tools_changed_;
  Counter prompts_changed_;
};

TEST_F(InProcessGatewayTest, InProcessServersAreMergedAndRouted) {
  std::vector<GatewayServer> servers;
  servers.push_back(InProcess("calc"));
  servers.push_back(InProcess("text"));
  Connect(std::move(servers));
  EXPECT_THAT(ToolNames(),
              UnorderedElementsAre("calc_tool", "calc__echo", "text_tool", "text__echo"));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("calc_tool", R"({"text":"1+1"})"));
  EXPECT_EQ(TextOf(r), "calc: 1+1");
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("text__echo", R"({"text":"hello"})"));
  EXPECT_EQ(TextOf(r), "text echoes hello");
  for (const ServerStatus& s : gateway_->ServerStatuses()) {
    EXPECT_EQ(s.kind, "in-process");
    EXPECT_EQ(s.state, UpstreamState::kReady);
    EXPECT_EQ(s.tools, 2u);
  }
}

TEST_F(InProcessGatewayTest, AServerDisabledFromTheStartIsNeitherListedNorStarted) {
  std::vector<GatewayServer> servers;
  GatewayServer fx = Fixture("fx");
  fx.enabled = false;
  fx.config.mode = RunMode::kLongLived;
  servers.push_back(std::move(fx));
  Connect(std::move(servers));
  EXPECT_THAT(ToolNames(), Not(Contains("echo")));
  EXPECT_EQ(Running(), 0);
  EXPECT_THAT(gateway_->SetServerEnabled("fx", true), IsOk());
  EXPECT_TRUE(tools_changed_.WaitFor(1));
  // Long-lived: it starts when enabled.
  absl::Time deadline = absl::Now() + kWait;
  while (Running() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Running(), 1);
  EXPECT_THAT(ToolNames(), Contains("echo"));
  EXPECT_THAT(gateway_->SetServerEnabled("nope", true), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace mcpgw::gateway
