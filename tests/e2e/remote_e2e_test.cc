// `mcpgw run` (stdio) with a remote server: the profile's only server is a libmcp Server of
// this test process served by libmcp's HttpServer; mcpgw reaches it over HTTP with the
// secret from its secret store in a header. A TCP relay in front of the remote records what
// it receives.
#include <fcntl.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/http_server.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/server.h"
#include "testing/subprocess.h"
#include "testing/tcp_relay.h"

namespace mcpgw::mcp {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "remote-e2e-token-c0ffee";

std::shared_ptr<Server> RemoteServer() {
  auto server = Server::Create({.info = {.name = "far-away", .version = "1"}});
  Tool add;
  add.name = "add";
  add.input_schema = Json::Parse(R"({"type":"object","properties":{"a":{"type":"number"},)"
                                 R"("b":{"type":"number"}},"required":["a","b"]})")
                         .value();
  absl::Status added = server->AddSyncTool(
      add, [](const Json& args, RequestContext&) -> absl::StatusOr<CallToolResult> {
        return TextResult(absl::StrCat(FindMember(args.value(), "a")->GetDouble() +
                                       FindMember(args.value(), "b")->GetDouble()));
      });
  EXPECT_TRUE(added.ok()) << added;
  Tool shout;
  shout.name = "shout";
  shout.input_schema =
      Json::Parse(R"({"type":"object","properties":{"text":{"type":"string"}}})").value();
  added = server->AddSyncTool(
      shout, [](const Json& args, RequestContext&) -> absl::StatusOr<CallToolResult> {
        const JsonValue* t = FindMember(args.value(), "text");
        return TextResult(
            absl::AsciiStrToUpper(t != nullptr && t->IsString() ? AsStringView(*t) : ""));
      });
  EXPECT_TRUE(added.ok()) << added;
  return server;
}

class RemoteRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = std::filesystem::temp_directory_path() / "mcpgw-remote-XXXXXX";
    dir_ = mkdtemp(pattern.data());
    std::filesystem::create_directory(dir_ + "/run");
    std::filesystem::permissions(dir_ + "/run", std::filesystem::perms::owner_all);
    server_ = RemoteServer();
    HttpServerOptions options;
    options.bearer_token = std::string(kToken);
    options.on_session = [server = server_](TransportPtr transport) {
      server->Serve(std::move(transport)).IgnoreError();  // a refused session ends itself
    };
    absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(std::move(options));
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = *std::move(http);
  }
  void TearDown() override {
    http_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // Runs `mcpgw run --profile <profile>` with `requests` (after initialize) piped to it; returns
  // the answers by id.
  std::map<int, Json> Run(const std::string& profile, const std::vector<std::string>& requests,
                          std::string* err = nullptr) {
    std::string input = absl::StrCat(
        R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":)"
        R"("2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})",
        "\n", R"({"jsonrpc":"2.0","method":"notifications/initialized"})", "\n");
    for (const std::string& r : requests) {
      absl::StrAppend(&input, r, "\n");
    }
    testing::ChildResult r = testing::RunProgram(
        {MCPGW_BINARY, "run", "--profile", Write("mcpgw.yaml", profile)}, input,
        {absl::StrCat("MCPGW_SECRET_REMOTE_TOKEN=", kToken),
         absl::StrCat("XDG_CONFIG_HOME=", dir_, "/config"),
         absl::StrCat("XDG_RUNTIME_DIR=", dir_, "/run"),
         "DOCKER_HOST=unix:///nonexistent/docker.sock"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (err != nullptr) {
      *err = r.err;
    }
    std::map<int, Json> answers;
    for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      absl::StatusOr<Json> message = Json::Parse(line);
      EXPECT_TRUE(message.ok()) << "not JSON on stdout: " << line;
      if (!message.ok()) {
        continue;
      }
      const JsonValue* id = FindMember(message->value(), "id");
      if (id != nullptr && id->IsInt()) {
        answers[id->GetInt()] = *std::move(message);
      }
    }
    EXPECT_EQ(answers.count(1), 1u) << r.out << r.err;
    return answers;
  }

  std::string dir_;
  std::shared_ptr<Server> server_;
  std::unique_ptr<HttpServer> http_;
};

