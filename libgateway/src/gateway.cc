#include "mcpgw/gateway/gateway.h"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/mcp/json_bind.h"
#include "mcpgw/mcp/session.h"
#include "mcpgw/mcp/uri_template.h"
#include "spdlog/spdlog.h"

namespace mcpgw::gateway {
namespace {

using mcp::IncomingRequest;
using mcp::Json;
using mcp::JsonValue;
using mcp::Message;

enum Kind { kTools = 0, kPrompts, kResources, kTemplates, kKinds };

constexpr absl::string_view kListMethod[kKinds] = {
    mcp::method::kToolsList, mcp::method::kPromptsList, mcp::method::kResourcesList,
    mcp::method::kResourcesTemplatesList};
constexpr absl::string_view kListMember[kKinds] = {"tools", "prompts", "resources",
                                                    "resourceTemplates"};
constexpr const char* kKeyMember[kKinds] = {"name", "name", "uri", "uriTemplate"};

// Bounds on one server's listing.
constexpr size_t kMaxPages = 1000;
constexpr size_t kMaxItems = 100000;

// One server's last list of one kind: the items as the server sent them (JSON objects).
using ItemList = std::vector<Json>;

// Where an exposed name or URI goes.
struct Route {
  size_t server = 0;
  std::string original;
};

std::string StringMember(const JsonValue& v, const char* key) {
  if (!v.IsObject()) {
    return "";
  }
  auto it = v.FindMember(key);
  return it != v.MemberEnd() && it->value.IsString() ? std::string(mcp::AsStringView(it->value))
                                                     : "";
}

absl::Status ErrorStatus(const mcp::ErrorObject& e) {
  return absl::UnavailableError(absl::StrCat(e.message, " (", e.code, ")"));
}

}  // namespace

struct Gateway::Impl : std::enable_shared_from_this<Gateway::Impl> {
  GatewayOptions options;
  std::vector<GatewayServer> servers;

  mutable absl::Mutex mu;
  std::shared_ptr<mcp::Session> downstream ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<Upstream>> upstreams ABSL_GUARDED_BY(mu);
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  std::optional<mcp::LoggingLevel> log_level ABSL_GUARDED_BY(mu);
  // Per server and kind: the cached list (nullopt: not fetched, or dropped).
  std::vector<std::array<std::optional<ItemList>, kKinds>> cache ABSL_GUARDED_BY(mu);
  // Per server and kind: the last list it gave, kept when the cache is dropped, so that a
  // server that is restarting or backing off keeps its routes and exposed names.
  std::vector<std::array<std::optional<ItemList>, kKinds>> last_seen ABSL_GUARDED_BY(mu);
  // Per server: enabled (SetServerEnabled). A disabled server is neither listed nor routed to.
  std::vector<char> enabled ABSL_GUARDED_BY(mu);
  // What the client declared in initialize: upstreams made later (a server enabled again)
  // declare the same.
  mcp::ClientCapabilities client_caps ABSL_GUARDED_BY(mu);
  mcp::ProtocolVersion client_version ABSL_GUARDED_BY(mu) = mcp::kLatestProtocolVersion;
  // Upstreams replaced when their server was disabled: WaitStopped waits for them too.
  std::vector<std::shared_ptr<Upstream>> retired_upstreams ABSL_GUARDED_BY(mu);
  // Exposed tool/prompt name → route, resource URI → route; rebuilt by each listing.
  absl::flat_hash_map<std::string, Route> routes[kKinds] ABSL_GUARDED_BY(mu);
  std::vector<std::pair<mcp::UriTemplate, size_t>> templates ABSL_GUARDED_BY(mu);

  std::shared_ptr<mcp::Session> Downstream() const {
    absl::MutexLock lock(&mu);
    return downstream;
  }

  std::vector<std::shared_ptr<Upstream>> Upstreams() const {
    absl::MutexLock lock(&mu);
    return upstreams;
  }

  bool IsEnabled(size_t server) const {
    absl::MutexLock lock(&mu);
    return server < enabled.size() && enabled[server] != 0;
  }

  bool Allowed(size_t server, absl::string_view tool) const {
    const auto& allow = servers[server].allowed_tools;
    return !allow.has_value() || std::find(allow->begin(), allow->end(), tool) != allow->end();
  }

  // --- Initialize -----------------------------------------------------------------------

  void OnInitialize(IncomingRequest request) {
    const JsonValue* params = request.params();
    absl::StatusOr<mcp::InitializeParams> init =
        params != nullptr ? mcp::FromJson<mcp::InitializeParams>(*params)
                          : absl::StatusOr<mcp::InitializeParams>(
                                absl::InvalidArgumentError("initialize needs params"));
    if (!init.ok()) {
      request.Respond(init.status());
      return;
    }
    mcp::ProtocolVersion version = mcp::NegotiateVersion(init->protocol_version);
    mcp::InitializeResult result;
    result.protocol_version = std::string(mcp::ToString(version));
    result.server_info = options.info;
    result.instructions = options.instructions;
    // A fixed set, not a union of servers that may not have started.
    result.capabilities.tools = mcp::ToolsCapability{.list_changed = true, .extra = {}};
    result.capabilities.prompts = mcp::PromptsCapability{.list_changed = true, .extra = {}};
    result.capabilities.resources =
        mcp::ResourcesCapability{.subscribe = true, .list_changed = true, .extra = {}};
    result.capabilities.logging = Json::Object();
    result.capabilities.completions = Json::Object();
    CreateUpstreams(init->capabilities, version);
    if (std::shared_ptr<mcp::Session> down = request.session()) {
      down->SetProtocolVersion(version);
    }
    request.Respond(mcp::ToJson(result));
  }

