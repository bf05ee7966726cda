#include "fixture_server.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/types.h"

namespace mcpgw::fixture {
namespace {

using mcp::AudioContent;
using mcp::CallToolResult;
using mcp::CompleteParams;
using mcp::CompleteResult;
using mcp::ContentBlock;
using mcp::CreateMessageParams;
using mcp::CreateMessageResult;
using mcp::ElicitParams;
using mcp::ElicitResult;
using mcp::EmbeddedResource;
using mcp::GetPromptResult;
using mcp::ImageContent;
using mcp::Json;
using mcp::JsonValue;
using mcp::LoggingLevel;
using mcp::Prompt;
using mcp::PromptArgument;
using mcp::PromptMessage;
using mcp::ReadResourceResult;
using mcp::Reply;
using mcp::RequestContext;
using mcp::RequestId;
using mcp::Resource;
using mcp::ResourceContents;
using mcp::ResourceTemplate;
using mcp::Role;
using mcp::SamplingMessage;
using mcp::Server;
using mcp::TextContent;
using mcp::Tool;
using mcp::ToolOptions;

// A 1x1 red PNG and a 1 ms, 8 kHz, 8-bit mono WAV (the "minimal test image/audio" the suite
// asks for).
constexpr absl::string_view kPngBase64 =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
constexpr absl::string_view kWavBase64 =
    "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==";

constexpr absl::string_view kNoArguments = R"({"type":"object","properties":{}})";

// The schema of the conformance suite's json-schema-2020-12 scenario, exactly: listing must
// return it unchanged, so the tool is registered without input validation.
constexpr absl::string_view kJsonSchema2020Tool = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "address": {
      "$anchor": "addressDef",
      "type": "object",
      "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
    }
  },
  "properties": {
    "name": {"type": "string"},
    "address": {"$ref": "#/$defs/address"},
    "contactMethod": {"type": "string", "enum": ["phone", "email"]},
    "phone": {"type": "string"},
    "email": {"type": "string"}
  },
  "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
  "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
  "then": {"required": ["phone"]},
  "else": {"required": ["email"]},
  "additionalProperties": false
})";

constexpr absl::string_view kElicitationSchema = R"({
  "type": "object",
  "properties": {
    "username": {"type": "string", "description": "User's response"},
    "email": {"type": "string", "description": "User's email address"}
  },
  "required": ["username", "email"]
})";

constexpr absl::string_view kSep1034Schema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "description": "User name", "default": "John Doe"},
    "age": {"type": "integer", "description": "User age", "default": 30},
    "score": {"type": "number", "description": "User score", "default": 95.5},
    "status": {"type": "string", "description": "User status",
               "enum": ["active", "inactive", "pending"], "default": "active"},
    "verified": {"type": "boolean", "description": "Verification status", "default": true}
  }
})";

constexpr absl::string_view kSep1330Schema = R"({
  "type": "object",
  "properties": {
    "untitledSingle": {"type": "string", "description": "Untitled single-select",
                       "enum": ["option1", "option2", "option3"]},
    "titledSingle": {"type": "string", "description": "Titled single-select",
                     "oneOf": [{"const": "value1", "title": "First Option"},
                               {"const": "value2", "title": "Second Option"},
                               {"const": "value3", "title": "Third Option"}]},
    "legacyEnum": {"type": "string", "description": "Legacy titled enum",
                   "enum": ["opt1", "opt2", "opt3"],
                   "enumNames": ["Option One", "Option Two", "Option Three"]},
    "untitledMulti": {"type": "array", "description": "Untitled multi-select",
                      "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
    "titledMulti": {"type": "array", "description": "Titled multi-select",
                    "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                        {"const": "value2", "title": "Second Choice"},
                                        {"const": "value3", "title": "Third Choice"}]}}
  }
})";

// --- Small helpers.

absl::StatusOr<Tool> MakeTool(absl::string_view name, absl::string_view description,
                              absl::string_view input_schema,
                              std::optional<absl::string_view> output_schema = std::nullopt) {
  Tool tool;
  tool.name = std::string(name);
  tool.description = std::string(description);
  MCPGW_ASSIGN_OR_RETURN(tool.input_schema, Json::Parse(input_schema));
  if (output_schema.has_value()) {
    MCPGW_ASSIGN_OR_RETURN(Json out, Json::Parse(*output_schema));
    tool.output_schema = std::move(out);
  }
  return tool;
}

