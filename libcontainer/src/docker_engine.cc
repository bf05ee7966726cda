#include "mcpgw/container/docker_engine.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "docker_http.h"
#include "docker_stream.h"
#include "mcpgw/container/ring_buffer.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace mcpgw::container {
namespace internal {
namespace {

constexpr absl::string_view kManagedLabel = "io.mcpgw.managed";
// How long the exit report waits for the attach stream to deliver its last frames.
constexpr absl::Duration kStreamDrainTimeout = absl::Seconds(2);
// The smallest memory limit the engines accept.
constexpr int64_t kMinMemoryBytes = int64_t{6} << 20;

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Parses "1.41" into {1, 41}.
std::optional<std::pair<int, int>> ParseApiVersion(absl::string_view v) {
  std::vector<absl::string_view> parts = absl::StrSplit(v, '.');
  int major = 0;
  int minor = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &major) ||
      !absl::SimpleAtoi(parts[1], &minor)) {
    return std::nullopt;
  }
  return std::make_pair(major, minor);
}

// ParseEngineJson parses a response body. Iterative, so a hostile nesting depth cannot
// exhaust the stack.
absl::StatusOr<rapidjson::Document> ParseEngineJson(absl::string_view text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    return absl::DataLossError(
        absl::StrCat("malformed JSON from the Docker engine at offset ", doc.GetErrorOffset(),
                     ": ", rapidjson::GetParseError_En(doc.GetParseError())));
  }
  return doc;
}

// StringOf returns the member `key` of `v` when it is a string, else `fallback`.
std::string StringOf(const rapidjson::Value& v, const char* key, absl::string_view fallback = "") {
  if (v.IsObject()) {
    auto it = v.FindMember(key);
    if (it != v.MemberEnd() && it->value.IsString()) {
      return std::string(it->value.GetString(), it->value.GetStringLength());
    }
  }
  return std::string(fallback);
}

// Int64Of returns the member `key` of `v` when it is an integer, else 0.
int64_t Int64Of(const rapidjson::Value& v, const char* key) {
  if (v.IsObject()) {
    auto it = v.FindMember(key);
    if (it != v.MemberEnd() && it->value.IsInt64()) {
      return it->value.GetInt64();
    }
  }
  return 0;
}

const rapidjson::Value* MemberOf(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject()) {
    return nullptr;
  }
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

// EngineError turns an error response into a status quoting the engine's message.
absl::Status EngineError(absl::string_view what, const HttpResult& result) {
  std::string message = result.body.substr(0, 512);
  absl::StatusOr<rapidjson::Document> json = ParseEngineJson(result.body);
  if (json.ok()) {
    message = StringOf(*json, "message", message);
  }
  message = std::string(absl::StripAsciiWhitespace(message));
  std::string text =
      absl::StrCat(what, ": the Docker engine answered ", result.status, ": ", message);
  switch (result.status) {
    case 400:
      return absl::InvalidArgumentError(text);
    case 401:
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(text);
    case 409:
      return absl::FailedPreconditionError(text);
    case 503:
      return absl::UnavailableError(text);
    default:
      return absl::InternalError(text);
  }
}

// PullError classifies what a registry said during a pull (the engine reports most pull
// failures as 500 or inside a 200 stream, so the words are all there is).
absl::Status PullError(absl::string_view image, absl::string_view message) {
  std::string text = absl::StrCat("pulling image ", image, " failed: ", message);
  std::string lower = absl::AsciiStrToLower(message);
  auto has = [&](absl::string_view word) { return absl::StrContains(lower, word); };
  if (has("not found") || has("manifest unknown") || has("does not exist") ||
      has("no such image")) {
    return absl::NotFoundError(
        absl::StrCat(text, " (check the image name and tag, or build the image locally)"));
  }
  if (has("unauthorized") || has("denied") || has("authentication required")) {
    return absl::PermissionDeniedError(
        absl::StrCat(text, " (the registry refused: log in to it with `docker login`)"));
  }
  if (has("connection refused") || has("no such host") || has("timeout") ||
      has("network is unreachable") || has("i/o timeout") || has("tls")) {
    return absl::UnavailableError(
        absl::StrCat(text, " (the registry cannot be reached from the engine)"));
  }
  return absl::UnavailableError(text);
}

bool HasNul(absl::string_view s) { return s.find('\0') != absl::string_view::npos; }

bool AllOf(absl::string_view s, absl::string_view allowed) {
  return s.find_first_not_of(allowed) == absl::string_view::npos;
}

constexpr absl::string_view kNameChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

Labels ReadLabels(const rapidjson::Value* labels) {
  Labels out;
  if (labels != nullptr && labels->IsObject()) {
    for (const auto& m : labels->GetObject()) {
      if (m.value.IsString()) {
        out[m.name.GetString()] = m.value.GetString();
      }
    }
  }
  return out;
}

void WriteString(JsonWriter& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteStringArray(JsonWriter& w, const std::vector<std::string>& items) {
  w.StartArray();
  for (const std::string& item : items) {
    WriteString(w, item);
  }
  w.EndArray();
}

// A reference split the way the Engine API's pull takes it: "registry:5000/name:tag" is
// {"registry:5000/name", "tag"}, "name@sha256:..." is {"name", "sha256:..."}, "name" is
// {"name", "latest"}.
struct ImageRef {
  std::string repository;
  std::string tag_or_digest;
  bool by_digest = false;
};

ImageRef SplitImageRef(absl::string_view image) {
  ImageRef ref;
  size_t at = image.find('@');
  if (at != absl::string_view::npos) {
    ref.repository = std::string(image.substr(0, at));
    ref.tag_or_digest = std::string(image.substr(at + 1));
    ref.by_digest = true;
    // "name:tag@digest": the digest decides; the tag is dropped.
    size_t slash = ref.repository.rfind('/');
    size_t colon = ref.repository.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
      ref.repository.resize(colon);
    }
    return ref;
  }
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != absl::string_view::npos && (slash == absl::string_view::npos || colon > slash)) {
    ref.repository = std::string(image.substr(0, colon));
    ref.tag_or_digest = std::string(image.substr(colon + 1));
  } else {
    ref.repository = std::string(image);
    ref.tag_or_digest = "latest";
  }
  return ref;
}