  void CreateUpstreams(const mcp::ClientCapabilities& caps, mcp::ProtocolVersion version) {
    std::vector<std::shared_ptr<Upstream>> made;
    {
      absl::MutexLock lock(&mu);
      if (!upstreams.empty() || shut_down) {
        return;  // a second initialize: the first one's servers stay
      }
      client_caps = caps;
      client_version = version;
    }
    for (size_t i = 0; i < servers.size(); ++i) {
      made.push_back(MakeUpstream(i));
    }
    bool late;
    {
      absl::MutexLock lock(&mu);
      late = shut_down;  // Shutdown came while they were being made: they never start
      if (!late) {
        upstreams = made;
        cache.assign(servers.size(), {});
        last_seen.assign(servers.size(), {});
      }
    }
    if (late) {
      for (const auto& up : made) {
        up->Shutdown();
      }
      return;
    }
    for (size_t i = 0; i < made.size(); ++i) {
      if (!IsEnabled(i)) {
        made[i]->Shutdown();  // refuses every need until SetEnabled replaces it
      } else if (servers[i].config.mode == RunMode::kLongLived) {
        made[i]->Start();
      }
    }
  }

  // MakeUpstream makes (does not start) the upstream of server `i`, declaring what the client
  // declared.
  std::shared_ptr<Upstream> MakeUpstream(size_t i) {
    UpstreamConfig config = servers[i].config;
    config.client.info = options.info;
    {
      absl::MutexLock lock(&mu);
      config.client.protocol_version = client_version;
      config.client.capabilities = client_caps;
    }
    config.client.session = options.upstream_session;
    config.spec.labels["io.mcpgw.server"] = config.name;
    auto up = Upstream::Create(std::move(config), servers[i].runtime,
                               options.upstream_session.clock, options.upstream_session.executor);
    std::weak_ptr<Impl> weak = weak_from_this();
    up->SetConnectHook([weak, i](mcp::Client& client) {
      if (auto self = weak.lock()) {
        self->Wire(i, client);
      }
    });
    up->SetStateHook([weak, i](UpstreamState state) {
      if (auto self = weak.lock()) {
        self->OnUpstreamState(i, state);
      }
    });
    return up;
  }

  // --- What servers send ------------------------------------------------------------------

  // Wire attaches the forwarding handlers to a server's new client (before it connects).
  void Wire(size_t server, mcp::Client& client) {
    std::weak_ptr<Impl> weak = weak_from_this();
    mcp::Session& up = client.session();
    // Requests from the server to the client: passed through as they are (errors included).
    for (absl::string_view method :
         {mcp::method::kSamplingCreateMessage, mcp::method::kElicitationCreate,
          mcp::method::kRootsList}) {
      up.SetRequestHandler(
          method,
          [weak, method](IncomingRequest request) {
            auto self = weak.lock();
            std::shared_ptr<mcp::Session> down = self ? self->Downstream() : nullptr;
            if (down == nullptr) {
              request.Respond(absl::UnavailableError("the client is gone"));
              return;
            }
            auto held = std::make_shared<IncomingRequest>(std::move(request));
            Json params = held->params() != nullptr ? Json::Copy(*held->params()) : Json::Object();
            // A person may be answering (elicitation): no timeout of the gateway's own beyond
            // the session's maximum; the server's cancellation reaches the client.
            mcp::RequestOptions to_client;
            to_client.timeout = absl::InfiniteDuration();
            mcp::RequestId id = down->SendRequest(method, std::move(params), std::move(to_client),
                                                  [held](absl::StatusOr<Message> answer) {
                                                    if (answer.ok()) {
                                                      held->RespondWith(*std::move(answer));
                                                    } else {
                                                      held->Respond(answer.status());
                                                    }
                                                  });
            std::weak_ptr<mcp::Session> weak_down = down;
            held->OnCancel([weak_down, id] {
              if (auto d = weak_down.lock()) {
                d->Cancel(id, "cancelled by the server");
              }
            });
          },
          mcp::HandlerMode::kInline);
    }
    // Notifications: list changes drop the cache and reach the client; logs and resource
    // updates are passed on.
    const std::pair<absl::string_view, Kind> changes[] = {
        {mcp::method::kToolsListChanged, kTools},
        {mcp::method::kPromptsListChanged, kPrompts},
        {mcp::method::kResourcesListChanged, kResources}};
    for (const auto& [method, kind] : changes) {
      up.SetNotificationHandler(method, [weak, server, kind = kind, method = method](const Message&) {
        if (auto self = weak.lock()) {
          self->Invalidate(server, kind);
          if (kind == kResources) {
            self->Invalidate(server, kTemplates);
          }
          self->Notify(method, Json::Object());
        }
      });
    }
    up.SetNotificationHandler(mcp::method::kMessage, [weak, server](const Message& m) {
      auto self = weak.lock();
      if (self == nullptr || m.params() == nullptr) {
        return;
      }
      // Tagged with the server's name, so the client knows whose log it is.
      Json params = Json::Copy(*m.params());
      std::string logger = StringMember(params.value(), "logger");
      params.Set("logger", logger.empty() ? self->servers[server].config.name
                                          : absl::StrCat(self->servers[server].config.name, "/",
                                                         logger));
      self->Notify(mcp::method::kMessage, std::move(params));
    });
    up.SetNotificationHandler(mcp::method::kResourcesUpdated, [weak](const Message& m) {
      if (auto self = weak.lock(); self != nullptr && m.params() != nullptr) {
        self->Notify(mcp::method::kResourcesUpdated, Json::Copy(*m.params()));
      }
    });
  }

