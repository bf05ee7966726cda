// DockerEngine against a fake Docker engine: a small HTTP/1.1 server on a unix socket that
// records every request and answers from a table of canned responses modelled on what dockerd
// sends (Content-Length for small bodies, chunked for large or streamed ones, 204 with no body,
// the 101 UPGRADED of an attach). Unlike docker_engine_test.cc these tests need no engine, so
// they always run, and they can do what a real engine will not do on demand: hold the wait
// response open until the test decides the exit code, feed frames into the attach stream, and
// die in the middle of a run.
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/docker_engine.h"
#include "rapidjson/document.h"
#include "testing/status_matchers.h"

namespace mcpgw::container {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// =============================================================================================
// The fake engine
// =============================================================================================

// A request as the fake received it.
struct RecordedRequest {
  std::string method;
  std::string target;  // as sent, query included: "/v1.43/containers/abc/wait?condition=next-exit"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  absl::Time at;  // when it was complete

  std::string path() const { return target.substr(0, target.find('?')); }
  std::string query() const {
    size_t q = target.find('?');
    return q == std::string::npos ? "" : target.substr(q + 1);
  }
  std::string Header(absl::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) {
        return value;
      }
    }
    return "";
  }
  // "POST /containers/create" with the version prefix removed, for readable sequence checks.
  std::string Summary() const {
    absl::string_view p = target;
    p = p.substr(0, p.find('?'));
    if (absl::StartsWith(p, "/v")) {
      size_t slash = p.find('/', 1);
      if (slash != absl::string_view::npos) {
        p.remove_prefix(slash);
      }
    }
    return absl::StrCat(method, " ", p);
  }
};

// What the fake answers to a (method, path pattern).
struct CannedResponse {
  enum class Kind {
    kComplete,  // the whole response at once
    kHold,      // headers (chunked) at once, the body when the test says (FakeConnection)
    kUpgrade,   // 101 UPGRADED, then a raw stream driven by the test; `body` follows the head
  };
  enum class Framing { kContentLength, kChunked, kNone };

  int status = 200;
  std::string reason;  // empty: the usual phrase
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Framing framing = Framing::kContentLength;
  Kind kind = Kind::kComplete;
};

// Small bodies: Go's net/http sets Content-Length when the handler's whole output fits its
// buffer (2 KiB); the engine's JSON encoder ends the text with a newline.
CannedResponse Json(int status, absl::string_view json) {
  return {.status = status,
          .headers = {{"Content-Type", "application/json"}},
          .body = absl::StrCat(json, "\n")};
}
// Larger bodies (image inspect, container lists) come chunked.
CannedResponse JsonChunked(int status, absl::string_view json) {
  CannedResponse r = Json(status, json);
  r.framing = CannedResponse::Framing::kChunked;
  return r;
}
// The engine's error body.
CannedResponse EngineError(int status, absl::string_view message) {
  return Json(status, absl::StrCat(R"({"message":")", message, R"("})"));
}
CannedResponse NoContent() { return {.status = 204, .framing = CannedResponse::Framing::kNone}; }

std::string VersionJson(absl::string_view api_version) {
  // The engine release that introduced each API version, for realism only.
  absl::string_view release = "24.0.7";
  if (api_version == "1.45") {
    release = "26.1.4";
  } else if (api_version == "1.41") {
    release = "20.10.24+dfsg1";
  } else if (api_version == "1.40") {
    release = "19.03.15";
  }
  // As dockerd 24 answers GET /version (the nested Details repeat the versions).
  return absl::StrCat(
      R"({"Platform":{"Name":"Docker Engine - Community"},"Components":[{"Name":"Engine",)",
      R"("Version":")", release, R"(","Details":{"ApiVersion":")", api_version,
      R"(","Arch":"amd64","BuildTime":"2023-10-26T09:07:41.000000000+00:00",)",
      R"("Experimental":"false","GitCommit":"311b9ff","GoVersion":"go1.20.10",)",
      R"("KernelVersion":"6.1.0-13-amd64","MinAPIVersion":"1.12","Os":"linux"}},)",
      R"({"Name":"containerd","Version":"1.6.24","Details":{"GitCommit":"61f9fd88"}}],)",
      R"("Version":")", release, R"(","ApiVersion":")", api_version,
      R"(","MinAPIVersion":"1.12","GitCommit":"311b9ff","GoVersion":"go1.20.10",)",
      R"("Os":"linux","Arch":"amd64","KernelVersion":"6.1.0-13-amd64",)",
      R"("BuildTime":"2023-10-26T09:07:41.000000000+00:00"})");
}

constexpr absl::string_view kContainerId =
    "4d3c5a1f9e2b7c6d8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f";

std::string Chunked(absl::string_view body) {
  std::string out;
  // Several chunks, so the client's chunk reassembly is exercised too.
  constexpr size_t kChunk = 1000;
  for (size_t i = 0; i < body.size(); i += kChunk) {
    absl::string_view piece = body.substr(i, kChunk);
    absl::StrAppend(&out, absl::Hex(piece.size()), "\r\n", piece, "\r\n");
  }
  out += "0\r\n\r\n";
  return out;
}

// One frame of the attach stream: [stream, 0, 0, 0, size (big-endian u32)] then the payload.
std::string Frame(int stream, absl::string_view payload) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(stream);
  auto n = static_cast<uint32_t>(payload.size());
  out[4] = static_cast<char>(n >> 24);
  out[5] = static_cast<char>(n >> 16);
  out[6] = static_cast<char>(n >> 8);
  out[7] = static_cast<char>(n);
  return absl::StrCat(out, payload);
}

// ApiMinor reads the minor API version of a target "/v1.43/...": 43; 0 without a prefix.
int ApiMinor(absl::string_view target) {
  int minor = 0;
  if (!absl::ConsumePrefix(&target, "/v1.") ||
      !absl::SimpleAtoi(target.substr(0, target.find('/')), &minor)) {
    return 0;
  }
  return minor;
}

