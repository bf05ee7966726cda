// File: types.h
//
// MCP schema types (protocol revision 2025-11-25, readable and writable for every older
// revision this library negotiates: 2025-06-18, 2025-03-26, 2024-11-05), mapped to JSON with
// json_bind.h. Member names are the schema's, in snake_case; `_meta` is `meta`. Every struct
// keeps unknown members in `extra`, so a read/write round trip loses nothing, and free-form
// values (JSON Schemas, tool arguments, `_meta`) are kept as Json, unchanged.
//
// Members added after 2024-11-05 carry a one-line comment with the revision. The types do not
// check which revision a message belongs to: an older peer simply leaves newer members out.
//
//   MCPGW_ASSIGN_OR_RETURN(ListToolsResult list, FromJson<ListToolsResult>(value));
//   for (const Tool& tool : list.tools) { ... tool.input_schema ... }
//   CallToolResult result{.content = {TextContent{.text = "done"}}};
//   Json out = ToJson(result);
//
// Reading returns InvalidArgument naming the member path of the first problem
// ("tools[1].inputSchema: required member is missing"). All types are plain values:
// thread-compatible.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_bind.h"
#include "mcpgw/mcp/json_rpc.h"

namespace mcpgw::mcp {

// --- Method names (2025-11-25; older revisions use a subset).

namespace method {
// Requests.
inline constexpr absl::string_view kInitialize = "initialize";
inline constexpr absl::string_view kPing = "ping";
inline constexpr absl::string_view kToolsList = "tools/list";
inline constexpr absl::string_view kToolsCall = "tools/call";
inline constexpr absl::string_view kResourcesList = "resources/list";
inline constexpr absl::string_view kResourcesTemplatesList = "resources/templates/list";
inline constexpr absl::string_view kResourcesRead = "resources/read";
inline constexpr absl::string_view kResourcesSubscribe = "resources/subscribe";
inline constexpr absl::string_view kResourcesUnsubscribe = "resources/unsubscribe";
inline constexpr absl::string_view kPromptsList = "prompts/list";
inline constexpr absl::string_view kPromptsGet = "prompts/get";
inline constexpr absl::string_view kCompletionComplete = "completion/complete";
inline constexpr absl::string_view kLoggingSetLevel = "logging/setLevel";
inline constexpr absl::string_view kSamplingCreateMessage = "sampling/createMessage";
inline constexpr absl::string_view kElicitationCreate = "elicitation/create";  // >= 2025-06-18
inline constexpr absl::string_view kRootsList = "roots/list";
inline constexpr absl::string_view kTasksGet = "tasks/get";        // 2025-11-25
inline constexpr absl::string_view kTasksResult = "tasks/result";  // 2025-11-25
inline constexpr absl::string_view kTasksList = "tasks/list";      // 2025-11-25
inline constexpr absl::string_view kTasksCancel = "tasks/cancel";  // 2025-11-25

// Notifications.
inline constexpr absl::string_view kInitialized = "notifications/initialized";
inline constexpr absl::string_view kCancelled = "notifications/cancelled";
inline constexpr absl::string_view kProgress = "notifications/progress";
inline constexpr absl::string_view kMessage = "notifications/message";
inline constexpr absl::string_view kResourcesUpdated = "notifications/resources/updated";
inline constexpr absl::string_view kResourcesListChanged = "notifications/resources/list_changed";
inline constexpr absl::string_view kToolsListChanged = "notifications/tools/list_changed";
inline constexpr absl::string_view kPromptsListChanged = "notifications/prompts/list_changed";
inline constexpr absl::string_view kRootsListChanged = "notifications/roots/list_changed";
inline constexpr absl::string_view kElicitationComplete =
    "notifications/elicitation/complete";                                        // 2025-11-25
inline constexpr absl::string_view kTasksStatus = "notifications/tasks/status";  // 2025-11-25

// Every request and every notification method of 2025-11-25.
inline constexpr std::array<absl::string_view, 20> kRequests = {
    kInitialize,
    kPing,
    kToolsList,
    kToolsCall,
    kResourcesList,
    kResourcesTemplatesList,
    kResourcesRead,
    kResourcesSubscribe,
    kResourcesUnsubscribe,
    kPromptsList,
    kPromptsGet,
    kCompletionComplete,
    kLoggingSetLevel,
    kSamplingCreateMessage,
    kElicitationCreate,
    kRootsList,
    kTasksGet,
    kTasksResult,
    kTasksList,
    kTasksCancel,
};
inline constexpr std::array<absl::string_view, 11> kNotifications = {
    kInitialized,      kCancelled,
    kProgress,         kMessage,
    kResourcesUpdated, kResourcesListChanged,
    kToolsListChanged, kPromptsListChanged,
    kRootsListChanged, kElicitationComplete,
    kTasksStatus,
};
}  // namespace method

// --- Building blocks.

namespace types_internal {
// A string literal usable as a template argument (TypeTag<"text">).
template <size_t N>
struct FixedString {
  constexpr FixedString(const char (&s)[N]) {  // NOLINT: implicit from a literal on purpose
    std::copy_n(s, N, chars);
  }
  constexpr absl::string_view view() const { return absl::string_view(chars, N - 1); }
  char chars[N];
};
}  // namespace types_internal

// TypeTag<"text"> is a member whose JSON value is always exactly that string: the `type`
// discriminator of content blocks and completion references. It holds no state; reading any
// other value fails, writing always writes the string.
template <types_internal::FixedString kValue>
struct TypeTag {
  static constexpr absl::string_view value() { return kValue.view(); }
};

template <types_internal::FixedString kValue>
absl::Status ReadJson(const JsonValue& v, TypeTag<kValue>& /*out*/, JsonPath& path) {
  if (!v.IsString()) {
    return path.Error("must be a string");
  }
  if (AsStringView(v) != kValue.view()) {
    return path.Error(absl::StrCat("must be \"", kValue.view(), "\""));
  }
  return absl::OkStatus();
}

template <types_internal::FixedString kValue>
JsonValue WriteJson(const TypeTag<kValue>& /*in*/, JsonAllocator& alloc) {
  return JsonString(kValue.view(), alloc);
}

// Nullable<T> is a member whose JSON value may be null (Task.ttl: number | null). Unlike
// std::optional, which makes the member optional, it is required but may hold null.
template <typename T>
struct Nullable {
  std::optional<T> value;  // nullopt ⇔ JSON null
};

template <typename T>
absl::Status ReadJson(const JsonValue& v, Nullable<T>& out, JsonPath& path) {
  if (v.IsNull()) {
    out.value.reset();
    return absl::OkStatus();
  }
  T item{};
  absl::Status s = ReadJson(v, item, path);
  if (!s.ok()) {
    return s;
  }
  out.value = std::move(item);
  return absl::OkStatus();
}

template <typename T>
JsonValue WriteJson(const Nullable<T>& in, JsonAllocator& alloc) {
  if (!in.value.has_value()) {
    return JsonValue();
  }
  return WriteJson(*in.value, alloc);
}

// RequestId (json_rpc.h) as a member: request ids in `notifications/cancelled` and progress
// tokens. Reading accepts a string or an integer; anything else is InvalidArgument.
absl::Status ReadJson(const JsonValue& v, RequestId& out, JsonPath& path);
JsonValue WriteJson(const RequestId& in, JsonAllocator& alloc);

// --- Enumerations. Each maps to the schema's strings: ToString gives the string, Parse*
// returns InvalidArgument naming the accepted values for any other string. Reading a member
// of one of these types fails the same way.

// The sender or recipient of a message.
enum class Role { kUser, kAssistant };
absl::string_view ToString(Role role);
absl::StatusOr<Role> ParseRole(absl::string_view s);
absl::Status ReadJson(const JsonValue& v, Role& out, JsonPath& path);
JsonValue WriteJson(Role in, JsonAllocator& alloc);

// Log severity (RFC 5424), least severe first: the enumerators compare in severity order,
// so `level >= threshold` selects the messages a client asked for with logging/setLevel.
enum class LoggingLevel {
  kDebug,
  kInfo,
  kNotice,
  kWarning,
  kError,
  kCritical,
  kAlert,
  kEmergency,
};
absl::string_view ToString(LoggingLevel level);
// ParseLoggingLevel accepts exactly the lower-case schema names ("debug" … "emergency").
absl::StatusOr<LoggingLevel> ParseLoggingLevel(absl::string_view s);
absl::Status ReadJson(const JsonValue& v, LoggingLevel& out, JsonPath& path);
JsonValue WriteJson(LoggingLevel in, JsonAllocator& alloc);

// The state of a task (2025-11-25). kCompleted, kFailed and kCancelled are terminal.
enum class TaskStatus { kWorking, kInputRequired, kCompleted, kFailed, kCancelled };
absl::string_view ToString(TaskStatus status);
absl::StatusOr<TaskStatus> ParseTaskStatus(absl::string_view s);
absl::Status ReadJson(const JsonValue& v, TaskStatus& out, JsonPath& path);
JsonValue WriteJson(TaskStatus in, JsonAllocator& alloc);
// IsTerminal reports whether no further status change can follow `status`.
bool IsTerminal(TaskStatus status);

// Whether a tool may be called as a task (Tool.execution.taskSupport, 2025-11-25).
enum class TaskSupport { kForbidden, kOptional, kRequired };
absl::string_view ToString(TaskSupport support);
absl::StatusOr<TaskSupport> ParseTaskSupport(absl::string_view s);
absl::Status ReadJson(const JsonValue& v, TaskSupport& out, JsonPath& path);
JsonValue WriteJson(TaskSupport in, JsonAllocator& alloc);

// CreateMessageParams.includeContext. kThisServer and kAllServers are soft-deprecated
// (2025-11-25) and need the client capability sampling.context.
enum class IncludeContext { kNone, kThisServer, kAllServers };
absl::string_view ToString(IncludeContext context);
absl::StatusOr<IncludeContext> ParseIncludeContext(absl::string_view s);
absl::Status ReadJson(const JsonValue& v, IncludeContext& out, JsonPath& path);
JsonValue WriteJson(IncludeContext in, JsonAllocator& alloc);

// ToolChoice.mode (2025-11-25).
enum class ToolChoiceMode { kAuto, kRequired, kNone };
absl::string_view ToString(ToolChoiceMode mode);
absl::StatusOr<ToolChoiceMode> ParseToolChoiceMode(absl::string_view s);
absl::Status ReadJson(const JsonValue& v, ToolChoiceMode& out, JsonPath& path);
JsonValue WriteJson(ToolChoiceMode in, JsonAllocator& alloc);

// ElicitParams.mode: "form" (the only mode before 2025-11-25) or "url" (2025-11-25).
enum class ElicitationMode { kForm, kUrl };
absl::string_view ToString(ElicitationMode mode);
absl::StatusOr<ElicitationMode> ParseElicitationMode(absl::string_view s);
absl::Status ReadJson(const JsonValue& v, ElicitationMode& out, JsonPath& path);
JsonValue WriteJson(ElicitationMode in, JsonAllocator& alloc);

// ElicitResult.action.
enum class ElicitAction { kAccept, kDecline, kCancel };
absl::string_view ToString(ElicitAction action);
absl::StatusOr<ElicitAction> ParseElicitAction(absl::string_view s);
absl::Status ReadJson(const JsonValue& v, ElicitAction& out, JsonPath& path);
JsonValue WriteJson(ElicitAction in, JsonAllocator& alloc);

// --- Descriptive metadata.

// An icon for display (2025-11-25).
struct Icon {
  std::string src;
  std::optional<std::string> mime_type;
  std::optional<std::vector<std::string>> sizes;
  std::optional<std::string> theme;  // "light" | "dark"
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("src", src);
    v("mimeType", mime_type);
    v("sizes", sizes);
    v("theme", theme);
  }
};

