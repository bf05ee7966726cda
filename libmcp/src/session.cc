#include "mcpgw/mcp/session.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <exception>
#include <limits>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "mcpgw/base/fmt.h"

namespace mcpgw::mcp {

namespace session_internal {

// One incoming request between its arrival and its answer. The session's `incoming_` map
// holds it while it may still be answered: whoever removes it from the map (the answer, a
// cancellation, the session closing) decides its fate, exactly once.
struct InFlight {
  std::weak_ptr<Session> session;
  Message message;
  RequestId id;
  std::optional<ProgressToken> progress_token;
  std::shared_ptr<Batch> batch;

  absl::Mutex mu;
  bool answered ABSL_GUARDED_BY(mu) = false;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  // Set while the dispatcher calls the handler: if the handler throws, the dispatcher answers
  // with the exception's message (not the destructor of the unwound IncomingRequest).
  std::atomic<bool> dispatching{false};
  // Set when the request object died during an exception inside the handler: if the handler
  // then returns normally (it caught the exception itself), the dispatcher answers.
  std::atomic<bool> abandoned{false};
  std::optional<double> last_progress ABSL_GUARDED_BY(mu);
  absl::AnyInvocable<void() &&> on_cancel ABSL_GUARDED_BY(mu);

  InFlight(std::weak_ptr<Session> s, Message m, RequestId i)
      : session(std::move(s)), message(std::move(m)), id(std::move(i)) {}

  // Marks the request cancelled and runs the cancel callback (outside the lock).
  void MarkCancelled() {
    absl::AnyInvocable<void() &&> fn;
    {
      absl::MutexLock lock(&mu);
      cancelled = true;
      fn = std::move(on_cancel);
    }
    if (fn) {
      std::move(fn)();
    }
  }
};

// Collects the answers to the requests of one JSON-RPC batch, sent together as an array.
struct Batch {
  absl::Mutex mu;
  size_t outstanding ABSL_GUARDED_BY(mu) = 0;
  std::vector<Message> responses ABSL_GUARDED_BY(mu);

  // Adds an answer (or, with nullopt, notes that one will never come). Returns the array to
  // send when this was the last one outstanding.
  std::optional<std::string> Add(std::optional<Message> response) {
    absl::MutexLock lock(&mu);
    if (response.has_value()) {
      responses.push_back(*std::move(response));
    }
    if (--outstanding > 0 || responses.empty()) {
      return std::nullopt;
    }
    return EncodeBatch(responses);
  }
};

// Lets a warning through at most once per interval and counts what it held back.
struct LogLimiter {
  static constexpr absl::Duration kInterval = absl::Seconds(10);
  absl::Mutex mu;
  absl::Time next ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  uint64_t suppressed ABSL_GUARDED_BY(mu) = 0;

  // Allow returns nullopt to stay silent, otherwise how many were held back since the last.
  std::optional<uint64_t> Allow() {
    absl::MutexLock lock(&mu);
    absl::Time now = absl::Now();  // real time: this is about log volume, not protocol time
    if (now < next) {
      ++suppressed;
      return std::nullopt;
    }
    next = now + kInterval;
    return std::exchange(suppressed, 0);
  }
};

}  // namespace session_internal

using session_internal::InFlight;
using session_internal::LogLimiter;

struct Session::HandlerEntry {
  RequestHandler handler;
  HandlerMode mode;
};

struct Session::Pending {
  std::string method;
  ResponseCallback done;
  std::shared_ptr<ProgressCallback> on_progress;
  std::optional<ProgressToken> token;
  base::TimerId timer = 0;
  absl::Duration timeout;
  absl::Time hard_deadline;
  bool reset_on_progress = true;
};

namespace {

constexpr absl::string_view kPing = "ping";
constexpr absl::string_view kInitialize = "initialize";
constexpr absl::string_view kCancelled = "notifications/cancelled";
constexpr absl::string_view kProgress = "notifications/progress";
constexpr absl::string_view kLogMessage = "notifications/message";
constexpr absl::string_view kElicitationCreate = "elicitation/create";

std::string Seconds(absl::Duration d) { return absl::FormatDuration(d); }

std::optional<ProgressToken> ProgressTokenOf(const JsonValue* params) {
  if (params == nullptr) {
    return std::nullopt;
  }
  const JsonValue* meta = FindMember(*params, "_meta");
  if (meta == nullptr) {
    return std::nullopt;
  }
  const JsonValue* token = FindMember(*meta, "progressToken");
  if (token == nullptr) {
    return std::nullopt;
  }
  absl::StatusOr<RequestId> parsed = RequestId::FromJson(*token);
  if (!parsed.ok()) {
    return std::nullopt;
  }
  return *std::move(parsed);
}

// --- Reading what we can of an oversized frame (best effort; it was never parsed).

// Bytes of a frame that cannot be parsed which are scanned for its id.
constexpr size_t kOversizedKeptBytes = 512;

// Parses a JSON id value (integer or simple string) at the start of `s`.
std::optional<RequestId> ParseIdPrefix(absl::string_view s, size_t* consumed) {
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) {
    ++i;
  }
  if (i < s.size() && s[i] == '"') {
    size_t end = s.find('"', i + 1);
    if (end == absl::string_view::npos) {
      return std::nullopt;
    }
    absl::string_view body = s.substr(i + 1, end - i - 1);
    if (body.find('\\') != absl::string_view::npos) {
      return std::nullopt;  // escapes: not worth guessing
    }
    *consumed = end + 1;
    return RequestId(std::string(body));
  }
  size_t start = i;
  if (i < s.size() && s[i] == '-') {
    ++i;
  }
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    ++i;
  }
  if (i == start || (i < s.size() && (s[i] == '.' || s[i] == 'e' || s[i] == 'E'))) {
    return std::nullopt;
  }
  int64_t v = 0;
  if (absl::SimpleAtoi(s.substr(start, i - start), &v)) {
    *consumed = i;
    return RequestId(v);
  }
  uint64_t u = 0;
  if (absl::SimpleAtoi(s.substr(start, i - start), &u)) {
    *consumed = i;
    return RequestId::Unsigned(u);
  }
  return std::nullopt;
}

