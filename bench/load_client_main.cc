// mcpgw-load: a load client for MCP servers and the gateway, on libmcp's Client (see
// load_client.h for the phases and what is measured, docs/BENCHMARKS.md for results).
//
//   mcpgw-load --sessions 4 --inflight 8 --calls 1000 --stdio -- mcp-fixture-server
//   mcpgw-load --sessions 1000 --calls 1 --get-stream --url http://127.0.0.1:8080/mcp --pid 4242
//
// Stdio: one process of the server under test per session, spawned with ProcessRuntime; its
// CPU time and memory are those of all these processes. HTTP: every session is one Streamable
// HTTP transport on one shared HttpClientLoop thread; --pid names the process under test.
// Exit status: 0 when every session was established and every call succeeded, 1 otherwise,
// 2 for bad usage.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "load_client.h"
#include "mcpgw/base/logging.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/mcp/http_client.h"
#include "mcpgw/mcp/line_transport.h"

namespace mcpgw::bench {
namespace {

constexpr const char* kProgram = "mcpgw-load";

struct Flags {
  int sessions = 1;
  int inflight = 1;
  int64_t calls = 100;
  std::optional<double> duration_s;
  std::string method = "tools/call";
  std::string http_transport = "streamable";
  std::string tool = "echo";
  std::string args = R"({"message":"hi"})";
  std::string url;
  bool get_stream = false;
  std::vector<std::string> headers;  // "Name: value"
  int pid = 0;
  bool json = false;
  int max_connecting = 64;
  double timeout_s = 60;
  std::vector<std::string> command;  // after --stdio --
  bool stdio = false;
};

// ParseFlags reads the command line; argv after "--" is the stdio command. Returns
// InvalidArgument saying what is wrong; nullopt for --help (printed).
absl::StatusOr<std::optional<Flags>> ParseFlags(int argc, char** argv) {
  Flags flags;
  int split = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      split = i;
      break;
    }
  }
  for (int i = split + 1; i < argc; ++i) {
    flags.command.emplace_back(argv[i]);
  }
  cxxopts::Options options(
      kProgram,
      "Load client for MCP servers: N sessions, each with M tools/call requests in flight, over "
      "stdio (one spawned process per session) or Streamable HTTP.\n"
      "  mcpgw-load [options] --stdio -- COMMAND [ARGS...]\n"
      "  mcpgw-load [options] --url http://127.0.0.1:PORT/mcp [--pid PID]\n");
  options.add_options()("sessions", "sessions to establish",
                        cxxopts::value<int>()->default_value("1"), "N")(
      "inflight", "calls each session keeps in flight", cxxopts::value<int>()->default_value("1"),
      "M")("calls", "calls per session (unless --duration)",
           cxxopts::value<int64_t>()->default_value("100"), "C")(
      "duration", "make calls for this many seconds instead of --calls", cxxopts::value<double>(),
      "SECONDS")("method", "what each call is: tools/call (of --tool) or tools/list (every page)",
                 cxxopts::value<std::string>()->default_value("tools/call"), "METHOD")(
      "tool", "the tool to call", cxxopts::value<std::string>()->default_value("echo"),
                 "NAME")("args", "the tool's arguments, a JSON object",
                         cxxopts::value<std::string>()->default_value(R"({"message":"hi"})"),
                         "JSON")(
      "stdio", "spawn the server under test: the command follows `--`, one process per session")(
      "url", "the Streamable HTTP endpoint, e.g. http://127.0.0.1:8080/mcp",
      cxxopts::value<std::string>(),
      "URL")("http-transport",
             "HTTP: streamable (Streamable HTTP), sse (the legacy HTTP+SSE transport: --url is "
             "the SSE endpoint) or auto (the spec's fallback from the first to the second)",
             cxxopts::value<std::string>()->default_value("streamable"), "KIND")(
      "get-stream", "HTTP: each session keeps its GET stream open")(
      "header", "HTTP: a header sent with every request, e.g. 'Authorization: Bearer T'",
      cxxopts::value<std::vector<std::string>>(), "'NAME: VALUE'")(
      "pid", "HTTP: the process under test (e.g. the gateway), for its CPU time and memory",
      cxxopts::value<int>(), "PID")("max-connecting", "initializes in flight at once",
                                    cxxopts::value<int>()->default_value("64"),
                                    "K")("timeout", "timeout of each initialize and call, seconds",
                                         cxxopts::value<double>()->default_value("60"), "SECONDS")(
      "json", "print the report as one JSON object")("h,help", "show this help");
  try {
    cxxopts::ParseResult args = options.parse(split, argv);
    if (args.count("help") > 0) {
      std::printf("%s", options.help().c_str());
      return std::optional<Flags>();
    }
    if (!args.unmatched().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument '", args.unmatched().front(),
          "' (the stdio server's command goes after `--`: --stdio -- COMMAND ARGS...)"));
    }
    flags.sessions = args["sessions"].as<int>();
    flags.inflight = args["inflight"].as<int>();
    flags.calls = args["calls"].as<int64_t>();
    if (args.count("duration") > 0) {
      flags.duration_s = args["duration"].as<double>();
    }
    flags.method = args["method"].as<std::string>();
    flags.http_transport = args["http-transport"].as<std::string>();
    flags.tool = args["tool"].as<std::string>();
    flags.args = args["args"].as<std::string>();
    flags.stdio = args.count("stdio") > 0;
    if (args.count("url") > 0) {
      flags.url = args["url"].as<std::string>();
    }
    flags.get_stream = args.count("get-stream") > 0;
    if (args.count("header") > 0) {
      flags.headers = args["header"].as<std::vector<std::string>>();
    }
    if (args.count("pid") > 0) {
      flags.pid = args["pid"].as<int>();
    }
    flags.max_connecting = args["max-connecting"].as<int>();
    flags.timeout_s = args["timeout"].as<double>();
    flags.json = args.count("json") > 0;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (flags.stdio == !flags.url.empty()) {
    return absl::InvalidArgumentError(
        "say what to load: either --stdio -- COMMAND ARGS... or --url http://HOST:PORT/PATH");
  }
  if (flags.stdio && flags.command.empty()) {
    return absl::InvalidArgumentError(
        "--stdio needs the server's command after `--`, e.g. --stdio -- mcp-fixture-server");
  }
  if (!flags.stdio && !flags.command.empty()) {
    return absl::InvalidArgumentError("a command after `--` is only for --stdio");
  }
  if (flags.stdio && flags.pid != 0) {
    return absl::InvalidArgumentError(
        "--pid is for HTTP: with --stdio the processes under test are the spawned ones");
  }
  if (flags.stdio && (flags.get_stream || !flags.headers.empty())) {
    return absl::InvalidArgumentError("--get-stream and --header are for --url (HTTP)");
  }
  if (flags.sessions < 1 || flags.inflight < 1 || flags.max_connecting < 1) {
    return absl::InvalidArgumentError(
        "--sessions, --inflight and --max-connecting must be at least 1");
  }
  if (flags.duration_s.has_value() ? !(*flags.duration_s > 0) : flags.calls < 0) {
    return absl::InvalidArgumentError("--calls must be at least 0 and --duration above 0");
  }
  if (flags.http_transport != "streamable" && flags.http_transport != "sse" &&
      flags.http_transport != "auto") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http-transport must be streamable, sse or auto (got '", flags.http_transport, "')"));
  }
  if (flags.method != "tools/call" && flags.method != "tools/list") {
    return absl::InvalidArgumentError(
        absl::StrCat("--method must be tools/call or tools/list (got '", flags.method, "')"));
  }
  if (!(flags.timeout_s > 0)) {
    return absl::InvalidArgumentError("--timeout must be above 0 seconds");
  }
  return std::optional<Flags>(std::move(flags));
}