// Glob matches `s` against `pattern`, where '*' matches any run of characters ('/' included,
// so "/v*/images/*/json" matches an image reference like "library/alpine:3").
bool Glob(absl::string_view pattern, absl::string_view s) {
  size_t p = 0;
  size_t i = 0;
  size_t star = absl::string_view::npos;
  size_t mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pattern.size() && pattern[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

// One accepted connection. Its socket belongs to the connection's thread; a test reaches a
// held or upgraded connection through this object, which queues bytes for that thread to write
// (so the test never blocks on a client that does not read) and records what the client writes
// after the upgrade. Thread-safe.
class FakeConnection {
 public:
  FakeConnection(int fd, int wake_fd) : fd_(fd), wake_fd_(wake_fd) {}
  FakeConnection(const FakeConnection&) = delete;
  FakeConnection& operator=(const FakeConnection&) = delete;

  // The request that made this a held or upgraded connection.
  const RecordedRequest& request() const { return request_; }

  // Send writes `bytes` after whatever was queued before.
  void Send(absl::string_view bytes) {
    absl::MutexLock lock(&mu_);
    outbox_.append(bytes.data(), bytes.size());
    WakeLocked();
  }
  // SendFrame writes one attach-stream frame (1 = stdout, 2 = stderr).
  void SendFrame(int stream, absl::string_view payload) { Send(Frame(stream, payload)); }
  // FinishChunked ends a held response: `body` as chunks, the last chunk, then the socket is
  // closed (the engine answers the wait with one JSON text when the container exits).
  void FinishChunked(absl::string_view body) {
    absl::MutexLock lock(&mu_);
    outbox_ += Chunked(body);
    close_after_flush_ = true;
    WakeLocked();
  }
  // Close closes the socket once what was queued is written (the container's streams ended).
  void Close() {
    absl::MutexLock lock(&mu_);
    close_after_flush_ = true;
    WakeLocked();
  }

  // What the client wrote after the upgrade (the container's stdin).
  std::string Received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  bool WaitForReceived(absl::string_view needle, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return absl::StrContains(received_, needle);
    };
    return mu_.AwaitWithTimeout(absl::Condition(&has), timeout);
  }
  // WaitForPeerEof waits until the client shut its write side down (stdin's end of input).
  bool WaitForPeerEof(absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&peer_eof_), timeout);
  }
  bool WaitForClosed(absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&closed_), timeout);
  }

 private:
  friend class FakeDockerEngine;

  void WakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!closed_) {  // the connection's thread closes wake_fd_ with closed_ set
      uint64_t one = 1;
      ssize_t ignored = write(wake_fd_, &one, sizeof(one));
      (void)ignored;  // an eventfd counter cannot overflow here
    }
  }

  const int fd_;
  const int wake_fd_;        // eventfd: bytes were queued, or Close was asked for
  RecordedRequest request_;  // set by the connection thread before the connection is published

  mutable absl::Mutex mu_;
  std::string outbox_ ABSL_GUARDED_BY(mu_);
  bool close_after_flush_ ABSL_GUARDED_BY(mu_) = false;
  std::string received_ ABSL_GUARDED_BY(mu_);
  bool peer_eof_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

using FakeConnectionPtr = std::shared_ptr<FakeConnection>;

// A fake Docker engine on a unix socket in the test's temporary directory: one accept thread and
// one thread per connection (at most kMaxConnections), all stopped and joined by Die() or the
// destructor. Requests are recorded in arrival order and answered by the newest rule whose
// method and path pattern match (404 "page not found", as dockerd says, when none does).
// Thread-safe.
class FakeDockerEngine {
 public:
  static constexpr size_t kMaxConnections = 32;
  static constexpr size_t kMaxRequestBytes = size_t{1} << 20;