absl::Status ValidateImageRef(absl::string_view image) {
  if (image.empty()) {
    return absl::InvalidArgumentError(
        "DockerEngine runs containers: the spec needs an image (RunSpec::image)");
  }
  // Reference syntax: [registry[:port]/]name[:tag][@digest]; also keeps the REST path sane.
  if (!AllOf(image, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@") ||
      absl::StrContains(image, "..") || image.front() == '/' || image.back() == '/' ||
      image.back() == ':' || image.back() == '@') {
    return absl::InvalidArgumentError(absl::StrCat("'", image, "' is not a valid image reference"));
  }
  return absl::OkStatus();
}

}  // namespace

// Wakes the monitor thread: an eventfd shared by the engine and its containers (a container's
// Stop may come after the engine is gone; the descriptor lives as long as any user).
struct Waker {
  int fd = -1;
  ~Waker() {
    if (fd >= 0) {
      close(fd);
    }
  }
  void Wake() const {
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) < 0) {
      // The counter cannot overflow in practice; nothing to do.
    }
  }
  void Drain() const {
    uint64_t count = 0;
    if (read(fd, &count, sizeof(count)) < 0) {
      // Nothing to drain (EAGAIN): fine.
    }
  }
};

// What the engine and its containers share.
struct EngineConfig {
  DockerOptions options;
  DockerEndpoint endpoint;
  std::string prefix;  // "/v1.41"
  std::string api_version;
  std::string engine_api_version;
  std::string engine_version;

  absl::StatusOr<HttpResult> Call(absl::string_view method, absl::string_view path,
                                  absl::string_view body = "") const {
    return HttpRequest(endpoint, method, absl::StrCat(prefix, path), body, options.request_timeout,
                       options.max_response_bytes);
  }

  // GetJson GETs `path` and returns the body of a 200; errors name `what`.
  absl::StatusOr<std::string> GetJson(absl::string_view path, absl::string_view what) const {
    absl::StatusOr<HttpResult> r = Call("GET", path);
    if (!r.ok()) {
      return r.status();
    }
    if (r->status != 200) {
      return EngineError(what, *r);
    }
    return std::move(r->body);
  }
};

// One container. Shared by its Instance and the engine's monitor.
struct ContainerCore {
  ContainerCore(std::shared_ptr<const EngineConfig> c, std::shared_ptr<const Waker> w,
                std::string i, Labels l)
      : config(std::move(c)),
        waker(std::move(w)),
        id(std::move(i)),
        labels(std::move(l)),
        stderr_tail(std::make_shared<RingBuffer>(config->options.stderr_tail_bytes)),
        stream_end(std::make_shared<StreamEnd>()) {
    stream_end->on_mark = [waker = waker] { waker->Wake(); };
    stream_end->engine = config->endpoint.display;
  }

  // Stop: see Instance::Stop.
  void Stop(absl::Duration grace) {
    bool send_term = false;
    {
      absl::MutexLock lock(&mu);
      if (exit.has_value()) {
        return;
      }
      absl::Time at = grace <= absl::ZeroDuration() ? absl::InfinitePast() : absl::Now() + grace;
      if (at >= kill_at) {
        return;
      }
      kill_at = at;
      send_term = !stopping && grace > absl::ZeroDuration();
      stopping = true;
    }
    if (send_term) {
      // Quick: the engine forwards the signal and answers at once.
      absl::StatusOr<HttpResult> r =
          config->Call("POST", absl::StrCat("/containers/", id, "/kill?signal=SIGTERM"));
      // A container that ended meanwhile (404/409) is fine; the monitor reports the end.
      r.IgnoreError();
    }
    waker->Wake();
  }

  // ReadExit reads the wait response's body (the exit code); on the monitor thread.
  ExitStatus ReadExit() {
    ExitStatus status = ExitStatus::Exited(-1);
    // The headers were read before the start; the body arrives at the exit.
    HttpHead head;
    head.status = 200;
    head.headers.emplace_back("transfer-encoding", "chunked");
    absl::StatusOr<std::string> body =
        wait_conn->ReadBody(head, 64 << 10, absl::Now() + config->options.request_timeout);
    wait_conn.reset();
    absl::StatusOr<rapidjson::Document> json =
        body.ok() ? ParseEngineJson(*body) : absl::StatusOr<rapidjson::Document>(body.status());
    const rapidjson::Value* code = json.ok() ? MemberOf(*json, "StatusCode") : nullptr;
    stream_end->SetVerdict(/*lost=*/code == nullptr || !code->IsInt());
    if (code == nullptr || !code->IsInt()) {
      return status;  // engine lost: the status is unknown
    }
    int c = code->GetInt();
    bool signalled;
    {
      absl::MutexLock lock(&mu);
      signalled = stopping || kill_sent;
    }
    // The init process reports a child killed by signal N as 128 + N.
    return signalled && c > 128 && c < 128 + 65 ? ExitStatus::Killed(c - 128)
                                                : ExitStatus::Exited(c);
  }

