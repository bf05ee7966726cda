// mcp-fixture-server end to end: the official TypeScript SDK client drives every tool,
// resource, prompt and notification of the fixture (sdk-fixture-client.mjs), and raw JSON
// lines check version negotiation, version-gated elicitation, crash, large results,
// cancellation and the command line.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <iostream>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/json.h"
#include "testing/subprocess.h"

namespace mcpgw::mcp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;

// --- Reading JSON in assertions without tripping RapidJSON's asserts.

// At follows `path` ("a.b.0.c": members, and array indexes as numbers); null when absent.
const JsonValue* At(const JsonValue& root, absl::string_view path) {
  const JsonValue* v = &root;
  if (path.empty()) {
    return v;
  }
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (v->IsObject()) {
      v = FindMember(*v, part);
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

// The JSON text at `path`, or "<missing>".
std::string J(const JsonValue& root, absl::string_view path) {
  const JsonValue* v = At(root, path);
  return v == nullptr ? "<missing>" : SerializeJson(*v);
}

// The string at `path`, or "<missing or not a string>".
std::string S(const JsonValue& root, absl::string_view path) {
  const JsonValue* v = At(root, path);
  return v != nullptr && v->IsString() ? std::string(AsStringView(*v))
                                       : "<missing or not a string>";
}

size_t Count(const JsonValue& root, absl::string_view path) {
  const JsonValue* v = At(root, path);
  if (v == nullptr) {
    return 0;
  }
  return v->IsArray() ? v->Size() : v->IsObject() ? v->MemberCount() : 0;
}

std::vector<std::string> Strings(const JsonValue& root, absl::string_view path) {
  std::vector<std::string> out;
  const JsonValue* v = At(root, path);
  if (v != nullptr && v->IsArray()) {
    for (const JsonValue& item : v->GetArray()) {
      out.push_back(item.IsString() ? std::string(AsStringView(item)) : SerializeJson(item));
    }
  }
  return out;
}

// Deep JSON equality (member order ignored) of the value at `path` with `expected` text.
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
         << path << " is " << SerializeJson(*got) << ", expected " << expected;
}

// --- The same SDK client through `mcpgw run`: the gateway in front of the fixture must be
// transparent (one server: no prefixes), except where it must differ (its own serverInfo, ids
// remapped for the server, a crashed server answered with an error instead of a lost
// connection).

TEST(GatewaySdk, TheFixtureThroughMcpgwRunOverStdio) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  testing::ChildResult r = testing::RunProgram(
      {modules + "/.bin/node", std::string(MCPGW_E2E_DIR) + "/sdk-fixture-client.mjs",
       MCPGW_BINARY, "run", "--command",
       absl::StrCat("fixture=", MCPGW_FIXTURE_SERVER, " --extra-tools 3")});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  absl::StatusOr<Json> summary = Json::Parse(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(summary.ok()) << summary.status() << "\n" << r.out << r.err;
  const JsonValue& s = summary->value();

  EXPECT_EQ(S(s, "negotiated"), "2025-11-25");
  EXPECT_EQ(S(s, "server.name"), "mcpgw");
  EXPECT_TRUE(JsonAt(s, "capabilities.tools", R"({"listChanged":true})"));
  EXPECT_TRUE(JsonAt(s, "capabilities.resources", R"({"subscribe":true,"listChanged":true})"));
  EXPECT_TRUE(JsonAt(s, "ping", "{}"));
  EXPECT_TRUE(JsonAt(s, "setLevel", "{}"));
  EXPECT_EQ(Strings(s, "tools").size(), 21u) << J(s, "tools");
  EXPECT_THAT(Strings(s, "tools"), ::testing::Contains("json_schema_2020_12_tool"));
  EXPECT_TRUE(JsonAt(s, "echoOutputSchema.required", R"(["echo"])"));

  EXPECT_TRUE(JsonAt(s, "calls.test_simple_text.texts",
                     R"(["This is a simple text response for testing."])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_image_content.dataLengths", "[92]"));
  EXPECT_TRUE(JsonAt(s, "calls.test_error_handling.isError", "true"));
  // Log messages arrive tagged with the server's name.
  EXPECT_TRUE(JsonAt(s, "logs", R"([
    {"level":"info","logger":"fixture","data":"Tool execution started"},
    {"level":"info","logger":"fixture","data":"Tool processing data"},
    {"level":"info","logger":"fixture","data":"Tool execution completed"}])"));
  EXPECT_TRUE(JsonAt(s, "progress", R"([{"progress":0,"total":100},{"progress":50,"total":100},
                                        {"progress":100,"total":100}])"));
  // Sampling and elicitation went from the server through the gateway to this client.
  EXPECT_TRUE(
      JsonAt(s, "serverRequests", R"({"sampling/createMessage":1,"elicitation/create":3})"));
  EXPECT_TRUE(JsonAt(s, "calls.test_sampling.texts",
                     R"(["LLM response: canned answer from the e2e client"])"));
  EXPECT_EQ(
      S(s, "calls.test_elicitation.texts.0"),
      R"(User response: action=accept, content={"username":"e2e-user","email":"e2e@example.com"})");
  EXPECT_TRUE(JsonAt(s, "calls.echo.structuredContent", R"({"echo":"hello fixture"})"));
  EXPECT_TRUE(JsonAt(s, "large", R"({"length":1048576,"bytes":1048576,"patternOk":true})"));
  EXPECT_TRUE(JsonAt(s, "slowProgress", R"([
    {"progress":1,"total":4,"message":"step 1 of 4"},{"progress":2,"total":4,"message":"step 2 of 4"},
    {"progress":3,"total":4,"message":"step 3 of 4"},{"progress":4,"total":4,"message":"step 4 of 4"}])"));
  EXPECT_TRUE(JsonAt(s, "unknownTool.code", "-32602")) << J(s, "unknownTool");

  // Cancellation crossed the gateway: the fixture recorded one cancelled request (under the
  // gateway's id for it) and nothing still runs; the client got no answer.
  EXPECT_EQ(Count(s, "cancel.cancelledSent"), 1u) << J(s, "cancel");
  EXPECT_THAT(S(s, "calls.slow_cancelled.error"), HasSubstr("e2e cancels slow"));
  EXPECT_EQ(Count(s, "calls.get_cancelled_requests.structuredContent.cancelled"), 1u)
      << J(s, "calls.get_cancelled_requests");
  EXPECT_TRUE(JsonAt(s, "calls.get_cancelled_requests.structuredContent.stillRunning", "[]"));

  EXPECT_EQ(Count(s, "resources"), 3u) << J(s, "resources");
  EXPECT_TRUE(JsonAt(s, "reads.test://static-binary.0.blobLength", "92"));
  EXPECT_TRUE(JsonAt(s, "reads.test://template/123/data.0.uri", R"("test://template/123/data")"));
  EXPECT_TRUE(JsonAt(s, "unknownResource.code", "-32002")) << J(s, "unknownResource");
  EXPECT_TRUE(JsonAt(s, "subscribe", "{}"));
  EXPECT_TRUE(JsonAt(s, "unsubscribe", "{}"));
  EXPECT_EQ(Count(s, "prompts"), 4u);
  EXPECT_EQ(S(s, "promptResults.test_prompt_with_arguments.0.text"),
            "Prompt with arguments: arg1='hello', arg2='world'");
  EXPECT_TRUE(JsonAt(s, "promptMissingArgument.code", "-32602")) << J(s, "promptMissingArgument");
  EXPECT_TRUE(JsonAt(s, "completion.values", R"(["paris","park","party"])"));
  EXPECT_TRUE(JsonAt(s, "templateCompletion.values", R"(["1","123"])"));

  // The server crashed mid-call: the client gets an error at once and keeps its connection.
  EXPECT_THAT(S(s, "crash.error"),
              HasSubstr("upstream fixture closed the connection before answering 'tools/call'"));
  EXPECT_TRUE(JsonAt(s, "crash.closed", "false"));
  const JsonValue* crash_ms = At(s, "crash.ms");
  ASSERT_NE(crash_ms, nullptr);
  EXPECT_LT(crash_ms->GetDouble(), 1000);
}

TEST(GatewayRun, SigtermStopsTheGatewayAndEveryServer) {
  // The servers start at the first need: a client initializes and lists (which starts the
  // fixture), then keeps stdin open while `timeout` sends SIGTERM to mcpgw. Every process
  // mcpgw started must be gone (this test binary is their subreaper: see no_process_left.h).
  std::string init = R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)"
                     R"("protocolVersion":"2025-11-25","capabilities":{},)"
                     R"("clientInfo":{"name":"t","version":"1"}}})";
  std::string script = absl::StrCat(
      "(printf '%s\\n' '", init, "' '{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}';",
      " sleep 3) | timeout -s TERM 1.5 ", MCPGW_BINARY, " run --command 'fx=",
      MCPGW_FIXTURE_SERVER, "'");
  auto start = absl::Now();
  testing::ChildResult r = testing::RunProgram({"/bin/sh", "-c", script});
  EXPECT_EQ(r.exit_code, 124) << r.err;  // timeout's code: it had to send the signal
  EXPECT_THAT(r.err, HasSubstr("mcpgw: stopping (signal)"));
  EXPECT_THAT(r.out, HasSubstr(R"("id":2,"result":{"tools":[)"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(GatewayRun, ASecretAServerPrintsIsMaskedInTheGatewaysOutput) {
  // The secret comes from the environment provider (MCPGW_SECRET_TOK), reaches the server's
  // env only, and the server prints it to stderr and dies: the gateway's logs quote its
  // stderr with the value masked, and the value is on no command line.
  std::string init = R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)"
                     R"("protocolVersion":"2025-11-25","capabilities":{},)"
                     R"("clientInfo":{"name":"t","version":"1"}}})";
  std::string input = init + "\n" + R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})" + "\n";
  testing::ChildResult r = testing::RunProgram(
      {MCPGW_BINARY, "run", "--command",
       "leaky=/bin/sh -c 'echo \"my token is $TOKEN\" >&2; exit 3'", "--env",
       "TOKEN={{secret.tok}}"},
      input, {"MCPGW_SECRET_TOK=tok-5e1f0b7d2a", "XDG_CONFIG_HOME=" + ::testing::TempDir()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(R"("id":2,"result":{"tools":[]})"));
  EXPECT_THAT(r.err, HasSubstr("my token is ***"));
  EXPECT_THAT(r.err, Not(HasSubstr("tok-5e1f0b7d2a")));
  EXPECT_THAT(r.out, Not(HasSubstr("tok-5e1f0b7d2a")));
}

// --- Raw JSON lines.

std::string Initialize(absl::string_view version, absl::string_view capabilities = "{}") {
  return absl::StrCat(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)",
                      R"("protocolVersion":")", version, R"(","capabilities":)", capabilities,
                      R"(,"clientInfo":{"name":"raw-e2e","version":"0"}}})", "\n",
                      R"({"jsonrpc":"2.0","method":"notifications/initialized"})", "\n");
}

std::string CallTool(int id, absl::string_view name, absl::string_view arguments,
                     absl::string_view meta = "") {
  return absl::StrCat(R"({"jsonrpc":"2.0","id":)", id,
                      R"(,"method":"tools/call","params":{"name":")", name, R"(","arguments":)",
                      arguments, meta.empty() ? "" : R"(,"_meta":)", meta, "}}\n");
}

struct Lines {
  std::vector<Json> messages;
  std::vector<std::string> unparsable;

  // The response to request `id`, or null.
  const JsonValue* Response(int64_t id) const {
    for (const Json& m : messages) {
      const JsonValue* v = FindMember(m.value(), "id");
      if (v != nullptr && v->IsInt64() && v->GetInt64() == id &&
          FindMember(m.value(), "method") == nullptr) {
        return &m.value();
      }
    }
    return nullptr;
  }
  size_t CountMethod(absl::string_view method) const {
    size_t n = 0;
    for (const Json& m : messages) {
      const JsonValue* v = FindMember(m.value(), "method");
      n += v != nullptr && v->IsString() && AsStringView(*v) == method ? 1 : 0;
    }
    return n;
  }
};

Lines ParseLines(const std::string& out) {
  Lines lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    absl::StatusOr<Json> j = Json::Parse(line);
    if (j.ok() && j->is_object() && S(j->value(), "jsonrpc") == "2.0") {
      lines.messages.push_back(*std::move(j));
    } else {
      lines.unparsable.emplace_back(line.substr(0, 200));
    }
  }
  return lines;
}

struct Timed {
  testing::ChildResult result;
  double seconds = 0;
};

Timed RunFixture(const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv = {MCPGW_FIXTURE_SERVER};
  argv.insert(argv.end(), args.begin(), args.end());
  auto start = std::chrono::steady_clock::now();
  Timed t;
  t.result = testing::RunProgram(argv, input);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

// --- The TypeScript SDK client against the fixture.

TEST(FixtureSdk, EveryToolResourcePromptAndNotification) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  auto start = std::chrono::steady_clock::now();
  testing::ChildResult r = testing::RunProgram(
      {modules + "/.bin/node", std::string(MCPGW_E2E_DIR) + "/sdk-fixture-client.mjs",
       MCPGW_FIXTURE_SERVER, "--extra-tools", "3"});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  absl::StatusOr<Json> summary = Json::Parse(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(summary.ok()) << summary.status() << "\n" << r.out << r.err;
  const JsonValue& s = summary->value();
  std::cout << "[ fixture ] SDK run: " << seconds << " s (client's own count " << J(s, "elapsedMs")
            << " ms)\n";

  // Initialization and capabilities.
  EXPECT_EQ(S(s, "negotiated"), "2025-11-25");
  EXPECT_EQ(S(s, "server.name"), "mcp-fixture-server");
  EXPECT_THAT(S(s, "instructions"), HasSubstr("conformance"));
  EXPECT_TRUE(JsonAt(s, "capabilities.tools", R"({"listChanged":true})"));
  EXPECT_TRUE(JsonAt(s, "capabilities.resources", R"({"subscribe":true,"listChanged":true})"));
  EXPECT_TRUE(JsonAt(s, "capabilities.prompts", R"({"listChanged":true})"));
  EXPECT_TRUE(JsonAt(s, "capabilities.logging", "{}"));
  EXPECT_TRUE(JsonAt(s, "capabilities.completions", "{}"));
  EXPECT_TRUE(JsonAt(s, "ping", "{}"));
  EXPECT_TRUE(JsonAt(s, "setLevel", "{}"));

  // Every tool, each with a description; the 2020-12 schema exactly as the suite wrote it.
  EXPECT_THAT(Strings(s, "tools"), UnorderedElementsAreArray(
                                       std::vector<std::string>{"test_simple_text",
                                                                "test_image_content",
                                                                "test_audio_content",
                                                                "test_embedded_resource",
                                                                "test_multiple_content_types",
                                                                "test_tool_with_logging",
                                                                "test_tool_with_progress",
                                                                "test_error_handling",
                                                                "test_sampling",
                                                                "test_elicitation",
                                                                "test_elicitation_sep1034_defaults",
                                                                "test_elicitation_sep1330_enums",
                                                                "json_schema_2020_12_tool",
                                                                "echo",
                                                                "slow",
                                                                "get_cancelled_requests",
                                                                "crash",
                                                                "large_result",
                                                                "extra_0",
                                                                "extra_1",
                                                                "extra_2"}));
  EXPECT_THAT(Strings(s, "toolsWithoutDescription"), IsEmpty());
  EXPECT_TRUE(JsonAt(s, "jsonSchemaTool", R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"$anchor": "addressDef", "type": "object",
              "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
                   "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                   "phone": {"type": "string"}, "email": {"type": "string"}},
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": false})"));
  EXPECT_TRUE(JsonAt(s, "echoOutputSchema.required", R"(["echo"])"));

  // The conformance tools' results.
  EXPECT_TRUE(JsonAt(s, "calls.test_simple_text",
                     R"({"isError":false,"types":["text"],
                         "texts":["This is a simple text response for testing."],
                         "mimeTypes":[null],"resources":[],"dataLengths":[0],
                         "structuredContent":null})"));
  EXPECT_TRUE(JsonAt(s, "calls.test_image_content.types", R"(["image"])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_image_content.mimeTypes", R"(["image/png"])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_image_content.dataLengths", "[92]"));
  EXPECT_TRUE(JsonAt(s, "calls.test_audio_content.types", R"(["audio"])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_audio_content.mimeTypes", R"(["audio/wav"])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_audio_content.dataLengths", "[72]"));
  EXPECT_TRUE(JsonAt(s, "calls.test_embedded_resource.resources",
                     R"([{"uri":"test://embedded-resource","mimeType":"text/plain",
                          "text":"This is an embedded resource content."}])"));
  EXPECT_TRUE(
      JsonAt(s, "calls.test_multiple_content_types.types", R"(["text","image","resource"])"));
  EXPECT_TRUE(
      JsonAt(s, "calls.test_multiple_content_types.texts", R"(["Multiple content types test:"])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_multiple_content_types.resources",
                     R"([{"uri":"test://mixed-content-resource","mimeType":"application/json",
                          "text":"{\"test\":\"data\",\"value\":123}"}])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_error_handling.isError", "true"));
  EXPECT_TRUE(JsonAt(s, "calls.test_error_handling.texts",
                     R"(["This tool intentionally returns an error for testing"])"));

  // Notifications: three info logs during the call, progress 0/50/100 of 100.
  EXPECT_TRUE(JsonAt(s, "logs", R"([
    {"level":"info","data":"Tool execution started"},
    {"level":"info","data":"Tool processing data"},
    {"level":"info","data":"Tool execution completed"}])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_tool_with_logging.texts",
                     R"(["Tool with logging executed successfully"])"));
  EXPECT_TRUE(JsonAt(s, "progress", R"([{"progress":0,"total":100},{"progress":50,"total":100},
                                        {"progress":100,"total":100}])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_tool_with_progress.isError", "false"));
  // (The SDK's onprogress may miss the last one, which arrives with the response.)
  EXPECT_TRUE(JsonAt(s, "sdkProgressSeen", "2") || JsonAt(s, "sdkProgressSeen", "3"))
      << J(s, "sdkProgressSeen");

  // Sampling and elicitation round trips.
  EXPECT_TRUE(
      JsonAt(s, "serverRequests", R"({"sampling/createMessage":1,"elicitation/create":3})"));
  EXPECT_TRUE(JsonAt(s, "sampling", R"([{"messages":[{"role":"user",
      "content":{"type":"text","text":"What is 2+2?"}}],"maxTokens":100}])"));
  EXPECT_TRUE(JsonAt(s, "calls.test_sampling.texts",
                     R"(["LLM response: canned answer from the e2e client"])"));
  ASSERT_EQ(Count(s, "elicitation"), 3u) << J(s, "elicitation");
  EXPECT_TRUE(JsonAt(s, "elicitation.0", R"({"message":"Who are you?",
      "properties":["username","email"],"required":["username","email"],"defaults":{}})"));
  EXPECT_TRUE(JsonAt(s, "elicitation.1.defaults", R"({"name":"John Doe","age":30,"score":95.5,
                                                     "status":"active","verified":true})"));
  EXPECT_TRUE(JsonAt(s, "elicitation.2.properties", R"(["untitledSingle","titledSingle",
      "legacyEnum","untitledMulti","titledMulti"])"));
  EXPECT_EQ(
      S(s, "calls.test_elicitation.texts.0"),
      R"(User response: action=accept, content={"username":"e2e-user","email":"e2e@example.com"})");
  EXPECT_EQ(S(s, "calls.test_elicitation_sep1034_defaults.texts.0"),
            R"(Elicitation completed: action=accept, content={"name":"Jane Smith","age":25,)"
            R"("score":88,"status":"inactive","verified":false})");
  EXPECT_EQ(S(s, "calls.test_elicitation_sep1330_enums.texts.0"),
            R"(Elicitation completed: action=accept, content={"untitledSingle":"option1",)"
            R"("titledSingle":"value1","legacyEnum":"opt1","untitledMulti":["option1","option2"],)"
            R"("titledMulti":["value1","value2"]})");
  EXPECT_EQ(S(s, "calls.json_schema_2020_12_tool.texts.0"),
            R"(Received: {"name":"Ada","contactMethod":"email","email":"ada@example.com"})");

  // Our tools.
  EXPECT_TRUE(JsonAt(s, "calls.echo.texts", R"(["Echo: hello fixture"])"));
  EXPECT_TRUE(JsonAt(s, "calls.echo.structuredContent", R"({"echo":"hello fixture"})"));
  EXPECT_TRUE(JsonAt(s, "calls.echo_without_message.isError", "true"));
  EXPECT_THAT(S(s, "calls.echo_without_message.texts.0"), HasSubstr("message"));
  EXPECT_TRUE(JsonAt(s, "large", R"({"length":1048576,"bytes":1048576,"patternOk":true})"));
  EXPECT_TRUE(JsonAt(s, "calls.large_result_too_big.isError", "true"));
  EXPECT_THAT(S(s, "calls.large_result_too_big.texts.0"), HasSubstr("64 MiB"));
  EXPECT_TRUE(JsonAt(s, "slowProgress", R"([
    {"progress":1,"total":4,"message":"step 1 of 4"},{"progress":2,"total":4,"message":"step 2 of 4"},
    {"progress":3,"total":4,"message":"step 3 of 4"},{"progress":4,"total":4,"message":"step 4 of 4"}])"));
  EXPECT_THAT(S(s, "calls.slow.texts.0"), StartsWith("slow: 4 steps in "));
  for (int i = 0; i < 3; ++i) {
    std::string name = absl::StrCat("extra_", i);
    EXPECT_EQ(S(s, absl::StrCat("calls.", name, ".texts.0")),
              absl::StrCat(R"({"n":")", name, R"(","list":[1,2.5,null]})"));
  }
  EXPECT_TRUE(JsonAt(s, "unknownTool.code", "-32602")) << J(s, "unknownTool");

  // Cancellation: the client aborted the long `slow` call at its first progress; the fixture
  // recorded that request's id and its handler had stopped when asked.
  const JsonValue* cancelled_id = At(s, "cancel.requestId");
  ASSERT_NE(cancelled_id, nullptr) << J(s, "cancel");
  ASSERT_TRUE(cancelled_id->IsInt64()) << J(s, "cancel");
  std::string id_text = SerializeJson(*cancelled_id);
  EXPECT_TRUE(JsonAt(s, "cancel.cancelledSent", absl::StrCat("[", id_text, "]")));
  EXPECT_TRUE(JsonAt(s, "cancel.progressBeforeAbort", "1")) << J(s, "cancel");
  EXPECT_THAT(S(s, "calls.slow_cancelled.error"), HasSubstr("e2e cancels slow"));
  EXPECT_TRUE(JsonAt(s, "calls.get_cancelled_requests.structuredContent",
                     absl::StrCat(R"({"cancelled":[)", id_text, R"(],"stillRunning":[]})")));
  EXPECT_TRUE(JsonAt(s, "calls.get_cancelled_requests.texts",
                     absl::StrCat(R"([")", "[", id_text, R"(]"])")));
  const JsonValue* ask_ms = At(s, "cancel.msGetCancelled");
  ASSERT_NE(ask_ms, nullptr);
  EXPECT_LT(ask_ms->GetDouble(), 1000) << "the cancelled handler did not stop at once";

  // Resources, the template, subscriptions.
  EXPECT_TRUE(JsonAt(s, "resources", R"([
    {"uri":"test://static-text","name":"Static Text Resource","mimeType":"text/plain",
     "description":"A static text resource for testing"},
    {"uri":"test://static-binary","name":"Static Binary Resource","mimeType":"image/png",
     "description":"A static binary resource (a 1x1 PNG) for testing"},
    {"uri":"test://watched-resource","name":"Watched Resource","mimeType":"text/plain",
     "description":"A resource to subscribe to and unsubscribe from"}])"));
  EXPECT_TRUE(
      JsonAt(s, "templates",
             R"([{"uriTemplate":"test://template/{id}/data","mimeType":"application/json"}])"));
  EXPECT_TRUE(JsonAt(s, "reads.test://static-text", R"([{"uri":"test://static-text",
      "mimeType":"text/plain","text":"This is the content of the static text resource.",
      "blobLength":null}])"));
  EXPECT_TRUE(JsonAt(s, "reads.test://static-binary", R"([{"uri":"test://static-binary",
      "mimeType":"image/png","text":null,"blobLength":92}])"));
  EXPECT_TRUE(JsonAt(s, "reads.test://watched-resource.0.text", R"("Watched resource content")"));
  EXPECT_TRUE(JsonAt(s, "reads.test://template/123/data", R"([{"uri":"test://template/123/data",
      "mimeType":"application/json",
      "text":"{\"id\":\"123\",\"templateTest\":true,\"data\":\"Data for ID: 123\"}",
      "blobLength":null}])"));
  EXPECT_TRUE(JsonAt(s, "unknownResource.code", "-32002")) << J(s, "unknownResource");
  EXPECT_TRUE(JsonAt(s, "subscribe", "{}"));
  EXPECT_TRUE(JsonAt(s, "unsubscribe", "{}"));

  // Prompts and completion.
  EXPECT_TRUE(JsonAt(s, "prompts", R"json([
    {"name":"test_simple_prompt","description":"A simple prompt without arguments","arguments":[]},
    {"name":"test_prompt_with_arguments",
     "description":"A prompt with two arguments (arg1 can be completed)",
     "arguments":[{"name":"arg1","required":true},{"name":"arg2","required":true}]},
    {"name":"test_prompt_with_embedded_resource",
     "description":"A prompt embedding the resource it is given",
     "arguments":[{"name":"resourceUri","required":true}]},
    {"name":"test_prompt_with_image","description":"A prompt with an image","arguments":[]}])json"));
  EXPECT_TRUE(JsonAt(s, "promptResults.test_simple_prompt", R"([{"role":"user","type":"text",
      "text":"This is a simple prompt for testing.","mimeType":null,"uri":null,
      "resourceText":null,"dataLength":null}])"));
  EXPECT_EQ(S(s, "promptResults.test_prompt_with_arguments.0.text"),
            "Prompt with arguments: arg1='hello', arg2='world'");
  EXPECT_TRUE(JsonAt(s, "promptResults.test_prompt_with_embedded_resource", R"([
    {"role":"user","type":"resource","text":null,"mimeType":"text/plain",
     "uri":"test://example-resource","resourceText":"Embedded resource content for testing.",
     "dataLength":null},
    {"role":"user","type":"text","text":"Please process the embedded resource above.",
     "mimeType":null,"uri":null,"resourceText":null,"dataLength":null}])"));
  EXPECT_TRUE(JsonAt(s, "promptResults.test_prompt_with_image", R"([
    {"role":"user","type":"image","text":null,"mimeType":"image/png","uri":null,
     "resourceText":null,"dataLength":92},
    {"role":"user","type":"text","text":"Please analyze the image above.","mimeType":null,
     "uri":null,"resourceText":null,"dataLength":null}])"));
  EXPECT_TRUE(JsonAt(s, "promptMissingArgument.code", "-32602")) << J(s, "promptMissingArgument");
  EXPECT_TRUE(JsonAt(s, "completion", R"({"values":["paris","park","party"],"total":3,
                                         "hasMore":false})"));
  EXPECT_TRUE(JsonAt(s, "templateCompletion.values", R"(["1","123"])"));

  // Crash, last: the call fails because the connection closed.
  EXPECT_THAT(S(s, "crash.error"), HasSubstr("Connection closed"));
  EXPECT_TRUE(JsonAt(s, "crash.closed", "true"));
}