  static absl::StatusOr<std::unique_ptr<FakeDockerEngine>> Start() {
    static std::atomic<int> counter{0};
    std::string path = absl::StrCat(::testing::TempDir(), "/mcpgw-fake-docker-", getpid(), "-",
                                    counter.fetch_add(1), ".sock");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
      return absl::FailedPreconditionError(absl::StrCat("socket path too long: ", path));
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    unlink(path.c_str());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      return absl::ErrnoToStatus(errno, "socket");
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
      absl::Status s = absl::ErrnoToStatus(errno, absl::StrCat("bind/listen ", path));
      close(fd);
      return s;
    }
    int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0) {
      absl::Status s = absl::ErrnoToStatus(errno, "eventfd");
      close(fd);
      unlink(path.c_str());
      return s;
    }
    auto engine = std::unique_ptr<FakeDockerEngine>(new FakeDockerEngine(path, fd, stop_fd));
    engine->accept_thread_ = std::thread([raw = engine.get()] { raw->AcceptLoop(); });
    return engine;
  }

  FakeDockerEngine(const FakeDockerEngine&) = delete;
  FakeDockerEngine& operator=(const FakeDockerEngine&) = delete;
  ~FakeDockerEngine() {
    Die();
    close(stop_fd_);
  }

  // host is the DockerOptions::host that reaches this engine.
  std::string host() const { return absl::StrCat("unix://", path_); }

  // Respond answers `method` requests whose path (query excluded) matches `pattern` with
  // `response`; it takes precedence over every earlier rule.
  void Respond(absl::string_view method, absl::string_view pattern, CannedResponse response) {
    absl::MutexLock lock(&mu_);
    rules_.push_back(Rule{std::string(method), std::string(pattern), std::move(response)});
  }

  // SetApiVersion makes the engine offer `api_version` (in /version and the Api-Version header).
  void SetApiVersion(absl::string_view api_version) {
    {
      absl::MutexLock lock(&mu_);
      api_version_ = std::string(api_version);
    }
    Respond("GET", "/version", Json(200, VersionJson(api_version)));
  }

  std::vector<RecordedRequest> Requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  // WaitForRequest waits until a request "METHOD /path" (version prefix removed, see
  // RecordedRequest::Summary) whose query contains `query_part` has arrived.
  bool WaitForRequest(absl::string_view summary, absl::string_view query_part,
                      absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const RecordedRequest& r : requests_) {
        if (r.Summary() == summary && absl::StrContains(r.query(), query_part)) {
          return true;
        }
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
  }

  // TakeConnection returns the oldest held or upgraded connection for a `method` request whose
  // path matches `pattern` that was not taken yet; nullptr if none arrives within `timeout`.
  FakeConnectionPtr TakeConnection(absl::string_view method, absl::string_view pattern,
                                   absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto find = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find_if(held_.begin(), held_.end(), [&](const FakeConnectionPtr& c) {
        return c->request().method == method && Glob(pattern, c->request().path());
      });
    };
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return find() != held_.end(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout)) {
      return nullptr;
    }
    auto it = find();
    FakeConnectionPtr found = *it;
    held_.erase(it);
    return found;
  }

  // Die is the engine crashing: the listening socket and every connection are closed at once
  // (nothing queued is flushed), and the socket file disappears. Returns when all threads are
  // joined. Idempotent.
  void Die() {
    {
      absl::MutexLock lock(&mu_);
      if (dead_) {
        return;
      }
      dead_ = true;
    }
    // Never read: the eventfd stays readable, so every thread polling it wakes up.
    uint64_t one = 1;
    ssize_t ignored = write(stop_fd_, &one, sizeof(one));
    (void)ignored;
    accept_thread_.join();
    close(listen_fd_);
    unlink(path_.c_str());
    std::vector<Worker> workers;
    {
      absl::MutexLock lock(&mu_);
      workers.swap(workers_);
      held_.clear();
    }
    for (Worker& w : workers) {
      w.thread.join();
    }
  }

 private:
  struct Rule {
    std::string method;
    std::string pattern;
    CannedResponse response;
  };
  struct Worker {
    std::thread thread;
    FakeConnectionPtr conn;
  };
  enum class Phase { kRequests, kHeld, kRaw };

  FakeDockerEngine(std::string path, int listen_fd, int stop_fd)
      : path_(std::move(path)), listen_fd_(listen_fd), stop_fd_(stop_fd) {
    // What dockerd answers to the requests DockerEngine makes, when a test does not say
    // otherwise.
    Respond("GET", "/_ping",
            {.headers = {{"Cache-Control", "no-cache, no-store, must-revalidate"},
                         {"Content-Type", "text/plain; charset=utf-8"},
                         {"Pragma", "no-cache"}},
             .body = "OK"});
    Respond("GET", "/version", Json(200, VersionJson(api_version_)));
    Respond(
        "GET", "/v*/images/*/json",
        JsonChunked(200, absl::StrCat(R"({"Id":"sha256:)", std::string(64, 'a'),
                                      R"(","RepoTags":["mcpgw-test/cat:latest"],"RepoDigests":[],)",
                                      R"("Created":"2024-05-01T10:00:00.000000000Z",)",
                                      R"("Config":{"Cmd":["/cat"],"Env":["PATH=/bin"],)",
                                      R"("Labels":null},"Architecture":"amd64","Os":"linux",)",
                                      R"("Size":123456,"RootFS":{"Type":"layers","Layers":[)",
                                      R"("sha256:)", std::string(64, 'b'), R"("]}})")));
    Respond("POST", "/v*/containers/create",
            Json(201, absl::StrCat(R"({"Id":")", kContainerId, R"(","Warnings":[]})")));
    Respond("POST", "/v*/containers/*/wait", {.kind = CannedResponse::Kind::kHold});
    Respond("POST", "/v*/containers/*/attach", {.kind = CannedResponse::Kind::kUpgrade});
    Respond("POST", "/v*/containers/*/start", NoContent());
    Respond("POST", "/v*/containers/*/kill", NoContent());
    Respond("DELETE", "/v*/containers/*", NoContent());
    Respond("GET", "/v*/containers/json", Json(200, "[]"));
    Respond("GET", "/v*/containers/*/json",
            Json(200, absl::StrCat(R"({"Id":")", kContainerId,
                                   R"(","State":{"Status":"running","Running":true}})")));
  }

  void AcceptLoop() noexcept {
    while (true) {
      pollfd fds[2] = {{.fd = stop_fd_, .events = POLLIN, .revents = 0},
                       {.fd = listen_fd_, .events = POLLIN, .revents = 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        return;
      }
      if (fds[0].revents != 0) {
        return;
      }
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        continue;  // EAGAIN, or a client that gave up before we accepted
      }
      PruneFinishedWorkers();
      int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      absl::MutexLock lock(&mu_);
      if (wake_fd < 0 || workers_.size() >= kMaxConnections) {
        // Bounded: a client that leaks connections sees them closed instead of exhausting us.
        close(fd);
        if (wake_fd >= 0) {
          close(wake_fd);
        }
        continue;
      }
      auto conn = std::make_shared<FakeConnection>(fd, wake_fd);
      workers_.push_back(Worker{std::thread([this, conn] { Serve(conn); }), conn});
    }
  }

  void PruneFinishedWorkers() {
    std::vector<Worker> finished;
    {
      absl::MutexLock lock(&mu_);
      for (auto it = workers_.begin(); it != workers_.end();) {
        bool closed;
        {
          absl::MutexLock conn_lock(&it->conn->mu_);
          closed = it->conn->closed_;
        }
        if (closed) {
          finished.push_back(std::move(*it));
          it = workers_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (Worker& w : finished) {
      w.thread.join();
    }
  }

  // TakeRequest parses one request from the front of `in`: nullopt until it is complete.
  static absl::StatusOr<std::optional<RecordedRequest>> TakeRequest(std::string& in) {
    size_t head_end = in.find("\r\n\r\n");
    if (head_end == std::string::npos) {
      if (in.size() > kMaxRequestBytes) {
        return absl::InvalidArgumentError("request head too long");
      }
      return std::nullopt;
    }
    std::vector<absl::string_view> lines =
        absl::StrSplit(absl::string_view(in).substr(0, head_end), "\r\n");
    std::vector<absl::string_view> first = absl::StrSplit(lines[0], ' ');
    if (first.size() != 3 || !absl::StartsWith(first[2], "HTTP/1.")) {
      return absl::InvalidArgumentError(absl::StrCat("bad request line: ", lines[0]));
    }
    RecordedRequest req;
    req.method = std::string(first[0]);
    req.target = std::string(first[1]);
    size_t content_length = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("bad header line: ", lines[i]));
      }
      std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      if (name == "content-length" &&
          (!absl::SimpleAtoi(value, &content_length) || content_length > kMaxRequestBytes)) {
        return absl::InvalidArgumentError(absl::StrCat("bad Content-Length: ", value));
      }
      if (name == "transfer-encoding") {
        // DockerEngine sends every body with a Content-Length; anything else is a regression.
        return absl::InvalidArgumentError("chunked request bodies are not expected");
      }
      req.headers.emplace_back(std::move(name), std::move(value));
    }
    size_t body_start = head_end + 4;
    if (in.size() - body_start < content_length) {
      return std::nullopt;
    }
    req.body = in.substr(body_start, content_length);
    in.erase(0, body_start + content_length);
    req.at = absl::Now();
    return req;
  }

  static absl::string_view Reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 201:
        return "Created";
      case 204:
        return "No Content";
      case 304:
        return "Not Modified";
      case 400:
        return "Bad Request";
      case 404:
        return "Not Found";
      case 409:
        return "Conflict";
      case 500:
        return "Internal Server Error";
      default:
        return "Unknown";
    }
  }

  // Answer records `req`, queues the answer on `conn` and says what the connection becomes.
  Phase Answer(const FakeConnectionPtr& conn_ptr, RecordedRequest req) {
    FakeConnection& conn = *conn_ptr;
    CannedResponse response = EngineError(404, "page not found");
    std::string api_version;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(req);
      for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
        if (it->method == req.method && Glob(it->pattern, req.path())) {
          response = it->response;
          break;
        }
      }
      api_version = api_version_;
    }
    // The headers dockerd's middleware puts on every answer (a hijacked attach included).
    std::string common = absl::StrCat(
        "Api-Version: ", api_version, "\r\nDocker-Experimental: false\r\nOstype: linux\r\n",
        "Server: Docker/24.0.7 (linux)\r\nDate: ",
        absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone()), "\r\n");
    for (const auto& [name, value] : response.headers) {
      absl::StrAppend(&common, name, ": ", value, "\r\n");
    }
    std::string out;
    Phase next = Phase::kRequests;
    bool close_after = absl::EqualsIgnoreCase(req.Header("connection"), "close");
    switch (response.kind) {
      case CannedResponse::Kind::kUpgrade: {
        // dockerd hijacks the connection and writes this head itself. Since API 1.42 it names
        // the non-TTY stream application/vnd.docker.multiplexed-stream; the bytes are the same.
        absl::string_view type = ApiMinor(req.target) >= 42
                                     ? "application/vnd.docker.multiplexed-stream"
                                     : "application/vnd.docker.raw-stream";
        out = absl::StrCat("HTTP/1.1 101 UPGRADED\r\nContent-Type: ", type,
                           "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n", common, "\r\n",
                           response.body);
        next = Phase::kRaw;
        close_after = false;
        break;
      }
      case CannedResponse::Kind::kHold:
        // dockerd's wait handler flushes the headers before it waits, which makes the answer
        // chunked; the JSON body follows when the container exits.
        out = absl::StrCat("HTTP/1.1 ", response.status, " ",
                           response.reason.empty() ? Reason(response.status) : response.reason,
                           "\r\n", common, "Content-Type: application/json\r\n",
                           "Transfer-Encoding: chunked\r\n\r\n");
        next = Phase::kHeld;
        close_after = false;
        break;
      case CannedResponse::Kind::kComplete:
        out = absl::StrCat("HTTP/1.1 ", response.status, " ",
                           response.reason.empty() ? Reason(response.status) : response.reason,
                           "\r\n", common);
        if (close_after) {
          out += "Connection: close\r\n";
        }
        switch (response.framing) {
          case CannedResponse::Framing::kContentLength:
            absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n\r\n",
                            response.body);
            break;
          case CannedResponse::Framing::kChunked:
            absl::StrAppend(&out, "Transfer-Encoding: chunked\r\n\r\n", Chunked(response.body));
            break;
          case CannedResponse::Framing::kNone:
            out += "\r\n";
            break;
        }
        break;
    }
    conn.request_ = std::move(req);
    {
      absl::MutexLock lock(&conn.mu_);
      conn.outbox_ += out;
      conn.close_after_flush_ = conn.close_after_flush_ || close_after;
    }
    if (next != Phase::kRequests) {
      // Published after the head is queued, so what a test sends follows the head.
      absl::MutexLock lock(&mu_);
      held_.push_back(conn_ptr);
    }
    return next;
  }

  // Serve runs one connection on its own thread until the client goes, the answer is complete,
  // or the engine dies.
  void Serve(const FakeConnectionPtr& conn_ptr) noexcept {
    FakeConnection& conn = *conn_ptr;
    std::string in;
    Phase phase = Phase::kRequests;
    bool reading = true;
    while (true) {
      while (phase == Phase::kRequests && reading) {
        absl::StatusOr<std::optional<RecordedRequest>> req = TakeRequest(in);
        if (!req.ok()) {
          absl::MutexLock lock(&conn.mu_);
          conn.outbox_ += absl::StrCat(
              "HTTP/1.1 400 Bad Request\r\nContent-Length: ", req.status().message().size(),
              "\r\n\r\n", req.status().message());
          conn.close_after_flush_ = true;
          reading = false;
          break;
        }
        if (!req->has_value()) {
          break;
        }
        phase = Answer(conn_ptr, **std::move(req));
        absl::MutexLock lock(&conn.mu_);
        if (conn.close_after_flush_) {
          reading = false;
        }
      }
      bool want_write;
      {
        absl::MutexLock lock(&conn.mu_);
        want_write = !conn.outbox_.empty();
        if (conn.close_after_flush_ && !want_write) {
          break;
        }
      }
      auto events = static_cast<short>((reading ? POLLIN : 0) | (want_write ? POLLOUT : 0));
      pollfd fds[3] = {{.fd = stop_fd_, .events = POLLIN, .revents = 0},
                       {.fd = conn.wake_fd_, .events = POLLIN, .revents = 0},
                       // An fd of -1 is ignored: a hung-up socket would otherwise spin poll.
                       {.fd = events != 0 ? conn.fd_ : -1, .events = events, .revents = 0}};
      if (poll(fds, 3, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        break;
      }
      if (fds[0].revents != 0) {
        break;  // the engine dies: close at once, flush nothing
      }
      if ((fds[1].revents & POLLIN) != 0) {
        uint64_t count;
        ssize_t ignored = read(conn.wake_fd_, &count, sizeof(count));
        (void)ignored;
      }
      if (want_write && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        absl::MutexLock lock(&conn.mu_);
        ssize_t n =
            send(conn.fd_, conn.outbox_.data(), conn.outbox_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          conn.outbox_.erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
          break;  // the client is gone
        }
      }
      if (reading && (fds[2].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        char buf[16384];
        ssize_t got = recv(conn.fd_, buf, sizeof(buf), MSG_DONTWAIT);
        if (got > 0) {
          if (phase == Phase::kRaw) {
            absl::MutexLock lock(&conn.mu_);
            conn.received_.append(buf, static_cast<size_t>(got));
          } else if (phase == Phase::kRequests) {
            in.append(buf, static_cast<size_t>(got));
          }
          // kHeld: the client has nothing to say while it waits; ignore it.
        } else if (got == 0) {
          reading = false;
          absl::MutexLock lock(&conn.mu_);
          if (phase == Phase::kRaw) {
            conn.peer_eof_ = true;  // stdin ended; the container's output may still follow
          } else if (phase == Phase::kHeld) {
            break;  // the client stopped waiting: dockerd cancels the wait
          } else {
            conn.close_after_flush_ = true;
          }
        } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
          break;
        }
      }
    }
    close(conn.fd_);
    absl::MutexLock lock(&conn.mu_);
    close(conn.wake_fd_);
    conn.closed_ = true;
  }

  const std::string path_;
  const int listen_fd_;
  const int stop_fd_;
  std::thread accept_thread_;

  mutable absl::Mutex mu_;
  std::string api_version_ ABSL_GUARDED_BY(mu_) = std::string(DockerEngine::kMaxApiVersion);
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<FakeConnectionPtr> held_ ABSL_GUARDED_BY(mu_);
  std::vector<Worker> workers_ ABSL_GUARDED_BY(mu_);
  bool dead_ ABSL_GUARDED_BY(mu_) = false;
};

