// The typed Server and Client against each other, in process over the in-memory transport.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/memory_transport.h"
#include "mcpgw/mcp/server.h"
#include "testing/await.h"
#include "testing/raw_peer.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::AwaitResult;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::RawPeer;
using ::mcpgw::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

Json MustParse(absl::string_view text) {
  absl::StatusOr<Json> j = Json::Parse(text);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *std::move(j) : Json();
}

Tool MakeTool(std::string name, absl::string_view schema) {
  Tool t;
  t.name = std::move(name);
  t.description = "a test tool";
  t.input_schema = MustParse(schema);
  return t;
}

std::string TextOf(const CallToolResult& r) {
  std::string out;
  for (const ContentBlock& b : r.content) {
    if (const auto* t = std::get_if<TextContent>(&b)) {
      out += t->text;
    }
  }
  return out;
}

class ServerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.info = Implementation{.name = "test-server", .version = "1.2.3"};
    options.instructions = "use the tools";
    options.page_size = page_size_;
    options.session.executor = &pool_;
    server_ = Server::Create(std::move(options));
    ASSERT_THAT(server_->AddSyncTool(
                    MakeTool("add", R"({"type":"object","properties":{"a":{"type":"number"},)"
                                    R"("b":{"type":"number"}},"required":["a","b"]})"),
                    [](const Json& args, RequestContext&) -> absl::StatusOr<CallToolResult> {
                      double sum = args.value()["a"].GetDouble() + args.value()["b"].GetDouble();
                      CallToolResult r = TextResult(std::to_string(static_cast<int>(sum)));
                      r.structured_content = Json::Object();
                      r.structured_content->Set("sum", JsonNumber(sum));
                      return r;
                    }),
                IsOk());
    ASSERT_THAT(server_->AddSyncTool(MakeTool("fail", R"({"type":"object"})"),
                                     [](const Json&, RequestContext&)
                                         -> absl::StatusOr<CallToolResult> {
                                       return absl::UnavailableError("the backend is down");
                                     }),
                IsOk());
    ASSERT_THAT(server_->AddSyncTool(MakeTool("protocol_fail", R"({"type":"object"})"),
                                     [](const Json&, RequestContext&)
                                         -> absl::StatusOr<CallToolResult> {
                                       return JsonRpcErrorStatus(-32099, "custom protocol error");
                                     }),
                IsOk());
    Resource readme;
    readme.uri = "file:///readme.md";
    readme.name = "readme";
    readme.mime_type = "text/markdown";
    ASSERT_THAT(server_->AddResource(readme,
                                     [](const std::string& uri,
                                        const std::map<std::string, std::string>&, RequestContext,
                                        Reply<ReadResourceResult> reply) {
                                       ReadResourceResult r;
                                       ResourceContents c;
                                       c.uri = uri;
                                       c.text = "# hello";
                                       r.contents.push_back(c);
                                       std::move(reply)(r);
                                     }),
                IsOk());
    ResourceTemplate user;
    user.uri_template = "users://{id}/profile";
    user.name = "user profile";
    ASSERT_THAT(server_->AddResourceTemplate(
                    user,
                    [](const std::string& uri, const std::map<std::string, std::string>& vars,
                       RequestContext, Reply<ReadResourceResult> reply) {
                      ReadResourceResult r;
                      ResourceContents c;
                      c.uri = uri;
                      c.text = "user " + vars.at("id");
                      r.contents.push_back(c);
                      std::move(reply)(r);
                    }),
                IsOk());
    Prompt greet;
    greet.name = "greet";
    greet.arguments = std::vector<PromptArgument>{PromptArgument{.name = "who", .required = true}};
    ASSERT_THAT(server_->AddPrompt(greet,
                                   [](const std::map<std::string, std::string>& args,
                                      RequestContext, Reply<GetPromptResult> reply) {
                                     GetPromptResult r;
                                     PromptMessage m;
                                     m.role = Role::kUser;
                                     m.content = Text("hello " + args.at("who"));
                                     r.messages.push_back(std::move(m));
                                     std::move(reply)(r);
                                   }),
                IsOk());
    server_->SetCompletionHandler(
        [](const CompleteParams& p, RequestContext, Reply<CompleteResult> reply) {
          CompleteResult r;
          for (const char* v : {"alice", "albert", "bob"}) {
            if (absl::StartsWith(v, p.argument.value)) {
              r.completion.values.push_back(v);
            }
          }
          std::move(reply)(r);
        });
  }

  void TearDown() override {
    if (client_ != nullptr) {
      client_->Close();
    }
  }

  // Connects a client (offering `version`) through an in-memory pair.
  absl::StatusOr<InitializeResult> Connect(ProtocolVersion version = kLatestProtocolVersion,
                                           std::function<void(Client&)> before = nullptr) {
    auto [a, b] = CreateMemoryTransportPair();
    absl::StatusOr<std::shared_ptr<ServerSession>> served = server_->Serve(std::move(a));
    if (!served.ok()) {
      return served.status();
    }
    server_session_ = *served;
    ClientOptions options;
    options.protocol_version = version;
    options.session.executor = &pool_;
    client_ = Client::Create(std::move(b), options);
    if (before) {
      before(*client_);
    }
    return AwaitResult<InitializeResult>([&](auto done) { client_->Connect(std::move(done)); });
  }

  absl::StatusOr<CallToolResult> Call(absl::string_view name, absl::string_view args,
                                      CallOptions options = {}) {
    return AwaitResult<CallToolResult>([&](auto done) {
      client_->CallTool(name, MustParse(args), std::move(options), std::move(done));
    });
  }

  size_t page_size_ = 0;
  // Handlers run here; declared first so it is destroyed last: its destructor waits for
  // handlers still running, so none outlives the test (and the process's static objects).
  base::ThreadPool pool_;
  std::shared_ptr<Server> server_;
  std::shared_ptr<ServerSession> server_session_;
  std::shared_ptr<Client> client_;
};