// Name and version of an MCP implementation (clientInfo / serverInfo).
struct Implementation {
  std::string name;
  std::string version;
  std::optional<std::string> title;        // >= 2025-06-18
  std::optional<std::string> description;  // 2025-11-25
  std::optional<std::vector<Icon>> icons;  // 2025-11-25
  std::optional<std::string> website_url;  // 2025-11-25
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
    v("version", version);
    v("title", title);
    v("description", description);
    v("icons", icons);
    v("websiteUrl", website_url);
  }
};

// Hints for the client about how to use or show an object.
struct Annotations {
  std::optional<std::vector<Role>> audience;
  std::optional<double> priority;            // 0 (least important) .. 1 (most important)
  std::optional<std::string> last_modified;  // ISO 8601; >= 2025-06-18
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("audience", audience);
    v("priority", priority);
    v("lastModified", last_modified);
  }
};

// --- Capabilities.

struct RootsCapability {
  std::optional<bool> list_changed;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("listChanged", list_changed);
  }
};

struct SamplingCapability {
  std::optional<Json> context;  // 2025-11-25: includeContext other than "none" is supported
  std::optional<Json> tools;    // 2025-11-25: tools and toolChoice are supported
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("context", context);
    v("tools", tools);
  }
};

// >= 2025-06-18. An empty object (as every 2025-06-18 client sends) means form mode only.
struct ElicitationCapability {
  std::optional<Json> form;  // 2025-11-25
  std::optional<Json> url;   // 2025-11-25
  Json extra;

