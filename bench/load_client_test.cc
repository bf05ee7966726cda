// mcpgw-load end to end: the binary runs small loads against mcp-fixture-server over stdio
// (one process per session) and against the fixture behind libmcp's HttpServer, and its JSON
// report must show every session established, every call answered, ordered percentiles and
// the process under test sampled. Plus the report helpers on known inputs, and the 1,000-session
// load test through `mcpgw run --transport http`.
#include "load_client.h"

#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "fixture_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/http_server.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/server.h"
#include "testing/subprocess.h"

namespace mcpgw::bench {
namespace {

using ::testing::HasSubstr;

const mcp::JsonValue* At(const mcp::JsonValue& root, absl::string_view path) {
  const mcp::JsonValue* v = &root;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    v = v->IsObject() ? mcp::FindMember(*v, part) : nullptr;
    if (v == nullptr) {
      return nullptr;
    }
  }
  return v;
}

// The number at `path`; -1 when absent or not a number.
double Num(const mcp::JsonValue& root, absl::string_view path) {
  const mcp::JsonValue* v = At(root, path);
  return v != nullptr && v->IsNumber() ? v->GetDouble() : -1;
}

struct LoadRun {
  testing::ChildResult child;
  mcp::Json report;
};

LoadRun RunLoadBinary(std::vector<std::string> args) {
  args.insert(args.begin(), {MCPGW_LOAD_BINARY, "--json"});
  LoadRun run;
  run.child = testing::RunProgram(args);
  absl::StatusOr<mcp::Json> parsed = mcp::Json::Parse(run.child.out);
  if (parsed.ok()) {
    run.report = *std::move(parsed);
  } else {
    ADD_FAILURE() << "not JSON: " << parsed.status() << "\nstdout: " << run.child.out
                  << "\nstderr: " << run.child.err;
  }
  return run;
}

// The checks every successful run must pass: all sessions up, all calls ok, latencies
// summarized over every call and ordered.
void ExpectAllOk(const LoadRun& run, int sessions, int64_t calls) {
  const mcp::JsonValue& r = run.report.value();
  SCOPED_TRACE(run.child.out + run.child.err);
  EXPECT_EQ(run.child.exit_code, 0);
  EXPECT_EQ(Num(r, "sessions.requested"), sessions);
  EXPECT_EQ(Num(r, "sessions.established"), sessions);
  EXPECT_EQ(Num(r, "sessions.failed"), 0);
  EXPECT_EQ(Num(r, "calls.ok"), static_cast<double>(sessions * calls));
  EXPECT_EQ(Num(r, "calls.failed"), 0);
  EXPECT_EQ(Num(r, "errors.count"), 0);
  EXPECT_EQ(Num(r, "latency_us.count"), static_cast<double>(sessions * calls));
  EXPECT_EQ(Num(r, "connect_latency_us.count"), sessions);
  EXPECT_GT(Num(r, "latency_us.min"), 0);
  EXPECT_LE(Num(r, "latency_us.min"), Num(r, "latency_us.p50"));
  EXPECT_LE(Num(r, "latency_us.p50"), Num(r, "latency_us.p90"));
  EXPECT_LE(Num(r, "latency_us.p90"), Num(r, "latency_us.p99"));
  EXPECT_LE(Num(r, "latency_us.p99"), Num(r, "latency_us.max"));
  EXPECT_GT(Num(r, "calls_per_second"), 0);
  EXPECT_GT(Num(r, "wall_s.calls"), 0);
  EXPECT_GE(Num(r, "client_cpu_s.calls"), 0);
}

TEST(Summarize, NearestRankPercentiles) {
  std::vector<int64_t> ns;
  for (int64_t i = 100; i >= 1; --i) {
    ns.push_back(i * 1000);  // 1..100 µs, reversed
  }
  LatencySummary s = Summarize(ns);
  EXPECT_EQ(s.count, 100);
  EXPECT_EQ(s.min_us, 1);
  EXPECT_EQ(s.p50_us, 50);
  EXPECT_EQ(s.p90_us, 90);
  EXPECT_EQ(s.p99_us, 99);
  EXPECT_EQ(s.max_us, 100);
  EXPECT_DOUBLE_EQ(s.mean_us, 50.5);
  LatencySummary one = Summarize({7000});
  EXPECT_EQ(one.p50_us, 7);
  EXPECT_EQ(one.p99_us, 7);
  EXPECT_EQ(Summarize({}).count, 0);
}

TEST(ProcSampling, ReadsThisProcess) {
  absl::StatusOr<int64_t> rss = StatusKib(getpid(), "VmRSS");
  ASSERT_TRUE(rss.ok()) << rss.status();
  EXPECT_GT(*rss, 0);
  absl::StatusOr<int64_t> hwm = StatusKib(getpid(), "VmHWM");
  ASSERT_TRUE(hwm.ok()) << hwm.status();
  EXPECT_GE(*hwm, *rss);
  EXPECT_TRUE(CpuSeconds(getpid()).ok());
  EXPECT_FALSE(StatusKib(getpid(), "NoSuchField").ok());
}

TEST(LoadClient, StdioFixtureAllCallsSucceed) {
  LoadRun run = RunLoadBinary({"--sessions", "3", "--inflight", "4", "--calls", "50", "--stdio",
                               "--", MCPGW_FIXTURE_SERVER});
  ExpectAllOk(run, 3, 50);
  const mcp::JsonValue& r = run.report.value();
  EXPECT_EQ(Num(r, "target.processes"), 3);  // one fixture process per session
  EXPECT_GT(Num(r, "target.peak_rss_kib"), 0);
  EXPECT_GE(Num(r, "target.vm_hwm_kib"), Num(r, "target.peak_rss_kib") / 2);
  EXPECT_GE(Num(r, "target.cpu_s.calls"), 0);
}

TEST(LoadClient, ListsToolsAndReportsTheFirstAnswerAndTheMemoryAfterwards) {
  LoadRun base = RunLoadBinary({"--method", "tools/list", "--calls", "1", "--stdio", "--",
                                MCPGW_FIXTURE_SERVER});
  ExpectAllOk(base, 1, 1);
  const double tools = Num(base.report.value(), "listed_items");
  ASSERT_GT(tools, 0);
  LoadRun more = RunLoadBinary({"--sessions", "2", "--method", "tools/list", "--calls", "4",
                                "--stdio", "--", MCPGW_FIXTURE_SERVER, "--extra-tools", "7"});
  ExpectAllOk(more, 2, 4);
  const mcp::JsonValue& r = more.report.value();
  EXPECT_EQ(Num(r, "listed_items"), tools + 7);
  EXPECT_EQ(Num(r, "first_call_latency_us.count"), 2);  // one first call per session
  EXPECT_GE(Num(r, "first_call_latency_us.max"), Num(r, "first_call_latency_us.min"));
  EXPECT_GT(Num(r, "target.rss_end_kib"), 0);
  EXPECT_LE(Num(r, "target.rss_end_kib"), Num(r, "target.vm_hwm_kib"));
}

TEST(LoadClient, DurationModeCallsUntilTheEnd) {
  LoadRun run = RunLoadBinary({"--sessions", "2", "--inflight", "2", "--duration", "0.3", "--stdio",
                               "--", MCPGW_FIXTURE_SERVER});
  const mcp::JsonValue& r = run.report.value();
  EXPECT_EQ(run.child.exit_code, 0) << run.child.err;
  EXPECT_GT(Num(r, "calls.ok"), 4);
  EXPECT_EQ(Num(r, "calls.failed"), 0);
  EXPECT_GE(Num(r, "wall_s.calls"), 0.3);
}

TEST(LoadClient, ToolErrorsAreCountedAndReported) {
  LoadRun run = RunLoadBinary({"--sessions", "2", "--calls", "3", "--tool", "no_such_tool",
                               "--stdio", "--", MCPGW_FIXTURE_SERVER});
  const mcp::JsonValue& r = run.report.value();
  EXPECT_EQ(run.child.exit_code, 1);
  EXPECT_EQ(Num(r, "sessions.established"), 2);
  EXPECT_EQ(Num(r, "calls.ok"), 0);
  EXPECT_EQ(Num(r, "calls.failed"), 6);
  EXPECT_EQ(Num(r, "errors.count"), 6);
  const mcp::JsonValue* first = At(r, "errors.first");
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->IsArray());
  EXPECT_EQ(first->Size(), 5u);  // only the first few are kept
  EXPECT_THAT(std::string(mcp::AsStringView((*first)[0])), HasSubstr("no_such_tool"));
}

