// Gateway: a libmcp Client talks to a Gateway over an in-memory transport; behind it run real
// mcp-fixture-server processes (two of them clash on every name) started by ProcessRuntime.
#include "mcpgw/gateway/gateway.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/process_runtime.h"
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
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

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

class GatewayTest : public ::testing::Test {
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

  // Connect starts the gateway with `servers` and connects a client to it.
  void Connect(std::vector<GatewayServer> servers, GatewayOptions options = {},
               mcp::ClientOptions client_options = {}) {
    MCPGW_ASSERT_OK_AND_ASSIGN(gateway_, Gateway::Create(std::move(options), std::move(servers)));
    auto [client_side, gateway_side] = mcp::CreateMemoryTransportPair();
    ASSERT_THAT(gateway_->Serve(std::move(gateway_side)), IsOk());
    client_ = mcp::Client::Create(std::move(client_side), std::move(client_options));
    if (sampling_) {
      client_->SetSamplingHandler(
          [](const mcp::CreateMessageParams&, mcp::Callback<mcp::CreateMessageResult> reply) {
            mcp::CreateMessageResult r;
            r.role = mcp::Role::kAssistant;
            r.model = "test-model";
            r.content.blocks.emplace_back(mcp::Text("the model says hi"));
            std::move(reply)(std::move(r));
          });
    }
    absl::StatusOr<mcp::InitializeResult> init = AwaitResult<mcp::InitializeResult>(
        [&](auto done) { client_->Connect(std::move(done)); }, kWait);
    ASSERT_THAT(init.status(), IsOk());
    EXPECT_EQ(init->server_info.name, "mcpgw");
    EXPECT_TRUE(init->capabilities.tools.has_value());
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

  absl::StatusOr<mcp::CallToolResult> Call(const std::string& tool, const std::string& args,
                                           mcp::CallOptions options = {}) {
    absl::StatusOr<mcp::Json> json = mcp::Json::Parse(args);
    if (!json.ok()) {
      return json.status();
    }
    return AwaitResult<mcp::CallToolResult>(
        [&](auto done) {
          client_->CallTool(tool, *std::move(json), std::move(options), std::move(done));
        },
        kWait);
  }

  std::unique_ptr<container::ProcessRuntime> runtime_;
  std::shared_ptr<Gateway> gateway_;
  std::shared_ptr<mcp::Client> client_;
  bool sampling_ = false;
};

TEST_F(GatewayTest, MergesToolsAndPrefixesOnlyTheNamesThatClash) {
  GatewayServer a = Fixture("a");
  GatewayServer b = Fixture("b");
  b.allowed_tools = std::vector<std::string>{"echo"};  // b shows echo only
  std::vector<GatewayServer> servers;
  servers.push_back(std::move(a));
  servers.push_back(std::move(b));
  Connect(std::move(servers));
  std::vector<std::string> names = ToolNames();
  // echo is offered by both: prefixed for both. slow only by a: its own name.
  EXPECT_THAT(names, Contains("a__echo"));
  EXPECT_THAT(names, Contains("b__echo"));
  EXPECT_THAT(names, Contains("slow"));
  EXPECT_THAT(names, Not(Contains("echo")));
  EXPECT_THAT(names, Not(Contains("b__slow")));
  EXPECT_EQ(std::count(names.begin(), names.end(), "crash"), 1);

  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("b__echo", R"({"message":"via b"})"));
  EXPECT_EQ(TextOf(r), "Echo: via b");
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("a__echo", R"({"message":"via a"})"));
  EXPECT_EQ(TextOf(r), "Echo: via a");
}