  bool supports_form() const { return form.has_value() || !url.has_value(); }
  bool supports_url() const { return url.has_value(); }

  template <typename V>
  void Bind(V& v) {
    v("form", form);
    v("url", url);
  }
};

// Which of a client's requests may be task-augmented (2025-11-25).
struct ClientTaskRequests {
  struct Sampling {
    std::optional<Json> create_message;
    Json extra;

    template <typename V>
    void Bind(V& v) {
      v("createMessage", create_message);
    }
  };
  struct Elicitation {
    std::optional<Json> create;
    Json extra;

    template <typename V>
    void Bind(V& v) {
      v("create", create);
    }
  };

  std::optional<Sampling> sampling;
  std::optional<Elicitation> elicitation;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("sampling", sampling);
    v("elicitation", elicitation);
  }
};

// 2025-11-25.
struct ClientTasksCapability {
  std::optional<Json> list;
  std::optional<Json> cancel;
  std::optional<ClientTaskRequests> requests;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("list", list);
    v("cancel", cancel);
    v("requests", requests);
  }
};

// What a client supports; a present member means support.
struct ClientCapabilities {
  std::optional<Json> experimental;  // {name: object}
  std::optional<RootsCapability> roots;
  std::optional<SamplingCapability> sampling;
  std::optional<ElicitationCapability> elicitation;  // >= 2025-06-18
  std::optional<ClientTasksCapability> tasks;        // 2025-11-25
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("experimental", experimental);
    v("roots", roots);
    v("sampling", sampling);
    v("elicitation", elicitation);
    v("tasks", tasks);
  }
};

