// The Streamable HTTP server transport, the legacy HTTP+SSE one and a health check. The only
// translation unit of libmcp that includes Boost.Asio and Boost.Beast (they are slow to
// compile): Beast parses requests; responses and SSE streams are written as plain bytes.
#include "mcpgw/mcp/http_server.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20).
#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/protocol_version.h"
#include "spdlog/spdlog.h"

namespace mcpgw::mcp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxHeaderBytes = 16 * 1024;
// Bytes a client may send ahead while its response is still streaming (pipelining).
constexpr size_t kMaxReadAheadBytes = 64 * 1024;
// Closing after an error answer (413, 400, 431) while the client may still be sending: the
// connection first stops sending and discards what arrives, up to this much and for at most
// kLingerTime, so that the client reads the answer instead of a reset.
constexpr size_t kMaxLingerBytes = size_t{4} << 20;
constexpr std::chrono::seconds kLingerTime{2};
// JSON-RPC code for requests whose session ended before they were answered.
constexpr int kSessionEnded = -32000;

absl::string_view View(beast::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string NewSessionId() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&id, absl::Hex(random(), absl::kZeroPad8));
  }
  return id;
}

// Whether `authorization` is "Bearer <token>", compared in constant time.
bool BearerTokenMatches(absl::string_view authorization, absl::string_view token) {
  if (authorization.size() < 7 || !absl::EqualsIgnoreCase(authorization.substr(0, 7), "bearer ")) {
    return false;
  }
  absl::string_view given = absl::StripLeadingAsciiWhitespace(authorization.substr(7));
  if (given.size() != token.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  }
  return diff == 0;
}

bool IsLoopbackHostName(absl::string_view host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == "::1";
}

// The host name of a `Host` header or of an origin's authority: "[::1]:80" → "[::1]".
std::string HostName(absl::string_view authority) {
  if (absl::StartsWith(authority, "[")) {
    size_t end = authority.find(']');
    return absl::AsciiStrToLower(
        authority.substr(0, end == absl::string_view::npos ? end : end + 1));
  }
  return absl::AsciiStrToLower(authority.substr(0, authority.find(':')));
}

}  // namespace

// Types named by HttpServer::Impl's members: not in an anonymous namespace (-Wsubobject-linkage).
namespace http_server_internal {

struct Connection;
struct SessionState;

// A response in progress on a connection: the answer to a POST carrying requests (JSON, or an
// SSE stream once anything but the last answer is sent on it) or the GET stream. I/O thread.
//
// Once it is an SSE stream it has a number in its session, and its events carry ids
// "<number>-<seq>" and are kept in a bounded replay buffer: when the connection breaks, the
// stream lives on detached (what is sent meanwhile is buffered) and a GET with Last-Event-ID
// resumes it on a new connection.
struct Stream {
  enum class Mode { kUndecided, kSse, kDone };
  Mode mode = Mode::kUndecided;
  bool is_get = false;
  // The event stream of a legacy HTTP+SSE session: every message of the session, no event ids,
  // no replay; the session ends with it.
  bool legacy = false;
  // Send a priming event (id, empty data) when the stream starts (2025-11-25 and later).
  bool priming = false;
  std::weak_ptr<Connection> connection;  // expired or closed: detached
  std::shared_ptr<SessionState> session;
  // Requests of the POST, and those still unanswered.
  std::vector<RequestId> requests;
  absl::flat_hash_set<RequestId> outstanding;
  // SSE state: the stream's number, the seq of the last event, the last events.
  uint64_t number = 0;
  uint64_t last_seq = 0;
  std::deque<std::pair<uint64_t, std::string>> replay;
  size_t replay_bytes = 0;
  // The seq of the event that carried each answer.
  absl::flat_hash_map<RequestId, uint64_t> answered_at;
};

// One MCP session. The I/O-thread part routes messages to streams; the part under `mu` is
// shared with the transport's callers.
struct SessionState {
  std::string id;
  // A legacy HTTP+SSE session (its only stream is `get_stream`).
  bool legacy = false;

  // I/O thread only.
  bool ended = false;
  absl::flat_hash_map<RequestId, std::shared_ptr<Stream>> request_streams;
  std::shared_ptr<Stream> get_stream;
  std::deque<std::string> unrouted;
  // SSE streams that may be resumed, by number: live ones, and the last finished ones.
  uint64_t next_stream_number = 1;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Stream>> streams;
  std::deque<uint64_t> finished;
  // The initialize request, and the revision its answer negotiated (read from that answer).
  std::optional<RequestId> initialize_id;
  std::optional<ProtocolVersion> negotiated;
  std::atomic<uint64_t> dropped{0};  // droppable messages dropped (TransportStats)
  SteadyClock::time_point last_activity = SteadyClock::now();

  absl::Mutex mu;
  TransportSink* sink ABSL_GUARDED_BY(mu) = nullptr;
  bool started ABSL_GUARDED_BY(mu) = false;
  bool closed ABSL_GUARDED_BY(mu) = false;       // Transport::Close was called
  bool sink_closed ABSL_GUARDED_BY(mu) = false;  // OnTransportClosed was delivered
  bool delivering ABSL_GUARDED_BY(mu) = false;   // a sink call is running
  std::deque<std::string> inbox ABSL_GUARDED_BY(mu);
  std::optional<absl::Status> close_status ABSL_GUARDED_BY(mu);
};

}  // namespace http_server_internal

