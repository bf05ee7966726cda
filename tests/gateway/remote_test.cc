// Remote servers behind the gateway, over real HTTP: a libmcp Server served by libmcp's
// HttpServer is the remote; the gateway reaches it with the HTTP client transport
// (HttpConnector), with the headers a profile gives it (secrets expanded by
// BuildRemoteConnection). A TCP relay in front of the remote records what it receives, so
// the tests can tell that the downstream client's token never reaches it.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/gateway/gateway.h"
#include "mcpgw/gateway/profile.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/http_client.h"
#include "mcpgw/mcp/http_server.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_bind.h"
#include "mcpgw/mcp/server.h"
#include "testing/await.h"
#include "testing/status_matchers.h"
#include "testing/tcp_relay.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::AwaitResult;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::ReservedPort;
using ::mcpgw::testing::StatusIs;
using ::mcpgw::testing::TcpRelay;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(20);
constexpr char kRemoteToken[] = "remote-token-5f1c";
constexpr char kClientToken[] = "downstream-token-9a7e";

std::string TextOf(const mcp::CallToolResult& r) {
  std::string out;
  for (const auto& block : r.content) {
    if (const auto* t = std::get_if<mcp::TextContent>(&block)) {
      out += t->text;
    }
  }
  return out;
}

// The remote: a libmcp server with `add` and `shout`, served over Streamable HTTP.
std::shared_ptr<mcp::Server> RemoteServer() {
  auto server = mcp::Server::Create({.info = {.name = "remote", .version = "1"}});
  mcp::Tool add;
  add.name = "add";
  add.input_schema = mcp::Json::Parse(
                         R"({"type":"object","properties":{"a":{"type":"number"},)"
                         R"("b":{"type":"number"}},"required":["a","b"]})")
                         .value();
  EXPECT_THAT(server->AddSyncTool(
                  add,
                  [](const mcp::Json& args,
                     mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
                    double a = mcp::FindMember(args.value(), "a")->GetDouble();
                    double b = mcp::FindMember(args.value(), "b")->GetDouble();
                    return mcp::TextResult(absl::StrCat(a + b));
                  }),
              IsOk());
  mcp::Tool shout;
  shout.name = "shout";
  shout.input_schema =
      mcp::Json::Parse(R"({"type":"object","properties":{"text":{"type":"string"}}})").value();
  EXPECT_THAT(server->AddSyncTool(
                  shout,
                  [](const mcp::Json& args,
                     mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
                    const mcp::JsonValue* t = mcp::FindMember(args.value(), "text");
                    return mcp::TextResult(absl::AsciiStrToUpper(
                        t != nullptr && t->IsString() ? mcp::AsStringView(*t) : ""));
                  }),
              IsOk());
  return server;
}

std::unique_ptr<mcp::HttpServer> Serve(std::shared_ptr<mcp::Server> server,
                                       std::optional<std::string> token) {
  mcp::HttpServerOptions options;
  options.bearer_token = std::move(token);
  options.on_session = [server](mcp::TransportPtr transport) {
    server->Serve(std::move(transport)).IgnoreError();  // a refused session ends itself
  };
  absl::StatusOr<std::unique_ptr<mcp::HttpServer>> http = mcp::HttpServer::Start(std::move(options));
  EXPECT_THAT(http.status(), IsOk());
  return http.ok() ? *std::move(http) : nullptr;
}

// The resolved profile server `name` of `yaml`.
ResolvedServer Resolved(const std::string& yaml, const std::string& name) {
  absl::StatusOr<Profile> profile = ParseProfile(yaml, "mcpgw.yaml");
  EXPECT_THAT(profile.status(), IsOk());
  absl::StatusOr<ResolvedProfile> resolved =
      ResolveProfile(*profile, {.config_dir = "/nonexistent-mcpgw-config"});
  EXPECT_THAT(resolved.status(), IsOk());
  for (const ResolvedServer& s : resolved->servers) {
    if (s.name == name) {
      return s;
    }
  }
  ADD_FAILURE() << "no server " << name;
  return {};
}