TEST_F(GatewayTest, AHiddenOrUnknownToolIsInvalidParamsAndNeverReachesAServer) {
  GatewayServer only = Fixture("only");
  only.allowed_tools = std::vector<std::string>{"echo"};
  std::vector<GatewayServer> servers;
  servers.push_back(std::move(only));
  Connect(std::move(servers));
  // Called without listing first: the gateway lists on its own, then refuses.
  for (const char* hidden : {"crash", "only__crash", "no_such_tool"}) {
    absl::Status refused = Call(hidden, "{}").status();
    EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr(absl::StrCat("unknown tool '", hidden, "'"))));
    EXPECT_EQ(mcp::JsonRpcCodeOf(refused), mcp::error_code::kInvalidParams);
  }
  // The server is alive: crash never reached it.
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("echo", R"({"message":"still here"})"));
  EXPECT_EQ(TextOf(r), "Echo: still here");
  ASSERT_EQ(gateway_->upstreams().size(), 1u);
  EXPECT_EQ(gateway_->upstreams()[0]->state(), UpstreamState::kReady);
}

TEST_F(GatewayTest, ForwardsProgressAndCancellation) {
  std::vector<GatewayServer> servers;
  servers.push_back(Fixture("fx"));
  Connect(std::move(servers));
  absl::Mutex mu;
  int progress = 0;
  mcp::CallOptions options;
  options.on_progress = [&](const mcp::ProgressParams&) {
    absl::MutexLock lock(&mu);
    ++progress;
  };
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r,
                             Call("slow", R"({"seconds":0.2,"steps":4})", std::move(options)));
  EXPECT_FALSE(r.is_error.value_or(false));
  {
    absl::MutexLock lock(&mu);
    EXPECT_GE(progress, 3) << "progress notifications reach the client with its own token";
  }

  // Cancel a long call: the server records the cancellation, the client gets no answer.
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse(R"({"seconds":60,"steps":600})"));
  absl::Notification answered;
  mcp::RequestId id = client_->CallTool("slow", std::move(args), {},
                                        [&](absl::StatusOr<mcp::CallToolResult>) {
                                          answered.Notify();
                                        });
  absl::SleepFor(absl::Milliseconds(300));
  client_->Cancel(id, "changed my mind");
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(kWait));  // locally: Cancelled
  absl::Time deadline = absl::Now() + kWait;
  std::string cancelled;
  while (absl::Now() < deadline) {
    MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult got, Call("get_cancelled_requests", "{}"));
    cancelled = TextOf(got);
    if (cancelled != "[]" && !cancelled.empty()) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_NE(cancelled, "[]") << "the cancellation reached the server";
}

TEST_F(GatewayTest, ACrashFailsTheCallAtOnceAndTheNextCallRestartsTheServer) {
  std::vector<GatewayServer> servers;
  servers.push_back(Fixture("fx"));
  servers.push_back(Fixture("other"));
  Connect(std::move(servers));
  ASSERT_FALSE(ToolNames().empty());
  absl::Time start = absl::Now();
  absl::StatusOr<mcp::CallToolResult> crashed = Call("fx__crash", R"({"exit_code":3})");
  EXPECT_FALSE(crashed.ok() && !crashed->is_error.value_or(false));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "the error comes at once";
  // The other server carries on; the crashed one comes back at the next call.
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("other__echo", R"({"message":"x"})"));
  EXPECT_EQ(TextOf(r), "Echo: x");
  absl::StatusOr<mcp::CallToolResult> again;
  absl::Time deadline = absl::Now() + kWait;
  do {
    again = Call("fx__echo", R"({"message":"back"})");
  } while (!again.ok() && absl::Now() < deadline);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(TextOf(*again), "Echo: back");
}