std::string ToolText(const Json& answer) {
  const JsonValue* result = FindMember(answer.value(), "result");
  const JsonValue* content = result != nullptr ? FindMember(*result, "content") : nullptr;
  if (content == nullptr || !content->IsArray() || content->Empty()) {
    return "<no content: " + answer.Serialize() + ">";
  }
  const JsonValue* text = FindMember((*content)[0], "text");
  return text != nullptr && text->IsString() ? std::string(AsStringView(*text)) : "";
}

TEST_F(RemoteRunTest, ToolsOfARemoteServerAreListedAndCalled) {
  testing::TcpRelay relay(http_->port());
  ASSERT_NE(relay.port(), 0);
  std::string profile = absl::StrCat(R"(version: 1
servers:
  far:
    remote:
      url: "http://127.0.0.1:)",
                                     relay.port(), R"(/mcp"
      headers:
        Authorization: "Bearer {{secret.remote.token}}"
    secrets: [{name: remote.token}]
)");
  std::map<int, Json> answers = Run(
      profile,
      {R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})",
       R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":40}}})",
       R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"shout","arguments":{"text":"far"}}})"});
  ASSERT_EQ(answers.count(2), 1u);
  std::vector<std::string> names;
  const JsonValue* result = FindMember(answers[2].value(), "result");
  ASSERT_NE(result, nullptr) << answers[2].Serialize();
  for (const JsonValue& t : FindMember(*result, "tools")->GetArray()) {
    names.emplace_back(AsStringView(*FindMember(t, "name")));
  }
  EXPECT_THAT(names, ElementsAre("add", "shout"));
  EXPECT_EQ(ToolText(answers[3]), "42");
  EXPECT_EQ(ToolText(answers[4]), "FAR");
  // What went over the wire: the configured header with the secret, and one Authorization.
  std::string sent = absl::AsciiStrToLower(relay.Sent());
  EXPECT_THAT(sent, HasSubstr(absl::StrCat("authorization: bearer ", kToken)));
  // Every Authorization the remote received is the configured one.
  size_t at = 0;
  int headers = 0;
  while ((at = sent.find("\r\nauthorization:", at)) != std::string::npos) {
    at += 2;
    EXPECT_EQ(sent.substr(at, sent.find("\r\n", at) - at),
              absl::StrCat("authorization: bearer ", kToken));
    ++headers;
  }
  EXPECT_GE(headers, 3);  // initialize, tools/list, the calls
}

// A remote that refuses connections, or answers 401: the call fails with an error naming the
// server and its URL. (The catalog's tool definitions make the tools callable without a
// listing.)
TEST_F(RemoteRunTest, AnUnusableRemoteFailsTheCallNamingServerAndUrl) {
  testing::ReservedPort refusing(testing::ReservedPort::Mode::kRefuse);
  std::string refused_url = absl::StrCat("http://127.0.0.1:", refusing.port(), "/mcp");
  std::string denied_url = http_->url();
  Write("remote-catalog.yaml", absl::StrCat(R"(version: 1
servers:
  refused:
    remote: {url: ")", refused_url, R"("}
    tools: [{name: refused_add, inputSchema: {type: object}}]
  denied:
    remote:
      url: ")", denied_url, R"("
      headers: {Authorization: "Bearer not-the-token"}
    tools: [{name: denied_add, inputSchema: {type: object}}]
)"));
  std::string err;
  std::map<int, Json> answers = Run(
      "version: 1\ncatalogs: [./remote-catalog.yaml]\nservers:\n  refused: {}\n  denied: {}\n",
      {R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"refused_add","arguments":{}}})",
       R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"denied_add","arguments":{}}})"},
      &err);
  for (auto [id, server, url] : std::vector<std::tuple<int, std::string, std::string>>{
           {2, "refused", refused_url}, {3, "denied", denied_url}}) {
    ASSERT_EQ(answers.count(id), 1u) << err;
    std::string answer = answers[id].Serialize();
    EXPECT_THAT(answer, AllOf(HasSubstr(absl::StrCat("\\\"", server, "\\\"")), HasSubstr(url)))
        << server;
    EXPECT_THAT(answer, Not(HasSubstr(kToken)));
  }
}

}  // namespace
}  // namespace mcpgw::mcp