// --- Raw JSON lines.

struct Negotiation {
  const char* offered;
  const char* answered;
  bool completions;  // the completions capability exists from 2025-03-26
};

// Names the case in ctest's list ("Offer_2025_03_26") instead of a byte dump.
void PrintTo(const Negotiation& n, std::ostream* os) { *os << n.offered; }

class FixtureInitialize : public ::testing::TestWithParam<Negotiation> {};

TEST_P(FixtureInitialize, AnswersWithTheNegotiatedRevision) {
  Timed t =
      RunFixture({}, Initialize(GetParam().offered) + R"({"jsonrpc":"2.0","id":2,"method":"ping"})"
                                                      "\n");
  ASSERT_EQ(t.result.exit_code, 0) << t.result.err;  // stdin ended: exit 0
  Lines lines = ParseLines(t.result.out);
  EXPECT_THAT(lines.unparsable, IsEmpty());
  const JsonValue* init = lines.Response(1);
  ASSERT_NE(init, nullptr) << t.result.out;
  EXPECT_EQ(S(*init, "result.protocolVersion"), GetParam().answered) << t.result.out;
  EXPECT_EQ(S(*init, "result.serverInfo.name"), "mcp-fixture-server");
  EXPECT_TRUE(JsonAt(*init, "result.capabilities.tools", R"({"listChanged":true})"));
  EXPECT_TRUE(
      JsonAt(*init, "result.capabilities.resources", R"({"subscribe":true,"listChanged":true})"));
  EXPECT_TRUE(JsonAt(*init, "result.capabilities.prompts", R"({"listChanged":true})"));
  EXPECT_TRUE(JsonAt(*init, "result.capabilities.logging", "{}"));
  EXPECT_EQ(At(*init, "result.capabilities.completions") != nullptr, GetParam().completions)
      << t.result.out;
  const JsonValue* ping = lines.Response(2);
  ASSERT_NE(ping, nullptr) << t.result.out;
  EXPECT_TRUE(JsonAt(*ping, "result", "{}"));
}