// =============================================================================================
// Helpers
// =============================================================================================

// Collects what a stdio channel reads.
struct StdioCollector {
  absl::Mutex mu;
  std::string out ABSL_GUARDED_BY(mu);
  std::optional<absl::Status> closed_with ABSL_GUARDED_BY(mu);
  absl::Notification closed;

  base::ByteChannel::Callbacks Callbacks() {
    return {.on_data =
                [this](absl::string_view bytes) {
                  absl::MutexLock lock(&mu);
                  out.append(bytes.data(), bytes.size());
                },
            .on_closed =
                [this](absl::Status why) {
                  {
                    absl::MutexLock lock(&mu);
                    closed_with = std::move(why);
                  }
                  closed.Notify();
                }};
  }
  std::string Out() {
    absl::MutexLock lock(&mu);
    return out;
  }
  absl::Status ClosedWith() {
    absl::MutexLock lock(&mu);
    return closed_with.value_or(absl::UnknownError("on_closed did not run"));
  }
  bool WaitFor(absl::string_view needle, absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return absl::StrContains(out, needle); };
    return mu.AwaitWithTimeout(absl::Condition(&has), timeout);
  }
};

size_t CountEntries(const char* dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

std::vector<std::string> Summaries(const std::vector<RecordedRequest>& requests) {
  std::vector<std::string> out;
  for (const RecordedRequest& r : requests) {
    out.push_back(r.Summary());
  }
  return out;
}

// Every test leaves no descriptor and no thread behind: the fake's, DockerEngine's and the
// stdio channel's are all gone once the objects are destroyed.
class DockerFakeEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = CountEntries("/proc/self/fd");
    threads_before_ = CountEntries("/proc/self/task");
    MCPGW_ASSERT_OK_AND_ASSIGN(fake_, FakeDockerEngine::Start());
  }

  void TearDown() override {
    fake_.reset();
    EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before_) << "descriptors leaked";
    // A joined thread's /proc entry may outlive the join by a moment; bounded.
    absl::Time deadline = absl::Now() + absl::Seconds(2);
    while (CountEntries("/proc/self/task") != threads_before_ && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    EXPECT_EQ(CountEntries("/proc/self/task"), threads_before_) << "threads leaked";
  }

  DockerOptions Options() const { return {.host = fake_->host()}; }

  absl::StatusOr<std::unique_ptr<DockerEngine>> Connect() {
    return DockerEngine::Create(Options());
  }

  static RunSpec Spec(absl::string_view image = "mcpgw-test/cat:latest") {
    RunSpec spec;
    spec.image = std::string(image);
    spec.labels["io.mcpgw.server"] = "fetch";
    spec.labels["io.mcpgw.test-suite"] = "docker_fake_engine_test";
    spec.env["GREETING"] = "hello world";
    return spec;
  }

  std::unique_ptr<FakeDockerEngine> fake_;
  size_t fds_before_ = 0;
  size_t threads_before_ = 0;
};