const JsonValue* Arg(const Json& args, absl::string_view name) {
  return mcp::FindMember(args.value(), name);
}

std::optional<std::string> StringArg(const Json& args, absl::string_view name) {
  const JsonValue* v = Arg(args, name);
  if (v == nullptr || !v->IsString()) {
    return std::nullopt;
  }
  return std::string(mcp::AsStringView(*v));
}

std::optional<double> NumberArg(const Json& args, absl::string_view name) {
  const JsonValue* v = Arg(args, name);
  if (v == nullptr || !v->IsNumber()) {
    return std::nullopt;
  }
  return v->GetDouble();
}

// An integer argument; a number with a fraction or beyond int64 is InvalidArgument.
absl::StatusOr<std::optional<int64_t>> IntArg(const Json& args, absl::string_view name) {
  const JsonValue* v = Arg(args, name);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->IsInt64()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' must be an integer, got ", mcp::SerializeJson(*v)));
  }
  return v->GetInt64();
}

ImageContent Png() {
  ImageContent image;
  image.data = std::string(kPngBase64);
  image.mime_type = "image/png";
  return image;
}

EmbeddedResource EmbeddedText(std::string uri, std::string mime_type, std::string text) {
  EmbeddedResource r;
  r.resource.uri = std::move(uri);
  r.resource.mime_type = std::move(mime_type);
  r.resource.text = std::move(text);
  return r;
}

PromptMessage UserMessage(ContentBlock content) {
  PromptMessage m;
  m.role = Role::kUser;
  m.content = std::move(content);
  return m;
}

std::string ContentJson(const std::optional<Json>& content) {
  return content.has_value() ? content->Serialize() : "{}";
}

// --- Cancellation bookkeeping for `slow` and `get_cancelled_requests`.

// CancellationLog records the requests the client cancelled (in order) and which of their
// handlers are still running. Thread-safe.
class CancellationLog {
 public:
  // A cancelled request; `running` when its handler has not returned yet.
  void Cancelled(const RequestId& id, bool running) {
    absl::MutexLock lock(&mu_);
    cancelled_.push_back(id);
    if (running) {
      running_.insert(id);
    }
  }
  // The handler of a cancelled request has stopped.
  void Stopped(const RequestId& id) {
    absl::MutexLock lock(&mu_);
    running_.erase(id);
  }

  struct Snapshot {
    std::vector<RequestId> cancelled;
    std::vector<RequestId> still_running;
  };
  // Get waits up to `wait` for the handlers of cancelled requests to stop, then reports.
  Snapshot Get(absl::Duration wait) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &CancellationLog::NoneRunning), wait);
    Snapshot s;
    s.cancelled = cancelled_;
    for (const RequestId& id : cancelled_) {
      if (running_.contains(id)) {
        s.still_running.push_back(id);
      }
    }
    return s;
  }

 private:
  bool NoneRunning() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_.empty(); }

  absl::Mutex mu_;
  std::vector<RequestId> cancelled_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<RequestId> running_ ABSL_GUARDED_BY(mu_);
};

// One `slow` call: its cancellation flag, and whether its handler has returned.
struct SlowCall {
  absl::Mutex mu;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  bool finished ABSL_GUARDED_BY(mu) = false;
};

// --- The conformance suite's tools.