INSTANTIATE_TEST_SUITE_P(Revisions, FixtureInitialize,
                         ::testing::Values(Negotiation{"2024-11-05", "2024-11-05", false},
                                           Negotiation{"2025-03-26", "2025-03-26", true},
                                           Negotiation{"2025-06-18", "2025-06-18", true},
                                           Negotiation{"2025-11-25", "2025-11-25", true},
                                           Negotiation{"2099-01-01", "2025-11-25", true}),
                         [](const ::testing::TestParamInfo<Negotiation>& param_info) {
                           std::string name = absl::StrCat("Offer_", param_info.param.offered);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(FixtureRaw, NeverElicitsFromA20250326Client) {
  // The client even claims the capability; 2025-03-26 has no elicitation, so the fixture must
  // not ask, and the tool fails with a tool error instead.
  Timed t = RunFixture({}, Initialize("2025-03-26", R"({"elicitation":{},"sampling":{}})") +
                               CallTool(2, "test_elicitation", R"({"message":"who?"})"));
  ASSERT_EQ(t.result.exit_code, 0) << t.result.err;
  EXPECT_THAT(t.result.out, Not(HasSubstr("elicitation/create")));
  Lines lines = ParseLines(t.result.out);
  EXPECT_EQ(lines.CountMethod("elicitation/create"), 0u);
  const JsonValue* call = lines.Response(2);
  ASSERT_NE(call, nullptr) << t.result.out;
  EXPECT_TRUE(JsonAt(*call, "result.isError", "true")) << t.result.out;
  EXPECT_THAT(S(*call, "result.content.0.text"), HasSubstr("elicitation")) << t.result.out;
  EXPECT_LT(t.seconds, 10) << "the tool must fail at once, not after a timeout";
}

TEST(FixtureRaw, CrashExitsAtOnceWithoutAnswering) {
  Timed t = RunFixture({}, Initialize("2025-11-25") + CallTool(2, "crash", R"({"exit_code":7})"));
  EXPECT_EQ(t.result.exit_code, 7) << t.result.err;
  Lines lines = ParseLines(t.result.out);
  EXPECT_NE(lines.Response(1), nullptr) << t.result.out;
  EXPECT_EQ(lines.Response(2), nullptr) << t.result.out;
  EXPECT_THAT(t.result.err, HasSubstr("crash"));
}

TEST(FixtureRaw, CrashWritesTheVariablePrintEnvNamesToStderrFirst) {
  // For tests of secret masking: the value goes to stderr unmasked (the gateway masks it).
  testing::ChildResult r = testing::RunProgram(
      {MCPGW_FIXTURE_SERVER},
      Initialize("2025-11-25") +
          CallTool(2, "crash",
                   R"({"exit_code":4,"print_env":"FIXTURE_TEST_VALUE,FIXTURE_TEST_OTHER"})"),
      {"FIXTURE_TEST_VALUE=v-81c2", "FIXTURE_TEST_OTHER=w"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("crash: FIXTURE_TEST_VALUE=v-81c2\ncrash: FIXTURE_TEST_OTHER=w\n"));
  EXPECT_EQ(ParseLines(r.out).Response(2), nullptr) << r.out;

  testing::ChildResult unset = testing::RunProgram(
      {MCPGW_FIXTURE_SERVER},
      Initialize("2025-11-25") + CallTool(2, "crash", R"({"print_env":"FIXTURE_NO_SUCH_VAR"})"));
  EXPECT_EQ(unset.exit_code, 1) << unset.err;
  EXPECT_THAT(unset.err, HasSubstr("crash: FIXTURE_NO_SUCH_VAR is not set\n"));
}

TEST(FixtureRaw, LargeResultUpTo64MiB) {
  // 64 MiB is beyond the transport's default limit (16 MiB): the fixture raises it.
  constexpr int64_t kMiB = 1 << 20;
  Timed t = RunFixture(
      {}, Initialize("2025-11-25") +
              CallTool(2, "large_result", absl::StrCat(R"({"bytes":)", 64 * kMiB, "}")) +
              CallTool(3, "large_result", absl::StrCat(R"({"bytes":)", 64 * kMiB + 1, "}")) +
              CallTool(4, "large_result", R"({"bytes":0})"));
  ASSERT_EQ(t.result.exit_code, 0) << t.result.err;
  Lines lines = ParseLines(t.result.out);
  for (auto [id, size] : {std::pair<int, int64_t>{2, 64 * kMiB}, {4, 0}}) {
    const JsonValue* r = lines.Response(id);
    ASSERT_NE(r, nullptr) << "no answer to large_result " << size << ": " << t.result.err;
    const JsonValue* text = At(*r, "result.content.0.text");
    ASSERT_NE(text, nullptr) << J(*r, "error");
    EXPECT_EQ(text->GetStringLength(), static_cast<size_t>(size));
    EXPECT_EQ(At(*r, "result.isError"), nullptr);
  }
  const JsonValue* too_big = lines.Response(3);
  ASSERT_NE(too_big, nullptr);
  EXPECT_TRUE(JsonAt(*too_big, "result.isError", "true"));
  EXPECT_THAT(S(*too_big, "result.content.0.text"), HasSubstr("64 MiB"));
  std::cout << "[ fixture ] a 64 MiB result: " << t.seconds << " s\n";
}

TEST(FixtureRaw, CancelledSlowCallIsNeverAnswered) {
  Timed t = RunFixture(
      {}, Initialize("2025-11-25") +
              CallTool(2, "slow", R"({"seconds":60,"steps":600})", R"({"progressToken":"p"})") +
              R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}})"
              "\n"
              R"({"jsonrpc":"2.0","id":3,"method":"ping"})"
              "\n");
  ASSERT_EQ(t.result.exit_code, 0) << t.result.err;
  Lines lines = ParseLines(t.result.out);
  EXPECT_EQ(lines.Response(2), nullptr) << t.result.out;
  EXPECT_NE(lines.Response(3), nullptr) << t.result.out;
  EXPECT_LT(t.seconds, 10) << "a cancelled call must not keep the fixture alive";
}

