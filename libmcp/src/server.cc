#include "mcpgw/mcp/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/mcp/down_level.h"
#include "mcpgw/mcp/json_schema.h"
#include "mcpgw/mcp/uri_template.h"

namespace mcpgw::mcp {

namespace server_internal {

// One request being handled: the request (answered once through it) and its session.
struct CallState {
  CallState(IncomingRequest r, std::shared_ptr<ServerSession> s,
            std::shared_ptr<const ClientCapabilities> caps, ProtocolVersion v)
      : request(std::move(r)), session(s), capabilities(std::move(caps)), version(v) {}
  IncomingRequest request;
  std::weak_ptr<ServerSession> session;
  std::shared_ptr<const ClientCapabilities> capabilities;
  ProtocolVersion version;
};

}  // namespace server_internal

using server_internal::CallState;

struct Server::ToolEntry {
  Tool tool;
  Json json;  // the tool as listed
  ToolHandler handler;
  std::optional<JsonSchema> schema;  // when validating input
};

struct Server::ResourceEntry {
  Resource resource;
  Json json;
  ResourceHandler handler;
};

struct Server::TemplateEntry {
  ResourceTemplate resource_template;
  Json json;
  UriTemplate parsed;
  ResourceHandler handler;
};

struct Server::PromptEntry {
  Prompt prompt;
  Json json;
  PromptHandler handler;
};

namespace {

bool IsValidName(absl::string_view name) {
  if (name.empty() || name.size() > 128) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

absl::Status InvalidParams(absl::string_view message) {
  return JsonRpcErrorStatus(error_code::kInvalidParams, message);
}

// Reads params of type T, or answers the request with -32602 and returns nullopt.
template <typename T>
std::optional<T> ParamsOrReject(IncomingRequest& request) {
  static const JsonValue* const kEmpty = new JsonValue(rapidjson::kObjectType);
  const JsonValue* params = request.params() != nullptr ? request.params() : kEmpty;
  absl::StatusOr<T> parsed = FromJson<T>(*params);
  if (!parsed.ok()) {
    request.Respond(InvalidParams(absl::StrCat("Invalid params for ", request.method(), ": ",
                                               parsed.status().message())));
    return std::nullopt;
  }
  return *std::move(parsed);
}

// Pagination: a cursor is "o<offset>"; anything else is refused.
absl::StatusOr<size_t> CursorOffset(const std::optional<std::string>& cursor) {
  if (!cursor.has_value()) {
    return 0;
  }
  size_t offset = 0;
  if (cursor->size() < 2 || (*cursor)[0] != 'o' ||
      !absl::SimpleAtoi(absl::string_view(*cursor).substr(1), &offset)) {
    return InvalidParams(absl::StrCat("Invalid cursor '", *cursor,
                                      "': pass back a nextCursor from an earlier list result"));
  }
  return offset;
}

// Lists entries [offset, offset + page) as `member` of a result object.
template <typename Entry>
Json ListPage(const std::vector<std::shared_ptr<const Entry>>& entries, size_t offset,
              size_t page_size, absl::string_view member, ProtocolVersion version) {
  Json result = Json::Object();
  JsonAllocator& alloc = result.allocator();
  JsonValue list(rapidjson::kArrayType);
  size_t end = page_size == 0 ? entries.size() : std::min(entries.size(), offset + page_size);
  for (size_t i = offset; i < end; ++i) {
    JsonValue item;
    item.CopyFrom(entries[i]->json.value(), alloc);
    if (version != kLatestProtocolVersion) {
      DownLevelItem(item, version);
    }
    list.PushBack(item, alloc);
  }
  result.mutable_value().AddMember(JsonString(member, alloc), list, alloc);
  if (end < entries.size()) {
    result.Set("nextCursor", absl::StrCat("o", end));
  }
  return result;
}

// A reply that answers the request with the result, or with the error its status maps to.
template <typename T>
Reply<T> ReplyFor(std::shared_ptr<CallState> state) {
  return [state = std::move(state)](absl::StatusOr<T> result) {
    if (!result.ok()) {
      state->request.Respond(result.status());
      return;
    }
    state->request.Respond(ToJson(*result));
  };
}

}  // namespace

TextContent Text(std::string text) {
  TextContent t;
  t.text = std::move(text);
  return t;
}

CallToolResult TextResult(std::string text) {
  CallToolResult r;
  r.content.emplace_back(Text(std::move(text)));
  return r;
}

CallToolResult ToolError(std::string message) {
  CallToolResult r = TextResult(std::move(message));
  r.is_error = true;
  return r;
}

// --- RequestContext

const RequestId& RequestContext::request_id() const { return state_->request.id(); }
ProtocolVersion RequestContext::protocol_version() const { return state_->version; }
const ClientCapabilities& RequestContext::client_capabilities() const {
  return *state_->capabilities;
}
bool RequestContext::cancelled() const { return state_->request.cancelled(); }
void RequestContext::OnCancel(absl::AnyInvocable<void() &&> fn) {
  state_->request.OnCancel(std::move(fn));
}

absl::Status RequestContext::ReportProgress(double progress, std::optional<double> total,
                                            std::optional<absl::string_view> message) {
  return state_->request.SendProgress(progress, total, message);
}

absl::Status RequestContext::Log(LoggingLevel level, Json data, absl::string_view logger) {
  std::shared_ptr<ServerSession> session = state_->session.lock();
  if (session == nullptr) {
    return absl::UnavailableError("the client is gone");
  }
  if (!session->ShouldLog(level)) {
    return absl::OkStatus();
  }
  LoggingMessageParams params;
  params.level = level;
  params.data = std::move(data);
  if (!logger.empty()) {
    params.logger = std::string(logger);
  }
  return state_->request.SendNotification(method::kMessage, ToJson(params));
}

namespace {

// Sends a typed request to the client on behalf of `state`'s request.
template <typename Result, typename Params>
void AskClient(CallState& state, absl::string_view method, const Params& params,
               std::optional<absl::Duration> timeout, Reply<Result> done) {
  state.request.SendRequest(
      method, ToJson(params), RequestOptions{.timeout = timeout},
      [done = std::move(done)](absl::StatusOr<Message> response) mutable {
        if (!response.ok()) {
          std::move(done)(response.status());
          return;
        }
        if (response->kind() == MessageKind::kErrorResponse) {
          std::move(done)(ErrorObjectToStatus(response->error()));
          return;
        }
        const JsonValue* result = response->result();
        absl::StatusOr<Result> typed =
            result != nullptr ? FromJson<Result>(*result)
                              : absl::InternalError("the client answered without a result");
        std::move(done)(std::move(typed));
      });
}

}  // namespace

void RequestContext::CreateMessage(const CreateMessageParams& params,
                                   Reply<CreateMessageResult> done,
                                   std::optional<absl::Duration> timeout) {
  if (!state_->capabilities->sampling.has_value()) {
    std::move(done)(absl::FailedPreconditionError(
        "the client did not declare the sampling capability; it cannot be asked to sample"));
    return;
  }
  AskClient<CreateMessageResult>(*state_, method::kSamplingCreateMessage, params, timeout,
                                 std::move(done));
}

void RequestContext::Elicit(const ElicitParams& params, Reply<ElicitResult> done,
                            std::optional<absl::Duration> timeout) {
  const auto& elicitation = state_->capabilities->elicitation;
  if (!Supports(state_->version, Feature::kElicitation)) {
    std::move(done)(absl::FailedPreconditionError(absl::StrCat(
        "the client negotiated protocol ", ToString(state_->version),
        ", which has no elicitation (it needs 2025-06-18 or later)")));
    return;
  }
  if (!elicitation.has_value()) {
    std::move(done)(absl::FailedPreconditionError(
        "the client did not declare the elicitation capability; it cannot be asked for input"));
    return;
  }
  bool url = params.mode.has_value() && *params.mode == ElicitationMode::kUrl;
  if (url && (!elicitation->supports_url() || !Supports(state_->version, Feature::kUrlElicitation))) {
    std::move(done)(absl::FailedPreconditionError(
        "the client does not support URL-mode elicitation (elicitation.url)"));
    return;
  }
  if (!url && !elicitation->supports_form()) {
    std::move(done)(absl::FailedPreconditionError(
        "the client does not support form-mode elicitation (elicitation.form)"));
    return;
  }
  AskClient<ElicitResult>(*state_, method::kElicitationCreate, params, timeout, std::move(done));
}

void RequestContext::ListRoots(Reply<ListRootsResult> done) {
  if (!state_->capabilities->roots.has_value()) {
    std::move(done)(absl::FailedPreconditionError(
        "the client did not declare the roots capability; it cannot be asked for roots"));
    return;
  }
  AskClient<ListRootsResult>(*state_, method::kRootsList, EmptyParams{}, std::nullopt,
                             std::move(done));
}

std::shared_ptr<ServerSession> RequestContext::server_session() const {
  return state_->session.lock();
}

// --- Server

std::shared_ptr<Server> Server::Create(ServerOptions options) {
  return std::shared_ptr<Server>(new Server(std::move(options)));
}

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() {
  std::vector<std::shared_ptr<ServerSession>> sessions;
  {
    absl::MutexLock lock(&mu_);
    sessions.swap(sessions_);
  }
  for (const auto& s : sessions) {
    s->Close();
  }
}

absl::Status Server::AddTool(Tool tool, ToolHandler handler, ToolOptions options) {
  if (!IsValidName(tool.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tool name '", tool.name, "' must be 1-128 characters of A-Z a-z 0-9 _ - ."));
  }
  if (!tool.input_schema.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tool '", tool.name, "': inputSchema must be a JSON Schema object"));
  }
  auto entry = std::make_shared<ToolEntry>();
  if (options.validate_input) {
    absl::StatusOr<JsonSchema> schema = JsonSchema::Compile(tool.input_schema.value());
    if (!schema.ok()) {
      return absl::Status(schema.status().code(),
                          absl::StrCat("tool '", tool.name, "': inputSchema: ",
                                       schema.status().message()));
    }
    entry->schema = *std::move(schema);
  }
  entry->json = ToJson(tool);
  entry->tool = std::move(tool);
  entry->handler = std::move(handler);
  {
    absl::MutexLock lock(&mu_);
    auto it = tool_index_.find(entry->tool.name);
    if (it != tool_index_.end()) {
      tools_[it->second] = std::move(entry);
    } else {
      tool_index_[entry->tool.name] = tools_.size();
      tools_.push_back(std::move(entry));
    }
  }
  Broadcast(method::kToolsListChanged);
  return absl::OkStatus();
}

absl::Status Server::AddSyncTool(Tool tool, SyncToolHandler handler, ToolOptions options) {
  auto shared = std::make_shared<SyncToolHandler>(std::move(handler));
  return AddTool(
      std::move(tool),
      [shared](const Json& arguments, RequestContext context, Reply<CallToolResult> reply) {
        std::move(reply)((*shared)(arguments, context));
      },
      options);
}

bool Server::RemoveTool(absl::string_view name) {
  {
    absl::MutexLock lock(&mu_);
    auto it = tool_index_.find(std::string(name));
    if (it == tool_index_.end()) {
      return false;
    }
    tools_.erase(tools_.begin() + static_cast<std::ptrdiff_t>(it->second));
    tool_index_.clear();
    for (size_t i = 0; i < tools_.size(); ++i) {
      tool_index_[tools_[i]->tool.name] = i;
    }
  }
  Broadcast(method::kToolsListChanged);
  return true;
}

absl::Status Server::AddResource(Resource resource, ResourceHandler handler) {
  if (resource.uri.empty()) {
    return absl::InvalidArgumentError("a resource needs a uri");
  }
  auto entry = std::make_shared<ResourceEntry>();
  entry->json = ToJson(resource);
  entry->resource = std::move(resource);
  entry->handler = std::move(handler);
  {
    absl::MutexLock lock(&mu_);
    auto it = std::find_if(resources_.begin(), resources_.end(), [&](const auto& e) {
      return e->resource.uri == entry->resource.uri;
    });
    if (it != resources_.end()) {
      *it = std::move(entry);
    } else {
      resources_.push_back(std::move(entry));
    }
  }
  Broadcast(method::kResourcesListChanged);
  return absl::OkStatus();
}

absl::Status Server::AddResourceTemplate(ResourceTemplate resource_template,
                                         ResourceHandler handler) {
  absl::StatusOr<UriTemplate> parsed = UriTemplate::Parse(resource_template.uri_template);
  if (!parsed.ok()) {
    return parsed.status();
  }
  auto entry = std::make_shared<TemplateEntry>();
  entry->json = ToJson(resource_template);
  entry->resource_template = std::move(resource_template);
  entry->parsed = *std::move(parsed);
  entry->handler = std::move(handler);
  {
    absl::MutexLock lock(&mu_);
    templates_.push_back(std::move(entry));
  }
  Broadcast(method::kResourcesListChanged);
  return absl::OkStatus();
}

bool Server::RemoveResource(absl::string_view uri) {
  bool removed = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = std::remove_if(resources_.begin(), resources_.end(),
                             [&](const auto& e) { return e->resource.uri == uri; });
    removed = it != resources_.end();
    resources_.erase(it, resources_.end());
    auto t = std::remove_if(templates_.begin(), templates_.end(), [&](const auto& e) {
      return e->resource_template.uri_template == uri;
    });
    removed = removed || t != templates_.end();
    templates_.erase(t, templates_.end());
  }
  if (removed) {
    Broadcast(method::kResourcesListChanged);
  }
  return removed;
}

absl::Status Server::AddPrompt(Prompt prompt, PromptHandler handler) {
  if (!IsValidName(prompt.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt name '", prompt.name, "' must be 1-128 characters of A-Z a-z 0-9 _ - ."));
  }
  auto entry = std::make_shared<PromptEntry>();
  entry->json = ToJson(prompt);
  entry->prompt = std::move(prompt);
  entry->handler = std::move(handler);
  {
    absl::MutexLock lock(&mu_);
    auto it = std::find_if(prompts_.begin(), prompts_.end(), [&](const auto& e) {
      return e->prompt.name == entry->prompt.name;
    });
    if (it != prompts_.end()) {
      *it = std::move(entry);
    } else {
      prompts_.push_back(std::move(entry));
    }
  }
  Broadcast(method::kPromptsListChanged);
  return absl::OkStatus();
}

bool Server::RemovePrompt(absl::string_view name) {
  bool removed;
  {
    absl::MutexLock lock(&mu_);
    auto it = std::remove_if(prompts_.begin(), prompts_.end(),
                             [&](const auto& e) { return e->prompt.name == name; });
    removed = it != prompts_.end();
    prompts_.erase(it, prompts_.end());
  }
  if (removed) {
    Broadcast(method::kPromptsListChanged);
  }
  return removed;
}

void Server::SetCompletionHandler(CompletionHandler handler) {
  auto shared = std::make_shared<const CompletionHandler>(std::move(handler));
  absl::MutexLock lock(&mu_);
  completion_ = std::move(shared);
}

ServerCapabilities Server::capabilities() const {
  absl::MutexLock lock(&mu_);
  ServerCapabilities caps;
  caps.logging = Json::Object();
  if (!tools_.empty() || options_.declare_tools) {
    caps.tools = ToolsCapability{.list_changed = true};
  }
  if (!prompts_.empty() || options_.declare_prompts) {
    caps.prompts = PromptsCapability{.list_changed = true};
  }
  if (!resources_.empty() || !templates_.empty() || options_.declare_resources) {
    caps.resources = ResourcesCapability{.subscribe = true, .list_changed = true};
  }
  if (completion_ != nullptr) {
    caps.completions = Json::Object();
  }
  return caps;
}

std::vector<std::shared_ptr<ServerSession>> Server::sessions() const {
  std::vector<std::shared_ptr<ServerSession>> out;
  absl::MutexLock lock(&mu_);
  return sessions_;
}

void Server::Broadcast(absl::string_view method) {
  for (const auto& s : sessions()) {
    if (s->initialized() && s->Declared(method)) {
      s->session().SendNotification(method).IgnoreError();  // a closing client is fine
    }
  }
}

void Server::NotifyResourceUpdated(absl::string_view uri) {
  for (const auto& s : sessions()) {
    bool subscribed;
    {
      absl::MutexLock lock(&s->mu_);
      subscribed = s->subscriptions_.contains(uri);
    }
    if (subscribed) {
      Json params = Json::Object();
      params.Set("uri", uri);
      s->session().SendNotification(method::kResourcesUpdated, std::move(params)).IgnoreError();
    }
  }
}

void Server::Log(LoggingLevel level, Json data, absl::string_view logger) {
  for (const auto& s : sessions()) {
    s->SendLog(level, data, logger).IgnoreError();  // best effort to each client
  }
}

void Server::Forget(const ServerSession* session) {
  std::shared_ptr<ServerSession> last;  // released after the lock
  absl::MutexLock lock(&mu_);
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (it->get() == session) {
      last = std::move(*it);
      sessions_.erase(it);
      break;
    }
  }
}

absl::StatusOr<std::shared_ptr<ServerSession>> Server::Serve(TransportPtr transport,
                                                             ClosedCallback on_closed) {
  SessionOptions session_options = options_.session;
  {
    absl::MutexLock lock(&mu_);
    session_options.name = absl::StrCat(
        session_options.name == "session" ? "client" : session_options.name, " ",
        next_session_++);
  }
  std::shared_ptr<Session> session = Session::Create(std::move(transport), session_options);
  std::shared_ptr<ServerSession> server_session(
      new ServerSession(shared_from_this(), std::move(session)));
  server_session->Install();
  if (on_closed) {
    server_session->SetClosedCallback(std::move(on_closed));
  }
  {
    absl::MutexLock lock(&mu_);
    sessions_.push_back(server_session);
  }
  absl::Status started = server_session->session_->Start();
  if (!started.ok()) {
    Forget(server_session.get());
    return started;
  }
  return server_session;
}

// --- ServerSession

ServerSession::ServerSession(std::shared_ptr<Server> server, std::shared_ptr<Session> session)
    : server_(server), session_(std::move(session)),
      client_capabilities_(std::make_shared<const ClientCapabilities>()) {}

ServerSession::~ServerSession() { session_->Close(); }

void ServerSession::Install() {
  std::weak_ptr<ServerSession> weak = weak_from_this();
  auto bind = [weak](void (ServerSession::*fn)(IncomingRequest)) {
    return [weak, fn](IncomingRequest request) {
      if (auto self = weak.lock()) {
        ((*self).*fn)(std::move(request));
      }
    };
  };
  Session& s = *session_;
  s.SetRequestHandler(method::kInitialize, bind(&ServerSession::Initialize), HandlerMode::kInline);
  s.SetRequestHandler(method::kToolsList, bind(&ServerSession::ListTools), HandlerMode::kInline);
  s.SetRequestHandler(method::kToolsCall, bind(&ServerSession::CallTool));
  s.SetRequestHandler(method::kResourcesList, bind(&ServerSession::ListResources),
                      HandlerMode::kInline);
  s.SetRequestHandler(method::kResourcesTemplatesList,
                      bind(&ServerSession::ListResourceTemplates), HandlerMode::kInline);
  s.SetRequestHandler(method::kResourcesRead, bind(&ServerSession::ReadResource));
  s.SetRequestHandler(
      method::kResourcesSubscribe,
      [weak](IncomingRequest r) {
        if (auto self = weak.lock()) {
          self->Subscribe(std::move(r), true);
        }
      },
      HandlerMode::kInline);
  s.SetRequestHandler(
      method::kResourcesUnsubscribe,
      [weak](IncomingRequest r) {
        if (auto self = weak.lock()) {
          self->Subscribe(std::move(r), false);
        }
      },
      HandlerMode::kInline);
  s.SetRequestHandler(method::kPromptsList, bind(&ServerSession::ListPrompts),
                      HandlerMode::kInline);
  s.SetRequestHandler(method::kPromptsGet, bind(&ServerSession::GetPrompt));
  s.SetRequestHandler(method::kCompletionComplete, bind(&ServerSession::Complete));
  s.SetRequestHandler(method::kLoggingSetLevel, bind(&ServerSession::SetLevel),
                      HandlerMode::kInline);
  s.SetNotificationHandler(method::kInitialized, [](const Message&) {});
  s.SetClosedCallback([weak](absl::Status reason) {
    auto self = weak.lock();
    if (self == nullptr) {
      return;
    }
    ClosedCallback callback;
    {
      absl::MutexLock lock(&self->mu_);
      callback = std::move(self->closed_callback_);
    }
    if (auto server = self->server_.lock()) {
      server->Forget(self.get());
    }
    if (callback) {
      std::move(callback)(std::move(reason));
    }
  });
}

bool ServerSession::initialized() const {
  absl::MutexLock lock(&mu_);
  return initialized_;
}

std::optional<ProtocolVersion> ServerSession::protocol_version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

ClientCapabilities ServerSession::client_capabilities() const {
  absl::MutexLock lock(&mu_);
  return *client_capabilities_;
}

Implementation ServerSession::client_info() const {
  absl::MutexLock lock(&mu_);
  return client_info_;
}

std::vector<std::string> ServerSession::subscriptions() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out(subscriptions_.begin(), subscriptions_.end());
  std::sort(out.begin(), out.end());
  return out;
}

void ServerSession::SetClosedCallback(ClosedCallback callback) {
  absl::MutexLock lock(&mu_);
  closed_callback_ = std::move(callback);
}

void ServerSession::Close() { session_->Close(); }

bool ServerSession::ShouldLog(LoggingLevel level) const {
  absl::MutexLock lock(&mu_);
  return !log_level_.has_value() || level >= *log_level_;
}

bool ServerSession::Declared(absl::string_view list_changed_method) const {
  absl::MutexLock lock(&mu_);
  if (list_changed_method == method::kToolsListChanged) {
    return declared_.tools.has_value();
  }
  if (list_changed_method == method::kPromptsListChanged) {
    return declared_.prompts.has_value();
  }
  if (list_changed_method == method::kResourcesListChanged) {
    return declared_.resources.has_value();
  }
  return false;
}

absl::Status ServerSession::SendLog(LoggingLevel level, Json data, absl::string_view logger) {
  if (!initialized() || !ShouldLog(level)) {
    return absl::OkStatus();
  }
  LoggingMessageParams params;
  params.level = level;
  params.data = std::move(data);
  if (!logger.empty()) {
    params.logger = std::string(logger);
  }
  return session_->SendNotification(method::kMessage, ToJson(params));
}

ProtocolVersion ServerSession::version() const {
  absl::MutexLock lock(&mu_);
  return version_.value_or(kLatestProtocolVersion);
}

bool ServerSession::RequireInitialized(IncomingRequest& request) {
  if (initialized()) {
    return true;
  }
  request.Respond(JsonRpcErrorStatus(
      error_code::kInvalidRequest,
      absl::StrCat("'", request.method(), "' before initialize: send initialize first")));
  return false;
}

void ServerSession::Initialize(IncomingRequest request) {
  if (initialized()) {
    request.Respond(JsonRpcErrorStatus(error_code::kInvalidRequest,
                                       "Invalid Request: this session is already initialized"));
    return;
  }
  std::optional<InitializeParams> params = ParamsOrReject<InitializeParams>(request);
  if (!params.has_value()) {
    return;
  }
  std::shared_ptr<Server> server = server_.lock();
  if (server == nullptr) {
    request.Respond(absl::UnavailableError("the server is shutting down"));
    return;
  }
  ProtocolVersion version = NegotiateVersion(params->protocol_version);
  InitializeResult result;
  result.protocol_version = std::string(ToString(version));
  result.capabilities = server->capabilities();
  if (!Supports(version, Feature::kCompletionsCapability)) {
    result.capabilities.completions.reset();
  }
  result.server_info = server->options().info;
  if (Supports(version, Feature::kInstructions)) {
    result.instructions = server->options().instructions;
  }
  {
    absl::MutexLock lock(&mu_);
    version_ = version;
    client_capabilities_ = std::make_shared<const ClientCapabilities>(params->capabilities);
    client_info_ = params->client_info;
    declared_ = result.capabilities;
    initialized_ = true;
  }
  session_->SetProtocolVersion(version);
  spdlog::debug("{}: {} {} initialized at {}", session_->name(), params->client_info.name,
                params->client_info.version, ToString(version));
  request.Respond(ToJson(result));
}

namespace {

// The per-request state handed to handlers.
std::shared_ptr<CallState> NewCall(IncomingRequest request,
                                   const std::shared_ptr<ServerSession>& session,
                                   std::shared_ptr<const ClientCapabilities> caps,
                                   ProtocolVersion version) {
  return std::make_shared<CallState>(std::move(request), session, std::move(caps), version);
}

}  // namespace

template <typename Entry>
void ServerSession::ServeList(IncomingRequest request,
                              std::vector<std::shared_ptr<const Entry>> Server::*entries,
                              absl::string_view member) {
  std::shared_ptr<Server> server = server_.lock();
  if (server == nullptr || !RequireInitialized(request)) {
    return;
  }
  std::optional<PaginatedParams> params = ParamsOrReject<PaginatedParams>(request);
  if (!params.has_value()) {
    return;
  }
  absl::StatusOr<size_t> offset = CursorOffset(params->cursor);
  if (!offset.ok()) {
    request.Respond(offset.status());
    return;
  }
  ProtocolVersion v = version();
  Json page;
  {
    absl::MutexLock lock(&server->mu_);  // the page is built under the lock, sent after it
    page = ListPage((*server).*entries, *offset, server->options_.page_size, member, v);
  }
  request.Respond(std::move(page));
}

void ServerSession::ListTools(IncomingRequest request) {
  ServeList(std::move(request), &Server::tools_, "tools");
}

void ServerSession::CallTool(IncomingRequest request) {
  std::shared_ptr<Server> server = server_.lock();
  if (server == nullptr || !RequireInitialized(request)) {
    return;
  }
  std::optional<CallToolParams> params = ParamsOrReject<CallToolParams>(request);
  if (!params.has_value()) {
    return;
  }
  std::shared_ptr<const Server::ToolEntry> tool;
  {
    absl::MutexLock lock(&server->mu_);
    auto it = server->tool_index_.find(params->name);
    if (it != server->tool_index_.end()) {
      tool = server->tools_[it->second];
    }
  }
  if (tool == nullptr) {
    request.Respond(InvalidParams(absl::StrCat("Unknown tool: ", params->name)));
    return;
  }
  Json arguments = params->arguments.has_value() ? *std::move(params->arguments) : Json::Object();
  if (!arguments.is_object()) {
    request.Respond(ToJson(ToolError(
        absl::StrCat("Invalid arguments for tool ", tool->tool.name, ": must be an object"))));
    return;
  }
  if (tool->schema.has_value()) {
    absl::Status valid = tool->schema->Validate(arguments.value());
    if (!valid.ok()) {
      request.Respond(ToJson(ToolError(absl::StrCat("Invalid arguments for tool ",
                                                    tool->tool.name, ": ", valid.message()))));
      return;
    }
  }
  std::shared_ptr<const ClientCapabilities> caps;
  ProtocolVersion version;
  {
    absl::MutexLock lock(&mu_);
    caps = client_capabilities_;
    version = version_.value_or(kLatestProtocolVersion);
  }
  auto state = NewCall(std::move(request), shared_from_this(), std::move(caps), version);
  Reply<CallToolResult> reply = [state](absl::StatusOr<CallToolResult> result) {
    if (result.ok()) {
      Json json = ToJson(*result);
      if (state->version != kLatestProtocolVersion) {
        DownLevelToolResult(json, state->version);
      }
      state->request.Respond(std::move(json));
    } else if (HasJsonRpcCode(result.status())) {
      state->request.Respond(result.status());  // a protocol error, as the tool asked
    } else {
      state->request.Respond(ToJson(ToolError(std::string(result.status().message()))));
    }
  };
  tool->handler(arguments, RequestContext(state), std::move(reply));
}

void ServerSession::ListResources(IncomingRequest request) {
  ServeList(std::move(request), &Server::resources_, "resources");
}

void ServerSession::ListResourceTemplates(IncomingRequest request) {
  ServeList(std::move(request), &Server::templates_, "resourceTemplates");
}

void ServerSession::ReadResource(IncomingRequest request) {
  std::shared_ptr<Server> server = server_.lock();
  if (server == nullptr || !RequireInitialized(request)) {
    return;
  }
  std::optional<ReadResourceParams> params = ParamsOrReject<ReadResourceParams>(request);
  if (!params.has_value()) {
    return;
  }
  std::shared_ptr<const Server::ResourceEntry> resource;
  std::shared_ptr<const Server::TemplateEntry> matched;
  std::map<std::string, std::string> vars;
  {
    absl::MutexLock lock(&server->mu_);
    for (const auto& e : server->resources_) {
      if (e->resource.uri == params->uri) {
        resource = e;
        break;
      }
    }
    if (resource == nullptr) {
      for (const auto& t : server->templates_) {
        vars.clear();
        if (t->parsed.Match(params->uri, &vars)) {
          matched = t;
          break;
        }
      }
    }
  }
  if (resource == nullptr && matched == nullptr) {
    Json data = Json::Object();
    data.Set("uri", params->uri);
    request.Respond(JsonRpcErrorStatus(error_code::kResourceNotFound,
                                       absl::StrCat("Resource not found: ", params->uri), data));
    return;
  }
  std::shared_ptr<const ClientCapabilities> caps;
  ProtocolVersion version;
  {
    absl::MutexLock lock(&mu_);
    caps = client_capabilities_;
    version = version_.value_or(kLatestProtocolVersion);
  }
  auto state = NewCall(std::move(request), shared_from_this(), std::move(caps), version);
  const ResourceHandler& handler = resource != nullptr ? resource->handler : matched->handler;
  handler(params->uri, vars, RequestContext(state), ReplyFor<ReadResourceResult>(state));
}

void ServerSession::Subscribe(IncomingRequest request, bool subscribe) {
  if (!RequireInitialized(request)) {
    return;
  }
  std::optional<SubscribeParams> params = ParamsOrReject<SubscribeParams>(request);
  if (!params.has_value()) {
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (subscribe) {
      subscriptions_.insert(params->uri);
    } else {
      subscriptions_.erase(params->uri);
    }
  }
  request.Respond(Json::Object());
}

void ServerSession::ListPrompts(IncomingRequest request) {
  ServeList(std::move(request), &Server::prompts_, "prompts");
}

void ServerSession::GetPrompt(IncomingRequest request) {
  std::shared_ptr<Server> server = server_.lock();
  if (server == nullptr || !RequireInitialized(request)) {
    return;
  }
  std::optional<GetPromptParams> params = ParamsOrReject<GetPromptParams>(request);
  if (!params.has_value()) {
    return;
  }
  std::shared_ptr<const Server::PromptEntry> prompt;
  {
    absl::MutexLock lock(&server->mu_);
    for (const auto& e : server->prompts_) {
      if (e->prompt.name == params->name) {
        prompt = e;
        break;
      }
    }
  }
  if (prompt == nullptr) {
    request.Respond(InvalidParams(absl::StrCat("Unknown prompt: ", params->name)));
    return;
  }
  std::map<std::string, std::string> args = params->arguments.value_or(
      std::map<std::string, std::string>{});
  std::vector<std::string> missing;
  for (const PromptArgument& a : prompt->prompt.arguments.value_or(
           std::vector<PromptArgument>{})) {
    if (a.required.value_or(false) && !args.contains(a.name)) {
      missing.push_back(a.name);
    }
  }
  if (!missing.empty()) {
    request.Respond(InvalidParams(absl::StrCat("Prompt ", params->name,
                                               " is missing required arguments: ",
                                               absl::StrJoin(missing, ", "))));
    return;
  }
  std::shared_ptr<const ClientCapabilities> caps;
  ProtocolVersion version;
  {
    absl::MutexLock lock(&mu_);
    caps = client_capabilities_;
    version = version_.value_or(kLatestProtocolVersion);
  }
  auto state = NewCall(std::move(request), shared_from_this(), std::move(caps), version);
  prompt->handler(args, RequestContext(state), ReplyFor<GetPromptResult>(state));
}

void ServerSession::Complete(IncomingRequest request) {
  std::shared_ptr<Server> server = server_.lock();
  if (server == nullptr || !RequireInitialized(request)) {
    return;
  }
  std::shared_ptr<const CompletionHandler> handler;
  {
    absl::MutexLock lock(&server->mu_);
    handler = server->completion_;
  }
  if (handler == nullptr) {
    request.Respond(JsonRpcErrorStatus(error_code::kMethodNotFound,
                                       "Method not found: completion/complete (this server "
                                       "offers no completions)"));
    return;
  }
  std::optional<CompleteParams> params = ParamsOrReject<CompleteParams>(request);
  if (!params.has_value()) {
    return;
  }
  std::shared_ptr<const ClientCapabilities> caps;
  ProtocolVersion version;
  {
    absl::MutexLock lock(&mu_);
    caps = client_capabilities_;
    version = version_.value_or(kLatestProtocolVersion);
  }
  auto state = NewCall(std::move(request), shared_from_this(), std::move(caps), version);
  (*handler)(*params, RequestContext(state), ReplyFor<CompleteResult>(state));
}

void ServerSession::SetLevel(IncomingRequest request) {
  if (!RequireInitialized(request)) {
    return;
  }
  std::optional<SetLevelParams> params = ParamsOrReject<SetLevelParams>(request);
  if (!params.has_value()) {
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    log_level_ = params->level;
  }
  request.Respond(Json::Object());
}

}  // namespace mcpgw::mcp
