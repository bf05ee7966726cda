// File: http_client.h
//
// The client side of MCP over HTTP, on libcurl's multi interface: Streamable HTTP (revisions
// 2025-03-26 to 2025-11-25) and the legacy HTTP+SSE transport (2024-11-05). Each connection is
// a Transport, served like any other by a Client (client.h):
//
//   MCPGW_ASSIGN_OR_RETURN(TransportPtr transport, CreateHttpClientTransport({
//       .url = "https://mcp.example.com/mcp",
//       .headers = {{"X-Api-Key", key}}}));
//   auto client = Client::Create({});
//   client->Connect(std::move(transport), ...);
//
// Threading. Every transport of the process shares one HttpClientLoop (one thread driving a
// curl multi handle) unless given its own: no thread per connection or stream. Sinks are
// called on the loop's thread; Send and Close may be called from any thread.
//
// Streamable HTTP: every frame is a POST; the answer is JSON (one message, or at 2025-03-26 a
// batch, delivered message by message), 202 (nothing to deliver) or an SSE stream (progress,
// logs and server→client requests before the result). The session id the server issues at
// initialize is sent on every later request, the `MCP-Protocol-Version` read from the
// initialize result too. The initialize request and `notifications/initialized` are barriers:
// frames sent meanwhile wait until the first is answered and the second accepted, so the
// server never sees a request before its session. After `notifications/initialized` the
// transport opens the GET stream for server-initiated messages (405 means the server has none).
//
// Resumption: a broken SSE stream (a POST's answer that ends or breaks before every request on
// it is answered, or the GET stream) is continued by a GET with `Last-Event-ID` after the
// server's `retry` delay (or `reconnect_delay`), at most `max_reconnects` times in a row
// (any event received resets the count). When a POST's stream cannot be resumed (its events
// had no ids, the server refuses the Last-Event-ID, or the attempts run out) each request on
// it still unanswered gets a JSON-RPC error response (-32000, naming why) so that no caller
// hangs; the transport stays open, except when the attempts ran out on connection failures
// (the server is gone: the transport closes with Unavailable). A GET stream that cannot be
// reconnected closes the transport (Unavailable).
//
// Session expiry: when the server answers 404 for the session (it restarted or forgot it)
// and `reinitialize_on_expired_session` is set, the transport initializes a new session
// itself by replaying the client's `initialize` request (under a private id; its answer is
// swallowed) and `notifications/initialized`, renews the resource subscriptions
// (`resources/subscribe` sent and not unsubscribed; answers swallowed), and sends again the
// frame that got the 404: the Client above never sees it. Requests whose SSE answer was lost
// with the old session get JSON-RPC errors. Otherwise (or after 3 expiries in a row) the
// transport closes with NotFound.
//
// Legacy HTTP+SSE: a GET on the URL opens the event stream; its first `endpoint` event names
// the URL (relative or absolute, same origin only) to POST messages to, one at a time, in
// order; every message from the server arrives on that stream, which cannot be resumed: when
// it ends the transport closes (Unavailable).
//
// kAuto (the spec's backwards compatibility rule): the first POST (initialize) is tried as
// Streamable HTTP; a 400, 404 or 405 answer makes the transport retry as legacy HTTP+SSE on
// the same URL, delivering that initialize through it.
//
// Errors close the transport (OnTransportClosed) with a status naming the URL and what to do:
// Unavailable (cannot connect, connection reset, 5xx), Unauthenticated (401) and
// PermissionDenied (403) saying to check the configured headers, DeadlineExceeded (no
// connection or no answer headers in time), NotFound (404 for the URL or an expired session),
// InvalidArgument (a malformed answer: an unexpected Content-Type, JSON that does not parse).
// Two exceptions keep the transport open, because the server is alive: a POST carrying
// requests (other than initialize) that gets an HTTP error other than 401/403/404 (e.g. a 500
// for one call) or gets no answer headers within `response_timeout` answers each of its
// requests with a JSON-RPC error response (-32603 for 5xx, -32600 for 4xx, -32001 for the
// timeout) naming the URL and the status.
//
// Close ends the session with a DELETE (best effort, at most 2 s, not waited for by Close)
// and stops every transfer.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mcpgw/mcp/transport.h"

namespace mcpgw::mcp {

// One thread driving a curl multi handle for many transports (curl_multi_poll, woken by
// curl_multi_wakeup when Send or Close hand it work). Thread-safe.
class HttpClientLoop {
 public:
  // The process-wide loop, started at first use.
  static HttpClientLoop& Default();
  static absl::StatusOr<std::unique_ptr<HttpClientLoop>> Create();
  // Closes every transport still using it (their sinks get OnTransportClosed(Unavailable);
  // sessions are ended with DELETE, waited for at most about 2.5 s) and joins the thread.
  // Must not be called from a sink callback. The transports may be destroyed afterwards.
  ~HttpClientLoop();

  struct Impl;
  Impl* impl() const { return impl_.get(); }

 private:
  explicit HttpClientLoop(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

enum class HttpTransportKind {
  kAuto,        // Streamable HTTP, falling back to legacy HTTP+SSE (see above)
  kStreamable,  // Streamable HTTP only
  kSse,         // legacy HTTP+SSE only
};

struct HttpClientOptions {
  // http:// or https://.
  std::string url;
  HttpTransportKind kind = HttpTransportKind::kAuto;
  // Sent with every request (e.g. {"Authorization", "Bearer ..."}, an API key). Names are
  // case-insensitive; the transport's own headers (Accept, Content-Type, Mcp-Session-Id,
  // MCP-Protocol-Version, Last-Event-ID, and Content-Length, Host, Expect,
  // Transfer-Encoding) cannot be overridden: such entries are ignored with a warning.
  std::vector<std::pair<std::string, std::string>> headers;
  // Limit on one incoming message (a larger one is reported as an OversizedFrame, with its
  // head and tail, and dropped) and on each outgoing one (Send returns ResourceExhausted).
  // Droppable frames (SendOptions::droppable) are dropped while more than 4 MiB wait to be
  // sent (TransportStats).
  size_t max_message_bytes = kDefaultMaxMessageBytes;
  // To establish a connection (TCP and TLS).
  absl::Duration connect_timeout = absl::Seconds(10);
  // From connecting (or reusing a connection) to receiving the answer's status line and
  // headers. (The body of an SSE answer may take as long as the request runs.) Note that a
  // server answering with JSON sends its headers only with the result: give this at least
  // the time the slowest call takes (see "Errors" for what happens to the call).
  absl::Duration response_timeout = absl::Seconds(60);
  // Open the GET stream for server-initiated messages (Streamable HTTP).
  bool open_get_stream = true;
  // Resumption of broken SSE streams.
  absl::Duration reconnect_delay = absl::Seconds(1);
  int max_reconnects = 5;
  // See "Session expiry" above.
  bool reinitialize_on_expired_session = true;
  // Null: HttpClientLoop::Default(). Must outlive the transport.
  HttpClientLoop* loop = nullptr;
};

// CreateHttpClientTransport makes a transport to the server at `options.url`. Nothing is
// sent before the first frame. InvalidArgument for a URL that is not http(s) or does not
// parse, or a zero max_message_bytes. The sink is called on the loop's thread only; after
// Close returns no sink method is called (except that a Close made from within a sink call
// lets that call finish).
absl::StatusOr<TransportPtr> CreateHttpClientTransport(HttpClientOptions options);

}  // namespace mcpgw::mcp