struct PromptsCapability {
  std::optional<bool> list_changed;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("listChanged", list_changed);
  }
};

struct ResourcesCapability {
  std::optional<bool> subscribe;
  std::optional<bool> list_changed;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("subscribe", subscribe);
    v("listChanged", list_changed);
  }
};

struct ToolsCapability {
  std::optional<bool> list_changed;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("listChanged", list_changed);
  }
};

// Which of a server's requests may be task-augmented (2025-11-25).
struct ServerTaskRequests {
  struct Tools {
    std::optional<Json> call;
    Json extra;

    template <typename V>
    void Bind(V& v) {
      v("call", call);
    }
  };

  std::optional<Tools> tools;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("tools", tools);
  }
};

// 2025-11-25.
struct ServerTasksCapability {
  std::optional<Json> list;
  std::optional<Json> cancel;
  std::optional<ServerTaskRequests> requests;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("list", list);
    v("cancel", cancel);
    v("requests", requests);
  }
};

// What a server supports; a present member means support.
struct ServerCapabilities {
  std::optional<Json> experimental;  // {name: object}
  std::optional<Json> logging;
  std::optional<Json> completions;  // >= 2025-03-26
  std::optional<PromptsCapability> prompts;
  std::optional<ResourcesCapability> resources;
  std::optional<ToolsCapability> tools;
  std::optional<ServerTasksCapability> tasks;  // 2025-11-25
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("experimental", experimental);
    v("logging", logging);
    v("completions", completions);
    v("prompts", prompts);
    v("resources", resources);
    v("tools", tools);
    v("tasks", tasks);
  }
};

// --- Lifecycle and generic messages.

// `initialize` params.
struct InitializeParams {
  std::string protocol_version;
  ClientCapabilities capabilities;
  Implementation client_info;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("protocolVersion", protocol_version);
    v("capabilities", capabilities);
    v("clientInfo", client_info);
    v("_meta", meta);
  }
};

// `initialize` result.
struct InitializeResult {
  std::string protocol_version;
  ServerCapabilities capabilities;
  Implementation server_info;
  std::optional<std::string> instructions;  // >= 2025-03-26
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("protocolVersion", protocol_version);
    v("capabilities", capabilities);
    v("serverInfo", server_info);
    v("instructions", instructions);
    v("_meta", meta);
  }
};

// Params of a request or notification that defines none of its own (ping,
// notifications/initialized, notifications/*/list_changed, roots/list).
struct EmptyParams {
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("_meta", meta);
  }
};

// A result that carries no data (ping, resources/subscribe, logging/setLevel …).
struct EmptyResult {
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("_meta", meta);
  }
};

// Params of the paginated list requests (tools/list, prompts/list, resources/list,
// resources/templates/list, tasks/list).
struct PaginatedParams {
  std::optional<std::string> cursor;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("cursor", cursor);
    v("_meta", meta);
  }
};

// `notifications/progress` params.
struct ProgressParams {
  ProgressToken progress_token;
  double progress = 0;
  std::optional<double> total;
  std::optional<std::string> message;  // >= 2025-03-26
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("progressToken", progress_token);
    v("progress", progress);
    v("total", total);
    v("message", message);
    v("_meta", meta);
  }
};

// `notifications/cancelled` params.
struct CancelledParams {
  std::optional<RequestId> request_id;  // required before 2025-11-25 (optional for tasks)
  std::optional<std::string> reason;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("requestId", request_id);
    v("reason", reason);
    v("_meta", meta);
  }
};

// --- Tasks (2025-11-25).

// `task` in the params of a task-augmented request.
struct TaskMetadata {
  std::optional<int64_t> ttl;  // requested retention from creation, milliseconds
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("ttl", ttl);
  }
};

// The value of `_meta["io.modelcontextprotocol/related-task"]`.
struct RelatedTaskMetadata {
  std::string task_id;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("taskId", task_id);
  }
};

inline constexpr absl::string_view kRelatedTaskMetaKey = "io.modelcontextprotocol/related-task";

