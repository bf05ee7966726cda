// The HTTP client transports (Streamable HTTP and legacy HTTP+SSE) on libcurl's multi
// interface. One thread per HttpClientLoop runs every transfer of every transport; Send and
// Close hand work to it through a queue and curl_multi_wakeup.
//
// A transport is a Core (shared with the loop) behind a thin Transport object. Everything in a
// Core is confined to the loop thread except what its mutex guards (the sink hand-off, the
// outbox filled by Send, the closed flag).
//
// State machine of a Core (loop thread):
//
//   kIdle --first frame--> kStreamable          (kind kAuto or kStreamable)
//   kIdle --first frame--> kLegacyConnecting    (kind kSse)
//   kStreamable --initialize answered 400/404/405, kAuto, no session yet--> kLegacyConnecting
//   kLegacyConnecting --`endpoint` event--> kLegacy
//   any --fatal error (OnTransportClosed) or Close--> kClosed
//
// Within kStreamable, frames wait in `waiting_` while a *barrier* is in flight: the
// initialize request (until it is answered) and notifications/initialized (until its POST
// is accepted), so a server never sees a request before the session exists. A 404 for the
// current session re-initializes by pushing a private initialize, initialized and the live
// subscriptions in front of the queue (see SessionExpired). Legacy POSTs go one at a time,
// in order.
#include "mcpgw/mcp/http_client.h"


#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "curl_api.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/protocol_version.h"
#include "spdlog/spdlog.h"

namespace mcpgw::mcp {

using http_client_internal::Curl;

namespace {

// Bytes of an oversized message kept from its start and its end (OversizedFrame).
constexpr size_t kKeptBytes = 512;
// Bytes of an error answer's body quoted in a status message.
constexpr size_t kQuotedBodyBytes = 300;
// Time allowed for the DELETE that ends a session on Close.
constexpr absl::Duration kDeleteTimeout = absl::Seconds(2);
// Droppable frames are dropped while more than this is waiting to be sent.
constexpr size_t kMaxQueuedBytesForDroppable = size_t{4} << 20;
// Re-initializations in a row (without a successful answer in between) before giving up.
constexpr int kMaxReinitializations = 3;
// Prefix of the ids of requests the transport makes itself (re-initialization).
constexpr char kPrivateIdPrefix[] = "mcpgw-http-";

void KeepTail(std::string& tail, absl::string_view piece) {
  if (piece.size() >= kKeptBytes) {
    tail.assign(piece.data() + piece.size() - kKeptBytes, kKeptBytes);
    return;
  }
  tail.append(piece.data(), piece.size());
  if (tail.size() > kKeptBytes) {
    tail.erase(0, tail.size() - kKeptBytes);
  }
}

// A bounded accumulator for one message: keeps it whole up to `limit`, then only its head and
// tail and its size.
class BoundedText {
 public:
  explicit BoundedText(size_t limit) : limit_(limit) {}
  void Append(absl::string_view bytes) {
    size_ += bytes.size();
    if (!oversized_ && text_.size() + bytes.size() <= limit_) {
      text_.append(bytes.data(), bytes.size());
      return;
    }
    if (!oversized_) {
      oversized_ = true;
      head_ = text_.substr(0, kKeptBytes);
      if (head_.size() < kKeptBytes) {
        absl::string_view more = bytes.substr(0, kKeptBytes - head_.size());
        head_.append(more.data(), more.size());
      }
      KeepTail(tail_, text_);
      text_ = std::string();
    }
    KeepTail(tail_, bytes);
  }
  bool oversized() const { return oversized_; }
  bool empty() const { return size_ == 0; }
  std::string& text() { return text_; }
  const std::string& text() const { return text_; }
  OversizedFrame ToOversized() const { return OversizedFrame{size_, limit_, head_, tail_}; }
  void Clear() { *this = BoundedText(limit_); }

 private:
  size_t limit_;
  size_t size_ = 0;
  bool oversized_ = false;
  std::string text_;
  std::string head_;
  std::string tail_;
};

// The text/event-stream format (WHATWG HTML, "server-sent events"): lines ending in CRLF, LF
// or CR; `field: value`; comments start with ':'; an empty line dispatches the event. `data`
// lines join with '\n'; `id` sets the last event id (kept across connections, also by events
// without data, such as 2025-11-25 priming events); `retry` sets the reconnection delay. An
// event whose data is empty is not dispatched.
class SseParser {
 public:
  struct Event {
    std::string type;  // "message" unless named
    BoundedText data;
  };

  explicit SseParser(size_t max_data) : max_data_(max_data), event_{"", BoundedText(max_data)} {}

  // Feed parses bytes, calling on_event(Event&) for each dispatched event. Stops early when
  // on_event returns false.
  template <typename F>
  void Feed(absl::string_view bytes, F&& on_event) {
    while (!bytes.empty()) {
      if (after_cr_) {
        after_cr_ = false;
        if (bytes.front() == '\n') {
          bytes.remove_prefix(1);
          continue;
        }
      }
      size_t end = bytes.find_first_of("\r\n");
      if (end == absl::string_view::npos) {
        AppendToLine(bytes);
        return;
      }
      AppendToLine(bytes.substr(0, end));
      after_cr_ = bytes[end] == '\r';
      bytes.remove_prefix(end + 1);
      if (!EndLine(on_event)) {
        return;
      }
    }
  }

  // A new connection continues the stream: a partial line or event of the old one is dropped.
  void NewConnection() {
    line_.clear();
    line_overflow_ = false;
    after_cr_ = false;
    ResetEvent();
  }

  const std::string& last_event_id() const { return last_event_id_; }
  std::optional<absl::Duration> retry() const { return retry_; }
  // Whether the current connection delivered anything (an event or an id).
  bool progressed() const { return progressed_; }
  void ClearProgress() { progressed_ = false; }

 private:
  void ResetEvent() {
    event_.type.clear();
    event_.data.Clear();
    has_data_ = false;
  }

  // A line longer than any message can only be a data line worth keeping (as an oversized
  // event); its bytes beyond the bound go straight to the event's data.
  void AppendToLine(absl::string_view piece) {
    if (line_overflow_) {
      event_.data.Append(piece);
      return;
    }
    line_.append(piece.data(), piece.size());
    if (line_.size() > max_data_ + 16) {
      line_overflow_ = true;
      absl::string_view line = line_;
      if (absl::ConsumePrefix(&line, "data:")) {
        absl::ConsumePrefix(&line, " ");
        StartDataLine();
        event_.data.Append(line);
      } else {
        overflow_ignored_ = true;
      }
      line_.clear();
    }
  }

  void StartDataLine() {
    if (has_data_) {
      event_.data.Append("\n");
    }
    has_data_ = true;
  }

  template <typename F>
  bool EndLine(F&& on_event) {
    if (line_overflow_) {
      line_overflow_ = false;
      overflow_ignored_ = false;
      return true;
    }
    std::string line;
    line.swap(line_);
    if (line.empty()) {
      bool go_on = true;
      if (has_data_ && !event_.data.empty()) {
        if (event_.type.empty()) {
          event_.type = "message";
        }
        progressed_ = true;
        go_on = on_event(event_);
      }
      ResetEvent();
      return go_on;
    }
    if (line.front() == ':') {
      return true;  // a comment (keep-alive)
    }
    absl::string_view field = line;
    absl::string_view value;
    size_t colon = field.find(':');
    if (colon != absl::string_view::npos) {
      value = field.substr(colon + 1);
      absl::ConsumePrefix(&value, " ");
      field = field.substr(0, colon);
    }
    if (field == "data") {
      StartDataLine();
      event_.data.Append(value);
    } else if (field == "event") {
      event_.type = std::string(value);
    } else if (field == "id") {
      if (value.find('\0') == absl::string_view::npos) {
        last_event_id_ = std::string(value);
        progressed_ = true;
      }
    } else if (field == "retry") {
      int64_t ms = 0;
      if (!value.empty() && std::all_of(value.begin(), value.end(), absl::ascii_isdigit) &&
          absl::SimpleAtoi(value, &ms)) {
        retry_ = absl::Milliseconds(ms);
      }
    }
    return true;
  }

