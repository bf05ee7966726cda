// File: gateway.h
//
// The gateway: one MCP endpoint in front of many servers. A downstream client connects (one
// Gateway serves one client session: over HTTP each session gets its own Gateway, sharing
// server instances through SharedUpstreams below) and sees the tools, prompts, resources
// and resource templates of every server merged; its requests are routed to the server that
// owns the name or URI, with ids, progress tokens and cancellation mapped both ways, and the
// servers' notifications and requests (log messages, progress, list changes, sampling,
// elicitation, roots) reach the client.
//
//   std::vector<GatewayServer> servers;
//   servers.push_back({.config = {.name = "fixture", .spec = spec}, .runtime = processes});
//   MCPGW_ASSIGN_OR_RETURN(auto gateway, Gateway::Create({}, std::move(servers)));
//   MCPGW_RETURN_IF_ERROR(gateway->Serve(CreateLineTransport(stdio), [](absl::Status) { ... }));
//
// Servers marked `prepare` are prepared (image pulls) in parallel from Create on; a request
// that needs one waits for it, bounded by `pull_wait`, with progress sent to the client. A
// failed preparation fails the requests waiting and is tried again at the next need.
//
// Upstreams are created when the client has initialized (their `initialize` declares the
// client's own capabilities, so a server offers only what the client can do); long-lived
// ones start then, on-demand ones at the first request that needs them. A listing starts
// every server in parallel and waits at most `list_timeout`: a server that fails or is slow
// is left out of that listing (and logged), never failing it. Lists are cached per server
// and dropped when the server says its list changed (the client is told) or restarts.
//
// Naming (tools and prompts): with prefix-on-conflict (the default) a name two servers share
// is exposed as "<server>__<name>" for both; always-prefix prefixes every name; never keeps
// the first server's item and hides the later ones with a warning. Resources keep their URIs,
// except that a URI or URI template two servers share is exposed as "mcpgw://<server>/<uri>"
// for each (with never: the first server's only) — in listings, reads, resource links,
// embedded resources and resources/updated alike. URIs that no listing names are routed by
// the servers' URI templates. A tool outside a server's allow-list is never listed, and calling
// it by any name gives -32602 without reaching the server. What the client is sent is
// down-levelled to its protocol revision.
//
// A server may run in this process instead: a libmcp Server (GatewayServer::server) is reached
// over an in-memory transport, with the same lifecycle (starting it is connecting to it). A
// remote server is the same over HTTP (HttpConnector).
// Servers can be disabled and enabled again while the gateway runs (SetServerEnabled; the
// built-in `mcpgw` server's tools do it, see builtin_server.h), and ServerStatuses says what
// each one is doing.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mcpgw/container/runtime.h"
#include "mcpgw/gateway/naming.h"
#include "mcpgw/gateway/upstream.h"
#include "mcpgw/mcp/http_client.h"
#include "mcpgw/mcp/server.h"
#include "mcpgw/mcp/transport.h"
#include "mcpgw/mcp/types.h"

