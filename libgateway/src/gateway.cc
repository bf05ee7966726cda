#include "mcpgw/gateway/gateway.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/container/runtime.h"
#include "mcpgw/mcp/down_level.h"
#include "mcpgw/mcp/json_bind.h"
#include "mcpgw/mcp/server.h"
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

// Changes of one list within this time reach the client as one list_changed.
constexpr absl::Duration kCoalesce = absl::Milliseconds(50);

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

// A URI that two servers share is exposed as "mcpgw://<server>/<uri>" for each of them, and
// so are the URIs their templates make; the original follows the server's name as it is.
constexpr absl::string_view kUriPrefix = "mcpgw://";

std::string PrefixedUri(absl::string_view server, absl::string_view uri) {
  return absl::StrCat(kUriPrefix, server, "/", uri);
}

// A URI template as a server lists it, and how the gateway exposes it.
struct TemplateRoute {
  mcp::UriTemplate original;
  size_t server = 0;
  bool prefixed = false;
};

// Bound on the URIs remembered from resource links (URIs no listing names).
constexpr size_t kMaxLinkRoutes = 4096;

// VisitUris calls `f` on every resource URI string in a result of `method` as a server sent
// it: resource links and embedded resources in tool results and prompt messages, the
// contents of resources/read. `V` is JsonValue or const JsonValue.
template <typename V, typename F>
void VisitUris(absl::string_view method, V& result, F&& f) {
  auto uri_of = [&f](V* holder) {
    V* uri = holder != nullptr ? mcp::FindMember(*holder, "uri") : nullptr;
    if (uri != nullptr && uri->IsString()) {
      f(*uri);
    }
  };
  auto block = [&uri_of](V& b) {
    V* type = mcp::FindMember(b, "type");
    if (type == nullptr || !type->IsString()) {
      return;
    }
    absl::string_view t = mcp::AsStringView(*type);
    if (t == "resource_link") {
      uri_of(&b);
    } else if (t == "resource") {
      V* r = mcp::FindMember(b, "resource");
      uri_of(r != nullptr && r->IsObject() ? r : nullptr);
    }
  };
  auto array = [&result](absl::string_view member) -> V* {
    V* a = mcp::FindMember(result, member);
    return a != nullptr && a->IsArray() ? a : nullptr;
  };
  if (method == mcp::method::kToolsCall) {
    if (V* content = array("content")) {
      for (V& b : content->GetArray()) {
        block(b);
      }
    }
  } else if (method == mcp::method::kPromptsGet) {
    if (V* messages = array("messages")) {
      for (V& m : messages->GetArray()) {
        if (V* content = mcp::FindMember(m, "content")) {
          block(*content);
        }
      }
    }
  } else if (method == mcp::method::kResourcesRead) {
    if (V* contents = array("contents")) {
      for (V& c : contents->GetArray()) {
        uri_of(&c);
      }
    }
  }
}

// The preparation (image pull) of one server: begun when the gateway is created, again at the
// next need after a failure.
struct Preparation {
  absl::Mutex mu;
  bool running ABSL_GUARDED_BY(mu) = false;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Time started ABSL_GUARDED_BY(mu);
  int64_t downloaded ABSL_GUARDED_BY(mu) = 0;
  int64_t to_download ABSL_GUARDED_BY(mu) = 0;
  std::vector<absl::AnyInvocable<void(absl::Status) &&>> waiting ABSL_GUARDED_BY(mu);
};

// Preparations under way in a gateway (shared with the tasks, which may outlive it).
struct PreparingCount {
  absl::Mutex mu;
  int running ABSL_GUARDED_BY(mu) = 0;
};

// A request waiting for a pull: its timers, and whether it has been answered already.
struct PullWait {
  absl::Mutex mu;
  bool over ABSL_GUARDED_BY(mu) = false;
  base::TimerId progress_timer ABSL_GUARDED_BY(mu) = 0;
  base::TimerId deadline_timer ABSL_GUARDED_BY(mu) = 0;
  int64_t last_sent ABSL_GUARDED_BY(mu) = -1;
  std::atomic<bool> answered{false};
};

std::string MiB(int64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

// RequiresTask: a tool whose execution.taskSupport is "required" (2025-11-25).
bool RequiresTask(const JsonValue& tool) {
  const JsonValue* execution = mcp::FindMember(tool, "execution");
  return execution != nullptr && StringMember(*execution, "taskSupport") == "required";
}

absl::Status ErrorStatus(const mcp::ErrorObject& e) {
  return absl::UnavailableError(absl::StrCat(e.message, " (", e.code, ")"));
}

// StartPreparation starts preparing `server` (Runtime::Prepare: its image pull) on `executor`
// unless it is running or done, counted in `count` while it runs.
void StartPreparation(std::shared_ptr<Preparation> prep, std::shared_ptr<PreparingCount> count,
                      const GatewayServer& server, base::Executor* executor) {
  {
    absl::MutexLock lock(&prep->mu);
    if (prep->running || prep->done) {
      return;
    }
    prep->running = true;
    prep->started = absl::Now();
    prep->downloaded = 0;
    prep->to_download = 0;
  }
  {
    absl::MutexLock lock(&count->mu);
    ++count->running;
  }
  container::Runtime* runtime = server.runtime;
  executor->Post([prep, runtime, count, spec = server.config.spec, name = server.config.name] {
    absl::StatusOr<container::Prepared> prepared =
        runtime->Prepare(spec, [prep](const container::PullProgress& p) {
          absl::MutexLock lock(&prep->mu);
          prep->downloaded = p.downloaded;
          prep->to_download = p.to_download;
        });
    absl::Status status =
        prepared.ok() ? absl::OkStatus()
                      : absl::Status(prepared.status().code(),
                                     absl::StrCat("server '", name, "': ",
                                                  prepared.status().message()));
    if (prepared.ok()) {
      spdlog::info("server {}: image {} ({}{})", name, spec.image, prepared->digest,
                   prepared->pulled ? ", pulled" : "");
    } else {
      spdlog::warn("{}", status.message());
    }
    std::vector<absl::AnyInvocable<void(absl::Status) &&>> waiting;
    {
      absl::MutexLock lock(&prep->mu);
      prep->running = false;
      prep->done = prepared.ok();
      waiting.swap(prep->waiting);
    }
    for (auto& done : waiting) {
      std::move(done)(status);
    }
    absl::MutexLock lock(&count->mu);
    --count->running;
  });
}

}  // namespace

// The shared instances and who uses them (see SharedUpstreams in gateway.h). Gateways find a
// server's slot by name at creation; `users` of a slot are the gateways attached to it, with
// the server's index in each.
struct SharedUpstreams::Impl : std::enable_shared_from_this<SharedUpstreams::Impl> {
  struct User {
    std::weak_ptr<Gateway::Impl> gateway;
    size_t server = 0;
  };
  struct Slot {
    std::shared_ptr<Upstream> up;
    absl::flat_hash_map<const Gateway::Impl*, User> users;
    // Resource URI (the server's own) → the gateways subscribed to it.
    absl::flat_hash_map<std::string, absl::flat_hash_set<const Gateway::Impl*>> subscribers;
  };

