// In-process servers behind the gateway, enabling and disabling servers, the built-in `mcpgw`
// server and EmbeddedGateway: a libmcp Client talks to a Gateway over an in-memory transport;
// behind it run libmcp Servers of this process, the built-in server, and a real
// mcp-fixture-server process started by ProcessRuntime.
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
#include "mcpgw/gateway/builtin_server.h"
#include "mcpgw/gateway/embed.h"
#include "mcpgw/gateway/gateway.h"
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
  EXPECT_THAT(
      server->AddSyncTool(SimpleTool(name + "_tool"),
                          [name](const mcp::Json& args,
                                 mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
                            return mcp::TextResult(name + ": " + TextArg(args));
                          }),
      IsOk());
  EXPECT_THAT(
      server->AddSyncTool(SimpleTool("echo"),
                          [name](const mcp::Json& args,
                                 mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
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
    absl::StatusOr<Upstream::Lease> lease =
        AwaitResult<Upstream::Lease>([&](auto done) { up->Acquire(std::move(done)); }, kWait);
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
  EXPECT_THAT(lease.status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no such server here")));
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
    MCPGW_ASSERT_OK_AND_ASSIGN(Catalog catalog, DefaultCatalog());
    catalogs_.push_back(std::move(catalog));
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

  GatewayServer Builtin() {
    absl::StatusOr<std::shared_ptr<BuiltinServer>> builtin =
        BuiltinServer::Create({.catalogs = catalogs_});
    EXPECT_THAT(builtin.status(), IsOk());
    builtin_ = *builtin;
    GatewayServer s;
    s.config.name = "mcpgw";
    s.server = builtin_->server();
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
    if (builtin_ != nullptr) {
      builtin_->Bind(gateway_, "mcpgw");
    }
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

  // The structured servers[] of list_servers, as name → that server's object.
  const mcp::JsonValue* ServerIn(const mcp::CallToolResult& r, absl::string_view name) {
    if (!r.structured_content.has_value()) {
      return nullptr;
    }
    const mcp::JsonValue* servers = mcp::FindMember(r.structured_content->value(), "servers");
    if (servers == nullptr || !servers->IsArray()) {
      return nullptr;
    }
    for (const mcp::JsonValue& s : servers->GetArray()) {
      const mcp::JsonValue* n = mcp::FindMember(s, "name");
      if (n != nullptr && n->IsString() && mcp::AsStringView(*n) == name) {
        return &s;
      }
    }
    return nullptr;
  }

  static std::string Member(const mcp::JsonValue* v, absl::string_view key) {
    const mcp::JsonValue* m = v != nullptr ? mcp::FindMember(*v, key) : nullptr;
    return m == nullptr ? "<missing>" : mcp::SerializeJson(*m);
  }

  std::unique_ptr<container::ProcessRuntime> runtime_;
  std::vector<Catalog> catalogs_;
  std::shared_ptr<BuiltinServer> builtin_;
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

// A repeated listing is answered with the gateway's last merge while nothing it is made of
// changed; each change — a server's own list, a name clash appearing and going, a server
// disabled and enabled — makes it stale. Each state is listed three times: the first may merge
// afresh (what it fetches changes the generation), the next ones are answered from the merge.
TEST_F(InProcessGatewayTest, ARepeatedListingStandsOnlyUntilWhatItIsMadeOfChanges) {
  GatewayServer calc = InProcess("calc");
  GatewayServer text = InProcess("text");
  std::shared_ptr<mcp::Server> calc_server = calc.server;
  std::shared_ptr<mcp::Server> text_server = text.server;
  std::vector<GatewayServer> servers;
  servers.push_back(std::move(calc));
  servers.push_back(std::move(text));
  Connect(std::move(servers));
  auto listed_thrice = [this](const auto& matcher) {
    for (int i = 0; i < 3; ++i) {
      EXPECT_THAT(ToolNames(), matcher) << "listing " << i + 1;
    }
  };
  auto add = [](mcp::Server& server, const std::string& tool, const std::string& who) {
    return server.AddSyncTool(
        SimpleTool(tool),
        [who](const mcp::Json& args, mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
          return mcp::TextResult(who + " new: " + TextArg(args));
        });
  };
  listed_thrice(UnorderedElementsAre("calc_tool", "calc__echo", "text_tool", "text__echo"));

  int changed = tools_changed_.Get();
  ASSERT_THAT(add(*calc_server, "fresh", "calc"), IsOk());
  ASSERT_TRUE(tools_changed_.WaitFor(changed + 1));
  listed_thrice(
      UnorderedElementsAre("calc_tool", "calc__echo", "text_tool", "text__echo", "fresh"));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("fresh", R"({"text":"a"})"));
  EXPECT_EQ(TextOf(r), "calc new: a");

  changed = tools_changed_.Get();
  ASSERT_THAT(add(*text_server, "fresh", "text"), IsOk());
  ASSERT_TRUE(tools_changed_.WaitFor(changed + 1));
  listed_thrice(UnorderedElementsAre("calc_tool", "calc__echo", "text_tool", "text__echo",
                                    "calc__fresh", "text__fresh"));
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("text__fresh", R"({"text":"b"})"));
  EXPECT_EQ(TextOf(r), "text new: b");

  changed = tools_changed_.Get();
  ASSERT_TRUE(text_server->RemoveTool("fresh"));
  ASSERT_TRUE(tools_changed_.WaitFor(changed + 1));
  listed_thrice(
      UnorderedElementsAre("calc_tool", "calc__echo", "text_tool", "text__echo", "fresh"));

  ASSERT_THAT(gateway_->SetServerEnabled("text", false), IsOk());
  listed_thrice(UnorderedElementsAre("calc_tool", "echo", "fresh"));
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("echo", R"({"text":"c"})"));
  EXPECT_EQ(TextOf(r), "calc echoes c");

  ASSERT_THAT(gateway_->SetServerEnabled("text", true), IsOk());
  listed_thrice(
      UnorderedElementsAre("calc_tool", "calc__echo", "text_tool", "text__echo", "fresh"));
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("text__echo", R"({"text":"d"})"));
  EXPECT_EQ(TextOf(r), "text echoes d");
}

// The built-in server among the others.
class BuiltinServerTest : public InProcessGatewayTest {};

TEST_F(BuiltinServerTest, ListsServersWithKindStateAndTools) {
  std::vector<GatewayServer> servers;
  servers.push_back(Builtin());
  servers.push_back(Fixture("fx"));
  servers.push_back(InProcess("mem"));
  Connect(std::move(servers));
  std::vector<std::string> names = ToolNames();
  for (const char* tool : {"list_servers", "enable_server", "disable_server", "search_catalog",
                           "mem_tool", "mem__echo", "fx__echo"}) {
    EXPECT_THAT(names, Contains(tool));
  }
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("list_servers", "{}"));
  EXPECT_FALSE(r.is_error.value_or(false)) << TextOf(r);
  const mcp::JsonValue* fx = ServerIn(r, "fx");
  ASSERT_NE(fx, nullptr) << TextOf(r);
  EXPECT_EQ(Member(fx, "kind"), R"("process")");
  EXPECT_EQ(Member(fx, "mode"), R"("on-demand")");
  EXPECT_EQ(Member(fx, "enabled"), "true");
  EXPECT_EQ(Member(fx, "state"), R"("ready")");
  EXPECT_NE(Member(fx, "tools"), "<missing>");
  EXPECT_EQ(Member(ServerIn(r, "mem"), "kind"), R"("in-process")");
  EXPECT_EQ(Member(ServerIn(r, "mem"), "tools"), "2");
  EXPECT_EQ(Member(ServerIn(r, "mcpgw"), "tools"), "4");
  EXPECT_THAT(TextOf(r), HasSubstr("mem: in-process, on-demand, enabled, ready, 2 tools"));
}

