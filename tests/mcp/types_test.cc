#include "mcpgw/mcp/types.h"

#include <set>
#include <string>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_bind.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::HasSubstr;

Json ParseJson(absl::string_view text) {
  absl::StatusOr<Json> json = Json::Parse(text);
  EXPECT_THAT(json, IsOk()) << text;
  return json.ok() ? *std::move(json) : Json();
}

// Reads `text` as a T, checks that writing it back gives exactly the same JSON, and returns
// the value read.
template <typename T>
absl::StatusOr<T> RoundTrip(absl::string_view text) {
  absl::StatusOr<Json> json = Json::Parse(text);
  if (!json.ok()) {
    return json.status();
  }
  absl::StatusOr<T> value = FromJson<T>(json->value());
  if (!value.ok()) {
    return value.status();
  }
  Json written = ToJson(*value);
  if (!(written == *json)) {
    return absl::InternalError(absl::StrCat("round trip changed the JSON\n   read: ",
                                            json->Serialize(), "\n  wrote: ", written.Serialize()));
  }
  return value;
}

// The status of reading `text` as a T.
template <typename T>
absl::Status ReadStatus(absl::string_view text) {
  absl::StatusOr<Json> json = Json::Parse(text);
  if (!json.ok()) {
    return json.status();
  }
  return FromJson<T>(json->value()).status();
}

// The member `key` of the object `json` (null when absent).
Json Member(const Json& json, absl::string_view key) {
  const JsonValue* v = FindMember(json.value(), key);
  return v == nullptr ? Json() : Json::Copy(*v);
}

// --- Lifecycle

TEST(Types, ImplementationRoundTrip) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Implementation impl,
                             RoundTrip<Implementation>(R"({"name":"x","version":"1",
          "futureField":[1,2]})"));
  EXPECT_EQ(impl.name, "x");
  EXPECT_EQ(impl.version, "1");
  EXPECT_FALSE(impl.title.has_value());
  EXPECT_EQ(Member(impl.extra, "futureField"), ParseJson("[1,2]"));
}

TEST(Types, InitializeParamsLatestRevision) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InitializeParams params, RoundTrip<InitializeParams>(R"({
    "protocolVersion": "2025-11-25",
    "capabilities": {
      "roots": {"listChanged": true},
      "sampling": {"tools": {}, "context": {}},
      "elicitation": {"form": {}, "url": {}},
      "tasks": {"list": {}, "cancel": {},
                "requests": {"sampling": {"createMessage": {}},
                             "elicitation": {"create": {}}}},
      "experimental": {"com.example/feature": {"level": 2}}
    },
    "clientInfo": {
      "name": "ExampleClient",
      "title": "Example Client Display Name",
      "version": "1.0.0",
      "description": "An example MCP client application",
      "icons": [{"src": "https://example.com/icon.png", "mimeType": "image/png",
                 "sizes": ["48x48"], "theme": "light"}],
      "websiteUrl": "https://example.com"
    },
    "_meta": {"progressToken": 7}
  })"));
  EXPECT_EQ(params.protocol_version, "2025-11-25");
  const ClientCapabilities& caps = params.capabilities;
  ASSERT_TRUE(caps.roots.has_value());
  EXPECT_EQ(caps.roots->list_changed, true);
  ASSERT_TRUE(caps.sampling.has_value());
  EXPECT_TRUE(caps.sampling->tools.has_value());
  EXPECT_TRUE(caps.sampling->context.has_value());
  ASSERT_TRUE(caps.elicitation.has_value());
  EXPECT_TRUE(caps.elicitation->supports_form());
  EXPECT_TRUE(caps.elicitation->supports_url());
  ASSERT_TRUE(caps.tasks.has_value());
  EXPECT_TRUE(caps.tasks->list.has_value());
  ASSERT_TRUE(caps.tasks->requests.has_value());
  ASSERT_TRUE(caps.tasks->requests->sampling.has_value());
  EXPECT_TRUE(caps.tasks->requests->sampling->create_message.has_value());
  ASSERT_TRUE(caps.tasks->requests->elicitation.has_value());
  EXPECT_TRUE(caps.tasks->requests->elicitation->create.has_value());
  ASSERT_TRUE(caps.experimental.has_value());
  EXPECT_EQ(Member(*caps.experimental, "com.example/feature"), ParseJson(R"({"level":2})"));
  EXPECT_EQ(params.client_info.name, "ExampleClient");
  EXPECT_EQ(params.client_info.title, "Example Client Display Name");
  EXPECT_EQ(params.client_info.website_url, "https://example.com");
  ASSERT_TRUE(params.client_info.icons.has_value());
  ASSERT_EQ(params.client_info.icons->size(), 1u);
  EXPECT_EQ((*params.client_info.icons)[0].sizes, std::vector<std::string>{"48x48"});
  ASSERT_TRUE(params.meta.has_value());
  EXPECT_EQ(Member(*params.meta, "progressToken"), ParseJson("7"));
}

TEST(Types, InitializeParamsOldestRevision) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InitializeParams params, RoundTrip<InitializeParams>(R"({
    "protocolVersion": "2024-11-05",
    "capabilities": {"roots": {"listChanged": true}, "sampling": {}},
    "clientInfo": {"name": "ExampleClient", "version": "1.0.0"}
  })"));
  EXPECT_EQ(params.protocol_version, "2024-11-05");
  EXPECT_TRUE(params.capabilities.sampling.has_value());
  EXPECT_FALSE(params.capabilities.sampling->tools.has_value());
  EXPECT_FALSE(params.capabilities.elicitation.has_value());
  EXPECT_FALSE(params.capabilities.tasks.has_value());
  EXPECT_FALSE(params.client_info.title.has_value());
  EXPECT_FALSE(params.meta.has_value());
}

TEST(Types, InitializeParamsMissingMembers) {
  EXPECT_THAT(ReadStatus<InitializeParams>(
                  R"({"capabilities":{},"clientInfo":{"name":"c","version":"1"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("protocolVersion: required member is missing")));
  EXPECT_THAT(
      ReadStatus<InitializeParams>(
          R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c"}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("clientInfo.version: required member is missing")));
  EXPECT_THAT(ReadStatus<InitializeParams>(R"({"protocolVersion":"2025-11-25",
                  "capabilities":{"roots":{"listChanged":"yes"}},
                  "clientInfo":{"name":"c","version":"1"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("capabilities.roots.listChanged: must be true or false")));
  EXPECT_THAT(
      ReadStatus<InitializeParams>(R"({"protocolVersion":20251125,
                  "capabilities":{},"clientInfo":{"name":"c","version":"1"}})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("protocolVersion: must be a string")));
}

TEST(Types, InitializeResult) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InitializeResult result, RoundTrip<InitializeResult>(R"({
    "protocolVersion": "2025-11-25",
    "capabilities": {
      "logging": {},
      "completions": {},
      "prompts": {"listChanged": true},
      "resources": {"subscribe": true, "listChanged": true},
      "tools": {"listChanged": true},
      "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
      "experimental": {}
    },
    "serverInfo": {"name": "ExampleServer", "title": "Example Server Display Name",
                   "version": "1.0.0", "description": "An example MCP server"},
    "instructions": "Optional instructions for the client"
  })"));
  const ServerCapabilities& caps = result.capabilities;
  EXPECT_TRUE(caps.logging.has_value());
  EXPECT_TRUE(caps.completions.has_value());
  ASSERT_TRUE(caps.prompts.has_value());
  EXPECT_EQ(caps.prompts->list_changed, true);
  ASSERT_TRUE(caps.resources.has_value());
  EXPECT_EQ(caps.resources->subscribe, true);
  EXPECT_EQ(caps.resources->list_changed, true);
  ASSERT_TRUE(caps.tools.has_value());
  EXPECT_EQ(caps.tools->list_changed, true);
  ASSERT_TRUE(caps.tasks.has_value());
  ASSERT_TRUE(caps.tasks->requests.has_value());
  ASSERT_TRUE(caps.tasks->requests->tools.has_value());
  EXPECT_TRUE(caps.tasks->requests->tools->call.has_value());
  EXPECT_EQ(result.server_info.description, "An example MCP server");
  EXPECT_EQ(result.instructions, "Optional instructions for the client");
}

TEST(Types, InitializeResultOldRevisionHasNoOptionalMembers) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InitializeResult result, RoundTrip<InitializeResult>(R"({
    "protocolVersion": "2024-11-05",
    "capabilities": {"tools": {}},
    "serverInfo": {"name": "s", "version": "0.1"}
  })"));
  ASSERT_TRUE(result.capabilities.tools.has_value());
  EXPECT_FALSE(result.capabilities.tools->list_changed.has_value());
  EXPECT_FALSE(result.capabilities.completions.has_value());
  EXPECT_FALSE(result.instructions.has_value());
}