// =============================================================================================
// 1. Version negotiation
// =============================================================================================

using DockerFakeEngineVersion = DockerFakeEngineTest;

TEST_F(DockerFakeEngineVersion, SpeaksItsNewestVersionToANewerEngine) {
  fake_->SetApiVersion("1.45");
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  EXPECT_EQ(engine->engine_api_version(), "1.45");
  EXPECT_EQ(engine->api_version(), DockerEngine::kMaxApiVersion);
  EXPECT_EQ(engine->api_version(), "1.43");
  ASSERT_THAT(engine->List({}).status(), IsOk());
  ASSERT_THAT(engine->InspectJson(kContainerId).status(), IsOk());
  std::vector<RecordedRequest> requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].target, "/_ping");
  EXPECT_EQ(requests[1].target, "/version");
  EXPECT_THAT(requests[2].target, StartsWith("/v1.43/containers/json?"));
  EXPECT_EQ(requests[3].target, absl::StrCat("/v1.43/containers/", kContainerId, "/json"));
}

TEST_F(DockerFakeEngineVersion, SpeaksTheEnginesVersionWhenItIsOlder) {
  fake_->SetApiVersion("1.41");
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  EXPECT_EQ(engine->engine_api_version(), "1.41");
  EXPECT_EQ(engine->api_version(), "1.41");
  ASSERT_THAT(engine->List({{"io.mcpgw.server", "fetch"}}).status(), IsOk());
  std::vector<RecordedRequest> requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(requests[2].target, StartsWith("/v1.41/containers/json?"));
}

TEST_F(DockerFakeEngineVersion, AsksToUpgradeAnEngineOlderThanTheMinimum) {
  fake_->SetApiVersion("1.40");
  EXPECT_THAT(Connect(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("1.40"), HasSubstr("1.41"), HasSubstr("upgrade"))));
}

TEST_F(DockerFakeEngineVersion, ExplainsAVersionAnswerThatIsNotJson) {
  fake_->Respond("GET", "/version",
                 {.headers = {{"Content-Type", "text/html"}}, .body = "<html>proxy error</html>"});
  absl::StatusOr<std::unique_ptr<DockerEngine>> engine = Connect();
  ASSERT_FALSE(engine.ok());
  // Not the caller's argument that was wrong: the engine (or what answers in its place).
  EXPECT_NE(engine.status().code(), absl::StatusCode::kInvalidArgument) << engine.status();
  EXPECT_THAT(std::string(engine.status().message()),
              AllOf(HasSubstr("Docker engine"), HasSubstr("version")))
      << engine.status();
}

