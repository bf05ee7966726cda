// docker_bench: two ways for the gateway to run an MCP server in a container, side by side in one
// run:
//   engine  DockerEngine (the Engine REST API over the socket, from this process): Run, then a
//           line transport on Instance::TakeStdio, then libmcp's Client::Connect.
//   cli     `docker run -i --rm ...` spawned with ProcessRuntime; the same Client speaks to the
//           CLI's stdin/stdout, which the CLI relays to the container's.
// Both start the same container: `--init --cap-drop ALL --security-opt no-new-privileges
// --network none` on the CLI matches what DockerEngine asks for.
//
// (a) Cold start: time from the start of Run to the initialize response, N rounds after one
//     warm-up round (excluded). In each round both paths run one after the other, the order
//     alternating between rounds, so the machine's noise hits both alike. Between two starts
//     the previous server is closed and its container is gone (not timed).
// (b) Memory per running server: K servers per path, started alternately and all kept running.
//     On the gateway's side: the growth of this process's VmRSS over each start (both paths:
//     client sessions, channels, threads), and for the CLI path the `docker run` process itself
//     (VmRSS, RssAnon, Pss from /proc/<pid>). The container's own memory, the same for both
//     paths, comes from the engine (`GET /containers/{id}/stats`, memory_stats).
//
//   docker_bench [--rounds N] [--servers K] [--docker-cli PATH] [--image REF]
// The rounds default to $MCPGW_BENCH_ITERATIONS (as for mcpgw_bench), else 20; the servers to
// $MCPGW_BENCH_SERVERS, else 10. Needs a Docker engine (scripts/start-docker.sh) and the image
// (tests/docker/build-test-images.sh <mcp-fixture-server>); exits 2 when the engine, the image
// or the CLI is missing, 1 when a measurement fails.
// Containers are labelled io.mcpgw.bench=docker_bench; any left over (from this or an earlier,
// interrupted run) are removed at the start and at the end.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxopts.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/core.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/container/docker_engine.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/line_transport.h"

namespace mcpgw::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr absl::string_view kBenchLabel = "io.mcpgw.bench";
constexpr absl::string_view kBenchLabelValue = "docker_bench";
constexpr absl::Duration kStepTimeout = absl::Seconds(60);

enum class Path { kEngine, kCli };

const char* PathName(Path p) { return p == Path::kEngine ? "DockerEngine" : "docker CLI"; }

struct Flags {
  int rounds = 20;
  int servers = 10;
  std::string docker_cli = "docker";
  std::string image = "mcpgw-test/fixture:latest";
};

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int n = 0;
  return (v != nullptr && absl::SimpleAtoi(v, &n) && n > 0) ? n : fallback;
}