TEST(Types, ElicitationCapabilityModes) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto empty, RoundTrip<ElicitationCapability>("{}"));
  EXPECT_TRUE(empty.supports_form());  // 2025-06-18 clients send {} and mean form mode
  EXPECT_FALSE(empty.supports_url());
  MCPGW_ASSERT_OK_AND_ASSIGN(auto url_only, RoundTrip<ElicitationCapability>(R"({"url":{}})"));
  EXPECT_FALSE(url_only.supports_form());
  EXPECT_TRUE(url_only.supports_url());
  MCPGW_ASSERT_OK_AND_ASSIGN(auto both,
                             RoundTrip<ElicitationCapability>(R"({"form":{},"url":{}})"));
  EXPECT_TRUE(both.supports_form());
  EXPECT_TRUE(both.supports_url());
}

TEST(Types, CapabilitiesWrittenFromCode) {
  ServerCapabilities caps;
  caps.tools = ToolsCapability{.list_changed = true};
  caps.logging = Json::Object();
  EXPECT_EQ(ToJson(caps), ParseJson(R"({"tools":{"listChanged":true},"logging":{}})"));
}

TEST(Types, EmptyParamsAndResultKeepMeta) {
  MCPGW_ASSERT_OK_AND_ASSIGN(EmptyResult result,
                             RoundTrip<EmptyResult>(R"({"_meta":{"com.example/x":1}})"));
  ASSERT_TRUE(result.meta.has_value());
  MCPGW_ASSERT_OK_AND_ASSIGN(EmptyParams params, RoundTrip<EmptyParams>("{}"));
  EXPECT_FALSE(params.meta.has_value());
  EXPECT_EQ(ToJson(EmptyResult{}), ParseJson("{}"));
}

// --- Tools

TEST(Types, ListToolsResult) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ListToolsResult list, RoundTrip<ListToolsResult>(R"({
    "tools": [
      {
        "name": "get_weather",
        "title": "Weather Information Provider",
        "description": "Get current weather information for a location",
        "inputSchema": {
          "type": "object",
          "properties": {"location": {"type": "string", "description": "City name or zip code"}},
          "required": ["location"]
        },
        "outputSchema": {
          "type": "object",
          "properties": {"temperature": {"type": "number"}, "conditions": {"type": "string"}},
          "required": ["temperature", "conditions"]
        },
        "annotations": {"title": "Weather", "readOnlyHint": true, "destructiveHint": false,
                        "idempotentHint": true, "openWorldHint": true},
        "icons": [{"src": "https://example.com/weather.png", "mimeType": "image/png",
                   "sizes": ["48x48"]}],
        "execution": {"taskSupport": "optional"},
        "_meta": {"com.example/owner": "team-a"}
      },
      {"name": "noop", "inputSchema": {"type": "object", "additionalProperties": false}}
    ],
    "nextCursor": "next-page-cursor"
  })"));
  ASSERT_EQ(list.tools.size(), 2u);
  const Tool& weather = list.tools[0];
  EXPECT_EQ(weather.name, "get_weather");
  EXPECT_EQ(weather.title, "Weather Information Provider");
  EXPECT_EQ(Member(weather.input_schema, "required"), ParseJson(R"(["location"])"));
  ASSERT_TRUE(weather.output_schema.has_value());
  EXPECT_EQ(Member(*weather.output_schema, "type"), ParseJson(R"("object")"));
  ASSERT_TRUE(weather.annotations.has_value());
  EXPECT_EQ(weather.annotations->read_only_hint, true);
  EXPECT_EQ(weather.annotations->destructive_hint, false);
  EXPECT_EQ(weather.annotations->idempotent_hint, true);
  EXPECT_EQ(weather.annotations->open_world_hint, true);
  ASSERT_TRUE(weather.execution.has_value());
  EXPECT_EQ(weather.execution->task_support, TaskSupport::kOptional);
  ASSERT_TRUE(weather.meta.has_value());
  EXPECT_EQ(Member(*weather.meta, "com.example/owner"), ParseJson(R"("team-a")"));
  const Tool& noop = list.tools[1];
  EXPECT_FALSE(noop.title.has_value());
  EXPECT_FALSE(noop.output_schema.has_value());
  EXPECT_FALSE(noop.execution.has_value());
  EXPECT_EQ(list.next_cursor, "next-page-cursor");
}

TEST(Types, ToolInputSchemaPassesThroughUnchanged) {
  constexpr absl::string_view kSchema = R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.com/schemas/order",
    "type": "object",
    "$defs": {
      "address": {"type": "object",
                  "properties": {"street": {"type": "string"}, "zip": {"type": "string",
                                 "pattern": "^[0-9]{5}$"}},
                  "required": ["street"], "additionalProperties": false},
      "amount": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}
    },
    "properties": {
      "ship_to": {"$ref": "#/$defs/address"},
      "bill_to": {"anyOf": [{"$ref": "#/$defs/address"}, {"type": "null"}]},
      "total": {"$ref": "#/$defs/amount"},
      "items": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                "uniqueItems": true},
      "big": {"type": "integer", "maximum": 18446744073709551615},
      "unicode": {"const": "\u00e9\u4e2d\ud83d\ude00"}
    },
    "required": ["ship_to", "total"],
    "additionalProperties": false,
    "unevaluatedProperties": false,
    "x-vendor-extension": {"nested": [1, 2.5, null, true]}
  })";
  Json schema = ParseJson(kSchema);
  MCPGW_ASSERT_OK_AND_ASSIGN(
      ListToolsResult list,
      RoundTrip<ListToolsResult>(absl::StrCat(R"({"tools":[{"name":"order","inputSchema":)",
                                              kSchema, R"(,"outputSchema":)", kSchema, "}]}")));
  ASSERT_EQ(list.tools.size(), 1u);
  EXPECT_EQ(list.tools[0].input_schema, schema);
  EXPECT_EQ(*list.tools[0].output_schema, schema);
  // Nothing of the schema leaks into the tool's own members.
  EXPECT_TRUE(list.tools[0].extra.is_null());
  EXPECT_EQ(Member(ToJson(list.tools[0]), "inputSchema").Serialize(),
            list.tools[0].input_schema.Serialize());
}

TEST(Types, ToolErrorsNameTheMemberPath) {
  EXPECT_THAT(ReadStatus<ListToolsResult>(R"({"tools":[
                  {"name":"a","inputSchema":{"type":"object"}},
                  {"name":"b"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tools[1].inputSchema: required member is missing")));
  EXPECT_THAT(ReadStatus<ListToolsResult>(R"({"tools":[{"name":"b","inputSchema":null}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tools[0].inputSchema: must be a JSON Schema object")));
  EXPECT_THAT(ReadStatus<ListToolsResult>(
                  R"({"tools":[{"name":"b","inputSchema":{},"outputSchema":"string"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tools[0].outputSchema: must be a JSON Schema object")));
  EXPECT_THAT(
      ReadStatus<ListToolsResult>(R"({"tools":[{"name":42,"inputSchema":{}}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tools[0].name: must be a string")));
  EXPECT_THAT(ReadStatus<ListToolsResult>(
                  R"({"tools":[{"name":"b","inputSchema":{},"annotations":{"readOnlyHint":1}}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tools[0].annotations.readOnlyHint: must be true or false")));
  EXPECT_THAT(
      ReadStatus<ListToolsResult>(
          R"({"tools":[{"name":"b","inputSchema":{},"execution":{"taskSupport":"sometimes"}}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("tools[0].execution.taskSupport: unknown task support \"sometimes\"")));
  EXPECT_THAT(ReadStatus<ListToolsResult>(R"({"tools":[{"name":"b","inputSchema":{},
                  "icons":[{"src":"https://x/a.png"},{"mimeType":"image/png"}]}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tools[0].icons[1].src: required member is missing")));
  EXPECT_THAT(ReadStatus<ListToolsResult>(R"({"tools":{}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tools: must be an array")));
  EXPECT_THAT(
      ReadStatus<ListToolsResult>(R"({"nextCursor":"x"})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tools: required member is missing")));
  EXPECT_THAT(ReadStatus<ListToolsResult>(R"([])"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be an object")));
}

TEST(Types, CallToolParams) {
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolParams params, RoundTrip<CallToolParams>(R"({
    "name": "get_weather",
    "arguments": {"location": "New York", "units": {"temp": "C"}},
    "task": {"ttl": 60000},
    "_meta": {"progressToken": "abc123"}
  })"));
  EXPECT_EQ(params.name, "get_weather");
  ASSERT_TRUE(params.arguments.has_value());
  EXPECT_EQ(Member(*params.arguments, "units"), ParseJson(R"({"temp":"C"})"));
  ASSERT_TRUE(params.task.has_value());
  EXPECT_EQ(params.task->ttl, 60000);

  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolParams bare, RoundTrip<CallToolParams>(R"({"name":"x"})"));
  EXPECT_FALSE(bare.arguments.has_value());
  EXPECT_FALSE(bare.task.has_value());
  EXPECT_THAT(
      ReadStatus<CallToolParams>(R"({"name":"x","task":{"ttl":"1m"}})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task.ttl: must be an integer")));
}