  GatewayOptions options;
  std::vector<GatewayServer> servers;
  std::vector<std::shared_ptr<Preparation>> preparations;
  std::shared_ptr<PreparingCount> preparing = std::make_shared<PreparingCount>();

  mutable absl::Mutex mu;
  std::vector<Slot> slots ABSL_GUARDED_BY(mu);
  bool shut_down ABSL_GUARDED_BY(mu) = false;

  int Find(absl::string_view name) const {
    for (size_t i = 0; i < servers.size(); ++i) {
      if (servers[i].config.name == name) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  base::Executor* Executor() const {
    return options.upstream_session.executor != nullptr ? options.upstream_session.executor
                                                        : &base::DefaultExecutor();
  }

  // Attach makes `gateway` (whose index for the server is `server`) a user of slot `s`,
  // making its upstream at the first use; null once shut down.
  std::shared_ptr<Upstream> Attach(size_t s, const std::shared_ptr<Gateway::Impl>& gateway,
                                   size_t server);
  // Detach ends `gateway`'s use of slot `s`, dropping its subscriptions (the server is told
  // to unsubscribe those nobody else holds).
  void Detach(size_t s, const Gateway::Impl* gateway);
  std::vector<User> Users(size_t s) const;
  std::vector<User> Subscribers(size_t s, const std::string& uri) const;
  // Subscribe records `gateway`'s subscription; Unsubscribe drops it and says whether nobody
  // else holds it (then the server is to be told).
  // (Nothing is recorded for a gateway no longer attached: its request raced its end.)
  void Subscribe(size_t s, const std::string& uri, const Gateway::Impl* gateway);
  bool Unsubscribe(size_t s, const std::string& uri, const Gateway::Impl* gateway);
  // Resubscribe renews every held subscription on a server that has (re)started.
  void Resubscribe(size_t s);
  void Wire(size_t s, mcp::Client& client);
};

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
  // Counts changes to what a merged list is made of (cached lists, enabled servers, the
  // client's revision): a merged answer made at generation G stands while it is still G.
  uint64_t lists_generation ABSL_GUARDED_BY(mu) = 0;
  struct MergedList {
    uint64_t generation = 0;
    // The whole result object as JSON text, sent as it is (no copy into a document, no
    // serialization per listing).
    std::shared_ptr<const std::string> result;
  };
  std::array<std::optional<MergedList>, kKinds> merged ABSL_GUARDED_BY(mu);
  // The generation the routes of each kind were merged at: a merge that gathered before a
  // later one does not replace its routes.
  std::array<uint64_t, kKinds> routes_generation ABSL_GUARDED_BY(mu) = {};
  // Per server and kind: the last list it gave, kept when the cache is dropped, so that a
  // server that is restarting or backing off keeps its routes and exposed names.
  std::vector<std::array<std::optional<ItemList>, kKinds>> last_seen ABSL_GUARDED_BY(mu);
  // Per server: enabled (SetServerEnabled). A disabled server is neither listed nor routed to.
  std::vector<char> enabled ABSL_GUARDED_BY(mu);
  // What the client declared in initialize: upstreams made later (a server enabled again)
  // declare the same; what it is sent is down-levelled to its revision.
  mcp::ClientCapabilities client_caps ABSL_GUARDED_BY(mu);
  mcp::ProtocolVersion client_version ABSL_GUARDED_BY(mu) = mcp::kLatestProtocolVersion;
  // Upstreams replaced when their server was disabled: WaitStopped waits for them too.
  std::vector<std::shared_ptr<Upstream>> retired_upstreams ABSL_GUARDED_BY(mu);
  // Exposed tool/prompt name → route, resource URI → route; rebuilt by each listing.
  absl::flat_hash_map<std::string, Route> routes[kKinds] ABSL_GUARDED_BY(mu);
  // Resource templates: by their exposed text (completion refs name them), and in listing
  // order for matching URIs.
  std::vector<TemplateRoute> templates ABSL_GUARDED_BY(mu);
  // Per server: the listed URIs it owns under a prefixed name (they clash with another's).
  std::vector<absl::flat_hash_set<std::string>> prefixed_uris ABSL_GUARDED_BY(mu);
  // URIs that only a resource link named (no listing, no template): where they came from.
  absl::flat_hash_map<std::string, size_t> link_routes ABSL_GUARDED_BY(mu);
  // Per kind (tools, prompts, resources): a list_changed for the client is due.
  bool change_pending[kTemplates] ABSL_GUARDED_BY(mu) = {false, false, false};
  // Per server: its tools were last listed from its definitions, not yet from the server.
  std::vector<bool> unconfirmed ABSL_GUARDED_BY(mu);
  // Per server: its preparation, or null when it needs none. Set by Create.
  std::vector<std::shared_ptr<Preparation>> preparations;
  std::shared_ptr<PreparingCount> preparing = std::make_shared<PreparingCount>();
  // Shared instances (GatewayOptions::shared), and per server its slot there (-1: none, e.g.
  // an in-process server). Set by Create.
  std::shared_ptr<SharedUpstreams::Impl> pool;
  std::vector<int> pool_slot;
  // Per server: its upstream is the shared instance (the client declared no client features).
  std::vector<char> borrowed ABSL_GUARDED_BY(mu);

  bool Borrowed(size_t server) const {
    absl::MutexLock lock(&mu);
    return server < borrowed.size() && borrowed[server] != 0;
  }

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

  base::Clock* Clock() const {
    return options.upstream_session.clock != nullptr ? options.upstream_session.clock
                                                     : &base::RealClock();
  }

  base::Executor* Executor() const {
    return options.upstream_session.executor != nullptr ? options.upstream_session.executor
                                                        : &base::DefaultExecutor();
  }

  // --- Preparation (image pulls) ----------------------------------------------------------

  // BeginPreparing starts server `s`'s preparation on the executor unless it runs or is done.
  void BeginPreparing(size_t s) {
    StartPreparation(preparations[s], preparing, servers[s], Executor());
  }

  // WhenPrepared calls `done` once server `s` is prepared (at once when it needs nothing), or
  // with the error that stopped its preparation.
  void WhenPrepared(size_t s, absl::AnyInvocable<void(absl::Status) &&> done) {
    std::shared_ptr<Preparation> prep = s < preparations.size() ? preparations[s] : nullptr;
    bool begin = false;
    if (prep != nullptr) {
      absl::MutexLock lock(&prep->mu);
      if (!prep->done) {
        prep->waiting.push_back(std::move(done));
        begin = !prep->running;  // it failed before: try again
      }
    }
    if (begin) {
      BeginPreparing(s);
      return;
    }
    if (done) {
      std::move(done)(absl::OkStatus());
    }
  }

  // AcquireFor leases server `s` (`up`) once it is prepared.
  void AcquireFor(size_t s, std::shared_ptr<Upstream> up, Upstream::LeaseCallback done) {
    WhenPrepared(s, [up = std::move(up), done = std::move(done)](absl::Status ready) mutable {
      if (!ready.ok()) {
        std::move(done)(ready);
        return;
      }
      up->Acquire(std::move(done));
    });
  }

  // Pulling says how far server `s`'s pull is, or nullopt when it is not being prepared.
  std::optional<std::string> Pulling(size_t s, bool with_retry) {
    std::shared_ptr<Preparation> prep = s < preparations.size() ? preparations[s] : nullptr;
    if (prep == nullptr) {
      return std::nullopt;
    }
    absl::MutexLock lock(&prep->mu);
    if (!prep->running) {
      return std::nullopt;
    }
    std::string how_far = "the size is not known yet";
    std::string retry = "in a minute";
    if (prep->to_download > 0) {
      double done = std::min(1.0, static_cast<double>(prep->downloaded) /
                                      static_cast<double>(prep->to_download));
      how_far = absl::StrFormat("%.0f%% done: %s of %s", done * 100, MiB(prep->downloaded),
                                MiB(prep->to_download));
      if (done > 0.01) {
        absl::Duration elapsed = absl::Now() - prep->started;
        absl::Duration left = elapsed * ((1 - done) / done);
        retry = absl::StrCat("in about ",
                             absl::FormatDuration(absl::Ceil(left + absl::Seconds(1),
                                                             absl::Seconds(1))));
      }
    }
    return absl::StrCat("server '", servers[s].config.name, "' is still pulling its image ",
                        servers[s].config.spec.image, " (", how_far, ")",
                        with_retry ? absl::StrCat("; the call was not made: retry ", retry) : "");
  }

  // ArmProgress sends the client progress of server `s`'s pull every pull_progress_every
  // (only when more bytes arrived: progress must increase) until the wait is over.
  void ArmProgress(std::shared_ptr<PullWait> wait, size_t s, std::shared_ptr<const Json> token) {
    std::weak_ptr<Impl> weak = weak_from_this();
    absl::MutexLock wait_lock(&wait->mu);
    if (wait->over) {
      return;
    }
    wait->progress_timer = Clock()->RunAfter(options.pull_progress_every, [weak, wait, s, token] {
      auto self = weak.lock();
      if (self == nullptr) {
        return;
      }
      std::shared_ptr<Preparation> prep = self->preparations[s];
      int64_t downloaded;
      int64_t total;
      {
        absl::MutexLock lock(&prep->mu);
        downloaded = prep->downloaded;
        total = prep->to_download;
      }
      std::optional<std::string> how_far = self->Pulling(s, false);
      bool send;
      {
        absl::MutexLock lock(&wait->mu);
        send = !wait->over && how_far.has_value() && downloaded > wait->last_sent;
        if (send) {
          wait->last_sent = downloaded;
        }
      }
      if (send) {
        Json params = Json::Object();
        params.Set("progressToken", *token);
        params.Set("progress", JsonValue(static_cast<int64_t>(downloaded)));
        if (total > 0) {
          params.Set("total", JsonValue(static_cast<int64_t>(total)));
        }
        params.Set("message", *how_far);
        self->Notify(mcp::method::kProgress, std::move(params));
      }
      self->ArmProgress(wait, s, token);
    });
  }

  // EndPullWait stops a wait's timers. Returns false when it was answered already (the caller
  // must not answer again).
  bool EndPullWait(const std::shared_ptr<PullWait>& wait) {
    base::TimerId timers[2];
    {
      absl::MutexLock lock(&wait->mu);
      wait->over = true;
      timers[0] = std::exchange(wait->progress_timer, 0);
      timers[1] = std::exchange(wait->deadline_timer, 0);
    }
    for (base::TimerId t : timers) {
      if (t != 0) {
        Clock()->Cancel(t);
      }
    }
    return !wait->answered.exchange(true);
  }

  // WaitForPull bounds the wait of `held` (routed to server `s`, whose image is being
  // pulled): progress to the client while it waits (when it gave a token), and past
  // pull_wait an answer saying how far the pull is: an isError result for tools/call, an
  // Unavailable error for the rest. Returns the wait's state: the caller stops it (End) once
  // the server is ready, and answers only if it is not answered already.
  std::shared_ptr<PullWait> WaitForPull(size_t s, std::shared_ptr<IncomingRequest> held,
                                        std::optional<Json> token) {
    auto wait = std::make_shared<PullWait>();
    std::weak_ptr<Impl> weak = weak_from_this();
    base::Clock* clock = Clock();
    if (token.has_value()) {
      ArmProgress(wait, s, std::make_shared<const Json>(*std::move(token)));
    }
    base::TimerId deadline = clock->RunAfter(options.pull_wait, [weak, wait, s, held] {
      {
        absl::MutexLock lock(&wait->mu);
        if (wait->over) {
          return;
        }
        wait->over = true;
      }
      auto self = weak.lock();
      if (self == nullptr || wait->answered.exchange(true)) {
        return;
      }
      std::string why = self->Pulling(s, true).value_or(
          absl::StrCat("server '", self->servers[s].config.name, "' is still being prepared"));
      if (held->method() == mcp::method::kToolsCall) {
        mcp::CallToolResult result = mcp::ToolError(why);
        held->Respond(mcp::ToJson(result));
      } else {
        held->Respond(absl::UnavailableError(why));
      }
    });
    absl::MutexLock lock(&wait->mu);
    wait->deadline_timer = deadline;
    return wait;
  }

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
      ++lists_generation;
    }
    // The shared instances serve only clients that declared no client features: a server's
    // sampling, elicitation or roots request could not be routed back to its caller.
    bool share = pool != nullptr && !caps.sampling.has_value() &&
                 !caps.elicitation.has_value() && !caps.roots.has_value();
    std::vector<char> shared_ones(servers.size(), 0);
    std::shared_ptr<Impl> self = shared_from_this();
    for (size_t i = 0; i < servers.size(); ++i) {
      std::shared_ptr<Upstream> up;
      if (share && pool_slot[i] >= 0) {
        up = pool->Attach(static_cast<size_t>(pool_slot[i]), self, i);
        shared_ones[i] = up != nullptr ? 1 : 0;
      }
      made.push_back(up != nullptr ? std::move(up) : MakeUpstream(i));
    }
    bool late;
    {
      absl::MutexLock lock(&mu);
      late = shut_down;  // Shutdown came while they were being made: they never start
      if (!late) {
        borrowed = shared_ones;
        upstreams = made;
        ++lists_generation;
        cache.assign(servers.size(), {});
        last_seen.assign(servers.size(), {});
        prefixed_uris.assign(servers.size(), {});
        unconfirmed.assign(servers.size(), false);
      }
    }
    if (late) {
      for (size_t i = 0; i < made.size(); ++i) {
        if (shared_ones[i] != 0) {
          pool->Detach(static_cast<size_t>(pool_slot[i]), this);
        } else {
          made[i]->Shutdown();
        }
      }
      return;
    }
    for (size_t i = 0; i < made.size(); ++i) {
      if (!IsEnabled(i)) {
        if (shared_ones[i] == 0) {
          made[i]->Shutdown();  // refuses every need until SetEnabled replaces it
        }
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
      up.SetNotificationHandler(method, [weak, server, kind = kind](const Message&) {
        if (auto self = weak.lock()) {
          self->OnServerListChanged(server, kind);
        }
      });
    }
    // The end of a URL-mode elicitation: passed on as it is (its id is the server's own,
    // which the client saw in the elicitation request passed through).
    up.SetNotificationHandler(mcp::method::kElicitationComplete, [weak](const Message& m) {
      if (auto self = weak.lock(); self != nullptr && m.params() != nullptr) {
        self->Notify(mcp::method::kElicitationComplete, Json::Copy(*m.params()));
      }
    });
    up.SetNotificationHandler(mcp::method::kMessage, [weak, server](const Message& m) {
      if (auto self = weak.lock()) {
        self->OnServerLog(server, m);
      }
    });
    up.SetNotificationHandler(mcp::method::kResourcesUpdated, [weak, server](const Message& m) {
      if (auto self = weak.lock()) {
        self->OnServerUpdated(server, m);
      }
    });
  }