struct FrameGuess {
  std::optional<RequestId> id;
  bool has_method = false;
  bool has_result = false;
};

// Reads the top-level members at the start of a frame until the first nested value.
void ScanHead(absl::string_view head, FrameGuess& guess) {
  size_t i = head.find_first_not_of(" \t\r");
  if (i == absl::string_view::npos || head[i] != '{') {
    return;
  }
  ++i;
  while (i < head.size()) {
    while (i < head.size() && (std::isspace(static_cast<unsigned char>(head[i])) ||
                               head[i] == ',')) {
      ++i;
    }
    if (i >= head.size() || head[i] != '"') {
      return;
    }
    size_t key_end = head.find('"', i + 1);
    if (key_end == absl::string_view::npos) {
      return;
    }
    absl::string_view key = head.substr(i + 1, key_end - i - 1);
    i = head.find(':', key_end);
    if (i == absl::string_view::npos) {
      return;
    }
    ++i;
    if (key == "method") {
      guess.has_method = true;
    } else if (key == "result" || key == "error") {
      guess.has_result = true;
    }
    while (i < head.size() && std::isspace(static_cast<unsigned char>(head[i]))) {
      ++i;
    }
    if (i >= head.size() || head[i] == '{' || head[i] == '[') {
      return;  // a nested value: the rest of the head cannot be read reliably
    }
    if (key == "id") {
      size_t used = 0;
      if (auto id = ParseIdPrefix(head.substr(i), &used)) {
        guess.id = std::move(id);
      }
    }
    // Skip a scalar value.
    if (head[i] == '"') {
      size_t j = i + 1;
      while (j < head.size() && head[j] != '"') {
        j += head[j] == '\\' ? 2 : 1;
      }
      i = j + 1;
    } else {
      while (i < head.size() && head[i] != ',' && head[i] != '}') {
        ++i;
      }
    }
  }
}

// Finds `"id":<value>` among the last top-level members, as TypeScript SDK peers write them
// ({"method":…,"params":…,"jsonrpc":"2.0","id":5}).
void ScanTail(absl::string_view tail, FrameGuess& guess) {
  if (guess.id.has_value()) {
    return;
  }
  size_t end = tail.find_last_not_of(" \t\r");
  if (end == absl::string_view::npos || tail[end] != '}') {
    return;
  }
  size_t pos = tail.rfind("\"id\":");
  if (pos == absl::string_view::npos) {
    return;
  }
  size_t used = 0;
  absl::string_view rest = tail.substr(pos + 5);
  std::optional<RequestId> id = ParseIdPrefix(rest, &used);
  if (!id.has_value()) {
    return;
  }
  absl::string_view after = rest.substr(used, end - (pos + 5) - used + 1);
  // Accept `}` or `,"jsonrpc":"2.0"}` after the id.
  std::string compact;
  for (char c : after) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      compact.push_back(c);
    }
  }
  if (compact == "}" || compact == ",\"jsonrpc\":\"2.0\"}") {
    guess.id = std::move(id);
  }
}

}  // namespace

// --- IncomingRequest

IncomingRequest::IncomingRequest(std::shared_ptr<InFlight> state) : state_(std::move(state)) {}
IncomingRequest::IncomingRequest(IncomingRequest&&) noexcept = default;
IncomingRequest& IncomingRequest::operator=(IncomingRequest&& other) noexcept {
  if (this != &other) {
    IncomingRequest old(std::move(*this));  // answers the request it held, if unanswered
    state_ = std::move(other.state_);
  }
  return *this;
}

IncomingRequest::~IncomingRequest() {
  if (state_ == nullptr) {
    return;
  }
  bool unanswered;
  {
    absl::MutexLock lock(&state_->mu);
    unanswered = !state_->answered && !state_->cancelled;
  }
  if (unanswered && state_->dispatching.load() && std::uncaught_exceptions() > 0) {
    state_->abandoned = true;  // the dispatcher answers, whether the exception escapes or not
    return;
  }
  if (unanswered) {
    spdlog::warn("handler for '{}' (request {}) finished without answering",
                 state_->message.method(), state_->id.ToString());
    RespondError(ErrorObject{error_code::kInternalError,
                             absl::StrCat("internal error: the handler for '",
                                          state_->message.method(),
                                          "' finished without an answer"),
                             Json()});
  }
}

const RequestId& IncomingRequest::id() const { return state_->id; }
absl::string_view IncomingRequest::method() const { return state_->message.method(); }
const JsonValue* IncomingRequest::params() const { return state_->message.params(); }
Message& IncomingRequest::message() { return state_->message; }
const std::optional<ProgressToken>& IncomingRequest::progress_token() const {
  return state_->progress_token;
}