  const std::shared_ptr<const EngineConfig> config;
  const std::shared_ptr<const Waker> waker;
  const std::string id;
  const Labels labels;
  const std::shared_ptr<RingBuffer> stderr_tail;
  const std::shared_ptr<StreamEnd> stream_end;

  // The monitor's alone once the container is registered.
  std::optional<HttpConnection> wait_conn;
  std::optional<ExitStatus> pending_exit;  // read, not yet reported (stderr still draining)
  absl::Time report_at = absl::InfiniteFuture();

  mutable absl::Mutex mu;
  std::unique_ptr<DockerStdioChannel> stdio ABSL_GUARDED_BY(mu);
  std::optional<ExitStatus> exit ABSL_GUARDED_BY(mu);
  std::vector<Instance::ExitCallback> callbacks ABSL_GUARDED_BY(mu);
  absl::Time kill_at ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool kill_sent ABSL_GUARDED_BY(mu) = false;
};

// The engine's state, shared with its monitor thread.
struct DockerEngineCore {
  std::shared_ptr<const EngineConfig> config;
  std::shared_ptr<Waker> waker;
  std::thread monitor;

  absl::Mutex mu;
  // The containers whose end is not yet reported.
  std::vector<std::shared_ptr<ContainerCore>> watched ABSL_GUARDED_BY(mu);
  bool shutting_down ABSL_GUARDED_BY(mu) = false;
  // Past this, containers whose end the engine never reported are given up on (shutdown).
  absl::Time give_up_at ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();

  void MonitorMain() noexcept;
};

namespace {

// Report sets the container's exit and runs its callbacks (on the monitor thread).
void Report(ContainerCore& c, ExitStatus status) {
  std::vector<Instance::ExitCallback> to_run;
  {
    absl::MutexLock lock(&c.mu);
    c.exit = status;
    to_run.swap(c.callbacks);
  }
  for (auto& callback : to_run) {
    std::move(callback)(status);
  }
}

}  // namespace

// One thread watches every container of the engine: it polls their wait connections (whose
// bodies arrive at the exits), sends the SIGKILL that ends a Stop's grace, waits (bounded) for
// each attach stream to deliver its last stderr bytes, and runs the OnExit callbacks.
void DockerEngineCore::MonitorMain() noexcept {
  while (true) {
    std::vector<std::shared_ptr<ContainerCore>> snapshot;
    bool shutdown;
    absl::Time give_up;
    {
      absl::MutexLock lock(&mu);
      snapshot = watched;
      shutdown = shutting_down;
      give_up = give_up_at;
    }
    if (shutdown && snapshot.empty()) {
      return;
    }
    absl::Time now = absl::Now();
    absl::Time next = shutdown ? give_up : absl::InfiniteFuture();
    std::vector<std::shared_ptr<ContainerCore>> done;
    std::vector<pollfd> fds;
    std::vector<ContainerCore*> polled;
    std::vector<ContainerCore*> readable;
    fds.push_back({.fd = waker->fd, .events = POLLIN, .revents = 0});
    bool ready_now = false;
    for (const std::shared_ptr<ContainerCore>& c : snapshot) {
      if (c->pending_exit.has_value()) {
        if (c->stream_end->marked || now >= c->report_at) {
          done.push_back(c);
        } else {
          next = std::min(next, c->report_at);
        }
        continue;
      }
      if (shutdown && now >= give_up) {
        // The engine never answered: report what is known (nothing) rather than hang.
        c->wait_conn.reset();
        c->stream_end->SetVerdict(/*lost=*/true);
        c->pending_exit = ExitStatus::Exited(-1);
        done.push_back(c);
        continue;
      }
      absl::Time kill_at;
      bool kill_sent;
      {
        absl::MutexLock lock(&c->mu);
        kill_at = c->kill_at;
        kill_sent = c->kill_sent;
      }
      if (!kill_sent && kill_at <= now) {
        {
          absl::MutexLock lock(&c->mu);
          c->kill_sent = true;
        }
        absl::StatusOr<HttpResult> r =
            config->Call("POST", absl::StrCat("/containers/", c->id, "/kill?signal=SIGKILL"));
        r.IgnoreError();  // gone already: the wait response tells
        ready_now = true;  // time has passed: look again before sleeping
      } else if (!kill_sent) {
        next = std::min(next, kill_at);
      }
      if (c->wait_conn->has_buffered()) {
        readable.push_back(c.get());  // the body came with the head
      } else {
        polled.push_back(c.get());
        fds.push_back({.fd = c->wait_conn->fd(), .events = POLLIN, .revents = 0});
      }
    }
    for (const std::shared_ptr<ContainerCore>& c : done) {
      Report(*c, *c->pending_exit);
      absl::MutexLock lock(&mu);
      watched.erase(std::remove(watched.begin(), watched.end(), c), watched.end());
    }
    if (!done.empty()) {
      continue;
    }
    int timeout_ms = -1;
    if (ready_now || !readable.empty()) {
      timeout_ms = 0;
    } else if (next != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(absl::ToInt64Milliseconds(next - absl::Now()) + 1, 0, 1 << 30));
    }
    int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) {
      // Cannot happen with valid descriptors; do not spin.
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      waker->Drain();
    }
    for (size_t i = 0; i < polled.size(); ++i) {
      if (fds[i + 1].revents != 0) {
        readable.push_back(polled[i]);
      }
    }
    for (ContainerCore* ended : readable) {
      ContainerCore& c = *ended;
      c.pending_exit = c.ReadExit();
      // stderr frames may still be in flight on the attach stream: report once it ended, or
      // after a bound (a stdio channel nobody started never drains).
      c.report_at = c.stream_end->started ? absl::Now() + kStreamDrainTimeout : absl::Now();
    }
  }
}