TEST(Types, CallToolResultWithEveryContentType) {
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult result, RoundTrip<CallToolResult>(R"({
    "content": [
      {"type": "text", "text": "Current weather in New York: 72°F",
       "annotations": {"audience": ["user", "assistant"], "priority": 0.8,
                       "lastModified": "2025-01-12T15:00:58Z"}},
      {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
      {"type": "audio", "data": "UklGRg==", "mimeType": "audio/wav",
       "_meta": {"com.example/duration": 1.5}},
      {"type": "resource_link", "uri": "file:///project/src/main.rs", "name": "main.rs",
       "title": "Main", "description": "Primary application entry point",
       "mimeType": "text/x-rust", "size": 1024},
      {"type": "resource", "resource": {"uri": "file:///project/README.md",
                                        "mimeType": "text/markdown", "text": "# Hi"},
       "annotations": {"priority": 1}},
      {"type": "resource", "resource": {"uri": "file:///logo.png", "mimeType": "image/png",
                                        "blob": "iVBORw0KGgo="}}
    ],
    "structuredContent": {"temperature": 22.5, "conditions": "Partly cloudy"},
    "isError": false
  })"));
  ASSERT_EQ(result.content.size(), 6u);
  const auto* text = std::get_if<TextContent>(&result.content[0]);
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(text->text, "Current weather in New York: 72°F");
  ASSERT_TRUE(text->annotations.has_value());
  EXPECT_EQ(text->annotations->audience, (std::vector<Role>{Role::kUser, Role::kAssistant}));
  EXPECT_EQ(text->annotations->priority, 0.8);
  EXPECT_EQ(text->annotations->last_modified, "2025-01-12T15:00:58Z");
  const auto* image = std::get_if<ImageContent>(&result.content[1]);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->mime_type, "image/png");
  const auto* audio = std::get_if<AudioContent>(&result.content[2]);
  ASSERT_NE(audio, nullptr);
  EXPECT_TRUE(audio->meta.has_value());
  const auto* link = std::get_if<ResourceLink>(&result.content[3]);
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(link->uri, "file:///project/src/main.rs");
  EXPECT_EQ(link->size, 1024);
  const auto* embedded = std::get_if<EmbeddedResource>(&result.content[4]);
  ASSERT_NE(embedded, nullptr);
  EXPECT_EQ(embedded->resource.text, "# Hi");
  EXPECT_FALSE(embedded->resource.blob.has_value());
  const auto* blob = std::get_if<EmbeddedResource>(&result.content[5]);
  ASSERT_NE(blob, nullptr);
  EXPECT_EQ(blob->resource.blob, "iVBORw0KGgo=");
  EXPECT_FALSE(blob->resource.text.has_value());
  ASSERT_TRUE(result.structured_content.has_value());
  EXPECT_EQ(Member(*result.structured_content, "temperature"), ParseJson("22.5"));
  EXPECT_EQ(result.is_error, false);
}

TEST(Types, CallToolResultWrittenFromCode) {
  CallToolResult result;
  result.content.push_back(TextContent{.text = "done"});
  result.content.push_back(ImageContent{.data = "AAAA", .mime_type = "image/png"});
  result.is_error = true;
  EXPECT_EQ(ToJson(result), ParseJson(R"({"content":[{"type":"text","text":"done"},
      {"type":"image","data":"AAAA","mimeType":"image/png"}],"isError":true})"));
}

struct BlockCase {
  const char* json;
  const char* type;
  size_t index;  // of the variant alternative
};

class ContentBlockTest : public ::testing::TestWithParam<BlockCase> {};

TEST_P(ContentBlockTest, RoundTripsAsItsType) {
  const BlockCase& c = GetParam();
  MCPGW_ASSERT_OK_AND_ASSIGN(ContentBlock block, RoundTrip<ContentBlock>(c.json));
  EXPECT_EQ(block.index(), c.index);
  EXPECT_EQ(ContentType(block), c.type);
  // Unknown members of the block survive too.
  Json with_extra = ParseJson(c.json);
  with_extra.Set("com.example/extra", ParseJson(R"({"keep":["me"]})"));
  absl::StatusOr<ContentBlock> again = FromJson<ContentBlock>(with_extra.value());
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->index(), c.index);
  EXPECT_EQ(ToJson(*again), with_extra);
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, ContentBlockTest,
    ::testing::Values(
        BlockCase{R"({"type":"text","text":"hello","_meta":{"a":1}})", "text", 0},
        BlockCase{R"({"type":"image","data":"AAAA","mimeType":"image/jpeg",
                      "annotations":{"audience":["user"]}})",
                  "image", 1},
        BlockCase{R"({"type":"audio","data":"AAAA","mimeType":"audio/ogg"})", "audio", 2},
        BlockCase{R"({"type":"resource_link","uri":"https://example.com/r","name":"r",
                      "icons":[{"src":"data:image/png;base64,AAAA","theme":"dark"}]})",
                  "resource_link", 3},
        BlockCase{R"({"type":"resource","resource":{"uri":"mem://a","text":"x",
                      "_meta":{"k":"v"}}})",
                  "resource", 4},
        BlockCase{R"({"type":"tool_use","id":"toolu_01","name":"get_weather",
                      "input":{"city":"Paris"},"_meta":{"cache":true}})",
                  "tool_use", 5},
        BlockCase{R"({"type":"tool_result","toolUseId":"toolu_01",
                      "content":[{"type":"text","text":"18C"},
                                 {"type":"hologram","frames":3}],
                      "structuredContent":{"temp":18},"isError":false})",
                  "tool_result", 6},
        BlockCase{R"({"type":"hologram","data":{"frames":[1,2,3]},"mimeType":"model/x"})",
                  "hologram", 7}));

TEST(Types, UnknownContentTypeKeepsTheWholeBlock) {
  constexpr absl::string_view kBlock =
      R"({"type":"video","uri":"https://example.com/v.mp4","annotations":{"weird":true},
          "frames":[{"t":0},{"t":1.5}]})";
  MCPGW_ASSERT_OK_AND_ASSIGN(CallToolResult result,
                             RoundTrip<CallToolResult>(absl::StrCat(
                                 R"({"content":[{"type":"text","text":"before"},)", kBlock, "]}")));
  ASSERT_EQ(result.content.size(), 2u);
  const auto* unknown = std::get_if<UnknownContent>(&result.content[1]);
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(unknown->type(), "video");
  EXPECT_EQ(unknown->json, ParseJson(kBlock));
}