absl::Status AddConformanceTools(Server& server) {
  auto add_sync = [&server](absl::StatusOr<Tool> tool, mcp::SyncToolHandler handler,
                            ToolOptions options = {}) -> absl::Status {
    if (!tool.ok()) {
      return tool.status();
    }
    return server.AddSyncTool(*std::move(tool), std::move(handler), options);
  };
  auto add_async = [&server](absl::StatusOr<Tool> tool, mcp::ToolHandler handler) -> absl::Status {
    if (!tool.ok()) {
      return tool.status();
    }
    return server.AddTool(*std::move(tool), std::move(handler));
  };

  MCPGW_RETURN_IF_ERROR(
      add_sync(MakeTool("test_simple_text", "Returns one text block", kNoArguments),
               [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
                 return mcp::TextResult("This is a simple text response for testing.");
               }));

  MCPGW_RETURN_IF_ERROR(
      add_sync(MakeTool("test_image_content", "Returns one image block (a 1x1 PNG)", kNoArguments),
               [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
                 CallToolResult r;
                 r.content.emplace_back(Png());
                 return r;
               }));

  MCPGW_RETURN_IF_ERROR(
      add_sync(MakeTool("test_audio_content", "Returns one audio block (a tiny WAV)", kNoArguments),
               [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
                 AudioContent audio;
                 audio.data = std::string(kWavBase64);
                 audio.mime_type = "audio/wav";
                 CallToolResult r;
                 r.content.emplace_back(std::move(audio));
                 return r;
               }));

  MCPGW_RETURN_IF_ERROR(add_sync(
      MakeTool("test_embedded_resource", "Returns one embedded text resource", kNoArguments),
      [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
        CallToolResult r;
        r.content.emplace_back(EmbeddedText("test://embedded-resource", "text/plain",
                                            "This is an embedded resource content."));
        return r;
      }));

  MCPGW_RETURN_IF_ERROR(add_sync(
      MakeTool("test_multiple_content_types", "Returns text, an image and an embedded resource",
               kNoArguments),
      [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
        CallToolResult r;
        r.content.emplace_back(mcp::Text("Multiple content types test:"));
        r.content.emplace_back(Png());
        r.content.emplace_back(EmbeddedText("test://mixed-content-resource", "application/json",
                                            R"({"test":"data","value":123})"));
        return r;
      }));

  MCPGW_RETURN_IF_ERROR(add_sync(
      MakeTool("test_tool_with_logging",
               "Sends three info log messages about 50 ms apart while it runs", kNoArguments),
      [](const Json&, RequestContext& ctx) -> absl::StatusOr<CallToolResult> {
        constexpr absl::string_view kMessages[] = {"Tool execution started", "Tool processing data",
                                                   "Tool execution completed"};
        for (size_t i = 0; i < std::size(kMessages); ++i) {
          if (i > 0) {
            absl::SleepFor(absl::Milliseconds(50));
          }
          // (Not MCPGW_RETURN_IF_ERROR: nested in the one around add_sync it would shadow.)
          if (absl::Status sent = ctx.Log(LoggingLevel::kInfo, Json::String(kMessages[i]));
              !sent.ok()) {
            return sent;
          }
        }
        return mcp::TextResult("Tool with logging executed successfully");
      }));

  MCPGW_RETURN_IF_ERROR(
      add_sync(MakeTool("test_tool_with_progress",
                        "Reports progress 0, 50 and 100 of 100 about 50 ms apart (to the request's "
                        "progress token)",
                        kNoArguments),
               [](const Json&, RequestContext& ctx) -> absl::StatusOr<CallToolResult> {
                 for (double progress : {0.0, 50.0, 100.0}) {
                   if (progress > 0) {
                     absl::SleepFor(absl::Milliseconds(50));
                   }
                   if (absl::Status sent = ctx.ReportProgress(progress, 100.0); !sent.ok()) {
                     return sent;
                   }
                 }
                 return mcp::TextResult("Tool with progress executed successfully");
               }));

  MCPGW_RETURN_IF_ERROR(add_sync(
      MakeTool("test_error_handling", "Always fails with a tool error (isError)", kNoArguments),
      [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
        return mcp::ToolError("This tool intentionally returns an error for testing");
      }));

  MCPGW_RETURN_IF_ERROR(add_async(
      MakeTool("test_sampling",
               "Asks the client's model (sampling/createMessage, maxTokens 100) and returns its "
               "answer",
               R"({"type":"object","properties":{"prompt":{"type":"string",
                   "description":"The prompt to send to the LLM"}},"required":["prompt"]})"),
      [](const Json& args, RequestContext ctx, Reply<CallToolResult> reply) {
        CreateMessageParams params;
        SamplingMessage message;
        message.role = Role::kUser;
        message.content.blocks.emplace_back(mcp::Text(StringArg(args, "prompt").value_or("")));
        params.messages.push_back(std::move(message));
        params.max_tokens = 100;
        ctx.CreateMessage(
            params, [reply = std::move(reply)](absl::StatusOr<CreateMessageResult> result) mutable {
              if (!result.ok()) {
                std::move(reply)(
                    absl::Status(result.status().code(),
                                 absl::StrCat("sampling failed: ", result.status().message())));
                return;
              }
              std::string text;
              for (const ContentBlock& block : result->content.blocks) {
                if (const auto* t = std::get_if<TextContent>(&block)) {
                  text += t->text;
                }
              }
              std::move(reply)(mcp::TextResult(absl::StrCat("LLM response: ", text)));
            });
      }));

  // The three elicitation tools differ in their message and schema only.
  struct Elicitation {
    absl::string_view name;
    absl::string_view description;
    absl::string_view input_schema;
    absl::string_view requested_schema;
    absl::string_view default_message;
    absl::string_view result_prefix;
  };
  const Elicitation elicitations[] = {
      {"test_elicitation", "Asks the user (elicitation/create) for a username and an email",
       R"({"type":"object","properties":{"message":{"type":"string",
           "description":"The message to show the user"}},"required":["message"]})",
       kElicitationSchema, "Please provide your information", "User response: "},
      {"test_elicitation_sep1034_defaults",
       "Asks the user with a form whose fields have defaults (SEP-1034)", kNoArguments,
       kSep1034Schema, "Please review and update the form fields with defaults",
       "Elicitation completed: "},
      {"test_elicitation_sep1330_enums",
       "Asks the user with a form of every enum variant (SEP-1330)", kNoArguments, kSep1330Schema,
       "Please select options from the enum fields", "Elicitation completed: "},
  };
  for (const Elicitation& e : elicitations) {
    MCPGW_ASSIGN_OR_RETURN(Json requested, Json::Parse(e.requested_schema));
    MCPGW_RETURN_IF_ERROR(add_async(
        MakeTool(e.name, e.description, e.input_schema),
        [requested = std::move(requested), message = std::string(e.default_message),
         prefix = std::string(e.result_prefix)](const Json& args, RequestContext ctx,
                                                Reply<CallToolResult> reply) {
          ElicitParams params;
          params.message = StringArg(args, "message").value_or(message);
          params.requested_schema = requested;
          ctx.Elicit(params, [reply = std::move(reply),
                              prefix](absl::StatusOr<ElicitResult> result) mutable {
            if (!result.ok()) {
              std::move(reply)(
                  absl::Status(result.status().code(),
                               absl::StrCat("elicitation failed: ", result.status().message())));
              return;
            }
            std::move(reply)(
                mcp::TextResult(absl::StrCat(prefix, "action=", mcp::ToString(result->action),
                                             ", content=", ContentJson(result->content))));
          });
        }));
  }

  MCPGW_RETURN_IF_ERROR(add_sync(
      MakeTool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features",
               kJsonSchema2020Tool),
      [](const Json& args, RequestContext&) -> absl::StatusOr<CallToolResult> {
        return mcp::TextResult(absl::StrCat("Received: ", args.Serialize()));
      },
      ToolOptions{.validate_input = false}));

  return absl::OkStatus();
}