TEST_F(DockerFakeEngineVersion, ExplainsAVersionAnswerWithoutApiVersion) {
  fake_->Respond("GET", "/version", Json(200, R"({"Version":"24.0.7","Os":"linux"})"));
  EXPECT_THAT(Connect(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                  HasSubstr("reports no usable API version")));
}

TEST_F(DockerFakeEngineVersion, ReportsAFailingPingAsUnavailable) {
  fake_->Respond("GET", "/_ping", {.status = 500, .body = "Internal Server Error"});
  EXPECT_THAT(Connect(), StatusIs(absl::StatusCode::kUnavailable,
                                  AllOf(HasSubstr(fake_->host()), HasSubstr("500"))));
  // It stops at the failed ping.
  EXPECT_THAT(Summaries(fake_->Requests()), ElementsAre("GET /_ping"));
}

// =============================================================================================
// 2. The run sequence
// =============================================================================================

using DockerFakeEngineRun = DockerFakeEngineTest;

TEST_F(DockerFakeEngineRun, CreatesWaitsAndAttachesBeforeItStarts) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  RunSpec spec = Spec();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, engine->Run(spec));
  EXPECT_EQ(instance->id(), kContainerId);

  std::vector<RecordedRequest> requests = fake_->Requests();
  EXPECT_THAT(Summaries(requests),
              ElementsAre("GET /_ping", "GET /version", "GET /images/mcpgw-test/cat:latest/json",
                          "POST /containers/create",
                          absl::StrCat("POST /containers/", kContainerId, "/wait"),
                          absl::StrCat("POST /containers/", kContainerId, "/attach"),
                          absl::StrCat("POST /containers/", kContainerId, "/start")));
  ASSERT_EQ(requests.size(), 7u);
  for (size_t i = 2; i < requests.size(); ++i) {
    EXPECT_THAT(requests[i].target, StartsWith("/v1.43/")) << i;
  }
  // The wait reports the next exit, not an exit that happened before it was registered.
  EXPECT_EQ(requests[4].query(), "condition=next-exit");
  EXPECT_EQ(requests[4].body, "");
  // The attach asks for every stream, as a raw stream.
  std::vector<std::string> attach_query = absl::StrSplit(requests[5].query(), '&');
  for (const char* part : {"stream=1", "stdin=1", "stdout=1", "stderr=1"}) {
    EXPECT_THAT(attach_query, ::testing::Contains(part));
  }
  EXPECT_TRUE(absl::EqualsIgnoreCase(requests[5].Header("connection"), "Upgrade"));
  EXPECT_TRUE(absl::EqualsIgnoreCase(requests[5].Header("upgrade"), "tcp"));

  // The create body: the container is isolated, labelled, and takes stdin once.
  const RecordedRequest& create = requests[3];
  EXPECT_EQ(create.Header("content-type"), "application/json");
  rapidjson::Document body;
  body.Parse(create.body.data(), create.body.size());
  ASSERT_FALSE(body.HasParseError()) << create.body;
  ASSERT_TRUE(body.IsObject()) << create.body;
  auto is_true = [&](const rapidjson::Value& object, const char* name) {
    return object.IsObject() && object.HasMember(name) && object[name].IsBool() &&
           object[name].GetBool();
  };
  auto string_member = [&](const rapidjson::Value& object, const char* name) -> std::string {
    if (!object.IsObject() || !object.HasMember(name) || !object[name].IsString()) {
      return "<missing>";
    }
    return object[name].GetString();
  };
  EXPECT_EQ(string_member(body, "Image"), spec.image);
  EXPECT_TRUE(is_true(body, "OpenStdin")) << create.body;
  EXPECT_TRUE(is_true(body, "StdinOnce")) << create.body;
  EXPECT_TRUE(is_true(body, "AttachStdin")) << create.body;
  EXPECT_TRUE(is_true(body, "AttachStdout")) << create.body;
  EXPECT_TRUE(is_true(body, "AttachStderr")) << create.body;
  ASSERT_TRUE(body.HasMember("Tty") && body["Tty"].IsBool()) << create.body;
  EXPECT_FALSE(body["Tty"].GetBool()) << "a TTY would merge stderr into stdout";
  ASSERT_TRUE(body.HasMember("Env") && body["Env"].IsArray()) << create.body;
  ASSERT_EQ(body["Env"].Size(), 1u) << "only spec.env reaches the container: " << create.body;
  EXPECT_STREQ(body["Env"][0].GetString(), "GREETING=hello world");

  ASSERT_TRUE(body.HasMember("Labels")) << create.body;
  const rapidjson::Value& labels = body["Labels"];
  EXPECT_EQ(string_member(labels, "io.mcpgw.managed"), "true");
  EXPECT_EQ(string_member(labels, "io.mcpgw.server"), "fetch");
  EXPECT_EQ(string_member(labels, "io.mcpgw.test-suite"), "docker_fake_engine_test");

  ASSERT_TRUE(body.HasMember("HostConfig")) << create.body;
  const rapidjson::Value& host = body["HostConfig"];
  EXPECT_EQ(string_member(host, "NetworkMode"), "none");
  EXPECT_TRUE(is_true(host, "AutoRemove")) << create.body;
  EXPECT_TRUE(is_true(host, "Init")) << create.body;
  ASSERT_TRUE(host.HasMember("CapDrop") && host["CapDrop"].IsArray()) << create.body;
  ASSERT_EQ(host["CapDrop"].Size(), 1u);
  EXPECT_STREQ(host["CapDrop"][0].GetString(), "ALL");
  ASSERT_TRUE(host.HasMember("SecurityOpt") && host["SecurityOpt"].IsArray()) << create.body;
  bool no_new_privileges = false;
  for (const rapidjson::Value& opt : host["SecurityOpt"].GetArray()) {
    no_new_privileges =
        no_new_privileges ||
        (opt.IsString() && absl::string_view(opt.GetString()) == "no-new-privileges");
  }
  EXPECT_TRUE(no_new_privileges) << create.body;

  // End it cleanly so nothing is left running.
  FakeConnectionPtr wait = fake_->TakeConnection("POST", "/v*/containers/*/wait");
  ASSERT_NE(wait, nullptr);
  wait->FinishChunked(R"({"Error":null,"StatusCode":0})"
                      "\n");
  absl::StatusOr<ExitStatus> end = instance->WaitForExit(absl::Seconds(10));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(end->ToString(), "exited with code 0");
}

