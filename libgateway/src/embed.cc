#include "mcpgw/gateway/embed.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "mcpgw/base/executor.h"
#include "mcpgw/base/fd_channel.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/container/docker_engine.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/mcp/json_bind.h"
#include "mcpgw/mcp/line_transport.h"
#include "mcpgw/mcp/memory_transport.h"
#include "spdlog/spdlog.h"

namespace mcpgw::gateway {
namespace {

void SweepDead(const GatewayInstance& self, container::Runtime* containers) {
  absl::StatusOr<SweepReport> swept = SweepDeadGateways(self.dir(), self.id(), containers);
  if (!swept.ok()) {
    spdlog::warn("mcpgw: cannot clean up after dead gateways: {}", swept.status().message());
    return;
  }
  for (const SweepReport::Removed& removed : swept->removed) {
    spdlog::info(
        "mcpgw: removed container {} (server {}) of gateway {}, which is no longer running",
        removed.container.substr(0, 12), removed.server.empty() ? "?" : removed.server,
        removed.gateway);
  }
  if (!swept->dead_gateways.empty()) {
    spdlog::debug("mcpgw: removed the lock files of {} dead gateway(s): {}",
                  swept->dead_gateways.size(), absl::StrJoin(swept->dead_gateways, ", "));
  }
  for (const absl::Status& error : swept->errors) {
    spdlog::warn("mcpgw: cleaning up after dead gateways: {}", error.message());
  }
}

// At exit, after every server was stopped: containers of this gateway still known to the
// engine (normally only ones AutoRemove is removing) are removed; if that cannot be done the
// lock file stays, for the next gateway's sweep.
void RemoveOwnContainers(GatewayInstance& self, container::DockerEngine& docker) {
  absl::StatusOr<std::vector<container::InstanceInfo>> left =
      docker.List({{std::string(kGatewayLabel), self.id()}});
  if (!left.ok()) {
    spdlog::warn(
        "mcpgw: cannot check that no container is left: {}; the next gateway to start will "
        "remove what is",
        left.status().message());
    self.KeepLockFile();
    return;
  }
  for (const container::InstanceInfo& info : *left) {
    absl::Status removed = docker.Remove(info.id);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      spdlog::warn("mcpgw: {}; the next gateway to start will remove it", removed.message());
      self.KeepLockFile();
    } else {
      spdlog::debug("mcpgw: removed container {} at exit", info.id.substr(0, 12));
    }
  }
}

}  // namespace

// Made when the first server needs one; destroyed after the gateway.
struct EmbeddedGateway::Runtimes {
  std::unique_ptr<container::ProcessRuntime> processes;
  std::unique_ptr<container::DockerEngine> docker;
};

absl::StatusOr<std::unique_ptr<EmbeddedGateway>> EmbeddedGateway::Create(
    EmbeddedGatewayOptions options) {
  if (options.catalogs.empty()) {
    MCPGW_ASSIGN_OR_RETURN(Catalog builtin, DefaultCatalog());
    options.catalogs.push_back(std::move(builtin));
  }
  return std::unique_ptr<EmbeddedGateway>(new EmbeddedGateway(std::move(options)));
}

EmbeddedGateway::EmbeddedGateway(EmbeddedGatewayOptions options)
    : options_(std::move(options)),
      runtimes_(std::make_unique<Runtimes>()),
      redactor_(std::make_shared<Redactor>()) {}

EmbeddedGateway::~EmbeddedGateway() { StopAll(); }

void EmbeddedGateway::StopAll() {
  bool pulling = false;
  if (gateway_ != nullptr) {
    gateway_->Shutdown();
    // Their grace: stdin closed, SIGTERM, SIGKILL after stop_grace. Then the runtimes go.
    absl::Duration grace = absl::ZeroDuration();
    for (const GatewayServer& s : servers_) {
      grace = std::max(grace, s.config.stop_grace);
    }
    absl::Status stopped = gateway_->WaitStopped(absl::Now() + grace + absl::Seconds(1));
    if (!stopped.ok()) {
      spdlog::warn("mcpgw: {}; killing it", stopped.message());
    }
    pulling = gateway_->preparing() > 0;
    gateway_.reset();
  }
  ReleaseRuntimes(pulling);
}

