// A small MCP server on the process's own stdin/stdout, built on libmcp's session and stdio
// transport, for end-to-end tests of the protocol core: it answers initialize (negotiating the
// revision), ping, and `test/echo` (which returns its params), and with --debug it logs every
// message at debug level — to stderr, so stdout carries protocol messages only.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/synchronization/notification.h"
#include "mcpgw/base/logging.h"
#include "mcpgw/mcp/line_transport.h"
#include "mcpgw/mcp/session.h"
#include "mcpgw/mcp/types.h"

namespace mcp = mcpgw::mcp;

int main(int argc, char** argv) {
  bool debug = argc > 1 && std::strcmp(argv[1], "--debug") == 0;
  mcpgw::base::ConfigureLogging(debug ? spdlog::level::debug : spdlog::level::warn);
  absl::StatusOr<mcp::TransportPtr> transport = mcp::CreateStdioTransport({});
  if (!transport.ok()) {
    spdlog::error("cannot use stdin/stdout: {}", transport.status().ToString());
    return 1;
  }
  auto session = mcp::Session::Create(*std::move(transport), {.name = "client"});
  mcp::Session& s = *session;
  session->SetRequestHandler("initialize", [&s](mcp::IncomingRequest request) {
    spdlog::debug("initialize: {}", request.message().Serialize());
    absl::StatusOr<mcp::InitializeParams> init =
        request.params() != nullptr
            ? mcp::FromJson<mcp::InitializeParams>(*request.params())
            : absl::InvalidArgumentError("initialize needs params");
    if (!init.ok()) {
      request.Respond(init.status());
      return;
    }
    mcp::ProtocolVersion v = mcp::NegotiateVersion(init->protocol_version);
    s.SetProtocolVersion(v);
    mcp::InitializeResult result;
    result.protocol_version = std::string(mcp::ToString(v));
    result.server_info = mcp::Implementation{.name = "mcpgw-stdio-test-server", .version = "0.1.0"};
    result.instructions = "A test server for the mcpgw protocol core.";
    request.Respond(mcp::ToJson(result));
  });
  session->SetRequestHandler("test/echo", [](mcp::IncomingRequest request) {
    spdlog::debug("echo: {}", request.message().Serialize());
    request.Respond(request.params() != nullptr ? mcp::Json::Copy(*request.params())
                                                : mcp::Json::Object());
  });
  session->SetFallbackNotificationHandler([](const mcp::Message& n) {
    spdlog::debug("notification: {}", n.Serialize());
  });
  absl::Notification closed;
  session->SetClosedCallback([&](absl::Status why) {
    spdlog::debug("session closed: {}", why.ToString());
    closed.Notify();
  });
  if (absl::Status started = session->Start(); !started.ok()) {
    spdlog::error("cannot start: {}", started.ToString());
    return 1;
  }
  spdlog::debug("serving MCP on stdio");
  closed.WaitForNotification();
  session->Close();
  // Every answer is written; don't run static destructors under pool threads still unwinding.
  std::fflush(nullptr);
  _exit(0);
}
