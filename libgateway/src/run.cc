#include "mcpgw/gateway/run.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/gateway/embed.h"
#include "mcpgw/gateway/instance.h"
#include "spdlog/spdlog.h"

namespace mcpgw::gateway {

absl::string_view DefaultProfileYaml() {
  static constexpr absl::string_view kYaml = R"yaml(
version: 1
name: default
description: >-
  What `mcpgw run` serves with no profile: the gateway's own tools (list the servers, enable
  or disable one, search the catalogs). Needs no Docker and no network.
catalogs: [default]
servers:
  mcpgw: {}
)yaml";
  return kYaml;
}

absl::StatusOr<ResolvedProfile> PlanRun(const RunOptions& options) {
  ResolvedProfile plan;
  plan.name = "command line";
  if (options.profile_path.empty() && options.commands.empty() && options.servers.empty() &&
      options.tools.empty() && options.env.empty()) {
    MCPGW_ASSIGN_OR_RETURN(Profile profile,
                           ParseProfile(DefaultProfileYaml(), "<default profile>"));
    return ResolveProfile(profile, {.config_dir = options.config_dir});
  }
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

std::vector<Catalog> SearchableCatalogs(absl::string_view config_dir) {
  std::vector<Catalog> out;
  if (absl::StatusOr<Catalog> builtin = DefaultCatalog(); builtin.ok()) {
    out.push_back(*std::move(builtin));
  }
  std::string dir = config_dir.empty() ? DefaultConfigDir() : std::string(config_dir);
  absl::StatusOr<std::vector<std::string>> names = ListUserCatalogs(dir);
  if (!names.ok()) {
    spdlog::warn("user catalogs: {}", names.status().message());
    return out;
  }
  for (const std::string& name : *names) {
    absl::StatusOr<Catalog> catalog = LoadUserCatalog(dir, name);
    if (catalog.ok()) {
      out.push_back(*std::move(catalog));
    } else {
      spdlog::warn("user catalog {} is left out of searches: {}", name,
                   catalog.status().message());
    }
  }
  return out;
}

absl::Status RunStdioGateway(const ResolvedProfile& plan, const SecretStore& secrets, int in_fd,
                             int out_fd, absl::Notification* stop) {
  // This gateway's identity and lock, held until everything it started is gone (destroyed
  // after the gateway): its containers carry the id, and other gateways see it alive.
  MCPGW_ASSIGN_OR_RETURN(std::string instance_dir, DefaultInstanceDir());
  MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<GatewayInstance> self,
                         GatewayInstance::Acquire(instance_dir));
  spdlog::info("mcpgw: gateway instance {} (lock file {})", self->id(), self->lock_path());
  EmbeddedGatewayOptions options;
  options.gateway.naming = plan.gateway.naming;
  options.catalogs = SearchableCatalogs();
  options.instance = self.get();
  MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedGateway> host,
                         EmbeddedGateway::Create(std::move(options)));
  MCPGW_RETURN_IF_ERROR(host->AddProfile(plan, secrets, stop));
  absl::Status served = host->Serve(in_fd, out_fd, stop);
  host.reset();  // every server is gone before the lock is released
  return served;
}

namespace {

bool IsLoopbackHost(absl::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" ||
         absl::StartsWith(host, "127.");
}

// A token of 32 random bytes, hex: from the kernel's random source.
absl::StatusOr<std::string> RandomToken() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return absl::InternalError(absl::StrCat("cannot make a token: getrandom: ",
                                              std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace

absl::Status RunHttpGateway(const ResolvedProfile& plan, const SecretStore& secrets,
                            HttpRunOptions options, absl::Notification* stop) {
  HttpServeOptions serve;
  serve.http.host = options.host;
  serve.http.port = options.port;
  serve.http.path = options.path;
  serve.http.allowed_origins = options.allowed_origins;
  serve.http.allowed_hosts = options.allowed_hosts;
  std::string generated;
  if (options.require_token || !IsLoopbackHost(options.host)) {
    absl::StatusOr<std::optional<std::string>> stored = secrets.Get(options.token_secret);
    if (!stored.ok()) {
      return stored.status();
    }
    if (stored->has_value() && !(*stored)->empty()) {
      serve.http.bearer_token = **stored;
    } else {
      MCPGW_ASSIGN_OR_RETURN(generated, RandomToken());
      serve.http.bearer_token = generated;
    }
  }
  MCPGW_ASSIGN_OR_RETURN(std::string instance_dir, DefaultInstanceDir());
  MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<GatewayInstance> self,
                         GatewayInstance::Acquire(instance_dir));
  spdlog::info("mcpgw: gateway instance {} (lock file {})", self->id(), self->lock_path());
  EmbeddedGatewayOptions host_options;
  host_options.gateway.naming = plan.gateway.naming;
  host_options.catalogs = SearchableCatalogs();
  host_options.instance = self.get();
  MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedGateway> host,
                         EmbeddedGateway::Create(std::move(host_options)));
  MCPGW_RETURN_IF_ERROR(host->AddProfile(plan, secrets, stop));
  auto on_listening = std::move(options.on_listening);
  serve.on_listening = [&on_listening, &generated](const mcp::HttpServer& http) {
    if (on_listening) {
      on_listening(http.url(), generated);
    }
  };
  absl::Status served = host->ServeHttp(std::move(serve), stop);
  host.reset();  // every server is gone before the lock is released
  return served;
}

}  // namespace mcpgw::gateway