using http_server_internal::Connection;
using http_server_internal::SessionState;
using http_server_internal::Stream;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  explicit Impl(HttpServerOptions opts) : options(std::move(opts)) {}

  HttpServerOptions options;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer sweep_timer{io};
  asio::steady_timer keepalive_timer{io};
  std::thread thread;
  std::atomic<std::thread::id> io_thread_id{};
  uint16_t port = 0;
  std::atomic<size_t> session_count{0};
  std::atomic<bool> stopped{false};
  absl::Mutex stop_mu;  // serializes Stop

  // I/O thread only.
  absl::flat_hash_map<std::string, std::shared_ptr<SessionState>> sessions;
  absl::flat_hash_map<Connection*, std::weak_ptr<Connection>> connections;

  bool OnIoThread() const { return std::this_thread::get_id() == io_thread_id.load(); }

  void Accept();
  void ScheduleSweep();
  void Sweep();
  // Writes a comment on every SSE stream idle for `sse_keepalive`.
  void ScheduleKeepAlive();
  void StopOnIoThread();

  void Handle(const std::shared_ptr<Connection>& conn, http::request<http::string_body>& req);
  void HandlePost(const std::shared_ptr<Connection>& conn, http::request<http::string_body>& req);
  void HandleGet(const std::shared_ptr<Connection>& conn, http::request<http::string_body>& req);
  void HandleDelete(const std::shared_ptr<Connection>& conn, http::request<http::string_body>& req);
  // Legacy HTTP+SSE: the event stream (GET sse_path) and a message (POST message_path).
  void HandleLegacyStream(const std::shared_ptr<Connection>& conn,
                          http::request<http::string_body>& req);
  void HandleLegacyMessage(const std::shared_ptr<Connection>& conn,
                           http::request<http::string_body>& req);
  void HandleHealth(const std::shared_ptr<Connection>& conn, http::request<http::string_body>& req);
  // Sends a legacy session's message on its event stream (dropped when droppable and the
  // connection is behind).
  void RouteLegacy(const std::shared_ptr<SessionState>& session, const std::string& frame,
                   const SendOptions& options);
  // The Streamable session named by the request's Mcp-Session-Id; answers 400/404 (and 400
  // for an MCP-Protocol-Version other than the negotiated one) and returns null.
  std::shared_ptr<SessionState> FindSession(const std::shared_ptr<Connection>& conn,
                                            const http::request<http::string_body>& req);
  bool OriginAllowed(absl::string_view origin) const;
  bool HostAllowed(absl::string_view host) const;

  // Routes a frame the session sends.
  void Route(const std::shared_ptr<SessionState>& session, const std::string& frame,
             const SendOptions& options);
  // Sends one message on a stream (buffered for replay; written when attached). `answers` are
  // the requests it answers; `last` ends the stream.
  void WriteToStream(const std::shared_ptr<Stream>& stream, absl::string_view frame,
                     const std::vector<RequestId>& answers, bool last);
  // The connection a stream is written to now; null while detached.
  static std::shared_ptr<Connection> Attached(const std::shared_ptr<Stream>& stream);
  // Makes `stream` an SSE stream (the header is already written when attached).
  void StartSse(const std::shared_ptr<Stream>& stream);
  // The client cancelled request `id`: no answer will come (the session drops it), so its
  // stream no longer waits for one and ends when nothing else is outstanding.
  void CancelOutstanding(const std::shared_ptr<SessionState>& session, const RequestId& id);
  // A GET with Last-Event-ID.
  void Resume(const std::shared_ptr<Connection>& conn, const std::shared_ptr<SessionState>& session,
              absl::string_view last_event_id);
  // Ends a session: its pending requests get errors, its streams end, its id is forgotten;
  // its sink is told `sink_status` unless null.
  void EndSession(const std::shared_ptr<SessionState>& session,
                  std::optional<absl::Status> sink_status);
  // Delivers what waits for the sink (frames, then the end), in order.
  void Pump(const std::shared_ptr<SessionState>& session);
  void Deliver(const std::shared_ptr<SessionState>& session, std::string frame);
};

using Impl = HttpServer::Impl;

namespace {

std::string Chunk(absl::string_view payload) {
  return absl::StrCat(absl::Hex(payload.size()), "\r\n", payload, "\r\n");
}

// One SSE event carrying `frame`, as one chunk of a chunked body.
std::string EventChunk(uint64_t stream, uint64_t seq, absl::string_view frame) {
  return Chunk(absl::StrCat("id: ", stream, "-", seq, "\nevent: message\ndata: ", frame, "\n\n"));
}

std::string SseHead(absl::string_view session_id, bool keep_alive) {
  return absl::StrCat(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\nMcp-Session-Id: ",
      session_id, "\r\n", keep_alive ? "" : "Connection: close\r\n", "\r\n");
}

constexpr char kLastChunk[] = "0\r\n\r\n";

// Whether the request's MCP-Protocol-Version asks for SSE priming events (2025-11-25 and
// later; older clients may choke on an event with empty data).
bool WantsPriming(const http::request<http::string_body>& req) {
  auto header = req.find("MCP-Protocol-Version");
  if (header == req.end()) {
    return false;
  }
  std::optional<ProtocolVersion> v = ParseProtocolVersion(View(header->value()));
  return v.has_value() && Supports(*v, Feature::kSsePriming);
}

}  // namespace

namespace http_server_internal {

// One client connection. I/O thread only.
struct Connection : std::enable_shared_from_this<Connection> {
  Connection(Impl* server, tcp::socket socket) : impl(server), stream(std::move(socket)) {}

  Impl* impl;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  std::deque<std::string> writes;
  size_t queued_bytes = 0;  // in `writes`
  bool writing = false;
  bool close_after_write = false;
  bool closed = false;
  bool keep_alive = true;
  bool raw_reading = false;
  std::shared_ptr<Stream> active;
  SteadyClock::time_point last_write = SteadyClock::now();

  void ReadRequest() {
    if (closed) {
      return;
    }
    parser.emplace();
    parser->body_limit(impl->options.max_message_bytes);
    parser->header_limit(kMaxHeaderBytes);
    stream.expires_after(
        std::chrono::microseconds(absl::ToInt64Microseconds(impl->options.request_read_timeout)));
    http::async_read(
        stream, buffer, *parser,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (closed) {
      return;
    }
    if (ec == http::error::body_limit) {
      close_after_write = true;
      Respond(413, "Payload Too Large", "",
              absl::StrCat("the body exceeds the limit of ", impl->options.max_message_bytes,
                           " bytes"));
      return;
    }
    if (ec == http::error::header_limit) {
      close_after_write = true;
      Respond(431, "Request Header Fields Too Large", "", "");
      return;
    }
    if (ec) {
      if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout) {
        close_after_write = true;
        Respond(400, "Bad Request", "", "malformed HTTP request");
        return;
      }
      Close();
      return;
    }
    stream.expires_never();
    http::request<http::string_body> req = parser->release();
    keep_alive = req.keep_alive();
    impl->Handle(shared_from_this(), req);
    if (!closed && active == nullptr) {
      if (keep_alive) {
        ReadRequest();
      } else {
        close_after_write = true;
        if (!writing) {
          Close();
        }
      }
    }
  }

  // Reads ahead while a response streams, to notice when the client goes away.
  void WatchForClose() {
    if (closed || raw_reading || buffer.size() >= kMaxReadAheadBytes) {
      return;
    }
    raw_reading = true;
    stream.expires_never();
    stream.async_read_some(buffer.prepare(4096),
                           [self = shared_from_this()](beast::error_code ec, size_t n) {
                             self->raw_reading = false;
                             if (self->closed) {
                               return;
                             }
                             if (ec) {
                               self->Close();
                               return;
                             }
                             self->buffer.commit(n);
                             if (self->active != nullptr) {
                               self->WatchForClose();
                             } else {
                               self->ReadRequest();
                             }
                           });
  }

  // The response in progress is complete.
  void OnStreamDone() {
    active = nullptr;
    if (!keep_alive) {
      close_after_write = true;
      if (!writing) {
        Close();
      }
      return;
    }
    if (!raw_reading) {
      ReadRequest();
    }
  }

  void Write(std::string bytes) {
    if (closed) {
      return;
    }
    queued_bytes += bytes.size();
    last_write = SteadyClock::now();
    writes.push_back(std::move(bytes));
    if (queued_bytes > impl->options.max_connection_queue_bytes) {
      // A client that stopped reading: its stream goes on detached (replay buffer) instead
      // of growing this queue without bound.
      spdlog::warn("HTTP: closing a connection whose client does not read ({} bytes queued)",
                   queued_bytes);
      Close();
      return;
    }
    if (!writing) {
      DoWrite();
    }
  }