namespace {

class DockerInstance final : public Instance {
 public:
  explicit DockerInstance(std::shared_ptr<ContainerCore> core) : core_(std::move(core)) {}

  ~DockerInstance() override {
    bool running;
    {
      absl::MutexLock lock(&core_->mu);
      running = !core_->exit.has_value();
    }
    if (running) {
      core_->Stop(core_->config->options.destroy_grace);
    }
  }

  const std::string& id() const override { return core_->id; }

  base::ByteChannelPtr TakeStdio() override {
    absl::MutexLock lock(&core_->mu);
    return std::move(core_->stdio);
  }

  std::string StderrTail(size_t lines) const override {
    return core_->stderr_tail->LastLines(lines);
  }

  void OnExit(ExitCallback callback) override {
    std::optional<ExitStatus> status;
    {
      absl::MutexLock lock(&core_->mu);
      if (!core_->exit.has_value()) {
        core_->callbacks.push_back(std::move(callback));
        return;
      }
      status = core_->exit;
    }
    std::move(callback)(*status);
  }

  absl::StatusOr<ExitStatus> WaitForExit(absl::Duration timeout) override {
    absl::MutexLock lock(&core_->mu);
    auto ended = [this]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(core_->mu) { return core_->exit.has_value(); };
    if (!core_->mu.AwaitWithTimeout(absl::Condition(&ended), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat("container ", core_->id.substr(0, 12),
                                                      " still runs after ",
                                                      absl::FormatDuration(timeout)));
    }
    return *core_->exit;
  }

  void Stop(absl::Duration grace) override { core_->Stop(grace); }

 private:
  std::shared_ptr<ContainerCore> core_;
};

const absl::flat_hash_set<absl::string_view>& UlimitNames() {
  static const auto* names = new absl::flat_hash_set<absl::string_view>{
      "core",  "cpu",   "data",   "fsize",  "locks",  "memlock",    "msgqueue", "nice",
      "nofile", "nproc", "rss",   "rtprio", "rttime", "sigpending", "stack"};
  return *names;
}

absl::Status ValidateSpec(const RunSpec& spec) {
  absl::Status image = ValidateImageRef(spec.image);
  if (!image.ok()) {
    return image;
  }
  bool nul = HasNul(spec.command) || HasNul(spec.working_dir) || HasNul(spec.user);
  for (const auto& a : spec.args) {
    nul = nul || HasNul(a);
  }
  for (const auto& [k, v] : spec.env) {
    if (k.empty() || absl::StrContains(k, '=')) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable name '", k, "' is empty or contains '='"));
    }
    nul = nul || HasNul(k) || HasNul(v);
  }
  for (const auto& [k, v] : spec.labels) {
    nul = nul || HasNul(k) || HasNul(v);
  }
  for (const Mount& m : spec.mounts) {
    nul = nul || HasNul(m.source) || HasNul(m.target);
  }
  if (nul) {
    return absl::InvalidArgumentError("the spec contains a NUL byte");
  }
  if (!spec.working_dir.empty() && spec.working_dir.front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "the working directory of a container must be an absolute path, not '", spec.working_dir,
        "'"));
  }
  if (spec.network.empty() || !AllOf(spec.network, kNameChars)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", spec.network,
                     "' is not a network: use none, bridge, host or the name of an engine network"));
  }
  if (!std::isfinite(spec.cpus) || spec.cpus < 0 || spec.cpus > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("a CPU limit of ", spec.cpus, " cores is not valid (0 = no limit)"));
  }
  if (spec.memory_bytes < 0 || (spec.memory_bytes > 0 && spec.memory_bytes < kMinMemoryBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a memory limit of ", spec.memory_bytes,
                     " bytes is not valid: 0 (no limit) or at least 6 MiB"));
  }
  if (spec.pids_limit < 0) {
    return absl::InvalidArgumentError("the process limit cannot be negative (0 = the default)");
  }
  if (!spec.user.empty() && !AllOf(spec.user, absl::StrCat(kNameChars, ":"))) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", spec.user, "' is not a user: use uid, uid:gid or a name"));
  }
  for (const Ulimit& u : spec.ulimits) {
    if (!UlimitNames().contains(u.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", u.name, "' is not a resource limit (use nofile, nproc, core, ...)"));
    }
    if (u.soft < 0 || u.hard < 0 || u.soft > u.hard) {
      return absl::InvalidArgumentError(absl::StrCat("the ", u.name, " limit ", u.soft, ":",
                                                     u.hard, " is not valid (0 <= soft <= hard)"));
    }
  }
  for (const Mount& m : spec.mounts) {
    if (m.target.empty() || m.target.front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "a mount's target must be an absolute path in the container, not '", m.target, "'"));
    }
    switch (m.type) {
      case Mount::Type::kBind:
        if (m.source.empty() || m.source.front() != '/') {
          return absl::InvalidArgumentError(
              absl::StrCat("a bind mount's source must be an absolute path on the host, not '",
                           m.source, "' (mounted at ", m.target, ")"));
        }
        break;
      case Mount::Type::kVolume:
        if (m.source.empty() || !AllOf(m.source, kNameChars)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "'", m.source, "' is not a volume name (mounted at ", m.target, ")"));
        }
        break;
      case Mount::Type::kTmpfs:
        if (!m.source.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("a tmpfs mount has no source (mounted at ", m.target, ")"));
        }
        break;
    }
  }
  return absl::OkStatus();
}