namespace mcpgw::gateway {

// One server behind the gateway.
struct GatewayServer {
  // `config.client` is filled in by the gateway from the downstream client's initialize.
  UpstreamConfig config;
  // Runs it (a ProcessRuntime or a DockerEngine); must outlive the Gateway. Not needed for an
  // in-process server.
  container::Runtime* runtime = nullptr;
  // A server running in this process instead (a libmcp Server with its tools): the gateway
  // connects to it over an in-memory transport (`config.spec` is not used).
  std::shared_ptr<mcp::Server> server;
  // Tools exposed; nullopt: all of them.
  std::optional<std::vector<std::string>> allowed_tools;
  // Its full tool definitions (from the catalog), when known: a tools/list is answered from
  // them without starting the server; once it runs, its own list replaces them, and the client
  // gets notifications/tools/list_changed when it differs.
  std::optional<std::vector<mcp::Json>> tools;
  // Make it ready to start (Runtime::Prepare: pull its image) in the background from the
  // moment the gateway is created, not at the first call; requests that need the server
  // wait for it (see GatewayOptions::pull_wait).
  bool prepare = false;
  // Whether it is enabled from the start (see Gateway::SetServerEnabled).
  bool enabled = true;
  // A remote server (reached over HTTP: `config.connector` opens the connection, see
  // HttpConnector): its URL, for statuses. Empty otherwise.
  std::string remote_url;
};

// InProcessConnector makes an UpstreamConfig::connector for `server`: each call serves a new
// session of it over an in-memory transport pair and returns the client's end.
std::function<absl::StatusOr<mcp::TransportPtr>()> InProcessConnector(
    std::shared_ptr<mcp::Server> server);

// HttpConnector makes an UpstreamConfig::connector for a remote server: each call makes a new
// HTTP client transport (http_client.h) with `options` (a new MCP session once the upstream's
// client initializes it). Its headers are the configured ones only: nothing of the downstream
// client's requests reaches a remote server.
std::function<absl::StatusOr<mcp::TransportPtr>()> HttpConnector(mcp::HttpClientOptions options);

// RemoteGatewayServer makes the GatewayServer of a remote server named `name`: its connector is
// HttpConnector(http), `remote_url` is http.url, and its start timeout outlasts the transport's
// connect and response timeouts, so that a server that does not answer fails with the
// transport's error, which names the URL. Mode, idle timeout, redactor and tools are the
// caller's to set.
GatewayServer RemoteGatewayServer(std::string name, mcp::HttpClientOptions http);

// ToHttpTransportKind maps a catalog's `remote.transport` to the HTTP client's.
mcp::HttpTransportKind ToHttpTransportKind(RemoteTransport transport);

// What one server of the gateway is doing (Gateway::ServerStatuses).
struct ServerStatus {
  std::string name;
  // "process" (a local program), "image" (a container), "in-process" or "remote".
  std::string kind;
  RunMode mode = RunMode::kOnDemand;
  bool enabled = true;
  // kStopped before the client has initialized and while disabled.
  UpstreamState state = UpstreamState::kStopped;
  // The last start failure or crash, empty when none.
  std::string last_error;
  // The number of its tools the gateway exposes, once it has listed them.
  std::optional<size_t> tools;
};

class SharedUpstreams;

struct GatewayOptions {
  mcp::Implementation info = mcp::Implementation{.name = "mcpgw", .version = "0.1.0"};
  std::optional<std::string> instructions;
  NamingPolicy naming = NamingPolicy::kPrefixOnConflict;
  // How long a listing waits for servers that are starting.
  absl::Duration list_timeout = absl::Seconds(30);
  // How long a tools/call waits for its server's image to be pulled before it is answered
  // with an isError result saying how far the pull is and when to retry (other requests get
  // an Unavailable error saying the same). While it waits, a client that gave a progress
  // token gets notifications/progress (bytes pulled of the total) every `pull_progress_every`.
  absl::Duration pull_wait = absl::Seconds(20);
  absl::Duration pull_progress_every = absl::Seconds(1);
  // Passed to every upstream's session (executor, clock, timeouts).
  mcp::SessionOptions upstream_session;
  // The downstream session's options (name, executor, limits).
  mcp::SessionOptions downstream_session;
  // Server instances shared with other gateways (one gateway per HTTP session): see
  // SharedUpstreams. Null: this gateway runs its own.
  std::shared_ptr<SharedUpstreams> shared;
};

// Thread-safe.
class Gateway : public std::enable_shared_from_this<Gateway> {
 public:
  // Create checks the servers (names unique and valid, a runtime each). InvalidArgument
  // naming the first problem.
  static absl::StatusOr<std::shared_ptr<Gateway>> Create(GatewayOptions options,
                                                         std::vector<GatewayServer> servers);
  ~Gateway();

  // Serve answers one downstream client on `transport` (started here) until it closes;
  // `on_closed` is called once then, from a session thread. FailedPrecondition when already
  // serving.
  absl::Status Serve(mcp::TransportPtr transport,
                     absl::AnyInvocable<void(absl::Status) &&> on_closed = nullptr);

  // Shutdown stops every server and closes the client session. Does not block.
  void Shutdown();

  // WaitStopped waits (until `deadline`) for the servers stopped by Shutdown to exit: stop the
  // gateway, wait, then destroy the runtimes, so servers get their grace period.
  absl::Status WaitStopped(absl::Time deadline);