TEST_F(ServerClientTest, InitializeNegotiatesAndDerivesCapabilities) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InitializeResult init, Connect());
  EXPECT_EQ(init.protocol_version, "2025-11-25");
  EXPECT_EQ(init.server_info.name, "test-server");
  EXPECT_EQ(init.instructions, "use the tools");
  EXPECT_TRUE(init.capabilities.tools.has_value());
  EXPECT_TRUE(init.capabilities.prompts.has_value());
  ASSERT_TRUE(init.capabilities.resources.has_value());
  EXPECT_EQ(init.capabilities.resources->subscribe, true);
  EXPECT_TRUE(init.capabilities.completions.has_value());
  EXPECT_TRUE(init.capabilities.logging.has_value());
  EXPECT_EQ(client_->protocol_version(), ProtocolVersion::k2025_11_25);
  EXPECT_TRUE(server_session_->initialized());
}

TEST_F(ServerClientTest, OlderRevisionsAreEchoedAndDownLevelled) {
  for (ProtocolVersion v : kSupportedProtocolVersions) {
    MCPGW_ASSERT_OK_AND_ASSIGN(InitializeResult init, Connect(v));
    EXPECT_EQ(init.protocol_version, ToString(v));
    EXPECT_EQ(init.capabilities.completions.has_value(),
              Supports(v, Feature::kCompletionsCapability));
    EXPECT_EQ(init.instructions.has_value(), Supports(v, Feature::kInstructions));
    client_->Close();
  }
}

