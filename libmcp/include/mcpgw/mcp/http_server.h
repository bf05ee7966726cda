// File: http_server.h
//
// The server side of MCP's Streamable HTTP transport (revisions 2025-03-26 to 2025-11-25): one
// endpoint (default `/mcp`) taking POST, GET and DELETE. Each MCP session (created by a POST
// carrying `initialize`, named by the `Mcp-Session-Id` header the server issues) is handed to
// `on_session` as a Transport, which the caller serves like any other, typically with
// Server::Serve or a Session.
//
// The same server also speaks the legacy HTTP+SSE transport of revision 2024-11-05 (for older
// clients; `sse_path` empty turns it off): a GET on `sse_path` (default `/sse`) opens a session
// and its event stream, whose first event (`event: endpoint`) names the URL
// `<message_path>?sessionId=<id>` where the client POSTs its messages (answered 202
// "Accepted"); everything the server sends for that session, answers included, goes on that one
// stream, and closing it ends the session. And it answers health checks on `health_path`
// (default `/healthz`): `{"status":"ok","sessions":N}`.
//
// Streamable requests on a session must name its negotiated revision in
// `MCP-Protocol-Version` when they carry the header (another one gets 400 saying which to
// send); without it they are accepted.
//
//   auto server = Server::Create({.info = {.name = "weather", .version = "1.0"}});
//   MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<HttpServer> http, HttpServer::Start({
//       .on_session = [server](TransportPtr transport) {
//         server->Serve(std::move(transport)).IgnoreError();  // logged by Serve's caller
//       }}));
//   // clients talk to http->url(), e.g. "http://127.0.0.1:41235/mcp"
//
// Threading. The server runs one I/O thread (Boost.Asio) for every connection and stream, with
// no thread per connection. Sinks of the session transports are called on that thread; their
// Send and Close may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mcpgw/mcp/transport.h"