// A task. Also the result of tasks/get and tasks/cancel and the params of
// notifications/tasks/status, which is where `meta` can appear.
struct Task {
  std::string task_id;
  TaskStatus status = TaskStatus::kWorking;
  std::optional<std::string> status_message;
  std::string created_at;       // ISO 8601
  std::string last_updated_at;  // ISO 8601
  Nullable<int64_t> ttl;        // retention from creation in milliseconds; null = unlimited
  std::optional<int64_t> poll_interval;  // milliseconds
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("taskId", task_id);
    v("status", status);
    v("statusMessage", status_message);
    v("createdAt", created_at);
    v("lastUpdatedAt", last_updated_at);
    v("ttl", ttl);
    v("pollInterval", poll_interval);
    v("_meta", meta);
  }
};

using GetTaskResult = Task;
using CancelTaskResult = Task;
using TaskStatusParams = Task;

// The immediate result of a task-augmented request.
struct CreateTaskResult {
  Task task;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("task", task);
    v("_meta", meta);
  }
};

// Params of tasks/get, tasks/result and tasks/cancel.
struct TaskIdParams {
  std::string task_id;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("taskId", task_id);
    v("_meta", meta);
  }
};

using GetTaskParams = TaskIdParams;
using GetTaskPayloadParams = TaskIdParams;  // tasks/result
using CancelTaskParams = TaskIdParams;
using ListTasksParams = PaginatedParams;

// `tasks/list` result.
struct ListTasksResult {
  std::vector<Task> tasks;
  std::optional<std::string> next_cursor;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("tasks", tasks);
    v("nextCursor", next_cursor);
    v("_meta", meta);
  }
};

// --- Resources.

// A resource the server can read.
struct Resource {
  std::string uri;
  std::string name;
  std::optional<std::string> title;  // >= 2025-06-18
  std::optional<std::string> description;
  std::optional<std::string> mime_type;
  std::optional<Annotations> annotations;
  std::optional<int64_t> size;             // bytes, before base64 encoding
  std::optional<std::vector<Icon>> icons;  // 2025-11-25
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("uri", uri);
    v("name", name);
    v("title", title);
    v("description", description);
    v("mimeType", mime_type);
    v("annotations", annotations);
    v("size", size);
    v("icons", icons);
    v("_meta", meta);
  }
};

// A template for resource URIs (RFC 6570).
struct ResourceTemplate {
  std::string uri_template;
  std::string name;
  std::optional<std::string> title;  // >= 2025-06-18
  std::optional<std::string> description;
  std::optional<std::string> mime_type;
  std::optional<Annotations> annotations;
  std::optional<std::vector<Icon>> icons;  // 2025-11-25
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("uriTemplate", uri_template);
    v("name", name);
    v("title", title);
    v("description", description);
    v("mimeType", mime_type);
    v("annotations", annotations);
    v("icons", icons);
    v("_meta", meta);
  }
};

// The contents of a resource: text or base64 `blob`, exactly one (checked when read).
struct ResourceContents {
  std::string uri;
  std::optional<std::string> mime_type;
  std::optional<std::string> text;
  std::optional<std::string> blob;  // base64
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("uri", uri);
    v("mimeType", mime_type);
    v("text", text);
    v("blob", blob);
    v("_meta", meta);
  }
  // Returns InvalidArgument unless exactly one of text and blob is present.
  absl::Status Validate(JsonPath& path) const;
};

// `resources/list` result.
struct ListResourcesResult {
  std::vector<Resource> resources;
  std::optional<std::string> next_cursor;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("resources", resources);
    v("nextCursor", next_cursor);
    v("_meta", meta);
  }
};

// `resources/templates/list` result.
struct ListResourceTemplatesResult {
  std::vector<ResourceTemplate> resource_templates;
  std::optional<std::string> next_cursor;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("resourceTemplates", resource_templates);
    v("nextCursor", next_cursor);
    v("_meta", meta);
  }
};

// Params naming one resource: resources/read, resources/subscribe, resources/unsubscribe and
// notifications/resources/updated.
struct ResourceUriParams {
  std::string uri;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("uri", uri);
    v("_meta", meta);
  }
};

using ReadResourceParams = ResourceUriParams;
using SubscribeParams = ResourceUriParams;
using UnsubscribeParams = ResourceUriParams;
using ResourceUpdatedParams = ResourceUriParams;

// `resources/read` result.
struct ReadResourceResult {
  std::vector<ResourceContents> contents;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("contents", contents);
    v("_meta", meta);
  }
};

// --- Content blocks.

struct TextContent {
  TypeTag<"text"> type;
  std::string text;
  std::optional<Annotations> annotations;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("text", text);
    v("annotations", annotations);
    v("_meta", meta);
  }
};

struct ImageContent {
  TypeTag<"image"> type;
  std::string data;  // base64
  std::string mime_type;
  std::optional<Annotations> annotations;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("data", data);
    v("mimeType", mime_type);
    v("annotations", annotations);
    v("_meta", meta);
  }
};

