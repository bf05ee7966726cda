// File: session.h
//
// A Session is one end of a JSON-RPC conversation over a Transport: it allocates request ids,
// correlates responses, applies timeouts (with a hard maximum), carries cancellation in both
// directions, routes progress notifications, bounds the requests in flight, and dispatches
// incoming requests and notifications to handlers. It is the layer below the typed MCP Client
// and Server, and what a gateway forwards through.
//
//   auto session = Session::Create(std::move(transport), {.name = "upstream fetch"});
//   session->SetRequestHandler("tools/list", [](IncomingRequest request) {
//     request.Respond(ListTools());
//   });
//   session->Start();
//   session->SendRequest("ping", Json(), {}, [](absl::StatusOr<Message> response) { ... });
//
// Threading. The transport's reader thread decodes frames and handles responses and
// notifications inline. Incoming requests run on the executor, so a slow handler never stops
// the reader, unless their handler was registered as HandlerMode::kInline (for handlers that
// never block, like a gateway's forwarding: no thread hop on the hot path). Timeouts fire on
// the clock's thread. Every method of Session is thread-safe; no callback is invoked while a
// lock is held.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mcpgw/base/clock.h"
#include "mcpgw/base/executor.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/protocol_version.h"
#include "mcpgw/mcp/transport.h"

namespace mcpgw::mcp {

class Session;

struct SessionOptions {
  // Names the peer in logs and errors ("upstream fetch", "client 3").
  std::string name = "session";
  // Runs request handlers (HandlerMode::kExecutor). Default: base::DefaultExecutor().
  base::Executor* executor = nullptr;
  // Time and timers. Default: base::RealClock().
  base::Clock* clock = nullptr;
  // Timeout of an outgoing request unless its RequestOptions say otherwise.
  absl::Duration default_request_timeout = absl::Seconds(60);
  // Hard maximum for any outgoing request, however often progress resets its timeout.
  absl::Duration max_request_timeout = absl::Minutes(10);
  // Outgoing requests awaiting a response; beyond it SendRequest fails with ResourceExhausted.
  size_t max_outgoing_requests = 4096;
  // Incoming requests being handled; beyond it the peer gets error -32003 (server busy).
  size_t max_incoming_requests = 1024;
  size_t max_json_depth = kDefaultMaxJsonDepth;
  // The negotiated protocol revision, when known from the start (otherwise see
  // SetProtocolVersion). Until it is known, batches are refused.
  std::optional<ProtocolVersion> protocol_version;
};

// Where a request handler runs.
enum class HandlerMode {
  kExecutor,  // on the session's executor: may block
  kInline,    // on the reader thread: must never block
};

// Completion of an outgoing request: the response message (a result or an error response
// from the peer, unknown fields intact), or a local failure: DeadlineExceeded (timed out),
// Cancelled (Session::Cancel), Unavailable (connection closed), ResourceExhausted (too many in
// flight), FailedPrecondition (not allowed at the negotiated protocol version). Called exactly
// once, never under a lock, possibly before SendRequest returns.
using ResponseCallback = absl::AnyInvocable<void(absl::StatusOr<Message> response) &&>;

// Progress notification for an outgoing request (the whole notifications/progress message).
using ProgressCallback = absl::AnyInvocable<void(const Message& notification)>;

struct RequestOptions {
  // Default: SessionOptions::default_request_timeout. Capped at max_request_timeout.
  std::optional<absl::Duration> timeout;
  // Each progress notification restarts the timeout (never past the hard maximum).
  bool reset_timeout_on_progress = true;
  // When set, the request carries a progress token (unless params._meta already has one) and
  // progress notifications for it are delivered here, on the reader thread.
  ProgressCallback on_progress;
  // The incoming request this one is made on behalf of (server→client requests during a
  // tool call); transports with several streams route by it.
  std::optional<RequestId> related_request;
};

namespace session_internal {
struct InFlight;
struct Batch;
struct LogLimiter;
}  // namespace session_internal

// IncomingRequest is a request from the peer, handed to a handler, which must answer it
// exactly once with one of the Respond methods, from any thread, at any time. If it is
// destroyed unanswered, the peer gets an internal error. If the peer cancels the request, the
// answer is dropped (the spec forbids responding to a cancelled request). Move-only.
class IncomingRequest {
 public:
  IncomingRequest(IncomingRequest&&) noexcept;
  IncomingRequest& operator=(IncomingRequest&&) noexcept;
  ~IncomingRequest();

  const RequestId& id() const;
  absl::string_view method() const;
  // `params`, or nullptr when absent.
  const JsonValue* params() const;
  // The whole request message (for forwarding; unknown fields intact).
  Message& message();
  // `params._meta.progressToken`, when the peer asked for progress.
  const std::optional<ProgressToken>& progress_token() const;