int Usage(const absl::Status& status) {
  std::fprintf(stderr, "%s: %s (see --help)\n", kProgram, std::string(status.message()).c_str());
  return 2;
}

// The spawned servers of the stdio mode: their pids, for sampling.
struct Spawned {
  absl::Mutex mu;
  std::vector<container::InstancePtr> instances ABSL_GUARDED_BY(mu);
  std::vector<pid_t> pids ABSL_GUARDED_BY(mu);
};

int Main(int argc, char** argv) {
  absl::StatusOr<std::optional<Flags>> parsed = ParseFlags(argc, argv);
  if (!parsed.ok()) {
    return Usage(parsed.status());
  }
  if (!parsed->has_value()) {
    return 0;
  }
  const Flags& flags = **parsed;
  base::ConfigureLogging(spdlog::level::warn);

  absl::StatusOr<mcp::Json> arguments = mcp::Json::Parse(flags.args);
  if (!arguments.ok() || !arguments->is_object()) {
    return Usage(absl::InvalidArgumentError(
        absl::StrCat("--args must be a JSON object, e.g. '{\"message\":\"hi\"}'",
                     arguments.ok() ? "" : absl::StrCat(": ", arguments.status().message()))));
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const std::string& h : flags.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      return Usage(
          absl::InvalidArgumentError(absl::StrCat("--header '", h, "' is not 'NAME: VALUE'")));
    }
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    headers.emplace_back(h.substr(0, colon), value);
  }
  if (flags.pid != 0) {
    absl::StatusOr<double> cpu = CpuSeconds(flags.pid);
    if (!cpu.ok()) {
      return Usage(absl::InvalidArgumentError(absl::StrCat(
          "--pid ", flags.pid, ": ", cpu.status().message(), " (give the running server's pid)")));
    }
  }
  absl::StatusOr<uint64_t> nofile = RaiseFileLimit();
  if (!nofile.ok()) {
    std::fprintf(stderr, "%s: warning: %s\n", kProgram, nofile.status().ToString().c_str());
  } else if (*nofile < static_cast<uint64_t>(flags.sessions) * 3 + 64) {
    std::fprintf(stderr,
                 "%s: warning: the file descriptor limit (%llu, RLIMIT_NOFILE's hard limit) may "
                 "be too low for %d sessions\n",
                 kProgram, static_cast<unsigned long long>(*nofile), flags.sessions);
  }

  LoadOptions options;
  options.sessions = flags.sessions;
  options.inflight = flags.inflight;
  options.calls_per_session = flags.calls;
  if (flags.duration_s.has_value()) {
    options.duration = absl::Seconds(*flags.duration_s);
  }
  options.method = flags.method == "tools/list" ? LoadOptions::Method::kListTools
                                                : LoadOptions::Method::kCallTool;
  options.tool = flags.tool;
  options.arguments = *std::move(arguments);
  options.max_connecting = flags.max_connecting;
  options.call_timeout = absl::Seconds(flags.timeout_s);

  std::vector<std::pair<std::string, std::string>> labels;
  std::unique_ptr<container::ProcessRuntime> runtime;
  std::unique_ptr<mcp::HttpClientLoop> loop;
  auto spawned = std::make_shared<Spawned>();
  if (flags.stdio) {
    absl::StatusOr<std::unique_ptr<container::ProcessRuntime>> created =
        container::ProcessRuntime::Create({});
    if (!created.ok()) {
      std::fprintf(stderr, "%s: %s\n", kProgram, created.status().ToString().c_str());
      return 1;
    }
    runtime = *std::move(created);
    container::RunSpec spec;
    spec.command = flags.command.front();
    spec.args.assign(flags.command.begin() + 1, flags.command.end());
    spec.inherit_env = true;
    // A command that cannot start is a usage error, said once rather than per session.
    if (absl::StatusOr<container::Prepared> prepared = runtime->Prepare(spec, {}); !prepared.ok()) {
      return Usage(prepared.status());
    }
    options.make_transport = [spec, &runtime, spawned](int) -> absl::StatusOr<mcp::TransportPtr> {
      absl::StatusOr<container::InstancePtr> instance = runtime->Run(spec);
      if (!instance.ok()) {
        return instance.status();
      }
      mcp::TransportPtr transport = mcp::CreateLineTransport((*instance)->TakeStdio());
      absl::MutexLock lock(&spawned->mu);
      spawned->pids.push_back(static_cast<pid_t>(std::stol((*instance)->id())));
      spawned->instances.push_back(*std::move(instance));
      return transport;
    };
    options.target_pids = [spawned] {
      absl::MutexLock lock(&spawned->mu);
      return spawned->pids;
    };
    labels = {{"mode", "stdio"}, {"command", absl::StrJoin(flags.command, " ")}};
  } else {
    absl::StatusOr<std::unique_ptr<mcp::HttpClientLoop>> created = mcp::HttpClientLoop::Create();
    if (!created.ok()) {
      std::fprintf(stderr, "%s: %s\n", kProgram, created.status().ToString().c_str());
      return 1;
    }
    loop = *std::move(created);
    mcp::HttpClientOptions http{.url = flags.url,
                                .kind = flags.http_transport == "sse"
                                            ? mcp::HttpTransportKind::kSse
                                            : flags.http_transport == "auto"
                                                  ? mcp::HttpTransportKind::kAuto
                                                  : mcp::HttpTransportKind::kStreamable,
                                .headers = headers,
                                .response_timeout = options.call_timeout,
                                .open_get_stream = flags.get_stream,
                                .loop = loop.get()};
    if (absl::StatusOr<mcp::TransportPtr> probe = mcp::CreateHttpClientTransport(http);
        !probe.ok()) {
      return Usage(probe.status());
    }
    options.make_transport = [http](int) { return mcp::CreateHttpClientTransport(http); };
    if (flags.pid != 0) {
      const pid_t pid = flags.pid;
      options.target_pids = [pid] { return std::vector<pid_t>{pid}; };
    }
    labels = {{"mode", flags.get_stream ? "http+get" : "http"}, {"url", flags.url}};
  }

  LoadReport report = RunLoad(std::move(options));

  if (flags.json) {
    std::printf("%s\n", ReportJson(report, labels).c_str());
  } else {
    std::printf("%s", ReportText(report).c_str());
  }
  std::fflush(stdout);

  // The stdio servers read end of input (the clients closed) and exit; wait briefly, then
  // the runtime kills what is left.
  {
    absl::MutexLock lock(&spawned->mu);
    if (report.sessions_failed > 0 && !spawned->instances.empty()) {
      // Why a server did not answer is usually on its stderr (e.g. an option it rejects).
      container::Instance& first = *spawned->instances.front();
      first.WaitForExit(absl::Milliseconds(500)).IgnoreError();  // stderr complete if it ended
      std::string tail = first.StderrTail(5);
      if (!tail.empty()) {
        std::fprintf(stderr, "%s: stderr of the server of session 0:\n%s", kProgram, tail.c_str());
      }
    }
    for (const container::InstancePtr& instance : spawned->instances) {
      if (!instance->WaitForExit(absl::Seconds(5)).ok()) {
        instance->Stop(absl::ZeroDuration());
      }
    }
    spawned->instances.clear();
  }
  runtime.reset();
  loop.reset();
  const bool all_ok = report.sessions_established == report.sessions_requested &&
                      report.calls_failed == 0 && report.calls_not_sent == 0 &&
                      report.sessions_closed == 0;
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace mcpgw::bench

int main(int argc, char** argv) {
#ifdef NDEBUG
  // As in mcpgw's main: no process-wide lock graph on every lock in release builds.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  // The client keeps the memory it used: a large answer (a long tools/list) is parsed into
  // pages it already has instead of pages mapped, zeroed and unmapped for every answer.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return mcpgw::bench::Main(argc, argv);
}