std::string CreateBody(const RunSpec& spec) {
  std::vector<std::string> env;
  env.reserve(spec.env.size());
  for (const auto& [k, v] : spec.env) {
    env.push_back(absl::StrCat(k, "=", v));
  }
  std::sort(env.begin(), env.end());
  Labels all_labels = spec.labels;
  all_labels[kManagedLabel] = "true";
  std::vector<std::pair<std::string, std::string>> labels(all_labels.begin(), all_labels.end());
  std::sort(labels.begin(), labels.end());

  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("Image");
  WriteString(w, spec.image);
  // Stdin open for attach, closed for good when the attach stream's write side closes.
  for (const char* key : {"OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"}) {
    w.Key(key);
    w.Bool(true);
  }
  w.Key("Tty");
  w.Bool(false);
  w.Key("Labels");
  w.StartObject();
  for (const auto& [k, v] : labels) {
    WriteString(w, k);
    WriteString(w, v);
  }
  w.EndObject();
  w.Key("Env");
  WriteStringArray(w, env);
  if (!spec.args.empty()) {
    w.Key("Cmd");
    WriteStringArray(w, spec.args);
  }
  if (!spec.command.empty()) {
    w.Key("Entrypoint");
    WriteStringArray(w, {spec.command});
  }
  if (!spec.working_dir.empty()) {
    w.Key("WorkingDir");
    WriteString(w, spec.working_dir);
  }
  if (!spec.user.empty()) {
    w.Key("User");
    WriteString(w, spec.user);
  }
  w.Key("HostConfig");
  w.StartObject();
  w.Key("AutoRemove");
  w.Bool(true);
  w.Key("Init");
  w.Bool(true);
  w.Key("NetworkMode");
  WriteString(w, spec.network);
  w.Key("CapDrop");
  WriteStringArray(w, {"ALL"});
  w.Key("SecurityOpt");
  WriteStringArray(w, {"no-new-privileges"});
  w.Key("ReadonlyRootfs");
  w.Bool(spec.read_only_rootfs);
  if (spec.memory_bytes > 0) {
    w.Key("Memory");
    w.Int64(spec.memory_bytes);
    w.Key("MemorySwap");  // equal to Memory: no swap on top
    w.Int64(spec.memory_bytes);
  }
  if (spec.cpus > 0) {
    w.Key("NanoCpus");
    w.Int64(std::llround(spec.cpus * 1e9));
  }
  if (spec.pids_limit > 0) {
    w.Key("PidsLimit");
    w.Int64(spec.pids_limit);
  }
  if (!spec.ulimits.empty()) {
    w.Key("Ulimits");
    w.StartArray();
    for (const Ulimit& u : spec.ulimits) {
      w.StartObject();
      w.Key("Name");
      WriteString(w, u.name);
      w.Key("Soft");
      w.Int64(u.soft);
      w.Key("Hard");
      w.Int64(u.hard);
      w.EndObject();
    }
    w.EndArray();
  }
  if (!spec.mounts.empty()) {
    w.Key("Mounts");
    w.StartArray();
    for (const Mount& m : spec.mounts) {
      w.StartObject();
      w.Key("Type");
      w.String(m.type == Mount::Type::kBind     ? "bind"
               : m.type == Mount::Type::kVolume ? "volume"
                                                : "tmpfs");
      if (m.type != Mount::Type::kTmpfs) {
        w.Key("Source");
        WriteString(w, m.source);
      }
      w.Key("Target");
      WriteString(w, m.target);
      w.Key("ReadOnly");
      w.Bool(m.read_only);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// Tracks a pull's bytes over its layers.
class PullTally {
 public:
  // Add folds one progress event in and fills its totals.
  void Add(PullProgress& p) {
    if (!p.layer.empty()) {
      Layer& layer = layers_[p.layer];
      if (p.status == "Downloading" && p.total > 0) {
        layer.total = p.total;
        layer.done = std::min(p.current, p.total);
      } else if (p.status == "Download complete" || p.status == "Pull complete" ||
                 p.status == "Already exists") {
        layer.done = layer.total;
      }
    }
    p.downloaded = 0;
    p.to_download = 0;
    for (const auto& [id, layer] : layers_) {
      p.downloaded += layer.done;
      p.to_download += layer.total;
    }
  }

 private:
  struct Layer {
    int64_t done = 0;
    int64_t total = 0;
  };
  absl::flat_hash_map<std::string, Layer> layers_;
};

}  // namespace
}  // namespace internal

using internal::HttpConnection;
using internal::HttpHead;
using internal::HttpResult;

absl::StatusOr<std::unique_ptr<DockerEngine>> DockerEngine::Create(DockerOptions options) {
  if (options.host.empty()) {
    const char* env = getenv("DOCKER_HOST");
    options.host = env != nullptr && *env != '\0' ? env : "unix:///var/run/docker.sock";
  }
  absl::StatusOr<internal::DockerEndpoint> endpoint = internal::ParseDockerHost(options.host);
  if (!endpoint.ok()) {
    return endpoint.status();
  }
  auto config = std::make_shared<internal::EngineConfig>();
  config->options = std::move(options);
  config->endpoint = *std::move(endpoint);
  absl::StatusOr<HttpResult> ping = config->Call("GET", "/_ping");
  if (!ping.ok()) {
    return ping.status();
  }
  if (ping->status != 200) {
    return absl::UnavailableError(absl::StrCat("the Docker engine at ", config->endpoint.display,
                                               " answered /_ping with ", ping->status));
  }
  absl::StatusOr<HttpResult> version = config->Call("GET", "/version");
  if (!version.ok()) {
    return version.status();
  }
  if (version->status != 200) {
    return internal::EngineError("GET /version", *version);
  }
  absl::StatusOr<rapidjson::Document> json = internal::ParseEngineJson(version->body);
  if (!json.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "the server at ", config->endpoint.display,
        " answered GET /version with something that is not a Docker engine's version (",
        json.status().message(), "): does DOCKER_HOST point at a Docker engine?"));
  }
  config->engine_api_version = internal::StringOf(*json, "ApiVersion");
  config->engine_version = internal::StringOf(*json, "Version");
  auto engine = internal::ParseApiVersion(config->engine_api_version);
  auto max = internal::ParseApiVersion(kMaxApiVersion);
  auto min = internal::ParseApiVersion(kMinApiVersion);
  if (!engine.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the Docker engine at ", config->endpoint.display,
                     " reports no usable API version ('", config->engine_api_version, "')"));
  }
  if (*engine < *min) {
    return absl::FailedPreconditionError(
        absl::StrCat("the Docker engine at ", config->endpoint.display, " speaks API ",
                     config->engine_api_version, "; mcpgw needs at least ", kMinApiVersion,
                     " (Docker 20.10): upgrade the engine"));
  }
  config->api_version = *engine < *max ? config->engine_api_version : std::string(kMaxApiVersion);
  config->prefix = absl::StrCat("/v", config->api_version);

  auto core = std::make_shared<internal::DockerEngineCore>();
  core->config = std::move(config);
  core->waker = std::make_shared<internal::Waker>();
  core->waker->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (core->waker->fd < 0) {
    return absl::ErrnoToStatus(errno, "eventfd");
  }
  // The thread owns a reference: it may outlive the DockerEngine when destroyed from within.
  core->monitor = std::thread([core] { core->MonitorMain(); });
  return std::unique_ptr<DockerEngine>(new DockerEngine(std::move(core)));
}

