#include "load_client.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "mcpgw/mcp/client.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace mcpgw::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t NanosBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

double SecondsBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return static_cast<double>(NanosBetween(a, b)) / 1e9;
}

absl::StatusOr<std::string> ReadProcFile(pid_t pid, const char* name) {
  std::string path = absl::StrCat("/proc/", pid, "/", name);
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": no process ", pid, "?"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// CPU seconds of each process in `pids` (those that could be read).
std::map<pid_t, double> SampleCpu(const std::vector<pid_t>& pids) {
  std::map<pid_t, double> out;
  for (pid_t pid : pids) {
    absl::StatusOr<double> cpu = CpuSeconds(pid);
    if (cpu.ok()) {
      out[pid] = *cpu;
    }
  }
  return out;
}

// CPU time spent between two samples; a process absent from `before` was born in between.
double CpuSpent(const std::map<pid_t, double>& before, const std::map<pid_t, double>& after) {
  double sum = 0;
  for (const auto& [pid, cpu] : after) {
    auto it = before.find(pid);
    sum += cpu - (it == before.end() ? 0.0 : it->second);
  }
  return sum;
}

int64_t SumStatusKib(const std::vector<pid_t>& pids, absl::string_view field) {
  int64_t sum = 0;
  for (pid_t pid : pids) {
    absl::StatusOr<int64_t> kib = StatusKib(pid, field);
    if (kib.ok()) {
      sum += *kib;
    }
  }
  return sum;
}

struct Run;

// One client session and its calls. Calls are issued from the thread that delivers answers
// (the transport's), never while `mu` is held (an answer may arrive inline).
struct SessionState {
  Run* run = nullptr;
  int index = 0;
  std::shared_ptr<mcp::Client> client;
  SteadyClock::time_point connect_start;
  bool established = false;  // written by the Connect callback before the call phase

  absl::Mutex mu;
  int64_t issued ABSL_GUARDED_BY(mu) = 0;
  int64_t answered ABSL_GUARDED_BY(mu) = 0;
  int64_t ok ABSL_GUARDED_BY(mu) = 0;
  int64_t failed ABSL_GUARDED_BY(mu) = 0;
  bool stopped ABSL_GUARDED_BY(mu) = false;  // the transport closed: no new calls
  bool done ABSL_GUARDED_BY(mu) = false;     // reported to the run as finished
  std::vector<int64_t> latencies_ns ABSL_GUARDED_BY(mu);
  std::optional<int64_t> first_ns ABSL_GUARDED_BY(mu);  // the first answer, if it was ok
  int64_t listed ABSL_GUARDED_BY(mu) = 0;               // tools/list: the first list's length
};

struct Run {
  explicit Run(LoadOptions o) : options(std::move(o)) {}

  const LoadOptions options;
  SteadyClock::time_point deadline;  // duration mode, set before the call phase

  absl::Mutex mu;
  int connecting ABSL_GUARDED_BY(mu) = 0;
  int sessions_failed ABSL_GUARDED_BY(mu) = 0;
  int sessions_closed ABSL_GUARDED_BY(mu) = 0;
  int active ABSL_GUARDED_BY(mu) = 0;  // sessions of the call phase not yet finished
  bool calls_started ABSL_GUARDED_BY(mu) = false;
  bool closing ABSL_GUARDED_BY(mu) = false;
  int64_t errors ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::string> first_errors ABSL_GUARDED_BY(mu);
  std::vector<int64_t> connect_ns ABSL_GUARDED_BY(mu);

  void RecordErrorLocked(std::string message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++errors;
    if (static_cast<int>(first_errors.size()) < options.max_errors_kept) {
      if (options.print_errors) {
        std::fprintf(stderr, "mcpgw-load: %s\n", message.c_str());
      }
      first_errors.push_back(std::move(message));
    }
  }
  void RecordError(std::string message) {
    absl::MutexLock lock(&mu);
    RecordErrorLocked(std::move(message));
  }
};

// Issuing is trampolined per thread: a call whose answer arrives inline (a transport already
// closed fails at once) queues the next call instead of recursing.
thread_local bool t_issuing = false;
thread_local std::vector<SessionState*>* t_queue = nullptr;
// The session whose CallTool is running on this thread: an answer arriving meanwhile was
// refused at once (the transport is gone), which stops the session instead of retrying in a
// tight loop until its closed callback gets a chance to run.
thread_local SessionState* t_sending = nullptr;

void IssueOne(SessionState* s);

void Issue(SessionState* s) {
  if (t_issuing) {
    t_queue->push_back(s);
    return;
  }
  std::vector<SessionState*> queue{s};
  t_issuing = true;
  t_queue = &queue;
  while (!queue.empty()) {
    SessionState* next = queue.back();
    queue.pop_back();
    IssueOne(next);
  }
  t_queue = nullptr;
  t_issuing = false;
}

// What is wrong with an answer ("" when nothing).
std::string ErrorOf(const absl::StatusOr<mcp::CallToolResult>& result) {
  if (!result.ok()) {
    return result.status().ToString();
  }
  if (!result->is_error.value_or(false)) {
    return "";
  }
  std::string error = "the tool answered isError: ";
  for (const mcp::ContentBlock& block : result->content) {
    if (const auto* text = std::get_if<mcp::TextContent>(&block)) {
      absl::StrAppend(&error, text->text);
      break;
    }
  }
  return error;
}

// A tools/list answer, checked and counted without being read into typed tools (a typed parse
// of a large list costs the client more than the gateway spends answering it).
struct ListAnswer {
  int64_t items = 0;
  std::string error;
  std::optional<std::string> next_cursor;
};

// One page of tools/list: its tools counted, its nextCursor kept.
ListAnswer ReadListPage(const absl::StatusOr<mcp::Message>& response) {
  if (!response.ok()) {
    return {.error = response.status().ToString()};
  }
  if (response->kind() == mcp::MessageKind::kErrorResponse) {
    return {.error = absl::StrCat("tools/list failed: ", response->error().message)};
  }
  const mcp::JsonValue* result = response->result();
  const mcp::JsonValue* tools = result != nullptr ? mcp::FindMember(*result, "tools") : nullptr;
  if (tools == nullptr || !tools->IsArray()) {
    return {.error = "tools/list answered without a tools array"};
  }
  ListAnswer page{.items = static_cast<int64_t>(tools->Size())};
  const mcp::JsonValue* cursor = mcp::FindMember(*result, "nextCursor");
  if (cursor != nullptr && cursor->IsString()) {
    page.next_cursor = std::string(mcp::AsStringView(*cursor));
  }
  return page;
}

template <typename Result>
void OnAnswer(SessionState* s, SteadyClock::time_point sent, const Result& result);

// Lists every page (at most 1,000), then reports the whole listing as one answer.
void ListAllPages(SessionState* s, SteadyClock::time_point sent,
                  std::optional<std::string> cursor, int64_t items_before, int page) {
  mcp::Json params;
  if (cursor.has_value()) {
    params = mcp::Json::Object();
    params.Set("cursor", *cursor);
  }
  s->client->session().SendRequest(
      mcp::method::kToolsList, std::move(params),
      mcp::RequestOptions{.timeout = s->run->options.call_timeout},
      [s, sent, items_before, page](absl::StatusOr<mcp::Message> response) {
        ListAnswer got = ReadListPage(response);
        got.items += items_before;
        if (got.error.empty() && got.next_cursor.has_value() && page < 1000) {
          ListAllPages(s, sent, got.next_cursor, got.items, page + 1);
          return;
        }
        if (got.error.empty() && got.items == 0) {
          got.error = "tools/list answered an empty list";
        }
        OnAnswer(s, sent, got);
      });
}

int64_t ItemsOf(const absl::StatusOr<mcp::CallToolResult>&) { return 0; }
int64_t ItemsOf(const ListAnswer& answer) { return answer.items; }
std::string ErrorOf(const ListAnswer& answer) { return answer.error; }

template <typename Result>
void OnAnswer(SessionState* s, SteadyClock::time_point sent, const Result& result) {
  const SteadyClock::time_point now = SteadyClock::now();
  const std::string error = ErrorOf(result);
  const bool refused = !error.empty() && t_sending == s;
  {
    absl::MutexLock lock(&s->mu);
    if (s->answered == 0 && error.empty()) {
      s->first_ns = NanosBetween(sent, now);
      s->listed = ItemsOf(result);
    }
    ++s->answered;
    if (refused) {
      s->stopped = true;
    }
    if (error.empty()) {
      ++s->ok;
      s->latencies_ns.push_back(NanosBetween(sent, now));
    } else {
      ++s->failed;
    }
  }
  if (!error.empty()) {
    s->run->RecordError(absl::StrCat("session ", s->index, ": call failed: ", error));
  }
  Issue(s);
}

void IssueOne(SessionState* s) {
  Run& run = *s->run;
  bool finished = false;
  {
    absl::MutexLock lock(&s->mu);
    if (s->done) {
      return;
    }
    bool more = !s->stopped;
    if (more) {
      more = run.options.duration.has_value() ? SteadyClock::now() < run.deadline
                                              : s->issued < run.options.calls_per_session;
    }
    if (more) {
      ++s->issued;
    } else {
      if (s->answered == s->issued) {
        s->done = true;
        finished = true;
      }
    }
    if (!more && !finished) {
      return;  // the last answers still to come will finish the session
    }
  }
  if (finished) {
    absl::MutexLock lock(&run.mu);
    --run.active;
    return;
  }
  const SteadyClock::time_point sent = SteadyClock::now();
  t_sending = s;
  if (run.options.method == LoadOptions::Method::kListTools) {
    ListAllPages(s, sent, std::nullopt, 0, 1);
  } else {
    s->client->CallTool(run.options.tool, run.options.arguments,
                        mcp::CallOptions{.timeout = run.options.call_timeout},
                        [s, sent](absl::StatusOr<mcp::CallToolResult> result) {
                          OnAnswer(s, sent, result);
                        });
  }
  t_sending = nullptr;
}

}  // namespace