bool IncomingRequest::cancelled() const {
  absl::MutexLock lock(&state_->mu);
  return state_->cancelled;
}

void IncomingRequest::OnCancel(absl::AnyInvocable<void() &&> fn) {
  {
    absl::MutexLock lock(&state_->mu);
    if (!state_->cancelled) {
      state_->on_cancel = std::move(fn);
      return;
    }
  }
  std::move(fn)();
}

absl::Status IncomingRequest::SendProgress(double progress, std::optional<double> total,
                                           std::optional<absl::string_view> message) {
  if (!state_->progress_token.has_value()) {
    return absl::OkStatus();
  }
  {
    absl::MutexLock lock(&state_->mu);
    if (state_->answered || state_->cancelled ||
        (state_->last_progress.has_value() && progress <= *state_->last_progress)) {
      return absl::OkStatus();
    }
    state_->last_progress = progress;
  }
  std::shared_ptr<Session> session = state_->session.lock();
  if (session == nullptr) {
    return absl::UnavailableError("the session is gone");
  }
  Json params = Json::Object();
  JsonAllocator& alloc = params.allocator();
  params.Set("progressToken", state_->progress_token->ToJson(alloc));
  params.Set("progress", JsonNumber(progress));
  if (total.has_value()) {
    params.Set("total", JsonNumber(*total));
  }
  if (message.has_value()) {
    params.Set("message", *message);
  }
  return session->SendNotification(kProgress, std::move(params),
                                   SendOptions{.related_request = state_->id});
}

absl::Status IncomingRequest::SendNotification(absl::string_view method, Json params) {
  std::shared_ptr<Session> session = state_->session.lock();
  if (session == nullptr) {
    return absl::UnavailableError("the session is gone");
  }
  return session->SendNotification(method, std::move(params),
                                   SendOptions{.related_request = state_->id});
}

void IncomingRequest::SendRequest(absl::string_view method, Json params, RequestOptions options,
                                  ResponseCallback done) {
  std::shared_ptr<Session> session = state_->session.lock();
  if (session == nullptr) {
    std::move(done)(absl::UnavailableError("the session is gone"));
    return;
  }
  options.related_request = state_->id;
  session->SendRequest(method, std::move(params), std::move(options), std::move(done));
}

void IncomingRequest::Respond(absl::StatusOr<Json> result) {
  if (result.ok()) {
    RespondWith(Message::Response(state_->id, *std::move(result)));
  } else {
    RespondError(ToErrorObject(result.status()));
  }
}

void IncomingRequest::RespondError(const ErrorObject& error) {
  RespondWith(Message::Error(state_->id, error));
}

void IncomingRequest::RespondWith(Message response) {
  std::shared_ptr<Session> session = Claim();
  if (session == nullptr) {
    return;
  }
  if (!response.is_response() || response.id() != state_->id) {
    response.SetId(state_->id);
  }
  session->Answer(state_->batch, state_->id, std::move(response));
  Release(*session);
}

void IncomingRequest::RespondSerialized(absl::string_view result) {
  std::shared_ptr<Session> session = Claim();
  if (session == nullptr) {
    return;
  }
  session->AnswerText(state_->batch, state_->id,
                      absl::StrCat(R"({"jsonrpc":"2.0","id":)", state_->id.ToString(),
                                   R"(,"result":)", result, "}"));
  Release(*session);
}

std::shared_ptr<Session> IncomingRequest::Claim() {
  if (state_ == nullptr) {
    return nullptr;
  }
  {
    absl::MutexLock lock(&state_->mu);
    if (state_->answered) {
      spdlog::error("request {} ('{}') answered twice; the second answer is dropped",
                    state_->id.ToString(), state_->message.method());
      return nullptr;
    }
    state_->answered = true;
  }
  std::shared_ptr<Session> session = state_->session.lock();
  if (session == nullptr) {
    return nullptr;
  }
  absl::MutexLock lock(&session->mu_);
  auto it = session->incoming_.find(state_->id);
  if (it == session->incoming_.end() || it->second != state_) {
    return nullptr;  // cancelled by the peer, or the session closed: no answer may be sent
  }
  session->incoming_.erase(it);
  ++session->answering_;  // a drained session waits until this answer is written
  return session;
}

void IncomingRequest::Release(Session& session) {
  {
    absl::MutexLock lock(&session.mu_);
    --session.answering_;
  }
  session.FinishIfDrained();
}

std::shared_ptr<Session> IncomingRequest::session() const { return state_->session.lock(); }

// --- Session

std::shared_ptr<Session> Session::Create(TransportPtr transport, SessionOptions options) {
  return std::shared_ptr<Session>(new Session(std::move(transport), std::move(options)));
}

Session::Session(TransportPtr transport, SessionOptions options)
    : options_(std::move(options)),
      malformed_log_(std::make_unique<LogLimiter>()),
      dropped_log_(std::make_unique<LogLimiter>()),
      executor_(options_.executor != nullptr ? *options_.executor : base::DefaultExecutor()),
      clock_(options_.clock != nullptr ? *options_.clock : base::RealClock()),
      transport_(std::move(transport)),
      version_(options_.protocol_version) {}

Session::~Session() { Close(); }

void Session::SetRequestHandler(absl::string_view method, RequestHandler handler,
                                HandlerMode mode) {
  auto entry = std::make_shared<const HandlerEntry>(HandlerEntry{std::move(handler), mode});
  absl::MutexLock lock(&mu_);
  request_handlers_[std::string(method)] = std::move(entry);
}