TEST_F(ServerClientTest, OlderClientsGetOnlyWhatTheirRevisionDefines) {
  Tool rich = MakeTool("rich", R"({"type":"object"})");
  rich.title = "Rich tool";
  rich.output_schema = MustParse(R"({"type":"object"})");
  rich.icons = std::vector<Icon>{Icon{.src = "https://example.com/i.png"}};
  rich.annotations = ToolAnnotations{};
  rich.annotations->read_only_hint = true;
  ASSERT_THAT(server_->AddSyncTool(rich, [](const Json&, RequestContext&)
                                             -> absl::StatusOr<CallToolResult> {
                CallToolResult r = TextResult("text");
                r.structured_content = MustParse(R"({"k":1})");
                ResourceLink link;
                link.uri = "file:///a.txt";
                link.name = "a";
                r.content.emplace_back(link);
                AudioContent audio;
                audio.data = "AAAA";
                audio.mime_type = "audio/wav";
                r.content.emplace_back(audio);
                return r;
              }),
              IsOk());
  auto rich_tool = [&]() -> Tool {
    auto tools = AwaitResult<std::vector<Tool>>([&](auto d) { client_->ListTools(std::move(d)); });
    EXPECT_THAT(tools, IsOk());
    for (const Tool& t : *tools) {
      if (t.name == "rich") {
        return t;
      }
    }
    return Tool{};
  };
  ASSERT_THAT(Connect(ProtocolVersion::k2024_11_05), IsOk());
  Tool old_view = rich_tool();
  EXPECT_FALSE(old_view.title.has_value());
  EXPECT_FALSE(old_view.output_schema.has_value());
  EXPECT_FALSE(old_view.icons.has_value());
  EXPECT_FALSE(old_view.annotations.has_value());
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult old_result, Call("rich", "{}"));
  EXPECT_FALSE(old_result.structured_content.has_value());
  ASSERT_THAT(old_result.content, SizeIs(3));
  EXPECT_EQ(std::get<TextContent>(old_result.content[1]).text, "Resource: file:///a.txt");
  EXPECT_THAT(std::get<TextContent>(old_result.content[2]).text, HasSubstr("audio/wav"));
  client_->Close();

  ASSERT_THAT(Connect(ProtocolVersion::k2025_06_18), IsOk());
  Tool mid_view = rich_tool();
  EXPECT_TRUE(mid_view.title.has_value());
  EXPECT_TRUE(mid_view.output_schema.has_value());
  EXPECT_FALSE(mid_view.icons.has_value());
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult mid_result, Call("rich", "{}"));
  EXPECT_TRUE(mid_result.structured_content.has_value());
  EXPECT_TRUE(std::holds_alternative<ResourceLink>(mid_result.content[1]));
  EXPECT_TRUE(std::holds_alternative<AudioContent>(mid_result.content[2]));
  client_->Close();

  ASSERT_THAT(Connect(), IsOk());
  EXPECT_TRUE(rich_tool().icons.has_value());
}

TEST_F(ServerClientTest, UnknownRevisionGetsTheLatest) {
  auto [a, b] = CreateMemoryTransportPair();
  ASSERT_THAT(server_->Serve(std::move(a)), IsOk());
  RawPeer peer(std::move(b));
  ASSERT_THAT(peer.Send(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":)"
                        R"({"protocolVersion":"2099-01-01","capabilities":{},)"
                        R"("clientInfo":{"name":"x","version":"1"}}})"),
              IsOk());
  ASSERT_TRUE(peer.WaitForFrames(1));
  EXPECT_THAT(peer.frames()[0], HasSubstr(R"("protocolVersion":"2025-11-25")"));
}

TEST_F(ServerClientTest, RequestsBeforeInitializeAreRefused) {
  auto [a, b] = CreateMemoryTransportPair();
  ASSERT_THAT(server_->Serve(std::move(a)), IsOk());
  RawPeer peer(std::move(b));
  ASSERT_THAT(peer.Send(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"), IsOk());
  ASSERT_TRUE(peer.WaitForFrames(1));
  EXPECT_THAT(peer.frames()[0], HasSubstr("send initialize first"));
}

TEST_F(ServerClientTest, ToolsListAndCall) {
  ASSERT_THAT(Connect(), IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<Tool> tools,
                             AwaitResult<std::vector<Tool>>(
                                 [&](auto done) { client_->ListTools(std::move(done)); }));
  ASSERT_THAT(tools, SizeIs(3));
  EXPECT_EQ(tools[0].name, "add");
  EXPECT_EQ(tools[0].input_schema.Serialize(),
            R"({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]})");
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult r, Call("add", R"({"a":2,"b":3})"));
  EXPECT_EQ(TextOf(r), "5");
  EXPECT_FALSE(r.is_error.value_or(false));
  EXPECT_EQ(r.structured_content->Serialize(), R"({"sum":5})");
}

TEST_F(ServerClientTest, ToolErrorsAndProtocolErrorsAreNeverConfused) {
  ASSERT_THAT(Connect(), IsOk());
  // A failing tool: a result with isError, its message readable by the model.
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult failed, Call("fail", "{}"));
  EXPECT_TRUE(failed.is_error.value_or(false));
  EXPECT_EQ(TextOf(failed), "the backend is down");
  // Input that does not match the schema: a tool error naming the problem.
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult invalid, Call("add", R"({"a":"two"})"));
  EXPECT_TRUE(invalid.is_error.value_or(false));
  EXPECT_THAT(TextOf(invalid), HasSubstr("Invalid arguments for tool add"));
  EXPECT_THAT(TextOf(invalid), HasSubstr("arguments.a"));
  EXPECT_THAT(TextOf(invalid), HasSubstr("arguments.b"));
  // Unknown tool: a protocol error.
  absl::StatusOr<CallToolResult> unknown = Call("nope", "{}");
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Unknown tool: nope")));
  EXPECT_EQ(JsonRpcCodeOf(unknown.status()), -32602);
  // A tool asking for a protocol error gets exactly that.
  absl::StatusOr<CallToolResult> custom = Call("protocol_fail", "{}");
  EXPECT_EQ(JsonRpcCodeOf(custom.status()), -32099);
}

