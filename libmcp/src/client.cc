#include "mcpgw/mcp/client.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "mcpgw/base/fmt.h"

namespace mcpgw::mcp {
namespace {

// Answers a server→client request with a typed result or the error its status maps to.
template <typename T>
Callback<T> Answer(std::shared_ptr<IncomingRequest> request) {
  return [request = std::move(request)](absl::StatusOr<T> result) {
    if (result.ok()) {
      request->Respond(ToJson(*result));
    } else {
      request->Respond(result.status());
    }
  };
}

// Reads the params of a server→client request, or answers -32602.
template <typename T>
std::optional<T> ParamsOf(IncomingRequest& request) {
  static const JsonValue* const kEmpty = new JsonValue(rapidjson::kObjectType);
  absl::StatusOr<T> parsed =
      FromJson<T>(request.params() != nullptr ? *request.params() : *kEmpty);
  if (!parsed.ok()) {
    request.Respond(JsonRpcErrorStatus(
        error_code::kInvalidParams,
        absl::StrCat("Invalid params for ", request.method(), ": ", parsed.status().message())));
    return std::nullopt;
  }
  return *std::move(parsed);
}

// Which server capability a request needs.
enum class Needs { kTools, kPrompts, kResources, kSubscribe, kLogging, kCompletions };

Json UriParams(absl::string_view uri) {
  Json params = Json::Object();
  params.Set("uri", uri);
  return params;
}

}  // namespace

std::shared_ptr<Client> Client::Create(TransportPtr transport, ClientOptions options) {
  SessionOptions session_options = options.session;
  if (session_options.name == "session") {
    session_options.name = "server";
  }
  auto session = Session::Create(std::move(transport), session_options);
  return std::shared_ptr<Client>(new Client(std::move(session), std::move(options)));
}

Client::Client(std::shared_ptr<Session> session, ClientOptions options)
    : session_(std::move(session)), options_(std::move(options)) {}

Client::~Client() { session_->Close(); }

void Client::SetSamplingHandler(SamplingHandler handler) {
  auto shared = std::make_shared<const SamplingHandler>(std::move(handler));
  session_->SetRequestHandler(method::kSamplingCreateMessage, [shared](IncomingRequest request) {
    std::optional<CreateMessageParams> params = ParamsOf<CreateMessageParams>(request);
    if (params.has_value()) {
      (*shared)(*params,
                Answer<CreateMessageResult>(std::make_shared<IncomingRequest>(std::move(request))));
    }
  });
  absl::MutexLock lock(&mu_);
  has_sampling_ = true;
}

void Client::SetElicitationHandler(ElicitationHandler handler) {
  auto shared = std::make_shared<const ElicitationHandler>(std::move(handler));
  session_->SetRequestHandler(method::kElicitationCreate, [shared](IncomingRequest request) {
    std::optional<ElicitParams> params = ParamsOf<ElicitParams>(request);
    if (params.has_value()) {
      (*shared)(*params, Answer<ElicitResult>(std::make_shared<IncomingRequest>(std::move(request))));
    }
  });
  absl::MutexLock lock(&mu_);
  has_elicitation_ = true;
}

void Client::SetRootsHandler(RootsHandler handler) {
  auto shared = std::make_shared<const RootsHandler>(std::move(handler));
  session_->SetRequestHandler(method::kRootsList, [shared](IncomingRequest request) {
    (*shared)(Answer<ListRootsResult>(std::make_shared<IncomingRequest>(std::move(request))));
  });
  absl::MutexLock lock(&mu_);
  has_roots_ = true;
}

void Client::SetNotificationHandler(absl::string_view method, NotificationHandler handler) {
  session_->SetNotificationHandler(method, std::move(handler));
}

void Client::OnLogMessage(absl::AnyInvocable<void(const LoggingMessageParams&) const> fn) {
  session_->SetNotificationHandler(method::kMessage, [fn = std::move(fn)](const Message& m) {
    if (m.params() == nullptr) {
      return;
    }
    absl::StatusOr<LoggingMessageParams> params = FromJson<LoggingMessageParams>(*m.params());
    if (params.ok()) {
      fn(*params);
    } else {
      spdlog::debug("ignoring a malformed log message: {}", params.status());
    }
  });
}

void Client::OnResourceUpdated(absl::AnyInvocable<void(const std::string& uri) const> fn) {
  session_->SetNotificationHandler(method::kResourcesUpdated,
                                   [fn = std::move(fn)](const Message& m) {
                                     const JsonValue* uri =
                                         m.params() != nullptr ? FindMember(*m.params(), "uri")
                                                               : nullptr;
                                     if (uri != nullptr && uri->IsString()) {
                                       fn(std::string(AsStringView(*uri)));
                                     }
                                   });
}

void Client::SetClosedCallback(ClosedCallback callback) {
  session_->SetClosedCallback(std::move(callback));
}

void Client::Connect(Callback<InitializeResult> done) {
  absl::Status started = session_->Start();
  if (!started.ok()) {
    std::move(done)(started);
    return;
  }
  InitializeParams params;
  params.protocol_version = std::string(ToString(options_.protocol_version));
  params.client_info = options_.info;
  params.capabilities = options_.capabilities;
  {
    absl::MutexLock lock(&mu_);
    if (has_sampling_ && !params.capabilities.sampling.has_value()) {
      params.capabilities.sampling = SamplingCapability{};
    }
    if (has_elicitation_ && !params.capabilities.elicitation.has_value() &&
        Supports(options_.protocol_version, Feature::kElicitation)) {
      ElicitationCapability elicitation;
      elicitation.form = Json::Object();
      if (Supports(options_.protocol_version, Feature::kUrlElicitation)) {
        elicitation.url = Json::Object();
      }
      params.capabilities.elicitation = std::move(elicitation);
    }
    if (has_roots_ && !params.capabilities.roots.has_value()) {
      params.capabilities.roots = RootsCapability{};
    }
  }
  std::weak_ptr<Client> weak = weak_from_this();
  Request<InitializeResult>(
      method::kInitialize, ToJson(params), RequestOptions{},
      [weak, done = std::move(done)](absl::StatusOr<InitializeResult> result) mutable {
        std::shared_ptr<Client> self = weak.lock();
        if (self == nullptr) {
          std::move(done)(absl::CancelledError("the client was destroyed"));
          return;
        }
        if (!result.ok()) {
          std::move(done)(std::move(result));
          return;
        }
        std::optional<ProtocolVersion> version = ParseProtocolVersion(result->protocol_version);
        if (!version.has_value()) {
          self->session_->Close();
          std::move(done)(absl::FailedPreconditionError(absl::StrCat(
              "the server answered initialize with protocol version '", result->protocol_version,
              "', which this client does not speak (it speaks 2024-11-05 to 2025-11-25)")));
          return;
        }
        self->session_->SetProtocolVersion(*version);
        {
          absl::MutexLock lock(&self->mu_);
          self->server_ = *result;
          self->version_ = version;
        }
        absl::Status sent = self->session_->SendNotification(method::kInitialized);
        if (!sent.ok()) {
          std::move(done)(sent);
          return;
        }
        std::move(done)(std::move(result));
      });
}

std::optional<InitializeResult> Client::server() const {
  absl::MutexLock lock(&mu_);
  return server_;
}

std::optional<ProtocolVersion> Client::protocol_version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

absl::Status Client::CheckCapability(int needs_value) const {
  Needs needs = static_cast<Needs>(needs_value);
  absl::MutexLock lock(&mu_);
  if (!server_.has_value()) {
    return absl::FailedPreconditionError("not connected: call Connect first");
  }
  const ServerCapabilities& caps = server_->capabilities;
  const char* missing = nullptr;
  switch (needs) {
    case Needs::kTools:
      missing = caps.tools.has_value() ? nullptr : "tools";
      break;
    case Needs::kPrompts:
      missing = caps.prompts.has_value() ? nullptr : "prompts";
      break;
    case Needs::kResources:
      missing = caps.resources.has_value() ? nullptr : "resources";
      break;
    case Needs::kSubscribe:
      missing = caps.resources.has_value() && caps.resources->subscribe.value_or(false)
                    ? nullptr
                    : "resources.subscribe";
      break;
    case Needs::kLogging:
      missing = caps.logging.has_value() ? nullptr : "logging";
      break;
    case Needs::kCompletions:
      // 2024-11-05 had completion/complete without a capability flag.
      missing = caps.completions.has_value() || version_ == ProtocolVersion::k2024_11_05
                    ? nullptr
                    : "completions";
      break;
  }
  if (missing == nullptr) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the server did not declare the '", missing, "' capability, so it may not be asked for this"));
}

template <typename Item, typename Page>
void Client::ListAll(absl::string_view method, std::vector<Item> Page::*member,
                     Callback<std::vector<Item>> done) {
  // Each page's callback asks for the next one; state travels in a shared struct.
  struct State {
    std::string method;
    std::vector<Item> items;
    absl::flat_hash_set<std::string> cursors;
    int pages = 0;
    Callback<std::vector<Item>> done;
  };
  auto state = std::make_shared<State>();
  state->method = std::string(method);
  state->done = std::move(done);
  std::weak_ptr<Client> weak = weak_from_this();
  auto next = std::make_shared<absl::AnyInvocable<void(std::optional<std::string>)>>();
  *next = [weak, state, member, next](std::optional<std::string> cursor) {
    std::shared_ptr<Client> self = weak.lock();
    if (self == nullptr) {
      std::move(state->done)(absl::CancelledError("the client was destroyed"));
      *next = nullptr;  // break the cycle
      return;
    }
    PaginatedParams params;
    params.cursor = std::move(cursor);
    self->Request<Page>(
        state->method, ToJson(params), RequestOptions{},
        [state, member, next](absl::StatusOr<Page> page) {
          if (!page.ok()) {
            std::move(state->done)(page.status());
            *next = nullptr;
            return;
          }
          for (Item& item : (*page).*member) {
            state->items.push_back(std::move(item));
          }
          ++state->pages;
          if (!page->next_cursor.has_value()) {
            std::move(state->done)(std::move(state->items));
            *next = nullptr;
            return;
          }
          if (state->pages >= kMaxPages || !state->cursors.insert(*page->next_cursor).second) {
            std::move(state->done)(absl::DataLossError(absl::StrCat(
                state->method, ": the server's pagination does not end (",
                state->pages, " pages, cursor '", *page->next_cursor, "')")));
            *next = nullptr;
            return;
          }
          (*next)(page->next_cursor);
        });
  };
  (*next)(std::nullopt);
}

void Client::ListTools(Callback<std::vector<Tool>> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kTools)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  ListAll<Tool, ListToolsResult>(method::kToolsList, &ListToolsResult::tools, std::move(done));
}