LatencySummary Summarize(std::vector<int64_t> samples_ns) {
  LatencySummary out;
  if (samples_ns.empty()) {
    return out;
  }
  std::sort(samples_ns.begin(), samples_ns.end());
  const size_t n = samples_ns.size();
  auto rank = [&](double p) {
    size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
    r = std::clamp<size_t>(r, 1, n);
    return static_cast<double>(samples_ns[r - 1]) / 1e3;
  };
  double sum = 0;
  for (int64_t v : samples_ns) {
    sum += static_cast<double>(v);
  }
  out.count = static_cast<int64_t>(n);
  out.min_us = static_cast<double>(samples_ns.front()) / 1e3;
  out.mean_us = sum / static_cast<double>(n) / 1e3;
  out.p50_us = rank(0.50);
  out.p90_us = rank(0.90);
  out.p99_us = rank(0.99);
  out.max_us = static_cast<double>(samples_ns.back()) / 1e3;
  return out;
}

absl::StatusOr<double> CpuSeconds(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadProcFile(pid, "stat");
  if (!stat.ok()) {
    return stat.status();
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields after the last
  // ')' start with field 3 (state). utime and stime are fields 14 and 15.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) {
    return absl::InternalError(absl::StrCat("unexpected /proc/", pid, "/stat"));
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(close + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::InternalError(absl::StrCat("unexpected /proc/", pid, "/stat"));
  }
  static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(utime + stime) / kTicks;
}

absl::StatusOr<int64_t> StatusKib(pid_t pid, absl::string_view field) {
  absl::StatusOr<std::string> status = ReadProcFile(pid, "status");
  if (!status.ok()) {
    return status.status();
  }
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (line.size() > field.size() && line.substr(0, field.size()) == field &&
        line[field.size()] == ':') {
      std::vector<absl::string_view> parts =
          absl::StrSplit(line.substr(field.size() + 1), absl::ByAnyChar(" \t"), absl::SkipEmpty());
      int64_t kib = 0;
      if (!parts.empty() && absl::SimpleAtoi(parts[0], &kib)) {
        return kib;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("no ", field, " in /proc/", pid, "/status"));
}

double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

absl::StatusOr<uint64_t> RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::ErrnoToStatus(errno, "getrlimit(RLIMIT_NOFILE)");
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return absl::ErrnoToStatus(errno, "setrlimit(RLIMIT_NOFILE)");
    }
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

LoadReport RunLoad(LoadOptions options) {
  auto run = std::make_unique<Run>(std::move(options));
  const LoadOptions& o = run->options;
  LoadReport report;
  report.sessions_requested = o.sessions;
  auto pids = [&] { return o.target_pids ? o.target_pids() : std::vector<pid_t>{}; };

  // Memory of the processes under test, sampled all along.
  std::atomic<int64_t> peak_rss{0};
  absl::Notification stop_sampling;
  auto sample_rss = [&] {
    int64_t rss = SumStatusKib(pids(), "VmRSS");
    int64_t seen = peak_rss.load();
    while (rss > seen && !peak_rss.compare_exchange_weak(seen, rss)) {
    }
  };
  std::thread sampler;
  if (o.target_pids) {
    sampler = std::thread([&] {
      do {
        sample_rss();
      } while (!stop_sampling.WaitForNotificationWithTimeout(o.rss_interval));
    });
  }

  const SteadyClock::time_point t0 = SteadyClock::now();
  const double cpu0 = OwnCpuSeconds();
  const std::map<pid_t, double> target0 = SampleCpu(pids());

  // Phase 1: connect, at most max_connecting initializes in flight.
  std::vector<std::unique_ptr<SessionState>> sessions;
  sessions.reserve(static_cast<size_t>(std::max(o.sessions, 0)));
  for (int i = 0; i < o.sessions; ++i) {
    {
      absl::MutexLock lock(&run->mu);
      run->mu.Await(absl::Condition(
          +[](Run* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return r->connecting < std::max(1, r->options.max_connecting);
          },
          run.get()));
    }
    absl::StatusOr<mcp::TransportPtr> transport = o.make_transport(i);
    if (!transport.ok()) {
      absl::MutexLock lock(&run->mu);
      ++run->sessions_failed;
      run->RecordErrorLocked(absl::StrCat("session ", i, ": ", transport.status().ToString()));
      continue;
    }
    auto s = std::make_unique<SessionState>();
    s->run = run.get();
    s->index = i;
    s->client = mcp::Client::Create(
        *std::move(transport),
        mcp::ClientOptions{.info = {.name = "mcpgw-load", .version = "0.1.0"},
                           .session = {.name = absl::StrCat("load ", i),
                                       .default_request_timeout = o.call_timeout}});
    SessionState* raw = s.get();
    s->client->SetClosedCallback([raw](absl::Status reason) {
      Run& r = *raw->run;
      {
        absl::MutexLock lock(&raw->mu);
        raw->stopped = true;
      }
      {
        absl::MutexLock lock(&r.mu);
        if (r.closing || !raw->established) {
          return;  // our own Close, or a failed initialize (counted by Connect's callback)
        }
        ++r.sessions_closed;
        r.RecordErrorLocked(
            absl::StrCat("session ", raw->index, ": transport closed: ", reason.ToString()));
        if (!r.calls_started) {
          return;  // the call phase will find it stopped
        }
      }
      Issue(raw);  // finishes the session if nothing is in flight
    });
    {
      absl::MutexLock lock(&run->mu);
      ++run->connecting;
    }
    s->connect_start = SteadyClock::now();
    sessions.push_back(std::move(s));
    raw->client->Connect([raw](absl::StatusOr<mcp::InitializeResult> init) {
      const SteadyClock::time_point now = SteadyClock::now();
      Run& r = *raw->run;
      absl::MutexLock lock(&r.mu);
      --r.connecting;
      if (init.ok()) {
        raw->established = true;
        r.connect_ns.push_back(NanosBetween(raw->connect_start, now));
      } else {
        ++r.sessions_failed;
        r.RecordErrorLocked(absl::StrCat("session ", raw->index,
                                         ": initialize failed: ", init.status().ToString()));
      }
    });
  }
  {
    absl::MutexLock lock(&run->mu);
    run->mu.Await(absl::Condition(
        +[](Run* r) ABSL_NO_THREAD_SAFETY_ANALYSIS { return r->connecting == 0; }, run.get()));
  }

  // Phase 2: calls.
  const SteadyClock::time_point t1 = SteadyClock::now();
  const double cpu1 = OwnCpuSeconds();
  const std::map<pid_t, double> target1 = SampleCpu(pids());
  std::vector<SessionState*> established;
  for (const auto& s : sessions) {
    absl::MutexLock lock(&run->mu);
    if (s->established) {
      established.push_back(s.get());
    }
  }
  {
    absl::MutexLock lock(&run->mu);
    run->active = static_cast<int>(established.size());
    run->calls_started = true;
  }
  run->deadline = t1 + std::chrono::nanoseconds(
                           absl::ToInt64Nanoseconds(o.duration.value_or(absl::ZeroDuration())));
  for (int k = 0; k < std::max(o.inflight, 1); ++k) {
    for (SessionState* s : established) {
      Issue(s);
    }
  }
  {
    absl::MutexLock lock(&run->mu);
    run->mu.Await(absl::Condition(
        +[](Run* r) ABSL_NO_THREAD_SAFETY_ANALYSIS { return r->active == 0; }, run.get()));
  }
  const SteadyClock::time_point t2 = SteadyClock::now();
  const double cpu2 = OwnCpuSeconds();
  const std::vector<pid_t> final_pids = pids();
  const std::map<pid_t, double> target2 = SampleCpu(final_pids);
  report.target_vm_hwm_kib = SumStatusKib(final_pids, "VmHWM");
  report.target_rss_end_kib = SumStatusKib(final_pids, "VmRSS");
  if (sampler.joinable()) {
    sample_rss();
    stop_sampling.Notify();
    sampler.join();
  }

  // Close every session (not measured).
  {
    absl::MutexLock lock(&run->mu);
    run->closing = true;
  }
  for (const auto& s : sessions) {
    s->client->Close();
  }
  for (const auto& s : sessions) {
    s->client.reset();
  }

  std::vector<int64_t> latencies;
  std::vector<int64_t> firsts;
  for (const auto& s : sessions) {
    absl::MutexLock lock(&s->mu);
    if (s->first_ns.has_value()) {
      firsts.push_back(*s->first_ns);
      if (report.listed_items == 0) {
        report.listed_items = s->listed;
      }
    }
    report.calls_ok += s->ok;
    report.calls_failed += s->failed;
    latencies.insert(latencies.end(), s->latencies_ns.begin(), s->latencies_ns.end());
  }
  {
    absl::MutexLock lock(&run->mu);
    report.sessions_failed = run->sessions_failed;
    report.sessions_closed = run->sessions_closed;
    report.errors = run->errors;
    report.first_errors = run->first_errors;
    report.connect_latency = Summarize(run->connect_ns);
  }
  report.sessions_established = static_cast<int>(established.size());
  if (!o.duration.has_value()) {
    report.calls_not_sent = static_cast<int64_t>(o.sessions) * o.calls_per_session -
                            report.calls_ok - report.calls_failed;
  }
  report.call_latency = Summarize(std::move(latencies));
  report.first_call_latency = Summarize(std::move(firsts));
  report.connect_wall_s = SecondsBetween(t0, t1);
  report.call_wall_s = SecondsBetween(t1, t2);
  report.total_wall_s = SecondsBetween(t0, SteadyClock::now());
  report.calls_per_second =
      report.call_wall_s > 0 ? static_cast<double>(report.calls_ok) / report.call_wall_s : 0;
  report.client_cpu_connect_s = cpu1 - cpu0;
  report.client_cpu_calls_s = cpu2 - cpu1;
  if (o.target_pids) {
    report.target_sampled = true;
    report.target_processes = static_cast<int>(final_pids.size());
    report.target_cpu_connect_s = CpuSpent(target0, target1);
    report.target_cpu_calls_s = CpuSpent(target1, target2);
    report.target_peak_rss_kib = peak_rss.load();
  }
  return report;
}

namespace {

void WriteLatency(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key,
                  const LatencySummary& l) {
  w.Key(key);
  w.StartObject();
  w.Key("count");
  w.Int64(l.count);
  auto num = [&](const char* k, double v) {
    w.Key(k);
    w.Double(std::round(v * 10) / 10);
  };
  num("min", l.min_us);
  num("mean", l.mean_us);
  num("p50", l.p50_us);
  num("p90", l.p90_us);
  num("p99", l.p99_us);
  num("max", l.max_us);
  w.EndObject();
}

double Round3(double v) { return std::round(v * 1000) / 1000; }

}  // namespace

std::string ReportJson(const LoadReport& r,
                       const std::vector<std::pair<std::string, std::string>>& labels) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  for (const auto& [key, value] : labels) {
    w.Key(key.c_str());
    w.String(value.c_str());
  }
  w.Key("sessions");
  w.StartObject();
  w.Key("requested");
  w.Int(r.sessions_requested);
  w.Key("established");
  w.Int(r.sessions_established);
  w.Key("failed");
  w.Int(r.sessions_failed);
  w.Key("closed");
  w.Int(r.sessions_closed);
  w.EndObject();
  w.Key("calls");
  w.StartObject();
  w.Key("ok");
  w.Int64(r.calls_ok);
  w.Key("failed");
  w.Int64(r.calls_failed);
  w.Key("not_sent");
  w.Int64(r.calls_not_sent);
  w.EndObject();
  w.Key("errors");
  w.StartObject();
  w.Key("count");
  w.Int64(r.errors);
  w.Key("first");
  w.StartArray();
  for (const std::string& e : r.first_errors) {
    w.String(e.c_str());
  }
  w.EndArray();
  w.EndObject();
  WriteLatency(w, "latency_us", r.call_latency);
  WriteLatency(w, "connect_latency_us", r.connect_latency);
  WriteLatency(w, "first_call_latency_us", r.first_call_latency);
  w.Key("listed_items");
  w.Int64(r.listed_items);
  w.Key("calls_per_second");
  w.Double(std::round(r.calls_per_second * 10) / 10);
  w.Key("wall_s");
  w.StartObject();
  w.Key("connect");
  w.Double(Round3(r.connect_wall_s));
  w.Key("calls");
  w.Double(Round3(r.call_wall_s));
  w.Key("total");
  w.Double(Round3(r.total_wall_s));
  w.EndObject();
  w.Key("client_cpu_s");
  w.StartObject();
  w.Key("connect");
  w.Double(Round3(r.client_cpu_connect_s));
  w.Key("calls");
  w.Double(Round3(r.client_cpu_calls_s));
  w.EndObject();
  w.Key("target");
  if (!r.target_sampled) {
    w.Null();
  } else {
    w.StartObject();
    w.Key("processes");
    w.Int(r.target_processes);
    w.Key("cpu_s");
    w.StartObject();
    w.Key("connect");
    w.Double(Round3(r.target_cpu_connect_s));
    w.Key("calls");
    w.Double(Round3(r.target_cpu_calls_s));
    w.EndObject();
    w.Key("peak_rss_kib");
    w.Int64(r.target_peak_rss_kib);
    w.Key("vm_hwm_kib");
    w.Int64(r.target_vm_hwm_kib);
    w.Key("rss_end_kib");
    w.Int64(r.target_rss_end_kib);
    w.EndObject();
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ReportText(const LoadReport& r) {
  std::string out;
  absl::StrAppend(&out, "sessions      ", r.sessions_established, " established of ",
                  r.sessions_requested, " (", r.sessions_failed, " failed, ", r.sessions_closed,
                  " closed during the calls)\n");
  absl::StrAppend(&out, "calls         ", r.calls_ok, " ok, ", r.calls_failed, " failed",
                  r.calls_not_sent > 0 ? absl::StrCat(", ", r.calls_not_sent, " not sent") : "",
                  "\n");
  if (!r.first_errors.empty()) {
    absl::StrAppend(&out, "errors        ", r.errors, ", first: ", r.first_errors.front(), "\n");
  }
  auto latency = [&](const char* name, const LatencySummary& l) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "%-13s p50 %.0f  p90 %.0f  p99 %.0f  max %.0f  (µs, %lld samples)\n", name,
                  l.p50_us, l.p90_us, l.p99_us, l.max_us, static_cast<long long>(l.count));
    absl::StrAppend(&out, line);
  };
  latency("call latency", r.call_latency);
  latency("initialize", r.connect_latency);
  latency("first call", r.first_call_latency);
  char line[512];
  std::snprintf(line, sizeof line,
                "throughput    %.0f calls/s\n"
                "wall time     %.3f s calls, %.3f s connect, %.3f s total\n"
                "client CPU    %.3f s calls, %.3f s connect\n",
                r.calls_per_second, r.call_wall_s, r.connect_wall_s, r.total_wall_s,
                r.client_cpu_calls_s, r.client_cpu_connect_s);
  absl::StrAppend(&out, line);
  if (r.target_sampled) {
    std::snprintf(line, sizeof line,
                  "under test    %d process(es): CPU %.3f s calls, %.3f s connect; peak RSS "
                  "%.1f MiB (sum of VmHWM %.1f MiB), RSS after the calls %.1f MiB\n",
                  r.target_processes, r.target_cpu_calls_s, r.target_cpu_connect_s,
                  static_cast<double>(r.target_peak_rss_kib) / 1024.0,
                  static_cast<double>(r.target_vm_hwm_kib) / 1024.0,
                  static_cast<double>(r.target_rss_end_kib) / 1024.0);
    absl::StrAppend(&out, line);
  }
  return out;
}

}  // namespace mcpgw::bench
