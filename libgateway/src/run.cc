#include "mcpgw/gateway/run.h"

#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "mcpgw/base/fd_channel.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/container/docker_engine.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/gateway/gateway.h"
#include "mcpgw/gateway/instance.h"
#include "mcpgw/mcp/json_bind.h"
#include "mcpgw/mcp/line_transport.h"
#include "spdlog/spdlog.h"

namespace mcpgw::gateway {

absl::StatusOr<ResolvedProfile> PlanRun(const RunOptions& options) {
  ResolvedProfile plan;
  plan.name = "command line";
  if (!options.profile_path.empty()) {
    MCPGW_ASSIGN_OR_RETURN(Profile profile, LoadProfileFile(options.profile_path));
    ResolveOptions resolve{.servers = options.servers,
                           .tools = options.tools,
                           .config_dir = options.config_dir};
    MCPGW_ASSIGN_OR_RETURN(plan, ResolveProfile(profile, resolve));
  } else if (!options.servers.empty() || !options.tools.empty()) {
    return absl::InvalidArgumentError(
        "--servers and --tools narrow a profile: give one with --profile FILE");
  }
  std::map<std::string, std::string> env;
  for (const std::string& entry : options.env) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--env '", entry.substr(0, entry.find('=')),
                       "...' is not NAME=VALUE (e.g. --env API_URL=http://127.0.0.1:8080)"));
    }
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  if (!env.empty() && options.commands.empty()) {
    return absl::InvalidArgumentError("--env sets variables of --command servers: give one");
  }
  for (const std::string& flag : options.commands) {
    MCPGW_ASSIGN_OR_RETURN(auto name_and_line, ParseAdHocFlag(flag));
    for (const ResolvedServer& s : plan.servers) {
      if (s.name == name_and_line.first) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--command ", s.name, "=...: a server named '", s.name, "' is already defined by ",
            s.origin, ": choose another name"));
      }
    }
    MCPGW_ASSIGN_OR_RETURN(ResolvedServer server, AdHocServer(name_and_line.first,
                                                              name_and_line.second, env,
                                                              plan.gateway));
    plan.servers.push_back(std::move(server));
  }
  if (plan.servers.empty()) {
    return absl::InvalidArgumentError(
        "nothing to run: give a profile (--profile FILE) or a server (--command NAME='CMD "
        "ARGS')");
  }
  return plan;
}

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