// >= 2025-03-26.
struct AudioContent {
  TypeTag<"audio"> type;
  std::string data;  // base64
  std::string mime_type;
  std::optional<Annotations> annotations;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("data", data);
    v("mimeType", mime_type);
    v("annotations", annotations);
    v("_meta", meta);
  }
};

// A link to a resource (a Resource with a type); >= 2025-06-18.
struct ResourceLink {
  TypeTag<"resource_link"> type;
  std::string uri;
  std::string name;
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::string> mime_type;
  std::optional<Annotations> annotations;
  std::optional<int64_t> size;
  std::optional<std::vector<Icon>> icons;  // 2025-11-25
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("uri", uri);
    v("name", name);
    v("title", title);
    v("description", description);
    v("mimeType", mime_type);
    v("annotations", annotations);
    v("size", size);
    v("icons", icons);
    v("_meta", meta);
  }
};

struct EmbeddedResource {
  TypeTag<"resource"> type;
  ResourceContents resource;
  std::optional<Annotations> annotations;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("resource", resource);
    v("annotations", annotations);
    v("_meta", meta);
  }
};

// A model's request to call a tool, in sampling (2025-11-25).
struct ToolUseContent {
  TypeTag<"tool_use"> type;
  std::string id;
  std::string name;
  Json input;  // the arguments, an object
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("id", id);
    v("name", name);
    v("input", input);
    v("_meta", meta);
  }
};

// A content block whose `type` this library does not know, kept whole (type included) so it
// is written back exactly as it was read.
struct UnknownContent {
  Json json;  // the whole block, an object with a string `type`

  // The block's `type`, or "" when json is not such an object.
  absl::string_view type() const;
};

absl::Status ReadJson(const JsonValue& v, UnknownContent& out, JsonPath& path);
JsonValue WriteJson(const UnknownContent& in, JsonAllocator& alloc);

struct ToolResultContent;

// One block of content. Reading picks the alternative by `type`; a type this library does
// not know becomes UnknownContent. Every known type is accepted wherever a block may appear
// (e.g. tool_use in a CallToolResult is read, not refused): checking what a context allows
// is the caller's business.
using ContentBlock =
    std::variant<TextContent, ImageContent, AudioContent, ResourceLink, EmbeddedResource,
                 ToolUseContent, ToolResultContent, UnknownContent>;

absl::Status ReadJson(const JsonValue& v, ContentBlock& out, JsonPath& path);
JsonValue WriteJson(const ContentBlock& in, JsonAllocator& alloc);
// ContentType returns the block's `type` ("text", "image", … or the unknown type's string).
absl::string_view ContentType(const ContentBlock& block);

// The result of a tool use, given back to the model in sampling (2025-11-25).
struct ToolResultContent {
  TypeTag<"tool_result"> type;
  std::string tool_use_id;
  std::vector<ContentBlock> content;
  std::optional<Json> structured_content;
  std::optional<bool> is_error;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("toolUseId", tool_use_id);
    v("content", content);
    v("structuredContent", structured_content);
    v("isError", is_error);
    v("_meta", meta);
  }
};

// --- Tools.

// Hints about a tool's behaviour (untrusted unless the server is); >= 2025-03-26.
struct ToolAnnotations {
  std::optional<std::string> title;
  std::optional<bool> read_only_hint;    // default false
  std::optional<bool> destructive_hint;  // default true
  std::optional<bool> idempotent_hint;   // default false
  std::optional<bool> open_world_hint;   // default true
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("title", title);
    v("readOnlyHint", read_only_hint);
    v("destructiveHint", destructive_hint);
    v("idempotentHint", idempotent_hint);
    v("openWorldHint", open_world_hint);
  }
};

// 2025-11-25.
struct ToolExecution {
  std::optional<TaskSupport> task_support;  // absent = kForbidden
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("taskSupport", task_support);
  }
};

// A tool the server offers. The schemas are kept exactly as received.
struct Tool {
  std::string name;
  std::optional<std::string> title;  // >= 2025-06-18
  std::optional<std::string> description;
  Json input_schema;                           // a JSON Schema object
  std::optional<Json> output_schema;           // >= 2025-06-18; a JSON Schema object
  std::optional<ToolAnnotations> annotations;  // >= 2025-03-26
  std::optional<std::vector<Icon>> icons;      // 2025-11-25
  std::optional<ToolExecution> execution;      // 2025-11-25
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
    v("title", title);
    v("description", description);
    v("inputSchema", input_schema);
    v("outputSchema", output_schema);
    v("annotations", annotations);
    v("icons", icons);
    v("execution", execution);
    v("_meta", meta);
  }
  // Returns InvalidArgument unless inputSchema (and outputSchema when present) is an object.
  absl::Status Validate(JsonPath& path) const;
};