  void OnUpstreamState(size_t server, UpstreamState state) {
    if (state == UpstreamState::kStopped || state == UpstreamState::kBackingOff) {
      // A restarted server may list differently.
      for (int k = 0; k < kKinds; ++k) {
        Invalidate(server, static_cast<Kind>(k));
      }
      return;
    }
    if (state != UpstreamState::kReady) {
      return;
    }
    std::optional<mcp::LoggingLevel> level;
    std::shared_ptr<Upstream> up;
    {
      absl::MutexLock lock(&mu);
      level = log_level;
      up = server < upstreams.size() ? upstreams[server] : nullptr;
    }
    std::shared_ptr<mcp::Client> client = up != nullptr ? up->client_if_ready() : nullptr;
    if (level.has_value() && client != nullptr && client->server().has_value() &&
        client->server()->capabilities.logging.has_value()) {
      client->SetLogLevel(*level, [](absl::StatusOr<mcp::EmptyResult>) {});
    }
  }

  void Invalidate(size_t server, Kind kind) {
    absl::MutexLock lock(&mu);
    if (server < cache.size()) {
      cache[server][kind].reset();
    }
  }

  void Notify(absl::string_view method, Json params) {
    if (std::shared_ptr<mcp::Session> down = Downstream()) {
      down->SendNotification(method, std::move(params)).IgnoreError();
    }
  }

  // --- Listing ----------------------------------------------------------------------------

  // Gather fetches `kind` from every server (cached lists as they are, the others in
  // parallel, starting servers as needed), then calls `done` with each server's list
  // (nullopt for a server that failed or was too slow).
  void Gather(Kind kind, absl::AnyInvocable<void(std::vector<std::optional<ItemList>>) &&> done) {
    struct State {
      absl::Mutex mu;
      std::vector<std::optional<ItemList>> lists ABSL_GUARDED_BY(mu);
      size_t pending ABSL_GUARDED_BY(mu) = 0;
      bool finished ABSL_GUARDED_BY(mu) = false;
      base::TimerId timer ABSL_GUARDED_BY(mu) = 0;
      absl::AnyInvocable<void(std::vector<std::optional<ItemList>>) &&> done;
    };
    base::Clock* clock = options.upstream_session.clock != nullptr ? options.upstream_session.clock
                                                                   : &base::RealClock();
    auto state = std::make_shared<State>();
    // Servers that did not answer this time are listed as they were last seen.
    std::weak_ptr<Impl> weak_self = weak_from_this();
    state->done = [weak_self, kind, done = std::move(done)](
                      std::vector<std::optional<ItemList>> lists) mutable {
      if (auto self = weak_self.lock()) {
        absl::MutexLock lock(&self->mu);
        for (size_t i = 0; i < lists.size() && i < self->last_seen.size(); ++i) {
          if (!lists[i].has_value()) {
            lists[i] = self->last_seen[i][kind];
          }
        }
      }
      std::move(done)(std::move(lists));
    };
    std::vector<std::shared_ptr<Upstream>> ups;
    std::vector<size_t> to_fetch;
    {
      absl::MutexLock lock(&mu);
      ups = upstreams;
      absl::MutexLock state_lock(&state->mu);
      state->lists.resize(ups.size());
      for (size_t i = 0; i < ups.size(); ++i) {
        if (i < enabled.size() && enabled[i] == 0) {
          continue;  // disabled: not listed, not started
        }
        if (cache[i][kind].has_value()) {
          state->lists[i] = cache[i][kind];
        } else {
          to_fetch.push_back(i);
        }
      }
      state->pending = to_fetch.size();
    }
    // Called when every server answered, or when list_timeout is over (whichever is first).
    auto finish = [state, clock]() {
      std::vector<std::optional<ItemList>> lists;
      base::TimerId timer;
      {
        absl::MutexLock lock(&state->mu);
        if (state->finished) {
          return;
        }
        state->finished = true;
        lists = std::move(state->lists);
        timer = state->timer;
      }
      if (timer != 0) {
        clock->Cancel(timer);
      }
      std::move(state->done)(std::move(lists));
    };
    if (to_fetch.empty()) {
      finish();
      return;
    }
    base::TimerId timer = clock->RunAfter(options.list_timeout, finish);
    {
      absl::MutexLock lock(&state->mu);
      state->timer = timer;
    }
    std::weak_ptr<Impl> weak = weak_from_this();
    for (size_t i : to_fetch) {
      FetchAll(kind, ups[i], [weak, state, i, kind, finish](absl::StatusOr<ItemList> got) mutable {
        auto self = weak.lock();
        if (!got.ok()) {
          if (self != nullptr) {
            spdlog::warn("listing {} of server {}: {}", kListMember[kind],
                         self->servers[i].config.name, got.status().message());
          }
        } else if (self != nullptr) {
          absl::MutexLock lock(&self->mu);
          if (i < self->cache.size()) {
            self->cache[i][kind] = *got;
            self->last_seen[i][kind] = *got;
          }
        }
        bool last;
        {
          absl::MutexLock lock(&state->mu);
          if (got.ok() && !state->finished) {
            state->lists[i] = *std::move(got);
          }
          last = --state->pending == 0;
        }
        if (last) {
          finish();
        }
      });
    }
  }