// --- Resources, the template, prompts and completion of the conformance suite.

absl::Status AddConformanceResources(Server& server) {
  auto text_resource = [&server](std::string uri, std::string name, std::string description,
                                 std::string mime_type, std::string text) {
    Resource r;
    r.uri = uri;
    r.name = std::move(name);
    r.description = std::move(description);
    r.mime_type = mime_type;
    return server.AddResource(
        std::move(r),
        [uri, mime_type, text](const std::string&, const std::map<std::string, std::string>&,
                               RequestContext, Reply<ReadResourceResult> reply) {
          ResourceContents c;
          c.uri = uri;
          c.mime_type = mime_type;
          c.text = text;
          ReadResourceResult result;
          result.contents.push_back(std::move(c));
          std::move(reply)(std::move(result));
        });
  };
  MCPGW_RETURN_IF_ERROR(text_resource("test://static-text", "Static Text Resource",
                                      "A static text resource for testing", "text/plain",
                                      "This is the content of the static text resource."));
  {
    Resource r;
    r.uri = "test://static-binary";
    r.name = "Static Binary Resource";
    r.description = "A static binary resource (a 1x1 PNG) for testing";
    r.mime_type = "image/png";
    MCPGW_RETURN_IF_ERROR(server.AddResource(
        std::move(r), [](const std::string& uri, const std::map<std::string, std::string>&,
                         RequestContext, Reply<ReadResourceResult> reply) {
          ResourceContents c;
          c.uri = uri;
          c.mime_type = "image/png";
          c.blob = std::string(kPngBase64);
          ReadResourceResult result;
          result.contents.push_back(std::move(c));
          std::move(reply)(std::move(result));
        }));
  }
  MCPGW_RETURN_IF_ERROR(text_resource("test://watched-resource", "Watched Resource",
                                      "A resource to subscribe to and unsubscribe from",
                                      "text/plain", "Watched resource content"));

  ResourceTemplate t;
  t.uri_template = "test://template/{id}/data";
  t.name = "Template Resource";
  t.description = "JSON data for any id";
  t.mime_type = "application/json";
  return server.AddResourceTemplate(
      std::move(t), [](const std::string& uri, const std::map<std::string, std::string>& vars,
                       RequestContext, Reply<ReadResourceResult> reply) {
        auto it = vars.find("id");
        std::string id = it != vars.end() ? it->second : "";
        Json data = Json::Object();
        data.Set("id", id);
        data.Set("templateTest", JsonValue(true));
        data.Set("data", absl::StrCat("Data for ID: ", id));
        ResourceContents c;
        c.uri = uri;
        c.mime_type = "application/json";
        c.text = data.Serialize();
        ReadResourceResult result;
        result.contents.push_back(std::move(c));
        std::move(reply)(std::move(result));
      });
}

