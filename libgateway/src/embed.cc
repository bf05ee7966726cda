#include "mcpgw/gateway/embed.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mcpgw/base/fd_channel.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/container/docker_engine.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/mcp/line_transport.h"
#include "mcpgw/mcp/memory_transport.h"
#include "spdlog/spdlog.h"

namespace mcpgw::gateway {

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
    gateway_.reset();
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
    GatewayServer entry;
    entry.config.name = server.name;
    entry.config.mode =
        server.settings.mode == RunMode::kPerCall ? RunMode::kOnDemand : server.settings.mode;
    entry.config.idle_timeout = server.settings.idle_timeout;
    entry.config.redactor = redactor_;
    entry.allowed_tools = server.allowed_tools;
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
      }
      entry.runtime = runtimes_->docker.get();
    }
    added.push_back(std::move(entry));
  }
  // Images are made ready now, not at the first call (pulls can take minutes).
  for (const GatewayServer& s : added) {
    if (s.runtime == nullptr || s.runtime != runtimes_->docker.get()) {
      continue;
    }
    if (stop != nullptr && stop->HasBeenNotified()) {
      return absl::CancelledError("stopped (signal) while preparing images");
    }
    absl::StatusOr<container::Prepared> prepared = runtimes_->docker->Prepare(s.config.spec);
    if (!prepared.ok()) {
      return absl::Status(
          prepared.status().code(),
          absl::StrCat("server '", s.config.name, "': ", prepared.status().message()));
    }
    spdlog::info("server {}: image {} ({})", s.config.name, s.config.spec.image, prepared->digest);
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
  MCPGW_ASSIGN_OR_RETURN(gateway_, Gateway::Create(options_.gateway, servers_));
  for (const auto& [builtin, name] : builtins_) {
    builtin->Bind(gateway_, name);
  }
  return absl::OkStatus();
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

}  // namespace mcpgw::gateway
