// A gateway embedded in a program: two MCP servers defined in this process with libmcp
// (`units` and `dice`) behind one gateway, with the built-in `mcpgw` server; a libmcp Client
// connected to the gateway in memory lists the merged tools and calls one tool of each server.
// No process, no socket, no Docker.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mcpgw/base/logging.h"
#include "mcpgw/gateway/embed.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/server.h"

namespace gateway = mcpgw::gateway;
namespace mcp = mcpgw::mcp;

namespace {

// Await waits (at most 10 s) for an asynchronous libmcp call: the library never blocks, a
// program's main may.
template <typename T, typename Start>
absl::StatusOr<T> Await(Start start) {
  struct State {
    absl::Mutex mu;
    std::optional<absl::StatusOr<T>> result;
  };
  auto state = std::make_shared<State>();
  start([state](absl::StatusOr<T> r) {
    absl::MutexLock lock(&state->mu);
    state->result = std::move(r);
  });
  absl::MutexLock lock(&state->mu);
  auto ready = [&state]() { return state->result.has_value(); };
  if (!state->mu.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(10))) {
    return absl::DeadlineExceededError("no answer within 10 s");
  }
  return *std::move(state->result);
}

mcp::Tool MakeTool(const char* name, const char* description, const char* schema) {
  mcp::Tool tool;
  tool.name = name;
  tool.description = description;
  tool.input_schema = mcp::Json::Parse(schema).value();
  return tool;
}

mcp::ServerOptions Named(const char* name) {
  mcp::ServerOptions options;
  options.info.name = name;
  options.info.version = "1.0";
  return options;
}

// The `units` server: converts kilometres to miles.
std::shared_ptr<mcp::Server> UnitsServer() {
  auto server = mcp::Server::Create(Named("units"));
  absl::Status added = server->AddSyncTool(
      MakeTool("km_to_miles", "Converts kilometres to miles",
               R"({"type":"object","properties":{"km":{"type":"number"}},"required":["km"]})"),
      [](const mcp::Json& args, mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
        double km = args.value()["km"].GetDouble();
        char text[64];
        std::snprintf(text, sizeof text, "%g km = %.2f miles", km, km / 1.609344);
        return mcp::TextResult(text);
      });
  return added.ok() ? server : nullptr;
}

// The `dice` server: a loaded die, always 4 (chosen by a fair roll).
std::shared_ptr<mcp::Server> DiceServer() {
  auto server = mcp::Server::Create(Named("dice"));
  absl::Status added = server->AddSyncTool(
      MakeTool("roll", "Rolls a die", R"({"type":"object","properties":{}})"),
      [](const mcp::Json&, mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
        return mcp::TextResult("rolled a 4");
      });
  return added.ok() ? server : nullptr;
}

std::string TextOf(const mcp::CallToolResult& r) {
  std::string out;
  for (const auto& block : r.content) {
    if (const auto* t = std::get_if<mcp::TextContent>(&block)) {
      out += t->text;
    }
  }
  return out;
}

int Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "embed_gateway: %s: %s\n", what, std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main() {
  // The libraries log to stderr (and stdout stays for this program's own output).
  mcpgw::base::ConfigureLogging(spdlog::level::warn);
  absl::StatusOr<std::unique_ptr<gateway::EmbeddedGateway>> host =
      gateway::EmbeddedGateway::Create();
  if (!host.ok()) {
    return Fail("create", host.status());
  }
  for (absl::Status added :
       {(*host)->AddServer("units", UnitsServer()), (*host)->AddServer("dice", DiceServer()),
        (*host)->AddBuiltinServer()}) {
    if (!added.ok()) {
      return Fail("add a server", added);
    }
  }
  absl::StatusOr<std::shared_ptr<mcp::Client>> client = (*host)->ConnectClient();
  if (!client.ok()) {
    return Fail("connect", client.status());
  }
  std::shared_ptr<mcp::Client> c = *client;
  absl::StatusOr<mcp::InitializeResult> init =
      Await<mcp::InitializeResult>([&](auto done) { c->Connect(std::move(done)); });
  if (!init.ok()) {
    return Fail("initialize", init.status());
  }
  std::printf("connected to %s %s\n", init->server_info.name.c_str(),
              init->server_info.version.c_str());

  absl::StatusOr<std::vector<mcp::Tool>> tools =
      Await<std::vector<mcp::Tool>>([&](auto done) { c->ListTools(std::move(done)); });
  if (!tools.ok()) {
    return Fail("tools/list", tools.status());
  }
  std::printf("%zu tools:\n", tools->size());
  for (const mcp::Tool& t : *tools) {
    std::printf("  %s\n", t.name.c_str());
  }

  struct CallSpec {
    const char* tool;
    const char* args;
  };
  for (const CallSpec& call : {CallSpec{"km_to_miles", R"({"km":42.195})"}, CallSpec{"roll", "{}"},
                               CallSpec{"list_servers", "{}"}}) {
    absl::StatusOr<mcp::CallToolResult> result = Await<mcp::CallToolResult>([&](auto done) {
      c->CallTool(call.tool, mcp::Json::Parse(call.args).value(), {}, std::move(done));
    });
    if (!result.ok()) {
      return Fail(call.tool, result.status());
    }
    if (result->is_error.value_or(false)) {
      return Fail(call.tool, absl::InternalError(TextOf(*result)));
    }
    std::printf("%s → %s\n", call.tool, TextOf(*result).c_str());
  }
  c->Close();
  // Destroying the host stops every server.
  return 0;
}