TEST(LoadClient, ServerThatDiesFailsItsSessionOnly) {
  // `false` exits at once: no session is established, the run still reports.
  LoadRun run = RunLoadBinary({"--sessions", "2", "--calls", "1", "--stdio", "--", "false"});
  const mcp::JsonValue& r = run.report.value();
  EXPECT_EQ(run.child.exit_code, 1);
  EXPECT_EQ(Num(r, "sessions.established"), 0);
  EXPECT_EQ(Num(r, "sessions.failed"), 2);
  EXPECT_EQ(Num(r, "calls.not_sent"), 2);
}

TEST(LoadClient, SessionWhoseServerExitsStopsCalling) {
  // `crash` ends the server without answering: each session's call in flight fails, its
  // transport closes, and the session makes no more calls (none of the 1000 are retried in a
  // loop); the other planned calls are reported as not sent.
  LoadRun run = RunLoadBinary({"--sessions", "2", "--inflight", "1", "--calls", "1000", "--tool",
                               "crash", "--args", "{}", "--stdio", "--", MCPGW_FIXTURE_SERVER});
  const mcp::JsonValue& r = run.report.value();
  EXPECT_EQ(run.child.exit_code, 1);
  EXPECT_EQ(Num(r, "sessions.established"), 2);
  EXPECT_EQ(Num(r, "calls.ok"), 0);
  EXPECT_GE(Num(r, "calls.failed"), 2);
  EXPECT_LE(Num(r, "calls.failed"), 4);  // the call in flight, at most one refused after it
  EXPECT_EQ(Num(r, "calls.failed") + Num(r, "calls.not_sent"), 2000);
}

