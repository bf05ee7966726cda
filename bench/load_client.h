// File: load_client.h
//
// The engine of `mcpgw-load` (load_client_main.cc): N MCP client sessions (libmcp's Client),
// each keeping M `tools/call` requests in flight, over transports the caller makes (stdio pipes
// to a spawned server, Streamable HTTP). It measures what a load test reports: sessions
// established, calls ok/failed, call latency percentiles, calls per second, its own CPU time,
// and the CPU time and memory of the processes under test (from /proc).
//
//   LoadOptions options;
//   options.sessions = 50;
//   options.inflight = 4;
//   options.calls_per_session = 100;
//   options.arguments = *mcp::Json::Parse(R"({"message":"hi"})");
//   options.make_transport = [&](int i) { return mcp::CreateHttpClientTransport({.url = url}); };
//   LoadReport report = RunLoad(std::move(options));
//   std::cout << ReportJson(report);
//
// Phases: (1) connect: sessions are created in order and initialized concurrently, at most
// `max_connecting` initializes in flight; (2) calls: once every initialize has ended, every
// established session starts its calls at once; the call phase's wall time, CPU time and
// latencies are what the report's rates and percentiles describe. A session whose initialize
// fails is counted; one whose transport closes (or whose call is refused at once) stops, its
// remaining calls counted as not sent; the others go on. The calling thread
// blocks; callbacks run on the transports' threads and issue the next call from there, so the
// client adds no thread hop of its own. Bench code (not a library): not thread-safe to call
// RunLoad concurrently.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/transport.h"

namespace mcpgw::bench {

// Percentiles of a set of durations, in microseconds (nearest rank).
struct LatencySummary {
  int64_t count = 0;
  double min_us = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

// Summarize sorts `samples_ns` (nanoseconds) and summarizes them; all zeros when empty.
LatencySummary Summarize(std::vector<int64_t> samples_ns);

// CpuSeconds reads utime+stime of `pid` from /proc/PID/stat. NotFound when the process is
// gone.
absl::StatusOr<double> CpuSeconds(pid_t pid);
// StatusKib reads a "Vm..." line (VmRSS, VmHWM) of /proc/PID/status, in KiB.
absl::StatusOr<int64_t> StatusKib(pid_t pid, absl::string_view field);
// OwnCpuSeconds is this process's user+system CPU time (every thread), from getrusage.
double OwnCpuSeconds();
// RaiseFileLimit sets RLIMIT_NOFILE's soft limit to its hard limit; returns the new limit.
absl::StatusOr<uint64_t> RaiseFileLimit();

struct LoadOptions {
  // Sessions to establish.
  int sessions = 1;
  // Calls each session keeps in flight.
  int inflight = 1;
  // Calls each session makes; ignored when `duration` is set.
  int64_t calls_per_session = 100;
  // When set, each session makes calls until this much time has passed since the call phase
  // began (calls in flight then still complete and count).
  std::optional<absl::Duration> duration;
  // What each call is: `tools/call` of `tool` with `arguments`, or `tools/list` (every page;
  // an empty list counts as a failure).
  enum class Method { kCallTool, kListTools };
  Method method = Method::kCallTool;
  std::string tool = "echo";
  mcp::Json arguments;
  // Initializes in flight at once during the connect phase.
  int max_connecting = 64;
  // Timeout of each initialize and call.
  absl::Duration call_timeout = absl::Seconds(60);
  // Makes the transport of session `index` (0 … sessions-1), on the calling thread, in
  // order. An error counts as a failed session.
  std::function<absl::StatusOr<mcp::TransportPtr>(int index)> make_transport;
  // The processes under test, for CPU and memory (none: not reported). Called from the
  // calling thread and from a sampling thread, so it must be thread-safe; the list may grow
  // while sessions are made (a stdio server per session).
  std::function<std::vector<pid_t>()> target_pids;
  // How often the sampling thread reads VmRSS of the processes under test.
  absl::Duration rss_interval = absl::Milliseconds(100);
  // Error messages kept (and printed to stderr as they happen when `print_errors`).
  int max_errors_kept = 5;
  bool print_errors = true;
};

struct LoadReport {
  int sessions_requested = 0;
  int sessions_established = 0;
  int sessions_failed = 0;  // initialize failed, or no transport
  int sessions_closed = 0;  // transport closed during the call phase
  int64_t calls_ok = 0;
  int64_t calls_failed = 0;    // an error status or a tool result with isError
  int64_t calls_not_sent = 0;  // planned calls of sessions that failed or closed
  int64_t errors = 0;          // failed sessions + failed calls
  std::vector<std::string> first_errors;
  LatencySummary connect_latency;  // initialize round trips of established sessions
  LatencySummary call_latency;     // successful calls only
  LatencySummary first_call_latency;  // each session's first call, when it succeeded
  int64_t listed_items = 0;  // tools/list: the length of the first full list answered
  double connect_wall_s = 0;
  double call_wall_s = 0;  // from the first call sent to the last answer
  double total_wall_s = 0;
  double calls_per_second = 0;  // calls_ok / call_wall_s
  double client_cpu_connect_s = 0;
  double client_cpu_calls_s = 0;
  // The processes under test (when LoadOptions::target_pids is set).
  bool target_sampled = false;
  int target_processes = 0;
  double target_cpu_connect_s = 0;  // CPU time spent during the connect phase (all processes)
  double target_cpu_calls_s = 0;    // … during the call phase
  int64_t target_peak_rss_kib = 0;  // the highest sum of VmRSS sampled during both phases
  int64_t target_vm_hwm_kib = 0;    // sum of VmHWM (each process's own peak) at the end
  int64_t target_rss_end_kib = 0;   // sum of VmRSS once the calls are over (before closing)
};

// RunLoad runs both phases and closes every session. Never fails as a whole: every problem
// is counted in the report.
LoadReport RunLoad(LoadOptions options);

// The report as one JSON object (see docs/BENCHMARKS.md for the members), with `labels`
// (e.g. {"mode","stdio"}) added as string members first.
std::string ReportJson(const LoadReport& report,
                       const std::vector<std::pair<std::string, std::string>>& labels = {});
// The report as text for people.
std::string ReportText(const LoadReport& report);

}  // namespace mcpgw::bench