  // The downstream client's outgoing queue and the progress and log notifications dropped
  // because the client did not keep up (zeros before Serve). See mcp::SendOptions::droppable.
  mcp::TransportStats downstream_stats() const;

  // The upstreams, once the client has initialized (empty before): for status and tests.
  std::vector<std::shared_ptr<Upstream>> upstreams() const;

  // How many servers are still being prepared (pulled). A runtime may not be destroyed while
  // one of its servers is: WaitStopped waits for them too, until its deadline.
  int preparing() const;

  // ServerStatuses describes every server, in the order given to Create. Any thread.
  std::vector<ServerStatus> ServerStatuses() const;

  // SetServerEnabled enables or disables the server `name` while the gateway runs. Disabling
  // stops it (calls in flight fail); its tools, prompts and resources leave the listings, and
  // requests naming them get -32602 (-32002 for a URI) without starting it. Enabling makes
  // them available again (a long-lived server starts). The client is told with
  // notifications/tools/list_changed (and prompts/resources ones unless the server is known
  // to have none). OK and nothing sent when it already is so; NotFound, listing the servers,
  // for an unknown name. Any thread; does not block (except while the server's start is inside
  // Runtime::Run, as Upstream::Shutdown).
  absl::Status SetServerEnabled(absl::string_view name, bool enabled);

 private:
  friend class SharedUpstreams;
  struct Impl;
  explicit Gateway(std::shared_ptr<Impl> impl);

  std::shared_ptr<Impl> impl_;
};

// SharedUpstreams lets several gateways — one per downstream session, as `mcpgw run
// --transport http` makes them — use one instance of each server instead of one each.
//
// Sharing is safe only where no message meant for one client can reach another. Responses,
// progress and cancellation are per request, so they always reach the session that made the
// request. But a server's own requests to the client (sampling, elicitation, roots) carry
// nothing that says which call caused them. So a shared instance declares no client
// capabilities at all (a well-behaved server then sends no such request; one that does gets
// -32601 saying why), and only a session whose client declared none of sampling,
// elicitation and roots uses the shared instances. A session whose client declared any of
// them gets connections of its own to every server (for a local server: its own process or
// container, started when first needed and stopped when the session ends), so that such a
// request reaches exactly the client whose call caused it. In-process servers are never
// shared (each session connects to them anew: a connection costs no process), nor are
// per-call servers (every call gets a fresh instance anyway).
//
// What a shared instance sends: list changes reach every session using it; log messages
// reach every session using it (the level set by a session is sent to the server, so the
// latest wins); resource updates reach only the sessions subscribed to that resource. A
// subscription is held on the server while any session holds it: one session's
// unsubscribe, or its end, does not end another's, and it is renewed when the server
// restarts. Disabling a shared server (the built-in server's disable_server) hides it from
// that session only.
//
//   auto shared = SharedUpstreams::Create(options, servers);     // pulls begin here
//   options.shared = shared;
//   // for each new session:
//   auto gateway = Gateway::Create(options, servers);           // same servers
//   gateway->Serve(std::move(transport));
//   ...
//   shared->Shutdown(); shared->WaitStopped(deadline);
class SharedUpstreams {
 public:
  // `servers` are those of the gateways (matched by name; in-process ones are left out).
  // Servers marked `prepare` begin their preparation now.
  static std::shared_ptr<SharedUpstreams> Create(GatewayOptions options,
                                                 std::vector<GatewayServer> servers);
  ~SharedUpstreams();
  SharedUpstreams(const SharedUpstreams&) = delete;
  SharedUpstreams& operator=(const SharedUpstreams&) = delete;

  // Shutdown stops every shared instance; gateways still using them get errors. Does not
  // block.
  void Shutdown();
  // WaitStopped waits for what Shutdown stopped (and preparations) until `deadline`.
  absl::Status WaitStopped(absl::Time deadline);
  // The shared upstreams made so far (one per server some session used).
  std::vector<std::shared_ptr<Upstream>> upstreams() const;
  // Gateways currently using at least one shared instance.
  size_t users() const;
  int preparing() const;

  struct Impl;

 private:
  explicit SharedUpstreams(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
  friend class Gateway;
};

}  // namespace mcpgw::gateway
