// File: run.h
//
// `mcpgw run` as library calls: decide what to run (a profile, narrowed by --servers and
// --tools, plus ad-hoc --command servers; with neither, the built-in default profile), then
// serve one client on a pair of descriptors
// (stdin/stdout) until it disconnects or the caller asks to stop. Everything started is stopped
// before RunStdioGateway returns.
//
//   RunOptions options{.commands = {"fetch=uvx mcp-server-fetch"}};
//   MCPGW_ASSIGN_OR_RETURN(ResolvedProfile plan, PlanRun(options));
//   MCPGW_ASSIGN_OR_RETURN(SecretStore secrets, SecretStore::Default());
//   absl::Notification stop;  // notified by a signal handler thread
//   return RunStdioGateway(plan, secrets, STDIN_FILENO, STDOUT_FILENO, &stop);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "mcpgw/gateway/profile.h"
#include "mcpgw/gateway/secret_store.h"

namespace mcpgw::gateway {

struct RunOptions {
  // A profile file; empty: none (then the default profile, unless there are commands).
  std::string profile_path;
  // "NAME=CMD ARGS..." ad-hoc local servers (split like a shell would, no shell runs).
  std::vector<std::string> commands;
  // "NAME=VALUE" variables for the ad-hoc servers (values may be {{secret.X}}).
  std::vector<std::string> env;
  // Narrowing of the profile's servers (--servers a,b) and tools (--tools server:tool).
  std::vector<std::string> servers;
  std::vector<std::string> tools;
  // Where user catalogs live; empty: DefaultConfigDir().
  std::string config_dir;
};

// DefaultProfileYaml is the profile `mcpgw run` serves when given neither a profile nor a
// command: the built-in `mcpgw` server, which needs no Docker and no network.
absl::string_view DefaultProfileYaml();

// PlanRun loads and resolves what `options` ask for (the default profile when they name no
// profile and no command). Errors name the file, line and field (profile mistakes), the flag
// (a malformed --command or --env), or the unknown server or tool.
absl::StatusOr<ResolvedProfile> PlanRun(const RunOptions& options);

// SearchableCatalogs returns the catalogs the built-in server searches: the built-in one and
// the user catalogs of `config_dir` (empty: DefaultConfigDir()); a user catalog that does not
// load is left out with a warning.
std::vector<Catalog> SearchableCatalogs(absl::string_view config_dir = "");

// RunStdioGateway runs `plan`'s servers behind one gateway (an EmbeddedGateway, embed.h) serving the MCP client on `in_fd`
// (reads) and `out_fd` (writes), until the client closes its end or `stop` is notified; then
// stops every server and returns. Secrets come from `secrets`, only for the servers that
// declare them. Errors before serving (a missing secret, no Docker engine for a container
// server, an unsafe lock directory) are returned at once, naming the server or directory and
// how to fix it.
//
// Several gateways may run at once (see instance.h): this one takes a GatewayInstance in
// DefaultInstanceDir() for its whole run, labels every server it starts with its id
// (io.mcpgw.gateway) and the profile's name (io.mcpgw.profile), and before serving removes
// what dead gateways left — their containers only when this run has a container server (a
// run of local processes never needs Docker). At the end it checks that none of its
// containers is left (removing any), then releases its lock; if that check fails, the lock
// file stays for the next gateway's sweep.
absl::Status RunStdioGateway(const ResolvedProfile& plan, const SecretStore& secrets, int in_fd,
                             int out_fd, absl::Notification* stop);

// The secret that holds the HTTP gateway's bearer token (`mcpgw secret set gateway-token`).
inline constexpr absl::string_view kGatewayTokenSecret = "gateway-token";

struct HttpRunOptions {
  // Where to listen. A host that is not a loopback address requires a bearer token.
  std::string host = "127.0.0.1";
  uint16_t port = 8811;
  // The Streamable HTTP endpoint. The legacy HTTP+SSE endpoints and the health check are
  // served beside it (see mcp::HttpServerOptions).
  std::string path = "/mcp";
  // Require `Authorization: Bearer <token>` even on a loopback address.
  bool require_token = false;
  // The secret holding the token; when the store has none, a random one is made for this run.
  std::string token_secret = std::string(kGatewayTokenSecret);
  // Extra Origins and Host names accepted (DNS rebinding protection: see HttpServerOptions).
  std::vector<std::string> allowed_origins;
  std::vector<std::string> allowed_hosts;
  // Called once listening, with the endpoint's URL and, when a token was made for this run
  // (none stored), that token: the only time it is told.
  absl::AnyInvocable<void(absl::string_view url, absl::string_view generated_token)>
      on_listening;
};

// RunHttpGateway runs `plan`'s servers behind a gateway serving MCP clients over HTTP
// (EmbeddedGateway::ServeHttp: one routing context per HTTP session, server instances shared
// where safe) until `stop` is notified; then stops every server and returns. Like
// RunStdioGateway: one GatewayInstance for the run, dead gateways' leftovers removed, errors
// before serving returned at once (also: the address cannot be bound).
absl::Status RunHttpGateway(const ResolvedProfile& plan, const SecretStore& secrets,
                            HttpRunOptions options, absl::Notification* stop);

}  // namespace mcpgw::gateway