void EmbeddedGateway::ReleaseRuntimes(bool pulling) {
  if (pulling && runtimes_->docker != nullptr) {
    // A pull still inside the engine client: the engine is left to the process's exit
    // rather than destroyed under it (it started no container).
    spdlog::warn("mcpgw: an image pull is still running; leaving it");
    static_cast<void>(runtimes_->docker.release());
  }
  if (options_.instance != nullptr && runtimes_->docker != nullptr) {
    RemoveOwnContainers(*options_.instance, *runtimes_->docker);
  }
  // The runtimes' destructors kill and reap what is left (containers included).
  runtimes_->docker.reset();
  runtimes_->processes.reset();
}

absl::Status EmbeddedGateway::AddServer(GatewayServer server) {
  if (gateway_ != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server '", server.config.name, "': the gateway has started; add servers before"));
  }
  servers_.push_back(std::move(server));
  return absl::OkStatus();
}

absl::Status EmbeddedGateway::AddServer(std::string name, std::shared_ptr<mcp::Server> server,
                                        std::optional<std::vector<std::string>> allowed_tools) {
  if (server == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("server '", name, "' is null"));
  }
  GatewayServer entry;
  entry.config.name = std::move(name);
  entry.server = std::move(server);
  entry.allowed_tools = std::move(allowed_tools);
  return AddServer(std::move(entry));
}

absl::Status EmbeddedGateway::AddBuiltinServer(std::string name) {
  MCPGW_ASSIGN_OR_RETURN(std::shared_ptr<BuiltinServer> builtin,
                         BuiltinServer::Create({.catalogs = options_.catalogs}));
  GatewayServer entry;
  entry.config.name = name;
  entry.server = builtin->server();
  MCPGW_RETURN_IF_ERROR(AddServer(std::move(entry)));
  builtins_.emplace_back(std::move(builtin), std::move(name));
  return absl::OkStatus();
}

