// Codec cost of one hop: parse a typical tools/call request or response, and write it back.
#include <string>

#include "bench_util.h"
#include "benchmark/benchmark.h"
#include "mcpgw/mcp/json_rpc.h"

namespace mcpgw::mcp {
namespace {

// What a client such as Claude Code sends for a tool call (~330 bytes).
const std::string kRequest =
    R"({"method":"tools/call","params":{"name":"search_issues","arguments":{"query":"label:bug )"
    R"(state:open sort:updated","owner":"acme","repo":"widgets","per_page":20},"_meta":)"
    R"({"progressToken":17}},"jsonrpc":"2.0","id":42})";

// A typical answer: two text blocks and structured content (~1.2 KB).
std::string MakeResponse() {
  std::string items;
  for (int i = 0; i < 8; ++i) {
    items += (i > 0 ? "," : "");
    items += R"({"number":)" + std::to_string(1000 + i) +
             R"(,"title":"Crash when the widget is resized below 40px","state":"open",)"
             R"("labels":["bug","ui"],"updated_at":"2026-11-20T10:12:00Z"})";
  }
  return R"({"result":{"content":[{"type":"text","text":"Found 8 open issues."},)"
         R"({"type":"text","text":"See structured content."}],"structuredContent":{"items":[)" +
         items + R"(]},"isError":false},"jsonrpc":"2.0","id":42})";
}
const std::string kResponse = MakeResponse();

void BM_DecodeRequest(benchmark::State& state) {
  for (auto _ : state) {
    Frame f = DecodeFrame(kRequest);
    benchmark::DoNotOptimize(f);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRequest.size()));
}
MCPGW_BENCHMARK(BM_DecodeRequest);

void BM_DecodeResponse(benchmark::State& state) {
  for (auto _ : state) {
    Frame f = DecodeFrame(kResponse);
    benchmark::DoNotOptimize(f);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kResponse.size()));
}
MCPGW_BENCHMARK(BM_DecodeResponse);

void BM_SerializeRequest(benchmark::State& state) {
  Message m = *DecodeMessage(kRequest);
  for (auto _ : state) {
    std::string s = m.Serialize();
    benchmark::DoNotOptimize(s);
  }
}
MCPGW_BENCHMARK(BM_SerializeRequest);

void BM_SerializeResponse(benchmark::State& state) {
  Message m = *DecodeMessage(kResponse);
  for (auto _ : state) {
    std::string s = m.Serialize();
    benchmark::DoNotOptimize(s);
  }
}
MCPGW_BENCHMARK(BM_SerializeResponse);

// One gateway hop for each direction: parse, put our own id, write.
void BM_ForwardRequestAndResponse(benchmark::State& state) {
  int64_t id = 0;
  for (auto _ : state) {
    Message req = *DecodeMessage(kRequest);
    req.SetId(RequestId(++id));
    std::string out = req.Serialize();
    Message resp = *DecodeMessage(kResponse);
    resp.SetId(RequestId(42));
    std::string back = resp.Serialize();
    benchmark::DoNotOptimize(out);
    benchmark::DoNotOptimize(back);
  }
}
MCPGW_BENCHMARK(BM_ForwardRequestAndResponse);

// Building a request from typed pieces, as a client does.
void BM_BuildRequest(benchmark::State& state) {
  for (auto _ : state) {
    Json params = Json::Object();
    params.Set("name", "search_issues");
    Json args = Json::Object();
    args.Set("query", "label:bug state:open");
    params.Set("arguments", args);
    std::string s = Message::Request(RequestId(7), "tools/call", std::move(params)).Serialize();
    benchmark::DoNotOptimize(s);
  }
}
MCPGW_BENCHMARK(BM_BuildRequest);

}  // namespace
}  // namespace mcpgw::mcp