void Session::SetFallbackRequestHandler(RequestHandler handler, HandlerMode mode) {
  auto entry = std::make_shared<const HandlerEntry>(HandlerEntry{std::move(handler), mode});
  absl::MutexLock lock(&mu_);
  fallback_request_handler_ = std::move(entry);
}

void Session::SetNotificationHandler(absl::string_view method, NotificationHandler handler) {
  auto entry = std::make_shared<const NotificationHandler>(std::move(handler));
  absl::MutexLock lock(&mu_);
  notification_handlers_[std::string(method)] = std::move(entry);
}

void Session::SetFallbackNotificationHandler(NotificationHandler handler) {
  auto entry = std::make_shared<const NotificationHandler>(std::move(handler));
  absl::MutexLock lock(&mu_);
  fallback_notification_handler_ = std::move(entry);
}

void Session::SetClosedCallback(ClosedCallback callback) {
  absl::MutexLock lock(&mu_);
  closed_callback_ = std::move(callback);
}

absl::Status Session::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) {
      return absl::FailedPreconditionError("session started twice");
    }
    if (closed_) {
      return absl::FailedPreconditionError("session already closed");
    }
    started_ = true;
  }
  return transport_->Start(this);
}

void Session::SetProtocolVersion(ProtocolVersion version) {
  absl::MutexLock lock(&mu_);
  version_ = version;
}

std::optional<ProtocolVersion> Session::protocol_version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

bool Session::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

bool Session::peer_output_ended() const {
  absl::MutexLock lock(&mu_);
  return closed_ || input_ended_;
}

size_t Session::outgoing_in_flight() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

size_t Session::incoming_in_flight() const {
  absl::MutexLock lock(&mu_);
  return incoming_.size();
}

// --- Reading

void Session::OnFrame(absl::string_view text) {
  std::shared_ptr<Session> self = weak_from_this().lock();
  if (self == nullptr) {
    return;  // being destroyed
  }
  std::optional<ProtocolVersion> version = protocol_version();
  std::string refusal =
      version.has_value() ? absl::StrCat("protocol version ", ToString(*version))
                          : std::string("a session that has not negotiated a protocol version");
  Frame frame = DecodeFrame(
      text, DecodeOptions{.allow_batch = version.has_value() &&
                                         Supports(*version, Feature::kJsonRpcBatches),
                          .batch_refusal_reason = refusal,
                          .max_depth = options_.max_json_depth});
  std::shared_ptr<Batch> batch;
  if (frame.batch) {
    batch = std::make_shared<Batch>();
    size_t answers = 0;
    for (const FrameItem& item : frame.items) {
      if (const auto* m = std::get_if<Message>(&item)) {
        answers += m->is_request() ? 1 : 0;
      } else {
        answers += std::get<DecodeError>(item).answerable() ? 1 : 0;
      }
    }
    absl::MutexLock lock(&batch->mu);
    batch->outstanding = answers;
  }
  for (FrameItem& item : frame.items) {
    if (auto* error = std::get_if<DecodeError>(&item)) {
      HandleMalformed(text, *error, batch);
      continue;
    }
    HandleMessage(std::get<Message>(std::move(item)), batch);
  }
}

void Session::HandleMalformed(absl::string_view text, const DecodeError& error,
                              const std::shared_ptr<Batch>& batch) {
  // A peer that prints garbage may do so on every line: one warning per interval.
  auto warn = [&](absl::string_view what) {
    if (std::optional<uint64_t> held_back = malformed_log_->Allow()) {
      constexpr size_t kQuoted = 80;
      spdlog::warn("{}: {}: {} (line starts with '{}'{})", options_.name, what, error.message,
                   text.substr(0, kQuoted),
                   *held_back > 0 ? absl::StrCat("; ", *held_back, " more since the last warning")
                                  : std::string());
    }
  };
  if (error.code == error_code::kParseError) {
    // Not JSON. If it reads like an answer to one of our requests (a truncated response, as a
    // crashing server leaves behind), that request fails now instead of waiting for its
    // timeout.
    FrameGuess guess;
    ScanHead(text.substr(0, kOversizedKeptBytes), guess);
    if (guess.has_result && !guess.has_method && guess.id.has_value()) {
      warn(absl::StrCat("dropped a response to request ", guess.id->ToString(),
                        " that is not valid JSON"));
      FailPending(*guess.id, absl::InternalError(absl::StrCat(
                                 options_.name, " sent a response to request ",
                                 guess.id->ToString(), " that is not valid JSON: ",
                                 error.message)));
      return;
    }
  }
  if (error.answerable()) {
    warn("answering a malformed message");
    // Nobody waits for an answer with id null: it may be dropped when the peer is slow (a
    // peer printing garbage fast while not reading must not grow our queue).
    Answer(batch, error.id.value_or(RequestId()), error.ToMessage(),
           /*droppable=*/!error.id.has_value());
  } else if (error.is_response && error.id.has_value()) {
    FailPending(*error.id,
                absl::InternalError(absl::StrCat(options_.name, " sent an ", error.message)));
  } else {
    warn("dropped a malformed message");
  }
}