  void DoWrite() {
    writing = true;
    asio::async_write(stream, asio::buffer(writes.front()),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->writing = false;
                        if (self->closed) {
                          return;
                        }
                        self->queued_bytes -= self->writes.front().size();
                        self->writes.pop_front();
                        if (ec) {
                          self->Close();
                        } else if (!self->writes.empty()) {
                          self->DoWrite();
                        } else if (self->close_after_write) {
                          self->Linger();
                        }
                      });
  }

  // A complete response with a body (text/plain unless `content_type` says otherwise).
  void Respond(int status, absl::string_view reason, absl::string_view extra_headers,
               absl::string_view body, absl::string_view content_type = "text/plain") {
    std::string head = absl::StrCat("HTTP/1.1 ", status, " ", reason, "\r\n", extra_headers);
    if (!body.empty()) {
      absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
    }
    absl::StrAppend(&head, "Content-Length: ", body.size(), "\r\n");
    if (!keep_alive || close_after_write) {
      absl::StrAppend(&head, "Connection: close\r\n");
    }
    absl::StrAppend(&head, "\r\n", body);
    Write(std::move(head));
  }

  // Shuts down the sending side, then discards input until the client closes (bounded), then
  // closes. A plain close with unread input would make the kernel reset the connection, and
  // the client could lose the answer just written.
  void Linger() {
    if (closed) {
      return;
    }
    if (raw_reading) {
      Close();  // a read-ahead is pending (a stream just ended): close as before
      return;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      Close();
      return;
    }
    stream.expires_after(kLingerTime);
    DiscardInput(0);
  }

  void DiscardInput(size_t discarded) {
    buffer.consume(buffer.size());
    stream.async_read_some(
        buffer.prepare(16 * 1024),
        [self = shared_from_this(), discarded](beast::error_code ec, size_t n) {
          if (self->closed) {
            return;
          }
          if (ec || discarded + n > kMaxLingerBytes) {
            self->Close();
            return;
          }
          self->buffer.commit(n);
          self->DiscardInput(discarded + n);
        });
  }

  void Close() {
    if (closed) {
      return;
    }
    closed = true;
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close();
    impl->connections.erase(this);
    if (active != nullptr) {
      std::shared_ptr<Stream> s = std::move(active);
      if (s->legacy) {
        // A legacy session lives as long as its event stream.
        if (s->mode != Stream::Mode::kDone) {
          s->mode = Stream::Mode::kDone;
          impl->EndSession(s->session, absl::OkStatus());
        }
        return;
      }
      SessionState& session = *s->session;
      session.last_activity = SteadyClock::now();
      if (s->mode != Stream::Mode::kUndecided) {
        return;  // an SSE stream lives on detached, to be resumed (Last-Event-ID)
      }
      // Nothing was sent on it, so it cannot be resumed: its answers have nowhere to go.
      s->mode = Stream::Mode::kDone;
      for (const RequestId& id : s->outstanding) {
        auto it = session.request_streams.find(id);
        if (it != session.request_streams.end() && it->second == s) {
          session.request_streams.erase(it);
        }
      }
    }
  }
};

// The transport handed to on_session for one HTTP session.
class HttpSessionTransport final : public Transport {
 public:
  HttpSessionTransport(std::weak_ptr<Impl> impl, std::shared_ptr<SessionState> state,
                       size_t max_message_bytes)
      : impl_(std::move(impl)), state_(std::move(state)), max_message_bytes_(max_message_bytes) {}

  ~HttpSessionTransport() override { Close(); }

  absl::Status Start(TransportSink* sink) override {
    std::shared_ptr<Impl> impl = impl_.lock();
    {
      absl::MutexLock lock(&state_->mu);
      if (state_->started || state_->closed) {
        return absl::FailedPreconditionError("HTTP session transport started twice or closed");
      }
      if (impl == nullptr || impl->stopped.load()) {
        return absl::UnavailableError("the HTTP server has stopped");
      }
      state_->started = true;
      state_->sink = sink;
    }
    asio::post(impl->io, [weak = impl_, state = state_]() {
      if (std::shared_ptr<Impl> i = weak.lock()) {
        i->Pump(state);
      }
    });
    return absl::OkStatus();
  }

  absl::Status Send(absl::string_view frame, const SendOptions& options) override {
    if (frame.size() > max_message_bytes_) {
      return absl::ResourceExhaustedError(absl::StrCat("message of ", frame.size(),
                                                       " bytes exceeds the limit of ",
                                                       max_message_bytes_, " bytes"));
    }
    if (frame.find('\n') != absl::string_view::npos) {
      return absl::InvalidArgumentError("a message must not contain a raw newline");
    }
    {
      absl::MutexLock lock(&state_->mu);
      if (state_->closed || state_->sink_closed) {
        return absl::UnavailableError("the HTTP session has ended");
      }
    }
    std::shared_ptr<Impl> impl = impl_.lock();
    if (impl == nullptr || impl->stopped.load()) {
      return absl::UnavailableError("the HTTP server has stopped");
    }
    asio::post(impl->io, [weak = impl_, state = state_, text = std::string(frame), options]() {
      if (std::shared_ptr<Impl> i = weak.lock()) {
        i->Route(state, text, options);
      }
    });
    return absl::OkStatus();
  }

  void Close() override {
    std::shared_ptr<Impl> impl = impl_.lock();
    {
      absl::MutexLock lock(&state_->mu);
      if (state_->closed) {
        return;
      }
      state_->closed = true;
      if (impl == nullptr || !impl->OnIoThread()) {
        // No sink call may run after Close returns.
        state_->mu.Await(absl::Condition(
            +[](bool* delivering) { return !*delivering; }, &state_->delivering));
      }
    }
    if (impl != nullptr && !impl->stopped.load()) {
      asio::post(impl->io, [weak = impl_, state = state_]() {
        if (std::shared_ptr<Impl> i = weak.lock()) {
          i->EndSession(state, std::nullopt);
        }
      });
    }
  }

  size_t max_message_bytes() const override { return max_message_bytes_; }

  // Drops are counted; queued bytes are per connection, not per session, and reported as 0.
  TransportStats stats() const override {
    return TransportStats{.dropped_messages = state_->dropped.load(std::memory_order_relaxed)};
  }

 private:
  const std::weak_ptr<Impl> impl_;
  const std::shared_ptr<SessionState> state_;
  const size_t max_message_bytes_;
};

}  // namespace http_server_internal

using http_server_internal::HttpSessionTransport;

// --- Accepting and housekeeping

void Impl::Accept() {
  acceptor.async_accept([self = this](beast::error_code ec, tcp::socket socket) {
    if (self->stopped.load() || !self->acceptor.is_open()) {
      return;
    }
    if (!ec) {
      // Answers are written whole: without this, the tail of a large one could wait for the
      // client's delayed acknowledgement (Nagle's algorithm; up to 40 ms on Linux).
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto conn = std::make_shared<Connection>(self, std::move(socket));
      self->connections[conn.get()] = conn;
      conn->ReadRequest();
    } else {
      spdlog::warn("HTTP server: accept failed: {}", ec.message());
    }
    self->Accept();
  });
}