// `tools/list` result.
struct ListToolsResult {
  std::vector<Tool> tools;
  std::optional<std::string> next_cursor;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("tools", tools);
    v("nextCursor", next_cursor);
    v("_meta", meta);
  }
};

// `tools/call` params.
struct CallToolParams {
  std::string name;
  std::optional<Json> arguments;     // an object
  std::optional<TaskMetadata> task;  // 2025-11-25
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
    v("arguments", arguments);
    v("task", task);
    v("_meta", meta);
  }
};

// `tools/call` result.
struct CallToolResult {
  std::vector<ContentBlock> content;
  std::optional<Json> structured_content;  // >= 2025-06-18
  std::optional<bool> is_error;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("content", content);
    v("structuredContent", structured_content);
    v("isError", is_error);
    v("_meta", meta);
  }
};

// --- Prompts.

struct PromptArgument {
  std::string name;
  std::optional<std::string> title;  // >= 2025-06-18
  std::optional<std::string> description;
  std::optional<bool> required;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
    v("title", title);
    v("description", description);
    v("required", required);
  }
};

struct Prompt {
  std::string name;
  std::optional<std::string> title;  // >= 2025-06-18
  std::optional<std::string> description;
  std::optional<std::vector<PromptArgument>> arguments;
  std::optional<std::vector<Icon>> icons;  // 2025-11-25
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
    v("title", title);
    v("description", description);
    v("arguments", arguments);
    v("icons", icons);
    v("_meta", meta);
  }
};

// `prompts/list` result.
struct ListPromptsResult {
  std::vector<Prompt> prompts;
  std::optional<std::string> next_cursor;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("prompts", prompts);
    v("nextCursor", next_cursor);
    v("_meta", meta);
  }
};

// `prompts/get` params.
struct GetPromptParams {
  std::string name;
  std::optional<std::map<std::string, std::string>> arguments;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
    v("arguments", arguments);
    v("_meta", meta);
  }
};

struct PromptMessage {
  Role role = Role::kUser;
  ContentBlock content;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("role", role);
    v("content", content);
  }
};

// `prompts/get` result.
struct GetPromptResult {
  std::optional<std::string> description;
  std::vector<PromptMessage> messages;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("description", description);
    v("messages", messages);
    v("_meta", meta);
  }
};

// --- Completion.

struct PromptReference {
  TypeTag<"ref/prompt"> type;
  std::string name;
  std::optional<std::string> title;  // >= 2025-06-18
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("name", name);
    v("title", title);
  }
};

// A resource (template) URI to complete arguments for.
struct ResourceTemplateReference {
  TypeTag<"ref/resource"> type;
  std::string uri;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("type", type);
    v("uri", uri);
  }
};

// CompleteParams.ref. Reading picks the alternative by `type`; any other type is
// InvalidArgument.
using CompletionReference = std::variant<PromptReference, ResourceTemplateReference>;

absl::Status ReadJson(const JsonValue& v, CompletionReference& out, JsonPath& path);
JsonValue WriteJson(const CompletionReference& in, JsonAllocator& alloc);

struct CompleteArgument {
  std::string name;
  std::string value;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
    v("value", value);
  }
};

// >= 2025-06-18.
struct CompleteContext {
  std::optional<std::map<std::string, std::string>> arguments;  // already resolved arguments
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("arguments", arguments);
  }
};

// `completion/complete` params.
struct CompleteParams {
  CompletionReference ref;
  CompleteArgument argument;
  std::optional<CompleteContext> context;  // >= 2025-06-18
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("ref", ref);
    v("argument", argument);
    v("context", context);
    v("_meta", meta);
  }
};

struct Completion {
  std::vector<std::string> values;  // at most 100
  std::optional<int64_t> total;
  std::optional<bool> has_more;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("values", values);
    v("total", total);
    v("hasMore", has_more);
  }
};

// `completion/complete` result.
struct CompleteResult {
  Completion completion;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("completion", completion);
    v("_meta", meta);
  }
};

// --- Logging.

// `logging/setLevel` params.
struct SetLevelParams {
  LoggingLevel level = LoggingLevel::kInfo;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("level", level);
    v("_meta", meta);
  }
};

// `notifications/message` params.
struct LoggingMessageParams {
  LoggingLevel level = LoggingLevel::kInfo;
  std::optional<std::string> logger;
  Json data;  // any JSON value (required, may be null)
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("level", level);
    v("logger", logger);
    v("data", data);
    v("_meta", meta);
  }
};

// --- Sampling.

// The content of a sampling message: one block, or (2025-11-25) an array of blocks. `blocks`
// always holds the blocks; `is_array` remembers the form read so it is written back the same
// way. A non-array form with other than exactly one block is written as an array.
struct SamplingContent {
  std::vector<ContentBlock> blocks;
  bool is_array = false;
};

absl::Status ReadJson(const JsonValue& v, SamplingContent& out, JsonPath& path);
JsonValue WriteJson(const SamplingContent& in, JsonAllocator& alloc);

