// Gateway: a libmcp Client talks to a Gateway over an in-memory transport; behind it run real
// mcp-fixture-server processes (two of them clash on every name) started by ProcessRuntime.
#include "mcpgw/gateway/gateway.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
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

  GatewayServer Fixture(std::string name, std::vector<std::string> args = {}) {
    GatewayServer s;
    s.config.name = std::move(name);
    s.config.spec.command = MCPGW_FIXTURE_SERVER;
    s.config.spec.args = std::move(args);
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

// Two fixtures started with --instance a / b list the same URIs and template: each is exposed
// as mcpgw://<server>/<uri>, and the same name is used in listings, reads, resource links,
// embedded resources and resources/updated.
TEST_F(GatewayTest, ClashingUrisAreKeptApartInListingsLinksEmbeddedResourcesAndUpdates) {
  std::vector<GatewayServer> servers;
  servers.push_back(Fixture("a", {"--instance", "a"}));
  servers.push_back(Fixture("b", {"--instance", "b"}));
  Connect(std::move(servers));
  absl::Mutex mu;
  std::vector<std::string> updated;
  client_->OnResourceUpdated([&](const std::string& uri) {
    absl::MutexLock lock(&mu);
    updated.push_back(uri);
  });

  absl::StatusOr<std::vector<mcp::Resource>> resources = AwaitResult<std::vector<mcp::Resource>>(
      [&](auto done) { client_->ListResources(std::move(done)); }, kWait);
  ASSERT_THAT(resources.status(), IsOk());
  std::vector<std::string> uris;
  for (const auto& r : *resources) {
    uris.push_back(r.uri);
  }
  EXPECT_THAT(uris, Contains("mcpgw://a/test://instance"));
  EXPECT_THAT(uris, Contains("mcpgw://b/test://instance"));
  EXPECT_THAT(uris, Contains("mcpgw://b/test://static-text"));
  EXPECT_THAT(uris, Not(Contains("test://instance")));
  absl::StatusOr<std::vector<mcp::ResourceTemplate>> templates =
      AwaitResult<std::vector<mcp::ResourceTemplate>>(
          [&](auto done) { client_->ListResourceTemplates(std::move(done)); }, kWait);
  ASSERT_THAT(templates.status(), IsOk());
  ASSERT_EQ(templates->size(), 2u);
  EXPECT_THAT(*templates, Contains(::testing::Field(&mcp::ResourceTemplate::uri_template,
                                                    "mcpgw://a/test://template/{id}/data")));

  // Each name reads from its own server, and the contents carry the name the client used.
  for (const std::string server : {"a", "b"}) {
    std::string uri = absl::StrCat("mcpgw://", server, "/test://instance");
    absl::StatusOr<mcp::ReadResourceResult> read = AwaitResult<mcp::ReadResourceResult>(
        [&](auto done) { client_->ReadResource(uri, std::move(done)); }, kWait);
    ASSERT_THAT(read.status(), IsOk());
    ASSERT_EQ(read->contents.size(), 1u);
    EXPECT_EQ(read->contents[0].uri, uri);
    EXPECT_EQ(read->contents[0].text, server);
    std::string made = absl::StrCat("mcpgw://", server, "/test://template/7/data");
    read = AwaitResult<mcp::ReadResourceResult>(
        [&](auto done) { client_->ReadResource(made, std::move(done)); }, kWait);
    ASSERT_THAT(read.status(), IsOk());
    EXPECT_EQ(read->contents[0].uri, made);

    // A link and an embedded resource in a tool result name the same URI.
    absl::StatusOr<mcp::CallToolResult> links =
        Call(absl::StrCat(server, "__instance_links"), "{}");
    ASSERT_THAT(links.status(), IsOk());
    ASSERT_EQ(links->content.size(), 2u);
    const auto* link = std::get_if<mcp::ResourceLink>(&links->content[0]);
    ASSERT_NE(link, nullptr);
    EXPECT_EQ(link->uri, uri);
    const auto* embedded = std::get_if<mcp::EmbeddedResource>(&links->content[1]);
    ASSERT_NE(embedded, nullptr);
    EXPECT_EQ(embedded->resource.uri, uri);
    EXPECT_EQ(embedded->resource.text, server);
  }

  // Subscribed through b's name: b's update arrives under b's name only.
  ASSERT_THAT(AwaitResult<mcp::EmptyResult>(
                  [&](auto done) { client_->Subscribe("mcpgw://b/test://instance", std::move(done)); },
                  kWait)
                  .status(),
              IsOk());
  ASSERT_THAT(Call("b__touch", R"({"uri":"test://instance"})").status(), IsOk());
  absl::Time deadline = absl::Now() + kWait;
  auto got_update = [&] {
    absl::MutexLock lock(&mu);
    return !updated.empty();
  };
  while (!got_update() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::MutexLock lock(&mu);
  EXPECT_THAT(updated, ::testing::ElementsAre("mcpgw://b/test://instance"));
}

TEST_F(GatewayTest, APerCallServerAnswersEachCallAndRefusesSubscriptions) {
  std::vector<GatewayServer> servers;
  GatewayServer per_call = Fixture("pc");
  per_call.config.mode = RunMode::kPerCall;
  per_call.config.per_call_concurrency = 2;
  servers.push_back(std::move(per_call));
  Connect(std::move(servers));
  EXPECT_THAT(ToolNames(), Contains("echo"));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<mcp::CallToolResult> r = Call("echo", R"({"message":"hi"})");
    ASSERT_THAT(r.status(), IsOk());
    EXPECT_EQ(TextOf(*r), "Echo: hi");
  }
  EXPECT_THAT(
      AwaitResult<mcp::EmptyResult>(
          [&](auto done) { client_->Subscribe("test://watched-resource", std::move(done)); },
          kWait)
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("server 'pc' runs a fresh instance for every call"),
                     HasSubstr("on-demand or long-lived"))));
  absl::StatusOr<mcp::ReadResourceResult> read = AwaitResult<mcp::ReadResourceResult>(
      [&](auto done) { client_->ReadResource("test://static-text", std::move(done)); }, kWait);
  EXPECT_THAT(read.status(), IsOk());
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

// A server that answers at 2025-11-25 whatever the client asked (some do), with what only
// newer revisions know: the gateway down-levels it for a 2024-11-05 client.
TEST_F(GatewayTest, WhatAnOlderClientCannotReadIsDownLevelled) {
  GatewayServer s;
  s.config.name = "newer";
  s.config.spec.command = "/bin/sh";
  s.config.spec.args = {"-c", R"(
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
  case "$line" in
    *'"initialize"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"newer","version":"1"}}}\n' "$id" ;;
    *'"tools/list"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"t","title":"T","inputSchema":{"type":"object"},"outputSchema":{"type":"object"},"annotations":{"readOnlyHint":true},"icons":[{"src":"https://example.com/i.png"}]}]}}\n' "$id" ;;
    *'"tools/call"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"resource_link","uri":"test://x","name":"x"},{"type":"audio","data":"AAAA","mimeType":"audio/wav"},{"type":"text","text":"kept"}],"structuredContent":{"a":1}}}\n' "$id" ;;
  esac
done)"};
  s.runtime = runtime_.get();
  std::vector<GatewayServer> servers;
  servers.push_back(std::move(s));
  Connect(std::move(servers), {},
          mcp::ClientOptions{.protocol_version = mcp::ProtocolVersion::k2024_11_05});
  absl::StatusOr<mcp::Json> tools = AwaitResult<mcp::Json>(
      [&](auto done) {
        client_->Request<mcp::Json>(mcp::method::kToolsList, mcp::Json::Object(), {},
                                    std::move(done));
      },
      kWait);
  ASSERT_THAT(tools.status(), IsOk());
  std::string listed = tools->Serialize();
  EXPECT_THAT(listed, HasSubstr(R"("name":"t")"));
  for (const char* member : {"title", "outputSchema", "annotations", "icons"}) {
    EXPECT_THAT(listed, Not(HasSubstr(absl::StrCat("\"", member, "\"")))) << listed;
  }
  absl::StatusOr<mcp::Json> called = AwaitResult<mcp::Json>(
      [&](auto done) {
        client_->Request<mcp::Json>(mcp::method::kToolsCall,
                                    mcp::Json::Parse(R"({"name":"t","arguments":{}})").value(),
                                    {}, std::move(done));
      },
      kWait);
  ASSERT_THAT(called.status(), IsOk());
  EXPECT_EQ(called->Serialize(),
            R"({"content":[{"type":"text","text":"Resource: test://x"},)"
            R"({"type":"text","text":"[audio content (audio/wav) that this client's protocol )"
            R"(version cannot carry]"},{"type":"text","text":"kept"}]})");
}