void Impl::ScheduleSweep() {
  if (options.session_idle_timeout <= absl::ZeroDuration()) {
    return;
  }
  absl::Duration period =
      std::clamp(options.session_idle_timeout / 4, absl::Milliseconds(10), absl::Seconds(5));
  sweep_timer.expires_after(std::chrono::microseconds(absl::ToInt64Microseconds(period)));
  sweep_timer.async_wait([self = this](beast::error_code ec) {
    if (ec || self->stopped.load()) {
      return;
    }
    self->Sweep();
    self->ScheduleSweep();
  });
}

void Impl::ScheduleKeepAlive() {
  if (options.sse_keepalive <= absl::ZeroDuration()) {
    return;
  }
  absl::Duration period = std::max(options.sse_keepalive / 2, absl::Milliseconds(10));
  keepalive_timer.expires_after(std::chrono::microseconds(absl::ToInt64Microseconds(period)));
  keepalive_timer.async_wait([self = this](beast::error_code ec) {
    if (ec || self->stopped.load()) {
      return;
    }
    auto idle =
        std::chrono::microseconds(absl::ToInt64Microseconds(self->options.sse_keepalive));
    SteadyClock::time_point now = SteadyClock::now();
    std::vector<std::shared_ptr<Connection>> idle_streams;
    for (const auto& [ptr, weak] : self->connections) {
      std::shared_ptr<Connection> c = weak.lock();
      if (c != nullptr && !c->closed && c->active != nullptr &&
          c->active->mode == Stream::Mode::kSse && now - c->last_write >= idle) {
        idle_streams.push_back(std::move(c));
      }
    }
    for (const auto& c : idle_streams) {
      c->Write(Chunk(": keep-alive\n\n"));
    }
    self->ScheduleKeepAlive();
  });
}

void Impl::Sweep() {
  auto idle = std::chrono::microseconds(absl::ToInt64Microseconds(options.session_idle_timeout));
  SteadyClock::time_point now = SteadyClock::now();
  std::vector<std::shared_ptr<SessionState>> expired;
  for (const auto& [id, session] : sessions) {
    bool get_open = session->get_stream != nullptr && Attached(session->get_stream) != nullptr;
    if (session->request_streams.empty() && !get_open && now - session->last_activity >= idle) {
      expired.push_back(session);
    }
  }
  for (const auto& session : expired) {
    spdlog::info("HTTP session {} expired after {} idle", session->id,
                 absl::FormatDuration(options.session_idle_timeout));
    EndSession(session, absl::DeadlineExceededError("the HTTP session expired (idle)"));
  }
}

void Impl::StopOnIoThread() {
  stopped.store(true);
  beast::error_code ec;
  acceptor.close(ec);
  sweep_timer.cancel();
  keepalive_timer.cancel();
  std::vector<std::shared_ptr<SessionState>> all;
  for (const auto& [id, session] : sessions) {
    all.push_back(session);
  }
  for (const auto& session : all) {
    EndSession(session, absl::UnavailableError("the HTTP server stopped"));
  }
  std::vector<std::shared_ptr<Connection>> conns;
  for (const auto& [ptr, weak] : connections) {
    if (std::shared_ptr<Connection> c = weak.lock()) {
      conns.push_back(std::move(c));
    }
  }
  for (const auto& c : conns) {
    c->Close();
  }
  io.stop();
}

// --- Requests

bool Impl::HostAllowed(absl::string_view host) const {
  std::string name = HostName(host);
  if (IsLoopbackHostName(name) || absl::EqualsIgnoreCase(name, options.host) ||
      absl::EqualsIgnoreCase(name, absl::StrCat("[", options.host, "]"))) {
    return true;
  }
  for (const std::string& allowed : options.allowed_hosts) {
    if (absl::EqualsIgnoreCase(allowed, name)) {
      return true;
    }
  }
  return false;
}

bool Impl::OriginAllowed(absl::string_view origin) const {
  for (const std::string& allowed : options.allowed_origins) {
    if (absl::EqualsIgnoreCase(allowed, origin)) {
      return true;
    }
  }
  absl::string_view rest = origin;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) {
    return false;
  }
  if (rest.find('/') != absl::string_view::npos) {
    return false;
  }
  return IsLoopbackHostName(HostName(rest));
}

void Impl::Handle(const std::shared_ptr<Connection>& conn, http::request<http::string_body>& req) {
  absl::string_view target = View(req.target());
  target = target.substr(0, target.find('?'));
  enum class Endpoint { kMcp, kSse, kMessage, kHealth };
  Endpoint endpoint;
  if (target == options.path) {
    endpoint = Endpoint::kMcp;
  } else if (!options.sse_path.empty() && target == options.sse_path) {
    endpoint = Endpoint::kSse;
  } else if (!options.sse_path.empty() && target == options.message_path) {
    endpoint = Endpoint::kMessage;
  } else if (!options.health_path.empty() && target == options.health_path) {
    endpoint = Endpoint::kHealth;
  } else {
    conn->Respond(404, "Not Found", "", absl::StrCat("no MCP endpoint here; use ", options.path));
    return;
  }
  auto host = req.find(http::field::host);
  if (host == req.end()) {
    conn->Respond(400, "Bad Request", "", "missing Host header");
    return;
  }
  if (!HostAllowed(View(host->value()))) {
    conn->Respond(403, "Forbidden", "", "Host not allowed");
    return;
  }
  auto origin = req.find(http::field::origin);
  if (origin != req.end() && !OriginAllowed(View(origin->value()))) {
    conn->Respond(403, "Forbidden", "", "Origin not allowed");
    return;
  }
  if (endpoint == Endpoint::kHealth) {
    // No bearer token needed (see HttpServerOptions::health_path).
    HandleHealth(conn, req);
    return;
  }
  if (options.bearer_token.has_value() &&
      !BearerTokenMatches(View(req[http::field::authorization]), *options.bearer_token)) {
    conn->Respond(401, "Unauthorized", "WWW-Authenticate: Bearer\r\n",
                  "missing or wrong bearer token (Authorization: Bearer <token>)");
    return;
  }
  if (endpoint == Endpoint::kSse) {
    if (req.method() != http::verb::get) {
      conn->Respond(405, "Method Not Allowed", "Allow: GET\r\n", "");
      return;
    }
    HandleLegacyStream(conn, req);
    return;
  }
  if (endpoint == Endpoint::kMessage) {
    if (req.method() != http::verb::post) {
      conn->Respond(405, "Method Not Allowed", "Allow: POST\r\n", "");
      return;
    }
    HandleLegacyMessage(conn, req);
    return;
  }
  auto version = req.find("MCP-Protocol-Version");
  if (version != req.end() && !ParseProtocolVersion(View(version->value())).has_value()) {
    conn->Respond(400, "Bad Request", "",
                  absl::StrCat("unsupported MCP-Protocol-Version: ", View(version->value())));
    return;
  }
  switch (req.method()) {
    case http::verb::post:
      HandlePost(conn, req);
      return;
    case http::verb::get:
      HandleGet(conn, req);
      return;
    case http::verb::delete_:
      HandleDelete(conn, req);
      return;
    default:
      conn->Respond(405, "Method Not Allowed", "Allow: GET, POST, DELETE\r\n", "");
      return;
  }
}