PromptArgument Argument(std::string name, std::string description) {
  PromptArgument a;
  a.name = std::move(name);
  a.description = std::move(description);
  a.required = true;
  return a;
}

absl::Status AddConformancePrompts(Server& server) {
  using Arguments = std::map<std::string, std::string>;
  auto add = [&server](std::string name, std::string description,
                       std::vector<PromptArgument> arguments,
                       absl::AnyInvocable<GetPromptResult(const Arguments&) const> build) {
    Prompt p;
    p.name = std::move(name);
    p.description = std::move(description);
    if (!arguments.empty()) {
      p.arguments = std::move(arguments);
    }
    return server.AddPrompt(std::move(p),
                            [build = std::move(build)](const Arguments& args, RequestContext,
                                                       Reply<GetPromptResult> reply) {
                              std::move(reply)(build(args));
                            });
  };
  auto arg = [](const Arguments& args, const std::string& name) {
    auto it = args.find(name);
    return it != args.end() ? it->second : std::string();
  };

  MCPGW_RETURN_IF_ERROR(
      add("test_simple_prompt", "A simple prompt without arguments", {}, [](const Arguments&) {
        GetPromptResult r;
        r.messages.push_back(UserMessage(mcp::Text("This is a simple prompt for testing.")));
        return r;
      }));
  MCPGW_RETURN_IF_ERROR(add(
      "test_prompt_with_arguments", "A prompt with two arguments (arg1 can be completed)",
      {Argument("arg1", "First test argument"), Argument("arg2", "Second test argument")},
      [arg](const Arguments& args) {
        GetPromptResult r;
        r.messages.push_back(
            UserMessage(mcp::Text(absl::StrCat("Prompt with arguments: arg1='", arg(args, "arg1"),
                                               "', arg2='", arg(args, "arg2"), "'"))));
        return r;
      }));
  MCPGW_RETURN_IF_ERROR(add(
      "test_prompt_with_embedded_resource", "A prompt embedding the resource it is given",
      {Argument("resourceUri", "URI of the resource to embed")}, [arg](const Arguments& args) {
        GetPromptResult r;
        r.messages.push_back(UserMessage(EmbeddedText(arg(args, "resourceUri"), "text/plain",
                                                      "Embedded resource content for testing.")));
        r.messages.push_back(UserMessage(mcp::Text("Please process the embedded resource above.")));
        return r;
      }));
  MCPGW_RETURN_IF_ERROR(
      add("test_prompt_with_image", "A prompt with an image", {}, [](const Arguments&) {
        GetPromptResult r;
        r.messages.push_back(UserMessage(Png()));
        r.messages.push_back(UserMessage(mcp::Text("Please analyze the image above.")));
        return r;
      }));

  server.SetCompletionHandler([](const CompleteParams& params, RequestContext,
                                 Reply<CompleteResult> reply) {
    std::vector<std::string> candidates;
    if (const auto* prompt = std::get_if<mcp::PromptReference>(&params.ref)) {
      if (prompt->name == "test_prompt_with_arguments" && params.argument.name == "arg1") {
        candidates = {"paris", "park", "party", "test", "testValue1"};
      }
    } else if (const auto* resource = std::get_if<mcp::ResourceTemplateReference>(&params.ref)) {
      if (resource->uri == "test://template/{id}/data" && params.argument.name == "id") {
        candidates = {"1", "2", "3", "123"};
      }
    }
    CompleteResult result;
    for (const std::string& c : candidates) {
      if (absl::StartsWith(c, params.argument.value)) {
        result.completion.values.push_back(c);
      }
    }
    result.completion.total = static_cast<int64_t>(result.completion.values.size());
    result.completion.has_more = false;
    std::move(reply)(std::move(result));
  });
  return absl::OkStatus();
}

