#include "mcpgw/container/docker_engine.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "docker_http.h"
#include "docker_json.h"
#include "docker_stream.h"
#include "mcpgw/container/ring_buffer.h"

namespace mcpgw::container {
namespace internal {
namespace {

constexpr absl::string_view kManagedLabel = "io.mcpgw.managed";
// How long the exit report waits for the attach stream to deliver its last frames.
constexpr absl::Duration kStreamDrainTimeout = absl::Seconds(2);

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

// EngineError turns an error response into a status quoting the engine's message.
absl::Status EngineError(absl::string_view what, const HttpResult& result) {
  std::string message = result.body.substr(0, 512);
  absl::StatusOr<JsonValue> json = ParseJson(result.body);
  if (json.ok()) {
    message = json->StringOr("message", message);
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

bool HasNul(absl::string_view s) { return s.find('\0') != absl::string_view::npos; }

std::string JsonStringArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonQuote(items[i]));
  }
  out += "]";
  return out;
}

Labels ReadLabels(const JsonValue* labels) {
  Labels out;
  if (labels != nullptr && labels->type == JsonValue::Type::kObject) {
    for (const auto& [k, v] : labels->object) {
      if (v.type == JsonValue::Type::kString) {
        out[k] = v.string;
      }
    }
  }
  return out;
}

}  // namespace

// What the engine and its containers share.
struct EngineConfig {
  DockerOptions options;
  DockerEndpoint endpoint;
  std::string prefix;  // "/v1.41"
  std::string api_version;
  std::string engine_api_version;

  absl::StatusOr<HttpResult> Call(absl::string_view method, absl::string_view path,
                                  absl::string_view body = "") const {
    return HttpRequest(endpoint, method, absl::StrCat(prefix, path), body, options.request_timeout,
                       options.max_response_bytes);
  }
};

// One container. Shared by its Instance, the engine, and its waiter thread.
struct ContainerCore {
  ContainerCore(std::shared_ptr<const EngineConfig> c, std::string i, Labels l)
      : config(std::move(c)),
        id(std::move(i)),
        labels(std::move(l)),
        stderr_tail(std::make_shared<RingBuffer>(config->options.stderr_tail_bytes)),
        stream_end(std::make_shared<StreamEnd>()) {}

  ~ContainerCore() {
    if (wake_fd >= 0) {
      close(wake_fd);
    }
  }

  void Wake() {
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof(one)) < 0) {
      // The counter cannot overflow in practice; nothing to do.
    }
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
      // A container that ended meanwhile (404/409) is fine; the waiter reports the end.
      r.IgnoreError();
    }
    Wake();
  }

  void WaiterMain() noexcept;

  const std::shared_ptr<const EngineConfig> config;
  const std::string id;
  const Labels labels;
  const std::shared_ptr<RingBuffer> stderr_tail;
  const std::shared_ptr<StreamEnd> stream_end;
  int wake_fd = -1;
  std::optional<HttpConnection> wait_conn;  // the waiter thread's once started
  std::thread waiter;
  std::atomic<bool> waiter_done{false};

  mutable absl::Mutex mu;
  std::unique_ptr<DockerStdioChannel> stdio ABSL_GUARDED_BY(mu);
  std::optional<ExitStatus> exit ABSL_GUARDED_BY(mu);
  std::vector<Instance::ExitCallback> callbacks ABSL_GUARDED_BY(mu);
  absl::Time kill_at ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool kill_sent ABSL_GUARDED_BY(mu) = false;
};