// A server with a tool that can only run as a task, which sends a URL elicitation's end and
// a burst of list changes when its other tool is called.
TEST_F(GatewayTest, TaskOnlyToolsAreHiddenElicitationEndsForwardedAndListChangesCoalesced) {
  GatewayServer s;
  s.config.name = "tasks";
  s.config.spec.command = "/bin/sh";
  s.config.spec.args = {"-c", R"(
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
  case "$line" in
    *'"initialize"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"tasks","version":"1"}}}\n' "$id" ;;
    *'"tools/list"'*) printf '{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"long_job","inputSchema":{"type":"object"},"execution":{"taskSupport":"required"}},{"name":"poke","inputSchema":{"type":"object"},"execution":{"taskSupport":"optional"}}]}}\n' "$id" ;;
    *'"tools/call"'*)
      printf '{"jsonrpc":"2.0","method":"notifications/elicitation/complete","params":{"elicitationId":"e-1"}}\n'
      for i in 1 2 3 4 5; do printf '{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n'; done
      printf '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"poked"}]}}\n' "$id" ;;
  esac
done)"};
  s.runtime = runtime_.get();
  std::vector<GatewayServer> servers;
  servers.push_back(std::move(s));
  Connect(std::move(servers));
  std::atomic<int> list_changed{0};
  std::atomic<int> elicitation_ends{0};
  client_->SetNotificationHandler(mcp::method::kToolsListChanged,
                                  [&](const mcp::Message&) { ++list_changed; });
  client_->SetNotificationHandler(mcp::method::kElicitationComplete, [&](const mcp::Message& m) {
    if (m.params() != nullptr && mcp::Json::Copy(*m.params()).Serialize() == R"({"elicitationId":"e-1"})") {
      ++elicitation_ends;
    }
  });
  EXPECT_THAT(ToolNames(), ::testing::ElementsAre("poke"));
  EXPECT_THAT(Call("long_job", "{}").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown tool 'long_job'")));
  absl::StatusOr<mcp::CallToolResult> poked = Call("poke", "{}");
  ASSERT_THAT(poked.status(), IsOk());
  EXPECT_EQ(TextOf(*poked), "poked");
  absl::Time deadline = absl::Now() + kWait;
  while ((list_changed == 0 || elicitation_ends == 0) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(elicitation_ends, 1);
  // Five changes in a row reach the client as fewer (one, unless the machine stalled between).
  absl::SleepFor(absl::Milliseconds(200));  // lets any second notification arrive
  EXPECT_GE(list_changed, 1);
  EXPECT_LT(list_changed, 5);
}

// Runs real processes (ProcessRuntime) but "pulls" before: Prepare reports growing progress
// until the test lets it finish, or fails when told to. Counts the Prepare calls.
class SlowPullRuntime : public container::Runtime {
 public:
  explicit SlowPullRuntime(container::Runtime* real) : real_(real) {}

  absl::StatusOr<container::InstancePtr> Run(const container::RunSpec& spec) override {
    container::RunSpec local = spec;
    local.image.clear();  // the "image" runs as the local command
    return real_->Run(local);
  }
  absl::StatusOr<std::vector<container::InstanceInfo>> List(
      const container::Labels& selector) override {
    return real_->List(selector);
  }
  absl::Status Remove(absl::string_view id) override { return real_->Remove(id); }

  absl::StatusOr<container::Prepared> Prepare(const container::RunSpec&,
                                              container::PullProgressCallback on_progress) override {
    {
      absl::MutexLock lock(&mu_);
      ++prepares_;
    }
    for (int64_t step = 1;; ++step) {
      if (on_progress) {
        on_progress({.layer = "l1", .status = "Downloading", .current = step << 20,
                     .total = int64_t{100} << 20, .downloaded = std::min<int64_t>(step, 99) << 20,
                     .to_download = int64_t{100} << 20});
      }
      absl::MutexLock lock(&mu_);
      auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outcome_.has_value(); };
      if (mu_.AwaitWithTimeout(absl::Condition(&released), absl::Milliseconds(20))) {
        absl::Status outcome = *outcome_;
        if (!outcome.ok()) {
          outcome_.reset();  // the next attempt waits again
          return outcome;
        }
        return container::Prepared{.digest = "sha256:test", .image_id = "", .pulled = true};
      }
    }
  }

  void Finish(absl::Status outcome) {
    absl::MutexLock lock(&mu_);
    outcome_ = std::move(outcome);
  }
  int prepares() {
    absl::MutexLock lock(&mu_);
    return prepares_;
  }

 private:
  container::Runtime* real_;
  absl::Mutex mu_;
  std::optional<absl::Status> outcome_ ABSL_GUARDED_BY(mu_);
  int prepares_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(GatewayTest, ACallWaitingForAPullGetsProgressAndPastTheBoundAnErrorSayingHowFar) {
  SlowPullRuntime pulls(runtime_.get());
  std::vector<GatewayServer> servers;
  GatewayServer pulled = Fixture("pulled");
  pulled.runtime = &pulls;
  pulled.prepare = true;
  pulled.config.spec.image = "registry.test/fixture:1";  // shown in messages; Run ignores it
  // Listed from these until it runs (its real list has more: the client is told then).
  pulled.tools = std::vector<mcp::Json>{
      mcp::Json::Parse(R"({"name":"echo","inputSchema":{"type":"object"}})").value()};
  servers.push_back(std::move(pulled));
  servers.push_back(Fixture("local"));
  GatewayOptions options;
  options.pull_wait = absl::Milliseconds(600);
  options.pull_progress_every = absl::Milliseconds(50);
  Connect(std::move(servers), std::move(options));
  std::atomic<int> list_changed{0};
  client_->SetNotificationHandler(mcp::method::kToolsListChanged,
                                  [&](const mcp::Message&) { ++list_changed; });
  // Listed at once from its definitions, while it pulls (both fixtures have echo: prefixed).
  absl::Time listed_at = absl::Now();
  EXPECT_THAT(ToolNames(), ::testing::IsSupersetOf({"pulled__echo", "local__echo"}));
  EXPECT_LT(absl::Now() - listed_at, absl::Seconds(5)) << "the listing waited for the pull";
  // The pull began with the gateway, before any call.
  absl::Time deadline = absl::Now() + kWait;
  while (pulls.prepares() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(pulls.prepares(), 1);
  EXPECT_EQ(gateway_->preparing(), 1);

  // A call to it waits for the pull, with progress, and past pull_wait is answered.
  std::vector<mcp::Json> progress;
  absl::Mutex mu;
  absl::StatusOr<mcp::Json> answer = AwaitResult<mcp::Json>(
      [&](auto done) {
        mcp::Json params = mcp::Json::Object();
        params.Set("name", "pulled__echo");
        params.Set("arguments", mcp::Json::Parse(R"({"message":"hi"})").value());
        params.Set("_meta", mcp::Json::Parse(R"({"progressToken":"pull-1"})").value());
        mcp::RequestOptions request;
        request.on_progress = [&](const mcp::Message& n) {
          absl::MutexLock lock(&mu);
          progress.push_back(mcp::Json::Copy(*n.params()));
        };
        client_->session().SendRequest(
            mcp::method::kToolsCall, std::move(params), std::move(request),
            [done = std::move(done)](absl::StatusOr<mcp::Message> m) mutable {
              if (!m.ok()) {
                std::move(done)(m.status());
              } else if (m->result() == nullptr) {
                std::move(done)(absl::InternalError(m->error().message));
              } else {
                std::move(done)(mcp::Json::Copy(*m->result()));
              }
            });
      },
      kWait);
  ASSERT_THAT(answer.status(), IsOk());
  std::string text = answer->Serialize();
  EXPECT_THAT(text, HasSubstr(R"("isError":true)"));
  EXPECT_THAT(text, HasSubstr("server 'pulled' is still pulling its image registry.test/fixture:1"));
  EXPECT_THAT(text, HasSubstr("% done: "));
  EXPECT_THAT(text, HasSubstr("of 100.0 MiB"));
  EXPECT_THAT(text, HasSubstr("the call was not made: retry in"));
  {
    absl::MutexLock lock(&mu);
    ASSERT_GE(progress.size(), 2u) << "progress while the call waited for the pull";
    int64_t last = -1;
    for (const mcp::Json& p : progress) {
      EXPECT_EQ(p.value()["progressToken"].GetString(), std::string("pull-1"));
      EXPECT_EQ(p.value()["total"].GetInt64(), int64_t{100} << 20);
      EXPECT_GT(p.value()["progress"].GetInt64(), last) << "progress must increase";
      last = p.value()["progress"].GetInt64();
      EXPECT_THAT(p.value()["message"].GetString(), HasSubstr("still pulling"));
    }
  }
  // The other server is not held up by the pull.
  absl::StatusOr<mcp::CallToolResult> local = Call("local__echo", R"({"message":"meanwhile"})");
  ASSERT_THAT(local.status(), IsOk());
  EXPECT_EQ(TextOf(*local), "Echo: meanwhile");

  // A failed pull is tried again at the next need, which then waits for the new attempt.
  pulls.Finish(absl::UnavailableError("registry.test is unreachable"));
  deadline = absl::Now() + kWait;
  while (gateway_->preparing() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::StatusOr<mcp::CallToolResult> failed;
  std::thread finisher([&] {
    absl::SleepFor(absl::Milliseconds(100));
    pulls.Finish(absl::OkStatus());
  });
  failed = Call("pulled__echo", R"({"message":"after"})");
  finisher.join();
  EXPECT_EQ(pulls.prepares(), 2) << "a failed pull is tried again at the next need";
  ASSERT_THAT(failed.status(), IsOk()) << "the second pull succeeded within pull_wait";
  EXPECT_EQ(TextOf(*failed), "Echo: after");
  EXPECT_EQ(gateway_->preparing(), 0);
  // Running now, it listed its real tools, which differ from the definitions.
  deadline = absl::Now() + kWait;
  while (list_changed == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE(list_changed, 1);
  EXPECT_THAT(ToolNames(), Contains("pulled__slow"));
}

// One gateway per client session (as over HTTP), sharing server instances: sessions whose
// clients declared no client features share one instance; one that declared sampling gets
// its own, and the sampling request reaches exactly that client. A subscription held by two
// sessions survives one's unsubscribe and the shared instance's restart; a session's end
// leaves the shared instance to others.
TEST_F(GatewayTest, SessionsShareInstancesOnlyWhenNoClientFeatureIsDeclared) {
  std::shared_ptr<SharedUpstreams> shared = SharedUpstreams::Create({}, {Fixture("fx", {"--instance", "one"})});
  GatewayOptions options;
  options.shared = shared;
  struct Session {
    std::shared_ptr<Gateway> gateway;
    std::shared_ptr<mcp::Client> client;
    absl::Mutex mu;
    std::vector<std::string> updated ABSL_GUARDED_BY(mu);
    int sampled ABSL_GUARDED_BY(mu) = 0;
  };
  auto open = [&](bool sampling) {
    auto session = std::make_shared<Session>();
    absl::StatusOr<std::shared_ptr<Gateway>> gateway = Gateway::Create(options, {Fixture("fx", {"--instance", "one"})});
    EXPECT_THAT(gateway.status(), IsOk());
    session->gateway = *gateway;
    auto [client_side, gateway_side] = mcp::CreateMemoryTransportPair();
    EXPECT_THAT(session->gateway->Serve(std::move(gateway_side)), IsOk());
    session->client = mcp::Client::Create(std::move(client_side), {});
    Session* raw = session.get();
    if (sampling) {
      session->client->SetSamplingHandler(
          [raw](const mcp::CreateMessageParams&, mcp::Callback<mcp::CreateMessageResult> reply) {
            {
              absl::MutexLock lock(&raw->mu);
              ++raw->sampled;
            }
            mcp::CreateMessageResult r;
            r.role = mcp::Role::kAssistant;
            r.model = "test-model";
            r.content.blocks.emplace_back(mcp::Text("the model says hi"));
            std::move(reply)(std::move(r));
          });
    }
    session->client->OnResourceUpdated([raw](const std::string& uri) {
      absl::MutexLock lock(&raw->mu);
      raw->updated.push_back(uri);
    });
    EXPECT_THAT(AwaitResult<mcp::InitializeResult>(
                    [&](auto done) { session->client->Connect(std::move(done)); }, kWait)
                    .status(),
                IsOk());
    return session;
  };
  auto call = [](Session& session, const std::string& tool, const std::string& args) {
    return AwaitResult<mcp::CallToolResult>(
        [&](auto done) {
          session.client->CallTool(tool, mcp::Json::Parse(args).value(), {}, std::move(done));
        },
        kWait);
  };
  auto subscribe = [](Session& session, const std::string& uri, bool on) {
    return AwaitResult<mcp::EmptyResult>(
               [&](auto done) {
                 if (on) {
                   session.client->Subscribe(uri, std::move(done));
                 } else {
                   session.client->Unsubscribe(uri, std::move(done));
                 }
               },
               kWait)
        .status();
  };

  std::shared_ptr<Session> a = open(false);
  std::shared_ptr<Session> b = open(false);
  ASSERT_THAT(call(*a, "echo", R"({"message":"from a"})").status(), IsOk());
  ASSERT_THAT(call(*b, "echo", R"({"message":"from b"})").status(), IsOk());
  EXPECT_EQ(Running(), 1) << "two sessions without client features share one instance";
  EXPECT_EQ(shared->users(), 2u);

  std::shared_ptr<Session> c = open(true);
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult sampled,
                             call(*c, "test_sampling", R"({"prompt":"say hi"})"));
  EXPECT_THAT(TextOf(sampled), HasSubstr("the model says hi"));
  EXPECT_EQ(Running(), 2) << "a session that declared sampling has an instance of its own";
  // On the shared instance the server was told the client samples nothing.
  absl::StatusOr<mcp::CallToolResult> refused =
      call(*a, "test_sampling", R"({"prompt":"say hi"})");
  EXPECT_TRUE(!refused.ok() || refused->is_error.value_or(false));
  {
    absl::MutexLock lock(&c->mu);
    EXPECT_EQ(c->sampled, 1);
  }

  // Both hold a subscription; a's unsubscribe leaves b's in place.
  ASSERT_THAT(subscribe(*a, "test://watched-resource", true), IsOk());
  ASSERT_THAT(subscribe(*b, "test://watched-resource", true), IsOk());
  ASSERT_THAT(subscribe(*a, "test://watched-resource", false), IsOk());
  ASSERT_THAT(call(*a, "touch", R"({"uri":"test://watched-resource"})").status(), IsOk());
  absl::Time deadline = absl::Now() + kWait;
  auto updates = [](Session& s) {
    absl::MutexLock lock(&s.mu);
    return s.updated.size();
  };
  while (updates(*b) == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(updates(*b), 1u);
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(updates(*a), 0u) << "a unsubscribed";

  // The shared instance crashes; the next need restarts it, and b's subscription is renewed
  // on the new instance.
  absl::StatusOr<mcp::CallToolResult> crashed = call(*a, "crash", R"({"exit_code":3})");
  EXPECT_TRUE(!crashed.ok() || crashed->is_error.value_or(false));
  deadline = absl::Now() + kWait;
  while (updates(*b) < 2 && absl::Now() < deadline) {
    ASSERT_THAT(call(*a, "touch", R"({"uri":"test://watched-resource"})").status(), IsOk());
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(updates(*b), 2u) << "the subscription was renewed after the restart";
  EXPECT_EQ(updates(*a), 0u);

  // a's session ends: the shared instance serves b on; c's end stops c's own instance.
  a->client->Close();
  a->gateway->Shutdown();
  EXPECT_EQ(shared->users(), 1u);
  ASSERT_THAT(call(*b, "echo", R"({"message":"still here"})").status(), IsOk());
  c->client->Close();
  c->gateway->Shutdown();
  EXPECT_THAT(c->gateway->WaitStopped(absl::Now() + kWait), IsOk());
  EXPECT_EQ(Running(), 1);

  b->client->Close();
  b->gateway->Shutdown();
  shared->Shutdown();
  EXPECT_THAT(shared->WaitStopped(absl::Now() + kWait), IsOk());
  EXPECT_EQ(Running(), 0);
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