// --- Our own tools.

absl::StatusOr<CallToolResult> Slow(const Json& args, RequestContext& ctx,
                                    const std::shared_ptr<CancellationLog>& log) {
  double seconds = NumberArg(args, "seconds").value_or(10);
  MCPGW_ASSIGN_OR_RETURN(std::optional<int64_t> steps_arg, IntArg(args, "steps"));
  int64_t steps = steps_arg.value_or(10);
  if (!(seconds >= 0 && seconds <= 3600)) {
    return absl::InvalidArgumentError("'seconds' must be between 0 and 3600");
  }
  if (steps < 1 || steps > 100000) {
    return absl::InvalidArgumentError("'steps' must be between 1 and 100000");
  }
  auto call = std::make_shared<SlowCall>();
  RequestId id = ctx.request_id();
  ctx.OnCancel([call, log, id]() {
    absl::MutexLock lock(&call->mu);
    call->cancelled = true;
    log->Cancelled(id, !call->finished);
  });
  absl::Time start = absl::Now();
  absl::Duration step = absl::Seconds(seconds) / steps;
  for (int64_t done = 0; done < steps; ++done) {
    {
      absl::MutexLock lock(&call->mu);
      call->mu.AwaitWithDeadline(absl::Condition(&call->cancelled), start + step * (done + 1));
      if (call->cancelled) {
        call->finished = true;
        log->Stopped(id);
        spdlog::info("slow {}: cancelled after {} of {} steps", id.ToString(), done, steps);
        return mcp::ToolError(absl::StrCat("cancelled after ", done, " of ", steps, " steps"));
      }
    }
    // Progress only goes to a client that asked for it; a closing client is no reason to stop.
    ctx.ReportProgress(static_cast<double>(done + 1), static_cast<double>(steps),
                       absl::StrCat("step ", done + 1, " of ", steps))
        .IgnoreError();
  }
  {
    absl::MutexLock lock(&call->mu);
    call->finished = true;
  }
  return mcp::TextResult(
      absl::StrCat("slow: ", steps, " steps in ", absl::FormatDuration(absl::Now() - start)));
}

absl::StatusOr<CallToolResult> LargeResult(const Json& args) {
  MCPGW_ASSIGN_OR_RETURN(std::optional<int64_t> bytes, IntArg(args, "bytes"));
  if (!bytes.has_value() || *bytes < 0) {
    return absl::InvalidArgumentError("'bytes' must be a non-negative integer");
  }
  if (static_cast<uint64_t>(*bytes) > kMaxLargeResultBytes) {
    return absl::InvalidArgumentError(absl::StrCat("'bytes' is ", *bytes, "; at most ",
                                                   kMaxLargeResultBytes, " (64 MiB) is served"));
  }
  // A repeating printable pattern (nothing to escape in JSON): the text is exactly `bytes`
  // bytes and characters long, and a corrupted middle shows.
  constexpr absl::string_view kPattern = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string text(static_cast<size_t>(*bytes), ' ');
  for (size_t i = 0; i < text.size(); ++i) {
    text[i] = kPattern[i % kPattern.size()];
  }
  return mcp::TextResult(std::move(text));
}

