// File: server.h
//
// The typed MCP server API: register tools, resources, resource templates, prompts and a
// completion handler, then serve clients over any transport. Capabilities follow what is
// registered; lists are paginated; registrations made while clients are connected reach them
// as `notifications/*/list_changed`. Handlers may report progress, log, and ask the client for
// sampling, elicitation or roots while they run.
//
//   auto server = Server::Create({.info = {.name = "weather", .version = "1.0"}});
//   server->AddSyncTool(weather_tool, [](const Json& args, RequestContext& ctx)
//                                         -> absl::StatusOr<CallToolResult> {
//     return TextResult("sunny");
//   });
//   MCPGW_ASSIGN_OR_RETURN(auto transport, CreateStdioTransport({}));
//   MCPGW_ASSIGN_OR_RETURN(auto session, server->Serve(std::move(transport)));
//
// Errors. A tool that fails with a plain status produces a *tool error*: a result with
// `isError: true` and the status message as text, which the model can read and act on; so
// does input that does not match the tool's schema (when the tool asks for validation). A
// status made with JsonRpcErrorStatus() (json_rpc.h) produces a *protocol error*: a JSON-RPC
// error with that code. Unknown tools, prompts and resources, missing prompt arguments and
// malformed params are protocol errors (-32602; -32002 for an unknown resource).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mcpgw/mcp/session.h"
#include "mcpgw/mcp/transport.h"
#include "mcpgw/mcp/types.h"

namespace mcpgw::mcp {

class Server;
class ServerSession;

// The answer to a handler's request: called exactly once, from any thread.
template <typename T>
using Reply = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

namespace server_internal {
struct CallState;
}

// RequestContext is what a handler can do while its request runs. Cheap to copy; valid for
// as long as any copy lives (after the session closes, its operations fail with Unavailable).
class RequestContext {
 public:
  const RequestId& request_id() const;
  // The revision negotiated with this client.
  ProtocolVersion protocol_version() const;
  const ClientCapabilities& client_capabilities() const;

  // Whether the client cancelled the request (its answer will then be dropped).
  bool cancelled() const;
  // OnCancel runs `fn` once if the client cancels (at once if it already has).
  void OnCancel(absl::AnyInvocable<void() &&> fn);

  // ReportProgress sends notifications/progress when the client asked for progress; `progress`
  // must increase (others are dropped). OK without a progress token.
  absl::Status ReportProgress(double progress, std::optional<double> total = std::nullopt,
                              std::optional<absl::string_view> message = std::nullopt);
  // Log sends notifications/message when `level` is at or above the level the client set with
  // logging/setLevel (everything until it sets one).
  absl::Status Log(LoggingLevel level, Json data, absl::string_view logger = "");

  // Requests to the client on behalf of this request. Each fails with FailedPrecondition when
  // the client did not declare the capability (or, for elicitation, negotiated a revision
  // before 2025-06-18; for URL mode, did not declare `elicitation.url`), without sending.
  void CreateMessage(const CreateMessageParams& params, Reply<CreateMessageResult> done,
                     std::optional<absl::Duration> timeout = std::nullopt);
  void Elicit(const ElicitParams& params, Reply<ElicitResult> done,
              std::optional<absl::Duration> timeout = std::nullopt);
  void ListRoots(Reply<ListRootsResult> done);

  // The server session this request arrived on (null once it is gone).
  std::shared_ptr<ServerSession> server_session() const;

 private:
  friend class ServerSession;
  explicit RequestContext(std::shared_ptr<server_internal::CallState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<server_internal::CallState> state_;
};

// Handlers. Each is called once per request, possibly concurrently for different requests,
// on the session's executor (so it may block); it answers through `reply`, now or later.
using ToolHandler =
    absl::AnyInvocable<void(const Json& arguments, RequestContext context,
                            Reply<CallToolResult> reply) const>;
// A tool handler that answers by returning (runs on the executor; may block).
using SyncToolHandler = absl::AnyInvocable<absl::StatusOr<CallToolResult>(
    const Json& arguments, RequestContext& context) const>;
// Reads a resource. `variables` holds what a template's `{name}` parts matched.
using ResourceHandler = absl::AnyInvocable<void(
    const std::string& uri, const std::map<std::string, std::string>& variables,
    RequestContext context, Reply<ReadResourceResult> reply) const>;
using PromptHandler =
    absl::AnyInvocable<void(const std::map<std::string, std::string>& arguments,
                            RequestContext context, Reply<GetPromptResult> reply) const>;
using CompletionHandler = absl::AnyInvocable<void(const CompleteParams& params,
                                                  RequestContext context,
                                                  Reply<CompleteResult> reply) const>;

struct ToolOptions {
  // Check `arguments` against the tool's inputSchema before calling the handler; a mismatch
  // is a tool error naming each problem.
  bool validate_input = true;
};

struct ServerOptions {
  Implementation info = Implementation{.name = "mcpgw-server", .version = "0.1.0"};
  std::optional<std::string> instructions;
  // Items per page of tools/prompts/resources/templates lists; 0 = everything in one page.
  size_t page_size = 0;
  // Declare these capabilities even when nothing is registered yet (a server that registers
  // later and announces it with list_changed).
  bool declare_tools = false;
  bool declare_prompts = false;
  bool declare_resources = false;
  // Options for each client's Session (name is suffixed with a session number).
  SessionOptions session;
};

// A text content block, and a result holding just that text.
TextContent Text(std::string text);
CallToolResult TextResult(std::string text);
// A tool error: isError with `message` as text.
CallToolResult ToolError(std::string message);

// Server holds the registrations and serves any number of clients (one ServerSession each).
// Thread-safe.
class Server : public std::enable_shared_from_this<Server> {
 public:
  static std::shared_ptr<Server> Create(ServerOptions options = {});
  // Closes every session still connected.
  ~Server();