void ContainerCore::WaiterMain() noexcept {
  HttpConnection& conn = *wait_conn;
  while (!conn.has_buffered()) {
    absl::Time at;
    {
      absl::MutexLock lock(&mu);
      at = kill_sent ? absl::InfiniteFuture() : kill_at;
    }
    if (at != absl::InfiniteFuture() && absl::Now() >= at) {
      {
        absl::MutexLock lock(&mu);
        kill_sent = true;
      }
      absl::StatusOr<HttpResult> r =
          config->Call("POST", absl::StrCat("/containers/", id, "/kill?signal=SIGKILL"));
      r.IgnoreError();  // gone already: the wait response tells
      continue;
    }
    int timeout_ms = -1;
    if (at != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(absl::ToInt64Milliseconds(at - absl::Now()) + 1, 0, 1 << 30));
    }
    pollfd fds[2] = {{.fd = conn.fd(), .events = POLLIN, .revents = 0},
                     {.fd = wake_fd, .events = POLLIN, .revents = 0}};
    int n = poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) {
      break;
    }
    if (n > 0 && (fds[1].revents & POLLIN) != 0) {
      uint64_t count = 0;
      if (read(wake_fd, &count, sizeof(count)) < 0) {
        // Nothing to do: the loop re-reads the state.
      }
    }
    if (n > 0 && fds[0].revents != 0) {
      break;
    }
  }
  ExitStatus status = ExitStatus::Exited(-1);
  // The headers were read before the start; the body arrives at the exit.
  HttpHead head;
  head.status = 200;
  head.headers.emplace_back("transfer-encoding", "chunked");
  absl::StatusOr<std::string> body =
      conn.ReadBody(head, 64 << 10, absl::Now() + config->options.request_timeout);
  if (body.ok()) {
    absl::StatusOr<JsonValue> json = ParseJson(*body);
    const JsonValue* code = json.ok() ? json->Find("StatusCode") : nullptr;
    if (code != nullptr && code->type == JsonValue::Type::kNumber) {
      int c = static_cast<int>(code->number);
      bool signalled;
      {
        absl::MutexLock lock(&mu);
        signalled = stopping || kill_sent;
      }
      // The init process reports a child killed by signal N as 128 + N.
      status = signalled && c > 128 && c < 128 + 65 ? ExitStatus::Killed(c - 128)
                                                    : ExitStatus::Exited(c);
    }
  }
  wait_conn.reset();
  if (stream_end->started) {
    stream_end->done.WaitForNotificationWithTimeout(kStreamDrainTimeout);
  }
  std::vector<Instance::ExitCallback> to_run;
  {
    absl::MutexLock lock(&mu);
    exit = status;
    to_run.swap(callbacks);
  }
  for (auto& callback : to_run) {
    std::move(callback)(status);
  }
  waiter_done = true;
}

struct DockerEngineCore {
  std::shared_ptr<const EngineConfig> config;
  absl::Mutex mu;
  std::vector<std::shared_ptr<ContainerCore>> containers ABSL_GUARDED_BY(mu);

  // Joins the waiters that have finished.
  void Prune() {
    std::vector<std::shared_ptr<ContainerCore>> done;
    {
      absl::MutexLock lock(&mu);
      auto it = std::partition(containers.begin(), containers.end(),
                               [](const auto& c) { return !c->waiter_done.load(); });
      done.assign(it, containers.end());
      containers.erase(it, containers.end());
    }
    for (auto& c : done) {
      if (c->waiter.joinable()) {
        c->waiter.join();
      }
    }
  }
};

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

absl::Status ValidateSpec(const RunSpec& spec) {
  if (spec.image.empty()) {
    return absl::InvalidArgumentError(
        "DockerEngine runs containers: the spec needs an image (RunSpec::image)");
  }
  // Reference syntax: [registry[:port]/]name[:tag][@digest]; also keeps the REST path sane.
  if (spec.image.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789._-/:@") != std::string::npos ||
      absl::StrContains(spec.image, "..") || spec.image.front() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("'", spec.image, "' is not a valid image reference"));
  }
  bool nul = HasNul(spec.image) || HasNul(spec.command) || HasNul(spec.working_dir);
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
  if (nul) {
    return absl::InvalidArgumentError("the spec contains a NUL byte");
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
  std::string label_json = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&label_json, i == 0 ? "" : ",", JsonQuote(labels[i].first), ":",
                    JsonQuote(labels[i].second));
  }
  label_json += "}";
  std::string body = absl::StrCat(
      "{\"Image\":", JsonQuote(spec.image),
      ",\"OpenStdin\":true,\"StdinOnce\":true,\"AttachStdin\":true,\"AttachStdout\":true,"
      "\"AttachStderr\":true,\"Tty\":false,\"Labels\":",
      label_json, ",\"Env\":", JsonStringArray(env));
  if (!spec.args.empty()) {
    absl::StrAppend(&body, ",\"Cmd\":", JsonStringArray(spec.args));
  }
  if (!spec.command.empty()) {
    absl::StrAppend(&body, ",\"Entrypoint\":", JsonStringArray({spec.command}));
  }
  if (!spec.working_dir.empty()) {
    absl::StrAppend(&body, ",\"WorkingDir\":", JsonQuote(spec.working_dir));
  }
  absl::StrAppend(&body,
                  ",\"HostConfig\":{\"AutoRemove\":true,\"NetworkMode\":\"none\","
                  "\"CapDrop\":[\"ALL\"],\"SecurityOpt\":[\"no-new-privileges\"],"
                  "\"Init\":true}}");
  return body;
}

}  // namespace
}  // namespace internal

using internal::HttpConnection;
using internal::HttpHead;
using internal::HttpResult;
using internal::JsonValue;

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
  absl::StatusOr<JsonValue> json = internal::ParseJson(version->body);
  if (!json.ok()) {
    return json.status();
  }
  config->engine_api_version = json->StringOr("ApiVersion");
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
  return std::unique_ptr<DockerEngine>(new DockerEngine(std::move(core)));
}