absl::Status EmbeddedGateway::AddProfile(const ResolvedProfile& plan, const SecretStore& secrets,
                                         absl::Notification* stop) {
  if (gateway_ != nullptr) {
    return absl::FailedPreconditionError("the gateway has started; add servers before");
  }
  std::vector<GatewayServer> added;
  std::vector<std::pair<std::shared_ptr<BuiltinServer>, std::string>> builtins;
  for (const ResolvedServer& server : plan.servers) {
    if (stop != nullptr && stop->HasBeenNotified()) {
      return absl::CancelledError("stopped (signal) while the servers were being set up");
    }
    GatewayServer entry;
    entry.config.name = server.name;
    entry.config.mode = server.settings.mode;
    entry.config.per_call_concurrency = server.settings.per_call_concurrency;
    entry.config.idle_timeout = server.settings.idle_timeout;
    entry.config.redactor = redactor_;
    entry.allowed_tools = server.allowed_tools;
    if (server.definition.tools.has_value()) {
      std::vector<mcp::Json> tools;
      for (const mcp::Tool& tool : *server.definition.tools) {
        tools.push_back(mcp::ToJson(tool));
      }
      entry.tools = std::move(tools);
    }
    if (server.definition.kind == ServerDefinition::Kind::kBuiltin) {
      if (server.definition.builtin != kBuiltinServerName) {
        return absl::InvalidArgumentError(absl::StrCat("server '", server.name,
                                                       "': no built-in server named '",
                                                       server.definition.builtin, "'"));
      }
      MCPGW_ASSIGN_OR_RETURN(std::shared_ptr<BuiltinServer> builtin,
                             BuiltinServer::Create({.catalogs = options_.catalogs}));
      entry.server = builtin->server();
      builtins.emplace_back(std::move(builtin), server.name);
      added.push_back(std::move(entry));
      continue;
    }
    auto lookup = [&](absl::string_view secret) -> absl::StatusOr<std::string> {
      const SecretSpec* spec = server.definition.FindSecret(secret);
      absl::StatusOr<std::string> value =
          secrets.Require(secret, SecretRequest{.server = server.name,
                                                .env_var = spec != nullptr ? spec->env : "",
                                                .how = spec != nullptr ? spec->how : ""});
      if (value.ok()) {
        redactor_->Add(*value);
      }
      return value;
    };
    if (server.definition.kind == ServerDefinition::Kind::kRemote) {
      MCPGW_ASSIGN_OR_RETURN(RemoteConnection remote,
                             BuildRemoteConnection(server, server.config, lookup));
      if (absl::StartsWithIgnoreCase(remote.url, "http://") && !IsLoopbackUrl(remote.url)) {
        spdlog::warn(
            "mcpgw: server '{}' is reached over plain http ({}): its requests and answers travel "
            "unencrypted; use https:// if the server offers it",
            server.name, remote.url);
      }
      mcp::HttpClientOptions http;
      http.url = remote.url;
      http.kind = ToHttpTransportKind(remote.transport);
      http.headers = std::move(remote.headers);
      GatewayServer made = RemoteGatewayServer(server.name, std::move(http));
      entry.config.connector = std::move(made.config.connector);
      entry.config.start_timeout = made.config.start_timeout;
      entry.remote_url = std::move(made.remote_url);
      added.push_back(std::move(entry));
      continue;
    }
    MCPGW_ASSIGN_OR_RETURN(entry.config.spec, BuildRunSpec(server, server.config, lookup));
    if (entry.config.spec.image.empty()) {
      if (runtimes_->processes == nullptr) {
        MCPGW_ASSIGN_OR_RETURN(runtimes_->processes, container::ProcessRuntime::Create({}));
      }
      entry.runtime = runtimes_->processes.get();
    } else {
      if (runtimes_->docker == nullptr) {
        absl::StatusOr<std::unique_ptr<container::DockerEngine>> engine =
            container::DockerEngine::Create({});
        if (!engine.ok()) {
          return absl::Status(
              engine.status().code(),
              absl::StrCat("server '", server.name, "' runs in a container (",
                           entry.config.spec.image, "), but ", engine.status().message()));
        }
        runtimes_->docker = *std::move(engine);
        if (options_.instance != nullptr) {
          // Before any container starts: a sweep after this gateway's death must ask the
          // engine.
          MCPGW_RETURN_IF_ERROR(options_.instance->MarkUsesContainers());
        }
      }
      entry.runtime = runtimes_->docker.get();
      // Pulled from the gateway's start, in the background (pulls can take minutes).
      entry.prepare = true;
    }
    if (options_.instance != nullptr) {
      entry.config.spec.labels[std::string(kGatewayLabel)] = options_.instance->id();
      entry.config.spec.labels[std::string(kProfileLabel)] = plan.name;
    }
    added.push_back(std::move(entry));
  }
  for (GatewayServer& s : added) {
    servers_.push_back(std::move(s));
  }
  for (auto& b : builtins) {
    builtins_.push_back(std::move(b));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedGateway::Start() {
  if (gateway_ != nullptr) {
    return absl::FailedPreconditionError("this gateway already serves a client");
  }
  SweepAtStart();
  MCPGW_ASSIGN_OR_RETURN(gateway_, Gateway::Create(options_.gateway, servers_));
  for (const auto& [builtin, name] : builtins_) {
    builtin->Bind(gateway_, name);
  }
  return absl::OkStatus();
}

void EmbeddedGateway::SweepAtStart() {
  if (options_.instance != nullptr) {
    // What dead gateways left: their lock files, and with an engine at hand their containers
    // (a gateway that runs only local processes never needs Docker; it leaves the containers
    // of dead gateways to the next one that has an engine). Before any pull or start.
    SweepDead(*options_.instance, runtimes_->docker.get());
  }
}

absl::StatusOr<std::shared_ptr<mcp::Client>> EmbeddedGateway::ConnectClient(
    mcp::ClientOptions options) {
  MCPGW_RETURN_IF_ERROR(Start());
  auto [client_end, gateway_end] = mcp::CreateMemoryTransportPair();
  MCPGW_RETURN_IF_ERROR(gateway_->Serve(std::move(gateway_end)));
  return mcp::Client::Create(std::move(client_end), std::move(options));
}

absl::Status EmbeddedGateway::Serve(int in_fd, int out_fd, absl::Notification* stop) {
  MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<base::FdChannel> stdio,
                         base::FdChannel::Create(in_fd, out_fd, {.owns_fds = false}));
  MCPGW_RETURN_IF_ERROR(Start());
  auto closed = std::make_shared<absl::Notification>();
  auto why = std::make_shared<absl::Status>();
  MCPGW_RETURN_IF_ERROR(gateway_->Serve(mcp::CreateLineTransport(std::move(stdio)),
                                        [closed, why](absl::Status reason) {
                                          *why = std::move(reason);
                                          closed->Notify();
                                        }));
  spdlog::info("mcpgw: serving {} server(s) on stdio", servers_.size());
  // Until the client leaves or a signal asks us to stop.
  while (!closed->WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
    if (stop != nullptr && stop->HasBeenNotified()) {
      spdlog::info("mcpgw: stopping (signal)");
      break;
    }
  }
  StopAll();
  if (closed->HasBeenNotified() && !why->ok()) {
    spdlog::warn("mcpgw: the client connection ended: {}", why->message());
  }
  return absl::OkStatus();
}

// The gateways of ServeHttp's sessions: live ones, and ended ones until their servers have
// exited.
struct HttpSessions {
  absl::Mutex mu;
  absl::flat_hash_map<const Gateway*, std::shared_ptr<Gateway>> live ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<Gateway>> ended ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;

  // End moves a session's gateway from live to ended, shutting it down (its own servers stop).
  void End(const Gateway* key) {
    std::shared_ptr<Gateway> gateway;
    {
      absl::MutexLock lock(&mu);
      auto it = live.find(key);
      if (it == live.end()) {
        return;
      }
      gateway = std::move(it->second);
      live.erase(it);
      // Shut down under the lock (it does not block): once the gateway is in `ended`, the
      // stop sequence may wait for its servers, which it must find already stopping.
      gateway->Shutdown();
      ended.push_back(std::move(gateway));
    }
    Prune();
  }

  // Prune forgets ended gateways whose servers have all exited.
  void Prune() {
    absl::MutexLock lock(&mu);
    ended.erase(std::remove_if(ended.begin(), ended.end(),
                               [](const std::shared_ptr<Gateway>& g) {
                                 return g->WaitStopped(absl::InfinitePast()).ok();
                               }),
                ended.end());
  }
};

absl::Status EmbeddedGateway::ServeHttp(HttpServeOptions options, absl::Notification* stop) {
  if (gateway_ != nullptr || serving_http_) {
    return absl::FailedPreconditionError("this gateway already serves clients");
  }
  serving_http_ = true;
  SweepAtStart();
  GatewayOptions gateway_options = options_.gateway;
  gateway_options.shared = SharedUpstreams::Create(options_.gateway, servers_);
  std::shared_ptr<SharedUpstreams> shared = gateway_options.shared;
  auto sessions = std::make_shared<HttpSessions>();
  // Each session's gateway: the same servers, with a built-in server of its own (its tools
  // act on that session's gateway).
  std::vector<GatewayServer> servers = servers_;
  std::vector<std::string> builtin_names;
  for (const auto& [builtin, name] : builtins_) {
    builtin_names.push_back(name);
  }
  std::vector<Catalog> catalogs = options_.catalogs;
  options.http.on_session = [sessions, servers, builtin_names, catalogs,
                             gateway_options](mcp::TransportPtr transport) {
    std::vector<GatewayServer> own = servers;
    std::vector<std::pair<std::shared_ptr<BuiltinServer>, std::string>> builtins;
    for (GatewayServer& s : own) {
      if (std::find(builtin_names.begin(), builtin_names.end(), s.config.name) ==
          builtin_names.end()) {
        continue;
      }
      absl::StatusOr<std::shared_ptr<BuiltinServer>> builtin =
          BuiltinServer::Create({.catalogs = catalogs});
      if (!builtin.ok()) {
        spdlog::error("mcpgw: HTTP session refused: {}", builtin.status().message());
        return;  // the transport goes unstarted: the client's initialize gets an error
      }
      s.server = (*builtin)->server();
      builtins.emplace_back(*std::move(builtin), s.config.name);
    }
    absl::StatusOr<std::shared_ptr<Gateway>> gateway =
        Gateway::Create(gateway_options, std::move(own));
    if (!gateway.ok()) {
      spdlog::error("mcpgw: HTTP session refused: {}", gateway.status().message());
      return;
    }
    for (const auto& [builtin, name] : builtins) {
      builtin->Bind(*gateway, name);
    }
    const Gateway* key = gateway->get();
    {
      absl::MutexLock lock(&sessions->mu);
      if (sessions->stopping) {
        return;
      }
      sessions->live[key] = *gateway;
    }
    std::weak_ptr<HttpSessions> weak = sessions;
    absl::Status served = (*gateway)->Serve(std::move(transport), [weak, key](absl::Status) {
      // From the session's thread: the gateway's shutdown is left to the executor.
      base::DefaultExecutor().Post([weak, key] {
        if (auto s = weak.lock()) {
          s->End(key);
        }
      });
    });
    if (!served.ok()) {
      spdlog::error("mcpgw: HTTP session refused: {}", served.message());
      sessions->End(key);
    }
  };
  absl::StatusOr<std::unique_ptr<mcp::HttpServer>> http =
      mcp::HttpServer::Start(std::move(options.http));
  if (!http.ok()) {
    shared->Shutdown();
    return http.status();
  }
  spdlog::info("mcpgw: serving {} server(s) on {}", servers_.size(), (*http)->url());
  if (options.on_listening) {
    options.on_listening(**http);
  }
  // Until asked to stop; meanwhile ended sessions' gateways are dropped once their servers
  // have exited.
  while (stop == nullptr || !stop->WaitForNotificationWithTimeout(absl::Seconds(1))) {
    if (stop == nullptr) {
      absl::SleepFor(absl::Seconds(1));
    }
    sessions->Prune();
  }
  spdlog::info("mcpgw: stopping (signal)");
  (*http)->Stop();
  std::vector<std::shared_ptr<Gateway>> all;
  {
    absl::MutexLock lock(&sessions->mu);
    sessions->stopping = true;
    for (auto& [key, gateway] : sessions->live) {
      all.push_back(gateway);
    }
    sessions->live.clear();
    all.insert(all.end(), sessions->ended.begin(), sessions->ended.end());
    sessions->ended.clear();
  }
  for (const auto& gateway : all) {
    gateway->Shutdown();
  }
  shared->Shutdown();
  absl::Duration grace = absl::ZeroDuration();
  for (const GatewayServer& s : servers_) {
    grace = std::max(grace, s.config.stop_grace);
  }
  absl::Time deadline = absl::Now() + grace + absl::Seconds(1);
  bool pulling = shared->preparing() > 0;
  for (const auto& gateway : all) {
    absl::Status stopped = gateway->WaitStopped(deadline);
    if (!stopped.ok()) {
      spdlog::warn("mcpgw: {}; killing it", stopped.message());
    }
    pulling = pulling || gateway->preparing() > 0;
  }
  absl::Status stopped = shared->WaitStopped(deadline);
  if (!stopped.ok()) {
    spdlog::warn("mcpgw: {}; killing it", stopped.message());
  }
  all.clear();
  shared.reset();
  http->reset();
  ReleaseRuntimes(pulling);
  return absl::OkStatus();
}

}  // namespace mcpgw::gateway