  // A server's list of `kind` changed: its cache goes, the client is told.
  void OnServerListChanged(size_t server, Kind kind) {
    Invalidate(server, kind);
    if (kind == kResources) {
      Invalidate(server, kTemplates);
    }
    ListChanged(kind);
  }

  // A server's log message, tagged with the server's name so the client knows whose it is.
  void OnServerLog(size_t server, const Message& m) {
    if (m.params() == nullptr) {
      return;
    }
    Json params = Json::Copy(*m.params());
    std::string logger = StringMember(params.value(), "logger");
    params.Set("logger", logger.empty()
                             ? servers[server].config.name
                             : absl::StrCat(servers[server].config.name, "/", logger));
    Notify(mcp::method::kMessage, std::move(params));
  }

  // A resource of a server changed: under the URI the client knows (kept apart from another
  // server's same URI).
  void OnServerUpdated(size_t server, const Message& m) {
    if (m.params() == nullptr) {
      return;
    }
    Json params = Json::Copy(*m.params());
    std::string uri = StringMember(params.value(), "uri");
    if (!uri.empty()) {
      params.Set("uri", ExposeUri(server, uri));
    }
    Notify(mcp::method::kResourcesUpdated, std::move(params));
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
    if (up != nullptr) {
      ConfirmDefinitions(server, up);
    }
  }