absl::Status AddOwnTools(Server& server, int extra_tools) {
  {
    MCPGW_ASSIGN_OR_RETURN(
        Tool tool,
        MakeTool("echo", "Echoes its message, as text (\"Echo: <message>\") and structured",
                 R"({"type":"object","properties":{"message":{"type":"string",
                     "description":"The text to echo"}},"required":["message"]})",
                 R"({"type":"object","properties":{"echo":{"type":"string"}},
                     "required":["echo"],"additionalProperties":false})"));
    MCPGW_RETURN_IF_ERROR(server.AddSyncTool(
        std::move(tool), [](const Json& args, RequestContext&) -> absl::StatusOr<CallToolResult> {
          std::string message = StringArg(args, "message").value_or("");
          CallToolResult r = mcp::TextResult(absl::StrCat("Echo: ", message));
          Json structured = Json::Object();
          structured.Set("echo", message);
          r.structured_content = std::move(structured);
          return r;
        }));
  }

  auto log = std::make_shared<CancellationLog>();
  {
    MCPGW_ASSIGN_OR_RETURN(
        Tool tool,
        MakeTool("slow",
                 "Works for `seconds` (default 10) in `steps` (default 10), reporting progress "
                 "after each step; stops at once when cancelled (see get_cancelled_requests)",
                 R"({"type":"object","properties":{
                     "seconds":{"type":"number","minimum":0,"maximum":3600},
                     "steps":{"type":"integer","minimum":1,"maximum":100000}}})"));
    MCPGW_RETURN_IF_ERROR(server.AddSyncTool(
        std::move(tool),
        [log](const Json& args, RequestContext& ctx) { return Slow(args, ctx, log); }));
  }
  {
    MCPGW_ASSIGN_OR_RETURN(
        Tool tool,
        MakeTool("get_cancelled_requests",
                 "The ids of the requests the client cancelled (a JSON array); waits up to 2 s "
                 "for their handlers to stop and lists those still running",
                 kNoArguments,
                 R"({"type":"object","properties":{
                     "cancelled":{"type":"array","items":{"anyOf":[{"type":"integer"},{"type":"string"}]}},
                     "stillRunning":{"type":"array",
                                     "items":{"anyOf":[{"type":"integer"},{"type":"string"}]}}},
                     "required":["cancelled","stillRunning"]})"));
    MCPGW_RETURN_IF_ERROR(server.AddSyncTool(
        std::move(tool), [log](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
          CancellationLog::Snapshot s = log->Get(absl::Seconds(2));
          auto ids = [](const std::vector<RequestId>& list, mcp::JsonAllocator& alloc) {
            JsonValue array(rapidjson::kArrayType);
            for (const RequestId& id : list) {
              array.PushBack(id.ToJson(alloc), alloc);
            }
            return array;
          };
          Json structured = Json::Object();
          structured.Set("cancelled", ids(s.cancelled, structured.allocator()));
          structured.Set("stillRunning", ids(s.still_running, structured.allocator()));
          CallToolResult r = mcp::TextResult(
              mcp::SerializeJson(*mcp::FindMember(structured.value(), "cancelled")));
          r.structured_content = std::move(structured);
          return r;
        }));
  }
  {
    MCPGW_ASSIGN_OR_RETURN(
        Tool tool, MakeTool("crash",
                            "Ends the server process at once with `exit_code` (default 1), "
                            "without answering; with `print_env` (names separated by commas), "
                            "first writes those environment variables to stderr (tests "
                            "of secret masking)",
                            R"({"type":"object","properties":{
                                "exit_code":{"type":"integer","minimum":0,"maximum":255},
                                "print_env":{"type":"string"}}})"));
    MCPGW_RETURN_IF_ERROR(server.AddSyncTool(
        std::move(tool), [](const Json& args, RequestContext&) -> absl::StatusOr<CallToolResult> {
          MCPGW_ASSIGN_OR_RETURN(std::optional<int64_t> code, IntArg(args, "exit_code"));
          int exit_code = static_cast<int>(std::clamp<int64_t>(code.value_or(1), 0, 255));
          std::string lines;
          for (absl::string_view name :
               absl::StrSplit(StringArg(args, "print_env").value_or(""), ',', absl::SkipEmpty())) {
            const char* value = std::getenv(std::string(name).c_str());
            absl::StrAppend(&lines, "crash: ", name,
                            value == nullptr ? " is not set" : absl::StrCat("=", value), "\n");
          }
          // Unbuffered and before the exit: the lines must reach the stderr pipe.
          if (!lines.empty()) {
            ssize_t written = write(STDERR_FILENO, lines.data(), lines.size());
            (void)written;
          }
          spdlog::warn("crash: exiting at once with code {} (as asked)", exit_code);
          spdlog::default_logger()->flush();
          _exit(exit_code);
        }));
  }
  {
    MCPGW_ASSIGN_OR_RETURN(
        Tool tool,
        MakeTool("large_result", "Returns a text block of exactly `bytes` bytes (at most 64 MiB)",
                 R"({"type":"object","properties":{"bytes":{"type":"integer","minimum":0}},
                     "required":["bytes"]})"));
    MCPGW_RETURN_IF_ERROR(server.AddSyncTool(
        std::move(tool), [](const Json& args, RequestContext&) { return LargeResult(args); }));
  }

  for (int i = 0; i < extra_tools; ++i) {
    MCPGW_ASSIGN_OR_RETURN(
        Tool tool, MakeTool(absl::StrCat("extra_", i),
                            absl::StrCat("Extra tool ", i, " (benchmarks): echoes its arguments"),
                            R"({"type":"object"})"));
    MCPGW_RETURN_IF_ERROR(server.AddSyncTool(
        std::move(tool),
        [](const Json& args, RequestContext&) -> absl::StatusOr<CallToolResult> {
          CallToolResult r = mcp::TextResult(args.Serialize());
          r.structured_content = args;
          return r;
        },
        ToolOptions{.validate_input = false}));
  }
  return absl::OkStatus();
}