TEST(FixtureRaw, StdoutCarriesOnlyProtocolWithDebugLogs) {
  Timed t = RunFixture({"--log-level", "debug"},
                       Initialize("2025-11-25") + CallTool(2, "echo", R"({"message":"x"})") +
                           R"({"jsonrpc":"2.0","id":3,"method":"tools/list"})"
                           "\n");
  ASSERT_EQ(t.result.exit_code, 0) << t.result.err;
  Lines lines = ParseLines(t.result.out);
  EXPECT_THAT(lines.unparsable, IsEmpty());
  EXPECT_EQ(lines.messages.size(), 3u) << t.result.out;
  EXPECT_FALSE(t.result.err.empty()) << "debug logs go to stderr";
  const JsonValue* echo = lines.Response(2);
  ASSERT_NE(echo, nullptr);
  EXPECT_TRUE(JsonAt(*echo, "result.structuredContent", R"({"echo":"x"})"));
}

TEST(FixtureRaw, ExtraToolsAreListedAndEchoTheirArguments) {
  Timed t =
      RunFixture({"--extra-tools", "2"}, Initialize("2025-11-25") +
                                             R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})"
                                             "\n" +
                                             CallTool(3, "extra_1", R"({"k":[true,{"x":1}]})") +
                                             CallTool(4, "extra_2", "{}"));
  ASSERT_EQ(t.result.exit_code, 0) << t.result.err;
  Lines lines = ParseLines(t.result.out);
  const JsonValue* list = lines.Response(2);
  ASSERT_NE(list, nullptr);
  std::vector<std::string> names;
  for (size_t i = 0; i < Count(*list, "result.tools"); ++i) {
    names.push_back(S(*list, absl::StrCat("result.tools.", i, ".name")));
  }
  EXPECT_EQ(std::count(names.begin(), names.end(), "extra_0"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "extra_1"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "extra_2"), 0);
  EXPECT_EQ(names.size(), 20u);
  const JsonValue* extra = lines.Response(3);
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(S(*extra, "result.content.0.text"), R"({"k":[true,{"x":1}]})");
  const JsonValue* unknown = lines.Response(4);
  ASSERT_NE(unknown, nullptr);
  EXPECT_TRUE(JsonAt(*unknown, "error.code", "-32602")) << J(*unknown, "");
}