  // Whether the peer cancelled this request.
  bool cancelled() const;
  // OnCancel registers `fn` to run once if the peer cancels (immediately, on this thread, if
  // it already has). Replaces an earlier registration. Runs on the reader thread otherwise.
  void OnCancel(absl::AnyInvocable<void() &&> fn);

  // SendProgress notifies the peer of progress when it asked for it. Does nothing (returns OK)
  // without a progress token, after the response, or when `progress` does not increase.
  absl::Status SendProgress(double progress, std::optional<double> total = std::nullopt,
                            std::optional<absl::string_view> message = std::nullopt);
  // SendNotification sends a notification related to this request (e.g. a log message).
  absl::Status SendNotification(absl::string_view method, Json params = Json());
  // SendRequest sends a request to the peer on behalf of this one (sampling, elicitation,
  // roots while a tool runs).
  void SendRequest(absl::string_view method, Json params, RequestOptions options,
                   ResponseCallback done);

  // Respond answers with `result` (an object) or with the error a status maps to.
  void Respond(absl::StatusOr<Json> result);
  // RespondError answers with a JSON-RPC error.
  void RespondError(const ErrorObject& error);
  // RespondWith answers with a response received from elsewhere (a gateway's upstream): its
  // id is replaced by this request's id; everything else is sent unchanged.
  void RespondWith(Message response);
  // RespondSerialized answers with a result kept as JSON text (an object), sent as it is
  // without being parsed or copied into a document (a gateway's merged lists). The caller
  // vouches that it is one valid JSON object in compact form (no raw newline: line
  // transports refuse those, and the request would then go unanswered).
  void RespondSerialized(absl::string_view result);

  // The session this request arrived on (null once the session is gone).
  std::shared_ptr<Session> session() const;

 private:
  friend class Session;
  explicit IncomingRequest(std::shared_ptr<session_internal::InFlight> state);
  // Claim marks the request answered and returns its session when the answer may be sent
  // (null: answered already, cancelled, or the session is gone); Release follows the send.
  std::shared_ptr<Session> Claim();
  static void Release(Session& session);

  std::shared_ptr<session_internal::InFlight> state_;
};

// Handles a request. Called once per request; may be called concurrently for different
// requests (kExecutor mode), so it must be thread-safe.
using RequestHandler = absl::AnyInvocable<void(IncomingRequest request) const>;
// Handles a notification, on the reader thread.
using NotificationHandler = absl::AnyInvocable<void(const Message& notification) const>;
// Called once when the session ends: OK when the peer ended its output in an orderly way and
// every request it sent was answered, otherwise the reason (connection lost, closed locally).
using ClosedCallback = absl::AnyInvocable<void(absl::Status reason) &&>;

class Session final : public TransportSink, public std::enable_shared_from_this<Session> {
 public:
  // Create makes a session over `transport`; call Start when the handlers are set.
  static std::shared_ptr<Session> Create(TransportPtr transport, SessionOptions options = {});

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // Closes the session (see Close). May run on any thread, the reader's included.
  ~Session() override;

  // Handlers for a method (replacing an earlier one). `ping` is answered automatically unless
  // a handler is set for it. Requests with no handler and no fallback get -32601.
  void SetRequestHandler(absl::string_view method, RequestHandler handler,
                         HandlerMode mode = HandlerMode::kExecutor);
  // The handler for requests whose method has no handler of its own (a gateway forwards all).
  void SetFallbackRequestHandler(RequestHandler handler, HandlerMode mode = HandlerMode::kExecutor);
  void SetNotificationHandler(absl::string_view method, NotificationHandler handler);
  // Notifications whose method has no handler (otherwise they are ignored).
  void SetFallbackNotificationHandler(NotificationHandler handler);
  void SetClosedCallback(ClosedCallback callback);

  // Start begins reading. Returns the transport's error if it cannot start.
  absl::Status Start();

  // SetProtocolVersion records the negotiated revision, which decides version-dependent
  // behaviour (batches are accepted only at 2025-03-26; no elicitation requests towards a
  // peer below 2025-06-18).
  void SetProtocolVersion(ProtocolVersion version);
  std::optional<ProtocolVersion> protocol_version() const;

  // SendRequest sends a request and calls `done` with its outcome (see ResponseCallback).
  // Returns the id it was sent with (to Cancel it).
  RequestId SendRequest(absl::string_view method, Json params, RequestOptions options,
                        ResponseCallback done);
  RequestId SendRequest(absl::string_view method, Json params, ResponseCallback done) {
    return SendRequest(method, std::move(params), RequestOptions{}, std::move(done));
  }

  // SendNotification sends a notification. Returns Unavailable once closed.
  //
  // notifications/progress and notifications/message are sent droppable (SendOptions): when
  // the peer is slow and the transport's outgoing queue is over its bound, they are dropped
  // (counted in transport_stats().dropped_messages, with a rate-limited warning) and OK is
  // returned. Requests, responses and every other notification are never dropped.
  absl::Status SendNotification(absl::string_view method, Json params = Json(),
                                const SendOptions& options = {});

