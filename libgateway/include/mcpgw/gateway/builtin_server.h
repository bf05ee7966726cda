// File: builtin_server.h
//
// The built-in `mcpgw` server: the gateway's own tools, served in-process behind the gateway
// like any other server (the default catalog's `mcpgw` entry, and the default profile).
//
//   list_servers    the gateway's servers: kind, run mode, enabled, state, last error, tools
//   enable_server   enable a disabled server (its tools come back; list_changed is sent)
//   disable_server  disable a server (it stops; its tools leave the listings)
//   search_catalog  search the catalogs by keyword (name, title, description), ranked
//
// Each tool answers with structured content (its outputSchema) and the same as text.
//
//   MCPGW_ASSIGN_OR_RETURN(auto builtin, BuiltinServer::Create({.catalogs = {catalog}}));
//   servers.push_back({.config = {.name = "mcpgw"}, .server = builtin->server()});
//   MCPGW_ASSIGN_OR_RETURN(auto gateway, Gateway::Create({}, std::move(servers)));
//   builtin->Bind(gateway, "mcpgw");
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mcpgw/gateway/catalog.h"
#include "mcpgw/gateway/gateway.h"
#include "mcpgw/mcp/server.h"

namespace mcpgw::gateway {

// The built-in server's name in the default catalog and profile (and its `builtin:` value).
inline constexpr absl::string_view kBuiltinServerName = "mcpgw";

struct BuiltinServerOptions {
  // What search_catalog searches, in order (the built-in catalog, user catalogs, ...).
  std::vector<Catalog> catalogs;
};

// One search_catalog hit.
struct CatalogMatch {
  const Catalog* catalog = nullptr;
  const ServerDefinition* server = nullptr;
  int score = 0;
};

// SearchCatalogs finds the servers whose name, title or description contain every word of
// `query` (case-insensitive), best first: a word matching the name counts most (the whole
// name more), then the title, then the description; ties in name order. An empty query
// matches everything. At most `limit`.
std::vector<CatalogMatch> SearchCatalogs(const std::vector<Catalog>& catalogs,
                                         absl::string_view query, size_t limit);

// Thread-safe.
class BuiltinServer {
 public:
  // Create registers the tools. Internal error only if a definition is broken.
  static absl::StatusOr<std::shared_ptr<BuiltinServer>> Create(BuiltinServerOptions options);

  // Bind sets the gateway the tools act on (held weakly) and this server's own name in it
  // (it refuses to disable itself: its tools would be gone to enable anything again). Until
  // then, and once the gateway is gone, the tools answer with a tool error.
  void Bind(std::weak_ptr<Gateway> gateway, std::string own_name);

  // The libmcp server, for GatewayServer::server.
  const std::shared_ptr<mcp::Server>& server() const { return server_; }

 private:
  struct State;
  BuiltinServer(std::shared_ptr<mcp::Server> server, std::shared_ptr<State> state)
      : server_(std::move(server)), state_(std::move(state)) {}

  std::shared_ptr<mcp::Server> server_;
  std::shared_ptr<State> state_;
};

}  // namespace mcpgw::gateway