TEST(FixtureFlags, HelpAndBadFlags) {
  Timed help = RunFixture({"--help"}, "");
  EXPECT_EQ(help.result.exit_code, 0);
  EXPECT_THAT(help.result.out, HasSubstr("--extra-tools"));
  EXPECT_THAT(help.result.out, HasSubstr("--log-level"));

  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--bogus"},
                                              {"--log-level", "loud"},
                                              {"--extra-tools", "x"},
                                              {"--extra-tools", "100001"},
                                              {"stray"}}) {
    Timed t = RunFixture(bad, "");
    EXPECT_EQ(t.result.exit_code, 2) << bad[0];
    EXPECT_THAT(t.result.err, StartsWith("mcp-fixture-server: ")) << bad[0];
    EXPECT_EQ(std::count(t.result.err.begin(), t.result.err.end(), '\n'), 1) << t.result.err;
    EXPECT_TRUE(t.result.out.empty()) << t.result.out;
  }
}

TEST(FixtureRaw, EmptyInputExitsZero) {
  Timed t = RunFixture({}, "");
  EXPECT_EQ(t.result.exit_code, 0) << t.result.err;
  EXPECT_TRUE(t.result.out.empty());
  EXPECT_LT(t.seconds, 10);
}

}  // namespace
}  // namespace mcpgw::mcp
