// libmcp's Client against @modelcontextprotocol/server-everything over stdio, the server
// started through ProcessRuntime: lists (following pagination), calls, progress, sampling,
// elicitation and roots answered by the client, a resource subscription with an update, and a
// cancelled long operation.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/line_transport.h"
#include "testing/await.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::AwaitResult;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::SizeIs;

std::string TextOf(const CallToolResult& r) {
  std::string out;
  for (const ContentBlock& b : r.content) {
    if (const auto* t = std::get_if<TextContent>(&b)) {
      out += t->text;
    }
  }
  return out;
}

class EverythingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string modules = testing::E2eNodeModules();
    MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                          "the npm test kit is not installed (run scripts/setup.sh --tests)");
    MCPGW_ASSERT_OK_AND_ASSIGN(runtime_, container::ProcessRuntime::Create({}));
    container::RunSpec spec;
    spec.command = modules + "/.bin/node";
    spec.args = {modules + "/@modelcontextprotocol/server-everything/dist/index.js", "stdio"};
    spec.labels = {{"test", "everything"}};
    MCPGW_ASSERT_OK_AND_ASSIGN(instance_, runtime_->Run(spec));
    TransportPtr transport = CreateLineTransport(instance_->TakeStdio());
    ClientOptions options;
    options.session.executor = &pool_;
    client_ = Client::Create(std::move(transport), options);
    client_->SetSamplingHandler([this](const CreateMessageParams& p,
                                       Callback<CreateMessageResult> reply) {
      ++sampled_;
      CreateMessageResult r;
      r.model = "mcpgw-test-model";
      r.stop_reason = "endTurn";
      r.content.blocks.push_back(TextContent{.text = "canned answer to " +
                                                     std::to_string(p.messages.size()) +
                                                     " message(s)"});
      std::move(reply)(r);
    });
    client_->SetElicitationHandler([this](const ElicitParams& p, Callback<ElicitResult> reply) {
      ++elicited_;
      ElicitResult r;
      r.action = ElicitAction::kAccept;
      Json content = Json::Object();
      // Fill every string property the server asks for.
      if (p.requested_schema.has_value()) {
        const JsonValue* props = FindMember(p.requested_schema->value(), "properties");
        if (props != nullptr && props->IsObject()) {
          for (auto it = props->MemberBegin(); it != props->MemberEnd(); ++it) {
            const JsonValue* type = FindMember(it->value, "type");
            absl::string_view name = AsStringView(it->name);
            if (type != nullptr && type->IsString() && AsStringView(*type) == "string") {
              content.Set(name, name == "email"       ? "ada@example.com"
                                : name == "homepage"  ? "https://example.com"
                                : name == "birthdate" ? "1815-12-10"
                                                      : "Ada");
            } else if (type != nullptr && type->IsString() && AsStringView(*type) == "boolean") {
              content.Set(name, JsonValue(true));
            }
          }
        }
      }
      r.content = std::move(content);
      std::move(reply)(r);
    });
    client_->SetRootsHandler([](Callback<ListRootsResult> reply) {
      ListRootsResult r;
      r.roots.push_back(Root{.uri = "file:///workspace/project", .name = "project"});
      std::move(reply)(r);
    });
    client_->OnResourceUpdated([this](const std::string& uri) {
      absl::MutexLock lock(&mu_);
      updated_.push_back(uri);
    });
    MCPGW_ASSERT_OK_AND_ASSIGN(
        init_, AwaitResult<InitializeResult>([&](auto done) { client_->Connect(std::move(done)); }));
  }

  void TearDown() override {
    if (client_ != nullptr) {
      client_->Close();
    }
    if (instance_ != nullptr) {
      instance_->Stop(absl::Seconds(2));
      absl::StatusOr<container::ExitStatus> exit = instance_->WaitForExit(absl::Seconds(10));
      EXPECT_THAT(exit, IsOk()) << "server-everything did not exit; stderr:\n"
                                << instance_->StderrTail(20);
    }
  }

  absl::StatusOr<CallToolResult> Call(absl::string_view name, absl::string_view args,
                                      CallOptions options = {}) {
    return AwaitResult<CallToolResult>([&](auto done) {
      client_->CallTool(name, *Json::Parse(args), std::move(options), std::move(done));
    });
  }

  // Declared first, destroyed last: its destructor waits for handlers still running.
  base::ThreadPool pool_;
  std::unique_ptr<container::ProcessRuntime> runtime_;
  container::InstancePtr instance_;
  std::shared_ptr<Client> client_;
  InitializeResult init_;
  std::atomic<int> sampled_{0};
  std::atomic<int> elicited_{0};
  absl::Mutex mu_;
  std::vector<std::string> updated_ ABSL_GUARDED_BY(mu_);
};