  // FetchAll lists one kind of one server, following its cursors.
  void FetchAll(Kind kind, std::shared_ptr<Upstream> up,
                absl::AnyInvocable<void(absl::StatusOr<ItemList>) &&> done) {
    up->Acquire([kind, done = std::move(done)](absl::StatusOr<Upstream::Lease> lease) mutable {
      if (!lease.ok()) {
        std::move(done)(lease.status());
        return;
      }
      std::optional<mcp::InitializeResult> init = (*lease)->server();
      const mcp::ServerCapabilities* caps = init.has_value() ? &init->capabilities : nullptr;
      bool offered = caps != nullptr && (kind == kTools     ? caps->tools.has_value()
                                         : kind == kPrompts ? caps->prompts.has_value()
                                                            : caps->resources.has_value());
      if (!offered) {
        std::move(done)(ItemList{});  // the server has none of these
        return;
      }
      auto lease_ptr = std::make_shared<Upstream::Lease>(*std::move(lease));
      auto items = std::make_shared<ItemList>();
      auto cursors = std::make_shared<absl::flat_hash_set<std::string>>();
      auto page = std::make_shared<absl::AnyInvocable<void(std::optional<std::string>)>>();
      auto shared_done =
          std::make_shared<absl::AnyInvocable<void(absl::StatusOr<ItemList>) &&>>(std::move(done));
      std::weak_ptr<absl::AnyInvocable<void(std::optional<std::string>)>> weak_page = page;
      *page = [lease_ptr, items, cursors, weak_page, shared_done,
               kind](std::optional<std::string> cursor) {
        Json params = Json::Object();
        if (cursor.has_value()) {
          params.Set("cursor", *cursor);
        }
        auto keep = weak_page.lock();
        (*lease_ptr)->session().SendRequest(
            kListMethod[kind], std::move(params), {},
            [lease_ptr, items, cursors, keep, shared_done, kind](absl::StatusOr<Message> answer) {
              if (!answer.ok() || answer->kind() != mcp::MessageKind::kResponse) {
                std::move (*shared_done)(answer.ok() ? ErrorStatus(answer->error())
                                                     : answer.status());
                return;
              }
              const JsonValue* result = answer->result();
              const std::string member(kListMember[kind]);
              if (result == nullptr || !result->IsObject() || !result->HasMember(member.c_str()) ||
                  !(*result)[member.c_str()].IsArray()) {
                std::move(*shared_done)(absl::DataLossError(
                    absl::StrCat("the server answered ", kListMethod[kind], " without a list")));
                return;
              }
              for (const JsonValue& item : (*result)[member.c_str()].GetArray()) {
                if (item.IsObject()) {
                  items->push_back(Json::Copy(item));
                }
              }
              std::string next = StringMember(*result, "nextCursor");
              if (next.empty() || keep == nullptr) {
                std::move(*shared_done)(std::move(*items));
                return;
              }
              // Bounded: a server that repeats a cursor or pages on and on is a broken server.
              if (!cursors->insert(next).second || cursors->size() > kMaxPages ||
                  items->size() > kMaxItems) {
                std::move(*shared_done)(absl::DataLossError(absl::StrCat(
                    "the server's ", kListMethod[kind], " pages do not end (", cursors->size(),
                    " pages, ", items->size(), " items, cursor '", next.substr(0, 40), "')")));
                return;
              }
              (*keep)(next);
            });
      };
      (*page)(std::nullopt);
    });
  }

  // Merge builds the exposed list of `kind` from the servers' lists and records the routes.
  Json Merge(Kind kind, const std::vector<std::optional<ItemList>>& lists) {
    // Disabled servers are left out (a last-seen list may have filled them in).
    std::vector<char> on;
    {
      absl::MutexLock lock(&mu);
      on = enabled;
    }
    auto skip = [&](size_t s) { return !lists[s].has_value() || (s < on.size() && on[s] == 0); };
    Json out = Json::Array();
    absl::flat_hash_map<std::string, Route> new_routes;
    std::vector<std::pair<mcp::UriTemplate, size_t>> new_templates;
    // How many servers offer each name (allowed items only).
    absl::flat_hash_map<std::string, int> count;
    for (size_t s = 0; s < lists.size(); ++s) {
      if (skip(s)) {
        continue;
      }
      for (const Json& item : *lists[s]) {
        std::string key = StringMember(item.value(), kKeyMember[kind]);
        if (!key.empty() && (kind != kTools || Allowed(s, key))) {
          ++count[key];
        }
      }
    }
    for (size_t s = 0; s < lists.size(); ++s) {
      if (skip(s)) {
        continue;
      }
      const std::string& server = servers[s].config.name;
      for (const Json& item : *lists[s]) {
        std::string key = StringMember(item.value(), kKeyMember[kind]);
        if (key.empty() || (kind == kTools && !Allowed(s, key))) {
          continue;
        }
        std::string exposed = key;
        if (kind == kTools || kind == kPrompts) {
          bool prefix = options.naming == NamingPolicy::kAlwaysPrefix ||
                        (options.naming == NamingPolicy::kPrefixOnConflict && count[key] > 1);
          if (prefix) {
            absl::StatusOr<std::string> name = PrefixedName(SanitizeServerName(server), key);
            if (!name.ok()) {
              spdlog::warn("{} {} of server {} is hidden: {}", kListMember[kind], key, server,
                           name.status().message());
              continue;
            }
            exposed = *name;
          }
        }
        if (kind == kTemplates) {
          absl::StatusOr<mcp::UriTemplate> t = mcp::UriTemplate::Parse(key);
          if (t.ok()) {
            new_templates.emplace_back(*std::move(t), s);
          }
        } else if (new_routes.contains(exposed)) {
          spdlog::warn("{} {} of server {} is hidden: server {} has one of the same name",
                       kListMember[kind], key, server,
                       servers[new_routes[exposed].server].config.name);
          continue;
        } else {
          new_routes[exposed] = Route{.server = s, .original = key};
        }
        Json copy = item;
        if (exposed != key) {
          copy.Set(kKeyMember[kind], exposed);
        }
        out.mutable_value().PushBack(JsonValue(copy.mutable_value(), out.allocator()),
                                     out.allocator());
      }
    }
    absl::MutexLock lock(&mu);
    if (kind == kTemplates) {
      templates = std::move(new_templates);
    } else {
      routes[kind] = std::move(new_routes);
    }
    return out;
  }