  const size_t max_data_;
  std::string line_;
  bool line_overflow_ = false;
  bool overflow_ignored_ = false;
  bool after_cr_ = false;
  Event event_;
  bool has_data_ = false;
  std::string last_event_id_;
  std::optional<absl::Duration> retry_;
  bool progressed_ = false;
};

std::string Quote(absl::string_view body) {
  std::string s(absl::StripAsciiWhitespace(body.substr(0, kQuotedBodyBytes)));
  return s.empty() ? "" : absl::StrCat(": ", s);
}

bool IsReservedHeader(absl::string_view name) {
  for (absl::string_view reserved :
       {"accept", "content-type", "mcp-session-id", "mcp-protocol-version", "last-event-id",
        "content-length", "host", "expect", "transfer-encoding"}) {
    if (absl::EqualsIgnoreCase(name, reserved)) {
      return true;
    }
  }
  return false;
}

// The origin (scheme://host:port) of a URL, or empty when it cannot be parsed.
std::string OriginOf(const std::string& url) {
  CURLU* u = Curl().url();
  std::string origin;
  if (Curl().url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* scheme = nullptr;
    char* host = nullptr;
    char* port = nullptr;
    if (Curl().url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        Curl().url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        Curl().url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
      origin = absl::StrCat(absl::AsciiStrToLower(scheme), "://", absl::AsciiStrToLower(host), ":",
                            port);
    }
    Curl().free(scheme);
    Curl().free(host);
    Curl().free(port);
  }
  Curl().url_cleanup(u);
  return origin;
}

// Resolves `reference` (absolute, or relative as an `endpoint` event may be) against `base`.
std::optional<std::string> ResolveUrl(const std::string& base, absl::string_view reference) {
  CURLU* u = Curl().url();
  std::optional<std::string> resolved;
  if (Curl().url_set(u, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      Curl().url_set(u, CURLUPART_URL, std::string(reference).c_str(), 0) == CURLUE_OK) {
    char* full = nullptr;
    if (Curl().url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK) {
      resolved = full;
    }
    Curl().free(full);
  }
  Curl().url_cleanup(u);
  return resolved;
}

// A frame to send, with what the transport needs to know about it.
struct OutFrame {
  std::string text;
  std::vector<RequestId> requests;  // requests in it: answers are expected
  bool initialize = false;          // the initialize request
  bool initialized = false;         // notifications/initialized
  bool internal = false;            // made by the transport: answers are swallowed
  // resources/subscribe or resources/unsubscribe: the uri.
  std::optional<std::string> subscribe;
  std::optional<std::string> unsubscribe;
};

OutFrame Describe(std::string text) {
  OutFrame out;
  Frame frame = DecodeFrame(text, {.allow_batch = true});
  for (const FrameItem& item : frame.items) {
    const auto* m = std::get_if<Message>(&item);
    if (m == nullptr) {
      continue;
    }
    if (m->is_request()) {
      out.requests.push_back(*m->id());
      out.initialize = out.initialize || m->method() == "initialize";
      if (m->method() == "resources/subscribe" || m->method() == "resources/unsubscribe") {
        const JsonValue* params = m->params();
        const JsonValue* uri = params == nullptr ? nullptr : FindMember(*params, "uri");
        if (uri != nullptr && uri->IsString()) {
          (m->method() == "resources/subscribe" ? out.subscribe : out.unsubscribe) =
              std::string(AsStringView(*uri));
        }
      }
    } else if (m->is_notification() && m->method() == "notifications/initialized") {
      out.initialized = true;
    }
  }
  out.text = std::move(text);
  return out;
}

}  // namespace

namespace http_client_internal {

struct Core;
struct SseStream;

// One curl easy handle and what its answer has shown so far. Owned by its Core (or by the
// loop, for a DELETE sent on Close).
struct Transfer {
  enum class Kind {
    kPost,        // Streamable HTTP: one frame
    kGet,         // Streamable HTTP: the GET stream, or the resumption of a POST's stream
    kDelete,      // Streamable HTTP: ends the session
    kLegacyGet,   // HTTP+SSE: the event stream
    kLegacyPost,  // HTTP+SSE: one frame
  };
  Kind kind = Kind::kPost;
  Core* core = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string url;
  std::optional<OutFrame> frame;      // kPost, kLegacyPost
  std::shared_ptr<SseStream> stream;  // kGet, kLegacyGet; kPost once its answer is SSE
  uint64_t generation = 0;            // of the session it was sent in
  bool sent_session_id = false;
  // The answer.
  long status = 0;
  bool headers_done = false;
  std::string content_type;
  std::string session_id;
  BoundedText body{0};  // a JSON answer, or the start of an error answer
  // The response timer (until the headers are in), 0 when none.
  uint64_t timer = 0;
  bool response_timed_out = false;
  char error[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (headers != nullptr) {
      Curl().slist_free_all(headers);
    }
    if (easy != nullptr) {
      Curl().easy_cleanup(easy);
    }
  }
  bool is_sse() const { return absl::StartsWithIgnoreCase(content_type, "text/event-stream"); }
  bool is_json() const { return absl::StartsWithIgnoreCase(content_type, "application/json"); }
};

// One SSE stream across its connections: the answer to a POST (resumed by GET with
// Last-Event-ID when it breaks before every request is answered), the GET stream, or the
// legacy event stream.
struct SseStream {
  explicit SseStream(size_t max_message_bytes) : parser(max_message_bytes) {}
  SseParser parser;
  // Requests sent on the POST whose answers have not arrived.
  absl::flat_hash_set<RequestId> unanswered;
  int failures = 0;  // reconnections in a row without progress
  bool live = true;  // false once given up
};

}  // namespace http_client_internal

using http_client_internal::Core;
using http_client_internal::SseStream;
using http_client_internal::Transfer;

// --- The loop

struct HttpClientLoop::Impl {
  Impl() = default;
  ~Impl() {
    if (multi != nullptr) {
      Curl().multi_cleanup(multi);
    }
  }

  CURLM* multi = nullptr;
  std::thread thread;
  std::atomic<std::thread::id> loop_thread{};  // set by Run, on that thread

  absl::Mutex mu;
  std::deque<absl::AnyInvocable<void() &&>> posted ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool quiet_stop ABSL_GUARDED_BY(mu) = false;  // Stop(at_exit)
  absl::flat_hash_set<std::shared_ptr<Core>> cores ABSL_GUARDED_BY(mu);

  // Loop thread only.
  struct Timer {
    absl::Time due;
    absl::AnyInvocable<void() &&> fn;
  };
  std::map<uint64_t, Timer> timers;
  uint64_t next_timer = 1;
  absl::flat_hash_map<Transfer*, std::unique_ptr<Transfer>> orphans;  // DELETEs on Close