TEST_F(EverythingTest, ListsEverything) {
  EXPECT_EQ(init_.protocol_version, "2025-11-25");
  EXPECT_EQ(init_.server_info.name, "mcp-servers/everything");
  MCPGW_ASSERT_OK_AND_ASSIGN(auto tools, AwaitResult<std::vector<Tool>>([&](auto done) {
                               client_->ListTools(std::move(done));
                             }));
  std::vector<std::string> names;
  for (const Tool& t : tools) {
    names.push_back(t.name);
  }
  // With sampling, elicitation and roots declared, the client-feature tools are offered too.
  EXPECT_THAT(names, IsSupersetOf({"echo", "get-sum", "trigger-long-running-operation",
                                   "trigger-sampling-request", "trigger-elicitation-request",
                                   "get-roots-list", "toggle-subscriber-updates"}));
  MCPGW_ASSERT_OK_AND_ASSIGN(auto prompts, AwaitResult<std::vector<Prompt>>([&](auto done) {
                               client_->ListPrompts(std::move(done));
                             }));
  EXPECT_THAT(prompts, SizeIs(::testing::Ge(3u)));
  MCPGW_ASSERT_OK_AND_ASSIGN(auto resources, AwaitResult<std::vector<Resource>>([&](auto done) {
                               client_->ListResources(std::move(done));
                             }));
  EXPECT_THAT(resources, SizeIs(::testing::Ge(2u)));
  MCPGW_ASSERT_OK_AND_ASSIGN(auto templates,
                             AwaitResult<std::vector<ResourceTemplate>>([&](auto done) {
                               client_->ListResourceTemplates(std::move(done));
                             }));
  EXPECT_THAT(templates, SizeIs(::testing::Ge(1u)));
  MCPGW_ASSERT_OK_AND_ASSIGN(ReadResourceResult read, AwaitResult<ReadResourceResult>([&](auto d) {
                               client_->ReadResource(resources[0].uri, std::move(d));
                             }));
  EXPECT_THAT(read.contents, SizeIs(::testing::Ge(1u)));
}

TEST_F(EverythingTest, CallsToolsAndReceivesProgress) {
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult echo, Call("echo", R"({"message":"hello gateway"})"));
  EXPECT_EQ(TextOf(echo), "Echo: hello gateway");
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult sum, Call("get-sum", R"({"a":2,"b":3})"));
  EXPECT_THAT(TextOf(sum), HasSubstr("The sum of 2 and 3 is 5"));
  absl::Mutex mu;
  std::vector<double> progress;
  CallOptions options;
  options.on_progress = [&](const ProgressParams& p) {
    absl::MutexLock lock(&mu);
    progress.push_back(p.progress);
  };
  MCPGW_ASSERT_OK_AND_ASSIGN(
      CallToolResult op,
      Call("trigger-long-running-operation", R"({"duration":0.3,"steps":3})", std::move(options)));
  EXPECT_THAT(TextOf(op), HasSubstr("Long running operation completed"));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(progress, (std::vector<double>{1, 2, 3}));
}

TEST_F(EverythingTest, AnswersSamplingElicitationAndRoots) {
  MCPGW_ASSERT_OK_AND_ASSIGN(
      CallToolResult sampled,
      Call("trigger-sampling-request", R"({"prompt":"What is MCP?","maxTokens":50})"));
  EXPECT_THAT(TextOf(sampled), HasSubstr("canned answer to 1 message(s)"));
  EXPECT_EQ(sampled_, 1);
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult elicited, Call("trigger-elicitation-request", "{}"));
  EXPECT_GE(elicited_, 1);
  EXPECT_THAT(TextOf(elicited), HasSubstr("Ada"));
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult roots, Call("get-roots-list", "{}"));
  EXPECT_THAT(TextOf(roots), HasSubstr("file:///workspace/project"));
}

TEST_F(EverythingTest, SubscriptionReceivesAnUpdate) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto resources, AwaitResult<std::vector<Resource>>([&](auto done) {
                               client_->ListResources(std::move(done));
                             }));
  ASSERT_FALSE(resources.empty());
  std::string uri = resources[0].uri;
  ASSERT_THAT(AwaitResult<EmptyResult>([&](auto d) { client_->Subscribe(uri, std::move(d)); }),
              IsOk());
  ASSERT_THAT(Call("toggle-subscriber-updates", "{}"), IsOk());
  // The server sends updates for subscribed resources every 5 s.
  absl::MutexLock lock(&mu_);
  auto got = [this, &uri]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::find(updated_.begin(), updated_.end(), uri) != updated_.end();
  };
  EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(&got), absl::Seconds(20)))
      << "no notifications/resources/updated for " << uri;
}

TEST_F(EverythingTest, CancelsALongOperation) {
  absl::Notification first_progress;
  std::atomic<bool> notified{false};
  CallOptions options;
  options.on_progress = [&](const ProgressParams&) {
    if (!notified.exchange(true)) {
      first_progress.Notify();
    }
  };
  absl::Notification done;
  absl::StatusOr<CallToolResult> outcome;
  RequestId id = client_->CallTool("trigger-long-running-operation",
                                   *Json::Parse(R"({"duration":60,"steps":120})"),
                                   std::move(options), [&](absl::StatusOr<CallToolResult> r) {
                                     outcome = std::move(r);
                                     done.Notify();
                                   });
  ASSERT_TRUE(first_progress.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(client_->Cancel(id, "the user changed their mind"));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_THAT(outcome, StatusIs(absl::StatusCode::kCancelled));
  // The server keeps serving.
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult echo, Call("echo", R"({"message":"still here"})"));
  EXPECT_EQ(TextOf(echo), "Echo: still here");
}

}  // namespace
}  // namespace mcpgw::mcp