TEST_F(ServerClientTest, ResourcesTemplatesAndNotFound) {
  ASSERT_THAT(Connect(), IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(auto resources,
                             AwaitResult<std::vector<Resource>>(
                                 [&](auto done) { client_->ListResources(std::move(done)); }));
  ASSERT_THAT(resources, SizeIs(1));
  EXPECT_EQ(resources[0].mime_type, "text/markdown");
  MCPGW_ASSERT_OK_AND_ASSIGN(auto templates, AwaitResult<std::vector<ResourceTemplate>>(
                                                 [&](auto done) {
                                                   client_->ListResourceTemplates(std::move(done));
                                                 }));
  ASSERT_THAT(templates, SizeIs(1));
  MCPGW_ASSERT_OK_AND_ASSIGN(ReadResourceResult readme,
                             AwaitResult<ReadResourceResult>([&](auto done) {
                               client_->ReadResource("file:///readme.md", std::move(done));
                             }));
  EXPECT_EQ(readme.contents[0].text, "# hello");
  MCPGW_ASSERT_OK_AND_ASSIGN(ReadResourceResult user,
                             AwaitResult<ReadResourceResult>([&](auto done) {
                               client_->ReadResource("users://42/profile", std::move(done));
                             }));
  EXPECT_EQ(user.contents[0].text, "user 42");
  EXPECT_EQ(user.contents[0].uri, "users://42/profile");
  absl::StatusOr<ReadResourceResult> missing = AwaitResult<ReadResourceResult>(
      [&](auto done) { client_->ReadResource("users://42/x/profile", std::move(done)); });
  EXPECT_EQ(JsonRpcCodeOf(missing.status()), -32002);
}

TEST_F(ServerClientTest, SubscriptionsReceiveUpdates) {
  absl::Mutex mu;
  std::vector<std::string> updates;
  ASSERT_THAT(Connect(kLatestProtocolVersion,
                      [&](Client& c) {
                        c.OnResourceUpdated([&](const std::string& uri) {
                          absl::MutexLock lock(&mu);
                          updates.push_back(uri);
                        });
                      }),
              IsOk());
  ASSERT_THAT(AwaitResult<EmptyResult>(
                  [&](auto done) { client_->Subscribe("file:///readme.md", std::move(done)); }),
              IsOk());
  EXPECT_THAT(server_session_->subscriptions(), ElementsAre("file:///readme.md"));
  server_->NotifyResourceUpdated("file:///readme.md");
  server_->NotifyResourceUpdated("file:///other");
  ASSERT_THAT(AwaitResult<EmptyResult>(
                  [&](auto done) { client_->Unsubscribe("file:///readme.md", std::move(done)); }),
              IsOk());
  server_->NotifyResourceUpdated("file:///readme.md");
  ASSERT_THAT(AwaitResult<EmptyResult>([&](auto done) { client_->Ping(std::move(done)); }),
              IsOk());  // everything sent before the ping has arrived
  absl::MutexLock lock(&mu);
  EXPECT_THAT(updates, ElementsAre("file:///readme.md"));
}

TEST_F(ServerClientTest, PromptsWithRequiredArguments) {
  ASSERT_THAT(Connect(), IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(auto prompts, AwaitResult<std::vector<Prompt>>([&](auto done) {
                               client_->ListPrompts(std::move(done));
                             }));
  ASSERT_THAT(prompts, SizeIs(1));
  MCPGW_ASSERT_OK_AND_ASSIGN(GetPromptResult got, AwaitResult<GetPromptResult>([&](auto done) {
                               client_->GetPrompt("greet", {{"who", "world"}}, std::move(done));
                             }));
  EXPECT_EQ(std::get<TextContent>(got.messages[0].content).text, "hello world");
  absl::StatusOr<GetPromptResult> missing = AwaitResult<GetPromptResult>(
      [&](auto done) { client_->GetPrompt("greet", {}, std::move(done)); });
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("missing required arguments: who")));
  absl::StatusOr<GetPromptResult> unknown = AwaitResult<GetPromptResult>(
      [&](auto done) { client_->GetPrompt("nope", {}, std::move(done)); });
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Unknown prompt")));
}

