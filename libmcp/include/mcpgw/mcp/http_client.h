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
// Streamable HTTP: every frame is a POST; the answer is JSON or an SSE stream (progress, logs
// and server→client requests before the result). The session id the server issues at
// initialize is sent on every later request, the negotiated `MCP-Protocol-Version` too. After
// `notifications/initialized` the transport opens the GET stream for server-initiated
// messages (405 means the server has none). A broken SSE stream is resumed with
// `Last-Event-ID` after the server's `retry` delay (or `reconnect_delay`), at most
// `max_reconnects` times in a row. Close sends DELETE for the session.
//
// Session expiry: when the server answers 404 for the session (it restarted or forgot it)
// and `reinitialize_on_expired_session` is set, the transport initializes a new session
// itself by replaying the client's `initialize` request and `notifications/initialized`,
// renews the resource subscriptions (`resources/subscribe`) made and not unsubscribed, and
// sends again the frame that got the 404: the Client above never sees it. Otherwise the
// transport closes with NotFound.
//
// Legacy HTTP+SSE: a GET on the URL opens the event stream; its first `endpoint` event names
// the URL to POST messages to; every message from the server arrives on that stream.
//
// kAuto (the spec's backwards compatibility rule): the first POST (initialize) is tried as
// Streamable HTTP; a 400, 404 or 405 answer makes the transport retry as legacy HTTP+SSE on
// the same URL.
//
// Errors close the transport (OnTransportClosed) with a status naming the URL and what to do:
// Unavailable (cannot connect, connection reset, 5xx), Unauthenticated (401) and
// PermissionDenied (403) saying to check the configured headers, DeadlineExceeded (no
// connection or no answer headers in time), InvalidArgument (a malformed answer).
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

// One thread driving a curl multi handle for many transports. Thread-safe.
class HttpClientLoop {
 public:
  // The process-wide loop, started at first use.
  static HttpClientLoop& Default();
  static absl::StatusOr<std::unique_ptr<HttpClientLoop>> Create();
  // Closes every transport still using it (their sinks get OnTransportClosed) and joins the
  // thread. Must not be called from a sink callback.
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
  // MCP-Protocol-Version, Last-Event-ID) cannot be overridden.
  std::vector<std::pair<std::string, std::string>> headers;
  // Limit on one incoming message (a larger one is reported as an OversizedFrame) and on
  // each outgoing one.
  size_t max_message_bytes = kDefaultMaxMessageBytes;
  // To establish a connection (TCP and TLS).
  absl::Duration connect_timeout = absl::Seconds(10);
  // From sending a request to receiving the answer's status line and headers. (The body of
  // an SSE answer may take as long as the request runs.)
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
// sent before the first frame. InvalidArgument for a URL that is not http(s).
absl::StatusOr<TransportPtr> CreateHttpClientTransport(HttpClientOptions options);

}  // namespace mcpgw::mcp