TEST(Types, ContentBlockErrors) {
  EXPECT_THAT(ReadStatus<CallToolResult>(R"({"content":[{"text":"no type"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("content[0].type: required member is missing")));
  EXPECT_THAT(
      ReadStatus<CallToolResult>(R"({"content":[{"type":"text","text":"a"},
                  {"type":7}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("content[1].type: must be a string")));
  EXPECT_THAT(
      ReadStatus<CallToolResult>(R"({"content":["just text"]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("content[0]: must be an object")));
  EXPECT_THAT(ReadStatus<CallToolResult>(R"({"content":[{"type":"text","text":"a"},
                  {"type":"text"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("content[1].text: required member is missing")));
  EXPECT_THAT(ReadStatus<CallToolResult>(R"({"content":[{"type":"image","data":"AAAA"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("content[0].mimeType: required member is missing")));
  EXPECT_THAT(ReadStatus<CallToolResult>(
                  R"({"content":[{"type":"text","text":"a","annotations":{"priority":"high"}}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("content[0].annotations.priority: must be a number")));
  EXPECT_THAT(ReadStatus<CallToolResult>(
                  R"({"content":[{"type":"text","text":"a","annotations":{"audience":["bot"]}}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("content[0].annotations.audience[0]: unknown role \"bot\"")));
  EXPECT_THAT(ReadStatus<CallToolResult>(R"({"content":[{"type":"tool_result","toolUseId":"x",
                  "content":[{"type":"text"}]}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("content[0].content[0].text: required member is missing")));
  EXPECT_THAT(ReadStatus<CallToolResult>(R"({"isError":true})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("content: required member is missing")));
}

TEST(Types, TypeTagChecksTheDiscriminator) {
  EXPECT_THAT(ReadStatus<TextContent>(R"({"type":"image","text":"x"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("type: must be \"text\"")));
  EXPECT_THAT(
      ReadStatus<TextContent>(R"({"text":"x"})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("type: required member is missing")));
  // A value built in code always writes its own type.
  EXPECT_EQ(ToJson(ToolUseContent{.id = "t1", .name = "n", .input = Json::Object()}),
            ParseJson(R"({"type":"tool_use","id":"t1","name":"n","input":{}})"));
}

TEST(Types, ResourceContentsNeedsExactlyOneOfTextAndBlob) {
  EXPECT_THAT(ReadStatus<ReadResourceResult>(R"({"contents":[
                  {"uri":"file:///a","text":"t","blob":"AAAA"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("contents[0]: has both \"text\" and \"blob\"")));
  EXPECT_THAT(ReadStatus<ReadResourceResult>(R"({"contents":[
                  {"uri":"file:///a","text":""},{"uri":"file:///b","mimeType":"x/y"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("contents[1]: has neither \"text\" nor \"blob\"")));
  EXPECT_THAT(
      ReadStatus<CallToolResult>(
          R"({"content":[{"type":"resource","resource":{"uri":"file:///a"}}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("content[0].resource: has neither")));
  EXPECT_THAT(ReadStatus<ReadResourceResult>(R"({"contents":[{"text":"t"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("contents[0].uri: required member is missing")));
}

// --- Unknown members everywhere

TEST(Types, MembersNoRevisionDefinesSurviveEverywhere) {
  constexpr absl::string_view kResult = R"({
    "tools": [{
      "name": "t",
      "inputSchema": {"type": "object", "x-schema-ext": 1},
      "annotations": {"readOnlyHint": true, "futureHint": "maybe"},
      "execution": {"taskSupport": "required", "futureExecution": {"a": [1]}},
      "icons": [{"src": "https://x/i.png", "futureIconField": 3}],
      "_meta": {"io.modelcontextprotocol/future": {"x": null}},
      "futureToolField": {"deep": {"deeper": [true, false, null, 1.25, -7, "s"]}}
    }],
    "nextCursor": "c",
    "futureResultField": [{"a": 1}, [], {}],
    "_meta": {"com.example/trace": "abc"}
  })";
  MCPGW_ASSERT_OK_AND_ASSIGN(ListToolsResult list, RoundTrip<ListToolsResult>(kResult));
  EXPECT_EQ(Member(list.extra, "futureResultField"), ParseJson(R"([{"a":1},[],{}])"));
  const Tool& tool = list.tools[0];
  EXPECT_FALSE(Member(tool.extra, "futureToolField").is_null());
  EXPECT_EQ(Member(tool.annotations->extra, "futureHint"), ParseJson(R"("maybe")"));
  EXPECT_EQ(Member(tool.execution->extra, "futureExecution"), ParseJson(R"({"a":[1]})"));
  EXPECT_EQ(Member((*tool.icons)[0].extra, "futureIconField"), ParseJson("3"));

  // Changing a known member keeps every unknown one.
  list.tools[0].name = "renamed";
  Json expected = ParseJson(kResult);
  JsonValue* tools = FindMember(expected.mutable_value(), "tools");
  (*tools)[rapidjson::SizeType{0}]["name"].SetString("renamed", expected.allocator());
  EXPECT_EQ(ToJson(list), expected);
}

TEST(Types, UnknownMembersInCapabilitiesAndContentSurvive) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InitializeResult init, RoundTrip<InitializeResult>(R"({
    "protocolVersion": "2099-01-01",
    "capabilities": {
      "tools": {"listChanged": false, "futureToolsFlag": true},
      "resources": {"subscribe": false, "futureFlag": {}},
      "tasks": {"requests": {"tools": {"call": {}, "futureSub": {}}, "prompts": {"get": {}}}},
      "futureCapability": {"version": 3}
    },
    "serverInfo": {"name": "s", "version": "1", "futureInfo": "x",
                   "icons": [{"src": "https://s/i.svg", "mimeType": "image/svg+xml",
                              "sizes": ["any"], "theme": "dark", "futureIcon": 1}]},
    "futureTopLevel": 1
  })"));
  EXPECT_EQ(Member(init.capabilities.extra, "futureCapability"), ParseJson(R"({"version":3})"));
  EXPECT_EQ(Member(init.capabilities.tasks->requests->extra, "prompts"),
            ParseJson(R"({"get":{}})"));

  MCPGW_ASSERT_OK_AND_ASSIGN(GetPromptResult prompt, RoundTrip<GetPromptResult>(R"({
    "messages": [{"role": "user", "futureMessageField": 1,
                  "content": {"type": "resource",
                              "resource": {"uri": "mem://x", "blob": "AA==", "futureRc": 2},
                              "annotations": {"audience": ["assistant"], "futureAnn": 3},
                              "futureBlock": 4}}],
    "futurePromptResult": 5
  })"));
  EXPECT_EQ(Member(prompt.messages[0].extra, "futureMessageField"), ParseJson("1"));
}

// --- Resources

TEST(Types, ListResourcesAndTemplates) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ListResourcesResult resources, RoundTrip<ListResourcesResult>(R"({
    "resources": [{
      "uri": "file:///project/src/main.rs", "name": "main.rs", "title": "Rust Software Application Main File",
      "description": "Primary application entry point", "mimeType": "text/x-rust",
      "size": 4096, "annotations": {"audience": ["user"], "priority": 0.5},
      "icons": [{"src": "https://example.com/rust.png"}], "_meta": {"k": 1}
    }],
    "nextCursor": "next-page-cursor"
  })"));
  ASSERT_EQ(resources.resources.size(), 1u);
  EXPECT_EQ(resources.resources[0].uri, "file:///project/src/main.rs");
  EXPECT_EQ(resources.resources[0].size, 4096);
  EXPECT_EQ(resources.resources[0].annotations->priority, 0.5);
  EXPECT_EQ(resources.next_cursor, "next-page-cursor");

  MCPGW_ASSERT_OK_AND_ASSIGN(ListResourceTemplatesResult templates,
                             RoundTrip<ListResourceTemplatesResult>(R"({
    "resourceTemplates": [{"uriTemplate": "file:///{path}", "name": "Project Files",
                           "title": "📁 Project Files", "description": "Access files",
                           "mimeType": "application/octet-stream"}]
  })"));
  ASSERT_EQ(templates.resource_templates.size(), 1u);
  EXPECT_EQ(templates.resource_templates[0].uri_template, "file:///{path}");
  EXPECT_FALSE(templates.next_cursor.has_value());

  EXPECT_THAT(
      ReadStatus<ListResourcesResult>(R"({"resources":[{"uri":"a","name":"b","size":1.5}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("resources[0].size: must be an integer")));
  EXPECT_THAT(ReadStatus<ListResourceTemplatesResult>(R"({"resourceTemplates":[{"name":"x"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("resourceTemplates[0].uriTemplate: required member is missing")));
}

TEST(Types, ReadSubscribeAndUpdated) {
  MCPGW_ASSERT_OK_AND_ASSIGN(PaginatedParams page,
                             RoundTrip<PaginatedParams>(R"({"cursor":"opaque=="})"));
  EXPECT_EQ(page.cursor, "opaque==");
  MCPGW_ASSERT_OK_AND_ASSIGN(PaginatedParams first, RoundTrip<PaginatedParams>("{}"));
  EXPECT_FALSE(first.cursor.has_value());

  MCPGW_ASSERT_OK_AND_ASSIGN(ReadResourceParams read,
                             RoundTrip<ReadResourceParams>(R"({"uri":"file:///project/a.rs"})"));
  EXPECT_EQ(read.uri, "file:///project/a.rs");
  MCPGW_ASSERT_OK_AND_ASSIGN(ReadResourceResult contents, RoundTrip<ReadResourceResult>(R"({
    "contents": [{"uri": "file:///project/a.rs", "mimeType": "text/x-rust",
                  "text": "fn main() {}"},
                 {"uri": "file:///project/logo.png", "mimeType": "image/png",
                  "blob": "iVBORw0KGgo="}]
  })"));
  ASSERT_EQ(contents.contents.size(), 2u);
  EXPECT_EQ(contents.contents[0].text, "fn main() {}");
  EXPECT_EQ(contents.contents[1].blob, "iVBORw0KGgo=");

  MCPGW_ASSERT_OK_AND_ASSIGN(SubscribeParams sub,
                             RoundTrip<SubscribeParams>(R"({"uri":"file:///a"})"));
  EXPECT_EQ(sub.uri, "file:///a");
  MCPGW_ASSERT_OK_AND_ASSIGN(UnsubscribeParams unsub,
                             RoundTrip<UnsubscribeParams>(R"({"uri":"file:///a"})"));
  EXPECT_EQ(unsub.uri, "file:///a");
  MCPGW_ASSERT_OK_AND_ASSIGN(
      ResourceUpdatedParams updated,
      RoundTrip<ResourceUpdatedParams>(R"({"uri":"file:///a","_meta":{"x":1}})"));
  EXPECT_TRUE(updated.meta.has_value());
  EXPECT_THAT(
      ReadStatus<SubscribeParams>("{}"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uri: required member is missing")));
}

// --- Prompts

TEST(Types, Prompts) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ListPromptsResult list, RoundTrip<ListPromptsResult>(R"({
    "prompts": [{
      "name": "code_review", "title": "Request Code Review",
      "description": "Asks the LLM to analyze code quality and suggest improvements",
      "arguments": [{"name": "code", "title": "Code", "description": "The code to review",
                     "required": true}],
      "icons": [{"src": "https://example.com/review.svg", "mimeType": "image/svg+xml",
                 "sizes": ["any"]}]
    }],
    "nextCursor": "next-page-cursor"
  })"));
  ASSERT_EQ(list.prompts.size(), 1u);
  ASSERT_TRUE(list.prompts[0].arguments.has_value());
  EXPECT_EQ((*list.prompts[0].arguments)[0].required, true);

  MCPGW_ASSERT_OK_AND_ASSIGN(GetPromptParams get, RoundTrip<GetPromptParams>(R"({
    "name": "code_review",
    "arguments": {"code": "def hello():\n    return 1", "language": "python"}
  })"));
  ASSERT_TRUE(get.arguments.has_value());
  EXPECT_EQ(get.arguments->at("code"), "def hello():\n    return 1");
  EXPECT_EQ(get.arguments->at("language"), "python");
  EXPECT_THAT(
      ReadStatus<GetPromptParams>(R"({"name":"p","arguments":{"count":3}})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("arguments.count: must be a string")));

  MCPGW_ASSERT_OK_AND_ASSIGN(GetPromptResult result, RoundTrip<GetPromptResult>(R"({
    "description": "Code review prompt",
    "messages": [
      {"role": "user", "content": {"type": "text", "text": "Please review this Python code"}},
      {"role": "assistant", "content": {"type": "image", "data": "AAAA",
                                        "mimeType": "image/png"}},
      {"role": "user", "content": {"type": "resource_link", "uri": "file:///x", "name": "x"}}
    ]
  })"));
  ASSERT_EQ(result.messages.size(), 3u);
  EXPECT_EQ(result.messages[0].role, Role::kUser);
  EXPECT_EQ(result.messages[1].role, Role::kAssistant);
  EXPECT_TRUE(std::holds_alternative<ImageContent>(result.messages[1].content));
  EXPECT_TRUE(std::holds_alternative<ResourceLink>(result.messages[2].content));

  EXPECT_THAT(ReadStatus<GetPromptResult>(R"({"messages":[{"role":"system",
                  "content":{"type":"text","text":"x"}}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("messages[0].role: unknown role \"system\"")));
  EXPECT_THAT(ReadStatus<GetPromptResult>(R"({"messages":[{"role":"user",
                  "content":[{"type":"text","text":"x"}]}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("messages[0].content: must be an object")));
}

// --- Completion

TEST(Types, Completion) {
  MCPGW_ASSERT_OK_AND_ASSIGN(CompleteParams prompt_ref, RoundTrip<CompleteParams>(R"({
    "ref": {"type": "ref/prompt", "name": "code_review"},
    "argument": {"name": "framework", "value": "fla"},
    "context": {"arguments": {"language": "python"}}
  })"));
  const auto* prompt = std::get_if<PromptReference>(&prompt_ref.ref);
  ASSERT_NE(prompt, nullptr);
  EXPECT_EQ(prompt->name, "code_review");
  EXPECT_EQ(prompt_ref.argument.name, "framework");
  EXPECT_EQ(prompt_ref.argument.value, "fla");
  ASSERT_TRUE(prompt_ref.context.has_value());
  EXPECT_EQ(prompt_ref.context->arguments->at("language"), "python");

  MCPGW_ASSERT_OK_AND_ASSIGN(CompleteParams resource_ref, RoundTrip<CompleteParams>(R"({
    "ref": {"type": "ref/resource", "uri": "file:///{path}"},
    "argument": {"name": "path", "value": "src/"}
  })"));
  const auto* resource = std::get_if<ResourceTemplateReference>(&resource_ref.ref);
  ASSERT_NE(resource, nullptr);
  EXPECT_EQ(resource->uri, "file:///{path}");
  EXPECT_FALSE(resource_ref.context.has_value());

  EXPECT_THAT(ReadStatus<CompleteParams>(R"({"ref":{"type":"ref/tool","name":"x"},
                  "argument":{"name":"a","value":"b"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ref.type: unknown reference type \"ref/tool\"")));
  EXPECT_THAT(ReadStatus<CompleteParams>(R"({"ref":{"type":"ref/resource"},
                  "argument":{"name":"a","value":"b"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ref.uri: required member is missing")));
  EXPECT_THAT(ReadStatus<CompleteParams>(R"({"ref":{"type":"ref/prompt","name":"p"},
                  "argument":{"name":"a"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("argument.value: required member is missing")));

  MCPGW_ASSERT_OK_AND_ASSIGN(CompleteResult result, RoundTrip<CompleteResult>(R"({
    "completion": {"values": ["flask", "fastapi"], "total": 10, "hasMore": true}
  })"));
  EXPECT_EQ(result.completion.values, (std::vector<std::string>{"flask", "fastapi"}));
  EXPECT_EQ(result.completion.total, 10);
  EXPECT_EQ(result.completion.has_more, true);
}

// --- Logging

TEST(Types, LoggingLevelsAreOrderedBySeverity) {
  const std::vector<LoggingLevel> levels = {LoggingLevel::kDebug,  LoggingLevel::kInfo,
                                            LoggingLevel::kNotice, LoggingLevel::kWarning,
                                            LoggingLevel::kError,  LoggingLevel::kCritical,
                                            LoggingLevel::kAlert,  LoggingLevel::kEmergency};
  const std::vector<std::string> names = {"debug", "info",     "notice", "warning",
                                          "error", "critical", "alert",  "emergency"};
  for (size_t i = 0; i < levels.size(); ++i) {
    EXPECT_EQ(ToString(levels[i]), names[i]);
    absl::StatusOr<LoggingLevel> parsed = ParseLoggingLevel(names[i]);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, levels[i]);
    if (i > 0) {
      EXPECT_LT(levels[i - 1], levels[i]);
    }
  }
  EXPECT_GE(LoggingLevel::kError, LoggingLevel::kWarning);
  EXPECT_FALSE(LoggingLevel::kInfo >= LoggingLevel::kNotice);
}

TEST(Types, LoggingLevelParseErrors) {
  EXPECT_THAT(
      ParseLoggingLevel("verbose"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown logging level \"verbose\"")));
  EXPECT_THAT(ParseLoggingLevel("verbose"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("debug, info, notice, warning, error, critical, alert, "
                                 "emergency")));
  EXPECT_THAT(ParseLoggingLevel("INFO"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseLoggingLevel("warn"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseLoggingLevel(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseLoggingLevel(absl::string_view("info\0", 5)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("info\\x00")));
}

TEST(Types, LoggingMessages) {
  MCPGW_ASSERT_OK_AND_ASSIGN(SetLevelParams set, RoundTrip<SetLevelParams>(R"({"level":"info"})"));
  EXPECT_EQ(set.level, LoggingLevel::kInfo);
  EXPECT_THAT(ReadStatus<SetLevelParams>(R"({"level":"trace"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("level: unknown logging level \"trace\"")));
  EXPECT_THAT(ReadStatus<SetLevelParams>(R"({"level":3})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("level: must be a string")));

  MCPGW_ASSERT_OK_AND_ASSIGN(LoggingMessageParams msg, RoundTrip<LoggingMessageParams>(R"({
    "level": "error", "logger": "database",
    "data": {"error": "Connection failed", "details": {"host": "localhost", "port": 5432}}
  })"));
  EXPECT_EQ(msg.level, LoggingLevel::kError);
  EXPECT_EQ(msg.logger, "database");
  EXPECT_EQ(Member(msg.data, "error"), ParseJson(R"("Connection failed")"));
  MCPGW_ASSERT_OK_AND_ASSIGN(LoggingMessageParams null_data,
                             RoundTrip<LoggingMessageParams>(R"({"level":"debug","data":null})"));
  EXPECT_TRUE(null_data.data.is_null());
  EXPECT_THAT(
      ReadStatus<LoggingMessageParams>(R"({"level":"debug"})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data: required member is missing")));

  LoggingMessageParams built{.level = LoggingLevel::kWarning, .data = Json::String("low disk")};
  EXPECT_EQ(ToJson(built), ParseJson(R"({"level":"warning","data":"low disk"})"));
}

// --- Sampling

TEST(Types, CreateMessageParams) {
  MCPGW_ASSERT_OK_AND_ASSIGN(CreateMessageParams params, RoundTrip<CreateMessageParams>(R"({
    "messages": [{"role": "user",
                  "content": {"type": "text", "text": "What is the capital of France?"}}],
    "modelPreferences": {"hints": [{"name": "claude-3-sonnet"}, {}],
                         "costPriority": 0.3, "speedPriority": 0.8,
                         "intelligencePriority": 0.5},
    "systemPrompt": "You are a helpful assistant.",
    "includeContext": "thisServer",
    "temperature": 0.7,
    "maxTokens": 100,
    "stopSequences": ["\n\nHuman:"],
    "metadata": {"provider": {"top_k": 5}},
    "tools": [{"name": "get_weather", "description": "Get the weather",
               "inputSchema": {"type": "object",
                               "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}],
    "toolChoice": {"mode": "required"},
    "task": {"ttl": 30000}
  })"));
  ASSERT_EQ(params.messages.size(), 1u);
  EXPECT_EQ(params.messages[0].role, Role::kUser);
  EXPECT_FALSE(params.messages[0].content.is_array);
  ASSERT_EQ(params.messages[0].content.blocks.size(), 1u);
  EXPECT_EQ(std::get<TextContent>(params.messages[0].content.blocks[0]).text,
            "What is the capital of France?");
  ASSERT_TRUE(params.model_preferences.has_value());
  EXPECT_EQ((*params.model_preferences->hints)[0].name, "claude-3-sonnet");
  EXPECT_FALSE((*params.model_preferences->hints)[1].name.has_value());
  EXPECT_EQ(params.model_preferences->speed_priority, 0.8);
  EXPECT_EQ(params.include_context, IncludeContext::kThisServer);
  EXPECT_EQ(params.temperature, 0.7);
  EXPECT_EQ(params.max_tokens, 100);
  ASSERT_TRUE(params.tools.has_value());
  EXPECT_EQ((*params.tools)[0].name, "get_weather");
  ASSERT_TRUE(params.tool_choice.has_value());
  EXPECT_EQ(params.tool_choice->mode, ToolChoiceMode::kRequired);
  EXPECT_EQ(params.task->ttl, 30000);

  EXPECT_THAT(ReadStatus<CreateMessageParams>(R"({"messages":[]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("maxTokens: required member is missing")));
  EXPECT_THAT(ReadStatus<CreateMessageParams>(
                  R"({"messages":[],"maxTokens":10,"includeContext":"everything"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("includeContext: unknown includeContext value \"everything\"")));
  EXPECT_THAT(ReadStatus<CreateMessageParams>(
                  R"({"messages":[],"maxTokens":10,"toolChoice":{"mode":"any"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("toolChoice.mode: unknown tool choice mode \"any\"")));
  EXPECT_THAT(ReadStatus<CreateMessageParams>(
                  R"({"messages":[{"role":"user","content":"hi"}],"maxTokens":10})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("messages[0].content: must be a content block")));
  EXPECT_THAT(ReadStatus<CreateMessageParams>(R"({"maxTokens":10,"messages":[
                  {"role":"user","content":[{"type":"text","text":"a"},{"type":"image"}]}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("messages[0].content[1].data: required member is missing")));
}

TEST(Types, SamplingContentKeepsSingleOrArrayForm) {
  MCPGW_ASSERT_OK_AND_ASSIGN(
      SamplingMessage single,
      RoundTrip<SamplingMessage>(R"({"role":"user","content":{"type":"text","text":"hi"}})"));
  EXPECT_FALSE(single.content.is_array);
  EXPECT_EQ(single.content.blocks.size(), 1u);

  // An array of one block stays an array.
  MCPGW_ASSERT_OK_AND_ASSIGN(
      SamplingMessage array_of_one,
      RoundTrip<SamplingMessage>(R"({"role":"user","content":[{"type":"text","text":"hi"}]})"));
  EXPECT_TRUE(array_of_one.content.is_array);
  EXPECT_EQ(array_of_one.content.blocks.size(), 1u);

  MCPGW_ASSERT_OK_AND_ASSIGN(SamplingMessage tool_results, RoundTrip<SamplingMessage>(R"({
    "role": "user",
    "content": [
      {"type": "tool_result", "toolUseId": "call_abc123",
       "content": [{"type": "text", "text": "Weather in Paris: 18°C, partly cloudy"}]},
      {"type": "tool_result", "toolUseId": "call_def456",
       "content": [{"type": "text", "text": "Weather in London: 15°C, rainy"}],
       "structuredContent": {"temp": 15}, "isError": false}
    ]
  })"));
  ASSERT_EQ(tool_results.content.blocks.size(), 2u);
  const auto& second = std::get<ToolResultContent>(tool_results.content.blocks[1]);
  EXPECT_EQ(second.tool_use_id, "call_def456");
  EXPECT_EQ(std::get<TextContent>(second.content[0]).text, "Weather in London: 15°C, rainy");

  // Built in code: one block in single form is written as an object; two blocks cannot be,
  // so they are written as an array even when is_array is false.
  SamplingMessage built{.role = Role::kAssistant};
  built.content.blocks.push_back(TextContent{.text = "a"});
  EXPECT_EQ(ToJson(built),
            ParseJson(R"({"role":"assistant","content":{"type":"text","text":"a"}})"));
  built.content.blocks.push_back(TextContent{.text = "b"});
  EXPECT_EQ(ToJson(built), ParseJson(R"({"role":"assistant","content":[
      {"type":"text","text":"a"},{"type":"text","text":"b"}]})"));
  built.content.blocks.clear();
  EXPECT_EQ(ToJson(built), ParseJson(R"({"role":"assistant","content":[]})"));
}

TEST(Types, CreateMessageResult) {
  MCPGW_ASSERT_OK_AND_ASSIGN(CreateMessageResult text, RoundTrip<CreateMessageResult>(R"({
    "role": "assistant",
    "content": {"type": "text", "text": "The capital of France is Paris."},
    "model": "claude-3-sonnet-20240307",
    "stopReason": "endTurn"
  })"));
  EXPECT_EQ(text.role, Role::kAssistant);
  EXPECT_FALSE(text.content.is_array);
  EXPECT_EQ(text.model, "claude-3-sonnet-20240307");
  EXPECT_EQ(text.stop_reason, "endTurn");

  MCPGW_ASSERT_OK_AND_ASSIGN(CreateMessageResult tool_use, RoundTrip<CreateMessageResult>(R"({
    "role": "assistant",
    "content": [
      {"type": "tool_use", "id": "call_abc123", "name": "get_weather",
       "input": {"city": "Paris"}},
      {"type": "tool_use", "id": "call_def456", "name": "get_weather",
       "input": {"city": "London"}}
    ],
    "model": "claude-3-sonnet-20240307",
    "stopReason": "toolUse",
    "_meta": {"io.modelcontextprotocol/related-task": {"taskId": "t-1"}}
  })"));
  EXPECT_TRUE(tool_use.content.is_array);
  ASSERT_EQ(tool_use.content.blocks.size(), 2u);
  const auto& call = std::get<ToolUseContent>(tool_use.content.blocks[1]);
  EXPECT_EQ(call.id, "call_def456");
  EXPECT_EQ(Member(call.input, "city"), ParseJson(R"("London")"));
  // A provider-specific stop reason is kept as is.
  MCPGW_ASSERT_OK_AND_ASSIGN(CreateMessageResult other, RoundTrip<CreateMessageResult>(R"({
    "role": "assistant", "content": {"type": "text", "text": "x"}, "model": "m",
    "stopReason": "content_filter"})"));
  EXPECT_EQ(other.stop_reason, "content_filter");
  EXPECT_THAT(
      ReadStatus<CreateMessageResult>(
          R"({"role":"assistant","content":{"type":"text","text":"x"}})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model: required member is missing")));
}

// --- Elicitation

TEST(Types, ElicitFormMode) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ElicitParams legacy, RoundTrip<ElicitParams>(R"({
    "message": "Please provide your GitHub username",
    "requestedSchema": {"type": "object",
                        "properties": {"name": {"type": "string"}}, "required": ["name"]}
  })"));
  EXPECT_FALSE(legacy.mode.has_value());  // absent stays absent when written back
  EXPECT_EQ(legacy.effective_mode(), ElicitationMode::kForm);
  EXPECT_EQ(Member(*legacy.requested_schema, "required"), ParseJson(R"(["name"])"));

  MCPGW_ASSERT_OK_AND_ASSIGN(ElicitParams form, RoundTrip<ElicitParams>(R"({
    "mode": "form",
    "message": "Please provide your contact information",
    "requestedSchema": {
      "type": "object",
      "properties": {
        "name": {"type": "string", "description": "Your full name", "default": "Ann"},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "number", "minimum": 18},
        "color": {"type": "string", "oneOf": [{"const": "#FF0000", "title": "Red"}]},
        "tags": {"type": "array", "items": {"anyOf": [{"const": "a", "title": "A"}]},
                 "minItems": 1}
      },
      "required": ["name", "email"]
    }
  })"));
  EXPECT_EQ(form.mode, ElicitationMode::kForm);

  EXPECT_THAT(ReadStatus<ElicitParams>(R"({"message":"m"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("requestedSchema: required member is missing in form mode")));
  EXPECT_THAT(ReadStatus<ElicitParams>(R"({"mode":"form","message":"m","url":"https://x"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("requestedSchema: required member is missing in form mode")));
  EXPECT_THAT(ReadStatus<ElicitParams>(R"({"message":"m","requestedSchema":[]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("requestedSchema: must be a JSON Schema object")));
  EXPECT_THAT(ReadStatus<ElicitParams>(R"({"mode":"popup","message":"m"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("mode: unknown elicitation mode \"popup\"")));
  EXPECT_THAT(ReadStatus<ElicitParams>(R"({"requestedSchema":{}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("message: required member is missing")));
}

TEST(Types, ElicitUrlMode) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ElicitParams url, RoundTrip<ElicitParams>(R"({
    "mode": "url",
    "elicitationId": "550e8400-e29b-41d4-a716-446655440000",
    "url": "https://mcp.example.com/ui/set_api_key",
    "message": "Please provide your API key to continue."
  })"));
  EXPECT_EQ(url.effective_mode(), ElicitationMode::kUrl);
  EXPECT_EQ(url.url, "https://mcp.example.com/ui/set_api_key");
  EXPECT_EQ(url.elicitation_id, "550e8400-e29b-41d4-a716-446655440000");
  EXPECT_FALSE(url.requested_schema.has_value());

  EXPECT_THAT(ReadStatus<ElicitParams>(R"({"mode":"url","message":"m","elicitationId":"e"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("url: required member is missing in url mode")));
  EXPECT_THAT(ReadStatus<ElicitParams>(
                  R"({"mode":"url","message":"m","url":"https://x","requestedSchema":{}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("elicitationId: required member is missing in url mode")));

  MCPGW_ASSERT_OK_AND_ASSIGN(UrlElicitationRequiredData data,
                             RoundTrip<UrlElicitationRequiredData>(R"({"elicitations":[{
    "mode": "url", "elicitationId": "e1", "url": "https://mcp.example.com/connect",
    "message": "Authorization is required."}]})"));
  ASSERT_EQ(data.elicitations.size(), 1u);
  EXPECT_EQ(data.elicitations[0].elicitation_id, "e1");
  EXPECT_THAT(ReadStatus<UrlElicitationRequiredData>(
                  R"({"elicitations":[{"mode":"url","elicitationId":"e1","message":"m"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("elicitations[0].url: required member is missing in url mode")));

  MCPGW_ASSERT_OK_AND_ASSIGN(ElicitationCompleteParams complete,
                             RoundTrip<ElicitationCompleteParams>(
                                 R"({"elicitationId":"550e8400-e29b-41d4-a716-446655440000"})"));
  EXPECT_EQ(complete.elicitation_id, "550e8400-e29b-41d4-a716-446655440000");
}

TEST(Types, ElicitResult) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ElicitResult accept, RoundTrip<ElicitResult>(R"({
    "action": "accept",
    "content": {"name": "Monalisa Octocat", "age": 30, "subscribe": true, "tags": ["a", "b"]}
  })"));
  EXPECT_EQ(accept.action, ElicitAction::kAccept);
  EXPECT_EQ(Member(*accept.content, "age"), ParseJson("30"));
  MCPGW_ASSERT_OK_AND_ASSIGN(ElicitResult decline,
                             RoundTrip<ElicitResult>(R"({"action":"decline"})"));
  EXPECT_EQ(decline.action, ElicitAction::kDecline);
  EXPECT_FALSE(decline.content.has_value());
  MCPGW_ASSERT_OK_AND_ASSIGN(ElicitResult cancel,
                             RoundTrip<ElicitResult>(R"({"action":"cancel"})"));
  EXPECT_EQ(cancel.action, ElicitAction::kCancel);
  EXPECT_THAT(ReadStatus<ElicitResult>(R"({"action":"ok"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("action: unknown elicitation action \"ok\"")));
  EXPECT_THAT(ReadStatus<ElicitResult>(R"({})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("action: required member is missing")));
}

// --- Roots

TEST(Types, Roots) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ListRootsResult roots, RoundTrip<ListRootsResult>(R"({
    "roots": [{"uri": "file:///home/user/projects/myproject", "name": "My Project"},
              {"uri": "file:///tmp", "_meta": {"k": true}}]
  })"));
  ASSERT_EQ(roots.roots.size(), 2u);
  EXPECT_EQ(roots.roots[0].name, "My Project");
  EXPECT_FALSE(roots.roots[1].name.has_value());
  EXPECT_TRUE(roots.roots[1].meta.has_value());
  EXPECT_THAT(ReadStatus<ListRootsResult>(R"({"roots":[{"name":"x"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("roots[0].uri: required member is missing")));
}

// --- Tasks

TEST(Types, CreateTaskResultAndTaskStatus) {
  MCPGW_ASSERT_OK_AND_ASSIGN(CreateTaskResult created, RoundTrip<CreateTaskResult>(R"({
    "task": {
      "taskId": "786512e2-9e0d-44bd-8f29-789f320fe840",
      "status": "working",
      "statusMessage": "The operation is now in progress.",
      "createdAt": "2025-11-25T10:30:00Z",
      "lastUpdatedAt": "2025-11-25T10:40:00Z",
      "ttl": 60000,
      "pollInterval": 5000
    },
    "_meta": {"io.modelcontextprotocol/model-immediate-response": "Started."}
  })"));
  EXPECT_EQ(created.task.task_id, "786512e2-9e0d-44bd-8f29-789f320fe840");
  EXPECT_EQ(created.task.status, TaskStatus::kWorking);
  EXPECT_EQ(created.task.ttl.value, 60000);
  EXPECT_EQ(created.task.poll_interval, 5000);
  EXPECT_EQ(created.task.created_at, "2025-11-25T10:30:00Z");

  // ttl is required but may be null (unlimited); null is written back as null.
  MCPGW_ASSERT_OK_AND_ASSIGN(GetTaskResult unlimited, RoundTrip<GetTaskResult>(R"({
    "taskId": "t", "status": "input_required", "createdAt": "2025-11-25T10:30:00Z",
    "lastUpdatedAt": "2025-11-25T10:30:00Z", "ttl": null
  })"));
  EXPECT_FALSE(unlimited.ttl.value.has_value());
  EXPECT_EQ(unlimited.status, TaskStatus::kInputRequired);
  EXPECT_EQ(Member(ToJson(unlimited), "ttl"), Json());
  EXPECT_NE(FindMember(ToJson(unlimited).value(), "ttl"), nullptr);

  EXPECT_THAT(ReadStatus<CreateTaskResult>(R"({"task":{"taskId":"t","status":"working",
                  "createdAt":"a","lastUpdatedAt":"b"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task.ttl: required member is missing")));
  EXPECT_THAT(
      ReadStatus<CreateTaskResult>(R"({"task":{"taskId":"t","status":"working",
                  "createdAt":"a","lastUpdatedAt":"b","ttl":"1h"}})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task.ttl: must be an integer")));
  EXPECT_THAT(ReadStatus<CreateTaskResult>(R"({"task":{"taskId":"t","status":"paused",
                  "createdAt":"a","lastUpdatedAt":"b","ttl":null}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task.status: unknown task status \"paused\"")));

  Task built{
      .task_id = "t2", .status = TaskStatus::kCompleted, .created_at = "a", .last_updated_at = "b"};
  EXPECT_EQ(ToJson(built), ParseJson(R"({"taskId":"t2","status":"completed","createdAt":"a",
      "lastUpdatedAt":"b","ttl":null})"));
  built.ttl.value = 1000;
  EXPECT_EQ(Member(ToJson(built), "ttl"), ParseJson("1000"));
}

TEST(Types, TaskStatusNamesAndTerminality) {
  const std::vector<std::pair<TaskStatus, std::string>> statuses = {
      {TaskStatus::kWorking, "working"},
      {TaskStatus::kInputRequired, "input_required"},
      {TaskStatus::kCompleted, "completed"},
      {TaskStatus::kFailed, "failed"},
      {TaskStatus::kCancelled, "cancelled"}};
  for (const auto& [status, name] : statuses) {
    EXPECT_EQ(ToString(status), name);
    absl::StatusOr<TaskStatus> parsed = ParseTaskStatus(name);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, status);
  }
  EXPECT_FALSE(IsTerminal(TaskStatus::kWorking));
  EXPECT_FALSE(IsTerminal(TaskStatus::kInputRequired));
  EXPECT_TRUE(IsTerminal(TaskStatus::kCompleted));
  EXPECT_TRUE(IsTerminal(TaskStatus::kFailed));
  EXPECT_TRUE(IsTerminal(TaskStatus::kCancelled));
  EXPECT_THAT(ParseTaskStatus("canceled"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Types, TaskRequestsAndLists) {
  MCPGW_ASSERT_OK_AND_ASSIGN(GetTaskParams get,
                             RoundTrip<GetTaskParams>(R"({"taskId":"786512e2"})"));
  EXPECT_EQ(get.task_id, "786512e2");
  MCPGW_ASSERT_OK_AND_ASSIGN(GetTaskPayloadParams payload,
                             RoundTrip<GetTaskPayloadParams>(R"({"taskId":"786512e2"})"));
  EXPECT_EQ(payload.task_id, "786512e2");
  MCPGW_ASSERT_OK_AND_ASSIGN(CancelTaskParams cancel,
                             RoundTrip<CancelTaskParams>(R"({"taskId":"786512e2"})"));
  EXPECT_EQ(cancel.task_id, "786512e2");
  EXPECT_THAT(ReadStatus<CancelTaskParams>("{}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("taskId: required member is missing")));

  MCPGW_ASSERT_OK_AND_ASSIGN(ListTasksResult list, RoundTrip<ListTasksResult>(R"({
    "tasks": [
      {"taskId": "a", "status": "working", "createdAt": "2025-11-25T10:30:00Z",
       "lastUpdatedAt": "2025-11-25T10:30:00Z", "ttl": 30000, "pollInterval": 5000},
      {"taskId": "b", "status": "completed", "createdAt": "2025-11-25T09:15:00Z",
       "lastUpdatedAt": "2025-11-25T10:40:00Z", "ttl": 60000}
    ],
    "nextCursor": "next-page-cursor"
  })"));
  ASSERT_EQ(list.tasks.size(), 2u);
  EXPECT_EQ(list.tasks[1].status, TaskStatus::kCompleted);
  EXPECT_FALSE(list.tasks[1].poll_interval.has_value());
  EXPECT_THAT(ReadStatus<ListTasksResult>(R"({"tasks":[{"taskId":"a","status":"working",
                  "createdAt":"x","lastUpdatedAt":"x","ttl":1},{"taskId":"b"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tasks[1].status: required member is missing")));

  MCPGW_ASSERT_OK_AND_ASSIGN(TaskStatusParams notification, RoundTrip<TaskStatusParams>(R"({
    "taskId": "a", "status": "failed", "statusMessage": "boom",
    "createdAt": "x", "lastUpdatedAt": "y", "ttl": 1,
    "_meta": {"io.modelcontextprotocol/related-task": {"taskId": "a"}}})"));
  ASSERT_TRUE(notification.meta.has_value());
  absl::StatusOr<RelatedTaskMetadata> related =
      FromJson<RelatedTaskMetadata>(*FindMember(notification.meta->value(), kRelatedTaskMetaKey));
  ASSERT_THAT(related, IsOk());
  EXPECT_EQ(related->task_id, "a");

  MCPGW_ASSERT_OK_AND_ASSIGN(TaskMetadata no_ttl, RoundTrip<TaskMetadata>("{}"));
  EXPECT_FALSE(no_ttl.ttl.has_value());
}

// --- Progress and cancellation

TEST(Types, ProgressTokens) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ProgressParams string_token, RoundTrip<ProgressParams>(R"({
    "progressToken": "abc123", "progress": 50, "total": 100, "message": "Reticulating splines..."
  })"));
  EXPECT_EQ(string_token.progress_token, RequestId("abc123"));
  EXPECT_EQ(string_token.progress, 50);
  EXPECT_EQ(string_token.total, 100);
  EXPECT_EQ(string_token.message, "Reticulating splines...");

  MCPGW_ASSERT_OK_AND_ASSIGN(ProgressParams int_token, RoundTrip<ProgressParams>(R"({
    "progressToken": 42, "progress": 0.25
  })"));
  EXPECT_EQ(int_token.progress_token, RequestId(42));
  EXPECT_NE(int_token.progress_token, RequestId("42"));
  EXPECT_EQ(int_token.progress, 0.25);
  EXPECT_FALSE(int_token.total.has_value());

  MCPGW_ASSERT_OK_AND_ASSIGN(
      ProgressParams huge,
      RoundTrip<ProgressParams>(R"({"progressToken":18446744073709551615,"progress":1})"));
  EXPECT_EQ(huge.progress_token, RequestId::Unsigned(18446744073709551615u));

  EXPECT_THAT(ReadStatus<ProgressParams>(R"({"progressToken":1.5,"progress":1})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("progressToken: must be a string or an integer")));
  EXPECT_THAT(ReadStatus<ProgressParams>(R"({"progressToken":null,"progress":1})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("progressToken: must be a string or an integer")));
  EXPECT_THAT(ReadStatus<ProgressParams>(R"({"progressToken":"t"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("progress: required member is missing")));
  EXPECT_THAT(
      ReadStatus<ProgressParams>(R"({"progressToken":"t","progress":"half"})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("progress: must be a number")));

  ProgressParams built{.progress_token = "tok", .progress = 3, .total = 4.0};
  EXPECT_EQ(ToJson(built), ParseJson(R"({"progressToken":"tok","progress":3,"total":4})"));
}

TEST(Types, CancelledParams) {
  MCPGW_ASSERT_OK_AND_ASSIGN(CancelledParams by_int, RoundTrip<CancelledParams>(R"({
    "requestId": 123, "reason": "User requested cancellation"
  })"));
  EXPECT_EQ(by_int.request_id, RequestId(123));
  EXPECT_EQ(by_int.reason, "User requested cancellation");
  MCPGW_ASSERT_OK_AND_ASSIGN(CancelledParams by_string,
                             RoundTrip<CancelledParams>(R"({"requestId":"req-1"})"));
  EXPECT_EQ(by_string.request_id, RequestId("req-1"));
  MCPGW_ASSERT_OK_AND_ASSIGN(CancelledParams none, RoundTrip<CancelledParams>("{}"));
  EXPECT_FALSE(none.request_id.has_value());
  EXPECT_THAT(ReadStatus<CancelledParams>(R"({"requestId":true})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("requestId: must be a string or an integer")));
}

// --- Enumerations other than the ones above

TEST(Types, EnumStringsRoundTrip) {
  for (Role r : {Role::kUser, Role::kAssistant}) {
    EXPECT_EQ(*ParseRole(ToString(r)), r);
  }
  for (TaskSupport s : {TaskSupport::kForbidden, TaskSupport::kOptional, TaskSupport::kRequired}) {
    EXPECT_EQ(*ParseTaskSupport(ToString(s)), s);
  }
  for (IncludeContext c :
       {IncludeContext::kNone, IncludeContext::kThisServer, IncludeContext::kAllServers}) {
    EXPECT_EQ(*ParseIncludeContext(ToString(c)), c);
  }
  for (ToolChoiceMode m :
       {ToolChoiceMode::kAuto, ToolChoiceMode::kRequired, ToolChoiceMode::kNone}) {
    EXPECT_EQ(*ParseToolChoiceMode(ToString(m)), m);
  }
  for (ElicitationMode m : {ElicitationMode::kForm, ElicitationMode::kUrl}) {
    EXPECT_EQ(*ParseElicitationMode(ToString(m)), m);
  }
  for (ElicitAction a : {ElicitAction::kAccept, ElicitAction::kDecline, ElicitAction::kCancel}) {
    EXPECT_EQ(*ParseElicitAction(ToString(a)), a);
  }
  EXPECT_EQ(ToString(IncludeContext::kAllServers), "allServers");
  EXPECT_EQ(ToString(TaskSupport::kForbidden), "forbidden");
  EXPECT_THAT(ParseRole("User"), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("expected one of: user, assistant")));
}

// --- Method names

TEST(Types, MethodNames) {
  EXPECT_EQ(method::kInitialize, "initialize");
  EXPECT_EQ(method::kToolsCall, "tools/call");
  EXPECT_EQ(method::kResourcesTemplatesList, "resources/templates/list");
  EXPECT_EQ(method::kLoggingSetLevel, "logging/setLevel");
  EXPECT_EQ(method::kSamplingCreateMessage, "sampling/createMessage");
  EXPECT_EQ(method::kTasksResult, "tasks/result");
  EXPECT_EQ(method::kInitialized, "notifications/initialized");
  EXPECT_EQ(method::kMessage, "notifications/message");
  EXPECT_EQ(method::kElicitationComplete, "notifications/elicitation/complete");
  EXPECT_EQ(method::kTasksStatus, "notifications/tasks/status");

  std::set<std::string> all;
  for (absl::string_view m : method::kRequests) {
    EXPECT_FALSE(absl::StartsWith(m, "notifications/")) << m;
    all.emplace(m);
  }
  for (absl::string_view m : method::kNotifications) {
    EXPECT_TRUE(absl::StartsWith(m, "notifications/")) << m;
    all.emplace(m);
  }
  EXPECT_EQ(all.size(), method::kRequests.size() + method::kNotifications.size());
}

}  // namespace
}  // namespace mcpgw::mcp