  // ConfirmDefinitions: a server whose tools were listed from its definitions is running now:
  // its own list replaces them, and the client is told when it differs.
  void ConfirmDefinitions(size_t server, std::shared_ptr<Upstream> up) {
    {
      absl::MutexLock lock(&mu);
      if (server >= unconfirmed.size() || !unconfirmed[server]) {
        return;
      }
      unconfirmed[server] = false;
      ++lists_generation;
    }
    std::weak_ptr<Impl> weak = weak_from_this();
    FetchAll(kTools, server, std::move(up), [weak, server](absl::StatusOr<ItemList> got) {
      auto self = weak.lock();
      if (self == nullptr || !got.ok()) {
        return;
      }
      auto canonical = [](const ItemList& items) {
        std::vector<std::string> out;
        for (const Json& item : items) {
          out.push_back(item.Serialize());
        }
        std::sort(out.begin(), out.end());
        return out;
      };
      bool same = canonical(*got) == canonical(*self->servers[server].tools);
      {
        absl::MutexLock lock(&self->mu);
        if (server < self->cache.size()) {
          self->cache[server][kTools] = *got;
          self->last_seen[server][kTools] = *got;
          ++self->lists_generation;
        }
      }
      if (!same) {
        spdlog::info("server {}: its tools differ from its catalog definitions; the client is "
                     "told the list changed",
                     self->servers[server].config.name);
        self->ListChanged(kTools);
      }
    });
  }

  // ListChanged tells the client that the merged list of `kind` changed, once for all the
  // changes within kCoalesce (servers often send several in a row; each costs the client a
  // listing).
  void ListChanged(Kind kind) {
    static constexpr absl::string_view kMethod[] = {mcp::method::kToolsListChanged,
                                                    mcp::method::kPromptsListChanged,
                                                    mcp::method::kResourcesListChanged};
    {
      absl::MutexLock lock(&mu);
      if (change_pending[kind]) {
        return;
      }
      change_pending[kind] = true;
    }
    std::weak_ptr<Impl> weak = weak_from_this();
    Clock()->RunAfter(kCoalesce, [weak, kind] {
      if (auto self = weak.lock()) {
        {
          absl::MutexLock lock(&self->mu);
          self->change_pending[kind] = false;
        }
        self->Notify(kMethod[kind], Json::Object());
      }
    });
  }