TEST_F(GatewayTest, RoutesPromptsResourcesAndTemplates) {
  std::vector<GatewayServer> servers;
  servers.push_back(Fixture("fx"));
  Connect(std::move(servers));
  absl::StatusOr<std::vector<mcp::Prompt>> prompts = AwaitResult<std::vector<mcp::Prompt>>(
      [&](auto done) { client_->ListPrompts(std::move(done)); }, kWait);
  ASSERT_THAT(prompts.status(), IsOk());
  EXPECT_THAT(*prompts, Contains(::testing::Field(&mcp::Prompt::name, "test_simple_prompt")));
  absl::StatusOr<mcp::GetPromptResult> prompt = AwaitResult<mcp::GetPromptResult>(
      [&](auto done) { client_->GetPrompt("test_simple_prompt", {}, std::move(done)); }, kWait);
  ASSERT_THAT(prompt.status(), IsOk());
  EXPECT_FALSE(prompt->messages.empty());

  absl::StatusOr<mcp::ReadResourceResult> read = AwaitResult<mcp::ReadResourceResult>(
      [&](auto done) { client_->ReadResource("test://static-text", std::move(done)); }, kWait);
  ASSERT_THAT(read.status(), IsOk());
  ASSERT_FALSE(read->contents.empty());
  // Not in any listing: routed by the server's template test://template/{id}/data.
  read = AwaitResult<mcp::ReadResourceResult>(
      [&](auto done) { client_->ReadResource("test://template/42/data", std::move(done)); },
      kWait);
  ASSERT_THAT(read.status(), IsOk());
  EXPECT_THAT(
      AwaitResult<mcp::ReadResourceResult>(
          [&](auto done) { client_->ReadResource("nowhere://x", std::move(done)); }, kWait)
          .status(),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown resource 'nowhere://x'")));
}

TEST_F(GatewayTest, ForwardsSamplingToTheClientThatCausedIt) {
  sampling_ = true;
  std::vector<GatewayServer> servers;
  servers.push_back(Fixture("fx"));
  Connect(std::move(servers));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r,
                             Call("test_sampling", R"({"prompt":"say hi"})"));
  EXPECT_THAT(TextOf(r), HasSubstr("the model says hi"));
}

// A misbehaving server written in sh: answers initialize, then every list request with an
// empty page and a cursor that never ends, and offers a URI template built to make a
// backtracking matcher take forever.
GatewayServer Misbehaving(container::Runtime* runtime) {
  GatewayServer s;
  s.config.name = "pager";
  s.config.spec.command = "/bin/sh";
  s.config.spec.args = {"-c", R"(
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
  case "$line" in
    *'"initialize"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{},"resources":{}},"serverInfo":{"name":"pager","version":"1"}}}\n' "$id" ;;
    *'"tools/list"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"tools":[],"nextCursor":"again"}}\n' "$id" ;;
    *'"resources/list"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"resources":[]}}\n' "$id" ;;
    *'"resources/templates/list"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"resourceTemplates":[{"name":"t","uriTemplate":"x:{+a}{+b}{+c}{+d}{+e}!"}]}}\n' "$id" ;;
  esac
done)"};
  s.runtime = runtime;
  return s;
}

TEST_F(GatewayTest, AServerThatPagesForeverIsLeftOutOfTheListing) {
  std::vector<GatewayServer> servers;
  servers.push_back(Misbehaving(runtime_.get()));
  servers.push_back(Fixture("fx"));
  Connect(std::move(servers));
  absl::Time start = absl::Now();
  std::vector<std::string> names = ToolNames();  // the fixture's, without prefixes
  EXPECT_THAT(names, Contains("echo"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  // Listing again repeats the bounded attempt; it does not pile up endless loops.
  EXPECT_THAT(ToolNames(), Contains("echo"));
}

TEST_F(GatewayTest, AHostileUriTemplateCannotStallTheGateway) {
  std::vector<GatewayServer> servers;
  servers.push_back(Misbehaving(runtime_.get()));
  Connect(std::move(servers));
  absl::Time start = absl::Now();
  std::string uri = "x:" + std::string(200, 'y');
  EXPECT_THAT(AwaitResult<mcp::ReadResourceResult>(
                  [&](auto done) { client_->ReadResource(uri, std::move(done)); }, kWait)
                  .status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown resource")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(GatewayTest, RefusesBadServerLists) {
  std::vector<GatewayServer> two;
  two.push_back(Fixture("same"));
  two.push_back(Fixture("same"));
  EXPECT_THAT(Gateway::Create({}, std::move(two)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("two servers are named")));
  std::vector<GatewayServer> bad;
  bad.push_back(Fixture("has space"));
  EXPECT_THAT(Gateway::Create({}, std::move(bad)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a valid server name")));
}

}  // namespace
}  // namespace mcpgw::gateway