  // Stop ends the loop thread (transports are torn down, their DELETEs given a moment) and
  // waits for it. Later calls do nothing.
  // With `at_exit`, the thread just ends: no transport is told (their owners may be gone, and
  // work they would post races the exit) and no DELETE is sent.
  void Stop(bool at_exit = false) {
    {
      absl::MutexLock lock(&mu);
      if (stopping) {
        return;
      }
      stopping = true;
      quiet_stop = at_exit;
    }
    Curl().multi_wakeup(multi);
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // stopped from its own callback (an exit there): it ends by itself
      return;
    }
    thread.join();
  }

  void Post(absl::AnyInvocable<void() &&> fn) {
    {
      absl::MutexLock lock(&mu);
      posted.push_back(std::move(fn));
    }
    // The loop itself runs what is posted before it polls again: waking it from its own
    // thread (an answer's handler sending the next request) would only cost a write to its
    // wake-up socket and an extra turn.
    if (loop_thread.load(std::memory_order_relaxed) != std::this_thread::get_id()) {
      Curl().multi_wakeup(multi);
    }
  }

  uint64_t AddTimer(absl::Duration delay, absl::AnyInvocable<void() &&> fn) {
    uint64_t id = next_timer++;
    timers[id] = Timer{absl::Now() + delay, std::move(fn)};
    return id;
  }
  void CancelTimer(uint64_t id) { timers.erase(id); }

  void Add(Transfer* t) { Curl().multi_add_handle(multi, t->easy); }
  void Remove(Transfer* t) {
    if (t->timer != 0) {
      CancelTimer(t->timer);
      t->timer = 0;
    }
    Curl().multi_remove_handle(multi, t->easy);
  }

  void Run() noexcept;
  void RunPosted();
  void RunTimers();
  int PollTimeoutMs();
  void Shutdown();
};

namespace http_client_internal {

// The state of one transport. See the file comment.
struct Core : std::enable_shared_from_this<Core> {
  enum class State { kIdle, kStreamable, kLegacyConnecting, kLegacy, kClosed };

  Core(HttpClientOptions opts, HttpClientLoop::Impl* l) : options(std::move(opts)), loop(l) {
    for (auto& [name, value] : options.headers) {
      if (IsReservedHeader(name)) {
        spdlog::warn(
            "HTTP transport to {}: header {} is set by the transport; the configured "
            "value is ignored",
            options.url, name);
        continue;
      }
      custom_headers.push_back(absl::StrCat(name, ": ", value));
    }
  }

  const HttpClientOptions options;
  HttpClientLoop::Impl* const loop;
  std::vector<std::string> custom_headers;
  std::atomic<size_t> queued_bytes{0};
  std::atomic<uint64_t> dropped{0};

  // Shared with Send and Close.
  absl::Mutex mu;
  TransportSink* sink ABSL_GUARDED_BY(mu) = nullptr;
  bool closed ABSL_GUARDED_BY(mu) = false;                // Close was called, or the sink was told
  bool delivering ABSL_GUARDED_BY(mu) = false;            // a sink call is running
  std::thread::id delivering_thread ABSL_GUARDED_BY(mu);  // the loop's, while delivering
  std::deque<OutFrame> outbox ABSL_GUARDED_BY(mu);

  // Loop thread only.
  State state = State::kIdle;
  bool torn_down = false;
  bool failed = false;  // Fail ran
  absl::flat_hash_map<Transfer*, std::unique_ptr<Transfer>> transfers;
  std::deque<OutFrame> waiting;
  // Streamable HTTP session.
  std::string session_id;
  uint64_t generation = 1;  // bumped by each re-initialization
  std::optional<std::string> protocol_version;
  std::optional<OutFrame> initialize_frame;  // the client's, replayed on session expiry
  std::optional<RequestId> initialize_id;
  bool initialized_sent = false;
  absl::flat_hash_set<std::string> subscriptions;
  // Barrier: later frames wait for this request's answer or this transfer's end.
  Transfer* barrier = nullptr;
  std::optional<RequestId> barrier_request;
  // Requests made by the transport, whose answers are swallowed.
  absl::flat_hash_set<RequestId> internal_requests;
  uint64_t next_internal_id = 1;
  int reinitializations = 0;  // in a row
  // The GET stream.
  std::shared_ptr<SseStream> get_stream;
  bool get_disabled = false;
  // Legacy HTTP+SSE.
  std::string legacy_endpoint;
  bool legacy_post_in_flight = false;
  std::optional<long> streamable_refusal;  // kAuto: the status that made us fall back

  // --- Entry points from the Transport (any thread)

  absl::Status Start(TransportSink* s) {
    absl::MutexLock lock(&mu);
    if (sink != nullptr) {
      return absl::FailedPreconditionError("the HTTP transport was already started");
    }
    sink = s;
    return absl::OkStatus();
  }

  absl::Status Send(absl::string_view frame, const SendOptions& send_options) {
    if (frame.size() > options.max_message_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("message of ", frame.size(), " bytes exceeds the limit of ",
                       options.max_message_bytes, " bytes (HttpClientOptions::max_message_bytes)"));
    }
    if (std::memchr(frame.data(), '\n', frame.size()) != nullptr) {
      return absl::InvalidArgumentError("a message must not contain a raw newline");
    }
    if (send_options.droppable && queued_bytes.load() > kMaxQueuedBytesForDroppable) {
      dropped.fetch_add(1);
      return absl::OkStatus();
    }
    OutFrame out = Describe(std::string(frame));
    {
      absl::MutexLock lock(&mu);
      if (closed) {
        return absl::UnavailableError(
            absl::StrCat("the HTTP transport to ", options.url, " is closed"));
      }
      queued_bytes.fetch_add(out.text.size());
      outbox.push_back(std::move(out));
    }
    loop->Post([self = shared_from_this()]() { self->Pump(); });
    return absl::OkStatus();
  }

  void Close() {
    {
      absl::MutexLock lock(&mu);
      bool was_closed = closed;
      closed = true;
      // No sink call may run after Close returns, unless Close is called from within it.
      // (The loop is not asked which thread this is: it may be gone after closing us.)
      if (delivering_thread != std::this_thread::get_id()) {
        mu.Await(absl::Condition(
            +[](bool* d) { return !*d; }, &delivering));
      }
      if (was_closed) {
        return;
      }
    }
    loop->Post([self = shared_from_this()]() { self->Teardown(/*end_session=*/true); });
  }

  // --- Sink calls (loop thread)

  // Runs `call` on the sink unless the transport is closed. Returns false when closed.
  template <typename F>
  bool CallSink(F&& call) {
    TransportSink* s;
    {
      absl::MutexLock lock(&mu);
      if (closed || sink == nullptr) {
        return false;
      }
      s = sink;
      delivering = true;
      delivering_thread = std::this_thread::get_id();
    }
    call(s);
    absl::MutexLock lock(&mu);
    delivering = false;
    delivering_thread = std::thread::id();
    return !closed;
  }

  // Fail ends the transport with `status`: the sink is told once, and everything stops.
  void Fail(absl::Status status) {
    if (failed) {
      return;
    }
    failed = true;
    state = State::kClosed;
    spdlog::debug("HTTP transport to {} closes: {}", options.url, status);
    TransportSink* s = nullptr;
    {
      absl::MutexLock lock(&mu);
      if (!closed) {
        s = sink;
        delivering = s != nullptr;
        delivering_thread = std::this_thread::get_id();
      }
      closed = true;  // Send fails from now on, also during the call below
    }
    if (s != nullptr) {
      s->OnTransportClosed(status);
      absl::MutexLock lock(&mu);
      delivering = false;
      delivering_thread = std::thread::id();
    }
    if (torn_down) {
      return;
    }
    // Not now: this may run inside a curl callback, where handles must not be removed.
    loop->Post([self = shared_from_this()]() { self->Teardown(/*end_session=*/false); });
  }