  void Invalidate(size_t server, Kind kind) {
    absl::MutexLock lock(&mu);
    if (server < cache.size()) {
      cache[server][kind].reset();
    }
    ++lists_generation;
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
        } else if (kind == kTools && servers[i].tools.has_value() &&
                   ups[i]->state() != UpstreamState::kReady) {
          // Listed from its definitions without starting it; checked once it runs.
          state->lists[i] = *servers[i].tools;
          unconfirmed[i] = true;
          ++lists_generation;
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
      FetchAll(kind, i, ups[i], [weak, state, i, kind, finish](absl::StatusOr<ItemList> got) mutable {
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
            ++self->lists_generation;
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
  void FetchAll(Kind kind, size_t server, std::shared_ptr<Upstream> up,
                absl::AnyInvocable<void(absl::StatusOr<ItemList>) &&> done) {
    AcquireFor(server, std::move(up), [kind, done = std::move(done)](
                                          absl::StatusOr<Upstream::Lease> lease) mutable {
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
  uint64_t ListsGeneration() {
    absl::MutexLock lock(&mu);
    return lists_generation;
  }

  // `generation`: lists_generation read before `lists` were gathered.
  Json Merge(Kind kind, const std::vector<std::optional<ItemList>>& lists, uint64_t generation) {
    // Disabled servers are left out (a last-seen list may have filled them in).
    std::vector<char> on;
    {
      absl::MutexLock lock(&mu);
      on = enabled;
    }
    auto skip = [&](size_t s) { return !lists[s].has_value() || (s < on.size() && on[s] == 0); };
    Json out = Json::Array();
    absl::flat_hash_map<std::string, Route> new_routes;
    std::vector<TemplateRoute> new_templates;
    std::vector<absl::flat_hash_set<std::string>> new_prefixed(servers.size());
    mcp::ProtocolVersion version;
    {
      absl::MutexLock lock(&mu);
      version = client_version;
    }
    // How many servers offer each name or URI (allowed items only).
    absl::flat_hash_map<std::string, int> count;
    for (size_t s = 0; s < lists.size(); ++s) {
      if (skip(s)) {
        continue;
      }
      absl::flat_hash_set<std::string> own;  // a server listing one twice is no clash
      for (const Json& item : *lists[s]) {
        std::string key = StringMember(item.value(), kKeyMember[kind]);
        if (!key.empty() &&
            (kind != kTools || (Allowed(s, key) && !RequiresTask(item.value()))) &&
            own.insert(key).second) {
          ++count[key];
        }
      }
    }
    bool names = kind == kTools || kind == kPrompts;
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
        if (kind == kTools && RequiresTask(item.value())) {
          // Only callable as a task, and the gateway does not route tasks (it does not
          // advertise them): listing it would invite calls that must fail.
          continue;
        }
        // Names: by the naming policy. URIs: kept apart only when two servers share one
        // (a URI is an address a client may know, so it is not changed otherwise).
        bool prefix = options.naming != NamingPolicy::kNever &&
                      (count[key] > 1 ||
                       (names && options.naming == NamingPolicy::kAlwaysPrefix));
        std::string exposed = key;
        if (prefix && names) {
          absl::StatusOr<std::string> name = PrefixedName(SanitizeServerName(server), key);
          if (!name.ok()) {
            spdlog::warn("{} {} of server {} is hidden: {}", kListMember[kind], key, server,
                         name.status().message());
            continue;
          }
          exposed = *name;
        } else if (prefix) {
          exposed = PrefixedUri(server, key);
        }
        if (new_routes.contains(exposed)) {
          spdlog::warn("{} {} of server {} is hidden: server {} has one of the same name",
                       kListMember[kind], key, server,
                       servers[new_routes[exposed].server].config.name);
          continue;
        }
        new_routes[exposed] = Route{.server = s, .original = key};
        if (kind == kTemplates) {
          absl::StatusOr<mcp::UriTemplate> t = mcp::UriTemplate::Parse(key);
          if (t.ok()) {
            new_templates.push_back({.original = *std::move(t), .server = s, .prefixed = prefix});
          }
        } else if (kind == kResources && prefix) {
          new_prefixed[s].insert(key);
        }
        Json copy = item;
        if (exposed != key) {
          copy.Set(kKeyMember[kind], exposed);
        }
        if (version != mcp::kLatestProtocolVersion) {
          mcp::DownLevelItem(copy.mutable_value(), version);
        }
        out.mutable_value().PushBack(JsonValue(copy.mutable_value(), out.allocator()),
                                     out.allocator());
      }
    }
    absl::MutexLock lock(&mu);
    if (generation < routes_generation[kind]) {
      return out;  // a later merge's routes stand
    }
    routes_generation[kind] = generation;
    if (kind == kTemplates) {
      templates = std::move(new_templates);
    } else if (kind == kResources) {
      prefixed_uris = std::move(new_prefixed);
    }
    routes[kind] = std::move(new_routes);
    return out;
  }

  // FindRoute finds where an exposed name or URI goes without listing: the last listing's
  // routes; for URIs also "mcpgw://<server>/<uri>", the servers' templates (unprefixed ones;
  // the prefixed are reached by the prefix) and URIs seen in resource links.
  std::optional<Route> FindRoute(Kind kind, const std::string& key) {
    std::vector<TemplateRoute> candidates;
    {
      absl::MutexLock lock(&mu);
      auto it = routes[kind].find(key);
      if (it != routes[kind].end()) {
        return it->second;
      }
      if (kind != kResources) {
        return std::nullopt;
      }
      if (auto t = routes[kTemplates].find(key); t != routes[kTemplates].end()) {
        return t->second;  // a template itself (completion/complete's ref/resource)
      }
      candidates = templates;  // matched outside the lock
    }
    if (absl::StartsWith(key, kUriPrefix)) {
      absl::string_view rest = absl::string_view(key).substr(kUriPrefix.size());
      size_t slash = rest.find('/');
      if (slash != absl::string_view::npos) {
        absl::string_view name = rest.substr(0, slash);
        for (size_t s = 0; s < servers.size(); ++s) {
          if (servers[s].config.name == name) {
            return Route{.server = s, .original = std::string(rest.substr(slash + 1))};
          }
        }
      }
    }
    for (const TemplateRoute& t : candidates) {
      if (!t.prefixed && t.original.Match(key)) {
        return Route{.server = t.server, .original = key};
      }
    }
    absl::MutexLock lock(&mu);
    if (auto it = link_routes.find(key); it != link_routes.end()) {
      return Route{.server = it->second, .original = key};
    }
    return std::nullopt;
  }

  // ExposeUri is the URI the client knows for server `s`'s `uri`: prefixed when the last
  // listings gave it (or the template that makes it) to another server too, or when another
  // server owns it; the URI itself otherwise.
  std::string ExposeUri(size_t s, const std::string& uri) {
    std::vector<TemplateRoute> candidates;
    {
      absl::MutexLock lock(&mu);
      if (auto it = routes[kResources].find(uri); it != routes[kResources].end()) {
        return it->second.server == s && it->second.original == uri
                   ? uri
                   : PrefixedUri(servers[s].config.name, uri);
      }
      if (s < prefixed_uris.size() && prefixed_uris[s].contains(uri)) {
        return PrefixedUri(servers[s].config.name, uri);
      }
      candidates = templates;
    }
    // A URI no listing names: the first template that makes it decides.
    for (const TemplateRoute& t : candidates) {
      if (t.original.Match(uri)) {
        return t.server == s && !t.prefixed ? uri : PrefixedUri(servers[s].config.name, uri);
      }
    }
    absl::MutexLock lock(&mu);
    auto [it, added] = link_routes.try_emplace(uri, s);
    if (!added && it->second != s) {
      return PrefixedUri(servers[s].config.name, uri);  // another server's link named it first
    }
    if (added && link_routes.size() > kMaxLinkRoutes) {
      link_routes.clear();  // bounded: old links are forgotten, not the gateway's memory
      link_routes.emplace(uri, s);
    }
    return uri;
  }

  // Relay answers the client with a server's answer to `method`: resource URIs in it are
  // exposed as the client knows them, and a tool result is down-levelled to the client's
  // revision. Passed on as it is when nothing changes.
  void Relay(size_t server, absl::string_view method, IncomingRequest& held,
             absl::StatusOr<Message> answer) {
    if (!answer.ok()) {
      held.Respond(answer.status());
      return;
    }
    const JsonValue* result = answer->kind() == mcp::MessageKind::kResponse ? answer->result()
                                                                            : nullptr;
    if (result == nullptr) {
      held.RespondWith(*std::move(answer));
      return;
    }
    mcp::ProtocolVersion version;
    {
      absl::MutexLock lock(&mu);
      version = client_version;
    }
    bool down_level = method == mcp::method::kToolsCall && version != mcp::kLatestProtocolVersion;
    bool rename = false;
    VisitUris(method, *result, [&](const JsonValue& uri) {
      rename = rename || ExposeUri(server, std::string(mcp::AsStringView(uri))) !=
                             mcp::AsStringView(uri);
    });
    if (!rename && !down_level) {
      held.RespondWith(*std::move(answer));
      return;
    }
    Json copy = Json::Copy(*result);
    if (rename) {
      VisitUris(method, copy.mutable_value(), [&](JsonValue& uri) {
        std::string exposed = ExposeUri(server, std::string(mcp::AsStringView(uri)));
        uri.SetString(exposed.data(), static_cast<rapidjson::SizeType>(exposed.size()),
                      copy.allocator());
      });
    }
    if (down_level) {
      mcp::DownLevelToolResult(copy, version);
    }
    held.Respond(std::move(copy));
  }

  void OnList(Kind kind, IncomingRequest request) {
    // Nothing it is made of changed since the last merge, and every list is cached (nothing to
    // fetch or start): the last merged answer stands. Its routes are those of that merge.
    uint64_t generation;
    std::shared_ptr<const std::string> kept;
    {
      absl::MutexLock lock(&mu);
      generation = lists_generation;
      bool all_cached = !upstreams.empty();
      for (size_t i = 0; all_cached && i < upstreams.size(); ++i) {
        all_cached = (i < enabled.size() && enabled[i] == 0) || cache[i][kind].has_value();
      }
      if (all_cached && merged[kind].has_value() && merged[kind]->generation == generation) {
        kept = merged[kind]->result;
      }
    }
    if (kept != nullptr) {
      request.RespondSerialized(*kept);
      return;
    }
    auto held = std::make_shared<IncomingRequest>(std::move(request));
    std::weak_ptr<Impl> weak = weak_from_this();
    Gather(kind, [weak, held, kind, generation](std::vector<std::optional<ItemList>> lists) {
      auto self = weak.lock();
      if (self == nullptr) {
        held->Respond(absl::UnavailableError("the gateway is shutting down"));
        return;
      }
      Json result = Json::Object();
      result.Set(kListMember[kind], self->Merge(kind, lists, generation));
      auto text = std::make_shared<const std::string>(result.Serialize());
      {
        // Kept under the generation read before the lists were gathered: a change since
        // then makes it stale at once.
        // Kept only while the routes in place are those of this generation's merge.
        absl::MutexLock lock(&self->mu);
        if (self->routes_generation[kind] == generation) {
          self->merged[kind] = MergedList{.generation = generation, .result = text};
        }
      }
      held->RespondSerialized(*text);
    });
  }


  // --- Routing ----------------------------------------------------------------------------

  // Lookup finds the route of an exposed name or URI; when unknown, lists `kind` once (a
  // client may call without listing) and looks again.
  void Lookup(Kind kind, std::string key,
              absl::AnyInvocable<void(std::optional<Route>) &&> done) {
    if (std::optional<Route> r = FindRoute(kind, key)) {
      std::move(done)(r);
      return;
    }
    std::weak_ptr<Impl> weak = weak_from_this();
    auto relist = [weak, kind, key = std::move(key), done = std::move(done),
                   generation = ListsGeneration()](std::vector<std::optional<ItemList>> lists) mutable {
      auto self = weak.lock();
      if (self == nullptr) {
        std::move(done)(std::nullopt);
        return;
      }
      self->Merge(kind, lists, generation);
      if (kind != kResources) {
        std::move(done)(self->FindRoute(kind, key));
        return;
      }
      // Resources: the URI list, then the templates.
      self->Gather(kTemplates, [weak, key = std::move(key), done = std::move(done),
                                generation = self->ListsGeneration()](
                                   std::vector<std::optional<ItemList>> tlists) mutable {
        auto me = weak.lock();
        if (me == nullptr) {
          std::move(done)(std::nullopt);
          return;
        }
        me->Merge(kTemplates, tlists, generation);
        std::move(done)(me->FindRoute(kResources, key));
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
      if (route.has_value() && held->method() == mcp::method::kResourcesSubscribe &&
          self->servers[route->server].config.mode == RunMode::kPerCall) {
        const std::string& name = self->servers[route->server].config.name;
        held->RespondError(
            {.code = mcp::error_code::kInvalidParams,
             .message = absl::StrCat(
                 "cannot subscribe to '", key, "': server '", name,
                 "' runs a fresh instance for every call (mode per-call), so nothing would "
                 "watch the resource; give it mode on-demand or long-lived in the profile to "
                 "subscribe"),
             .data = Json()});
        return;
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
    size_t server = route.server;
    // A shared subscription that the server refuses (or never gets) is not held.
    std::function<void()> undo;
    if (Borrowed(server) && (method == mcp::method::kResourcesSubscribe ||
                             method == mcp::method::kResourcesUnsubscribe)) {
      // A shared instance keeps a subscription while any session holds it.
      size_t slot = static_cast<size_t>(pool_slot[server]);
      if (method == mcp::method::kResourcesSubscribe) {
        pool->Subscribe(slot, route.original, this);
        undo = [pool = pool, slot, uri = route.original, key = this] {
          pool->Unsubscribe(slot, uri, key);
        };
      } else if (!pool->Unsubscribe(slot, route.original, this)) {
        held->Respond(Json::Object());  // another session still holds it
        return;
      }
    }
    // A server whose image is still being pulled: the wait is bounded, with progress.
    std::shared_ptr<PullWait> wait;
    if (Pulling(server, false).has_value()) {
      wait = WaitForPull(server, held, token);
    }
    AcquireFor(server, up, [weak, held, method, server, wait, params = std::move(params),
                            token = std::move(token),
                            undo](absl::StatusOr<Upstream::Lease> lease) mutable {
      if (wait != nullptr) {
        auto self = weak.lock();
        if (self == nullptr || !self->EndPullWait(wait)) {
          if (undo) {
            undo();
          }
          return;  // answered already: the call was not made (the lease goes back unused)
        }
      }
      if (!lease.ok()) {
        if (undo) {
          undo();
        }
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
          [weak, server, method, held, lease_ptr, undo](absl::StatusOr<Message> answer) {
            if (undo && (!answer.ok() || answer->kind() == mcp::MessageKind::kErrorResponse)) {
              undo();
            }
            if (auto self = weak.lock()) {
              self->Relay(server, method, *held, std::move(answer));
            } else {
              held->Respond(absl::UnavailableError("the gateway is shutting down"));
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
      self->AcquireFor(route->server, up, [held, forwarded = std::move(forwarded)](
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
      for (size_t i = 0; i < borrowed.size() && i < ups.size(); ++i) {
        if (borrowed[i] != 0) {
          ups[i] = nullptr;  // not ours to stop: let go of it
        }
      }
    }
    for (size_t i = 0; i < ups.size(); ++i) {
      if (ups[i] != nullptr) {
        ups[i]->Shutdown();
      } else {
        pool->Detach(static_cast<size_t>(pool_slot[i]), this);
      }
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
      ++lists_generation;
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
    if (Borrowed(i)) {
      // A shared instance serves other sessions too: only this one stops seeing it.
    } else if (!on) {
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
          ++lists_generation;
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
        st.kind = !s.remote_url.empty()        ? "remote"
                  : s.config.connector         ? "in-process"
                  : !s.config.spec.image.empty() ? "image"
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
  impl->preparations.resize(impl->servers.size());
  impl->pool_slot.assign(impl->servers.size(), -1);
  if (impl->options.shared != nullptr) {
    impl->pool = impl->options.shared->impl_;
    impl->options.shared.reset();  // the pool outlives no gateway through its options
    for (size_t i = 0; i < impl->servers.size(); ++i) {
      // Not shared: in-process servers (a connection costs nothing) and per-call ones (each
      // call gets a fresh instance anyway; sharing would only make per_call_concurrency a
      // bound for every session together).
      bool shareable = impl->servers[i].server == nullptr &&
                       impl->servers[i].config.mode != RunMode::kPerCall;
      impl->pool_slot[i] = shareable ? impl->pool->Find(impl->servers[i].config.name) : -1;
    }
  }
  for (size_t i = 0; i < impl->servers.size(); ++i) {
    if (impl->pool_slot[i] >= 0 && impl->servers[i].prepare) {
      // The pool prepares it once for every session.
      impl->preparations[i] = impl->pool->preparations[static_cast<size_t>(impl->pool_slot[i])];
    } else if (impl->servers[i].prepare) {
      impl->preparations[i] = std::make_shared<Preparation>();
      impl->BeginPreparing(i);  // now, in parallel: not at the first call
    }
  }
  return std::shared_ptr<Gateway>(new Gateway(std::move(impl)));
}

// --- SharedUpstreams ------------------------------------------------------------------------

std::shared_ptr<Upstream> SharedUpstreams::Impl::Attach(
    size_t s, const std::shared_ptr<Gateway::Impl>& gateway, size_t server) {
  absl::MutexLock lock(&mu);
  if (shut_down) {
    return nullptr;
  }
  Slot& slot = slots[s];
  if (slot.up == nullptr) {
    UpstreamConfig config = servers[s].config;
    config.client.info = options.info;
    config.client.protocol_version = mcp::kLatestProtocolVersion;
    config.client.capabilities = {};  // none: see SharedUpstreams in gateway.h
    config.client.session = options.upstream_session;
    config.spec.labels["io.mcpgw.server"] = config.name;
    std::shared_ptr<Upstream> up =
        Upstream::Create(std::move(config), servers[s].runtime, options.upstream_session.clock,
                         options.upstream_session.executor);
    // Hooked before anyone can use it (no callback runs before the first Acquire or Start).
    std::weak_ptr<Impl> weak = weak_from_this();
    up->SetConnectHook([weak, s](mcp::Client& client) {
      if (auto self = weak.lock()) {
        self->Wire(s, client);
      }
    });
    up->SetStateHook([weak, s](UpstreamState state) {
      if (auto self = weak.lock()) {
        if (state == UpstreamState::kReady) {
          self->Resubscribe(s);
        }
        for (const User& user : self->Users(s)) {
          if (auto g = user.gateway.lock()) {
            g->OnUpstreamState(user.server, state);
          }
        }
      }
    });
    slot.up = std::move(up);
  }
  slot.users[gateway.get()] = User{.gateway = gateway, .server = server};
  return slot.up;
}

void SharedUpstreams::Impl::Resubscribe(size_t s) {
  std::vector<std::string> uris;
  std::shared_ptr<Upstream> up;
  {
    absl::MutexLock lock(&mu);
    for (const auto& [uri, holders] : slots[s].subscribers) {
      uris.push_back(uri);
    }
    up = slots[s].up;
  }
  std::shared_ptr<mcp::Client> client = up != nullptr ? up->client_if_ready() : nullptr;
  if (client == nullptr) {
    return;
  }
  for (const std::string& uri : uris) {
    Json params = Json::Object();
    params.Set("uri", uri);
    client->session().SendRequest(
        mcp::method::kResourcesSubscribe, std::move(params), {},
        [name = servers[s].config.name, uri](absl::StatusOr<Message> answer) {
          if (!answer.ok()) {
            spdlog::warn("server {}: renewing the subscription to {} after its restart: {}",
                         name, uri, answer.status().message());
          }
        });
  }
}

void SharedUpstreams::Impl::Detach(size_t s, const Gateway::Impl* gateway) {
  std::vector<std::string> drop;
  std::shared_ptr<Upstream> up;
  {
    absl::MutexLock lock(&mu);
    Slot& slot = slots[s];
    slot.users.erase(gateway);
    for (auto it = slot.subscribers.begin(); it != slot.subscribers.end();) {
      if (it->second.erase(gateway) > 0 && it->second.empty()) {
        drop.push_back(it->first);
        slot.subscribers.erase(it++);
      } else {
        ++it;
      }
    }
    up = slot.up;
  }
  std::shared_ptr<mcp::Client> client = up != nullptr ? up->client_if_ready() : nullptr;
  for (const std::string& uri : drop) {
    if (client != nullptr) {
      Json params = Json::Object();
      params.Set("uri", uri);
      client->session().SendRequest(mcp::method::kResourcesUnsubscribe, std::move(params), {},
                                    [](absl::StatusOr<Message>) {});
    }
  }
}

std::vector<SharedUpstreams::Impl::User> SharedUpstreams::Impl::Users(size_t s) const {
  std::vector<User> out;
  absl::MutexLock lock(&mu);
  for (const auto& [key, user] : slots[s].users) {
    out.push_back(user);
  }
  return out;
}

std::vector<SharedUpstreams::Impl::User> SharedUpstreams::Impl::Subscribers(
    size_t s, const std::string& uri) const {
  std::vector<User> out;
  absl::MutexLock lock(&mu);
  const Slot& slot = slots[s];
  auto it = slot.subscribers.find(uri);
  if (it == slot.subscribers.end()) {
    return out;
  }
  for (const Gateway::Impl* g : it->second) {
    auto user = slot.users.find(g);
    if (user != slot.users.end()) {
      out.push_back(user->second);
    }
  }
  return out;
}

void SharedUpstreams::Impl::Subscribe(size_t s, const std::string& uri,
                                      const Gateway::Impl* gateway) {
  absl::MutexLock lock(&mu);
  if (slots[s].users.contains(gateway)) {
    slots[s].subscribers[uri].insert(gateway);
  }
}

bool SharedUpstreams::Impl::Unsubscribe(size_t s, const std::string& uri,
                                        const Gateway::Impl* gateway) {
  absl::MutexLock lock(&mu);
  auto it = slots[s].subscribers.find(uri);
  if (it == slots[s].subscribers.end()) {
    return true;
  }
  it->second.erase(gateway);
  if (!it->second.empty()) {
    return false;
  }
  slots[s].subscribers.erase(it);
  return true;
}

void SharedUpstreams::Impl::Wire(size_t s, mcp::Client& client) {
  std::weak_ptr<Impl> weak = weak_from_this();
  mcp::Session& up = client.session();
  const std::string& name = servers[s].config.name;
  for (absl::string_view method :
       {mcp::method::kSamplingCreateMessage, mcp::method::kElicitationCreate,
        mcp::method::kRootsList}) {
    up.SetRequestHandler(
        method,
        [method, name](IncomingRequest request) {
          request.RespondError(
              {.code = mcp::error_code::kMethodNotFound,
               .message = absl::StrCat(
                   method, " is not available: server '", name,
                   "' is shared by several client sessions of the gateway and was told that "
                   "the client has no such capability"),
               .data = Json()});
        },
        mcp::HandlerMode::kInline);
  }
  const std::pair<absl::string_view, Kind> changes[] = {
      {mcp::method::kToolsListChanged, kTools},
      {mcp::method::kPromptsListChanged, kPrompts},
      {mcp::method::kResourcesListChanged, kResources}};
  for (const auto& [method, kind] : changes) {
    up.SetNotificationHandler(method, [weak, s, kind = kind](const Message&) {
      if (auto self = weak.lock()) {
        for (const User& user : self->Users(s)) {
          if (auto g = user.gateway.lock()) {
            g->OnServerListChanged(user.server, kind);
          }
        }
      }
    });
  }
  up.SetNotificationHandler(mcp::method::kMessage, [weak, s](const Message& m) {
    if (auto self = weak.lock()) {
      for (const User& user : self->Users(s)) {
        if (auto g = user.gateway.lock()) {
          g->OnServerLog(user.server, m);
        }
      }
    }
  });
  up.SetNotificationHandler(mcp::method::kResourcesUpdated, [weak, s](const Message& m) {
    auto self = weak.lock();
    if (self == nullptr || m.params() == nullptr) {
      return;
    }
    for (const User& user : self->Subscribers(s, StringMember(*m.params(), "uri"))) {
      if (auto g = user.gateway.lock()) {
        g->OnServerUpdated(user.server, m);
      }
    }
  });
}

std::shared_ptr<SharedUpstreams> SharedUpstreams::Create(GatewayOptions options,
                                                         std::vector<GatewayServer> servers) {
  auto impl = std::make_shared<Impl>();
  options.shared.reset();
  impl->options = std::move(options);
  for (GatewayServer& s : servers) {
    if (s.server == nullptr) {
      impl->servers.push_back(std::move(s));
    }
  }
  {
    absl::MutexLock lock(&impl->mu);
    impl->slots.resize(impl->servers.size());
  }
  impl->preparations.resize(impl->servers.size());
  for (size_t i = 0; i < impl->servers.size(); ++i) {
    if (impl->servers[i].prepare) {
      impl->preparations[i] = std::make_shared<Preparation>();
      StartPreparation(impl->preparations[i], impl->preparing, impl->servers[i],
                       impl->Executor());
    }
  }
  return std::shared_ptr<SharedUpstreams>(new SharedUpstreams(std::move(impl)));
}

SharedUpstreams::SharedUpstreams(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

SharedUpstreams::~SharedUpstreams() { Shutdown(); }

void SharedUpstreams::Shutdown() {
  std::vector<std::shared_ptr<Upstream>> ups;
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->shut_down = true;
    for (const Impl::Slot& slot : impl_->slots) {
      if (slot.up != nullptr) {
        ups.push_back(slot.up);
      }
    }
  }
  for (const auto& up : ups) {
    up->Shutdown();
  }
}

absl::Status SharedUpstreams::WaitStopped(absl::Time deadline) {
  absl::Status all;
  {
    std::shared_ptr<PreparingCount> count = impl_->preparing;
    auto none = [&count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(count->mu) { return count->running == 0; };
    absl::MutexLock lock(&count->mu);
    if (!count->mu.AwaitWithDeadline(absl::Condition(&none), deadline)) {
      all = absl::DeadlineExceededError(
          absl::StrCat(count->running, " image pull(s) still running"));
    }
  }
  for (const auto& up : upstreams()) {
    absl::Status one = up->WaitStopped(deadline);
    if (all.ok()) {
      all = one;
    }
  }
  return all;
}

std::vector<std::shared_ptr<Upstream>> SharedUpstreams::upstreams() const {
  std::vector<std::shared_ptr<Upstream>> out;
  absl::MutexLock lock(&impl_->mu);
  for (const Impl::Slot& slot : impl_->slots) {
    if (slot.up != nullptr) {
      out.push_back(slot.up);
    }
  }
  return out;
}

size_t SharedUpstreams::users() const {
  absl::flat_hash_set<const Gateway::Impl*> all;
  absl::MutexLock lock(&impl_->mu);
  for (const Impl::Slot& slot : impl_->slots) {
    for (const auto& [g, user] : slot.users) {
      all.insert(g);
    }
  }
  return all.size();
}

int SharedUpstreams::preparing() const {
  absl::MutexLock lock(&impl_->preparing->mu);
  return impl_->preparing->running;
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
  {
    std::shared_ptr<PreparingCount> count = impl_->preparing;
    auto none = [&count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(count->mu) { return count->running == 0; };
    absl::MutexLock lock(&count->mu);
    if (!count->mu.AwaitWithDeadline(absl::Condition(&none), deadline)) {
      all = absl::DeadlineExceededError(
          absl::StrCat(count->running, " image pull(s) still running"));
    }
  }
  std::vector<std::shared_ptr<Upstream>> ups;
  {
    absl::MutexLock lock(&impl_->mu);
    for (size_t i = 0; i < impl_->upstreams.size(); ++i) {
      if (i >= impl_->borrowed.size() || impl_->borrowed[i] == 0) {
        ups.push_back(impl_->upstreams[i]);  // the shared ones are the pool's to wait for
      }
    }
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

mcp::TransportStats Gateway::downstream_stats() const {
  std::shared_ptr<mcp::Session> down = impl_->Downstream();
  return down != nullptr ? down->transport_stats() : mcp::TransportStats{};
}

std::vector<std::shared_ptr<Upstream>> Gateway::upstreams() const { return impl_->Upstreams(); }

int Gateway::preparing() const {
  absl::MutexLock lock(&impl_->preparing->mu);
  return impl_->preparing->running;
}

std::vector<ServerStatus> Gateway::ServerStatuses() const { return impl_->Statuses(); }

absl::Status Gateway::SetServerEnabled(absl::string_view name, bool enabled) {
  return impl_->SetEnabled(name, enabled);
}

}  // namespace mcpgw::gateway
