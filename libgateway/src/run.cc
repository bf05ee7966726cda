#include "mcpgw/gateway/run.h"

#include <map>
#include <memory>
#include <utility>

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

}  // namespace mcpgw::gateway