TEST_F(DockerFakeEngineRun, CarriesStdioAndReportsTheExitCode) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, engine->Run(Spec()));
  FakeConnectionPtr wait = fake_->TakeConnection("POST", "/v*/containers/*/wait");
  FakeConnectionPtr attach = fake_->TakeConnection("POST", "/v*/containers/*/attach");
  ASSERT_NE(wait, nullptr);
  ASSERT_NE(attach, nullptr);

  StdioCollector got;
  base::ByteChannelPtr stdio = instance->TakeStdio();
  ASSERT_NE(stdio, nullptr);
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());

  // stdout frames reach the channel; a frame split across writes too.
  attach->SendFrame(1, "hello from stdout\n");
  std::string split = Frame(1, "second line\n");
  attach->Send(split.substr(0, 5));
  attach->Send(split.substr(5));
  ASSERT_TRUE(got.WaitFor("second line\n", absl::Seconds(10))) << got.Out();
  EXPECT_EQ(got.Out(), "hello from stdout\nsecond line\n");

  // stderr frames go to the tail, not to the channel. The stdout frame after them says they
  // were processed (frames are handled in order).
  attach->SendFrame(2, "warning: first\n");
  attach->SendFrame(2, "warning: second\n");
  attach->SendFrame(1, "marker\n");
  ASSERT_TRUE(got.WaitFor("marker\n", absl::Seconds(10))) << got.Out();
  EXPECT_EQ(got.Out(), "hello from stdout\nsecond line\nmarker\n");
  // (StderrTail drops the last newline.)
  EXPECT_EQ(instance->StderrTail(10), "warning: first\nwarning: second");
  EXPECT_EQ(instance->StderrTail(1), "warning: second");

  // What the client writes reaches the container's stdin unframed; closing the write side
  // gives the container end of input.
  ASSERT_THAT(stdio->Write({R"({"jsonrpc":"2.0","id":1,"method":"ping"})", "\n"}), IsOk());
  ASSERT_TRUE(attach->WaitForReceived("\"ping\"}\n", absl::Seconds(10))) << attach->Received();
  EXPECT_EQ(attach->Received(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n");
  stdio->CloseWrite();
  EXPECT_TRUE(attach->WaitForPeerEof(absl::Seconds(10)));
  EXPECT_THAT(instance->WaitForExit(absl::ZeroDuration()).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));

  // The container exits with 3: the engine ends the attach stream and answers the wait.
  absl::Notification exited;
  std::optional<ExitStatus> reported;
  std::string tail_at_exit;
  Instance* raw = instance.get();
  instance->OnExit([&](ExitStatus status) {
    reported = status;
    tail_at_exit = raw->StderrTail(10);
    exited.Notify();
  });
  attach->SendFrame(2, "bye\n");
  attach->Close();
  wait->FinishChunked(R"({"Error":null,"StatusCode":3})"
                      "\n");
  absl::StatusOr<ExitStatus> end = instance->WaitForExit(absl::Seconds(10));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(end->ToString(), "exited with code 3");
  EXPECT_EQ(*end, ExitStatus::Exited(3));
  ASSERT_TRUE(exited.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(reported.has_value());
  EXPECT_EQ(*reported, ExitStatus::Exited(3));
  EXPECT_EQ(tail_at_exit, "warning: first\nwarning: second\nbye");
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_THAT(got.ClosedWith(), IsOk());
  stdio->Close();

  // An ended container needs no kill and no removal (AutoRemove does that).
  instance.reset();
  engine.reset();
  EXPECT_THAT(Summaries(fake_->Requests()), Not(::testing::Contains(HasSubstr("/kill"))));
  EXPECT_EQ(fake_->Requests().size(), 7u);
}

TEST_F(DockerFakeEngineRun, KeepsFramesThatArriveWithTheUpgradeAnswer) {
  // The engine may write output right behind the 101 head, in the same segment: those bytes
  // are read together with the head and must not be lost.
  fake_->Respond("POST", "/v*/containers/*/attach",
                 {.body = Frame(1, "early stdout\n") + Frame(2, "early stderr\n"),
                  .kind = CannedResponse::Kind::kUpgrade});
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, engine->Run(Spec()));
  FakeConnectionPtr attach = fake_->TakeConnection("POST", "/v*/containers/*/attach");
  FakeConnectionPtr wait = fake_->TakeConnection("POST", "/v*/containers/*/wait");
  ASSERT_NE(attach, nullptr);
  ASSERT_NE(wait, nullptr);
  StdioCollector got;
  base::ByteChannelPtr stdio = instance->TakeStdio();
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  attach->SendFrame(1, "later\n");
  ASSERT_TRUE(got.WaitFor("later\n", absl::Seconds(10))) << got.Out();
  EXPECT_EQ(got.Out(), "early stdout\nlater\n");
  EXPECT_EQ(instance->StderrTail(5), "early stderr");
  attach->Close();
  wait->FinishChunked(R"({"Error":null,"StatusCode":0})");
  ASSERT_THAT(instance->WaitForExit(absl::Seconds(10)).status(), IsOk());
  stdio->Close();
}

TEST_F(DockerFakeEngineRun, StopSendsSigtermThenSigkillAfterTheGrace) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, engine->Run(Spec()));
  FakeConnectionPtr wait = fake_->TakeConnection("POST", "/v*/containers/*/wait");
  ASSERT_NE(wait, nullptr);
  const absl::Duration grace = absl::Milliseconds(300);
  instance->Stop(grace);
  const std::string kill = absl::StrCat("POST /containers/", kContainerId, "/kill");
  // The fake's container ignores SIGTERM, so the kill follows.
  ASSERT_TRUE(fake_->WaitForRequest(kill, "signal=SIGKILL", absl::Seconds(10)));
  std::vector<RecordedRequest> kills;
  for (const RecordedRequest& r : fake_->Requests()) {
    if (r.Summary() == kill) {
      kills.push_back(r);
    }
  }
  ASSERT_EQ(kills.size(), 2u);
  EXPECT_EQ(kills[0].query(), "signal=SIGTERM");
  EXPECT_EQ(kills[1].query(), "signal=SIGKILL");
  // Not before the grace (less the time the SIGTERM request itself took).
  EXPECT_GE(kills[1].at - kills[0].at, grace - absl::Milliseconds(50));
  // The init process reports the SIGKILL as 128 + 9.
  wait->FinishChunked(R"({"Error":null,"StatusCode":137})");
  absl::StatusOr<ExitStatus> end = instance->WaitForExit(absl::Seconds(10));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(end->ToString(), "was killed by signal 9 (SIGKILL)");
}