struct SamplingMessage {
  Role role = Role::kUser;
  SamplingContent content;
  std::optional<Json> meta;  // 2025-11-25
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("role", role);
    v("content", content);
    v("_meta", meta);
  }
};

struct ModelHint {
  std::optional<std::string> name;  // a substring of a model name
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
  }
};

// The server's advisory model preferences; priorities are 0..1.
struct ModelPreferences {
  std::optional<std::vector<ModelHint>> hints;
  std::optional<double> cost_priority;
  std::optional<double> speed_priority;
  std::optional<double> intelligence_priority;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("hints", hints);
    v("costPriority", cost_priority);
    v("speedPriority", speed_priority);
    v("intelligencePriority", intelligence_priority);
  }
};

// 2025-11-25.
struct ToolChoice {
  std::optional<ToolChoiceMode> mode;  // absent = kAuto
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("mode", mode);
  }
};

// `sampling/createMessage` params.
struct CreateMessageParams {
  std::vector<SamplingMessage> messages;
  std::optional<ModelPreferences> model_preferences;
  std::optional<std::string> system_prompt;
  std::optional<IncludeContext> include_context;
  std::optional<double> temperature;
  int64_t max_tokens = 0;
  std::optional<std::vector<std::string>> stop_sequences;
  std::optional<Json> metadata;            // provider-specific object
  std::optional<std::vector<Tool>> tools;  // 2025-11-25
  std::optional<ToolChoice> tool_choice;   // 2025-11-25
  std::optional<TaskMetadata> task;        // 2025-11-25
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("messages", messages);
    v("modelPreferences", model_preferences);
    v("systemPrompt", system_prompt);
    v("includeContext", include_context);
    v("temperature", temperature);
    v("maxTokens", max_tokens);
    v("stopSequences", stop_sequences);
    v("metadata", metadata);
    v("tools", tools);
    v("toolChoice", tool_choice);
    v("task", task);
    v("_meta", meta);
  }
};

// `sampling/createMessage` result.
struct CreateMessageResult {
  Role role = Role::kAssistant;
  SamplingContent content;
  std::string model;
  // "endTurn" | "stopSequence" | "maxTokens" | "toolUse" (2025-11-25) or any other string.
  std::optional<std::string> stop_reason;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("role", role);
    v("content", content);
    v("model", model);
    v("stopReason", stop_reason);
    v("_meta", meta);
  }
};

// --- Elicitation (>= 2025-06-18).

// `elicitation/create` params, both modes. Form mode (mode absent or "form") needs
// `requestedSchema`; URL mode (2025-11-25) needs `url` and `elicitationId`. Reading checks
// this; members of the other mode are kept if present.
struct ElicitParams {
  std::optional<ElicitationMode> mode;  // 2025-11-25; absent = form
  std::string message;
  std::optional<Json> requested_schema;       // form: a flat object schema of primitives
  std::optional<std::string> url;             // url mode; 2025-11-25
  std::optional<std::string> elicitation_id;  // url mode; 2025-11-25
  std::optional<TaskMetadata> task;           // 2025-11-25
  std::optional<Json> meta;
  Json extra;

  ElicitationMode effective_mode() const { return mode.value_or(ElicitationMode::kForm); }

  template <typename V>
  void Bind(V& v) {
    v("mode", mode);
    v("message", message);
    v("requestedSchema", requested_schema);
    v("url", url);
    v("elicitationId", elicitation_id);
    v("task", task);
    v("_meta", meta);
  }
  // Returns InvalidArgument naming the member the mode needs but lacks (or that has the
  // wrong shape: requestedSchema must be an object).
  absl::Status Validate(JsonPath& path) const;
};

// `elicitation/create` result.
struct ElicitResult {
  ElicitAction action = ElicitAction::kCancel;
  // Accepted form data: {name: string | number | boolean | string[]}.
  std::optional<Json> content;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("action", action);
    v("content", content);
    v("_meta", meta);
  }
};

// `notifications/elicitation/complete` params (2025-11-25).
struct ElicitationCompleteParams {
  std::string elicitation_id;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("elicitationId", elicitation_id);
    v("_meta", meta);
  }
};

// The `data` of a -32042 (URL elicitation required) error (2025-11-25).
struct UrlElicitationRequiredData {
  std::vector<ElicitParams> elicitations;  // each in URL mode
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("elicitations", elicitations);
  }
};

// --- Roots.

struct Root {
  std::string uri;  // file:// for now
  std::optional<std::string> name;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("uri", uri);
    v("name", name);
    v("_meta", meta);
  }
};

// `roots/list` result.
struct ListRootsResult {
  std::vector<Root> roots;
  std::optional<Json> meta;
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("roots", roots);
    v("_meta", meta);
  }
};

}  // namespace mcpgw::mcp