void Session::HandleMessage(Message message, const std::shared_ptr<Batch>& batch) {
  switch (message.kind()) {
    case MessageKind::kRequest:
      HandleRequest(std::move(message), batch);
      return;
    case MessageKind::kNotification:
      HandleNotification(message);
      return;
    case MessageKind::kResponse:
    case MessageKind::kErrorResponse:
      HandleResponse(std::move(message));
      return;
  }
}

void Session::HandleRequest(Message message, const std::shared_ptr<Batch>& batch) {
  RequestId id = *message.id();
  std::string method(message.method());
  std::shared_ptr<const HandlerEntry> handler;
  std::optional<ErrorObject> refusal;
  std::shared_ptr<InFlight> state;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      return;
    }
    auto it = request_handlers_.find(method);
    if (it != request_handlers_.end()) {
      handler = it->second;
    } else if (method != kPing) {
      handler = fallback_request_handler_;
    }
    if (handler == nullptr && method != kPing) {
      refusal = ErrorObject{error_code::kMethodNotFound,
                            absl::StrCat("Method not found: ", method), Json()};
    } else if (incoming_.contains(id)) {
      refusal = ErrorObject{
          error_code::kInvalidRequest,
          absl::StrCat("Invalid Request: id ", id.ToString(),
                       " is already used by a request still in progress; ids must be unique"),
          Json()};
    } else if (incoming_.size() >= options_.max_incoming_requests) {
      refusal = ErrorObject{
          error_code::kServerBusy,
          absl::StrCat("server busy: ", incoming_.size(),
                       " requests are already in progress on this session; retry later"),
          Json()};
    } else {
      state = std::make_shared<InFlight>(weak_from_this(), std::move(message), id);
      state->progress_token = ProgressTokenOf(state->message.params());
      state->batch = batch;
      incoming_.emplace(id, state);
    }
  }
  if (refusal.has_value()) {
    Answer(batch, id, Message::Error(id, *refusal));
    return;
  }
  if (handler == nullptr) {  // ping without a handler of its own
    IncomingRequest(std::move(state)).Respond(Json::Object());
    return;
  }
  auto run = [handler, state]() {
    {
      absl::MutexLock lock(&state->mu);
      if (state->cancelled) {
        return;  // cancelled before it started: no handler, no answer
      }
    }
    state->dispatching = true;
    try {
      handler->handler(IncomingRequest(state));
      state->dispatching = false;
      if (state->abandoned) {
        // The request died while an exception the handler caught itself was in flight.
        IncomingRequest(state).Respond(absl::InternalError(absl::StrCat(
            "the handler for '", state->message.method(), "' failed without an answer")));
      }
    } catch (const std::exception& e) {
      state->dispatching = false;
      IncomingRequest(state).Respond(absl::InternalError(
          absl::StrCat("the handler for '", state->message.method(), "' failed: ", e.what())));
    } catch (...) {
      state->dispatching = false;
      IncomingRequest(state).Respond(absl::InternalError(
          absl::StrCat("the handler for '", state->message.method(), "' failed")));
    }
  };
  if (handler->mode == HandlerMode::kInline) {
    run();
  } else {
    executor_.Post(std::move(run));
  }
}

void Session::HandleNotification(const Message& message) {
  absl::string_view method = message.method();
  if (method == kCancelled) {
    HandleCancelled(message);
    return;
  }
  if (method == kProgress) {
    HandleProgress(message);
  }
  std::shared_ptr<const NotificationHandler> handler;
  {
    absl::MutexLock lock(&mu_);
    auto it = notification_handlers_.find(std::string(method));
    handler = it != notification_handlers_.end() ? it->second : fallback_notification_handler_;
  }
  if (handler != nullptr) {
    try {
      (*handler)(message);
    } catch (const std::exception& e) {
      spdlog::error("{}: the handler for notification '{}' failed: {}", options_.name, method,
                    e.what());
    } catch (...) {
      spdlog::error("{}: the handler for notification '{}' failed", options_.name, method);
    }
  } else if (method != kProgress) {
    spdlog::debug("{}: ignoring notification '{}'", options_.name, method);
  }
}

void Session::HandleCancelled(const Message& message) {
  const JsonValue* params = message.params();
  const JsonValue* request_id = params != nullptr ? FindMember(*params, "requestId") : nullptr;
  if (request_id == nullptr) {
    spdlog::debug("{}: ignoring a cancellation without requestId", options_.name);
    return;
  }
  absl::StatusOr<RequestId> id = RequestId::FromJson(*request_id);
  if (!id.ok()) {
    spdlog::debug("{}: ignoring a malformed cancellation: {}", options_.name,
                  id.status().message());
    return;
  }
  std::shared_ptr<InFlight> state;
  {
    absl::MutexLock lock(&mu_);
    auto it = incoming_.find(*id);
    if (it == incoming_.end()) {
      return;  // finished already, or never existed: the spec says ignore
    }
    if (it->second->message.method() == kInitialize) {
      spdlog::debug("{}: ignoring cancellation of initialize", options_.name);
      return;
    }
    state = std::move(it->second);
    incoming_.erase(it);
  }
  spdlog::debug("{}: peer cancelled request {}", options_.name, id->ToString());
  state->MarkCancelled();
  absl::Cleanup finish = [this] { FinishIfDrained(); };
  if (state->batch != nullptr) {
    if (std::optional<std::string> array = state->batch->Add(std::nullopt)) {
      SendBatchAnswer(*state->batch, *std::move(array));
    }
  }
}