  // Cancel abandons an outgoing request: the peer is sent notifications/cancelled (except for
  // initialize, which cannot be cancelled), `done` gets Cancelled, and a late response is
  // dropped. Returns false when the request is no longer pending (already answered).
  bool Cancel(const RequestId& id, absl::string_view reason = "");

  // Ping sends a ping; `done` gets the response or the failure.
  void Ping(ResponseCallback done, std::optional<absl::Duration> timeout = std::nullopt);

  // Close ends the session: the transport is closed, pending outgoing requests fail with
  // Unavailable, answers to incoming ones are dropped. Idempotent.
  //
  // When the peer ends its output in an orderly way (end of stream), requests sent to it fail
  // at once, but requests received from it are still answered; the session closes itself (and
  // calls the closed callback) when the last of them is answered.
  void Close();
  bool closed() const;
  // No answer to a request sent now can come: the peer ended its output, or the session is
  // closed. Set before the requests then pending fail.
  bool peer_output_ended() const;

  const std::string& name() const { return options_.name; }
  size_t outgoing_in_flight() const;
  size_t incoming_in_flight() const;
  // The transport's outgoing queue and drops (see SendNotification).
  TransportStats transport_stats() const { return transport_->stats(); }

  // TransportSink (called by the transport).
  void OnFrame(absl::string_view text) override;
  void OnOversizedFrame(const OversizedFrame& frame) override;
  void OnTransportClosed(absl::Status status) override;

 private:
  friend class IncomingRequest;
  struct HandlerEntry;
  struct Pending;
  using Batch = session_internal::Batch;

  Session(TransportPtr transport, SessionOptions options);

  void HandleMessage(Message message, const std::shared_ptr<Batch>& batch);
  void HandleRequest(Message message, const std::shared_ptr<Batch>& batch);
  void HandleNotification(const Message& message);
  void HandleResponse(Message message);
  void HandleCancelled(const Message& message);
  void HandleProgress(const Message& message);
  // Removes a pending outgoing request (its progress token and timer too); null if unknown.
  std::unique_ptr<Pending> TakePending(const RequestId& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailPending(const RequestId& id, absl::Status status);
  void OnTimeout(const RequestId& id);
  // Sends an answer to an incoming request (or adds it to its batch). `droppable` for answers
  // nobody waits for (errors with id null).
  void Answer(const std::shared_ptr<Batch>& batch, const RequestId& id, Message response,
              bool droppable = false);
  // The same with the response already serialized (`has_id`: it carries `id`, not null).
  void AnswerText(const std::shared_ptr<Batch>& batch, const RequestId& id, std::string text,
                  bool droppable = false, bool has_id = true);
  // Handles a frame that did not decode (warns, rate-limited; answers it when JSON-RPC says so).
  void HandleMalformed(absl::string_view text, const DecodeError& error,
                       const std::shared_ptr<Batch>& batch);
  // Sends a batch's answers: as one array, or one by one when the array exceeds the limit.
  void SendBatchAnswer(Batch& batch, std::string array);
  // Fails what is pending with `reason` and calls the closed callback with `callback_status`
  // (default: `reason`; OK when the peer ended the conversation in an orderly way).
  void Shutdown(absl::Status reason, std::optional<absl::Status> callback_status = std::nullopt);
  // Closes a session whose input ended once no incoming request awaits an answer.
  void FinishIfDrained();
  void ScheduleTimeout(const RequestId& id, Pending& pending, absl::Duration delay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SessionOptions options_;
  // Rate limits for warnings a misbehaving peer could otherwise repeat without end.
  const std::unique_ptr<session_internal::LogLimiter> malformed_log_;
  const std::unique_ptr<session_internal::LogLimiter> dropped_log_;
  base::Executor& executor_;
  base::Clock& clock_;
  TransportPtr transport_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool input_ended_ ABSL_GUARDED_BY(mu_) = false;  // the peer ended its output
  int answering_ ABSL_GUARDED_BY(mu_) = 0;         // answers taken from incoming_, being sent
  std::optional<ProtocolVersion> version_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<std::string, std::shared_ptr<const HandlerEntry>> request_handlers_
      ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const HandlerEntry> fallback_request_handler_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<const NotificationHandler>>
      notification_handlers_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const NotificationHandler> fallback_notification_handler_ ABSL_GUARDED_BY(mu_);
  ClosedCallback closed_callback_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<RequestId, std::unique_ptr<Pending>> pending_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ProgressToken, RequestId> progress_tokens_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<RequestId, std::shared_ptr<session_internal::InFlight>> incoming_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace mcpgw::mcp