TEST_F(BuiltinServerTest, DisablingAServerStopsItHidesItsToolsAndTellsTheClient) {
  std::vector<GatewayServer> servers;
  servers.push_back(Builtin());
  servers.push_back(Fixture("fx"));
  Connect(std::move(servers));
  ASSERT_THAT(ToolNames(), Contains("echo"));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("echo", R"({"message":"before"})"));
  EXPECT_EQ(TextOf(r), "Echo: before");
  EXPECT_EQ(Running(), 1);
  int tools_before = tools_changed_.Get();
  int prompts_before = prompts_changed_.Get();

  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("disable_server", R"({"name":"fx"})"));
  EXPECT_FALSE(r.is_error.value_or(false)) << TextOf(r);
  ASSERT_TRUE(r.structured_content.has_value());
  EXPECT_EQ(Member(&r.structured_content->value(), "enabled"), "false");
  EXPECT_EQ(Member(&r.structured_content->value(), "state"), R"("stopped")");
  EXPECT_TRUE(tools_changed_.WaitFor(tools_before + 1)) << "tools/list_changed reached the client";
  // The fixture has prompts (it has not listed them yet here: unknown, so the client is told).
  EXPECT_TRUE(prompts_changed_.WaitFor(prompts_before + 1));
  absl::Time deadline = absl::Now() + kWait;
  while (Running() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Running(), 0) << "disabling stopped the server";
  // Its upstream refuses every need: a request that raced past the enabled check cannot start
  // it.
  std::vector<std::shared_ptr<Upstream>> ups = gateway_->upstreams();
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_THAT(AwaitResult<Upstream::Lease>([&](auto done) { ups[1]->Acquire(std::move(done)); },
                                           kWait)
                  .status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  std::vector<std::string> names = ToolNames();
  EXPECT_THAT(names, Not(Contains("echo")));
  EXPECT_THAT(names, Contains("list_servers"));
  absl::Status refused = Call("echo", R"({"message":"after"})").status();
  EXPECT_EQ(mcp::JsonRpcCodeOf(refused), mcp::error_code::kInvalidParams) << refused;
  EXPECT_EQ(Running(), 0) << "a call to a disabled server does not start it";
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("list_servers", "{}"));
  EXPECT_EQ(Member(ServerIn(r, "fx"), "enabled"), "false");
  EXPECT_THAT(TextOf(r), HasSubstr("fx: process, on-demand, disabled, stopped"));
  // Disabling again changes nothing and tells nothing.
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("disable_server", R"({"name":"fx"})"));
  EXPECT_FALSE(r.is_error.value_or(false));

  int tools_disabled = tools_changed_.Get();
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("enable_server", R"({"name":"fx"})"));
  EXPECT_FALSE(r.is_error.value_or(false)) << TextOf(r);
  EXPECT_EQ(Member(&r.structured_content->value(), "enabled"), "true");
  EXPECT_TRUE(tools_changed_.WaitFor(tools_disabled + 1));
  EXPECT_THAT(ToolNames(), Contains("echo"));
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("echo", R"({"message":"again"})"));
  EXPECT_EQ(TextOf(r), "Echo: again");
}