  void OnList(Kind kind, IncomingRequest request) {
    auto held = std::make_shared<IncomingRequest>(std::move(request));
    std::weak_ptr<Impl> weak = weak_from_this();
    Gather(kind, [weak, held, kind](std::vector<std::optional<ItemList>> lists) {
      auto self = weak.lock();
      if (self == nullptr) {
        held->Respond(absl::UnavailableError("the gateway is shutting down"));
        return;
      }
      Json result = Json::Object();
      Json items = self->Merge(kind, lists);
      result.Set(kListMember[kind], items);
      held->Respond(std::move(result));
    });
  }

  // --- Routing ----------------------------------------------------------------------------

  // Lookup finds the route of an exposed name or URI; when unknown, lists `kind` once (a
  // client may call without listing) and looks again.
  void Lookup(Kind kind, std::string key,
              absl::AnyInvocable<void(std::optional<Route>) &&> done) {
    auto find = [this, kind, &key]() -> std::optional<Route> {
      std::vector<std::pair<mcp::UriTemplate, size_t>> candidates;
      {
        absl::MutexLock lock(&mu);
        auto it = routes[kind].find(key);
        if (it != routes[kind].end()) {
          return it->second;
        }
        if (kind == kResources) {
          candidates = templates;  // matched outside the lock
        }
      }
      for (const auto& [t, s] : candidates) {
        if (t.Match(key)) {
          return Route{.server = s, .original = key};
        }
      }
      return std::nullopt;
    };
    if (std::optional<Route> r = find()) {
      std::move(done)(r);
      return;
    }
    std::weak_ptr<Impl> weak = weak_from_this();
    auto relist = [weak, kind, key = std::move(key),
                   done = std::move(done)](std::vector<std::optional<ItemList>> lists) mutable {
      auto self = weak.lock();
      if (self == nullptr) {
        std::move(done)(std::nullopt);
        return;
      }
      self->Merge(kind, lists);
      if (kind != kResources) {
        std::optional<Route> r;
        {
          absl::MutexLock lock(&self->mu);
          auto it = self->routes[kind].find(key);
          if (it != self->routes[kind].end()) {
            r = it->second;
          }
        }
        std::move(done)(r);
        return;
      }
      // Resources: the URI list, then the templates.
      self->Gather(kTemplates, [weak, key = std::move(key), done = std::move(done)](
                                   std::vector<std::optional<ItemList>> tlists) mutable {
        auto me = weak.lock();
        if (me == nullptr) {
          std::move(done)(std::nullopt);
          return;
        }
        me->Merge(kTemplates, tlists);
        std::optional<Route> r;
        std::vector<std::pair<mcp::UriTemplate, size_t>> candidates;
        {
          absl::MutexLock lock(&me->mu);
          auto it = me->routes[kResources].find(key);
          if (it != me->routes[kResources].end()) {
            r = it->second;
          } else {
            candidates = me->templates;  // matched outside the lock
          }
        }
        for (const auto& [t, s] : candidates) {
          if (!r.has_value() && t.Match(key)) {
            r = Route{.server = s, .original = key};
          }
        }
        std::move(done)(r);
      });
    };
    Gather(kind, std::move(relist));
  }

  // OnRouted handles a request naming a tool or prompt (`name`) or a resource (`uri`).
  void OnRouted(Kind kind, const char* key_member, IncomingRequest request) {
    const JsonValue* params = request.params();
    std::string key = params != nullptr ? StringMember(*params, key_member) : "";
    if (key.empty()) {
      request.RespondError({.code = mcp::error_code::kInvalidParams,
                            .message = absl::StrCat(request.method(), " needs params.",
                                                    key_member),
                            .data = Json()});
      return;
    }
    auto held = std::make_shared<IncomingRequest>(std::move(request));
    std::weak_ptr<Impl> weak = weak_from_this();
    Lookup(kind, key, [weak, held, kind, key, key_member](std::optional<Route> route) {
      auto self = weak.lock();
      if (self == nullptr) {
        held->Respond(absl::UnavailableError("the gateway is shutting down"));
        return;
      }
      if (route.has_value() && !self->IsEnabled(route->server)) {
        route.reset();  // routed before its server was disabled
      }
      if (!route.has_value()) {
        const char* what = kind == kTools ? "tool" : kind == kPrompts ? "prompt" : "resource";
        held->RespondError(
            {.code = kind == kResources ? mcp::error_code::kResourceNotFound
                                        : mcp::error_code::kInvalidParams,
             .message = absl::StrCat("unknown ", what, " '", key,
                                     "': list them with ", kListMethod[kind]),
             .data = Json()});
        return;
      }
      self->Forward(*route, key_member, held);
    });
  }

