// The acceptance scenario of issue 6, with real parts: the official TypeScript SDK client
// (sdk-gateway-client.mjs) drives `mcpgw run --profile tests/e2e/three-upstreams.yaml` over
// stdio, in front of @modelcontextprotocol/server-everything as a local process and in its
// container image (the two clash on every name and URI), and mcp-fixture-server in its
// container. Needs Docker and the npm kit: skips without them, fails when CI=true or
// MCPGW_REQUIRE_DOCKER=1 / MCPGW_REQUIRE_NPM=1.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/docker_engine.h"
#include "mcpgw/mcp/json.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace mcpgw {
namespace {

using ::mcpgw::mcp::Json;
using ::mcpgw::mcp::JsonValue;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// --- Reading the summary (as in tests/e2e/fixture_test.cc).

// At follows `path` (members separated by '|', array indexes as numbers; not '.' because the
// summary's keys hold dots); null when absent.
const JsonValue* At(const JsonValue& root, absl::string_view path) {
  const JsonValue* v = &root;
  if (path.empty()) {
    return v;
  }
  for (absl::string_view part : absl::StrSplit(path, '|')) {
    if (v->IsObject()) {
      v = mcp::FindMember(*v, part);
    } else if (v->IsArray()) {
      size_t i = 0;
      if (!absl::SimpleAtoi(part, &i) || i >= v->Size()) {
        return nullptr;
      }
      v = &(*v)[static_cast<rapidjson::SizeType>(i)];
    } else {
      return nullptr;
    }
    if (v == nullptr) {
      return nullptr;
    }
  }
  return v;
}

std::string J(const JsonValue& root, absl::string_view path) {
  const JsonValue* v = At(root, path);
  return v == nullptr ? "<missing>" : mcp::SerializeJson(*v);
}

std::string S(const JsonValue& root, absl::string_view path) {
  const JsonValue* v = At(root, path);
  return v != nullptr && v->IsString() ? std::string(mcp::AsStringView(*v))
                                       : "<missing or not a string>";
}

std::vector<std::string> Strings(const JsonValue& root, absl::string_view path) {
  std::vector<std::string> out;
  const JsonValue* v = At(root, path);
  if (v != nullptr && v->IsArray()) {
    for (const JsonValue& item : v->GetArray()) {
      out.push_back(item.IsString() ? std::string(mcp::AsStringView(item))
                                    : mcp::SerializeJson(item));
    }
  }
  return out;
}

::testing::AssertionResult JsonAt(const JsonValue& root, absl::string_view path,
                                  absl::string_view expected) {
  absl::StatusOr<Json> want = Json::Parse(expected);
  if (!want.ok()) {
    return ::testing::AssertionFailure() << "bad expected JSON: " << want.status();
  }
  const JsonValue* got = At(root, path);
  if (got == nullptr) {
    return ::testing::AssertionFailure() << path << " is missing";
  }
  if (Json::Copy(*got) == *want) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << path << " is " << mcp::SerializeJson(*got) << ", expected " << expected;
}

// A fresh random secret (hex), so that finding it anywhere means it leaked from this run.
std::string RandomSecret(absl::string_view tag) {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  char bytes[16] = {};
  urandom.read(bytes, sizeof(bytes));
  return absl::StrCat(tag, "-", absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes))));
}

// The ids of the containers of the profile's two containerized servers (the profile named
// `profile`: each run has its own name, so that runs sharing the engine keep apart).
std::set<std::string> ContainersOfTheProfile(container::DockerEngine& engine,
                                             const std::string& profile) {
  std::set<std::string> ids;
  for (const char* server : {"everything-image", "fixture"}) {
    absl::StatusOr<std::vector<container::InstanceInfo>> list = engine.List(
        {{"io.mcpgw.managed", "true"}, {"io.mcpgw.server", server}, {"io.mcpgw.profile", profile}});
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const container::InstanceInfo& info : *list) {
        ids.insert(info.id);
      }
    }
  }
  return ids;
}

// The same scenario over stdio, over Streamable HTTP and over the legacy HTTP+SSE transport
// (`mcpgw run --transport http`).
class Acceptance : public ::testing::TestWithParam<const char*> {};