  // Teardown stops every transfer and leaves the loop; with `end_session`, a DELETE ends the
  // Streamable HTTP session (best effort, bounded by kDeleteTimeout).
  void Teardown(bool end_session) {
    if (torn_down) {
      return;
    }
    torn_down = true;
    bool streamable = state == State::kStreamable;
    state = State::kClosed;
    for (auto& [t, owned] : transfers) {
      loop->Remove(t);
    }
    transfers.clear();
    waiting.clear();
    if (end_session && streamable && !session_id.empty()) {
      auto t = std::make_unique<Transfer>();
      t->kind = Transfer::Kind::kDelete;
      Prepare(*t, options.url);
      Curl().easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
      Curl().easy_setopt(t->easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(kDeleteTimeout)));
      AddSessionHeaders(*t);
      Finish(*t);
      t->core = nullptr;
      loop->Add(t.get());
      loop->orphans[t.get()] = std::move(t);
    }
    absl::MutexLock lock(&loop->mu);
    loop->cores.erase(shared_from_this());
  }

  // Delivers one frame that arrived (on `stream`, when it came on an SSE stream), after the
  // transport's own bookkeeping: answers to the transport's requests are swallowed,
  // re-initialization proceeds, the negotiated version is noted, batches are split.
  // With `reject_malformed`, text that is not JSON at all is not delivered: returns false.
  bool Incoming(absl::string_view text, SseStream* stream, bool reject_malformed = false) {
    // The common case, an answer to one of the client's own requests (not initialize, the
    // barrier or one of the transport's own), is passed on after a SAX read for its id, without
    // a document: the session decodes it (decoding a large answer twice doubled the client's
    // cost). What PeekResponseId does not take (malformed text included) goes the long way.
    if (std::optional<RequestId> id = PeekResponseId(text);
        id.has_value() && *id != initialize_id && barrier_request != *id &&
        !internal_requests.contains(*id)) {
      if (stream != nullptr) {
        stream->unanswered.erase(*id);
      }
      reinitializations = 0;
      CallSink([&](TransportSink* s) { s->OnFrame(text); });
      return true;
    }
    Frame frame = DecodeFrame(text, {.allow_batch = true});
    if (reject_malformed && frame.items.size() == 1) {
      const auto* error = std::get_if<DecodeError>(&frame.items.front());
      if (error != nullptr && error->code == error_code::kParseError) {
        return false;
      }
    }
    bool rewrite = frame.batch;
    std::vector<std::string> parts;
    for (FrameItem& item : frame.items) {
      auto* m = std::get_if<Message>(&item);
      if (m == nullptr) {
        continue;
      }
      if (!m->is_response() || !m->id().has_value()) {
        if (rewrite) {
          parts.push_back(m->Serialize());
        }
        continue;
      }
      const RequestId& id = *m->id();
      if (stream != nullptr) {
        stream->unanswered.erase(id);
      }
      if (barrier_request == id) {
        barrier_request.reset();
        barrier = nullptr;
        loop->Post([self = shared_from_this()]() { self->Pump(); });
      }
      bool is_initialize = id == initialize_id;
      if (internal_requests.erase(id) > 0) {
        rewrite = true;
        is_initialize = absl::StartsWith(id.string() == nullptr ? "" : *id.string(),
                                         absl::StrCat(kPrivateIdPrefix, "init-"));
        if (is_initialize && m->kind() == MessageKind::kErrorResponse) {
          Fail(absl::NotFoundError(
              absl::StrCat("the MCP session at ", options.url,
                           " expired and initializing a new one failed: ", m->error().message)));
          return true;
        }
      } else {
        reinitializations = 0;
        if (rewrite) {
          parts.push_back(m->Serialize());
        }
      }
      if (is_initialize && m->result() != nullptr) {
        const JsonValue* version = FindMember(*m->result(), "protocolVersion");
        if (version != nullptr && version->IsString()) {
          protocol_version = std::string(AsStringView(*version));
        }
      }
    }
    if (!rewrite) {
      CallSink([&](TransportSink* s) { s->OnFrame(text); });
      return true;
    }
    for (const std::string& part : parts) {
      if (!CallSink([&](TransportSink* s) { s->OnFrame(part); })) {
        break;
      }
    }
    return true;
  }

  void Oversized(const OversizedFrame& frame) {
    CallSink([&](TransportSink* s) { s->OnOversizedFrame(frame); });
  }

  // Answers each unanswered request of `stream` with a JSON-RPC error (the transport stays).
  void AbandonStream(SseStream& stream, absl::string_view why) {
    stream.live = false;
    std::vector<RequestId> ids(stream.unanswered.begin(), stream.unanswered.end());
    stream.unanswered.clear();
    for (const RequestId& id : ids) {
      if (internal_requests.contains(id)) {
        Incoming(Message::Error(id, error_code::kConnectionClosed, why).Serialize(), nullptr);
        continue;
      }
      std::string text = Message::Error(id, error_code::kConnectionClosed, why).Serialize();
      if (!CallSink([&](TransportSink* s) { s->OnFrame(text); })) {
        return;
      }
    }
  }

  // --- Sending (loop thread)

  void Pump() {
    if (torn_down) {
      return;
    }
    {
      absl::MutexLock lock(&mu);
      while (!outbox.empty()) {
        waiting.push_back(std::move(outbox.front()));
        outbox.pop_front();
      }
    }
    while (!waiting.empty() && state != State::kClosed) {
      switch (state) {
        case State::kIdle:
          if (options.kind == HttpTransportKind::kSse) {
            StartLegacy();
            return;
          }
          state = State::kStreamable;
          continue;
        case State::kStreamable: {
          if (barrier != nullptr) {
            return;
          }
          OutFrame frame = std::move(waiting.front());
          waiting.pop_front();
          StartPost(std::move(frame));
          continue;
        }
        case State::kLegacy: {
          if (legacy_post_in_flight) {
            return;
          }
          OutFrame frame = std::move(waiting.front());
          waiting.pop_front();
          StartLegacyPost(std::move(frame));
          continue;
        }
        case State::kLegacyConnecting:
        case State::kClosed:
          return;
      }
    }
  }