  // AddTool registers (or replaces) a tool. Returns InvalidArgument for a name outside
  // [A-Za-z0-9_.-]{1,128} or an inputSchema that does not compile (when validating input).
  absl::Status AddTool(Tool tool, ToolHandler handler, ToolOptions options = {});
  absl::Status AddSyncTool(Tool tool, SyncToolHandler handler, ToolOptions options = {});
  bool RemoveTool(absl::string_view name);

  // AddResource registers (or replaces) a resource by URI.
  absl::Status AddResource(Resource resource, ResourceHandler handler);
  // AddResourceTemplate registers an RFC 6570 template; `{name}` matches a non-empty run of
  // characters without '/', `{+name}` any non-empty run. Returns InvalidArgument for an
  // unbalanced template.
  absl::Status AddResourceTemplate(ResourceTemplate resource_template, ResourceHandler handler);
  bool RemoveResource(absl::string_view uri);

  absl::Status AddPrompt(Prompt prompt, PromptHandler handler);
  bool RemovePrompt(absl::string_view name);

  void SetCompletionHandler(CompletionHandler handler);

  // NotifyResourceUpdated tells every client subscribed to `uri` that it changed.
  void NotifyResourceUpdated(absl::string_view uri);
  // Log sends a log message to every connected client (each filtered by its level).
  void Log(LoggingLevel level, Json data, absl::string_view logger = "");

  // Serve starts serving one client over `transport`. The server keeps the session until the
  // client disconnects or it is closed; the returned handle may be dropped.
  // `on_closed` is called once when the client is gone (set before the session starts, so an
  // early disconnect is never missed).
  absl::StatusOr<std::shared_ptr<ServerSession>> Serve(TransportPtr transport,
                                                       ClosedCallback on_closed = nullptr);

  // Sessions currently connected.
  std::vector<std::shared_ptr<ServerSession>> sessions() const;

  // The capabilities a client is told about now.
  ServerCapabilities capabilities() const;
  const ServerOptions& options() const { return options_; }

 private:
  friend class ServerSession;
  struct ToolEntry;
  struct ResourceEntry;
  struct TemplateEntry;
  struct PromptEntry;

  explicit Server(ServerOptions options);
  void Broadcast(absl::string_view method);
  void Forget(const ServerSession* session);

  const ServerOptions options_;
  mutable absl::Mutex mu_;
  // Registration order is list order.
  std::vector<std::shared_ptr<const ToolEntry>> tools_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<const ResourceEntry>> resources_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<const TemplateEntry>> templates_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<const PromptEntry>> prompts_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> tool_index_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const CompletionHandler> completion_ ABSL_GUARDED_BY(mu_);
  // Connected clients, held until they disconnect or are closed.
  std::vector<std::shared_ptr<ServerSession>> sessions_ ABSL_GUARDED_BY(mu_);
  int next_session_ ABSL_GUARDED_BY(mu_) = 1;
};

// ServerSession is one connected client. Thread-safe.
class ServerSession : public std::enable_shared_from_this<ServerSession> {
 public:
  ~ServerSession();

  // Whether initialize has been answered, and what was negotiated.
  bool initialized() const;
  std::optional<ProtocolVersion> protocol_version() const;
  ClientCapabilities client_capabilities() const;
  Implementation client_info() const;
  // The URIs this client subscribed to.
  std::vector<std::string> subscriptions() const;

  // SendLog sends a log message if `level` passes this client's level.
  absl::Status SendLog(LoggingLevel level, Json data, absl::string_view logger = "");

  // Called once when the client is gone.
  void SetClosedCallback(ClosedCallback callback);
  void Close();

  Session& session() { return *session_; }

 private:
  friend class Server;
  friend class RequestContext;
  struct ClientState;

  ServerSession(std::shared_ptr<Server> server, std::shared_ptr<Session> session);
  void Install();
  void Initialize(IncomingRequest request);
  // Answers a list request with a page of the server's `entries`, listed as `member`.
  template <typename Entry>
  void ServeList(IncomingRequest request,
                 std::vector<std::shared_ptr<const Entry>> Server::*entries,
                 absl::string_view member);
  void ListTools(IncomingRequest request);
  void CallTool(IncomingRequest request);
  void ListResources(IncomingRequest request);
  void ListResourceTemplates(IncomingRequest request);
  void ReadResource(IncomingRequest request);
  void Subscribe(IncomingRequest request, bool subscribe);
  void ListPrompts(IncomingRequest request);
  void GetPrompt(IncomingRequest request);
  void Complete(IncomingRequest request);
  void SetLevel(IncomingRequest request);
  bool RequireInitialized(IncomingRequest& request);
  // The negotiated revision (the latest before initialize).
  ProtocolVersion version() const;
  bool ShouldLog(LoggingLevel level) const;
  bool Declared(absl::string_view list_changed_method) const;

  std::weak_ptr<Server> server_;
  std::shared_ptr<Session> session_;

  mutable absl::Mutex mu_;
  bool initialized_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<ProtocolVersion> version_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const ClientCapabilities> client_capabilities_ ABSL_GUARDED_BY(mu_);
  Implementation client_info_ ABSL_GUARDED_BY(mu_);
  ServerCapabilities declared_ ABSL_GUARDED_BY(mu_);
  std::optional<LoggingLevel> log_level_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> subscriptions_ ABSL_GUARDED_BY(mu_);
  ClosedCallback closed_callback_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mcpgw::mcp