absl::Status RunStdioGateway(const ResolvedProfile& plan, const SecretStore& secrets, int in_fd,
                             int out_fd, absl::Notification* stop) {
  // This gateway's identity and lock, held until everything it started is gone (destroyed
  // last): its containers carry the id, and other gateways see it alive.
  MCPGW_ASSIGN_OR_RETURN(std::string instance_dir, DefaultInstanceDir());
  MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<GatewayInstance> self,
                         GatewayInstance::Acquire(instance_dir));
  spdlog::info("mcpgw: gateway instance {} (lock file {})", self->id(), self->lock_path());
  // Runtimes next (they outlive the gateway and its upstreams).
  MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<container::ProcessRuntime> processes,
                         container::ProcessRuntime::Create({}));
  std::unique_ptr<container::DockerEngine> docker;
  std::vector<GatewayServer> servers;
  // Every secret handed out is masked in what the gateway reports about its servers.
  auto redactor = std::make_shared<Redactor>();
  for (const ResolvedServer& server : plan.servers) {
    if (server.definition.kind == ServerDefinition::Kind::kBuiltin) {
      spdlog::warn("server {}: the built-in server does not run yet; it is left out",
                   server.name);
      continue;
    }
    auto lookup = [&](absl::string_view secret) -> absl::StatusOr<std::string> {
      const SecretSpec* spec = server.definition.FindSecret(secret);
      absl::StatusOr<std::string> value =
          secrets.Require(secret, SecretRequest{.server = server.name,
                                                .env_var = spec != nullptr ? spec->env : "",
                                                .how = spec != nullptr ? spec->how : ""});
      if (value.ok()) {
        redactor->Add(*value);
      }
      return value;
    };
    MCPGW_ASSIGN_OR_RETURN(container::RunSpec spec,
                           BuildRunSpec(server, server.config, lookup));
    container::Runtime* runtime = processes.get();
    if (!spec.image.empty()) {
      if (docker == nullptr) {
        absl::StatusOr<std::unique_ptr<container::DockerEngine>> engine =
            container::DockerEngine::Create({});
        if (!engine.ok()) {
          return absl::Status(engine.status().code(),
                              absl::StrCat("server '", server.name, "' runs in a container (",
                                           spec.image, "), but ", engine.status().message()));
        }
        docker = *std::move(engine);
        // Before any container starts: a sweep after this gateway's death must ask the engine.
        MCPGW_RETURN_IF_ERROR(self->MarkUsesContainers());
      }
      runtime = docker.get();
    }
    GatewayServer entry;
    entry.config.name = server.name;
    entry.config.spec = std::move(spec);
    entry.config.spec.labels[std::string(kGatewayLabel)] = self->id();
    entry.config.spec.labels[std::string(kProfileLabel)] = plan.name;
    entry.config.mode = server.settings.mode;
    entry.config.per_call_concurrency = server.settings.per_call_concurrency;
    entry.config.idle_timeout = server.settings.idle_timeout;
    entry.config.redactor = redactor;
    entry.runtime = runtime;
    entry.allowed_tools = server.allowed_tools;
    if (server.definition.tools.has_value()) {
      std::vector<mcp::Json> tools;
      for (const mcp::Tool& tool : *server.definition.tools) {
        tools.push_back(mcp::ToJson(tool));
      }
      entry.tools = std::move(tools);
    }
    // Images are pulled from the start, in the background (pulls can take minutes).
    entry.prepare = runtime == docker.get();
    servers.push_back(std::move(entry));
  }
  // What dead gateways left: their lock files, and with an engine at hand their containers
  // (a gateway that runs only local processes never needs Docker; it leaves the containers of
  // dead gateways to the next one that has an engine).
  SweepDead(*self, docker.get());
  size_t count = servers.size();
  GatewayOptions options;
  options.naming = plan.gateway.naming;
  MCPGW_ASSIGN_OR_RETURN(std::shared_ptr<Gateway> gateway,
                         Gateway::Create(std::move(options), std::move(servers)));
  MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<base::FdChannel> stdio,
                         base::FdChannel::Create(in_fd, out_fd, {.owns_fds = false}));
  auto closed = std::make_shared<absl::Notification>();
  auto why = std::make_shared<absl::Status>();
  MCPGW_RETURN_IF_ERROR(gateway->Serve(mcp::CreateLineTransport(std::move(stdio)),
                                       [closed, why](absl::Status reason) {
                                         *why = std::move(reason);
                                         closed->Notify();
                                       }));
  spdlog::info("mcpgw: serving {} server(s) on stdio", count);
  // Until the client leaves or a signal asks us to stop.
  while (!closed->WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
    if (stop != nullptr && stop->HasBeenNotified()) {
      spdlog::info("mcpgw: stopping (signal)");
      break;
    }
  }
  gateway->Shutdown();
  // Their grace: stdin closed, SIGTERM, SIGKILL after stop_grace (5 s). Then the runtimes go.
  absl::Status stopped = gateway->WaitStopped(absl::Now() + absl::Seconds(6));
  if (!stopped.ok()) {
    spdlog::warn("mcpgw: {}; killing it", stopped.message());
  }
  bool pulling = gateway->preparing() > 0;
  gateway.reset();
  if (docker != nullptr) {
    RemoveOwnContainers(*self, *docker);
  }
  // The runtimes' destructors kill and reap what is left (containers included).
  if (pulling) {
    // A pull still inside the engine client: the engine is left to the process's exit rather
    // than destroyed under it (it started no container).
    spdlog::warn("mcpgw: an image pull is still running; leaving it");
    static_cast<void>(docker.release());
  }
  docker.reset();
  processes.reset();
  if (closed->HasBeenNotified() && !why->ok()) {
    spdlog::warn("mcpgw: the client connection ended: {}", why->message());
  }
  return absl::OkStatus();
}

}  // namespace mcpgw::gateway