DockerEngine::DockerEngine(std::shared_ptr<internal::DockerEngineCore> core)
    : core_(std::move(core)) {}

DockerEngine::~DockerEngine() {
  std::vector<std::shared_ptr<internal::ContainerCore>> all;
  {
    absl::MutexLock lock(&core_->mu);
    all.swap(core_->containers);
  }
  for (auto& c : all) {
    c->Stop(absl::ZeroDuration());
  }
  for (auto& c : all) {
    if (!c->waiter.joinable()) {
      continue;
    }
    if (c->waiter.get_id() == std::this_thread::get_id()) {
      c->waiter.detach();  // destroyed from its own OnExit callback: it finishes on its own
    } else {
      c->waiter.join();
    }
  }
}

const std::string& DockerEngine::api_version() const { return core_->config->api_version; }

const std::string& DockerEngine::engine_api_version() const {
  return core_->config->engine_api_version;
}

absl::StatusOr<InstancePtr> DockerEngine::Run(const RunSpec& spec) {
  core_->Prune();
  absl::Status valid = internal::ValidateSpec(spec);
  if (!valid.ok()) {
    return valid;
  }
  const std::shared_ptr<const internal::EngineConfig>& config = core_->config;
  const absl::Duration timeout = config->options.request_timeout;

  absl::StatusOr<HttpResult> image = config->Call(
      "GET", absl::StrCat("/images/", internal::UrlEscape(spec.image, "/:@"), "/json"));
  if (!image.ok()) {
    return image.status();
  }
  if (image->status == 404) {
    return absl::NotFoundError(absl::StrCat("image ", spec.image,
                                            " not found locally (pulling is not supported yet: "
                                            "pull or build it first)"));
  }
  if (image->status != 200) {
    return internal::EngineError(absl::StrCat("inspecting image ", spec.image), *image);
  }

  absl::StatusOr<HttpResult> created =
      config->Call("POST", "/containers/create", internal::CreateBody(spec));
  if (!created.ok()) {
    return created.status();
  }
  if (created->status != 201) {
    return internal::EngineError(absl::StrCat("creating a container of ", spec.image), *created);
  }
  absl::StatusOr<JsonValue> created_json = internal::ParseJson(created->body);
  if (!created_json.ok()) {
    return created_json.status();
  }
  std::string id = created_json->StringOr("Id");
  if (id.empty() || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return absl::InternalError("the Docker engine created a container without a valid Id");
  }
  auto remove = [&] {
    absl::StatusOr<HttpResult> r =
        config->Call("DELETE", absl::StrCat("/containers/", id, "?force=1"));
    r.IgnoreError();  // best effort: the container never ran
  };

  auto container = std::make_shared<internal::ContainerCore>(config, id, spec.labels);
  container->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (container->wake_fd < 0) {
    remove();
    return absl::ErrnoToStatus(errno, "eventfd");
  }
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
  container->waiter = std::thread([container] { container->WaiterMain(); });
  {
    absl::MutexLock lock(&core_->mu);
    core_->containers.push_back(container);
  }
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
  std::string filter_json = absl::StrCat("{\"label\":", internal::JsonStringArray(filters), "}");
  absl::StatusOr<HttpResult> listed = core_->config->Call(
      "GET", absl::StrCat("/containers/json?all=1&filters=", internal::UrlEscape(filter_json)));
  if (!listed.ok()) {
    return listed.status();
  }
  if (listed->status != 200) {
    return internal::EngineError("listing containers", *listed);
  }
  absl::StatusOr<JsonValue> json = internal::ParseJson(listed->body);
  if (!json.ok()) {
    return json.status();
  }
  std::vector<InstanceInfo> out;
  for (const JsonValue& c : json->array) {
    InstanceInfo info;
    info.id = c.StringOr("Id");
    info.labels = internal::ReadLabels(c.Find("Labels"));
    std::string state = c.StringOr("State");
    if (state == "exited" || state == "dead") {
      // Status reads "Exited (137) 5 seconds ago".
      std::string status_text = c.StringOr("Status");
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

absl::StatusOr<std::string> DockerEngine::InspectJson(absl::string_view id) {
  absl::StatusOr<HttpResult> r =
      core_->config->Call("GET", absl::StrCat("/containers/", internal::UrlEscape(id), "/json"));
  if (!r.ok()) {
    return r.status();
  }
  if (r->status != 200) {
    return internal::EngineError(absl::StrCat("inspecting container ", id), *r);
  }
  return std::move(r->body);
}

}  // namespace mcpgw::container