void Client::ListPrompts(Callback<std::vector<Prompt>> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kPrompts)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  ListAll<Prompt, ListPromptsResult>(method::kPromptsList, &ListPromptsResult::prompts,
                                     std::move(done));
}

void Client::ListResources(Callback<std::vector<Resource>> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kResources)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  ListAll<Resource, ListResourcesResult>(method::kResourcesList, &ListResourcesResult::resources,
                                         std::move(done));
}

void Client::ListResourceTemplates(Callback<std::vector<ResourceTemplate>> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kResources)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  ListAll<ResourceTemplate, ListResourceTemplatesResult>(
      method::kResourcesTemplatesList, &ListResourceTemplatesResult::resource_templates,
      std::move(done));
}

void Client::ListToolsPage(std::optional<std::string> cursor, Callback<ListToolsResult> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kTools)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  PaginatedParams params;
  params.cursor = std::move(cursor);
  Request<ListToolsResult>(method::kToolsList, ToJson(params), RequestOptions{}, std::move(done));
}

RequestId Client::CallTool(absl::string_view name, Json arguments, CallOptions options,
                           Callback<CallToolResult> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kTools)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return RequestId();
  }
  CallToolParams params;
  params.name = std::string(name);
  if (!arguments.is_null()) {
    params.arguments = std::move(arguments);
  }
  params.meta = std::move(options.meta);
  RequestOptions request_options;
  request_options.timeout = options.timeout;
  if (options.on_progress) {
    request_options.on_progress =
        [fn = std::move(options.on_progress)](const Message& notification) mutable {
          if (notification.params() == nullptr) {
            return;
          }
          absl::StatusOr<ProgressParams> p = FromJson<ProgressParams>(*notification.params());
          if (p.ok()) {
            fn(*p);
          }
        };
  }
  return Request<CallToolResult>(method::kToolsCall, ToJson(params), std::move(request_options),
                                 std::move(done));
}