  // Common easy-handle setup.
  void Prepare(Transfer& t, const std::string& url) {
    t.url = url;
    t.easy = Curl().easy_init();
    t.body = BoundedText(options.max_message_bytes);
    Curl().easy_setopt(t.easy, CURLOPT_URL, t.url.c_str());
    Curl().easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
    Curl().easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);
    Curl().easy_setopt(t.easy, CURLOPT_ERRORBUFFER, t.error);
    Curl().easy_setopt(t.easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(
                         std::max<int64_t>(1, absl::ToInt64Milliseconds(options.connect_timeout))));
    Curl().easy_setopt(t.easy, CURLOPT_HEADERFUNCTION, &Core::OnHeaderLine);
    Curl().easy_setopt(t.easy, CURLOPT_HEADERDATA, &t);
    Curl().easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, &Core::OnBodyBytes);
    Curl().easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
    Curl().easy_setopt(t.easy, CURLOPT_ACCEPT_ENCODING, "");
    Curl().easy_setopt(t.easy, CURLOPT_TCP_KEEPALIVE, 1L);
    t.headers = Curl().slist_append(t.headers, "Expect:");  // no 100-continue round trip
  }

  void AddSessionHeaders(Transfer& t) {
    if (!session_id.empty()) {
      t.headers =
          Curl().slist_append(t.headers, absl::StrCat("Mcp-Session-Id: ", session_id).c_str());
      t.sent_session_id = true;
    }
    if (protocol_version.has_value()) {
      t.headers = Curl().slist_append(
          t.headers, absl::StrCat("MCP-Protocol-Version: ", *protocol_version).c_str());
    }
    t.generation = generation;
  }

  // Adds the custom headers and installs the list.
  void Finish(Transfer& t) {
    for (const std::string& h : custom_headers) {
      t.headers = Curl().slist_append(t.headers, h.c_str());
    }
    Curl().easy_setopt(t.easy, CURLOPT_HTTPHEADER, t.headers);
  }

  Transfer* Launch(std::unique_ptr<Transfer> owned, bool response_timeout) {
    Transfer* t = owned.get();
    t->core = this;
    Finish(*t);
    transfers[t] = std::move(owned);
    if (response_timeout) {
      // Started once connected (curl's connect timeout runs until then).
      Curl().easy_setopt(t->easy, CURLOPT_PREREQFUNCTION, &Core::OnConnected);
      Curl().easy_setopt(t->easy, CURLOPT_PREREQDATA, t);
    }
    loop->Add(t);
    return t;
  }

  void StartPost(OutFrame frame) {
    if (frame.initialize && !frame.internal) {
      initialize_frame = frame;
      initialize_id = frame.requests.front();
    }
    if (frame.subscribe.has_value() && !frame.internal) {
      subscriptions.insert(*frame.subscribe);
    }
    if (frame.unsubscribe.has_value()) {
      subscriptions.erase(*frame.unsubscribe);
    }
    if (frame.initialize) {
      session_id.clear();  // a new session
    }
    auto t = std::make_unique<Transfer>();
    t->kind = Transfer::Kind::kPost;
    Prepare(*t, options.url);
    t->headers = Curl().slist_append(t->headers, "Accept: application/json, text/event-stream");
    t->headers = Curl().slist_append(t->headers, "Content-Type: application/json");
    AddSessionHeaders(*t);
    Curl().easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(frame.text.size()));
    t->frame = std::move(frame);
    Curl().easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->frame->text.c_str());
    bool is_barrier = t->frame->initialize || t->frame->initialized;
    if (t->frame->initialize) {
      barrier_request = t->frame->requests.front();
    }
    Transfer* launched = Launch(std::move(t), true);
    if (is_barrier) {
      barrier = launched;
    }
  }

  // Opens the GET stream (new, or resuming `stream` after its last event id).
  void StartGet(std::shared_ptr<SseStream> stream) {
    auto t = std::make_unique<Transfer>();
    t->kind = Transfer::Kind::kGet;
    Prepare(*t, options.url);
    t->headers = Curl().slist_append(t->headers, "Accept: text/event-stream");
    AddSessionHeaders(*t);
    if (!stream->parser.last_event_id().empty()) {
      t->headers = Curl().slist_append(
          t->headers, absl::StrCat("Last-Event-ID: ", stream->parser.last_event_id()).c_str());
    }
    stream->parser.NewConnection();
    stream->parser.ClearProgress();
    t->stream = std::move(stream);
    Launch(std::move(t), true);
  }

  void MaybeOpenGetStream() {
    if (!options.open_get_stream || get_disabled || get_stream != nullptr ||
        state != State::kStreamable || !initialized_sent) {
      return;
    }
    get_stream = std::make_shared<SseStream>(options.max_message_bytes);
    StartGet(get_stream);
  }

  void StartLegacy() {
    state = State::kLegacyConnecting;
    auto t = std::make_unique<Transfer>();
    t->kind = Transfer::Kind::kLegacyGet;
    Prepare(*t, options.url);
    t->headers = Curl().slist_append(t->headers, "Accept: text/event-stream");
    t->stream = std::make_shared<SseStream>(options.max_message_bytes);
    Launch(std::move(t), true);
  }

  void StartLegacyPost(OutFrame frame) {
    auto t = std::make_unique<Transfer>();
    t->kind = Transfer::Kind::kLegacyPost;
    Prepare(*t, legacy_endpoint);
    t->headers = Curl().slist_append(t->headers, "Content-Type: application/json");
    Curl().easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(frame.text.size()));
    t->frame = std::move(frame);
    Curl().easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->frame->text.c_str());
    legacy_post_in_flight = true;
    Launch(std::move(t), true);
  }

  // --- curl callbacks (loop thread, inside curl_multi_perform)

  static int OnConnected(void* user, char*, char*, int, int) {
    auto* t = static_cast<Transfer*>(user);
    Core* core = t->core;
    if (core != nullptr && !t->headers_done) {
      if (t->timer != 0) {
        core->loop->CancelTimer(t->timer);
      }
      t->timer = core->loop->AddTimer(
          core->options.response_timeout,
          [self = core->shared_from_this(), t]() { self->OnResponseTimeout(t); });
    }
    return CURL_PREREQFUNC_OK;
  }

  static size_t OnHeaderLine(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    absl::string_view line = absl::StripAsciiWhitespace(absl::string_view(data, size * n));
    if (t->core == nullptr) {
      return size * n;
    }
    if (absl::StartsWith(line, "HTTP/")) {
      size_t space = line.find(' ');
      long status = 0;
      if (space != absl::string_view::npos &&
          absl::SimpleAtoi(line.substr(space + 1, 3), &status)) {
        t->status = status;
      }
      t->content_type.clear();
      return size * n;
    }
    if (line.empty()) {
      if (t->status >= 200 && !t->headers_done) {
        t->headers_done = true;
        t->core->OnHeaders(*t);
      }
      return size * n;
    }
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return size * n;
    }
    absl::string_view name = line.substr(0, colon);
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "content-type")) {
      t->content_type = std::string(value);
    } else if (absl::EqualsIgnoreCase(name, "mcp-session-id")) {
      t->session_id = std::string(value);
    }
    return size * n;
  }

  static size_t OnBodyBytes(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    if (t->core != nullptr) {
      t->core->OnBody(*t, absl::string_view(data, size * n));
    }
    return size * n;
  }

  void OnHeaders(Transfer& t) {
    if (t.timer != 0) {
      loop->CancelTimer(t.timer);
      t.timer = 0;
    }
    if (t.frame.has_value()) {
      queued_bytes.fetch_sub(std::min(queued_bytes.load(), t.frame->text.size()));
    }
    bool ok = t.status / 100 == 2;
    if (t.kind == Transfer::Kind::kPost && t.frame->initialize && ok &&
        t.generation == generation) {
      session_id = t.session_id;  // may be empty: a server without sessions
    }
    if (ok && t.kind == Transfer::Kind::kPost && t.is_sse()) {
      t.stream = std::make_shared<SseStream>(options.max_message_bytes);
      t.stream->unanswered.insert(t.frame->requests.begin(), t.frame->requests.end());
    }
    if (ok && t.stream != nullptr && t.is_sse()) {
      t.stream->parser.NewConnection();
    }
  }

  void OnBody(Transfer& t, absl::string_view bytes) {
    if (state == State::kClosed) {
      return;
    }
    if (t.status / 100 == 2 && t.stream != nullptr && t.is_sse()) {
      std::shared_ptr<SseStream> stream = t.stream;  // the sink may end the transfer
      stream->parser.Feed(bytes, [&](SseParser::Event& event) {
        OnEvent(t, *stream, event);
        return state != State::kClosed;
      });
      if (stream->parser.progressed()) {
        stream->failures = 0;
      }
      return;
    }
    t.body.Append(bytes);
  }

  void OnEvent(Transfer& t, SseStream& stream, SseParser::Event& event) {
    if (t.kind == Transfer::Kind::kLegacyGet && event.type == "endpoint") {
      OnEndpoint(t, event.data.text());
      return;
    }
    if (event.type != "message") {
      spdlog::debug("HTTP transport to {}: ignored an SSE event of type '{}'", options.url,
                    event.type);
      return;
    }
    if (event.data.oversized()) {
      Oversized(event.data.ToOversized());
      return;
    }
    Incoming(event.data.text(), &stream);
  }

  void OnEndpoint(Transfer& t, const std::string& reference) {
    if (state != State::kLegacyConnecting) {
      return;
    }
    std::optional<std::string> url = ResolveUrl(t.url, reference);
    if (!url.has_value() || OriginOf(*url) != OriginOf(t.url)) {
      Fail(absl::InvalidArgumentError(absl::StrCat(
          "the HTTP+SSE server at ", options.url, " named an endpoint of another origin (",
          reference, "); messages are only posted to the origin of the configured URL")));
      return;
    }
    legacy_endpoint = *url;
    state = State::kLegacy;
    spdlog::debug("HTTP transport to {}: legacy HTTP+SSE, posting to {}", options.url,
                  legacy_endpoint);
    loop->Post([self = shared_from_this()]() { self->Pump(); });
  }

  // --- Completion (loop thread, outside curl callbacks)

  void OnResponseTimeout(Transfer* t) {
    if (!transfers.contains(t)) {
      return;
    }
    t->timer = 0;
    t->response_timed_out = true;
    loop->Remove(t);
    OnDone(t, CURLE_OPERATION_TIMEDOUT);
  }

  // A transfer ended (already removed from the multi handle).
  void OnDone(Transfer* raw, CURLcode code) {
    auto it = transfers.find(raw);
    if (it == transfers.end()) {
      return;
    }
    std::unique_ptr<Transfer> t = std::move(it->second);
    transfers.erase(it);
    if (t->timer != 0) {
      loop->CancelTimer(t->timer);
      t->timer = 0;
    }
    if (t->frame.has_value() && !t->headers_done) {
      queued_bytes.fetch_sub(std::min(queued_bytes.load(), t->frame->text.size()));
    }
    if (barrier == t.get()) {
      barrier = nullptr;
      barrier_request.reset();
    }
    if (state != State::kClosed) {
      switch (t->kind) {
        case Transfer::Kind::kPost:
          PostDone(*t, code);
          break;
        case Transfer::Kind::kGet:
          GetDone(*t, code);
          break;
        case Transfer::Kind::kLegacyGet:
          LegacyGetDone(*t, code);
          break;
        case Transfer::Kind::kLegacyPost:
          LegacyPostDone(*t, code);
          break;
        case Transfer::Kind::kDelete:
          break;
      }
    }
    if (state != State::kClosed && !torn_down) {
      Pump();
    }
  }

  // The status for a transfer that failed below HTTP.
  absl::Status TransportError(const Transfer& t, CURLcode code) const {
    std::string detail = t.error[0] != '\0' ? t.error : Curl().easy_strerror(code);
    if (t.response_timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no answer from ", t.url, " within ", absl::FormatDuration(options.response_timeout),
          " (HttpClientOptions::response_timeout): is the server stuck?"));
    }
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
        return absl::DeadlineExceededError(absl::StrCat(
            "cannot connect to ", t.url, " within ", absl::FormatDuration(options.connect_timeout),
            " (", detail, "): is the server up and reachable?"));
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        return absl::UnavailableError(absl::StrCat("cannot connect to ", t.url, " (", detail,
                                                   "): is the server running at that address?"));
      default:
        return absl::UnavailableError(
            absl::StrCat("the connection to ", t.url, " failed: ", detail));
    }
  }

  // The status for an HTTP error answer.
  absl::Status HttpError(const Transfer& t) {
    std::string body = t.body.oversized() ? "" : t.body.text();
    std::string what = absl::StrCat(t.url, " answered ", t.status, Quote(body));
    if (t.status == 401) {
      return absl::UnauthenticatedError(absl::StrCat(
          what,
          "; check the credentials in the configured headers (e.g. Authorization: Bearer "
          "<token>)"));
    }
    if (t.status == 403) {
      return absl::PermissionDeniedError(absl::StrCat(
          what, "; check the token or headers configured for this server and what they allow"));
    }
    if (t.status >= 500) {
      return absl::UnavailableError(absl::StrCat(what, " (server error)"));
    }
    if (t.status == 404) {
      return absl::NotFoundError(
          absl::StrCat(what, "; is the URL (its path) that of the server's MCP endpoint?"));
    }
    return absl::InvalidArgumentError(absl::StrCat(what, " (the request was refused)"));
  }

  void PostDone(Transfer& t, CURLcode code) {
    OutFrame& frame = *t.frame;
    if (t.response_timed_out && !frame.requests.empty() && !frame.initialize && !frame.internal) {
      // One slow call: its caller gets the error (-32001), the transport goes on.
      AnswerWithErrors(frame.requests, error_code::kRequestTimeout,
                       TransportError(t, code).message());
      return;
    }
    if (code != CURLE_OK) {
      if (t.stream != nullptr) {
        StreamBroken(t.stream, TransportError(t, code));
      } else {
        Fail(TransportError(t, code));
      }
      return;
    }
    if (t.status / 100 == 2) {
      if (t.stream != nullptr) {
        StreamEnded(t.stream);
      } else if (t.status != 202 && t.status != 204 && !t.body.empty()) {
        if (!t.is_json()) {
          Fail(absl::InvalidArgumentError(
              absl::StrCat(t.url, " answered with Content-Type '", t.content_type,
                           "' (expected application/json or text/event-stream): is it an MCP "
                           "Streamable HTTP endpoint?")));
          return;
        }
        if (t.body.oversized()) {
          Oversized(t.body.ToOversized());
          return;
        }
        if (!Incoming(t.body.text(), nullptr, /*reject_malformed=*/true)) {
          Fail(absl::InvalidArgumentError(
              absl::StrCat(t.url, " answered with malformed JSON", Quote(t.body.text()))));
          return;
        }
      }
      if (frame.initialized && state == State::kStreamable) {
        initialized_sent = true;
        MaybeOpenGetStream();
      }
      return;
    }
    if (frame.initialize && !frame.internal && session_id.empty() &&
        options.kind == HttpTransportKind::kAuto &&
        (t.status == 400 || t.status == 404 || t.status == 405)) {
      spdlog::info("HTTP transport to {}: POST answered {}; trying the legacy HTTP+SSE transport",
                   options.url, t.status);
      streamable_refusal = t.status;
      waiting.push_front(std::move(frame));
      StartLegacy();
      return;
    }
    if (t.status == 404 && t.sent_session_id) {
      SessionExpired(std::move(frame), t.generation);
      return;
    }
    absl::Status error = HttpError(t);
    if (t.status == 401 || t.status == 403 || t.status == 404 || frame.initialize ||
        frame.requests.empty() || frame.internal) {
      if (frame.internal && !frame.initialize && !frame.requests.empty()) {
        internal_requests.erase(frame.requests.front());
        spdlog::warn("HTTP transport to {}: renewing a subscription failed: {}", options.url,
                     error);
        return;
      }
      Fail(error);
      return;
    }
    // One request refused (e.g. a 500 for one call): its caller gets the error, the
    // transport goes on.
    AnswerWithErrors(frame.requests,
                     error.code() == absl::StatusCode::kUnavailable ? error_code::kInternalError
                                                                    : error_code::kInvalidRequest,
                     error.message());
  }

  void AnswerWithErrors(const std::vector<RequestId>& ids, int code, absl::string_view why) {
    for (const RequestId& id : ids) {
      std::string text = Message::Error(id, code, why).Serialize();
      if (!CallSink([&](TransportSink* s) { s->OnFrame(text); })) {
        return;
      }
    }
  }

  void GetDone(Transfer& t, CURLcode code) {
    std::shared_ptr<SseStream> stream = t.stream;
    if (!stream->live) {
      return;
    }
    if (code != CURLE_OK) {
      StreamBroken(stream, TransportError(t, code));
      return;
    }
    bool standalone = stream == get_stream;
    if (t.status / 100 == 2 && !t.is_sse()) {
      std::string why = absl::StrCat(t.url, " answered a GET with Content-Type '", t.content_type,
                                     "' (expected text/event-stream)");
      if (standalone) {
        spdlog::warn("HTTP transport to {}: no GET stream: {}", options.url, why);
        get_disabled = true;
        get_stream = nullptr;
      } else {
        AbandonStream(*stream, why);
      }
      return;
    }
    if (t.status / 100 == 2) {
      StreamEnded(stream);
      return;
    }
    if (standalone && t.status == 405) {
      spdlog::debug("HTTP transport to {}: the server offers no GET stream", options.url);
      get_disabled = true;
      get_stream = nullptr;
      return;
    }
    if (t.status == 401 || t.status == 403) {
      Fail(HttpError(t));
      return;
    }
    if (t.status == 409 || t.status >= 500) {
      // The old connection is still seen as open, or the server is restarting: try again.
      StreamBroken(stream, HttpError(t));
      return;
    }
    if (t.status == 404 && t.sent_session_id) {
      if (!standalone) {
        AbandonStream(*stream, absl::StrCat("the MCP session at ", options.url,
                                            " expired before the answer could be resumed"));
      } else {
        get_stream = nullptr;
      }
      SessionExpired(std::nullopt, t.generation);
      return;
    }
    absl::Status error = HttpError(t);
    if (standalone) {
      spdlog::warn("HTTP transport to {}: the GET stream cannot be opened: {}", options.url, error);
      get_disabled = true;
      get_stream = nullptr;
      return;
    }
    AbandonStream(*stream, absl::StrCat("the SSE stream of this request could not be resumed: ",
                                        error.message()));
  }

  // An SSE stream ended in an orderly way (`cause` says so), or its connection broke. The GET
  // stream is always reopened; a POST's stream is resumed while answers are missing.
  void StreamInterrupted(const std::shared_ptr<SseStream>& stream, absl::Status cause) {
    if (stream != get_stream && stream->unanswered.empty()) {
      return;  // every answer arrived
    }
    ScheduleReconnect(stream, std::move(cause));
  }

  void StreamEnded(const std::shared_ptr<SseStream>& stream) {
    StreamInterrupted(stream, absl::UnavailableError(absl::StrCat("the SSE stream from ",
                                                                  options.url, " ended early")));
  }

  void StreamBroken(const std::shared_ptr<SseStream>& stream, absl::Status cause) {
    StreamInterrupted(stream, std::move(cause));
  }

  void ScheduleReconnect(const std::shared_ptr<SseStream>& stream, absl::Status cause) {
    bool standalone = stream == get_stream;
    if (!standalone && stream->parser.last_event_id().empty()) {
      AbandonStream(*stream, absl::StrCat(cause.message(),
                                          "; the server gave no event ids, so the stream "
                                          "cannot be resumed and the answer is lost"));
      return;
    }
    if (stream->failures >= options.max_reconnects) {
      if (standalone) {
        Fail(absl::UnavailableError(absl::StrCat(cause.message(), " (", stream->failures,
                                                 " reconnections in a row failed)")));
        return;
      }
      AbandonStream(*stream, absl::StrCat(cause.message(), " (", stream->failures,
                                          " resumptions in a row failed)"));
      if (cause.code() == absl::StatusCode::kUnavailable ||
          cause.code() == absl::StatusCode::kDeadlineExceeded) {
        Fail(std::move(cause));  // the server is gone: the owner reconnects
      }
      return;
    }
    ++stream->failures;
    absl::Duration delay = stream->parser.retry().value_or(options.reconnect_delay);
    spdlog::debug("HTTP transport to {}: resuming an SSE stream in {} after: {}", options.url,
                  absl::FormatDuration(delay), cause);
    loop->AddTimer(delay, [self = shared_from_this(), stream]() {
      if (self->state == State::kStreamable && stream->live &&
          (stream == self->get_stream || !stream->unanswered.empty())) {
        self->StartGet(stream);
      }
    });
  }

  // The server answered 404 to a request carrying the session id (of `frame_generation`).
  void SessionExpired(std::optional<OutFrame> frame, uint64_t frame_generation) {
    if (frame_generation != generation) {
      // Sent in a session already replaced: send it again in the new one.
      if (frame.has_value()) {
        waiting.push_back(std::move(*frame));
      }
      MaybeOpenGetStream();
      return;
    }
    if (!options.reinitialize_on_expired_session || !initialize_frame.has_value()) {
      Fail(absl::NotFoundError(absl::StrCat(
          "the MCP session at ", options.url,
          " expired (the server answered 404 for it; it restarted or forgot the session)")));
      return;
    }
    if (++reinitializations > kMaxReinitializations) {
      Fail(absl::NotFoundError(absl::StrCat("the MCP session at ", options.url, " expired ",
                                            kMaxReinitializations,
                                            " times in a row right after being initialized")));
      return;
    }
    spdlog::info("HTTP transport to {}: the session expired; initializing a new one", options.url);
    ++generation;
    session_id.clear();
    get_stream = nullptr;
    initialized_sent = false;
    if (frame.has_value()) {
      waiting.push_front(std::move(*frame));
    }
    // Pushed in reverse order to the front: initialize, initialized, subscriptions.
    for (const std::string& uri : subscriptions) {
      RequestId id = NextInternalId("subscribe");
      Json params = Json::Object();
      params.Set("uri", uri);
      waiting.push_front(Internal(Message::Request(id, "resources/subscribe", std::move(params))));
    }
    waiting.push_front(Internal(Message::Notification("notifications/initialized")));
    absl::StatusOr<Message> init = DecodeMessage(initialize_frame->text);
    if (!init.ok()) {
      Fail(absl::InternalError("cannot replay initialize"));
      return;
    }
    RequestId id = NextInternalId("init");
    init->SetId(id);
    waiting.push_front(Internal(*std::move(init)));
  }

  RequestId NextInternalId(absl::string_view what) {
    RequestId id(absl::StrCat(kPrivateIdPrefix, what, "-", next_internal_id++));
    return id;
  }

  OutFrame Internal(const Message& m) {
    OutFrame frame = Describe(m.Serialize());
    frame.internal = true;
    for (const RequestId& id : frame.requests) {
      internal_requests.insert(id);
    }
    return frame;
  }

  void LegacyGetDone(Transfer& t, CURLcode code) {
    if (code != CURLE_OK) {
      Fail(TransportError(t, code));
      return;
    }
    if (t.status / 100 != 2) {
      absl::Status error = HttpError(t);
      if (streamable_refusal.has_value() && t.status != 401 && t.status != 403) {
        error = absl::Status(
            error.code(),
            absl::StrCat("no MCP server at ", options.url, ": a Streamable HTTP POST was answered ",
                         *streamable_refusal, " and a legacy HTTP+SSE GET ", t.status,
                         Quote(t.body.oversized() ? "" : t.body.text())));
      }
      Fail(error);
      return;
    }
    if (!t.is_sse()) {
      Fail(absl::InvalidArgumentError(
          absl::StrCat(t.url, " answered the HTTP+SSE GET with Content-Type '", t.content_type,
                       "' (expected text/event-stream)")));
      return;
    }
    Fail(absl::UnavailableError(absl::StrCat("the HTTP+SSE event stream from ", options.url,
                                             " ended (the legacy transport cannot resume)")));
  }

  void LegacyPostDone(Transfer& t, CURLcode code) {
    legacy_post_in_flight = false;
    if (code != CURLE_OK) {
      Fail(TransportError(t, code));
      return;
    }
    if (t.status / 100 != 2) {
      Fail(HttpError(t));
    }
  }
};

}  // namespace http_client_internal

