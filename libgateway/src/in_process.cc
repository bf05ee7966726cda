// In-process servers: a libmcp Server reached over an in-memory transport pair.
#include <utility>

#include "mcpgw/gateway/gateway.h"
#include "mcpgw/mcp/memory_transport.h"

namespace mcpgw::gateway {

std::function<absl::StatusOr<mcp::TransportPtr>()> InProcessConnector(
    std::shared_ptr<mcp::Server> server) {
  return [server = std::move(server)]() -> absl::StatusOr<mcp::TransportPtr> {
    auto [client_end, server_end] = mcp::CreateMemoryTransportPair();
    absl::StatusOr<std::shared_ptr<mcp::ServerSession>> session =
        server->Serve(std::move(server_end));
    if (!session.ok()) {
      return session.status();
    }
    return std::move(client_end);
  };
}

}  // namespace mcpgw::gateway