void Client::GetPrompt(absl::string_view name, std::map<std::string, std::string> arguments,
                       Callback<GetPromptResult> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kPrompts)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  GetPromptParams params;
  params.name = std::string(name);
  if (!arguments.empty()) {
    params.arguments = std::move(arguments);
  }
  Request<GetPromptResult>(method::kPromptsGet, ToJson(params), RequestOptions{}, std::move(done));
}

void Client::ReadResource(absl::string_view uri, Callback<ReadResourceResult> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kResources)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  Request<ReadResourceResult>(method::kResourcesRead, UriParams(uri), RequestOptions{},
                              std::move(done));
}

void Client::Subscribe(absl::string_view uri, Callback<EmptyResult> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kSubscribe)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  Request<EmptyResult>(method::kResourcesSubscribe, UriParams(uri), RequestOptions{},
                       std::move(done));
}

void Client::Unsubscribe(absl::string_view uri, Callback<EmptyResult> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kSubscribe)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  Request<EmptyResult>(method::kResourcesUnsubscribe, UriParams(uri), RequestOptions{},
                       std::move(done));
}

void Client::Complete(const CompleteParams& params, Callback<CompleteResult> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kCompletions)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  Request<CompleteResult>(method::kCompletionComplete, ToJson(params), RequestOptions{},
                          std::move(done));
}

void Client::SetLogLevel(LoggingLevel level, Callback<EmptyResult> done) {
  if (absl::Status ok = CheckCapability(static_cast<int>(Needs::kLogging)); !ok.ok()) {
    std::move(done)(std::move(ok));
    return;
  }
  SetLevelParams params;
  params.level = level;
  Request<EmptyResult>(method::kLoggingSetLevel, ToJson(params), RequestOptions{},
                       std::move(done));
}

void Client::Ping(Callback<EmptyResult> done) {
  Request<EmptyResult>(method::kPing, Json(), RequestOptions{}, std::move(done));
}

bool Client::Cancel(const RequestId& id, absl::string_view reason) {
  return session_->Cancel(id, reason);
}

void Client::Close() { session_->Close(); }

}  // namespace mcpgw::mcp