// AddInstanceItems: see FixtureOptions::instance.
absl::Status AddInstanceItems(Server& server, const std::string& instance) {
  constexpr const char* kUri = "test://instance";
  Resource r;
  r.uri = kUri;
  r.name = "Instance";
  r.description = "The name this fixture was started with (--instance)";
  r.mime_type = "text/plain";
  MCPGW_RETURN_IF_ERROR(server.AddResource(
      std::move(r), [instance](const std::string& uri, const std::map<std::string, std::string>&,
                               RequestContext, Reply<ReadResourceResult> reply) {
        ResourceContents c;
        c.uri = uri;
        c.mime_type = "text/plain";
        c.text = instance;
        ReadResourceResult result;
        result.contents.push_back(std::move(c));
        std::move(reply)(std::move(result));
      }));
  {
    MCPGW_ASSIGN_OR_RETURN(
        Tool tool, MakeTool("instance_links",
                            "A resource link to test://instance and the resource embedded",
                            kNoArguments));
    MCPGW_RETURN_IF_ERROR(server.AddSyncTool(
        std::move(tool),
        [instance](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
          CallToolResult result;
          mcp::ResourceLink link;
          link.uri = kUri;
          link.name = "Instance";
          result.content.emplace_back(std::move(link));
          result.content.emplace_back(EmbeddedText(kUri, "text/plain", instance));
          return result;
        }));
  }
  MCPGW_ASSIGN_OR_RETURN(
      Tool tool, MakeTool("touch", "Sends notifications/resources/updated for `uri`",
                          R"({"type":"object","properties":{"uri":{"type":"string"}},
                              "required":["uri"]})"));
  return server.AddSyncTool(
      std::move(tool), [&server](const Json& args, RequestContext&) -> absl::StatusOr<CallToolResult> {
        std::string uri = StringArg(args, "uri").value_or("");
        server.NotifyResourceUpdated(uri);
        return mcp::TextResult(absl::StrCat("touched ", uri));
      });
}

}  // namespace

absl::StatusOr<std::shared_ptr<mcp::Server>> CreateFixtureServer(const FixtureOptions& options) {
  if (options.extra_tools < 0 || options.extra_tools > kMaxExtraTools) {
    return absl::InvalidArgumentError(absl::StrCat("--extra-tools must be between 0 and ",
                                                   kMaxExtraTools, " (got ", options.extra_tools,
                                                   ")"));
  }
  mcp::ServerOptions server_options;
  server_options.info = mcp::Implementation{.name = "mcp-fixture-server", .version = "0.1.0"};
  server_options.instructions =
      "A test fixture: the MCP conformance suite's server contract (test_* tools, resources "
      "and prompts) plus echo, slow, get_cancelled_requests, crash and large_result.";
  std::shared_ptr<Server> server = Server::Create(std::move(server_options));
  MCPGW_RETURN_IF_ERROR(AddConformanceTools(*server));
  MCPGW_RETURN_IF_ERROR(AddOwnTools(*server, options.extra_tools));
  MCPGW_RETURN_IF_ERROR(AddConformanceResources(*server));
  MCPGW_RETURN_IF_ERROR(AddConformancePrompts(*server));
  if (!options.instance.empty()) {
    MCPGW_RETURN_IF_ERROR(AddInstanceItems(*server, options.instance));
  }
  return server;
}

}  // namespace mcpgw::fixture
