// consumer: decodes one JSON-RPC message with the installed libmcp headers and library.
// Prints "consumer OK: ping 7" and exits 0, or says what went wrong and exits 1.

#include <cstdio>
#include <string>

#include "mcpgw/mcp/json_rpc.h"

int main() {
  absl::StatusOr<mcpgw::mcp::Message> message =
      mcpgw::mcp::DecodeMessage(R"({"jsonrpc":"2.0","id":7,"method":"ping"})");
  if (!message.ok()) {
    std::fprintf(stderr, "consumer FAILED: decode: %s\n", message.status().ToString().c_str());
    return 1;
  }
  if (!message->is_request() || message->method() != "ping" || !message->id().has_value() ||
      *message->id() != mcpgw::mcp::RequestId(7)) {
    std::fprintf(stderr, "consumer FAILED: unexpected message %s\n",
                 message->Serialize().c_str());
    return 1;
  }
  std::printf("consumer OK: %s %s\n", std::string(message->method()).c_str(),
              message->id()->ToString().c_str());
  return 0;
}