void Impl::HandleHealth(const std::shared_ptr<Connection>& conn,
                        http::request<http::string_body>& req) {
  if (req.method() != http::verb::get) {
    conn->Respond(405, "Method Not Allowed", "Allow: GET\r\n", "");
    return;
  }
  std::string body = absl::StrCat(R"({"status":"ok","sessions":)", sessions.size(), "}");
  conn->Respond(200, "OK", "Cache-Control: no-store\r\n", body, "application/json");
}

void Impl::HandleLegacyStream(const std::shared_ptr<Connection>& conn,
                              http::request<http::string_body>& req) {
  std::string accept = absl::AsciiStrToLower(View(req[http::field::accept]));
  if (!accept.empty() && !absl::StrContains(accept, "text/event-stream") &&
      !absl::StrContains(accept, "*/*")) {
    conn->Respond(406, "Not Acceptable", "", "Accept must list text/event-stream");
    return;
  }
  if (sessions.size() >= options.max_sessions) {
    conn->Respond(503, "Service Unavailable", "Retry-After: 5\r\n",
                  absl::StrCat("too many MCP sessions (limit ", options.max_sessions, ")"));
    return;
  }
  auto session = std::make_shared<SessionState>();
  session->id = NewSessionId();
  session->legacy = true;
  sessions[session->id] = session;
  session_count.store(sessions.size());
  auto stream = std::make_shared<Stream>();
  stream->is_get = true;
  stream->legacy = true;
  stream->mode = Stream::Mode::kSse;
  stream->connection = conn;
  stream->session = session;
  session->get_stream = stream;
  conn->active = stream;
  conn->Write(absl::StrCat(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\n",
      conn->keep_alive ? "" : "Connection: close\r\n", "\r\n"));
  conn->Write(Chunk(absl::StrCat("event: endpoint\ndata: ", options.message_path,
                                 "?sessionId=", session->id, "\n\n")));
  conn->WatchForClose();
  options.on_session(
      std::make_unique<HttpSessionTransport>(weak_from_this(), session, options.max_message_bytes));
}

void Impl::HandleLegacyMessage(const std::shared_ptr<Connection>& conn,
                               http::request<http::string_body>& req) {
  absl::string_view target = View(req.target());
  size_t query = target.find('?');
  std::optional<std::string> session_id;
  if (query != absl::string_view::npos) {
    for (absl::string_view param : absl::StrSplit(target.substr(query + 1), '&')) {
      if (absl::ConsumePrefix(&param, "sessionId=")) {
        session_id = std::string(param);
      }
    }
  }
  if (!session_id.has_value() || session_id->empty()) {
    conn->Respond(400, "Bad Request", "",
                  absl::StrCat("missing sessionId: POST to the URL of the endpoint event of the "
                               "session's event stream (GET ",
                               options.sse_path, ")"));
    return;
  }
  auto it = sessions.find(*session_id);
  if (it == sessions.end() || !it->second->legacy) {
    conn->Respond(404, "Not Found", "",
                  absl::StrCat("no such session: ", *session_id,
                               " (it ended when its event stream closed, or never existed)"));
    return;
  }
  std::shared_ptr<SessionState> session = it->second;
  std::string content_type = absl::AsciiStrToLower(View(req[http::field::content_type]));
  if (!absl::StartsWith(content_type, "application/json")) {
    conn->Respond(415, "Unsupported Media Type", "", "Content-Type must be application/json");
    return;
  }
  // Checked here so that the client learns at once; the session would only answer on the
  // event stream, and not at all for a broken response.
  Frame frame = DecodeFrame(req.body(), {.allow_batch = true});
  for (const FrameItem& item : frame.items) {
    if (const auto* error = std::get_if<DecodeError>(&item)) {
      conn->Respond(400, "Bad Request", "", error->ToMessage().Serialize(), "application/json");
      return;
    }
  }
  session->last_activity = SteadyClock::now();
  conn->Respond(202, "Accepted", "", "Accepted");
  Deliver(session, std::move(req.body()));
}

std::shared_ptr<SessionState> Impl::FindSession(const std::shared_ptr<Connection>& conn,
                                                const http::request<http::string_body>& req) {
  auto header = req.find("Mcp-Session-Id");
  if (header == req.end() || header->value().empty()) {
    conn->Respond(400, "Bad Request", "", "missing Mcp-Session-Id header; send initialize first");
    return nullptr;
  }
  auto it = sessions.find(View(header->value()));
  if (it == sessions.end() || it->second->legacy) {
    conn->Respond(404, "Not Found", "",
                  Message::Error(std::nullopt, -32001, "Session not found").Serialize(),
                  "application/json");
    return nullptr;
  }
  // The header must name the revision the session negotiated (absent: accepted, as the spec
  // has the server assume 2025-03-26 when it has no other way to tell; this one has).
  auto version = req.find("MCP-Protocol-Version");
  const std::optional<ProtocolVersion>& negotiated = it->second->negotiated;
  if (version != req.end() && negotiated.has_value() &&
      ParseProtocolVersion(View(version->value())) != *negotiated) {
    conn->Respond(400, "Bad Request", "",
                  absl::StrCat("MCP-Protocol-Version ", View(version->value()),
                               " differs from the protocol version negotiated for this session (",
                               ToString(*negotiated), "): send MCP-Protocol-Version: ",
                               ToString(*negotiated)));
    return nullptr;
  }
  return it->second;
}