// --- The loop thread

void HttpClientLoop::Impl::RunPosted() {
  std::deque<absl::AnyInvocable<void() &&>> batch;
  {
    absl::MutexLock lock(&mu);
    batch.swap(posted);
  }
  for (auto& fn : batch) {
    std::move(fn)();
  }
}

void HttpClientLoop::Impl::RunTimers() {
  absl::Time now = absl::Now();
  std::vector<uint64_t> due;
  for (auto& [id, timer] : timers) {
    if (timer.due <= now) {
      due.push_back(id);
    }
  }
  for (uint64_t id : due) {
    auto it = timers.find(id);
    if (it == timers.end()) {
      continue;  // cancelled by an earlier one
    }
    absl::AnyInvocable<void()&&> fn = std::move(it->second.fn);
    timers.erase(it);
    std::move(fn)();
  }
}

int HttpClientLoop::Impl::PollTimeoutMs() {
  int64_t ms = 1000;
  long curl_ms = -1;
  Curl().multi_timeout(multi, &curl_ms);
  if (curl_ms >= 0) {
    ms = std::min<int64_t>(ms, curl_ms);
  }
  absl::Time now = absl::Now();
  for (const auto& [id, timer] : timers) {
    ms =
        std::min<int64_t>(ms, std::max<int64_t>(0, absl::ToInt64Milliseconds(timer.due - now) + 1));
  }
  return static_cast<int>(ms);
}