DockerEngine::DockerEngine(std::shared_ptr<internal::DockerEngineCore> core)
    : core_(std::move(core)) {}

DockerEngine::~DockerEngine() {
  std::vector<std::shared_ptr<internal::ContainerCore>> all;
  {
    absl::MutexLock lock(&core_->mu);
    core_->shutting_down = true;
    core_->give_up_at = absl::Now() + core_->config->options.request_timeout;
    all = core_->watched;
  }
  for (auto& c : all) {
    c->Stop(absl::ZeroDuration());
  }
  core_->waker->Wake();
  if (core_->monitor.get_id() == std::this_thread::get_id()) {
    core_->monitor.detach();  // destroyed from an OnExit callback: it finishes on its own
  } else {
    core_->monitor.join();
  }
}

const std::string& DockerEngine::api_version() const { return core_->config->api_version; }

const std::string& DockerEngine::engine_version() const {
  return core_->config->engine_version;
}

const std::string& DockerEngine::engine_api_version() const {
  return core_->config->engine_api_version;
}

absl::StatusOr<std::string> DockerEngine::InspectImageJson(absl::string_view image) {
  absl::Status valid = internal::ValidateImageRef(image);
  if (!valid.ok()) {
    return valid;
  }
  absl::StatusOr<HttpResult> r = core_->config->Call(
      "GET", absl::StrCat("/images/", internal::UrlEscape(image, "/:@"), "/json"));
  if (!r.ok()) {
    return r.status();
  }
  if (r->status == 404) {
    return absl::NotFoundError(absl::StrCat("image ", image, " is not present locally"));
  }
  if (r->status != 200) {
    return internal::EngineError(absl::StrCat("inspecting image ", image), *r);
  }
  return std::move(r->body);
}

absl::Status DockerEngine::Pull(absl::string_view image, PullProgressCallback on_progress) {
  absl::Status valid = internal::ValidateImageRef(image);
  if (!valid.ok()) {
    return valid;
  }
  const internal::EngineConfig& config = *core_->config;
  internal::ImageRef ref = internal::SplitImageRef(image);
  absl::StatusOr<HttpConnection> conn =
      HttpConnection::Open(config.endpoint, config.options.request_timeout);
  if (!conn.ok()) {
    return conn.status();
  }
  absl::Time deadline = absl::Now() + config.options.request_timeout;
  absl::Status sent = conn->SendRequest(
      "POST",
      absl::StrCat(config.prefix, "/images/create?fromImage=", internal::UrlEscape(ref.repository),
                   "&tag=", internal::UrlEscape(ref.tag_or_digest)),
      "", false, deadline);
  if (!sent.ok()) {
    return sent;
  }
  // The head comes once the engine has resolved the reference with the registry.
  absl::StatusOr<HttpHead> head =
      conn->ReadHead(absl::Now() + config.options.pull_stall_timeout);
  if (!head.ok()) {
    return head.status();
  }
  if (head->status != 200) {
    absl::StatusOr<std::string> body = conn->ReadBody(*head, 64 << 10, deadline);
    HttpResult result{.status = head->status, .body = body.ok() ? *body : ""};
    absl::Status error = internal::EngineError(absl::StrCat("pulling image ", image), result);
    if (head->status == 404 || head->status == 500) {
      return internal::PullError(image, error.message());
    }
    return error;
  }
  // A stream of JSON messages, one per line: progress, or an error that ends the pull.
  internal::PullTally tally;
  std::string line;
  absl::Status failure;
  auto handle = [&](absl::string_view text) -> absl::Status {
    text = absl::StripAsciiWhitespace(text);
    if (text.empty()) {
      return absl::OkStatus();
    }
    absl::StatusOr<rapidjson::Document> event = internal::ParseEngineJson(text);
    if (!event.ok()) {
      return event.status();
    }
    std::string error = internal::StringOf(*event, "error");
    if (!error.empty()) {
      failure = internal::PullError(image, error);
      return failure;
    }
    PullProgress p;
    p.layer = internal::StringOf(*event, "id");
    p.status = internal::StringOf(*event, "status");
    if (const rapidjson::Value* detail = internal::MemberOf(*event, "progressDetail")) {
      p.current = internal::Int64Of(*detail, "current");
      p.total = internal::Int64Of(*detail, "total");
    }
    tally.Add(p);
    if (on_progress) {
      on_progress(p);
    }
    return absl::OkStatus();
  };
  absl::Status read = conn->ReadBodyTo(
      *head, [&] { return absl::Now() + config.options.pull_stall_timeout; },
      [&](absl::string_view piece) -> absl::Status {
        line.append(piece.data(), piece.size());
        size_t start = 0;
        for (size_t nl = line.find('\n'); nl != std::string::npos; nl = line.find('\n', start)) {
          absl::Status handled = handle(absl::string_view(line).substr(start, nl - start));
          if (!handled.ok()) {
            return handled;
          }
          start = nl + 1;
        }
        line.erase(0, start);
        if (line.size() > (size_t{1} << 20)) {
          return absl::DataLossError("the Docker engine sent a pull progress line over 1 MiB");
        }
        return absl::OkStatus();
      });
  if (!failure.ok()) {
    return failure;
  }
  if (!read.ok()) {
    if (absl::IsDeadlineExceeded(read)) {
      return absl::DeadlineExceededError(
          absl::StrCat("pulling image ", image, " stalled: no progress for ",
                       absl::FormatDuration(config.options.pull_stall_timeout)));
    }
    return read;
  }
  return handle(line);
}