void Session::HandleProgress(const Message& message) {
  const JsonValue* params = message.params();
  const JsonValue* token_value =
      params != nullptr ? FindMember(*params, "progressToken") : nullptr;
  if (token_value == nullptr) {
    return;
  }
  absl::StatusOr<ProgressToken> token = RequestId::FromJson(*token_value);
  if (!token.ok()) {
    return;
  }
  std::shared_ptr<ProgressCallback> callback;
  {
    absl::MutexLock lock(&mu_);
    auto t = progress_tokens_.find(*token);
    if (t == progress_tokens_.end()) {
      return;
    }
    auto p = pending_.find(t->second);
    if (p == pending_.end()) {
      return;
    }
    Pending& pending = *p->second;
    callback = pending.on_progress;
    if (pending.reset_on_progress) {
      absl::Duration remaining = std::min(pending.timeout, pending.hard_deadline - clock_.Now());
      clock_.Cancel(pending.timer);
      ScheduleTimeout(p->first, pending, std::max(remaining, absl::ZeroDuration()));
    }
  }
  if (callback != nullptr && *callback) {
    (*callback)(message);
  }
}

void Session::HandleResponse(Message message) {
  if (!message.id().has_value()) {
    ErrorObject e = message.error();
    spdlog::warn("{}: peer reported an error not tied to a request: {} {}", options_.name, e.code,
                 e.message);
    return;
  }
  std::unique_ptr<Pending> pending;
  {
    absl::MutexLock lock(&mu_);
    pending = TakePending(*message.id());
  }
  if (pending == nullptr) {
    spdlog::debug("{}: dropping a response to request {} (cancelled, timed out or unknown)",
                  options_.name, message.id()->ToString());
    return;
  }
  std::move(pending->done)(std::move(message));
}

void Session::OnOversizedFrame(const OversizedFrame& frame) {
  std::shared_ptr<Session> self = weak_from_this().lock();
  if (self == nullptr) {
    return;
  }
  FrameGuess guess;
  ScanHead(frame.head, guess);
  ScanTail(frame.tail, guess);
  // Only a frame that shows `result`/`error` and no `method` is taken for a response: both
  // sides number requests from 1, so an id alone says nothing about the direction.
  bool is_response = guess.has_result && !guess.has_method;
  std::string what = absl::StrCat("message of ", frame.size, " bytes exceeds the limit of ",
                                  frame.limit, " bytes");
  spdlog::warn("{}: dropped a {}", options_.name, what);
  if (is_response) {
    if (guess.id.has_value()) {
      FailPending(*guess.id,
                  absl::ResourceExhaustedError(absl::StrCat(
                      "the response from ", options_.name, " was dropped: ", what,
                      "; raise the maximum message size if such results are expected")));
      return;
    }
    // A response to one of our requests, but which one cannot be told: that request would
    // wait for its timeout, and nothing the peer says can be matched with certainty any more.
    // The connection is closed: every pending request fails now.
    transport_->Close();
    Shutdown(absl::UnavailableError(absl::StrCat(
        "connection to ", options_.name, " closed: it sent a response whose id could not be read (",
        what, ")")));
    return;
  }
  if (guess.has_method && !guess.id.has_value()) {
    return;  // a notification (no id seen): never answered
  }
  Answer(nullptr, guess.id.value_or(RequestId()),
         Message::Error(guess.id, error_code::kInvalidRequest,
                        absl::StrCat("Invalid Request: ", what, "; send smaller messages")));
}

void Session::OnTransportClosed(absl::Status status) {
  std::shared_ptr<Session> self = weak_from_this().lock();
  if (self == nullptr) {
    return;
  }
  if (!status.ok()) {
    spdlog::warn("{}: connection lost: {}", options_.name, status);
    Shutdown(absl::UnavailableError(
        absl::StrCat("connection to ", options_.name, " lost: ", status.message())));
    return;
  }
  // An orderly end of the peer's output: nothing more will arrive, so requests we sent can no
  // longer be answered, but requests we received still are (our output may still be read, as
  // with `printf '...' | server`). The session closes once they are all answered.
  spdlog::debug("{}: the peer ended its output", options_.name);
  absl::flat_hash_map<RequestId, std::unique_ptr<Pending>> pending;
  bool idle;
  {
    absl::MutexLock lock(&mu_);
    input_ended_ = true;
    pending.swap(pending_);
    progress_tokens_.clear();
    for (auto& [id, p] : pending) {
      clock_.Cancel(p->timer);
    }
    idle = incoming_.empty() && answering_ == 0;
  }
  for (auto& [id, p] : pending) {
    std::move(p->done)(absl::UnavailableError(
        absl::StrCat(options_.name, " closed the connection before answering '", p->method,
                     "' (request ", id.ToString(), ")")));
  }
  if (idle) {
    Shutdown(absl::UnavailableError(absl::StrCat("connection to ", options_.name, " closed")),
             absl::OkStatus());
  }
}

void Session::FinishIfDrained() {
  {
    absl::MutexLock lock(&mu_);
    if (!input_ended_ || !incoming_.empty() || answering_ > 0 || closed_) {
      return;
    }
  }
  Shutdown(absl::UnavailableError(absl::StrCat("connection to ", options_.name, " closed")),
           absl::OkStatus());
}

// --- Writing

void Session::Answer(const std::shared_ptr<Batch>& batch, const RequestId& id, Message response,
                     bool droppable) {
  AnswerText(batch, id, response.Serialize(), droppable, response.id().has_value());
}

