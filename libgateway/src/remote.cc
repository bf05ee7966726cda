// Remote servers: an MCP server reached over HTTP (libmcp's HTTP client transport).
#include <utility>

#include "mcpgw/gateway/gateway.h"
#include "mcpgw/mcp/http_client.h"

namespace mcpgw::gateway {

std::function<absl::StatusOr<mcp::TransportPtr>()> HttpConnector(
    mcp::HttpClientOptions options) {
  return [options = std::move(options)]() -> absl::StatusOr<mcp::TransportPtr> {
    return mcp::CreateHttpClientTransport(options);
  };
}

GatewayServer RemoteGatewayServer(std::string name, mcp::HttpClientOptions http) {
  GatewayServer server;
  server.config.name = std::move(name);
  server.config.start_timeout = http.connect_timeout + http.response_timeout + absl::Seconds(5);
  server.remote_url = http.url;
  server.config.connector = HttpConnector(std::move(http));
  return server;
}

mcp::HttpTransportKind ToHttpTransportKind(RemoteTransport transport) {
  switch (transport) {
    case RemoteTransport::kAuto:
      return mcp::HttpTransportKind::kAuto;
    case RemoteTransport::kStreamable:
      return mcp::HttpTransportKind::kStreamable;
    case RemoteTransport::kSse:
      return mcp::HttpTransportKind::kSse;
  }
  return mcp::HttpTransportKind::kAuto;
}

}  // namespace mcpgw::gateway