// What AddProfile makes of a remote server (embed.cc), with the HTTP timeouts of a test and
// the test's own client loop.
GatewayServer FromResolved(const ResolvedServer& server, mcp::HttpClientLoop* loop,
                           absl::Duration timeout = absl::Seconds(10)) {
  auto lookup = [](absl::string_view name) -> absl::StatusOr<std::string> {
    if (name == "remote.token") {
      return std::string(kRemoteToken);
    }
    return absl::NotFoundError(name);
  };
  absl::StatusOr<RemoteConnection> remote = BuildRemoteConnection(server, server.config, lookup);
  EXPECT_THAT(remote.status(), IsOk());
  mcp::HttpClientOptions http;
  http.url = remote->url;
  http.kind = ToHttpTransportKind(remote->transport);
  http.headers = remote->headers;
  http.connect_timeout = timeout;
  http.response_timeout = timeout;
  http.loop = loop;
  GatewayServer s = RemoteGatewayServer(server.name, std::move(http));
  EXPECT_GT(s.config.start_timeout, 2 * timeout);
  EXPECT_EQ(s.remote_url, remote->url);
  if (server.definition.tools.has_value()) {
    std::vector<mcp::Json> tools;
    for (const mcp::Tool& t : *server.definition.tools) {
      tools.push_back(mcp::ToJson(t));
    }
    s.tools = std::move(tools);
  }
  return s;
}

std::string ProfileYaml(const std::string& url, const std::string& token_header) {
  return absl::StrCat(R"(version: 1
servers:
  far:
    remote:
      url: ")",
                      url, R"("
      transport: streamable
      headers:
        Authorization: ")",
                      token_header, R"("
        X-Team: platform
    secrets: [{name: remote.token}]
)");
}

class RemoteGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The test's own loop: destroying it closes every connection it keeps (descriptors).
    MCPGW_ASSERT_OK_AND_ASSIGN(loop_, mcp::HttpClientLoop::Create());
  }

  void TearDown() override {
    if (client_ != nullptr) {
      client_->Close();
    }
    downstream_.reset();
    if (gateway_ != nullptr) {
      gateway_->Shutdown();
      EXPECT_THAT(gateway_->WaitStopped(absl::Now() + kWait), IsOk());
      gateway_.reset();
    }
    client_.reset();
    loop_.reset();
  }

  // Serves `servers` to a client over Streamable HTTP with a bearer token: the downstream
  // client sends `Authorization: Bearer <kClientToken>` with every request.
  void ConnectOverHttp(std::vector<GatewayServer> servers) {
    MCPGW_ASSERT_OK_AND_ASSIGN(gateway_, Gateway::Create({}, std::move(servers)));
    mcp::HttpServerOptions options;
    options.bearer_token = std::string(kClientToken);
    options.on_session = [gateway = gateway_](mcp::TransportPtr transport) {
      gateway->Serve(std::move(transport)).IgnoreError();  // one client per gateway
    };
    MCPGW_ASSERT_OK_AND_ASSIGN(downstream_, mcp::HttpServer::Start(std::move(options)));
    MCPGW_ASSERT_OK_AND_ASSIGN(
        mcp::TransportPtr transport,
        mcp::CreateHttpClientTransport(
            {.url = downstream_->url(),
             .kind = mcp::HttpTransportKind::kStreamable,
             .headers = {{"Authorization", absl::StrCat("Bearer ", kClientToken)}},
             .loop = loop_.get()}));
    client_ = mcp::Client::Create(std::move(transport));
    absl::StatusOr<mcp::InitializeResult> init = AwaitResult<mcp::InitializeResult>(
        [&](auto done) { client_->Connect(std::move(done)); }, kWait);
    ASSERT_THAT(init.status(), IsOk());
  }

  absl::StatusOr<mcp::CallToolResult> Call(const std::string& tool, const std::string& args) {
    return AwaitResult<mcp::CallToolResult>(
        [&](auto done) {
          client_->CallTool(tool, mcp::Json::Parse(args).value(), {}, std::move(done));
        },
        kWait);
  }

  std::unique_ptr<mcp::HttpClientLoop> loop_;
  std::shared_ptr<Gateway> gateway_;
  std::unique_ptr<mcp::HttpServer> downstream_;
  std::shared_ptr<mcp::Client> client_;
};