  // Forward sends the request to the route's server under the server's own name, forwarding
  // progress and cancellation, and answers with the server's response as it is.
  void Forward(const Route& route, const char* key_member,
               std::shared_ptr<IncomingRequest> held) {
    std::shared_ptr<Upstream> up;
    {
      absl::MutexLock lock(&mu);
      up = route.server < upstreams.size() ? upstreams[route.server] : nullptr;
    }
    if (up == nullptr) {
      held->Respond(absl::UnavailableError("the gateway is shutting down"));
      return;
    }
    Json params = held->params() != nullptr ? Json::Copy(*held->params()) : Json::Object();
    params.Set(key_member, route.original);
    // The client's progress token stays here; the server gets a token of the upstream session.
    std::optional<Json> token;
    JsonValue& p = params.mutable_value();
    if (p.HasMember("_meta") && p["_meta"].IsObject() && p["_meta"].HasMember("progressToken")) {
      token = Json::Copy(p["_meta"]["progressToken"]);
      p["_meta"].RemoveMember("progressToken");
    }
    std::string method(held->method());
    std::weak_ptr<Impl> weak = weak_from_this();
    up->Acquire([weak, held, method, params = std::move(params),
                 token = std::move(token)](absl::StatusOr<Upstream::Lease> lease) mutable {
      if (!lease.ok()) {
        held->Respond(lease.status());
        return;
      }
      auto lease_ptr = std::make_shared<Upstream::Lease>(*std::move(lease));
      mcp::RequestOptions request_options;
      // The client decides how long it waits (it cancels when it gives up); the gateway only
      // bounds it.
      request_options.timeout = absl::InfiniteDuration();
      if (token.has_value()) {
        request_options.on_progress = [weak, token = std::move(*token)](const Message& n) {
          auto self = weak.lock();
          if (self == nullptr || n.params() == nullptr) {
            return;
          }
          Json forwarded = Json::Copy(*n.params());
          forwarded.Set("progressToken", token);
          self->Notify(mcp::method::kProgress, std::move(forwarded));
        };
      }
      mcp::Session& session = (*lease_ptr)->session();
      mcp::RequestId id = session.SendRequest(
          method, std::move(params), std::move(request_options),
          [held, lease_ptr](absl::StatusOr<Message> answer) {
            if (answer.ok()) {
              held->RespondWith(*std::move(answer));
            } else {
              held->Respond(answer.status());
            }
          });
      std::weak_ptr<mcp::Client> client = lease_ptr->client();
      held->OnCancel([client, id] {
        if (auto c = client.lock()) {
          c->Cancel(id, "cancelled by the client");
        }
      });
    });
  }

  void OnSetLevel(IncomingRequest request) {
    const JsonValue* params = request.params();
    absl::StatusOr<mcp::SetLevelParams> set =
        params != nullptr ? mcp::FromJson<mcp::SetLevelParams>(*params)
                          : absl::StatusOr<mcp::SetLevelParams>(
                                absl::InvalidArgumentError("logging/setLevel needs params"));
    if (!set.ok()) {
      request.Respond(set.status());
      return;
    }
    std::vector<std::shared_ptr<Upstream>> ups;
    {
      absl::MutexLock lock(&mu);
      log_level = set->level;
      ups = upstreams;
    }
    for (const auto& up : ups) {
      std::shared_ptr<mcp::Client> c = up->client_if_ready();
      if (c != nullptr && c->server().has_value() &&
          c->server()->capabilities.logging.has_value()) {
        c->SetLogLevel(set->level, [](absl::StatusOr<mcp::EmptyResult>) {});
      }
    }
    request.Respond(Json::Object());
  }

  void OnComplete(IncomingRequest request) {
    const JsonValue* params = request.params();
    const JsonValue* ref = params != nullptr && params->IsObject() && params->HasMember("ref")
                               ? &(*params)["ref"]
                               : nullptr;
    std::string type = ref != nullptr ? StringMember(*ref, "type") : "";
    Kind kind = type == "ref/prompt" ? kPrompts : kResources;
    const char* member = type == "ref/prompt" ? "name" : "uri";
    std::string key = ref != nullptr ? StringMember(*ref, member) : "";
    if (key.empty()) {
      request.RespondError({.code = mcp::error_code::kInvalidParams,
                            .message = "completion/complete needs ref.name or ref.uri",
                            .data = Json()});
      return;
    }
    auto held = std::make_shared<IncomingRequest>(std::move(request));
    std::weak_ptr<Impl> weak = weak_from_this();
    Lookup(kind, key, [weak, held, member](std::optional<Route> route) {
      auto self = weak.lock();
      if (self == nullptr || !route.has_value() || !self->IsEnabled(route->server)) {
        // Nothing to complete from: an empty completion, as the spec allows.
        held->Respond(Json::Parse(R"({"completion":{"values":[]}})").value());
        return;
      }
      // The server's own name goes into ref, not the top level.
      Json forwarded = Json::Copy(*held->params());
      JsonValue& forwarded_ref = forwarded.mutable_value()["ref"];
      forwarded_ref[member].SetString(route->original.data(),
                                      static_cast<rapidjson::SizeType>(route->original.size()),
                                      forwarded.allocator());
      std::shared_ptr<Upstream> up;
      {
        absl::MutexLock lock(&self->mu);
        if (route->server < self->upstreams.size()) {
          up = self->upstreams[route->server];
        }
      }
      if (up == nullptr) {
        held->Respond(absl::UnavailableError("the gateway is shutting down"));
        return;
      }
      up->Acquire([held, forwarded = std::move(forwarded)](
                      absl::StatusOr<Upstream::Lease> lease) mutable {
        if (!lease.ok()) {
          held->Respond(lease.status());
          return;
        }
        auto lease_ptr = std::make_shared<Upstream::Lease>(*std::move(lease));
        (*lease_ptr)->session().SendRequest(
            mcp::method::kCompletionComplete, std::move(forwarded), {},
            [held, lease_ptr](absl::StatusOr<Message> answer) {
              if (answer.ok()) {
                held->RespondWith(*std::move(answer));
              } else {
                held->Respond(answer.status());
              }
            });
      });
    });
  }