TEST(LoadClient, BadUsageSaysWhatToDo) {
  testing::ChildResult none = testing::RunProgram({MCPGW_LOAD_BINARY});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("--stdio -- COMMAND"));
  testing::ChildResult missing =
      testing::RunProgram({MCPGW_LOAD_BINARY, "--stdio", "--", "/no/such/server"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("/no/such/server"));
  testing::ChildResult args = testing::RunProgram(
      {MCPGW_LOAD_BINARY, "--args", "[1]", "--stdio", "--", MCPGW_FIXTURE_SERVER});
  EXPECT_EQ(args.exit_code, 2);
  EXPECT_THAT(args.err, HasSubstr("--args must be a JSON object"));
  testing::ChildResult method = testing::RunProgram(
      {MCPGW_LOAD_BINARY, "--method", "tools/lsit", "--stdio", "--", MCPGW_FIXTURE_SERVER});
  EXPECT_EQ(method.exit_code, 2);
  EXPECT_THAT(method.err, HasSubstr("--method must be tools/call or tools/list"));
  testing::ChildResult kind = testing::RunProgram(
      {MCPGW_LOAD_BINARY, "--http-transport", "websocket", "--url", "http://127.0.0.1:1/mcp"});
  EXPECT_EQ(kind.exit_code, 2);
  EXPECT_THAT(kind.err, HasSubstr("--http-transport must be streamable, sse or auto"));
}

TEST(LoadClient, HttpFixtureWithGetStreamsAllCallsSucceed) {
  absl::StatusOr<std::shared_ptr<mcp::Server>> fixture = fixture::CreateFixtureServer({});
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  std::shared_ptr<mcp::Server> server = *fixture;
  absl::StatusOr<std::unique_ptr<mcp::HttpServer>> http =
      mcp::HttpServer::Start({.on_session = [server](mcp::TransportPtr transport) {
        server->Serve(std::move(transport)).IgnoreError();  // a failure fails the client's init
      }});
  ASSERT_TRUE(http.ok()) << http.status();
  LoadRun run =
      RunLoadBinary({"--sessions", "50", "--inflight", "2", "--calls", "4", "--get-stream", "--url",
                     (*http)->url(), "--pid", absl::StrCat(getpid())});
  ExpectAllOk(run, 50, 4);
  const mcp::JsonValue& r = run.report.value();
  EXPECT_EQ(Num(r, "target.processes"), 1);  // this process hosts the server
  EXPECT_GT(Num(r, "target.peak_rss_kib"), 0);
  (*http)->Stop();
}

// The acceptance load test of the HTTP issue: 1,000 Streamable HTTP sessions, each with its
// GET stream open, each completing a tool call through `mcpgw run --transport http` in front
// of one stdio fixture. Prints the gateway's peak RSS and the latency percentiles (recorded in
// docs/BENCHMARKS.md with a release build).
TEST(LoadClient, ThousandHttpSessionsThroughTheGateway) {
  std::string why;
  std::unique_ptr<testing::BackgroundProgram> gateway = testing::BackgroundProgram::Start(
      {MCPGW_BINARY, "run", "--transport", "http", "--port", "0", "--log-level", "warn",
       "--command", std::string("fx=") + MCPGW_FIXTURE_SERVER},
      {"XDG_CONFIG_HOME=" + ::testing::TempDir() + "/load-gateway-config"}, &why);
  ASSERT_NE(gateway, nullptr) << why;
  std::string url =
      gateway->WaitForStderr("mcpgw: listening on ", absl::Seconds(20)).value_or("");
  ASSERT_FALSE(url.empty()) << gateway->err();
  LoadRun run = RunLoadBinary({"--sessions", "1000", "--calls", "1", "--get-stream", "--url", url,
                               "--pid", absl::StrCat(gateway->pid()), "--timeout", "120"});
  ExpectAllOk(run, 1000, 1);
  const mcp::JsonValue& r = run.report.value();
  std::cout << "[ load ] 1000 sessions with GET streams through mcpgw: call p50 "
            << Num(r, "latency_us.p50") / 1000 << " ms, p90 " << Num(r, "latency_us.p90") / 1000
            << " ms, p99 " << Num(r, "latency_us.p99") / 1000 << " ms, max "
            << Num(r, "latency_us.max") / 1000 << " ms; gateway peak RSS "
            << Num(r, "target.peak_rss_kib") / 1024 << " MiB, CPU "
            << Num(r, "target.cpu_s.connect") << " s connect + " << Num(r, "target.cpu_s.calls")
            << " s calls\n";
  EXPECT_GT(Num(r, "target.peak_rss_kib"), 0);
  testing::ChildResult ended = gateway->Stop(SIGTERM);
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
}

}  // namespace
}  // namespace mcpgw::bench