// Closes every transport (their sinks get OnTransportClosed) before the thread ends.
void HttpClientLoop::Impl::Shutdown() {
  std::vector<std::shared_ptr<Core>> all;
  {
    absl::MutexLock lock(&mu);
    all.assign(cores.begin(), cores.end());
  }
  for (const std::shared_ptr<Core>& core : all) {
    core->Fail(absl::UnavailableError(
        absl::StrCat("the HTTP client loop serving ", core->options.url, " was destroyed")));
  }
  RunPosted();
  for (const std::shared_ptr<Core>& core : all) {
    core->Teardown(/*end_session=*/true);
  }
}

void HttpClientLoop::Impl::Run() noexcept {
  loop_thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
  std::optional<absl::Time> stop_by;
  while (true) {
    RunPosted();
    RunTimers();
    if (!stop_by.has_value()) {
      bool stop;
      bool quiet;
      {
        absl::MutexLock lock(&mu);
        stop = stopping;
        quiet = quiet_stop;
      }
      if (stop && quiet) {
        break;
      }
      if (stop) {
        Shutdown();
        RunPosted();
        stop_by = absl::Now() + kDeleteTimeout + absl::Milliseconds(500);
      }
    }
    if (stop_by.has_value() && (orphans.empty() || absl::Now() > *stop_by)) {
      break;
    }
    int running = 0;
    Curl().multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = Curl().multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      CURL* easy = msg->easy_handle;
      CURLcode code = msg->data.result;
      char* priv = nullptr;
      Curl().easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
      auto* t = reinterpret_cast<Transfer*>(priv);
      Remove(t);
      if (t->core == nullptr) {
        orphans.erase(t);
        continue;
      }
      std::shared_ptr<Core> core = t->core->shared_from_this();
      core->OnDone(t, code);
    }
    {
      absl::MutexLock lock(&mu);
      if (!posted.empty()) {
        continue;
      }
    }
    Curl().multi_poll(multi, nullptr, 0, PollTimeoutMs(), nullptr);
  }
  for (auto& [t, owned] : orphans) {
    Remove(t);
  }
  orphans.clear();
}