  void Install(mcp::Session& s) {
    std::weak_ptr<Impl> weak = weak_from_this();
    auto bind = [weak](auto member) {
      return [weak, member](IncomingRequest r) {
        if (auto self = weak.lock()) {
          ((*self).*member)(std::move(r));
        } else {
          r.Respond(absl::UnavailableError("the gateway is shutting down"));
        }
      };
    };
    // Inline (it never blocks): a client that pipes its first requests right behind
    // initialize gets them handled after it, in order.
    s.SetRequestHandler(mcp::method::kInitialize, bind(&Impl::OnInitialize),
                        mcp::HandlerMode::kInline);
    s.SetRequestHandler(
        mcp::method::kPing, [](IncomingRequest r) { r.Respond(Json::Object()); },
        mcp::HandlerMode::kInline);
    const std::pair<absl::string_view, Kind> lists[] = {
        {mcp::method::kToolsList, kTools},
        {mcp::method::kPromptsList, kPrompts},
        {mcp::method::kResourcesList, kResources},
        {mcp::method::kResourcesTemplatesList, kTemplates}};
    for (const auto& [method, kind] : lists) {
      s.SetRequestHandler(
          method,
          [weak, kind = kind](IncomingRequest r) {
            if (auto self = weak.lock()) {
              self->OnList(kind, std::move(r));
            }
          },
          mcp::HandlerMode::kInline);
    }
    struct RoutedMethod {
      absl::string_view method;
      Kind kind;
      const char* member;
    };
    const RoutedMethod routed[] = {{mcp::method::kToolsCall, kTools, "name"},
                                   {mcp::method::kPromptsGet, kPrompts, "name"},
                                   {mcp::method::kResourcesRead, kResources, "uri"},
                                   {mcp::method::kResourcesSubscribe, kResources, "uri"},
                                   {mcp::method::kResourcesUnsubscribe, kResources, "uri"}};
    for (const RoutedMethod& m : routed) {
      s.SetRequestHandler(
          m.method,
          [weak, kind = m.kind, member = m.member](IncomingRequest r) {
            if (auto self = weak.lock()) {
              self->OnRouted(kind, member, std::move(r));
            }
          },
          mcp::HandlerMode::kInline);
    }
    s.SetRequestHandler(mcp::method::kLoggingSetLevel, bind(&Impl::OnSetLevel),
                        mcp::HandlerMode::kInline);
    s.SetRequestHandler(mcp::method::kCompletionComplete, bind(&Impl::OnComplete),
                        mcp::HandlerMode::kInline);
    // The client's roots changed: every running server is told.
    s.SetNotificationHandler(mcp::method::kRootsListChanged, [weak](const Message&) {
      auto self = weak.lock();
      if (self == nullptr) {
        return;
      }
      for (const auto& up : self->Upstreams()) {
        if (auto c = up->client_if_ready()) {
          c->session().SendNotification(mcp::method::kRootsListChanged).IgnoreError();
        }
      }
    });
  }

  void ShutdownAll() {
    std::vector<std::shared_ptr<Upstream>> ups;
    std::shared_ptr<mcp::Session> down;
    {
      absl::MutexLock lock(&mu);
      if (shut_down) {
        return;
      }
      shut_down = true;
      ups = upstreams;
      down = downstream;
    }
    for (const auto& up : ups) {
      up->Shutdown();
    }
    if (down != nullptr) {
      down->Close();
    }
  }

  // --- Enabling, disabling, status ------------------------------------------------------

  absl::Status SetEnabled(absl::string_view name, bool on) {
    size_t i = 0;
    while (i < servers.size() && servers[i].config.name != name) {
      ++i;
    }
    if (i == servers.size()) {
      std::vector<std::string> names;
      for (const GatewayServer& s : servers) {
        names.push_back(s.config.name);
      }
      return absl::NotFoundError(absl::StrCat("no server '", name, "' in this gateway; its servers: ",
                                              absl::StrJoin(names, ", ")));
    }
    std::shared_ptr<Upstream> old;
    bool running;
    bool notify[kKinds] = {true, true, true, false};
    {
      absl::MutexLock lock(&mu);
      if ((enabled[i] != 0) == on) {
        return absl::OkStatus();
      }
      enabled[i] = on ? 1 : 0;
      running = !upstreams.empty() && !shut_down;
      if (running) {
        old = upstreams[i];
        cache[i] = {};
        // Prompts and resources only when it may have some.
        for (Kind k : {kPrompts, kResources}) {
          const std::optional<ItemList>& seen = last_seen[i][k];
          notify[k] = !seen.has_value() || !seen->empty() ||
                      (k == kResources && last_seen[i][kTemplates].has_value() &&
                       !last_seen[i][kTemplates]->empty());
        }
      }
    }
    spdlog::info("server {}: {}", servers[i].config.name, on ? "enabled" : "disabled");
    if (!running) {
      return absl::OkStatus();  // before initialize (or after shutdown): nothing runs yet
    }
    if (!on) {
      // Shut down, it stays in place while disabled: a request that raced past the enabled
      // check fails there instead of starting it.
      old->Shutdown();
    } else {
      // A fresh upstream takes the place of the one shut down.
      std::shared_ptr<Upstream> fresh = MakeUpstream(i);
      bool replaced = false;
      {
        absl::MutexLock lock(&mu);
        if (!shut_down && upstreams[i] == old) {
          upstreams[i] = fresh;
          retired_upstreams.push_back(old);
          replaced = true;
        }
      }
      if (!replaced) {
        fresh->Shutdown();  // the gateway shut down meanwhile
      } else if (servers[i].config.mode == RunMode::kLongLived) {
        fresh->Start();
      }
    }
    const absl::string_view methods[kKinds] = {mcp::method::kToolsListChanged,
                                               mcp::method::kPromptsListChanged,
                                               mcp::method::kResourcesListChanged, ""};
    for (int k = 0; k < kKinds; ++k) {
      if (notify[k]) {
        Notify(methods[k], Json::Object());
      }
    }
    return absl::OkStatus();
  }

