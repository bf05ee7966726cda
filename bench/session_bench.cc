// Round trips through two sessions: a client session sends tools/call, a server session
// answers. In memory (codec + session, no threads, no system calls) and over the stdio
// transport on pipes (with each side's I/O thread, as between real processes).
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "bench_util.h"
#include "benchmark/benchmark.h"
#include "mcpgw/mcp/line_transport.h"
#include "mcpgw/mcp/memory_transport.h"
#include "mcpgw/mcp/session.h"

namespace mcpgw::mcp {
namespace {

Json CallParams() {
  Json params = Json::Object();
  params.Set("name", "echo");
  Json args = Json::Object();
  args.Set("message", "hello gateway");
  params.Set("arguments", args);
  return params;
}

void ServeEcho(Session& server) {
  server.SetRequestHandler(
      "tools/call",
      [](IncomingRequest r) {
        Json result = Json::Object();
        Json content = Json::Array();
        JsonValue block(rapidjson::kObjectType);
        block.AddMember("type", "text", result.allocator());
        block.AddMember("text", "hello gateway", result.allocator());
        JsonValue list(rapidjson::kArrayType);
        list.PushBack(block, result.allocator());
        result.mutable_value().AddMember("content", list, result.allocator());
        r.Respond(std::move(result));
      },
      HandlerMode::kInline);
}

void BM_InMemoryRoundTrip(benchmark::State& state) {
  base::InlineExecutor inline_executor;
  auto [a, b] = CreateMemoryTransportPair();
  auto server = Session::Create(std::move(a), {.executor = &inline_executor});
  auto client = Session::Create(std::move(b), {.executor = &inline_executor});
  ServeEcho(*server);
  (void)server->Start();
  (void)client->Start();
  const Json params = CallParams();
  int64_t ok = 0;
  for (auto _ : state) {
    client->SendRequest("tools/call", params, [&](absl::StatusOr<Message> r) { ok += r.ok(); });
  }
  if (ok != static_cast<int64_t>(state.iterations())) {
    state.SkipWithError("a round trip failed");
  }
  client->Close();
  server->Close();
}
MCPGW_BENCHMARK(BM_InMemoryRoundTrip);

void BM_PipeRoundTrip(benchmark::State& state) {
  int c2s[2], s2c[2];
  if (pipe2(c2s, O_CLOEXEC) != 0 || pipe2(s2c, O_CLOEXEC) != 0) {
    state.SkipWithError("pipe2");
    return;
  }
  auto server_t = CreateStdioTransport({.read_fd = c2s[0], .write_fd = s2c[1], .owns_fds = true});
  auto client_t = CreateStdioTransport({.read_fd = s2c[0], .write_fd = c2s[1], .owns_fds = true});
  auto server = Session::Create(*std::move(server_t), {});
  auto client = Session::Create(*std::move(client_t), {});
  ServeEcho(*server);
  (void)server->Start();
  (void)client->Start();
  const Json params = CallParams();
  absl::Mutex mu;
  bool done = false;
  for (auto _ : state) {
    {
      absl::MutexLock lock(&mu);
      done = false;
    }
    client->SendRequest("tools/call", params, [&](absl::StatusOr<Message>) {
      absl::MutexLock lock(&mu);
      done = true;
    });
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
  }
  client->Close();
  server->Close();
}
MCPGW_BENCHMARK(BM_PipeRoundTrip)->UseRealTime();

}  // namespace
}  // namespace mcpgw::mcp