TEST_F(RemoteGatewayTest, ListsAndCallsARemoteServerWithOnlyItsOwnHeaders) {
  std::unique_ptr<mcp::HttpServer> remote = Serve(RemoteServer(), std::string(kRemoteToken));
  ASSERT_NE(remote, nullptr);
  TcpRelay relay(remote->port());
  ASSERT_NE(relay.port(), 0);
  std::string url = absl::StrCat("http://127.0.0.1:", relay.port(), "/mcp");
  ConnectOverHttp({FromResolved(
      Resolved(ProfileYaml(url, "Bearer {{secret.remote.token}}"), "far"), loop_.get())});

  absl::StatusOr<std::vector<mcp::Tool>> tools = AwaitResult<std::vector<mcp::Tool>>(
      [&](auto done) { client_->ListTools(std::move(done)); }, kWait);
  ASSERT_THAT(tools.status(), IsOk());
  std::vector<std::string> names;
  for (const mcp::Tool& t : *tools) {
    names.push_back(t.name);
  }
  EXPECT_THAT(names, ElementsAre("add", "shout"));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult sum, Call("add", R"({"a":2,"b":40})"));
  EXPECT_FALSE(sum.is_error);
  EXPECT_EQ(TextOf(sum), "42");
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult loud, Call("shout", R"({"text":"hi"})"));
  EXPECT_EQ(TextOf(loud), "HI");

  std::vector<ServerStatus> statuses = gateway_->ServerStatuses();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].kind, "remote");
  EXPECT_EQ(statuses[0].state, UpstreamState::kReady);

  // The remote got its configured headers (with the secret expanded), and nothing of the
  // downstream client's: its token went to the gateway only.
  std::string sent = absl::AsciiStrToLower(relay.Sent());
  EXPECT_GE(relay.connections(), 1);
  EXPECT_THAT(sent, HasSubstr(absl::StrCat("authorization: bearer ", kRemoteToken)));
  EXPECT_THAT(sent, HasSubstr("x-team: platform"));
  EXPECT_THAT(sent, Not(HasSubstr(kClientToken)));
  EXPECT_THAT(sent, HasSubstr("\"method\":\"tools/call\""));
}

// A remote that cannot be used fails the call with an error naming the server and its URL.
TEST_F(RemoteGatewayTest, FailuresNameTheServerAndUrl) {
  std::unique_ptr<mcp::HttpServer> remote = Serve(RemoteServer(), std::string(kRemoteToken));
  ASSERT_NE(remote, nullptr);
  ReservedPort refusing(ReservedPort::Mode::kRefuse);
  ReservedPort hanging(ReservedPort::Mode::kHang);
  auto server = [&](const std::string& name, const std::string& url,
                    const std::string& header) {
    // Through a catalog: its tool definitions make the tool callable before any connection.
    std::string catalog = absl::StrCat(
        "version: 1\nservers:\n  ", name, ":\n    remote:\n      url: \"", url,
        "\"\n      headers: {Authorization: \"", header,
        "\"}\n    secrets: [{name: remote.token}]\n    tools: [{name: ", name,
        "_add, inputSchema: {type: object}}]\n");
    absl::StatusOr<Catalog> c = ParseCatalog(catalog, "team.yaml");
    EXPECT_THAT(c.status(), IsOk());
    ResolvedServer r;
    r.name = name;
    r.definition = *c->Find(name);
    return FromResolved(r, loop_.get(), absl::Seconds(2));
  };
  std::string refused_url = absl::StrCat("http://127.0.0.1:", refusing.port(), "/mcp");
  std::string hung_url = absl::StrCat("http://127.0.0.1:", hanging.port(), "/mcp");
  std::string wrong_url = remote->url();
  std::vector<GatewayServer> servers;
  servers.push_back(server("refused", refused_url, "Bearer {{secret.remote.token}}"));
  servers.push_back(server("hung", hung_url, "Bearer {{secret.remote.token}}"));
  servers.push_back(server("denied", wrong_url, "Bearer wrong-token"));
  ConnectOverHttp(std::move(servers));

  struct Case {
    std::string tool;
    std::string server;
    std::string url;
  };
  for (const Case& c : std::vector<Case>{{"refused_add", "refused", refused_url},
                                         {"hung_add", "hung", hung_url},
                                         {"denied_add", "denied", wrong_url}}) {
    absl::StatusOr<mcp::CallToolResult> r = Call(c.tool, "{}");
    std::string message = r.ok() ? TextOf(*r) : std::string(r.status().message());
    EXPECT_TRUE(!r.ok() || r->is_error) << c.tool;
    EXPECT_THAT(message, AllOf(HasSubstr(absl::StrCat("\"", c.server, "\"")), HasSubstr(c.url)))
        << c.tool;
    SCOPED_TRACE(message);
  }
}

}  // namespace
}  // namespace mcpgw::gateway