TEST_F(ServerClientTest, Completion) {
  ASSERT_THAT(Connect(), IsOk());
  CompleteParams params;
  params.ref = PromptReference{.name = "greet"};
  params.argument = CompleteArgument{.name = "who", .value = "al"};
  MCPGW_ASSERT_OK_AND_ASSIGN(CompleteResult r, AwaitResult<CompleteResult>([&](auto done) {
                               client_->Complete(params, std::move(done));
                             }));
  EXPECT_THAT(r.completion.values, ElementsAre("alice", "albert"));
}

TEST_F(ServerClientTest, ListChangedWhenRegistrationsChange) {
  std::atomic<int> tools_changed{0};
  ASSERT_THAT(Connect(kLatestProtocolVersion,
                      [&](Client& c) {
                        c.SetNotificationHandler(method::kToolsListChanged,
                                                 [&](const Message&) { ++tools_changed; });
                      }),
              IsOk());
  ASSERT_THAT(server_->AddSyncTool(MakeTool("late", R"({"type":"object"})"),
                                   [](const Json&, RequestContext&)
                                       -> absl::StatusOr<CallToolResult> { return TextResult("x"); }),
              IsOk());
  EXPECT_TRUE(server_->RemoveTool("late"));
  EXPECT_FALSE(server_->RemoveTool("late"));
  ASSERT_THAT(AwaitResult<EmptyResult>([&](auto done) { client_->Ping(std::move(done)); }), IsOk());
  EXPECT_EQ(tools_changed, 2);
}

TEST_F(ServerClientTest, LoggingRespectsSetLevel) {
  absl::Mutex mu;
  std::vector<std::string> seen;
  ASSERT_THAT(server_->AddSyncTool(MakeTool("chatty", R"({"type":"object"})"),
                                   [](const Json&, RequestContext& ctx)
                                       -> absl::StatusOr<CallToolResult> {
                                     for (LoggingLevel l : {LoggingLevel::kDebug,
                                                            LoggingLevel::kInfo,
                                                            LoggingLevel::kError}) {
                                       ctx.Log(l, Json::String(ToString(l)), "chatty")
                                           .IgnoreError();
                                     }
                                     return TextResult("done");
                                   }),
              IsOk());
  ASSERT_THAT(Connect(kLatestProtocolVersion,
                      [&](Client& c) {
                        c.OnLogMessage([&](const LoggingMessageParams& p) {
                          absl::MutexLock lock(&mu);
                          seen.push_back(std::string(ToString(p.level)) + ":" +
                                         p.logger.value_or(""));
                        });
                      }),
              IsOk());
  ASSERT_THAT(Call("chatty", "{}"), IsOk());
  ASSERT_THAT(AwaitResult<EmptyResult>([&](auto done) {
                client_->SetLogLevel(LoggingLevel::kWarning, std::move(done));
              }),
              IsOk());
  ASSERT_THAT(Call("chatty", "{}"), IsOk());
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen, ElementsAre("debug:chatty", "info:chatty", "error:chatty", "error:chatty"));
}