absl::StatusOr<Prepared> DockerEngine::Prepare(const RunSpec& spec,
                                                PullProgressCallback on_progress) {
  Prepared out;
  absl::StatusOr<std::string> inspected = InspectImageJson(spec.image);
  if (absl::IsNotFound(inspected.status())) {
    absl::Status pulled = Pull(spec.image, std::move(on_progress));
    if (!pulled.ok()) {
      return pulled;
    }
    out.pulled = true;
    inspected = InspectImageJson(spec.image);
  }
  if (!inspected.ok()) {
    return inspected.status();
  }
  absl::StatusOr<rapidjson::Document> json = internal::ParseEngineJson(*inspected);
  if (!json.ok()) {
    return json.status();
  }
  out.image_id = internal::StringOf(*json, "Id");
  // The repository digest of the reference's own repository when the image has one (it was
  // pulled or pushed), else the local id: both name the content.
  internal::ImageRef ref = internal::SplitImageRef(spec.image);
  const rapidjson::Value* digests = internal::MemberOf(*json, "RepoDigests");
  if (digests != nullptr && digests->IsArray()) {
    for (const rapidjson::Value& d : digests->GetArray()) {
      if (!d.IsString()) {
        continue;
      }
      absl::string_view digest(d.GetString(), d.GetStringLength());
      absl::string_view repo = digest.substr(0, digest.find('@'));
      bool same_repo = repo == ref.repository ||
                       absl::EndsWith(repo, absl::StrCat("/", ref.repository));
      if (same_repo || out.digest.empty()) {
        out.digest = std::string(digest);
      }
      if (same_repo) {
        break;
      }
    }
  }
  if (out.digest.empty()) {
    out.digest = out.image_id;
  }
  return out;
}

absl::StatusOr<InstancePtr> DockerEngine::Run(const RunSpec& spec) {
  absl::Status valid = internal::ValidateSpec(spec);
  if (!valid.ok()) {
    return valid;
  }
  {
    absl::MutexLock lock(&core_->mu);
    if (core_->shutting_down) {
      return absl::FailedPreconditionError(
          "the Docker engine client is shutting down: no container can be started");
    }
  }
  const std::shared_ptr<const internal::EngineConfig>& config = core_->config;
  const absl::Duration timeout = config->options.request_timeout;

  absl::StatusOr<std::string> image = InspectImageJson(spec.image);
  if (absl::IsNotFound(image.status())) {
    return absl::NotFoundError(
        absl::StrCat("image ", spec.image,
                     " is not present locally: prepare it first (Runtime::Prepare pulls it), "
                     "or pull or build it with docker"));
  }
  if (!image.ok()) {
    return image.status();
  }

  absl::StatusOr<HttpResult> created =
      config->Call("POST", "/containers/create", internal::CreateBody(spec));
  if (!created.ok()) {
    return created.status();
  }
  if (created->status != 201) {
    return internal::EngineError(absl::StrCat("creating a container of ", spec.image), *created);
  }
  absl::StatusOr<rapidjson::Document> created_json = internal::ParseEngineJson(created->body);
  if (!created_json.ok()) {
    return created_json.status();
  }
  std::string id = internal::StringOf(*created_json, "Id");
  if (id.empty() || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return absl::InternalError("the Docker engine created a container without a valid Id");
  }
  auto remove = [&] {
    absl::StatusOr<HttpResult> r =
        config->Call("DELETE", absl::StrCat("/containers/", id, "?force=1"));
    r.IgnoreError();  // best effort: the container never ran
  };

  auto container =
      std::make_shared<internal::ContainerCore>(config, core_->waker, id, spec.labels);
  // The wait, registered (its headers answered) before the start so the exit cannot be missed.
  absl::Status step = [&]() -> absl::Status {
    absl::Time deadline = absl::Now() + timeout;
    absl::StatusOr<HttpConnection> wait = HttpConnection::Open(config->endpoint, timeout);
    if (!wait.ok()) {
      return wait.status();
    }
    absl::Status sent = wait->SendRequest(
        "POST", absl::StrCat(config->prefix, "/containers/", id, "/wait?condition=next-exit"), "",
        false, deadline);
    if (!sent.ok()) {
      return sent;
    }
    absl::StatusOr<HttpHead> head = wait->ReadHead(deadline);
    if (!head.ok()) {
      return head.status();
    }
    if (head->status != 200) {
      absl::StatusOr<std::string> body = wait->ReadBody(*head, 64 << 10, deadline);
      return internal::EngineError(
          "waiting for the container",
          HttpResult{.status = head->status, .body = body.ok() ? *body : ""});
    }
    container->wait_conn.emplace(*std::move(wait));

    absl::StatusOr<HttpConnection> attach = HttpConnection::Open(config->endpoint, timeout);
    if (!attach.ok()) {
      return attach.status();
    }
    sent = attach->SendRequest("POST",
                               absl::StrCat(config->prefix, "/containers/", id,
                                            "/attach?stream=1&stdin=1&stdout=1&stderr=1"),
                               "", true, deadline);
    if (!sent.ok()) {
      return sent;
    }
    head = attach->ReadHead(deadline);
    if (!head.ok()) {
      return head.status();
    }
    if (head->status != 101 && head->status != 200) {
      absl::StatusOr<std::string> body = attach->ReadBody(*head, 64 << 10, deadline);
      return internal::EngineError(
          "attaching to the container",
          HttpResult{.status = head->status, .body = body.ok() ? *body : ""});
    }
    std::string buffered;
    int fd = attach->Release(&buffered);
    absl::StatusOr<std::unique_ptr<internal::DockerStdioChannel>> channel =
        internal::DockerStdioChannel::Create(fd, std::move(buffered), container->stderr_tail,
                                             container->stream_end);
    if (!channel.ok()) {
      return channel.status();
    }
    {
      absl::MutexLock lock(&container->mu);
      container->stdio = *std::move(channel);
    }

    absl::StatusOr<HttpResult> started =
        config->Call("POST", absl::StrCat("/containers/", id, "/start"));
    if (!started.ok()) {
      return started.status();
    }
    if (started->status != 204 && started->status != 304) {
      return internal::EngineError(absl::StrCat("starting a container of ", spec.image), *started);
    }
    return absl::OkStatus();
  }();
  if (!step.ok()) {
    remove();
    return step;
  }
  {
    absl::MutexLock lock(&core_->mu);
    core_->watched.push_back(container);
  }
  core_->waker->Wake();
  return std::make_unique<internal::DockerInstance>(std::move(container));
}