namespace mcpgw::mcp {

// Called on the server's I/O thread for each new MCP session, with the transport that carries
// it. Must not block.
// - Streamable HTTP: called for the POST carrying `initialize`; the transport already holds
//   that request, delivered when it is started. If the transport is destroyed without being
//   started, the session ends and the client's initialize gets a JSON-RPC error.
// - Legacy HTTP+SSE: called when the client opens its event stream (GET `sse_path`), before
//   it has sent any message: the transport holds nothing yet, and the client's messages
//   (`initialize` first) are delivered as they are POSTed, once it is started (those POSTed
//   earlier wait). If the transport is destroyed without being started, the session ends and
//   its event stream is closed.
using HttpSessionCallback = absl::AnyInvocable<void(TransportPtr transport)>;

struct HttpServerOptions {
  // Address to bind: a loopback address (127.0.0.1, ::1, localhost), or any address when
  // `bearer_token` is set.
  std::string host = "127.0.0.1";
  // 0 picks a free port (see HttpServer::port()).
  uint16_t port = 0;
  // The MCP endpoint (Streamable HTTP). Paths other than this one, `sse_path`, `message_path`
  // and `health_path` get 404.
  std::string path = "/mcp";
  // Legacy HTTP+SSE (2024-11-05): the event stream a client GETs to open a session, and the
  // URL it POSTs its messages to (the endpoint event names `<message_path>?sessionId=<id>`).
  // Empty `sse_path` turns legacy HTTP+SSE off. Each must differ from the others and start
  // with '/'. Legacy sessions count towards `max_sessions`, need the bearer token and pass the
  // Host/Origin checks like the others; a message POSTed for an unknown or ended session gets
  // 404. A legacy session lives as long as its event stream: it ends (the sink gets
  // OnTransportClosed(OK)) when the client closes the stream or the connection breaks, so
  // `session_idle_timeout` does not apply to it; keep-alive comments (`sse_keepalive`) find
  // a vanished client.
  std::string sse_path = "/sse";
  std::string message_path = "/message";
  // Health check: GET answers 200 `{"status":"ok","sessions":N}` (application/json). It is
  // outside the session machinery and needs no bearer token (load balancers and probes rarely
  // carry one, and it reveals only a count), but Host and Origin are checked as everywhere.
  // Empty: no health endpoint.
  std::string health_path = "/healthz";
  // Required.
  HttpSessionCallback on_session;
  // Limit on one POST body (a larger one gets 413) and on each message the server sends.
  size_t max_message_bytes = kDefaultMaxMessageBytes;
  // Sessions open at once; an initialize beyond it gets 503.
  size_t max_sessions = 1024;
  // A session with no open stream and no request for this long is ended (its id then gets
  // 404). Zero: never.
  absl::Duration session_idle_timeout = absl::Minutes(30);
  // Time allowed to receive one request's header and body; a slower client is disconnected.
  absl::Duration request_read_timeout = absl::Seconds(30);
  // When set, every request must carry `Authorization: Bearer <token>`; others get 401 with
  // `WWW-Authenticate: Bearer`. Required to bind a non-loopback address. Never empty.
  std::optional<std::string> bearer_token;
  // Origins accepted besides those of the loopback hosts (http(s)://localhost, 127.0.0.1 and
  // [::1] on any port), e.g. "https://app.example.com". A request with any other `Origin`
  // gets 403.
  std::vector<std::string> allowed_origins;
  // Host names accepted in the `Host` header besides localhost, 127.0.0.1, [::1] and `host`
  // itself (DNS rebinding protection; e.g. the machine's name when bound to 0.0.0.0). A
  // request naming another host gets 403.
  std::vector<std::string> allowed_hosts;
  // Messages to the client unrelated to any request (and so meant for the GET stream) kept
  // while no GET stream was ever opened; beyond it the oldest is dropped. Droppable ones
  // (progress, logs) are not kept.
  size_t max_unrouted_messages = 256;
  // Resumption. Events of an SSE stream carry ids "<stream>-<seq>"; each stream keeps its
  // last `replay_buffer_events` events, and a stream whose connection breaks lives on
  // detached. A GET with `Last-Event-ID` replays what followed that event and continues the
  // stream. When events after it are no longer kept, a POST's stream answers each request the
  // client has not seen answered with JSON-RPC error -32000 (the real answer is discarded)
  // and ends; a GET stream gets 400. The last `finished_streams_kept` finished streams of a
  // session stay resumable.
  // The buffer also holds at most `replay_buffer_bytes` of messages (older events go first).
  size_t replay_buffer_events = 64;
  size_t replay_buffer_bytes = size_t{4} << 20;
  size_t finished_streams_kept = 8;
  // Slow clients. A droppable message (SendOptions::droppable: progress, logs) is dropped
  // while its connection has more than `max_queued_bytes` unwritten (counted in
  // TransportStats::dropped_messages), and also when no stream can take it. A connection with
  // more than `max_connection_queue_bytes` unwritten is closed; its stream lives on detached
  // and can be resumed.
  size_t max_queued_bytes = size_t{4} << 20;
  size_t max_connection_queue_bytes = size_t{64} << 20;
  // SSE `retry` field (reconnection delay the client should wait) sent in the priming event
  // that opens a stream of a 2025-11-25 (or later) request; never to older clients, which
  // get no priming event at all. Zero: no retry field. Whole milliseconds.
  absl::Duration sse_retry = absl::Seconds(1);
  // An SSE stream (Streamable or legacy) on which nothing was written for this long gets a
  // comment line (`: keep-alive`), which keeps proxies from closing it and lets a vanished
  // client be noticed. Zero: none.
  absl::Duration sse_keepalive = absl::Seconds(15);
};

// HttpServer accepts connections until Stop. Thread-safe.
class HttpServer {
 public:
  // Start binds and begins serving. Returns InvalidArgument for a non-loopback host without
  // a bearer token, an empty token, a path not starting with '/' (or two paths the same), an
  // empty `message_path` with legacy on, or a missing on_session; Unavailable when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options);

  // Stops the server (see Stop).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port.
  uint16_t port() const;
  // "http://<host>:<port><path>".
  std::string url() const;
  // "http://<host>:<port><sse_path>"; empty when legacy HTTP+SSE is off.
  std::string sse_url() const;
  // Sessions currently open (Streamable and legacy).
  size_t session_count() const;

  // Stop closes the listener and every connection, and ends every session: each transport's
  // sink gets OnTransportClosed(Unavailable). Idempotent. Must not be called from a sink
  // callback (it joins the I/O thread).
  void Stop();

  struct Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace mcpgw::mcp