TEST_F(ServerClientTest, ProgressSamplingElicitationAndRootsDuringACall) {
  ASSERT_THAT(server_->AddTool(
                  MakeTool("interactive", R"({"type":"object"})"),
                  [](const Json&, RequestContext ctx, Reply<CallToolResult> reply) {
                    ctx.ReportProgress(1, 3, "sampling").IgnoreError();
                    CreateMessageParams sample;
                    SamplingMessage m;
                    m.role = Role::kUser;
                    m.content.blocks.push_back(Text("capital of France?"));
                    sample.messages.push_back(std::move(m));
                    sample.max_tokens = 10;
                    ctx.CreateMessage(sample, [ctx, reply = std::move(reply)](
                                                  absl::StatusOr<CreateMessageResult> s) mutable {
                      if (!s.ok()) {
                        std::move(reply)(s.status());
                        return;
                      }
                      std::string answer = std::get<TextContent>(s->content.blocks[0]).text;
                      ctx.ReportProgress(2, 3, "eliciting").IgnoreError();
                      ElicitParams ask;
                      ask.message = "your name?";
                      ask.requested_schema = MustParse(
                          R"({"type":"object","properties":{"name":{"type":"string"}}})");
                      ctx.Elicit(ask, [ctx, answer, reply = std::move(reply)](
                                          absl::StatusOr<ElicitResult> e) mutable {
                        if (!e.ok()) {
                          std::move(reply)(e.status());
                          return;
                        }
                        ctx.ListRoots([answer, e = *e, reply = std::move(reply)](
                                          absl::StatusOr<ListRootsResult> roots) mutable {
                          if (!roots.ok()) {
                            std::move(reply)(roots.status());
                            return;
                          }
                          std::move(reply)(TextResult(
                              answer + "/" + std::string(ToString(e.action)) + "/" +
                              e.content->value()["name"].GetString() + "/" +
                              roots->roots[0].uri));
                        });
                      });
                    });
                  }),
              IsOk());
  ASSERT_THAT(Connect(kLatestProtocolVersion,
                      [&](Client& c) {
                        c.SetSamplingHandler([](const CreateMessageParams& p,
                                                Callback<CreateMessageResult> reply) {
                          CreateMessageResult r;
                          r.model = "test-model";
                          r.content.blocks.push_back(Text(
                              p.max_tokens == 10 ? std::string("Paris") : std::string("?")));
                          std::move(reply)(r);
                        });
                        c.SetElicitationHandler([](const ElicitParams&,
                                                   Callback<ElicitResult> reply) {
                          ElicitResult r;
                          r.action = ElicitAction::kAccept;
                          r.content = MustParse(R"({"name":"Ada"})");
                          std::move(reply)(r);
                        });
                        c.SetRootsHandler([](Callback<ListRootsResult> reply) {
                          ListRootsResult r;
                          r.roots.push_back(Root{.uri = "file:///work"});
                          std::move(reply)(r);
                        });
                      }),
              IsOk());
  absl::Mutex mu;
  std::vector<std::string> progress;
  CallOptions options;
  options.on_progress = [&](const ProgressParams& p) {
    absl::MutexLock lock(&mu);
    progress.push_back(absl::StrCat(p.progress, "/", p.total.value_or(0), " ",
                                    p.message.value_or("")));
  };
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult r, Call("interactive", "{}", std::move(options)));
  EXPECT_EQ(TextOf(r), "Paris/accept/Ada/file:///work");
  absl::MutexLock lock(&mu);
  EXPECT_THAT(progress, ElementsAre("1/3 sampling", "2/3 eliciting"));
}

TEST_F(ServerClientTest, ServerNeverAsksWhatTheClientCannotDo) {
  std::atomic<int> asked{0};
  ASSERT_THAT(server_->AddTool(MakeTool("ask", R"({"type":"object"})"),
                               [](const Json&, RequestContext ctx, Reply<CallToolResult> reply) {
                                 ElicitParams ask;
                                 ask.message = "name?";
                                 ask.requested_schema = Json::Object();
                                 ctx.Elicit(ask, [reply = std::move(reply)](
                                                     absl::StatusOr<ElicitResult> e) mutable {
                                   std::move(reply)(e.status());
                                 });
                               }),
              IsOk());
  // A 2025-03-26 client, even one with an elicitation handler, is never sent elicitation.
  ASSERT_THAT(Connect(ProtocolVersion::k2025_03_26,
                      [&](Client& c) {
                        c.SetElicitationHandler(
                            [&](const ElicitParams&, Callback<ElicitResult> reply) {
                              ++asked;
                              std::move(reply)(ElicitResult{});
                            });
                      }),
              IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult r, Call("ask", "{}"));
  EXPECT_TRUE(r.is_error.value_or(false));
  EXPECT_THAT(TextOf(r), HasSubstr("negotiated protocol 2025-03-26, which has no elicitation"));
  EXPECT_EQ(asked, 0);
}