void Session::AnswerText(const std::shared_ptr<Batch>& batch, const RequestId& id,
                         std::string text, bool droppable, bool has_id) {
  if (text.size() > transport_->max_message_bytes()) {
    // Too large for the peer: say so instead of leaving the request unanswered.
    text = Message::Error(id, error_code::kInternalError,
                          absl::StrCat("the answer of ", text.size(),
                                       " bytes exceeds the maximum message size of ",
                                       transport_->max_message_bytes(), " bytes"))
               .Serialize();
  }
  if (batch != nullptr) {
    absl::StatusOr<Message> reparsed = DecodeMessage(text);
    std::optional<std::string> array =
        batch->Add(reparsed.ok() ? std::optional<Message>(*std::move(reparsed)) : std::nullopt);
    if (!array.has_value()) {
      return;
    }
    SendBatchAnswer(*batch, *std::move(array));
    return;
  }
  absl::Status s =
      transport_->Send(text, SendOptions{.related_request = id,
                                         .droppable = droppable,
                                         .is_answer = has_id});
  if (!s.ok()) {
    spdlog::warn("{}: could not send the answer to request {}: {}", options_.name, id.ToString(),
                 s);
  }
}

void Session::SendBatchAnswer(Batch& batch, std::string array) {
  if (array.size() <= transport_->max_message_bytes()) {
    absl::Status s = transport_->Send(array);
    if (!s.ok()) {
      spdlog::warn("{}: could not send a batch answer: {}", options_.name, s);
    }
    return;
  }
  // Too large as one array: the answers go out one by one (JSON-RPC allows it).
  std::vector<Message> responses;
  {
    absl::MutexLock lock(&batch.mu);
    responses.swap(batch.responses);
  }
  for (const Message& m : responses) {
    absl::Status s = transport_->Send(m.Serialize(), SendOptions{.related_request = m.id()});
    if (!s.ok()) {
      spdlog::warn("{}: could not send an answer from a batch: {}", options_.name, s);
    }
  }
}

void Session::ScheduleTimeout(const RequestId& id, Pending& pending, absl::Duration delay) {
  std::weak_ptr<Session> weak = weak_from_this();
  pending.timer = clock_.RunAfter(delay, [weak, id]() {
    if (std::shared_ptr<Session> self = weak.lock()) {
      self->OnTimeout(id);
    }
  });
}

RequestId Session::SendRequest(absl::string_view method, Json params, RequestOptions options,
                               ResponseCallback done) {
  RequestId id;
  absl::Status refusal;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      refusal = absl::UnavailableError(absl::StrCat("the session with ", options_.name,
                                                    " is closed"));
    } else if (input_ended_) {
      refusal = absl::UnavailableError(absl::StrCat(
          options_.name, " has ended its output; it can no longer answer '", method, "'"));
    } else if (method == kElicitationCreate && version_.has_value() &&
               !Supports(*version_, Feature::kElicitation)) {
      refusal = absl::FailedPreconditionError(absl::StrCat(
          options_.name, " negotiated protocol version ", ToString(*version_),
          ", which has no elicitation (it needs 2025-06-18 or later)"));
    } else if (pending_.size() >= options_.max_outgoing_requests) {
      refusal = absl::ResourceExhaustedError(
          absl::StrCat(pending_.size(), " requests to ", options_.name,
                       " are already awaiting an answer; retry later"));
    } else {
      id = RequestId(next_id_++);
    }
  }
  if (!refusal.ok()) {
    std::move(done)(std::move(refusal));
    return id;
  }
  auto pending = std::make_unique<Pending>();
  pending->method = std::string(method);
  pending->done = std::move(done);
  pending->reset_on_progress = options.reset_timeout_on_progress;
  pending->timeout = std::min(options.timeout.value_or(options_.default_request_timeout),
                              options_.max_request_timeout);
  pending->hard_deadline = clock_.Now() + options_.max_request_timeout;
  if (options.on_progress) {
    pending->on_progress = std::make_shared<ProgressCallback>(std::move(options.on_progress));
    JsonValue& p = params.mutable_value();
    if (!p.IsObject()) {
      p.SetObject();
    }
    JsonValue* meta = FindMember(p, "_meta");
    if (meta == nullptr || !meta->IsObject()) {
      if (meta == nullptr) {
        p.AddMember("_meta", JsonValue(rapidjson::kObjectType), params.allocator());
        meta = FindMember(p, "_meta");
      } else {
        meta->SetObject();
      }
    }
    const JsonValue* token = FindMember(*meta, "progressToken");
    absl::StatusOr<RequestId> existing =
        token != nullptr ? RequestId::FromJson(*token) : absl::StatusOr<RequestId>(id);
    if (token == nullptr) {
      meta->AddMember("progressToken", id.ToJson(params.allocator()), params.allocator());
    }
    pending->token = existing.ok() ? *existing : id;
  }
  std::string frame = Message::Request(id, method, std::move(params)).Serialize();
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || input_ended_) {
      refusal = absl::UnavailableError(absl::StrCat(
          "the session with ", options_.name,
          closed_ ? " is closed" : " can no longer answer: it ended its output"));
    } else if (pending->token.has_value() && progress_tokens_.contains(*pending->token)) {
      refusal = absl::InvalidArgumentError(absl::StrCat(
          "progress token ", pending->token->ToString(), " is already used by another request"));
    } else {
      if (pending->token.has_value()) {
        progress_tokens_.emplace(*pending->token, id);
      }
      ScheduleTimeout(id, *pending, pending->timeout);
      pending_.emplace(id, std::move(pending));
    }
  }
  if (!refusal.ok()) {
    std::move(pending->done)(std::move(refusal));
    return id;
  }
  absl::Status sent =
      transport_->Send(frame, SendOptions{.related_request = options.related_request});
  if (!sent.ok()) {
    FailPending(id, absl::Status(sent.code(), absl::StrCat("could not send '", method, "' to ",
                                                           options_.name, ": ",
                                                           sent.message())));
  }
  return id;
}