void Impl::HandlePost(const std::shared_ptr<Connection>& conn,
                      http::request<http::string_body>& req) {
  std::string accept = absl::AsciiStrToLower(View(req[http::field::accept]));
  if (!absl::StrContains(accept, "application/json") ||
      !absl::StrContains(accept, "text/event-stream")) {
    conn->Respond(406, "Not Acceptable", "",
                  "Accept must list both application/json and text/event-stream");
    return;
  }
  std::string content_type = absl::AsciiStrToLower(View(req[http::field::content_type]));
  if (!absl::StartsWith(content_type, "application/json")) {
    conn->Respond(415, "Unsupported Media Type", "", "Content-Type must be application/json");
    return;
  }
  Frame frame = DecodeFrame(req.body(), {.allow_batch = true});
  std::vector<RequestId> request_ids;
  std::vector<RequestId> cancelled;
  bool initialize = false;
  for (const FrameItem& item : frame.items) {
    if (const auto* error = std::get_if<DecodeError>(&item)) {
      conn->Respond(400, "Bad Request", "", error->ToMessage().Serialize(), "application/json");
      return;
    }
    const Message& m = std::get<Message>(item);
    if (m.is_request()) {
      request_ids.push_back(*m.id());
      initialize = initialize || m.method() == "initialize";
    } else if (m.is_notification() && m.method() == "notifications/cancelled" &&
               m.params() != nullptr && m.params()->IsObject()) {
      auto id = m.params()->FindMember("requestId");
      if (id != m.params()->MemberEnd()) {
        if (absl::StatusOr<RequestId> rid = RequestId::FromJson(id->value); rid.ok()) {
          cancelled.push_back(*std::move(rid));
        }
      }
    }
  }
  std::shared_ptr<SessionState> session;
  bool created = false;
  if (initialize) {
    if (req.find("Mcp-Session-Id") != req.end()) {
      conn->Respond(400, "Bad Request", "",
                    Message::Error(std::nullopt, error_code::kInvalidRequest,
                                   "initialize on an existing session")
                        .Serialize(),
                    "application/json");
      return;
    }
    if (frame.batch) {
      conn->Respond(400, "Bad Request", "",
                    Message::Error(std::nullopt, error_code::kInvalidRequest,
                                   "initialize must not be part of a batch")
                        .Serialize(),
                    "application/json");
      return;
    }
    if (sessions.size() >= options.max_sessions) {
      conn->Respond(503, "Service Unavailable", "Retry-After: 5\r\n",
                    absl::StrCat("too many MCP sessions (limit ", options.max_sessions, ")"));
      return;
    }
    session = std::make_shared<SessionState>();
    session->id = NewSessionId();
    session->initialize_id = request_ids.front();
    sessions[session->id] = session;
    session_count.store(sessions.size());
    created = true;
  } else {
    session = FindSession(conn, req);
    if (session == nullptr) {
      return;
    }
    if (frame.batch && session->negotiated != ProtocolVersion::k2025_03_26) {
      // Answered here: the session would answer with one error without an id, which has no
      // stream to go to.
      conn->Respond(400, "Bad Request", "",
                    Message::Error(std::nullopt, error_code::kInvalidRequest,
                                   "JSON-RPC batches are accepted only at protocol version "
                                   "2025-03-26")
                        .Serialize(),
                    "application/json");
      return;
    }
  }
  session->last_activity = SteadyClock::now();
  if (request_ids.empty()) {
    conn->Respond(202, "Accepted", absl::StrCat("Mcp-Session-Id: ", session->id, "\r\n"), "");
  } else {
    auto stream = std::make_shared<Stream>();
    stream->connection = conn;
    stream->session = session;
    stream->priming = WantsPriming(req);
    stream->requests = request_ids;
    for (const RequestId& id : request_ids) {
      stream->outstanding.insert(id);
      session->request_streams[id] = stream;
    }
    conn->active = stream;
    conn->WatchForClose();
  }
  for (const RequestId& id : cancelled) {
    CancelOutstanding(session, id);
  }
  Deliver(session, std::move(req.body()));
  if (created) {
    options.on_session(std::make_unique<HttpSessionTransport>(weak_from_this(), session,
                                                              options.max_message_bytes));
  }
}

void Impl::HandleGet(const std::shared_ptr<Connection>& conn,
                     http::request<http::string_body>& req) {
  std::string accept = absl::AsciiStrToLower(View(req[http::field::accept]));
  if (!absl::StrContains(accept, "text/event-stream")) {
    conn->Respond(406, "Not Acceptable", "", "Accept must list text/event-stream");
    return;
  }
  std::shared_ptr<SessionState> session = FindSession(conn, req);
  if (session == nullptr) {
    return;
  }
  auto last_event_id = req.find("Last-Event-ID");
  if (last_event_id != req.end()) {
    Resume(conn, session, View(last_event_id->value()));
    return;
  }
  if (session->get_stream != nullptr) {
    if (Attached(session->get_stream) != nullptr) {
      conn->Respond(409, "Conflict", "", "this session already has a GET stream open");
      return;
    }
    // A detached GET stream that the client does not resume is replaced.
    session->streams.erase(session->get_stream->number);
    session->get_stream->mode = Stream::Mode::kDone;
    session->get_stream = nullptr;
  }
  auto stream = std::make_shared<Stream>();
  stream->is_get = true;
  stream->priming = WantsPriming(req);
  stream->connection = conn;
  stream->session = session;
  session->get_stream = stream;
  session->last_activity = SteadyClock::now();
  conn->active = stream;
  conn->Write(SseHead(session->id, conn->keep_alive));
  StartSse(stream);
  while (!session->unrouted.empty()) {
    WriteToStream(stream, session->unrouted.front(), {}, false);
    session->unrouted.pop_front();
  }
  conn->WatchForClose();
}

void Impl::Resume(const std::shared_ptr<Connection>& conn,
                  const std::shared_ptr<SessionState>& session, absl::string_view last_event_id) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(last_event_id, absl::MaxSplits('-', 1));
  uint64_t number = 0;
  uint64_t seq = 0;
  if (!absl::SimpleAtoi(parts.first, &number) || !absl::SimpleAtoi(parts.second, &seq)) {
    conn->Respond(400, "Bad Request", "", absl::StrCat("malformed Last-Event-ID: ", last_event_id));
    return;
  }
  auto it = session->streams.find(number);
  if (it == session->streams.end() || seq > it->second->last_seq) {
    conn->Respond(400, "Bad Request", "",
                  absl::StrCat("unknown Last-Event-ID ", last_event_id,
                               ": no such stream is kept (it ended, or was never sent)"));
    return;
  }
  std::shared_ptr<Stream> stream = it->second;
  if (Attached(stream) != nullptr) {
    conn->Respond(409, "Conflict", "", "this stream is still connected");
    return;
  }
  session->last_activity = SteadyClock::now();
  uint64_t oldest = stream->replay.empty() ? stream->last_seq + 1 : stream->replay.front().first;
  if (seq + 1 < oldest) {
    // Events the client has not seen are gone: the stream cannot be resumed.
    session->streams.erase(number);
    const std::string why =
        absl::StrCat(oldest - seq - 1, " events of SSE stream ", number,
                     " were lost (the replay buffer keeps the last ", options.replay_buffer_events,
                     " events, at most ", options.replay_buffer_bytes, " bytes, of each stream)");
    if (stream->is_get) {
      if (session->get_stream == stream) {
        session->get_stream = nullptr;
      }
      stream->mode = Stream::Mode::kDone;
      conn->Respond(400, "Bad Request", "", absl::StrCat(why, "; open a new GET stream"));
      return;
    }
    // Every request of the stream whose answer the client has not seen gets an error.
    conn->Write(SseHead(session->id, conn->keep_alive));
    for (const RequestId& id : stream->requests) {
      auto answered = stream->answered_at.find(id);
      if (answered != stream->answered_at.end() && answered->second <= seq) {
        continue;
      }
      auto pending = session->request_streams.find(id);
      if (pending != session->request_streams.end() && pending->second == stream) {
        session->request_streams.erase(pending);
      }
      conn->Write(Chunk(absl::StrCat(
          "event: message\ndata: ",
          Message::Error(id, kSessionEnded, absl::StrCat(why, "; the answer cannot be delivered"))
              .Serialize(),
          "\n\n")));
    }
    stream->outstanding.clear();
    stream->mode = Stream::Mode::kDone;
    conn->Write(kLastChunk);
    return;
  }
  conn->Write(SseHead(session->id, conn->keep_alive));
  for (const auto& [event_seq, frame] : stream->replay) {
    if (event_seq > seq) {
      conn->Write(EventChunk(number, event_seq, frame));
    }
  }
  if (stream->mode == Stream::Mode::kDone) {
    conn->Write(kLastChunk);
    return;
  }
  stream->connection = conn;
  conn->active = stream;
  conn->WatchForClose();
}