TEST_F(ServerClientTest, CancellingACallReachesTheTool) {
  auto started = std::make_shared<absl::Notification>();
  auto cancelled = std::make_shared<absl::Notification>();
  ASSERT_THAT(server_->AddTool(MakeTool("slow", R"({"type":"object"})"),
                               [started, cancelled](const Json&, RequestContext ctx,
                                                    Reply<CallToolResult> reply) {
                                 auto held = std::make_shared<Reply<CallToolResult>>(std::move(reply));
                                 ctx.OnCancel([cancelled, held] {
                                   std::move (*held)(TextResult("too late"));
                                   cancelled->Notify();
                                 });
                                 started->Notify();
                               }),
              IsOk());
  ASSERT_THAT(Connect(), IsOk());
  absl::StatusOr<CallToolResult> outcome;
  absl::Notification done;
  RequestId id = client_->CallTool("slow", Json::Object(), {},
                                   [&](absl::StatusOr<CallToolResult> r) {
                                     outcome = std::move(r);
                                     done.Notify();
                                   });
  ASSERT_TRUE(started->WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(client_->Cancel(id, "user stopped it"));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_THAT(outcome, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(cancelled->WaitForNotificationWithTimeout(absl::Seconds(10)));
}

class PaginatedServerClientTest : public ServerClientTest {
 protected:
  void SetUp() override {
    page_size_ = 2;
    ServerClientTest::SetUp();
    for (int i = 0; i < 5; ++i) {
      ASSERT_THAT(server_->AddSyncTool(MakeTool("extra_" + std::to_string(i), R"({"type":"object"})"),
                                       [](const Json&, RequestContext&)
                                           -> absl::StatusOr<CallToolResult> {
                                         return TextResult("x");
                                       }),
                  IsOk());
    }
  }
};

TEST_F(PaginatedServerClientTest, ListsFollowCursors) {
  ASSERT_THAT(Connect(), IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(ListToolsResult first, AwaitResult<ListToolsResult>([&](auto done) {
                               client_->ListToolsPage(std::nullopt, std::move(done));
                             }));
  EXPECT_THAT(first.tools, SizeIs(2));
  ASSERT_TRUE(first.next_cursor.has_value());
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<Tool> all, AwaitResult<std::vector<Tool>>([&](auto done) {
                               client_->ListTools(std::move(done));
                             }));
  ASSERT_THAT(all, SizeIs(8));
  EXPECT_EQ(all[7].name, "extra_4");
  absl::StatusOr<ListToolsResult> bogus = AwaitResult<ListToolsResult>(
      [&](auto done) { client_->ListToolsPage("garbage", std::move(done)); });
  EXPECT_THAT(bogus, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Invalid cursor")));
}

TEST(ServerRegistration, RejectsBadNamesSchemasAndTemplates) {
  auto server = Server::Create();
  auto noop = [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
    return TextResult("");
  };
  EXPECT_THAT(server->AddSyncTool(MakeTool("bad name", R"({"type":"object"})"), noop),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1-128 characters")));
  EXPECT_THAT(server->AddSyncTool(MakeTool("t", R"({"type":5})"), noop),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("inputSchema")));
  Tool no_schema;
  no_schema.name = "t";
  EXPECT_THAT(server->AddSyncTool(no_schema, noop),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("inputSchema must be")));
  ResourceTemplate t;
  t.uri_template = "x://{unclosed";
  t.name = "t";
  EXPECT_THAT(server->AddResourceTemplate(t, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unclosed")));
}

}  // namespace
}  // namespace mcpgw::mcp

namespace mcpgw::mcp {
namespace {

TEST(ClientCapabilities, RequestsTheServerDidNotDeclareAreRefusedLocally) {
  base::ThreadPool pool;  // outlives the sessions: joined after them
  ServerOptions server_options;
  server_options.session.executor = &pool;
  auto server = Server::Create(server_options);  // nothing registered: only logging is declared
  auto [a, b] = CreateMemoryTransportPair();
  ASSERT_THAT(server->Serve(std::move(a)), IsOk());
  ClientOptions client_options;
  client_options.session.executor = &pool;
  auto client = Client::Create(std::move(b), client_options);
  ASSERT_THAT(AwaitResult<InitializeResult>([&](auto d) { client->Connect(std::move(d)); }),
              IsOk());
  EXPECT_THAT(AwaitResult<std::vector<Prompt>>([&](auto d) { client->ListPrompts(std::move(d)); }),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'prompts' capability")));
  EXPECT_THAT(AwaitResult<EmptyResult>([&](auto d) { client->Subscribe("x://y", std::move(d)); }),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("'resources.subscribe' capability")));
  EXPECT_THAT(AwaitResult<CallToolResult>([&](auto d) {
                client->CallTool("t", Json::Object(), {}, std::move(d));
              }),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'tools' capability")));
  EXPECT_THAT(AwaitResult<EmptyResult>([&](auto d) {
                client->SetLogLevel(LoggingLevel::kError, std::move(d));
              }),
              IsOk());
  client->Close();
}

}  // namespace
}  // namespace mcpgw::mcp