  std::vector<ServerStatus> Statuses() const {
    std::vector<ServerStatus> out;
    std::vector<std::shared_ptr<Upstream>> ups;
    {
      absl::MutexLock lock(&mu);
      ups = upstreams;
      for (size_t i = 0; i < servers.size(); ++i) {
        const GatewayServer& s = servers[i];
        ServerStatus st;
        st.name = s.config.name;
        st.kind = s.config.connector ? "in-process" : !s.config.spec.image.empty() ? "image"
                                                                                    : "process";
        st.mode = s.config.mode;
        st.enabled = enabled[i] != 0;
        if (i < last_seen.size() && last_seen[i][kTools].has_value()) {
          size_t n = 0;
          for (const Json& tool : *last_seen[i][kTools]) {
            n += Allowed(i, StringMember(tool.value(), "name")) ? 1 : 0;
          }
          st.tools = n;
        }
        out.push_back(std::move(st));
      }
    }
    for (size_t i = 0; i < out.size() && i < ups.size(); ++i) {
      out[i].state = ups[i]->state();
      out[i].last_error = ups[i]->last_error();
    }
    return out;
  }
};

absl::StatusOr<std::shared_ptr<Gateway>> Gateway::Create(GatewayOptions options,
                                                         std::vector<GatewayServer> servers) {
  absl::flat_hash_set<std::string> names;
  for (const GatewayServer& s : servers) {
    if (!IsValidName(s.config.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", s.config.name, "' is not a valid server name: use 1 to 128 of [A-Za-z0-9_.-]"));
    }
    if (!names.insert(s.config.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two servers are named '", s.config.name, "'"));
    }
    if (s.runtime == nullptr && s.server == nullptr && !s.config.connector) {
      return absl::InvalidArgumentError(
          absl::StrCat("server '", s.config.name, "' has no runtime to run it"));
    }
  }
  auto impl = std::make_shared<Impl>();
  impl->options = std::move(options);
  std::vector<char> enabled;
  for (GatewayServer& s : servers) {
    if (s.server != nullptr) {
      s.config.connector = InProcessConnector(s.server);
    }
    enabled.push_back(s.enabled ? 1 : 0);
  }
  impl->servers = std::move(servers);
  {
    absl::MutexLock lock(&impl->mu);
    impl->enabled = std::move(enabled);
  }
  return std::shared_ptr<Gateway>(new Gateway(std::move(impl)));
}

Gateway::Gateway(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { impl_->ShutdownAll(); }

absl::Status Gateway::Serve(mcp::TransportPtr transport,
                            absl::AnyInvocable<void(absl::Status) &&> on_closed) {
  mcp::SessionOptions session_options = impl_->options.downstream_session;
  if (session_options.name == "session") {
    session_options.name = "client";
  }
  std::shared_ptr<mcp::Session> session =
      mcp::Session::Create(std::move(transport), std::move(session_options));
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->downstream != nullptr || impl_->shut_down) {
      return absl::FailedPreconditionError("this gateway already serves a client");
    }
    impl_->downstream = session;
  }
  impl_->Install(*session);
  auto shared_closed =
      std::make_shared<absl::AnyInvocable<void(absl::Status) &&>>(std::move(on_closed));
  session->SetClosedCallback([shared_closed](absl::Status why) {
    if (*shared_closed) {
      std::move (*shared_closed)(std::move(why));
    }
  });
  return session->Start();
}

void Gateway::Shutdown() { impl_->ShutdownAll(); }

absl::Status Gateway::WaitStopped(absl::Time deadline) {
  absl::Status all;
  std::vector<std::shared_ptr<Upstream>> ups = impl_->Upstreams();
  {
    absl::MutexLock lock(&impl_->mu);
    ups.insert(ups.end(), impl_->retired_upstreams.begin(), impl_->retired_upstreams.end());
  }
  for (const auto& up : ups) {
    absl::Status one = up->WaitStopped(deadline);
    if (all.ok()) {
      all = one;
    }
  }
  return all;
}

std::vector<std::shared_ptr<Upstream>> Gateway::upstreams() const { return impl_->Upstreams(); }

std::vector<ServerStatus> Gateway::ServerStatuses() const { return impl_->Statuses(); }

absl::Status Gateway::SetServerEnabled(absl::string_view name, bool enabled) {
  return impl_->SetEnabled(name, enabled);
}

}  // namespace mcpgw::gateway
