// Two libmcp sessions in one process: a server session answers `greet`, a client session calls
// it. Both handle everything inline over the in-memory transport, so the whole exchange
// happens inside the client's SendRequest call — no threads, no sockets, no waiting.
#include <cstdio>
#include <string>

#include "mcpgw/base/executor.h"
#include "mcpgw/mcp/memory_transport.h"
#include "mcpgw/mcp/session.h"

namespace mcp = mcpgw::mcp;

int main() {
  mcpgw::base::InlineExecutor inline_executor;
  auto [server_end, client_end] = mcp::CreateMemoryTransportPair();
  mcp::SessionOptions server_options;
  server_options.name = "server";
  server_options.executor = &inline_executor;
  mcp::SessionOptions client_options;
  client_options.name = "client";
  client_options.executor = &inline_executor;
  auto server = mcp::Session::Create(std::move(server_end), server_options);
  auto client = mcp::Session::Create(std::move(client_end), client_options);

  server->SetRequestHandler("greet", [](mcp::IncomingRequest request) {
    const mcp::JsonValue* name =
        request.params() != nullptr ? mcp::FindMember(*request.params(), "name") : nullptr;
    if (name == nullptr || !name->IsString()) {
      request.Respond(absl::InvalidArgumentError("greet needs a string 'name'"));
      return;
    }
    mcp::Json result = mcp::Json::Object();
    result.Set("greeting", "hello, " + std::string(mcp::AsStringView(*name)));
    request.Respond(std::move(result));
  });
  if (!server->Start().ok() || !client->Start().ok()) {
    return 1;
  }

  int failures = 0;
  mcp::Json params = mcp::Json::Object();
  params.Set("name", "embedder");
  client->SendRequest("greet", params, [&](absl::StatusOr<mcp::Message> response) {
    if (!response.ok() || response->result() == nullptr) {
      ++failures;
      return;
    }
    std::printf("greet → %s\n", response->Serialize().c_str());
  });
  client->SendRequest("greet", mcp::Json::Object(), [&](absl::StatusOr<mcp::Message> response) {
    if (!response.ok() || response->kind() != mcp::MessageKind::kErrorResponse) {
      ++failures;
      return;
    }
    std::printf("greet without a name → error %d: %s\n", response->error().code,
                response->error().message.c_str());
  });
  client->Close();
  server->Close();
  return failures == 0 ? 0 : 1;
}