TEST_F(BuiltinServerTest, RefusesToDisableItselfAndNamesUnknownServers) {
  std::vector<GatewayServer> servers;
  servers.push_back(Builtin());
  servers.push_back(InProcess("mem"));
  Connect(std::move(servers));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("disable_server", R"({"name":"mcpgw"})"));
  EXPECT_TRUE(r.is_error.value_or(false));
  EXPECT_THAT(TextOf(r), HasSubstr("nothing could enable a server again"));
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("enable_server", R"({"name":"nope"})"));
  EXPECT_TRUE(r.is_error.value_or(false));
  EXPECT_THAT(TextOf(r), HasSubstr("no server 'nope' in this gateway; its servers: mcpgw, mem"));
  // In the catalog, not in the gateway: the error says how to get it.
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("enable_server", R"({"name":"time"})"));
  EXPECT_TRUE(r.is_error.value_or(false));
  EXPECT_THAT(TextOf(r), HasSubstr("'time' is in catalog 'default'"));
  // A schema mismatch is a tool error too.
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("enable_server", "{}"));
  EXPECT_TRUE(r.is_error.value_or(false));
}

TEST_F(BuiltinServerTest, SearchesTheCatalogsByKeywordRanked) {
  std::vector<GatewayServer> servers;
  servers.push_back(Builtin());
  Connect(std::move(servers));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r,
                             Call("search_catalog", R"({"query":"TIME zone"})"));
  ASSERT_TRUE(r.structured_content.has_value()) << TextOf(r);
  const mcp::JsonValue* found = mcp::FindMember(r.structured_content->value(), "servers");
  ASSERT_NE(found, nullptr);
  ASSERT_TRUE(found->IsArray());
  ASSERT_EQ(found->Size(), 1u) << TextOf(r);
  EXPECT_EQ(Member(&(*found)[0], "name"), R"("time")");
  EXPECT_EQ(Member(&(*found)[0], "in_gateway"), "false");
  EXPECT_THAT(TextOf(r), HasSubstr("time (catalog default, Time)"));

  // The name counts most: "fetch" ranks the fetch server (name) before any mention.
  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("search_catalog", R"({"query":"mcpgw"})"));
  found = mcp::FindMember(r.structured_content->value(), "servers");
  ASSERT_NE(found, nullptr);
  ASSERT_GE(found->Size(), 1u);
  EXPECT_EQ(Member(&(*found)[0], "name"), R"("mcpgw")");
  EXPECT_EQ(Member(&(*found)[0], "in_gateway"), "true");

  MCPGW_ASSERT_OK_AND_ASSIGN(r, Call("search_catalog", R"({"query":"no-such-thing"})"));
  EXPECT_THAT(TextOf(r), HasSubstr("no catalog server matches 'no-such-thing'"));
}