absl::StatusOr<std::optional<Flags>> ParseFlags(int argc, char** argv) {
  Flags flags;
  flags.rounds = EnvInt("MCPGW_BENCH_ITERATIONS", flags.rounds);
  flags.servers = EnvInt("MCPGW_BENCH_SERVERS", flags.servers);
  if (const char* cli = std::getenv("MCPGW_BENCH_DOCKER_CLI")) {
    flags.docker_cli = cli;
  }
  cxxopts::Options options("docker_bench",
                           "Cold start and memory per server: DockerEngine vs the docker CLI");
  options.add_options()("rounds", "timed cold-start rounds per path (env MCPGW_BENCH_ITERATIONS)",
                        cxxopts::value<int>()->default_value(std::to_string(flags.rounds)), "N")(
      "servers", "servers kept running per path for the memory part (env MCPGW_BENCH_SERVERS)",
      cxxopts::value<int>()->default_value(std::to_string(flags.servers)),
      "K")("docker-cli", "the docker CLI to spawn (env MCPGW_BENCH_DOCKER_CLI)",
           cxxopts::value<std::string>()->default_value(flags.docker_cli), "PATH")(
      "image", "the MCP server image", cxxopts::value<std::string>()->default_value(flags.image),
      "REF")("h,help", "show this help");
  try {
    cxxopts::ParseResult args = options.parse(argc, argv);
    if (args.count("help") > 0) {
      fmt::print("{}", options.help());
      return std::optional<Flags>();
    }
    if (!args.unmatched().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", args.unmatched().front(), "'"));
    }
    flags.rounds = args["rounds"].as<int>();
    flags.servers = args["servers"].as<int>();
    flags.docker_cli = args["docker-cli"].as<std::string>();
    flags.image = args["image"].as<std::string>();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (flags.rounds < 1 || flags.servers < 1) {
    return absl::InvalidArgumentError("--rounds and --servers must be at least 1");
  }
  return std::optional<Flags>(flags);
}

struct ContainerMemory {
  int64_t usage = 0;  // memory_stats.usage: what the container's memory cgroup is charged
  int64_t rss = 0;    // memory_stats.stats.total_rss (cgroup v1) or .anon (v2)
  int64_t cache = 0;  // memory_stats.stats.total_cache (v1) or .file (v2)
};

int64_t MemberInt(const mcp::JsonValue& object, const char* name) {
  if (!object.IsObject()) {
    return 0;
  }
  auto it = object.FindMember(name);
  return (it != object.MemberEnd() && it->value.IsNumber()) ? it->value.GetInt64() : 0;
}

absl::StatusOr<ContainerMemory> ReadContainerMemory(container::DockerEngine& engine,
                                                    absl::string_view id) {
  MCPGW_ASSIGN_OR_RETURN(std::string stats, engine.StatsJson(id));
  MCPGW_ASSIGN_OR_RETURN(mcp::Json json, mcp::Json::Parse(stats));
  const mcp::JsonValue& root = json.value();
  if (!root.IsObject() || !root.HasMember("memory_stats")) {
    return absl::DataLossError(absl::StrCat("stats of ", id, " have no memory_stats"));
  }
  const mcp::JsonValue& mem = root["memory_stats"];
  ContainerMemory out;
  out.usage = MemberInt(mem, "usage");
  if (mem.IsObject() && mem.HasMember("stats")) {
    const mcp::JsonValue& s = mem["stats"];
    bool v1 = s.IsObject() && s.HasMember("total_rss");
    out.rss = MemberInt(s, v1 ? "total_rss" : "anon");
    out.cache = MemberInt(s, v1 ? "total_cache" : "file");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// /proc

// ProcKib returns the value (in KiB) of the line `key:` of /proc/<pid>/<file>.
absl::StatusOr<int64_t> ProcKib(absl::string_view pid, absl::string_view file,
                                absl::string_view key) {
  std::string path = absl::StrCat("/proc/", pid, "/", file);
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::string line;
  std::string prefix = absl::StrCat(key, ":");
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, prefix)) {
      std::vector<absl::string_view> words = absl::StrSplit(
          absl::string_view(line).substr(prefix.size()), absl::ByAnyChar(" \t"), absl::SkipEmpty());
      int64_t kib = 0;
      if (!words.empty() && absl::SimpleAtoi(words[0], &kib)) {
        return kib;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("no ", key, " in ", path));
}

int64_t SelfRssKib() {
  absl::StatusOr<int64_t> kib = ProcKib("self", "status", "VmRSS");
  return kib.ok() ? *kib : 0;
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping one server

struct Server {
  Path path;
  container::InstancePtr instance;
  std::shared_ptr<mcp::Client> client;
  std::string tag;  // the value of its io.mcpgw.bench-server label
};

class Bench {
 public:
  Bench(Flags flags, std::unique_ptr<container::DockerEngine> engine,
        std::unique_ptr<container::ProcessRuntime> processes, std::string cli_path)
      : flags_(std::move(flags)),
        engine_(std::move(engine)),
        processes_(std::move(processes)),
        cli_path_(std::move(cli_path)),
        run_id_(absl::StrCat(getpid(), "-", absl::ToUnixMillis(absl::Now()))) {}

  const Flags& flags() const { return flags_; }
  container::DockerEngine& engine() { return *engine_; }
  const std::string& run_id() const { return run_id_; }

  container::Labels LabelsFor(absl::string_view tag) const {
    return {{std::string(kBenchLabel), std::string(kBenchLabelValue)},
            {"io.mcpgw.bench-run", run_id_},
            {"io.mcpgw.bench-server", std::string(tag)}};
  }

  std::vector<std::string> CliArgs(absl::string_view tag) const {
    std::vector<std::string> args = {
        "run",    "-i",         "--rm", "--network",      "none",
        "--init", "--cap-drop", "ALL",  "--security-opt", "no-new-privileges"};
    container::Labels labels = LabelsFor(tag);
    std::map<std::string, std::string> sorted(labels.begin(), labels.end());
    for (const auto& [k, v] : sorted) {
      args.push_back("--label");
      args.push_back(absl::StrCat(k, "=", v));
    }
    args.push_back(flags_.image);
    return args;
  }

  // Start runs one server through `path` and connects a Client to it. `ran_at` gets the time
  // Run returned, `connected_at` the time the initialize response arrived (the Connect
  // callback).
  absl::StatusOr<Server> Start(Path path, SteadyClock::time_point& ran_at,
                               SteadyClock::time_point& connected_at) {
    Server s{.path = path, .tag = absl::StrCat(run_id_, "-", next_tag_++)};
    container::RunSpec spec;
    spec.labels = LabelsFor(s.tag);
    if (path == Path::kEngine) {
      spec.image = flags_.image;
      MCPGW_ASSIGN_OR_RETURN(s.instance, engine_->Run(spec));
    } else {
      spec.command = cli_path_;
      spec.args = CliArgs(s.tag);
      for (const char* v : {"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT"}) {
        spec.pass_env.push_back(v);
      }
      MCPGW_ASSIGN_OR_RETURN(s.instance, processes_->Run(spec));
    }
    ran_at = SteadyClock::now();
    s.client = mcp::Client::Create(mcp::CreateLineTransport(s.instance->TakeStdio()),
                                   {.info = {.name = "docker_bench", .version = "1"}});
    struct Done {
      absl::Mutex mu;
      std::optional<absl::StatusOr<mcp::InitializeResult>> result ABSL_GUARDED_BY(mu);
      SteadyClock::time_point at;
      static bool Has(Done* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d->mu) {
        return d->result.has_value();
      }
    };
    auto done = std::make_shared<Done>();
    s.client->Connect([done](absl::StatusOr<mcp::InitializeResult> r) {
      SteadyClock::time_point now = SteadyClock::now();
      absl::MutexLock lock(&done->mu);
      done->at = now;
      done->result = std::move(r);
    });
    absl::Status why;
    {
      absl::MutexLock lock(&done->mu);
      if (!done->mu.AwaitWithTimeout(absl::Condition(&Done::Has, done.get()), kStepTimeout)) {
        why = absl::DeadlineExceededError(
            absl::StrCat("no initialize response within ", absl::FormatDuration(kStepTimeout)));
      } else {
        why = done->result->status();
        connected_at = done->at;
      }
    }
    if (!why.ok()) {  // Stop outside the lock: closing the client may run the callback
      std::string tail = s.instance->StderrTail(10);
      Stop(s);
      return absl::Status(why.code(), absl::StrCat(PathName(path), ": initialize failed: ",
                                                   why.ToString(), "; stderr: ", tail));
    }
    return s;
  }

  // Stop closes the client (the server reads end of input and exits, so does the CLI) and waits
  // for the end; kills what does not end.
  static void Stop(Server& s) {
    if (s.client != nullptr) {
      s.client->Close();
    }
    if (s.instance != nullptr && !s.instance->WaitForExit(absl::Seconds(30)).ok()) {
      s.instance->Stop(absl::ZeroDuration());
      (void)s.instance->WaitForExit(absl::Seconds(10));
    }
    s.client.reset();
    s.instance.reset();
  }

  // ContainerIdOf returns the id of the container behind `s` (for the CLI: found by its label).
  absl::StatusOr<std::string> ContainerIdOf(const Server& s) {
    if (s.path == Path::kEngine) {
      return s.instance->id();
    }
    MCPGW_ASSIGN_OR_RETURN(std::vector<container::InstanceInfo> found,
                           engine_->List({{"io.mcpgw.bench-server", s.tag}}));
    if (found.size() != 1) {
      return absl::NotFoundError(
          absl::StrCat(found.size(), " containers labelled io.mcpgw.bench-server=", s.tag));
    }
    return found[0].id;
  }

  // WaitUntilGone waits (bounded) until no container of this run is left, so that AutoRemove
  // work of one start does not overlap the next.
  absl::Status WaitUntilGone() {
    absl::Time deadline = absl::Now() + kStepTimeout;
    for (;;) {
      MCPGW_ASSIGN_OR_RETURN(std::vector<container::InstanceInfo> left,
                             engine_->List({{"io.mcpgw.bench-run", run_id_}}));
      if (left.empty()) {
        return absl::OkStatus();
      }
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            left.size(), " containers still there after ", absl::FormatDuration(kStepTimeout)));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  // RemoveLeftovers force-removes every container labelled io.mcpgw.bench=docker_bench and
  // returns how many there were.
  absl::StatusOr<int> RemoveLeftovers() {
    MCPGW_ASSIGN_OR_RETURN(
        std::vector<container::InstanceInfo> left,
        engine_->List({{std::string(kBenchLabel), std::string(kBenchLabelValue)}}));
    for (const container::InstanceInfo& c : left) {
      absl::Status removed = engine_->Remove(c.id);
      if (!removed.ok() && !absl::IsNotFound(removed)) {
        return removed;
      }
    }
    return static_cast<int>(left.size());
  }

 private:
  const Flags flags_;
  std::unique_ptr<container::DockerEngine> engine_;
  std::unique_ptr<container::ProcessRuntime> processes_;
  const std::string cli_path_;
  const std::string run_id_;
  int next_tag_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Statistics and output

struct Summary {
  double p50 = 0, p90 = 0, min = 0, max = 0;
};

// Nearest-rank percentiles.
Summary Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(i, 1, v.size()) - 1];
  };
  return {.p50 = rank(0.5), .p90 = rank(0.9), .min = v.front(), .max = v.back()};
}

double Median(std::vector<double> v) { return Summarize(std::move(v)).p50; }

double Mib(double kib) { return kib / 1024.0; }
double MibOfBytes(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

std::string FindInPath(const std::string& cmd) {
  if (cmd.find('/') != std::string::npos) {
    return cmd;
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", cmd);
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

// CliVersion runs `<cli> --version` for the report (not part of any measurement).
std::string CliVersion(const std::string& cli) {
  std::string cmd = absl::StrCat("'", cli, "' --version 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return "?";
  }
  char buf[256] = {};
  std::string out = fgets(buf, sizeof(buf), p) != nullptr ? buf : "?";
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.pop_back();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

int Fail(absl::string_view what, const absl::Status& s) {
  fmt::print(stderr, "docker_bench: {}: {}\n", std::string(what), s.ToString());
  return 1;
}

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct ColdStart {
  double run_ms = 0;    // until Run returned
  double total_ms = 0;  // until the initialize response
};

// Cold start of one server through `path`; closes it and waits until its container is gone.
absl::StatusOr<ColdStart> MeasureColdStart(Bench& b, Path path) {
  SteadyClock::time_point t0 = SteadyClock::now();
  SteadyClock::time_point ran, connected;
  MCPGW_ASSIGN_OR_RETURN(Server s, b.Start(path, ran, connected));
  ColdStart out{.run_ms = Ms(ran - t0), .total_ms = Ms(connected - t0)};
  Bench::Stop(s);
  MCPGW_RETURN_IF_ERROR(b.WaitUntilGone());
  return out;
}

struct MemoryResult {
  std::vector<double> self_growth_kib[2];  // per start, by path
  std::vector<double> cli_rss_kib, cli_anon_kib, cli_pss_kib;
  std::vector<double> usage[2], rss[2], cache[2];  // container, MiB, by path
  int64_t self_before_kib = 0, self_after_kib = 0;
};

absl::Status MeasureMemory(Bench& b, MemoryResult& m, std::vector<Server>& servers) {
  const int k = b.flags().servers;
  m.self_before_kib = SelfRssKib();
  for (int i = 0; i < k; ++i) {
    for (Path path : (i % 2 == 0) ? std::vector<Path>{Path::kEngine, Path::kCli}
                                  : std::vector<Path>{Path::kCli, Path::kEngine}) {
      int64_t before = SelfRssKib();
      SteadyClock::time_point ran, connected;
      MCPGW_ASSIGN_OR_RETURN(Server s, b.Start(path, ran, connected));
      m.self_growth_kib[static_cast<int>(path)].push_back(
          static_cast<double>(SelfRssKib() - before));
      servers.push_back(std::move(s));
    }
  }
  m.self_after_kib = SelfRssKib();
  absl::SleepFor(absl::Seconds(1));  // let the CLIs and containers settle before reading them
  for (const Server& s : servers) {
    if (s.path == Path::kCli) {
      const std::string& pid = s.instance->id();
      absl::StatusOr<container::ExitStatus> ended = s.instance->WaitForExit(absl::ZeroDuration());
      if (ended.ok()) {
        return absl::InternalError(absl::StrCat("the docker CLI (pid ", pid, ") ",
                                                ended->ToString(),
                                                "; stderr: ", s.instance->StderrTail(10)));
      }
      MCPGW_ASSIGN_OR_RETURN(int64_t rss, ProcKib(pid, "status", "VmRSS"));
      MCPGW_ASSIGN_OR_RETURN(int64_t anon, ProcKib(pid, "status", "RssAnon"));
      MCPGW_ASSIGN_OR_RETURN(int64_t pss, ProcKib(pid, "smaps_rollup", "Pss"));
      m.cli_rss_kib.push_back(static_cast<double>(rss));
      m.cli_anon_kib.push_back(static_cast<double>(anon));
      m.cli_pss_kib.push_back(static_cast<double>(pss));
    }
    MCPGW_ASSIGN_OR_RETURN(std::string id, b.ContainerIdOf(s));
    MCPGW_ASSIGN_OR_RETURN(ContainerMemory c, ReadContainerMemory(b.engine(), id));
    int p = static_cast<int>(s.path);
    m.usage[p].push_back(MibOfBytes(c.usage));
    m.rss[p].push_back(MibOfBytes(c.rss));
    m.cache[p].push_back(MibOfBytes(c.cache));
  }
  return absl::OkStatus();
}

double Sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) {
    s += x;
  }
  return s;
}

int Main(int argc, char** argv) {
  absl::StatusOr<std::optional<Flags>> parsed = ParseFlags(argc, argv);
  if (!parsed.ok()) {
    fmt::print(stderr, "docker_bench: {}\n", std::string(parsed.status().message()));
    return 2;
  }
  if (!parsed->has_value()) {
    return 0;
  }
  Flags flags = **parsed;

  absl::StatusOr<std::unique_ptr<container::DockerEngine>> engine =
      container::DockerEngine::Create({});
  if (!engine.ok()) {
    fmt::print(stderr,
               "docker_bench: no usable Docker engine, nothing measured: {}\n"
               "  start one with scripts/start-docker.sh\n",
               engine.status().ToString());
    return 2;
  }
  absl::StatusOr<std::string> image = (*engine)->InspectImageJson(flags.image);
  if (!image.ok()) {
    fmt::print(stderr,
               "docker_bench: image {} is not present (or cannot be inspected), nothing measured\n"
               "  build it with tests/docker/build-test-images.sh <path to mcp-fixture-server>\n",
               flags.image);
    return 2;
  }
  std::string cli_path = FindInPath(flags.docker_cli);
  if (cli_path.empty()) {
    fmt::print(stderr, "docker_bench: docker CLI '{}' not found in PATH, nothing measured\n",
               flags.docker_cli);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<container::ProcessRuntime>> processes =
      container::ProcessRuntime::Create({});
  if (!processes.ok()) {
    return Fail("ProcessRuntime", processes.status());
  }

  std::string server_version = (*engine)->engine_version();

  Bench b(flags, *std::move(engine), *std::move(processes), cli_path);
  absl::StatusOr<int> stale = b.RemoveLeftovers();
  if (!stale.ok()) {
    return Fail("removing leftovers of an earlier run", stale.status());
  }

  std::vector<std::string> cli_args = b.CliArgs("<n>");
  fmt::print(
      "docker_bench: MCP server cold start and memory, DockerEngine vs the docker CLI\n"
      "  engine:  Docker {} (Engine API {} negotiated by DockerEngine)\n"
      "  CLI:     {} ({})\n"
      "  image:   {}\n"
      "  engine path: DockerEngine::Run + CreateLineTransport(TakeStdio()) + Client::Connect\n"
      "  CLI path:    ProcessRuntime::Run of `docker {}` + the same Client on its stdio\n"
      "  removed {} leftover container(s) of earlier runs\n\n",
      server_version, b.engine().api_version(), cli_path, CliVersion(cli_path), flags.image,
      absl::StrJoin(cli_args, " "), *stale);
  std::fflush(stdout);

  int status = 0;
  // Warm-up round: one start per path, excluded (page cache, image layers, libraries).
  for (Path path : {Path::kEngine, Path::kCli}) {
    absl::StatusOr<ColdStart> t = MeasureColdStart(b, path);
    if (!t.ok()) {
      status = Fail(absl::StrCat("warm-up, ", PathName(path)), t.status());
      break;
    }
  }

  // (b) first, right after the warm-up, so that memory freed by many earlier rounds does not
  // hide the growth.
  MemoryResult mem;
  if (status == 0) {
    std::vector<Server> servers;
    absl::Status measured = MeasureMemory(b, mem, servers);
    for (Server& s : servers) {
      if (s.client != nullptr) {
        s.client->Close();  // all at once, then wait for each
      }
    }
    for (Server& s : servers) {
      Bench::Stop(s);
    }
    absl::Status gone = b.WaitUntilGone();
    if (!measured.ok()) {
      status = Fail("memory", measured);
    } else if (!gone.ok()) {
      status = Fail("memory, clean-up", gone);
    }
  }

  // (a) interleaved rounds.
  std::vector<double> ms[2], run_ms[2];
  for (int round = 0; status == 0 && round < flags.rounds; ++round) {
    for (Path path : (round % 2 == 0) ? std::vector<Path>{Path::kEngine, Path::kCli}
                                      : std::vector<Path>{Path::kCli, Path::kEngine}) {
      absl::StatusOr<ColdStart> t = MeasureColdStart(b, path);
      if (!t.ok()) {
        status =
            Fail(absl::StrCat("cold start, round ", round + 1, ", ", PathName(path)), t.status());
        break;
      }
      ms[static_cast<int>(path)].push_back(t->total_ms);
      run_ms[static_cast<int>(path)].push_back(t->run_ms);
    }
  }

  absl::StatusOr<int> left = b.RemoveLeftovers();
  if (status != 0) {
    return status;
  }

  const int e = static_cast<int>(Path::kEngine), c = static_cast<int>(Path::kCli);
  Summary se = Summarize(ms[e]), sc = Summarize(ms[c]);
  fmt::print(
      "(a) Cold start: from the start of Run to the initialize response, in ms\n"
      "    {} rounds per path after 1 warm-up round (excluded); both paths in every round, the\n"
      "    order alternating; the previous container is gone before each start.\n\n",
      flags.rounds);
  fmt::print("    {:<32} {:>8} {:>8} {:>8} {:>8}\n", "path", "p50", "p90", "min", "max");
  fmt::print("    {:<32} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f}\n", "DockerEngine (REST, in-proc)",
             se.p50, se.p90, se.min, se.max);
  fmt::print("    {:<32} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f}\n", "docker CLI (docker run -i)",
             sc.p50, sc.p90, sc.min, sc.max);
  fmt::print("    {:<32} {:>7.2f}x {:>7.2f}x {:>7.2f}x {:>7.2f}x\n", "ratio CLI / DockerEngine",
             sc.p50 / se.p50, sc.p90 / se.p90, sc.min / se.min, sc.max / se.max);
  // Paired by round: both paths ran within a second of each other, under the same load.
  std::vector<double> diff;
  int cli_slower = 0;
  for (size_t i = 0; i < ms[e].size(); ++i) {
    diff.push_back(ms[c][i] - ms[e][i]);
    cli_slower += ms[c][i] > ms[e][i] ? 1 : 0;
  }
  Summary sd = Summarize(diff);
  fmt::print("    {:<32} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f}   (CLI slower in {} of {} rounds)\n",
             "CLI - DockerEngine, same round", sd.p50, sd.p90, sd.min, sd.max, cli_slower,
             diff.size());
  Summary re = Summarize(run_ms[e]);
  fmt::print("    {:<32} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f}\n", "  DockerEngine: Run returned",
             re.p50, re.p90, re.min, re.max);
  fmt::print(
      "    (Run = create + wait + attach + start; the rest is the server starting and answering.\n"
      "    For the CLI, Run returns once `docker` is exec'd: its whole work is in the total.)\n\n");

  const int k = flags.servers;
  double growth_e = Mib(Sum(mem.self_growth_kib[e]) / k);
  double growth_c = Mib(Sum(mem.self_growth_kib[c]) / k);
  double cli_pss = Mib(Median(mem.cli_pss_kib));
  fmt::print(
      "(b) Memory per running server, in MiB: {} servers per path, started alternately, all {}\n"
      "    running at once. This process's VmRSS went from {:.1f} to {:.1f} MiB.\n\n",
      k, 2 * k, Mib(static_cast<double>(mem.self_before_kib)),
      Mib(static_cast<double>(mem.self_after_kib)));
  fmt::print("    {:<52} {:>12} {:>12}\n", "on the gateway's side", "DockerEngine", "docker CLI");
  fmt::print("    {:<52} {:>12.2f} {:>12.2f}\n", "this process: VmRSS growth per start (mean)",
             growth_e, growth_c);
  fmt::print("    {:<52} {:>12} {:>12.2f}\n", "`docker run` process: VmRSS (median)", "-",
             Mib(Median(mem.cli_rss_kib)));
  fmt::print("    {:<52} {:>12} {:>12.2f}\n", "`docker run` process: RssAnon (median)", "-",
             Mib(Median(mem.cli_anon_kib)));
  fmt::print("    {:<52} {:>12} {:>12.2f}\n", "`docker run` process: Pss (median, K CLIs share)",
             "-", cli_pss);
  fmt::print("    {:<52} {:>12.2f} {:>12.2f}\n", "total per server (growth + Pss)", growth_e,
             growth_c + cli_pss);
  fmt::print("    {:<52} {:>12.2f} {:>12.2f}\n\n", "total per server (growth + VmRSS)", growth_e,
             growth_c + Mib(Median(mem.cli_rss_kib)));
  fmt::print("    {:<52} {:>12} {:>12}\n", "the container (engine stats, median)", "DockerEngine",
             "docker CLI");
  fmt::print("    {:<52} {:>12.2f} {:>12.2f}\n", "memory_stats.usage", Median(mem.usage[e]),
             Median(mem.usage[c]));
  fmt::print("    {:<52} {:>12.2f} {:>12.2f}\n", "  of which rss", Median(mem.rss[e]),
             Median(mem.rss[c]));
  fmt::print("    {:<52} {:>12.2f} {:>12.2f}\n\n", "  of which cache", Median(mem.cache[e]),
             Median(mem.cache[c]));

  if (!left.ok()) {
    return Fail("listing leftovers", left.status());
  }
  fmt::print("clean-up: {} container(s) labelled {}={} were left and removed\n", *left,
             std::string(kBenchLabel), std::string(kBenchLabelValue));
  return 0;
}

}  // namespace
}  // namespace mcpgw::bench

int main(int argc, char** argv) { return mcpgw::bench::Main(argc, argv); }