// --- The public types

namespace {

class HttpClientTransport final : public Transport {
 public:
  explicit HttpClientTransport(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~HttpClientTransport() override { core_->Close(); }

  absl::Status Start(TransportSink* sink) override { return core_->Start(sink); }
  absl::Status Send(absl::string_view frame, const SendOptions& options) override {
    return core_->Send(frame, options);
  }
  void Close() override { core_->Close(); }
  size_t max_message_bytes() const override { return core_->options.max_message_bytes; }
  TransportStats stats() const override {
    return TransportStats{.queued_bytes = core_->queued_bytes.load(),
                          .dropped_messages = core_->dropped.load()};
  }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

HttpClientLoop::HttpClientLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpClientLoop>> HttpClientLoop::Create() {
  if (absl::Status loaded = http_client_internal::LoadCurl(); !loaded.ok()) {
    return loaded;
  }
  auto impl = std::make_unique<Impl>();
  impl->multi = Curl().multi_init();
  if (impl->multi == nullptr) {
    return absl::InternalError("curl_multi_init failed");
  }
  Impl* raw = impl.get();
  raw->thread = std::thread([raw]() { raw->Run(); });
  return std::unique_ptr<HttpClientLoop>(new HttpClientLoop(std::move(impl)));
}

HttpClientLoop& HttpClientLoop::Default() {
  // Never destroyed: transports may be closed during static destruction. Its thread stops at
  // exit, before the statics that were there when it started (the log registry among them)
  // are destroyed: it must not log into them.
  static HttpClientLoop* loop = []() {
    spdlog::default_logger();  // the registry exists before the exit handler below
    absl::StatusOr<std::unique_ptr<HttpClientLoop>> created = Create();
    if (!created.ok()) {
      spdlog::critical("cannot start the HTTP client loop: {}", created.status());
      std::abort();
    }
    return created->release();
  }();
  static std::once_flag at_exit;
  std::call_once(at_exit, []() { std::atexit([]() { loop->impl_->Stop(/*at_exit=*/true); }); });
  return *loop;
}

HttpClientLoop::~HttpClientLoop() {
  impl_->Stop();
  // Transports closed later post to a loop that no longer runs; drop what they posted.
  absl::MutexLock lock(&impl_->mu);
  impl_->posted.clear();
  impl_->cores.clear();
}

absl::StatusOr<TransportPtr> CreateHttpClientTransport(HttpClientOptions options) {
  if (absl::Status loaded = http_client_internal::LoadCurl(); !loaded.ok()) {
    return loaded;
  }
  std::string origin = OriginOf(options.url);
  if (!absl::StartsWithIgnoreCase(options.url, "http://") &&
      !absl::StartsWithIgnoreCase(options.url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", options.url,
                     "' is not an http:// or https:// URL (an MCP server's HTTP endpoint, "
                     "e.g. https://mcp.example.com/mcp)"));
  }
  if (origin.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", options.url, "' is not a valid URL (e.g. https://mcp.example.com/mcp)"));
  }
  if (options.max_message_bytes == 0) {
    return absl::InvalidArgumentError("max_message_bytes must be positive");
  }
  HttpClientLoop& loop = options.loop != nullptr ? *options.loop : HttpClientLoop::Default();
  auto core = std::make_shared<Core>(std::move(options), loop.impl());
  {
    absl::MutexLock lock(&loop.impl()->mu);
    loop.impl()->cores.insert(core);
  }
  return std::make_unique<HttpClientTransport>(std::move(core));
}

}  // namespace mcpgw::mcp