TEST(SearchCatalogs, RanksNameThenTitleThenDescription) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Catalog catalog, ParseCatalog(R"yaml(
version: 1
servers:
  notes:
    description: keeps a diary
    command: [/bin/true]
  diary:
    description: a journal
    command: [/bin/true]
  journal:
    title: The diary keeper
    command: [/bin/true]
)yaml",
                                                           "t.yaml"));
  std::vector<Catalog> catalogs = {catalog};
  std::vector<std::string> order;
  for (const CatalogMatch& m : SearchCatalogs(catalogs, "Diary", 10)) {
    order.push_back(m.server->name);
  }
  EXPECT_THAT(order, ElementsAre("diary", "journal", "notes"));
  EXPECT_EQ(SearchCatalogs(catalogs, "", 2).size(), 2u);
  EXPECT_TRUE(SearchCatalogs(catalogs, "diary zebra", 10).empty());
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

// --- EmbeddedGateway ------------------------------------------------------------------------

TEST(EmbeddedGatewayTest, ConnectsAClientToInProcessServersAndTheBuiltinOne) {
  MCPGW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<EmbeddedGateway> host, EmbeddedGateway::Create());
  ASSERT_THAT(host->AddServer("calc", InProcessServer("calc")), IsOk());
  ASSERT_THAT(host->AddBuiltinServer(), IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(std::shared_ptr<mcp::Client> client, host->ConnectClient());
  ASSERT_THAT(AwaitResult<mcp::InitializeResult>(
                  [&](auto done) { client->Connect(std::move(done)); }, kWait)
                  .status(),
              IsOk());
  EXPECT_THAT(host->ConnectClient().status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(host->AddServer("late", InProcessServer("late")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json args, mcp::Json::Parse("{}"));
  absl::StatusOr<mcp::CallToolResult> r = AwaitResult<mcp::CallToolResult>(
      [&](auto done) { client->CallTool("list_servers", std::move(args), {}, std::move(done)); },
      kWait);
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_THAT(TextOf(*r), HasSubstr("calc: in-process"));
  EXPECT_THAT(TextOf(*r), HasSubstr("mcpgw: in-process"));
  client->Close();
}

}  // namespace
}  // namespace mcpgw::gateway