void Impl::HandleDelete(const std::shared_ptr<Connection>& conn,
                        http::request<http::string_body>& req) {
  std::shared_ptr<SessionState> session = FindSession(conn, req);
  if (session == nullptr) {
    return;
  }
  EndSession(session, absl::OkStatus());
  conn->Respond(200, "OK", "", "");
}

// --- Routing what a session sends

void Impl::Route(const std::shared_ptr<SessionState>& session, const std::string& frame,
                 const SendOptions& send_options) {
  if (session->ended) {
    return;
  }
  if (session->legacy) {
    RouteLegacy(session, frame, send_options);
    return;
  }
  // A response (or a batch of responses) goes to the stream of its request and may finish it.
  // Session marks its single answers, so only other frames (and the answer to initialize,
  // whose version is read) are parsed to find what they answer.
  std::vector<RequestId> answered;
  Frame decoded;
  if (send_options.is_answer && send_options.related_request.has_value() &&
      session->initialize_id != send_options.related_request) {
    answered.push_back(*send_options.related_request);
  } else {
    decoded = DecodeFrame(frame, {.allow_batch = true});
  }
  for (const FrameItem& item : decoded.items) {
    const auto* m = std::get_if<Message>(&item);
    if (m != nullptr && m->is_response() && m->id().has_value()) {
      answered.push_back(*m->id());
      if (session->initialize_id == *m->id() && m->result() != nullptr && m->result()->IsObject()) {
        auto version = m->result()->FindMember("protocolVersion");
        if (version != m->result()->MemberEnd() && version->value.IsString()) {
          session->negotiated = ParseProtocolVersion(
              absl::string_view(version->value.GetString(), version->value.GetStringLength()));
        }
      }
    }
  }
  if (!answered.empty()) {
    auto it = session->request_streams.find(answered.front());
    if (it == session->request_streams.end()) {
      spdlog::debug("HTTP session {}: dropped an answer to {}: its stream is gone", session->id,
                    answered.front().ToString());
      return;
    }
    std::shared_ptr<Stream> stream = it->second;
    for (const RequestId& id : answered) {
      auto found = session->request_streams.find(id);
      if (found != session->request_streams.end() && found->second == stream) {
        session->request_streams.erase(found);
      }
      stream->outstanding.erase(id);
    }
    WriteToStream(stream, frame, answered, stream->outstanding.empty());
    return;
  }
  std::shared_ptr<Stream> target;
  if (send_options.related_request.has_value()) {
    auto it = session->request_streams.find(*send_options.related_request);
    if (it != session->request_streams.end()) {
      target = it->second;
    }
  }
  if (target == nullptr) {
    target = session->get_stream;
  }
  if (send_options.droppable) {
    std::shared_ptr<Connection> conn = target != nullptr ? Attached(target) : nullptr;
    if (target == nullptr || (conn != nullptr && conn->queued_bytes > options.max_queued_bytes)) {
      session->dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  if (target != nullptr) {
    WriteToStream(target, frame, {}, false);
    return;
  }
  session->unrouted.push_back(frame);
  while (session->unrouted.size() > options.max_unrouted_messages) {
    session->unrouted.pop_front();
  }
}

void Impl::RouteLegacy(const std::shared_ptr<SessionState>& session, const std::string& frame,
                       const SendOptions& send_options) {
  std::shared_ptr<Connection> conn =
      session->get_stream != nullptr ? Attached(session->get_stream) : nullptr;
  if (conn == nullptr) {
    return;  // not reached: the session ends with its stream
  }
  if (send_options.droppable && conn->queued_bytes > options.max_queued_bytes) {
    session->dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  conn->Write(Chunk(absl::StrCat("event: message\ndata: ", frame, "\n\n")));
}

void Impl::CancelOutstanding(const std::shared_ptr<SessionState>& session, const RequestId& id) {
  auto it = session->request_streams.find(id);
  if (it == session->request_streams.end()) {
    return;
  }
  std::shared_ptr<Stream> stream = std::move(it->second);
  session->request_streams.erase(it);
  stream->outstanding.erase(id);
  stream->answered_at[id] = stream->last_seq;  // nothing to replay for it
  if (!stream->outstanding.empty() || stream->mode == Stream::Mode::kDone) {
    return;
  }
  std::shared_ptr<Connection> conn = Attached(stream);
  if (stream->mode == Stream::Mode::kUndecided) {
    stream->mode = Stream::Mode::kDone;
    if (conn != nullptr) {
      // Nothing was sent for the request and nothing will be.
      conn->Respond(204, "No Content", absl::StrCat("Mcp-Session-Id: ", session->id, "\r\n"), "");
      conn->OnStreamDone();
    }
    return;
  }
  stream->mode = Stream::Mode::kDone;
  if (conn != nullptr) {
    conn->Write(kLastChunk);
    conn->OnStreamDone();
  }
  session->finished.push_back(stream->number);
  while (session->finished.size() > options.finished_streams_kept) {
    session->streams.erase(session->finished.front());
    session->finished.pop_front();
  }
}

std::shared_ptr<Connection> Impl::Attached(const std::shared_ptr<Stream>& stream) {
  std::shared_ptr<Connection> conn = stream->connection.lock();
  if (conn == nullptr || conn->closed || conn->active != stream) {
    return nullptr;
  }
  return conn;
}

void Impl::StartSse(const std::shared_ptr<Stream>& stream) {
  SessionState& session = *stream->session;
  stream->mode = Stream::Mode::kSse;
  stream->number = session.next_stream_number++;
  session.streams[stream->number] = stream;
  std::shared_ptr<Connection> conn = Attached(stream);
  if (conn != nullptr && stream->priming) {
    // The retry field tells the client how long to wait before reconnecting (resuming with
    // Last-Event-ID) should the stream break.
    std::string retry;
    if (options.sse_retry > absl::ZeroDuration()) {
      retry = absl::StrCat("retry: ", absl::ToInt64Milliseconds(options.sse_retry), "\n");
    }
    conn->Write(Chunk(absl::StrCat("id: ", stream->number, "-0\n", retry, "data:\n\n")));
  }
}

void Impl::WriteToStream(const std::shared_ptr<Stream>& stream, absl::string_view frame,
                         const std::vector<RequestId>& answers, bool last) {
  if (stream->mode == Stream::Mode::kDone) {
    return;
  }
  SessionState& session = *stream->session;
  std::shared_ptr<Connection> conn = Attached(stream);
  if (stream->mode == Stream::Mode::kUndecided) {
    if (conn == nullptr) {
      return;  // not reached: an undecided stream ends with its connection
    }
    if (last) {
      stream->mode = Stream::Mode::kDone;
      conn->Respond(200, "OK", absl::StrCat("Mcp-Session-Id: ", session.id, "\r\n"), frame,
                    "application/json");
      conn->OnStreamDone();
      return;
    }
    conn->Write(SseHead(session.id, conn->keep_alive));
    StartSse(stream);
  }
  uint64_t seq = ++stream->last_seq;
  stream->replay.emplace_back(seq, std::string(frame));
  stream->replay_bytes += frame.size();
  while (!stream->replay.empty() && (stream->replay.size() > options.replay_buffer_events ||
                                     stream->replay_bytes > options.replay_buffer_bytes)) {
    stream->replay_bytes -= stream->replay.front().second.size();
    stream->replay.pop_front();
  }
  for (const RequestId& id : answers) {
    stream->answered_at[id] = seq;
  }
  if (conn != nullptr) {
    conn->Write(EventChunk(stream->number, seq, frame));
  }
  if (last) {
    stream->mode = Stream::Mode::kDone;
    if (conn != nullptr) {
      conn->Write(kLastChunk);
      conn->OnStreamDone();
    }
    // Kept a while for a client that lost the connection before the end and resumes.
    session.finished.push_back(stream->number);
    while (session.finished.size() > options.finished_streams_kept) {
      session.streams.erase(session.finished.front());
      session.finished.pop_front();
    }
  }
}

void Impl::EndSession(const std::shared_ptr<SessionState>& session,
                      std::optional<absl::Status> sink_status) {
  if (!session->ended) {
    session->ended = true;
    sessions.erase(session->id);
    session_count.store(sessions.size());
    // Requests still unanswered get an error, which also ends their streams.
    absl::flat_hash_set<std::shared_ptr<Stream>> streams;
    for (const auto& [id, stream] : session->request_streams) {
      streams.insert(stream);
    }
    session->request_streams.clear();
    for (const std::shared_ptr<Stream>& stream : streams) {
      std::vector<RequestId> ids(stream->outstanding.begin(), stream->outstanding.end());
      stream->outstanding.clear();
      for (size_t i = 0; i < ids.size(); ++i) {
        WriteToStream(stream,
                      Message::Error(ids[i], kSessionEnded, "the MCP session ended").Serialize(),
                      {ids[i]}, i + 1 == ids.size());
      }
    }
    if (std::shared_ptr<Stream> get = std::move(session->get_stream)) {
      std::shared_ptr<Connection> conn = Attached(get);
      get->mode = Stream::Mode::kDone;
      if (conn != nullptr) {
        conn->Write(kLastChunk);
        conn->OnStreamDone();
      }
    }
    session->unrouted.clear();
    session->streams.clear();  // (streams point back at the session)
    session->finished.clear();
  }
  if (sink_status.has_value()) {
    {
      absl::MutexLock lock(&session->mu);
      if (session->close_status.has_value() || session->sink_closed) {
        return;
      }
      session->close_status = *std::move(sink_status);
    }
    Pump(session);
  }
}

void Impl::Deliver(const std::shared_ptr<SessionState>& session, std::string frame) {
  {
    absl::MutexLock lock(&session->mu);
    session->inbox.push_back(std::move(frame));
  }
  Pump(session);
}

void Impl::Pump(const std::shared_ptr<SessionState>& session) {
  while (true) {
    TransportSink* sink = nullptr;
    std::string frame;
    std::optional<absl::Status> end;
    {
      absl::MutexLock lock(&session->mu);
      if (!session->started || session->closed || session->sink_closed || session->delivering) {
        return;
      }
      if (!session->inbox.empty()) {
        frame = std::move(session->inbox.front());
        session->inbox.pop_front();
      } else if (session->close_status.has_value()) {
        end = *session->close_status;
        session->sink_closed = true;
      } else {
        return;
      }
      sink = session->sink;
      session->delivering = true;
    }
    if (end.has_value()) {
      sink->OnTransportClosed(*std::move(end));
    } else {
      sink->OnFrame(frame);
    }
    absl::MutexLock lock(&session->mu);
    session->delivering = false;
    if (end.has_value()) {
      return;
    }
  }
}

// --- HttpServer

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options) {
  if (!options.on_session) {
    return absl::InvalidArgumentError("HttpServerOptions::on_session is required");
  }
  if (!absl::StartsWith(options.path, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("the MCP endpoint path must start with '/': ", options.path));
  }
  std::vector<std::pair<const char*, const std::string*>> paths = {{"path", &options.path}};
  if (!options.sse_path.empty()) {
    paths.emplace_back("sse_path", &options.sse_path);
    paths.emplace_back("message_path", &options.message_path);
  }
  if (!options.health_path.empty()) {
    paths.emplace_back("health_path", &options.health_path);
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!absl::StartsWith(*paths[i].second, "/")) {
      return absl::InvalidArgumentError(absl::StrCat("HttpServerOptions::", paths[i].first,
                                                     " must start with '/': '",
                                                     *paths[i].second, "'"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (*paths[i].second == *paths[j].second) {
        return absl::InvalidArgumentError(
            absl::StrCat("HttpServerOptions::", paths[j].first, " and ", paths[i].first,
                         " are both '", *paths[i].second, "': give each endpoint its own path"));
      }
    }
  }
  beast::error_code ec;
  asio::ip::address address;
  if (options.host == "localhost") {
    address = asio::ip::address_v4::loopback();
  } else {
    address = asio::ip::make_address(options.host, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("not an IP address: ", options.host, " (", ec.message(), ")"));
    }
  }
  if (options.bearer_token.has_value() && options.bearer_token->empty()) {
    return absl::InvalidArgumentError("HttpServerOptions::bearer_token must not be empty");
  }
  if (!address.is_loopback() && !options.bearer_token.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing to serve MCP over HTTP on ", options.host,
                     " without authentication: bind a loopback address or set a bearer token"));
  }
  auto impl = std::make_shared<Impl>(std::move(options));
  tcp::endpoint endpoint(address, impl->options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    impl->acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", impl->options.host, ":",
                                               impl->options.port, ": ", ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint(ec).port();
  impl->Accept();
  impl->ScheduleSweep();
  impl->ScheduleKeepAlive();
  impl->thread = std::thread([raw = impl.get()]() noexcept {
    raw->io_thread_id.store(std::this_thread::get_id());
    beast::error_code run_ec;
    raw->io.run(run_ec);
    if (run_ec) {
      spdlog::error("HTTP server: I/O loop failed: {}", run_ec.message());
    }
  });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

std::string HttpServer::url() const {
  std::string host = impl_->options.host;
  if (absl::StrContains(host, ':')) {
    host = absl::StrCat("[", host, "]");
  }
  return absl::StrCat("http://", host, ":", impl_->port, impl_->options.path);
}

std::string HttpServer::sse_url() const {
  if (impl_->options.sse_path.empty()) {
    return "";
  }
  std::string host = impl_->options.host;
  if (absl::StrContains(host, ':')) {
    host = absl::StrCat("[", host, "]");
  }
  return absl::StrCat("http://", host, ":", impl_->port, impl_->options.sse_path);
}

size_t HttpServer::session_count() const { return impl_->session_count.load(); }

void HttpServer::Stop() {
  if (impl_->OnIoThread()) {
    spdlog::error("HttpServer::Stop called on the server's own I/O thread: ignored");
    return;
  }
  absl::MutexLock lock(&impl_->stop_mu);
  if (!impl_->thread.joinable()) {
    return;
  }
  asio::post(impl_->io, [impl = impl_.get()]() { impl->StopOnIoThread(); });
  impl_->thread.join();
}

}  // namespace mcpgw::mcp