absl::StatusOr<std::vector<InstanceInfo>> DockerEngine::List(const Labels& selector) {
  std::vector<std::string> filters;
  for (const auto& [k, v] : selector) {
    filters.push_back(absl::StrCat(k, "=", v));
  }
  if (filters.empty()) {
    filters.push_back(absl::StrCat(internal::kManagedLabel, "=true"));
  }
  std::sort(filters.begin(), filters.end());
  rapidjson::StringBuffer buffer;
  internal::JsonWriter w(buffer);
  w.StartObject();
  w.Key("label");
  internal::WriteStringArray(w, filters);
  w.EndObject();
  absl::StatusOr<HttpResult> listed = core_->config->Call(
      "GET", absl::StrCat("/containers/json?all=1&filters=",
                          internal::UrlEscape(absl::string_view(buffer.GetString(),
                                                                buffer.GetSize()))));
  if (!listed.ok()) {
    return listed.status();
  }
  if (listed->status != 200) {
    return internal::EngineError("listing containers", *listed);
  }
  absl::StatusOr<rapidjson::Document> json = internal::ParseEngineJson(listed->body);
  if (!json.ok()) {
    return json.status();
  }
  if (!json->IsArray()) {
    return absl::InternalError("the Docker engine listed containers as something else than a list");
  }
  std::vector<InstanceInfo> out;
  for (const rapidjson::Value& c : json->GetArray()) {
    InstanceInfo info;
    info.id = internal::StringOf(c, "Id");
    info.labels = internal::ReadLabels(internal::MemberOf(c, "Labels"));
    std::string state = internal::StringOf(c, "State");
    if (state == "exited" || state == "dead") {
      // Status reads "Exited (137) 5 seconds ago".
      std::string status_text = internal::StringOf(c, "Status");
      absl::string_view status = status_text;
      int code = -1;
      if (absl::ConsumePrefix(&status, "Exited (")) {
        size_t close_paren = status.find(')');
        if (close_paren == absl::string_view::npos ||
            !absl::SimpleAtoi(status.substr(0, close_paren), &code)) {
          code = -1;
        }
      }
      info.exit_status = ExitStatus::Exited(code);
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status DockerEngine::Remove(absl::string_view id) {
  if (id.empty() || !internal::AllOf(id, internal::kNameChars)) {
    return absl::InvalidArgumentError(absl::StrCat("'", id, "' is not a container id"));
  }
  absl::StatusOr<HttpResult> r =
      core_->config->Call("DELETE", absl::StrCat("/containers/", id, "?force=1"));
  if (!r.ok()) {
    return r.status();
  }
  if (r->status == 204 || r->status == 200) {
    return absl::OkStatus();
  }
  if (r->status == 409) {
    // Being removed already (AutoRemove after the kill): the end is near.
    return absl::OkStatus();
  }
  return internal::EngineError(absl::StrCat("removing container ", id), *r);
}

absl::StatusOr<std::string> DockerEngine::InspectJson(absl::string_view id) {
  return core_->config->GetJson(absl::StrCat("/containers/", internal::UrlEscape(id), "/json"),
                                absl::StrCat("inspecting container ", id));
}

absl::StatusOr<std::string> DockerEngine::StatsJson(absl::string_view id) {
  return core_->config->GetJson(
      absl::StrCat("/containers/", internal::UrlEscape(id), "/stats?stream=false"),
      absl::StrCat("reading the resource use of container ", id));
}

}  // namespace mcpgw::container