// =============================================================================================
// 3. The engine is lost while a container runs
// =============================================================================================

using DockerFakeEngineLost = DockerFakeEngineTest;

TEST_F(DockerFakeEngineLost, EndsTheInstanceAndItsStdioPromptly) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, engine->Run(Spec()));
  FakeConnectionPtr attach = fake_->TakeConnection("POST", "/v*/containers/*/attach");
  ASSERT_NE(attach, nullptr);
  StdioCollector got;
  base::ByteChannelPtr stdio = instance->TakeStdio();
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  attach->SendFrame(1, "running\n");
  ASSERT_TRUE(got.WaitFor("running\n", absl::Seconds(10)));
  ASSERT_THAT(stdio->Write({"request\n"}), IsOk());
  // Everything the client wrote was read by the engine before it dies, so the client sees a
  // plain end of stream on both connections (no reset) — the hard case to tell from an exit.
  ASSERT_TRUE(attach->WaitForReceived("request\n", absl::Seconds(10)));
  absl::Notification exited;
  instance->OnExit([&](ExitStatus) { exited.Notify(); });

  absl::Time died = absl::Now();
  fake_->Die();
  // Well under the 30 s request timeout: the wait's connection ended without an answer.
  absl::StatusOr<ExitStatus> end = instance->WaitForExit(absl::Seconds(10));
  EXPECT_LT(absl::Now() - died, absl::Seconds(5));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(end->exit_code, -1);
  EXPECT_EQ(end->signal, 0);
  EXPECT_EQ(end->ToString(), "ended, but its exit status is unknown");
  EXPECT_TRUE(exited.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(5)));
  // Not an orderly end of output: the engine was lost, and whoever reads the channel (the MCP
  // session) should say so instead of treating it as a server that closed its stdout.
  EXPECT_THAT(got.ClosedWith(), Not(IsOk()));
  stdio->Close();

  // Stopping and destroying everything is prompt: nothing waits for an engine that is gone.
  absl::Time start = absl::Now();
  instance->Stop(absl::Seconds(30));
  instance.reset();
  EXPECT_THAT(engine->Run(Spec()), StatusIs(absl::StatusCode::kUnavailable,
                                            HasSubstr("cannot reach the Docker engine")));
  engine.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(DockerFakeEngineLost, EndsAnInstanceWhoseStdioWasNeverStarted) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, engine->Run(Spec()));
  absl::Time died = absl::Now();
  fake_->Die();
  absl::StatusOr<ExitStatus> end = instance->WaitForExit(absl::Seconds(10));
  EXPECT_LT(absl::Now() - died, absl::Seconds(5));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(end->exit_code, -1);
  EXPECT_EQ(end->signal, 0);
  absl::Time start = absl::Now();
  instance.reset();
  engine.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(DockerFakeEngineLost, DestroyingARunningInstanceAndTheEngineDoesNotHang) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr instance, engine->Run(Spec()));
  FakeConnectionPtr wait = fake_->TakeConnection("POST", "/v*/containers/*/wait");
  ASSERT_NE(wait, nullptr);
  // Destroyed while running: SIGTERM now, SIGKILL after the grace. The engine dies in between.
  instance.reset();
  ASSERT_TRUE(fake_->WaitForRequest(absl::StrCat("POST /containers/", kContainerId, "/kill"),
                                    "signal=SIGTERM", absl::Seconds(10)));
  absl::Time start = absl::Now();
  fake_->Die();
  engine.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// =============================================================================================
// 4. The engine's errors, quoted
// =============================================================================================

using DockerFakeEngineErrors = DockerFakeEngineTest;

TEST_F(DockerFakeEngineErrors, QuotesTheEngineWhenCreateFails) {
  fake_->Respond("POST", "/v*/containers/create", EngineError(400, "invalid mount config"));
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  EXPECT_THAT(engine->Run(Spec()), StatusIs(absl::StatusCode::kInvalidArgument,
                                            AllOf(HasSubstr("invalid mount config"),
                                                  HasSubstr("mcpgw-test/cat:latest"))));
  // Nothing was created, so nothing more is asked.
  EXPECT_THAT(Summaries(fake_->Requests()),
              ElementsAre("GET /_ping", "GET /version", "GET /images/mcpgw-test/cat:latest/json",
                          "POST /containers/create"));
}

TEST_F(DockerFakeEngineErrors, NamesTheMissingImage) {
  fake_->Respond("GET", "/v*/images/*/json",
                 EngineError(404, "No such image: mcpgw-test/nope:latest"));
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  EXPECT_THAT(engine->Run(Spec("mcpgw-test/nope:latest")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("mcpgw-test/nope:latest")));
  std::vector<std::string> summaries = Summaries(fake_->Requests());
  EXPECT_THAT(summaries, Not(::testing::Contains("POST /containers/create")));
}

TEST_F(DockerFakeEngineErrors, RemovesTheContainerWhenStartFails) {
  constexpr absl::string_view kMessage =
      R"(failed to create task for container: failed to create shim task: OCI runtime create )"
      R"(failed: runc create failed: unable to start container process: exec: \"/nope\": )"
      R"(stat /nope: no such file or directory: unknown)";
  fake_->Respond("POST", "/v*/containers/*/start", EngineError(400, kMessage));
  MCPGW_ASSERT_OK_AND_ASSIGN(auto engine, Connect());
  absl::StatusOr<InstancePtr> run = engine->Run(Spec());
  EXPECT_THAT(run, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("stat /nope: no such file or directory")));
  std::vector<RecordedRequest> requests = fake_->Requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back().method, "DELETE");
  EXPECT_EQ(requests.back().target, absl::StrCat("/v1.43/containers/", kContainerId, "?force=1"));
  // The wait and attach connections were given up with the container.
  FakeConnectionPtr wait = fake_->TakeConnection("POST", "/v*/containers/*/wait");
  FakeConnectionPtr attach = fake_->TakeConnection("POST", "/v*/containers/*/attach");
  ASSERT_NE(wait, nullptr);
  ASSERT_NE(attach, nullptr);
  EXPECT_TRUE(wait->WaitForClosed(absl::Seconds(5)));
  EXPECT_TRUE(attach->WaitForPeerEof(absl::Seconds(5)));
}

}  // namespace
}  // namespace mcpgw::container