TEST_P(Acceptance, TheSdkClientThroughMcpgwRunWithThreeUpstreams) {
  absl::StatusOr<std::unique_ptr<container::DockerEngine>> engine =
      container::DockerEngine::Create({});
  MCPGW_REQUIRE_OR_SKIP(engine.ok(), "MCPGW_REQUIRE_DOCKER",
                        "no usable Docker engine: " + engine.status().ToString());
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  testing::ChildResult built = testing::RunProgram(
      {std::string(MCPGW_SOURCE_DIR) + "/tests/docker/build-test-images.sh", MCPGW_FIXTURE_SERVER});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  ASSERT_THAT(built.out, HasSubstr("mcpgw-test/everything:latest")) << built.out << built.err;

  // The profile under a name of this run's own: its containers carry it (io.mcpgw.profile),
  // so the other transports' runs, which may share the engine at the same time, keep apart.
  const std::string profile_name = absl::StrCat("three-upstreams-", GetParam(), "-", getpid());
  std::string profile_text;
  {
    std::ifstream in(std::string(MCPGW_SOURCE_DIR) + "/tests/e2e/three-upstreams.yaml");
    std::stringstream text;
    text << in.rdbuf();
    profile_text = text.str();
  }
  ASSERT_TRUE(absl::StrContains(profile_text, "\nname: three-upstreams\n"));
  absl::StrReplaceAll({{"\nname: three-upstreams\n", "\nname: " + profile_name + "\n"}},
                      &profile_text);
  const std::string profile_path = ::testing::TempDir() + "/" + profile_name + ".yaml";
  std::ofstream(profile_path) << profile_text;

  // Containers of these servers that exist already belong to someone else (the engine is
  // shared); ours are the ones that appear.
  std::set<std::string> before = ContainersOfTheProfile(**engine, profile_name);

  const std::string everything_secret = RandomSecret("everything");
  const std::string fixture_secret = RandomSecret("fixture");
  testing::ChildResult r = testing::RunProgram(
      {modules + "/.bin/node", std::string(MCPGW_SOURCE_DIR) + "/tests/e2e/sdk-gateway-client.mjs",
       MCPGW_BINARY, profile_path, modules, GetParam()},
      "",
      {"MCPGW_ACCEPT_PROFILE_NAME=" + profile_name,
       "MCPGW_SECRET_ACCEPT_EVERYTHING_TOKEN=" + everything_secret,
       "MCPGW_SECRET_ACCEPT_FIXTURE_TOKEN=" + fixture_secret,
       "XDG_CONFIG_HOME=" + ::testing::TempDir() + "/acceptance-config"});

  // Never print a secret: the output is checked before it is shown.
  bool leaked =
      absl::StrContains(r.out, everything_secret) || absl::StrContains(r.out, fixture_secret) ||
      absl::StrContains(r.err, everything_secret) || absl::StrContains(r.err, fixture_secret);
  ASSERT_FALSE(leaked) << "a secret value is in the client's output or mcpgw's stderr";
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  absl::StatusOr<Json> summary = Json::Parse(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(summary.ok()) << summary.status() << "\n" << r.out << r.err;
  const JsonValue& s = summary->value();
  std::cout << "[ acceptance ] client run: " << J(s, "elapsedMs") << " ms; error after the crash "
            << J(s, "crash|ms") << " ms, after docker kill " << J(s, "kill|ms") << " ms\n";

  EXPECT_EQ(S(s, "negotiated"), "2025-11-25");
  EXPECT_EQ(S(s, "server|name"), "mcpgw");
  EXPECT_TRUE(JsonAt(s, "setLevel", "{}"));

  // Merged listings with the naming policy: the two server-everything instances clash on
  // every name, so each is prefixed; the fixture's names are its own where unique.
  std::vector<std::string> tools = Strings(s, "tools");
  for (const char* name :
       {"everything__echo", "everything-image__echo", "fixture__echo", "everything__get-env",
        "everything-image__get-env", "everything__trigger-sampling-request",
        "everything-image__trigger-elicitation-request", "test_simple_text", "slow", "crash",
        "get_cancelled_requests"}) {
    EXPECT_THAT(tools, Contains(name)) << J(s, "tools");
  }
  size_t local = 0;
  size_t image = 0;
  for (const std::string& t : tools) {
    EXPECT_NE(t, "echo");
    EXPECT_NE(t, "get-env");
    local += absl::StartsWith(t, "everything__") ? 1 : 0;
    image += absl::StartsWith(t, "everything-image__") ? 1 : 0;
  }
  EXPECT_GE(local, 14u) << J(s, "tools");
  // Its task-only tool (execution.taskSupport "required") is hidden: the gateway does not
  // route tasks.
  EXPECT_THAT(tools, Not(Contains("everything__simulate-research-query"))) << J(s, "tools");
  EXPECT_EQ(local, image) << J(s, "tools");
  std::vector<std::string> prompts = Strings(s, "prompts");
  for (const char* name :
       {"everything__simple-prompt", "everything-image__simple-prompt", "everything__args-prompt",
        "everything-image__args-prompt", "test_simple_prompt", "test_prompt_with_arguments"}) {
    EXPECT_THAT(prompts, Contains(name)) << J(s, "prompts");
  }
  std::vector<std::string> resources = Strings(s, "resources");
  EXPECT_THAT(resources, Contains("test://static-text"));
  EXPECT_THAT(resources, Contains(StartsWith("mcpgw://everything/demo://resource/static/")));
  EXPECT_THAT(resources, Contains(StartsWith("mcpgw://everything-image/demo://resource/static/")));
  EXPECT_THAT(resources, Not(Contains(StartsWith("demo://")))) << J(s, "resources");
  std::vector<std::string> templates = Strings(s, "templates");
  for (const char* name : {"mcpgw://everything/demo://resource/dynamic/text/{resourceId}",
                           "mcpgw://everything-image/demo://resource/dynamic/text/{resourceId}",
                           "mcpgw://everything/demo://resource/dynamic/blob/{resourceId}",
                           "mcpgw://everything-image/demo://resource/dynamic/blob/{resourceId}",
                           "test://template/{id}/data"}) {
    EXPECT_THAT(templates, Contains(name)) << J(s, "templates");
  }

  // A call on each of the three servers.
  EXPECT_TRUE(JsonAt(s, "calls|everything__echo|texts", R"(["Echo: to the local process"])"));
  EXPECT_TRUE(JsonAt(s, "calls|everything-image__echo|texts", R"(["Echo: to the container"])"));
  EXPECT_TRUE(JsonAt(s, "calls|fixture__echo|structuredContent", R"({"echo":"to the fixture"})"));

  // Prompts of both clashing servers and the fixture.
  EXPECT_TRUE(JsonAt(s, "promptResults|everything__simple-prompt",
                     R"(["This is a simple prompt without arguments."])"));
  EXPECT_TRUE(
      JsonAt(s, "promptResults|everything-image__args-prompt", R"(["What's weather in Paris?"])"));
  EXPECT_TRUE(
      JsonAt(s, "promptResults|test_simple_prompt", R"(["This is a simple prompt for testing."])"));

  // Reads, resource links and what they name, under the exposed URIs.
  for (const std::string server : {"everything", "everything-image"}) {
    SCOPED_TRACE(server);
    std::string prefix = absl::StrCat("mcpgw://", server, "/");
    std::string doc = S(s, absl::StrCat("reads|", server, "|static|uri"));
    EXPECT_THAT(doc, StartsWith(prefix + "demo://resource/static/document/"));
    EXPECT_EQ(S(s, absl::StrCat("reads|", server, "|static|contents|0|uri")), doc) << J(s, "reads");
    EXPECT_THAT(S(s, absl::StrCat("reads|", server, "|static|contents|0|text")), Not(IsEmpty()));
    EXPECT_EQ(S(s, absl::StrCat("reads|", server, "|template|0|uri")),
              prefix + "demo://resource/dynamic/text/7")
        << J(s, "reads");
    EXPECT_THAT(S(s, absl::StrCat("reads|", server, "|template|0|text")),
                StartsWith("Resource 7: This is a plaintext resource"));

    EXPECT_EQ(S(s, absl::StrCat("links|", server, "|0|uri")),
              prefix + "demo://resource/dynamic/blob/1")
        << J(s, "links");
    EXPECT_EQ(S(s, absl::StrCat("links|", server, "|1|uri")),
              prefix + "demo://resource/dynamic/text/2")
        << J(s, "links");
    EXPECT_EQ(S(s, absl::StrCat("links|", server, "|0|contents|0|uri")),
              prefix + "demo://resource/dynamic/blob/1");
    EXPECT_THAT(S(s, absl::StrCat("links|", server, "|0|contents|0|blob")),
                StartsWith("Resource 1: This is a base64 blob"));
    EXPECT_EQ(S(s, absl::StrCat("links|", server, "|1|contents|0|uri")),
              prefix + "demo://resource/dynamic/text/2");
    EXPECT_THAT(S(s, absl::StrCat("links|", server, "|1|contents|0|text")),
                StartsWith("Resource 2: This is a plaintext resource"));
  }
  EXPECT_EQ(S(s, "fixtureRead|0|text"), "This is the content of the static text resource.");

  // Subscriptions on both clashing servers; the updates came under the exposed URIs.
  EXPECT_TRUE(JsonAt(s, "subscribe", "[{},{}]"));
  EXPECT_TRUE(JsonAt(s, "unsubscribe", "[{},{}]"));
  std::vector<std::string> watched = Strings(s, "subscribed");
  ASSERT_EQ(watched.size(), 2u);
  std::vector<std::string> updated = Strings(s, "updated");
  for (const std::string& uri : watched) {
    EXPECT_THAT(updated, Contains(uri)) << J(s, "updated");
  }
  for (const std::string& uri : updated) {
    EXPECT_THAT(uri, StartsWith("mcpgw://everything")) << J(s, "updated");
  }

  // Progress from the container, re-sent with this client's token.
  EXPECT_TRUE(JsonAt(s, "progress", R"([{"progress":1,"total":3},{"progress":2,"total":3},
                                        {"progress":3,"total":3}])"))
      << J(s, "calls|long_running");
  EXPECT_THAT(S(s, "calls|long_running|texts|0"), HasSubstr("Long running operation completed"));

  // Logs, tagged with the server's name.
  EXPECT_TRUE(JsonAt(s, "fixtureLogs", R"([
    {"level":"info","logger":"fixture","data":"Tool execution started"},
    {"level":"info","logger":"fixture","data":"Tool processing data"},
    {"level":"info","logger":"fixture","data":"Tool execution completed"}])"));

  // Sampling and elicitation from server-everything went through the gateway to this client,
  // and its answers back.
  EXPECT_TRUE(
      JsonAt(s, "serverRequests", R"({"sampling/createMessage":1,"elicitation/create":1})"));
  EXPECT_THAT(S(s, "calls|sampling|texts|0"),
              HasSubstr("canned answer from the acceptance client"));
  EXPECT_THAT(S(s, "sampling|0|texts|0"), HasSubstr("What is 2+2?"));
  EXPECT_THAT(J(s, "calls|elicitation|texts"), HasSubstr("- Name: Acceptance User"));
  EXPECT_THAT(Strings(s, "elicitation|0|properties"), Contains("email"));

  // Cancellation: the fixture recorded one cancelled request and nothing still running; no
  // response came for it.
  EXPECT_EQ(Strings(s, "cancel|cancelledSent").size(), 1u) << J(s, "cancel");
  EXPECT_TRUE(JsonAt(s, "cancel|answered", "false")) << J(s, "cancel");
  EXPECT_THAT(S(s, "calls|slow_cancelled|error"), HasSubstr("acceptance cancels slow"));
  EXPECT_EQ(Strings(s, "calls|get_cancelled_requests|structuredContent|cancelled").size(), 1u)
      << J(s, "calls|get_cancelled_requests");
  EXPECT_TRUE(JsonAt(s, "calls|get_cancelled_requests|structuredContent|stillRunning", "[]"));

  // The secret of everything-image is in its container's env and nowhere else; the fixture's
  // secret is in neither server-everything.
  EXPECT_TRUE(JsonAt(s, "env|everything-image", R"({"everythingTokenVar":true,
      "everythingSecretAnywhere":true,"fixtureSecretAnywhere":false,"mcpgwSecretVars":0})"));
  EXPECT_TRUE(JsonAt(s, "env|everything", R"({"everythingTokenVar":false,
      "everythingSecretAnywhere":false,"fixtureSecretAnywhere":false,"mcpgwSecretVars":0})"));

  // Killed mid-call: a JSON-RPC error within a second; the next call restarts the fixture (a
  // fresh instance: no cancellation on record) and the other servers were not disturbed.
  EXPECT_THAT(S(s, "crash|error"), HasSubstr("closed the connection")) << J(s, "crash");
  EXPECT_TRUE(JsonAt(s, "crash|code", "-32000")) << J(s, "crash");
  const JsonValue* crash_ms = At(s, "crash|ms");
  ASSERT_NE(crash_ms, nullptr);
  EXPECT_LT(crash_ms->GetDouble(), 1000);
  EXPECT_TRUE(
      JsonAt(s, "calls|echo_after_crash|structuredContent", R"({"echo":"after the crash"})"));
  EXPECT_TRUE(JsonAt(s, "calls|cancelled_after_crash|structuredContent",
                     R"({"cancelled":[],"stillRunning":[]})"));
  EXPECT_TRUE(JsonAt(s, "calls|everything_after_crash|texts", R"(["Echo: after the crash"])"));
  EXPECT_TRUE(
      JsonAt(s, "calls|everything-image_after_crash|texts", R"(["Echo: after the crash"])"));

  // Killed from outside (`docker kill` on everything-image's container) mid-call: the same, and
  // the next call restarts it.
  EXPECT_TRUE(JsonAt(s, "kill|containers", "1")) << J(s, "kill");
  EXPECT_THAT(S(s, "calls|killed_mid_call|error"), HasSubstr("closed the connection"))
      << J(s, "calls|killed_mid_call");
  EXPECT_TRUE(JsonAt(s, "calls|killed_mid_call|code", "-32000")) << J(s, "calls|killed_mid_call");
  const JsonValue* kill_ms = At(s, "kill|ms");
  ASSERT_NE(kill_ms, nullptr);
  ASSERT_TRUE(kill_ms->IsNumber()) << J(s, "kill");
  EXPECT_LT(kill_ms->GetDouble(), 1000);
  EXPECT_TRUE(JsonAt(s, "calls|everything-image_after_kill|texts", R"(["Echo: after the kill"])"));
  EXPECT_TRUE(JsonAt(s, "calls|everything_after_kill|texts", R"(["Echo: after the kill"])"));
  EXPECT_TRUE(
      JsonAt(s, "calls|fixture_after_kill|structuredContent", R"({"echo":"after the kill"})"));

  // The fixture wrote its secret to stderr before dying: mcpgw quotes it masked. The other
  // server's secret and mcpgw's own variables were not in its env.
  EXPECT_THAT(r.err, HasSubstr("crash: FIXTURE_TOKEN=***\n"
                               "crash: EVERYTHING_TOKEN is not set\n"
                               "crash: MCPGW_SECRET_ACCEPT_FIXTURE_TOKEN is not set\n"
                               "crash: MCPGW_SECRET_ACCEPT_EVERYTHING_TOKEN is not set\n"))
      << r.err;

  // mcpgw exited by itself once its stdin closed (over HTTP: at SIGTERM), and left no
  // container behind.
  EXPECT_TRUE(JsonAt(s, "gatewayExit", R"({"code":0,"signal":null})"))
      << J(s, "gatewayExit") << r.err;
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  std::vector<std::string> left;
  do {
    left.clear();
    for (const std::string& id : ContainersOfTheProfile(**engine, profile_name)) {
      if (before.count(id) == 0) {
        left.push_back(id);
      }
    }
    if (!left.empty()) {
      absl::SleepFor(absl::Milliseconds(100));
    }
  } while (!left.empty() && absl::Now() < deadline);
  EXPECT_THAT(left, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Transports, Acceptance,
                         ::testing::Values("stdio", "streamable", "sse"));

}  // namespace
}  // namespace mcpgw
