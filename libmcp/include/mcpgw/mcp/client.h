// File: client.h
//
// The typed MCP client API: connect (initialize with version negotiation), then list, call,
// read, get, subscribe, complete and set the log level; list methods follow pagination. The
// client answers the server's sampling, elicitation and roots requests through handlers, and
// routes every notification to handlers. A request the server's capabilities do not allow
// (e.g. resources/subscribe without `resources.subscribe`) fails locally with
// FailedPrecondition and is never sent. All calls are asynchronous: the callback (last
// parameter) is called exactly once, from a session thread, never under a lock.
//
//   auto client = Client::Create(std::move(transport), {.info = {.name = "me", .version = "1"}});
//   client->Connect([client](absl::StatusOr<InitializeResult> init) {
//     client->CallTool("echo", args, {}, [](absl::StatusOr<CallToolResult> r) { ... });
//   });
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mcpgw/mcp/session.h"
#include "mcpgw/mcp/transport.h"
#include "mcpgw/mcp/types.h"

namespace mcpgw::mcp {

template <typename T>
using Callback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

// Handlers for the server's requests; each answers through `reply` exactly once (from any
// thread). They run on the session's executor.
using SamplingHandler = absl::AnyInvocable<void(
    const CreateMessageParams& params, Callback<CreateMessageResult> reply) const>;
using ElicitationHandler =
    absl::AnyInvocable<void(const ElicitParams& params, Callback<ElicitResult> reply) const>;
using RootsHandler = absl::AnyInvocable<void(Callback<ListRootsResult> reply) const>;

struct ClientOptions {
  Implementation info = Implementation{.name = "mcpgw-client", .version = "0.1.0"};
  // The revision offered in initialize (the server may answer with an older one).
  ProtocolVersion protocol_version = kLatestProtocolVersion;
  // Capabilities declared besides those implied by the handlers set before Connect
  // (a sampling handler declares `sampling`, and so on).
  ClientCapabilities capabilities;
  SessionOptions session;
};

struct CallOptions {
  std::optional<absl::Duration> timeout;
  // Progress notifications for this call (whole notification params), when set.
  absl::AnyInvocable<void(const ProgressParams& progress)> on_progress;
  std::optional<Json> meta;  // extra `_meta` members for the request
};

// Thread-safe.
class Client : public std::enable_shared_from_this<Client> {
 public:
  static std::shared_ptr<Client> Create(TransportPtr transport, ClientOptions options = {});
  ~Client();

  // Handlers (set before Connect to have the capability declared).
  void SetSamplingHandler(SamplingHandler handler);
  void SetElicitationHandler(ElicitationHandler handler);
  void SetRootsHandler(RootsHandler handler);
  // Any notification from the server, by method (notifications/message, …/resources/updated,
  // …/tools/list_changed, …). Runs on the reader thread.
  void SetNotificationHandler(absl::string_view method, NotificationHandler handler);
  // Typed conveniences for the common notifications.
  void OnLogMessage(absl::AnyInvocable<void(const LoggingMessageParams&) const> fn);
  void OnResourceUpdated(absl::AnyInvocable<void(const std::string& uri) const> fn);
  void SetClosedCallback(ClosedCallback callback);

  // Connect starts the session, sends initialize, checks the answer's protocol version (a
  // revision this library does not speak fails with FailedPrecondition and closes), sends
  // notifications/initialized, and calls `done` with the server's InitializeResult.
  void Connect(Callback<InitializeResult> done);

  // After Connect: what the server said.
  std::optional<InitializeResult> server() const;
  std::optional<ProtocolVersion> protocol_version() const;

  // Lists, following nextCursor until the end (at most `max_pages`; a repeated cursor is an
  // error).
  void ListTools(Callback<std::vector<Tool>> done);
  void ListPrompts(Callback<std::vector<Prompt>> done);
  void ListResources(Callback<std::vector<Resource>> done);
  void ListResourceTemplates(Callback<std::vector<ResourceTemplate>> done);
  // One page of a list.
  void ListToolsPage(std::optional<std::string> cursor, Callback<ListToolsResult> done);

  // CallTool calls a tool. A tool error is an OK result with is_error; a protocol error is a
  // status carrying the JSON-RPC code (see JsonRpcCodeOf). Returns the request id (to Cancel).
  RequestId CallTool(absl::string_view name, Json arguments, CallOptions options,
                     Callback<CallToolResult> done);
  void GetPrompt(absl::string_view name, std::map<std::string, std::string> arguments,
                 Callback<GetPromptResult> done);
  void ReadResource(absl::string_view uri, Callback<ReadResourceResult> done);
  void Subscribe(absl::string_view uri, Callback<EmptyResult> done);
  void Unsubscribe(absl::string_view uri, Callback<EmptyResult> done);
  void Complete(const CompleteParams& params, Callback<CompleteResult> done);
  void SetLogLevel(LoggingLevel level, Callback<EmptyResult> done);
  void Ping(Callback<EmptyResult> done);

  // Any request, typed by the caller.
  template <typename Result>
  RequestId Request(absl::string_view method, Json params, RequestOptions options,
                    Callback<Result> done);

  // Cancel abandons a request (the server is told; `done` gets Cancelled).
  bool Cancel(const RequestId& id, absl::string_view reason = "");
  void Close();

  Session& session() { return *session_; }

  // Pages followed at most by the List* methods.
  static constexpr int kMaxPages = 1000;

 private:
  Client(std::shared_ptr<Session> session, ClientOptions options);
  // OK when the server declared the capability a request needs (a `Needs` value from
  // client.cc); FailedPrecondition otherwise, or before Connect.
  absl::Status CheckCapability(int needs) const;
  template <typename Item, typename Page>
  void ListAll(absl::string_view method, std::vector<Item> Page::*member, Callback<std::vector<Item>> done);

  std::shared_ptr<Session> session_;
  const ClientOptions options_;
  mutable absl::Mutex mu_;
  bool has_sampling_ ABSL_GUARDED_BY(mu_) = false;
  bool has_elicitation_ ABSL_GUARDED_BY(mu_) = false;
  bool has_roots_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<InitializeResult> server_ ABSL_GUARDED_BY(mu_);
  std::optional<ProtocolVersion> version_ ABSL_GUARDED_BY(mu_);
};

// Turns a response into a typed result: an error response becomes a status carrying its
// JSON-RPC code and data; a result that does not match T becomes InvalidArgument.
template <typename T>
absl::StatusOr<T> ParseResponse(absl::StatusOr<Message> response) {
  if (!response.ok()) {
    return response.status();
  }
  if (response->kind() == MessageKind::kErrorResponse) {
    return ErrorObjectToStatus(response->error());
  }
  const JsonValue* result = response->result();
  if (result == nullptr) {
    return absl::InternalError("the response has no result");
  }
  absl::StatusOr<T> typed = FromJson<T>(*result);
  if (!typed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the server's result does not match the schema: ",
                                                   typed.status().message()));
  }
  return typed;
}

template <typename Result>
RequestId Client::Request(absl::string_view method, Json params, RequestOptions options,
                          Callback<Result> done) {
  return session_->SendRequest(
      method, std::move(params), std::move(options),
      [done = std::move(done)](absl::StatusOr<Message> response) mutable {
        std::move(done)(ParseResponse<Result>(std::move(response)));
      });
}

}  // namespace mcpgw::mcp
