// File: embed.h
//
// A gateway inside a C++ program: collect servers — in-process ones (a libmcp Server with its
// tools), the servers of a profile (local processes, containers, the built-in `mcpgw` server)
// or any GatewayServer — then either serve one MCP client on a pair of descriptors (what
// `mcpgw run` does on stdin/stdout) or connect an in-process libmcp Client to the gateway.
// EmbeddedGateway owns what it needs for that: the runtimes (made on demand), the Gateway,
// and the built-in server; destroying it stops every server and waits for their exits.
//
//   MCPGW_ASSIGN_OR_RETURN(auto host, EmbeddedGateway::Create({}));
//   MCPGW_RETURN_IF_ERROR(host->AddServer("weather", weather_server));  // a mcp::Server
//   MCPGW_RETURN_IF_ERROR(host->AddBuiltinServer());                     // list_servers, ...
//   MCPGW_ASSIGN_OR_RETURN(std::shared_ptr<mcp::Client> client, host->ConnectClient());
//   client->Connect([client](absl::StatusOr<mcp::InitializeResult> init) {
//     client->ListTools(...);  // every server's tools, merged
//   });
//
// or, instead of ConnectClient, serve a client on stdio until it leaves:
//
//   return host->Serve(STDIN_FILENO, STDOUT_FILENO, /*stop=*/nullptr);
//
// or serve any number of clients over HTTP until `stop` is notified:
//
//   return host->ServeHttp({.http = {.port = 8811}}, &stop);
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "mcpgw/gateway/builtin_server.h"
#include "mcpgw/gateway/catalog.h"
#include "mcpgw/gateway/gateway.h"
#include "mcpgw/gateway/instance.h"
#include "mcpgw/gateway/profile.h"
#include "mcpgw/gateway/secret_store.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/http_server.h"
#include "mcpgw/mcp/server.h"

namespace mcpgw::gateway {

struct EmbeddedGatewayOptions {
  GatewayOptions gateway;
  // What the built-in server's search_catalog searches; empty: the built-in catalog.
  std::vector<Catalog> catalogs;
  // This gateway's identity and lock (instance.h), when it has one (`mcpgw run` does); must
  // outlive the EmbeddedGateway. Then every container it starts carries the instance's labels,
  // the containers of dead gateways are removed before the first server starts, and at exit
  // any container of its own still known to the engine is removed.
  GatewayInstance* instance = nullptr;
};

struct HttpServeOptions {
  // Address, port, endpoint path, limits, bearer token (see mcp::HttpServerOptions);
  // `on_session` is set by ServeHttp.
  mcp::HttpServerOptions http;
  // Called once the server listens (e.g. to print its URL).
  absl::AnyInvocable<void(const mcp::HttpServer&)> on_listening;
};

// Thread-compatible while servers are added; ConnectClient and Serve start the gateway once.
class EmbeddedGateway {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedGateway>> Create(
      EmbeddedGatewayOptions options = {});
  // Stops every server, waits (up to their stop grace) for their exits, then destroys the
  // runtimes, which kill and reap what is left.
  ~EmbeddedGateway();

  // AddServer adds an in-process server: the gateway reaches `server` over an in-memory
  // transport. `allowed_tools` limits what is exposed (nullopt: every tool).
  // FailedPrecondition once the gateway has started.
  absl::Status AddServer(std::string name, std::shared_ptr<mcp::Server> server,
                         std::optional<std::vector<std::string>> allowed_tools = std::nullopt);

  // AddBuiltinServer adds the built-in `mcpgw` server (builtin_server.h) under `name`.
  absl::Status AddBuiltinServer(std::string name = std::string(kBuiltinServerName));

  // AddProfile adds the servers of a resolved profile: local programs on a ProcessRuntime,
  // containers on a DockerEngine (connected to, and their images pulled, here), the built-in
  // server in-process, remote servers over HTTP (HttpConnector, with their headers expanded
  // here; plain http:// to a host that is not loopback is logged as a warning). Secrets come from `secrets`, only for the servers that declare them,
  // looked up now. Errors name the server: a missing secret (NotFound, saying how to set it),
  // no Docker engine for a container, an image that cannot be pulled, an unknown built-in.
  // `stop`, when notified, cancels image pulls between servers (Cancelled).
  absl::Status AddProfile(const ResolvedProfile& plan, const SecretStore& secrets,
                          absl::Notification* stop = nullptr);

  // AddServer adds any GatewayServer (its runtime must outlive this object).
  absl::Status AddServer(GatewayServer server);

  // ConnectClient starts the gateway and returns a libmcp Client connected to it in memory
  // (not yet initialized: call Connect). One client per gateway: FailedPrecondition when it
  // already serves one; InvalidArgument from Gateway::Create for a bad server list.
  absl::StatusOr<std::shared_ptr<mcp::Client>> ConnectClient(mcp::ClientOptions options = {});

  // Serve starts the gateway and serves one MCP client on `in_fd` (reads) and `out_fd`
  // (writes), JSON-RPC messages one per line, until the client closes its end or `stop` is
  // notified; then stops every server (waiting for their exits) and returns. Blocks. The
  // descriptors are not closed.
  absl::Status Serve(int in_fd, int out_fd, absl::Notification* stop);

  // ServeHttp serves MCP clients over HTTP (mcp::HttpServer: Streamable HTTP, the legacy
  // HTTP+SSE endpoints, the health check) until `stop` is notified; then ends every session,
  // stops every server (waiting for their exits) and returns. Blocks. Each HTTP session gets
  // a gateway of its own — its own routing context: exposed names, subscriptions, log level,
  // enabled servers, built-in server — over the servers added; server instances are shared
  // between sessions as SharedUpstreams (gateway.h) describes. Errors before serving: the
  // address cannot be bound (Unavailable), a non-loopback host without a bearer token
  // (InvalidArgument), FailedPrecondition when the gateway has started already.
  absl::Status ServeHttp(HttpServeOptions options, absl::Notification* stop);

  // The gateway, once started (null before): statuses, enabling and disabling servers.
  std::shared_ptr<Gateway> gateway() const { return gateway_; }

 private:
  struct Runtimes;
  explicit EmbeddedGateway(EmbeddedGatewayOptions options);
  absl::Status Start();
  void StopAll();
  // What dead gateways left (see instance.h), before any server starts.
  void SweepAtStart();
  // The end of every run: this gateway's leftover containers, then the runtimes.
  void ReleaseRuntimes(bool pulling);

  EmbeddedGatewayOptions options_;
  std::unique_ptr<Runtimes> runtimes_;
  std::vector<GatewayServer> servers_;
  // Built-in servers, bound to the gateway once it exists.
  std::vector<std::pair<std::shared_ptr<BuiltinServer>, std::string>> builtins_;
  std::shared_ptr<Redactor> redactor_;
  std::shared_ptr<Gateway> gateway_;
  bool serving_http_ = false;
};

}  // namespace mcpgw::gateway