absl::Status Session::SendNotification(absl::string_view method, Json params,
                                       const SendOptions& options) {
  if (closed()) {
    return absl::UnavailableError(absl::StrCat("the session with ", options_.name, " is closed"));
  }
  SendOptions send = options;
  if (method == kProgress || method == kLogMessage) {
    send.droppable = true;
  }
  if (!send.droppable) {
    return transport_->Send(Message::Notification(method, std::move(params)).Serialize(), send);
  }
  uint64_t dropped_before = transport_->stats().dropped_messages;
  absl::Status sent =
      transport_->Send(Message::Notification(method, std::move(params)).Serialize(), send);
  if (sent.ok()) {
    TransportStats after = transport_->stats();
    if (after.dropped_messages > dropped_before) {
      if (dropped_log_->Allow().has_value()) {
        spdlog::warn("{}: the peer is not keeping up: dropping progress and log notifications "
                     "while {} bytes wait for it ({} dropped so far)",
                     options_.name, after.queued_bytes, after.dropped_messages);
      }
    }
  }
  return sent;
}

std::unique_ptr<Session::Pending> Session::TakePending(const RequestId& id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    return nullptr;
  }
  std::unique_ptr<Pending> pending = std::move(it->second);
  pending_.erase(it);
  if (pending->token.has_value()) {
    progress_tokens_.erase(*pending->token);
  }
  clock_.Cancel(pending->timer);  // harmless when it is the timer now running
  return pending;
}

void Session::FailPending(const RequestId& id, absl::Status status) {
  std::unique_ptr<Pending> pending;
  {
    absl::MutexLock lock(&mu_);
    pending = TakePending(id);
  }
  if (pending == nullptr) {
    return;
  }
  std::move(pending->done)(std::move(status));
}

void Session::OnTimeout(const RequestId& id) {
  std::unique_ptr<Pending> pending;
  {
    absl::MutexLock lock(&mu_);
    pending = TakePending(id);
  }
  if (pending == nullptr) {
    return;
  }
  std::string what = absl::StrCat("request ", id.ToString(), " ('", pending->method, "') to ",
                                  options_.name, " timed out after ",
                                  Seconds(pending->timeout));
  spdlog::warn("{}", what);
  if (pending->method != kInitialize) {
    Json params = Json::Object();
    params.Set("requestId", id.ToJson(params.allocator()));
    params.Set("reason", absl::StrCat("timed out after ", Seconds(pending->timeout)));
    SendNotification(kCancelled, std::move(params)).IgnoreError();  // best effort
  }
  std::move(pending->done)(absl::DeadlineExceededError(what));
}

bool Session::Cancel(const RequestId& id, absl::string_view reason) {
  std::unique_ptr<Pending> pending;
  {
    absl::MutexLock lock(&mu_);
    pending = TakePending(id);
  }
  if (pending == nullptr) {
    return false;
  }
  if (pending->method != kInitialize) {
    Json params = Json::Object();
    params.Set("requestId", id.ToJson(params.allocator()));
    if (!reason.empty()) {
      params.Set("reason", reason);
    }
    SendNotification(kCancelled, std::move(params)).IgnoreError();  // best effort
  }
  std::move(pending->done)(absl::CancelledError(
      reason.empty() ? absl::StrCat("request ", id.ToString(), " was cancelled")
                     : absl::StrCat("request ", id.ToString(), " was cancelled: ", reason)));
  return true;
}

void Session::Ping(ResponseCallback done, std::optional<absl::Duration> timeout) {
  SendRequest(kPing, Json(), RequestOptions{.timeout = timeout}, std::move(done));
}

void Session::Shutdown(absl::Status reason, std::optional<absl::Status> callback_status) {
  absl::flat_hash_map<RequestId, std::unique_ptr<Pending>> pending;
  absl::flat_hash_map<RequestId, std::shared_ptr<InFlight>> incoming;
  ClosedCallback closed_callback;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      return;
    }
    closed_ = true;
    pending.swap(pending_);
    incoming.swap(incoming_);
    progress_tokens_.clear();
    closed_callback = std::move(closed_callback_);
    for (auto& [id, p] : pending) {
      clock_.Cancel(p->timer);
    }
  }
  for (auto& [id, state] : incoming) {
    state->MarkCancelled();
  }
  for (auto& [id, p] : pending) {
    std::move(p->done)(absl::Status(reason.code(), absl::StrCat(reason.message(), " before '",
                                                                p->method, "' (request ",
                                                                id.ToString(), ") was answered")));
  }
  if (closed_callback) {
    std::move(closed_callback)(callback_status.value_or(reason));
  }
}

void Session::Close() {
  transport_->Close();
  Shutdown(absl::UnavailableError(absl::StrCat("the session with ", options_.name,
                                               " was closed")));
}

}  // namespace mcpgw::mcp
