// The HTTP client transports over real loopback sockets: libmcp's Client through
// CreateHttpClientTransport to libmcp's Server behind HttpServer (Streamable HTTP), to the
// TypeScript SDK's SSEServerTransport (legacy HTTP+SSE), and to small canned servers and a
// cuttable TCP proxy written here for what a real server will not do on demand.
#include "mcpgw/mcp/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/http_server.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/server.h"
#include "testing/await.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::AwaitResult;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Polls `condition` every 10 ms for at most 10 s.
bool Eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 1000; ++i) {
    if (condition()) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return condition();
}

Json MustParse(absl::string_view text) {
  absl::StatusOr<Json> j = Json::Parse(text);
  EXPECT_TRUE(j.ok()) << j.status() << ": " << text;
  return j.ok() ? *std::move(j) : Json();
}

Tool MakeTool(std::string name) {
  Tool t;
  t.name = std::move(name);
  t.description = "a test tool";
  t.input_schema = MustParse(R"({"type":"object"})");
  return t;
}

std::string TextOf(const CallToolResult& r) {
  std::string text;
  for (const auto& block : r.content) {
    if (const auto* t = std::get_if<TextContent>(&block)) {
      text += t->text;
    }
  }
  return text;
}

constexpr char kInitialize[] =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
    R"("capabilities":{},"clientInfo":{"name":"raw","version":"1"}}})";

// A sink that records what a transport delivers.
class RecordingSink final : public TransportSink {
 public:
  void OnFrame(absl::string_view text) override {
    absl::MutexLock lock(&mu_);
    frames_.emplace_back(text);
  }
  void OnOversizedFrame(const OversizedFrame& frame) override {
    absl::MutexLock lock(&mu_);
    oversized_.push_back(frame);
  }
  void OnTransportClosed(absl::Status status) override {
    absl::MutexLock lock(&mu_);
    closed_ = std::move(status);
  }
  bool WaitForFrames(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return frames_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(20));
  }
  std::optional<absl::Status> WaitForClose() {
    absl::MutexLock lock(&mu_);
    auto closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_.has_value(); };
    mu_.AwaitWithTimeout(absl::Condition(&closed), absl::Seconds(20));
    return closed_;
  }
  std::vector<std::string> frames() {
    absl::MutexLock lock(&mu_);
    return frames_;
  }
  std::vector<OversizedFrame> oversized() {
    absl::MutexLock lock(&mu_);
    return oversized_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> frames_ ABSL_GUARDED_BY(mu_);
  std::vector<OversizedFrame> oversized_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
};

int Listen(uint16_t port = 0) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

uint16_t PortOf(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// Reads one HTTP request (headers, then a Content-Length body); empty on EOF or timeout.
std::string ReadRequest(int fd) {
  std::string data;
  char buf[4096];
  size_t body_start = std::string::npos;
  size_t length = 0;
  while (true) {
    if (body_start == std::string::npos) {
      size_t end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        body_start = end + 4;
        std::string lower = data.substr(0, end);
        for (char& c : lower) {
          c = static_cast<char>(tolower(c));
        }
        size_t cl = lower.find("content-length:");
        if (cl != std::string::npos) {
          size_t stop = lower.find("\r\n", cl);
          std::string value(lower.substr(cl + 15, stop - cl - 15));
          absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &length);
        }
      }
    }
    if (body_start != std::string::npos && data.size() >= body_start + length) {
      return data;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20000) <= 0) {
      return "";
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
      return "";
    }
    data.append(buf, static_cast<size_t>(n));
  }
}

void WriteAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// An HTTP server answering each request (one per connection, each on its own thread) with
// what `handler` returns: a whole raw response. Records the requests.
class CannedServer {
 public:
  using Handler = std::function<std::string(const std::string& request)>;
  explicit CannedServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = Listen();
    thread_ = std::thread([this]() { Run(); });
  }
  ~CannedServer() {
    stop_ = true;
    thread_.join();
    for (std::thread& t : connections_) {
      t.join();
    }
    close(fd_);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", PortOf(fd_), "/mcp"); }
  std::vector<std::string> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  static std::string Response(absl::string_view status, absl::string_view content_type,
                              absl::string_view body, absl::string_view extra_headers = "") {
    return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                        "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n",
                        extra_headers, "\r\n", body);
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) {
        continue;
      }
      int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn >= 0) {
        connections_.emplace_back([this, conn]() { Serve(conn); });
      }
    }
  }

  void Serve(int conn) {
    {
      std::string request = ReadRequest(conn);
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      if (!request.empty()) {
        WriteAll(conn, handler_(request));
      }
      shutdown(conn, SHUT_WR);
      char drain[256];
      pollfd q{conn, POLLIN, 0};
      while (poll(&q, 1, 200) > 0 && read(conn, drain, sizeof(drain)) > 0) {
      }
      close(conn);
    }
  }

  Handler handler_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> connections_;
  absl::Mutex mu_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

// A TCP proxy to 127.0.0.1:`target` whose connections can be cut; records what clients send.
class Proxy {
 public:
  explicit Proxy(uint16_t target) : target_(target) {
    fd_ = Listen();
    thread_ = std::thread([this]() { Run(); });
  }
  ~Proxy() {
    stop_ = true;
    Cut();
    thread_.join();
    for (std::thread& t : pumps_) {
      t.join();
    }
    close(fd_);
  }
  uint16_t port() const { return PortOf(fd_); }
  // Closes every connection open now (both sides).
  void Cut() {
    absl::MutexLock lock(&mu_);
    for (int fd : open_) {
      shutdown(fd, SHUT_RDWR);
    }
  }
  std::string sent() {
    absl::MutexLock lock(&mu_);
    return sent_;
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) {
        continue;
      }
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        continue;
      }
      int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(target_);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(client);
        close(server);
        continue;
      }
      {
        absl::MutexLock lock(&mu_);
        open_.push_back(client);
        open_.push_back(server);
      }
      pumps_.emplace_back([this, client, server]() { Pump(client, server); });
    }
  }

  void Pump(int client, int server) {
    char buf[16384];
    while (!stop_) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(p, 2, 50) < 0) {
        break;
      }
      if (p[0].revents != 0) {
        ssize_t n = read(client, buf, sizeof(buf));
        if (n <= 0) {
          break;
        }
        {
          absl::MutexLock lock(&mu_);
          sent_.append(buf, static_cast<size_t>(n));
        }
        WriteAll(server, absl::string_view(buf, static_cast<size_t>(n)));
      }
      if (p[1].revents != 0) {
        ssize_t n = read(server, buf, sizeof(buf));
        if (n <= 0) {
          break;
        }
        WriteAll(client, absl::string_view(buf, static_cast<size_t>(n)));
      }
    }
    absl::MutexLock lock(&mu_);
    open_.erase(std::remove(open_.begin(), open_.end(), client), open_.end());
    open_.erase(std::remove(open_.begin(), open_.end(), server), open_.end());
    close(client);
    close(server);
  }

  uint16_t target_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> pumps_;
  absl::Mutex mu_;
  std::vector<int> open_ ABSL_GUARDED_BY(mu_);
  std::string sent_ ABSL_GUARDED_BY(mu_);
};

// tests/e2e/legacy-sse-server.mjs in a child process (ends when its stdin closes).
class LegacyNodeServer {
 public:
  bool Start(const std::string& node_modules) {
    int in[2];
    int out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      return false;
    }
    std::string node = node_modules + "/.bin/node";
    std::string script = std::string(MCPGW_E2E_DIR) + "/legacy-sse-server.mjs";
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      execl(node.c_str(), node.c_str(), script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    std::string line;
    char c;
    pollfd p{out[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos && poll(&p, 1, 20000) > 0 &&
           read(out[0], &c, 1) == 1) {
      line.push_back(c);
    }
    close(out[0]);
    int port = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &port)) {
      return false;
    }
    port_ = static_cast<uint16_t>(port);
    return true;
  }
  ~LegacyNodeServer() {
    if (pid_ <= 0) {
      return;
    }
    close(stdin_);
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::string url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  uint16_t port_ = 0;
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Server::Create({.info = {.name = "http-client-test", .version = "1"}});
    ASSERT_THAT(
        server_->AddSyncTool(MakeTool("echo"),
                             [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
                               return TextResult("echoed");
                             }),
        IsOk());
    ASSERT_THAT(server_->AddSyncTool(
                    MakeTool("progress"),
                    [](const Json&, RequestContext& ctx) -> absl::StatusOr<CallToolResult> {
                      ctx.ReportProgress(1, 2, "half").IgnoreError();
                      ctx.Log(LoggingLevel::kInfo, Json::String("working")).IgnoreError();
                      ctx.ReportProgress(2, 2, "done").IgnoreError();
                      return TextResult("finished");
                    }),
                IsOk());
    ASSERT_THAT(server_->AddSyncTool(
                    MakeTool("gate"),
                    [this](const Json&, RequestContext& ctx) -> absl::StatusOr<CallToolResult> {
                      ctx.ReportProgress(1).IgnoreError();
                      if (!gate_.WaitForNotificationWithTimeout(absl::Seconds(20))) {
                        return absl::DeadlineExceededError("gate stayed shut");
                      }
                      ctx.ReportProgress(2).IgnoreError();
                      ctx.ReportProgress(3).IgnoreError();
                      return TextResult("through the gate");
                    }),
                IsOk());
    ASSERT_THAT(
        server_->AddSyncTool(MakeTool("big"),
                             [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
                               return TextResult(std::string(64 << 10, 'b'));
                             }),
        IsOk());
    ASSERT_THAT(server_->AddTool(
                    MakeTool("sample"),
                    [](const Json&, RequestContext ctx, Reply<CallToolResult> reply) {
                      CreateMessageParams sample;
                      SamplingMessage m;
                      m.content.blocks.push_back(Text("capital of France?"));
                      sample.messages.push_back(std::move(m));
                      sample.max_tokens = 10;
                      ctx.CreateMessage(sample, [reply = std::move(reply)](
                                                    absl::StatusOr<CreateMessageResult> r) mutable {
                        if (!r.ok()) {
                          std::move(reply)(r.status());
                          return;
                        }
                        std::move(reply)(TextResult(
                            "sampled: " + std::get<TextContent>(r->content.blocks[0]).text));
                      });
                    }),
                IsOk());
    Resource watched;
    watched.uri = "test://watched";
    watched.name = "watched";
    ASSERT_THAT(
        server_->AddResource(watched,
                             [](const std::string& uri, const std::map<std::string, std::string>&,
                                RequestContext, Reply<ReadResourceResult> reply) {
                               ReadResourceResult r;
                               ResourceContents c;
                               c.uri = uri;
                               c.text = "watched";
                               r.contents.push_back(c);
                               std::move(reply)(r);
                             }),
        IsOk());
  }

  void TearDown() override {
    if (!gate_.HasBeenNotified()) {
      gate_.Notify();
    }
    if (client_ != nullptr) {
      client_->Close();
    }
    if (http_ != nullptr) {
      http_->Stop();
    }
  }

  void StartHttp(HttpServerOptions options = {}) {
    options.on_session = [server = server_](TransportPtr transport) {
      absl::StatusOr<std::shared_ptr<ServerSession>> s = server->Serve(std::move(transport));
      EXPECT_THAT(s.status(), IsOk());
    };
    absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(std::move(options));
    ASSERT_THAT(http.status(), IsOk());
    http_ = *std::move(http);
    url_ = http_->url();
  }

  // Makes client_ over a new HTTP transport and connects it.
  absl::StatusOr<InitializeResult> Connect(HttpClientOptions options,
                                           ClientOptions client_options = {}) {
    if (options.url.empty()) {
      options.url = url_;
    }
    absl::StatusOr<TransportPtr> transport = CreateHttpClientTransport(std::move(options));
    if (!transport.ok()) {
      return transport.status();
    }
    client_ = Client::Create(*std::move(transport), std::move(client_options));
    client_->SetSamplingHandler(
        [](const CreateMessageParams&, Callback<CreateMessageResult> reply) {
          CreateMessageResult r;
          r.model = "canned";
          r.content.blocks.push_back(Text("Paris"));
          std::move(reply)(r);
        });
    return AwaitResult<InitializeResult>([&](auto done) { client_->Connect(std::move(done)); });
  }

  absl::StatusOr<CallToolResult> Call(absl::string_view tool, CallOptions options = {}) {
    return AwaitResult<CallToolResult>([&](auto done) {
      client_->CallTool(tool, Json::Object(), std::move(options), std::move(done));
    });
  }

  // The transport's own report of why it closed, for a raw initialize.
  static std::optional<absl::Status> CloseStatusOfRawInitialize(HttpClientOptions options) {
    absl::StatusOr<TransportPtr> transport = CreateHttpClientTransport(std::move(options));
    EXPECT_THAT(transport.status(), IsOk());
    if (!transport.ok()) {
      return std::nullopt;
    }
    RecordingSink sink;
    EXPECT_THAT((*transport)->Start(&sink), IsOk());
    EXPECT_THAT((*transport)->Send(kInitialize), IsOk());
    std::optional<absl::Status> status = sink.WaitForClose();
    (*transport)->Close();
    return status;
  }

  absl::Notification gate_;
  std::shared_ptr<Server> server_;
  std::unique_ptr<HttpServer> http_;
  std::string url_;
  std::shared_ptr<Client> client_;
};

TEST_F(HttpClientTest, JsonAndSseAnswersWithProgressAndLogs) {
  StartHttp();
  absl::StatusOr<InitializeResult> init = Connect({.kind = HttpTransportKind::kStreamable});
  ASSERT_THAT(init.status(), IsOk());
  EXPECT_EQ(init->server_info.name, "http-client-test");
  EXPECT_EQ(http_->session_count(), 1u);

  absl::StatusOr<CallToolResult> echo = Call("echo");  // answered with JSON
  ASSERT_THAT(echo.status(), IsOk());
  EXPECT_EQ(TextOf(*echo), "echoed");

  absl::Mutex mu;
  std::vector<double> progress;
  std::vector<std::string> logs;
  client_->OnLogMessage([&](const LoggingMessageParams& p) {
    absl::MutexLock lock(&mu);
    logs.push_back(p.data.Serialize());
  });
  CallOptions options;
  options.on_progress = [&](const ProgressParams& p) {
    absl::MutexLock lock(&mu);
    progress.push_back(p.progress);
  };
  absl::StatusOr<CallToolResult> slow = Call("progress", std::move(options));  // an SSE stream
  ASSERT_THAT(slow.status(), IsOk());
  EXPECT_EQ(TextOf(*slow), "finished");
  absl::MutexLock lock(&mu);
  EXPECT_THAT(progress, ElementsAre(1, 2));
  EXPECT_THAT(logs, ElementsAre(R"("working")"));
}

TEST_F(HttpClientTest, ServerToClientRequestIsAnsweredThroughTheTransport) {
  StartHttp();
  ASSERT_THAT(Connect({}).status(), IsOk());
  absl::StatusOr<CallToolResult> sampled = Call("sample");
  ASSERT_THAT(sampled.status(), IsOk());
  EXPECT_EQ(TextOf(*sampled), "sampled: Paris");
}

TEST_F(HttpClientTest, GetStreamDeliversServerInitiatedNotifications) {
  StartHttp();
  ASSERT_THAT(Connect({}).status(), IsOk());
  absl::Notification changed;
  client_->SetNotificationHandler("notifications/tools/list_changed", [&](const Message&) {
    if (!changed.HasBeenNotified()) {
      changed.Notify();
    }
  });
  ASSERT_THAT(
      server_->AddSyncTool(MakeTool("late"),
                           [](const Json&, RequestContext&) -> absl::StatusOr<CallToolResult> {
                             return TextResult("late");
                           }),
      IsOk());
  EXPECT_TRUE(changed.WaitForNotificationWithTimeout(absl::Seconds(20)));
}

TEST_F(HttpClientTest, CloseEndsTheSessionWithDelete) {
  StartHttp();
  ASSERT_THAT(Connect({}).status(), IsOk());
  ASSERT_EQ(http_->session_count(), 1u);
  client_->Close();
  EXPECT_TRUE(Eventually([&]() { return http_->session_count() == 0; }));
}

TEST_F(HttpClientTest, CustomHeadersCarryTheBearerToken) {
  StartHttp({.bearer_token = "s3cret"});
  ASSERT_THAT(Connect({.headers = {{"Authorization", "Bearer s3cret"}}}).status(), IsOk());
  ASSERT_THAT(Call("echo").status(), IsOk());

  std::optional<absl::Status> wrong =
      CloseStatusOfRawInitialize({.url = url_, .headers = {{"Authorization", "Bearer nope"}}});
  ASSERT_TRUE(wrong.has_value());
  EXPECT_THAT(*wrong, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr(url_)));
  EXPECT_THAT(wrong->message(), HasSubstr("Authorization"));
  // Through a Client, the failure reaches Connect.
  client_->Close();
  absl::StatusOr<InitializeResult> refused = Connect({});
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("401"));
}

TEST_F(HttpClientTest, TransportHeadersCannotBeOverridden) {
  CannedServer canned([](const std::string& request) {
    if (absl::StrContains(request, "\"initialize\"")) {
      return CannedServer::Response(
          "200 OK", "application/json",
          R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},)"
          R"("serverInfo":{"name":"canned","version":"1"}}})",
          "Mcp-Session-Id: abc123\r\n");
    }
    return CannedServer::Response("202 Accepted", "text/plain", "");
  });
  absl::StatusOr<TransportPtr> transport = CreateHttpClientTransport(
      {.url = canned.url(),
       .kind = HttpTransportKind::kStreamable,
       .headers = {{"X-Api-Key", "k1"}, {"accept", "text/html"}, {"Mcp-Session-Id", "forged"}},
       .open_get_stream = false});
  ASSERT_THAT(transport.status(), IsOk());
  RecordingSink sink;
  ASSERT_THAT((*transport)->Start(&sink), IsOk());
  ASSERT_THAT((*transport)->Send(kInitialize), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(1));
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"),
              IsOk());
  ASSERT_TRUE(Eventually([&]() { return canned.requests().size() == 2; }));
  std::vector<std::string> requests = canned.requests();
  EXPECT_THAT(requests[0], HasSubstr("X-Api-Key: k1\r\n"));
  EXPECT_THAT(requests[0], HasSubstr("Accept: application/json, text/event-stream\r\n"));
  EXPECT_THAT(requests[0], ::testing::Not(HasSubstr("text/html")));
  EXPECT_THAT(requests[0], ::testing::Not(HasSubstr("Mcp-Session-Id")));
  EXPECT_THAT(requests[1], HasSubstr("Mcp-Session-Id: abc123\r\n"));
  EXPECT_THAT(requests[1], ::testing::Not(HasSubstr("forged")));
  EXPECT_THAT(requests[1], HasSubstr("MCP-Protocol-Version: 2025-06-18\r\n"));
  EXPECT_THAT(requests[1], HasSubstr("X-Api-Key: k1\r\n"));
  (*transport)->Close();
}

TEST_F(HttpClientTest, ParsesServerSentEvents) {
  // Comments, CRLF and CR line ends, multi-line data, an event of another type, a priming
  // event without data, retry, and an answer split over several events.
  CannedServer canned([](const std::string&) {
    return CannedServer::Response(
        "200 OK", "text/event-stream",
        ": a comment\r\nid: 7-0\r\nretry: 10\r\ndata:\r\n\r\n"
        "event: other\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"ignored\"}\n\n"
        "id: 7-1\rdata: {\"jsonrpc\":\"2.0\",\r"
        "data: \"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":1}}\r\r"
        "event: message\ndata:{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n");
  });
  absl::StatusOr<TransportPtr> transport =
      CreateHttpClientTransport({.url = canned.url(), .kind = HttpTransportKind::kStreamable});
  ASSERT_THAT(transport.status(), IsOk());
  RecordingSink sink;
  ASSERT_THAT((*transport)->Start(&sink), IsOk());
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(2));
  EXPECT_THAT(sink.frames(),
              ElementsAre("{\"jsonrpc\":\"2.0\",\n\"method\":\"notifications/message\",\"params\":"
                          "{\"level\":\"info\",\"data\":1}}",
                          R"({"jsonrpc":"2.0","id":1,"result":{}})"));
  (*transport)->Close();
}

TEST_F(HttpClientTest, AnOversizedEventIsReportedWithItsHeadAndTail) {
  const std::string big = absl::StrCat(R"({"jsonrpc":"2.0","id":1,"result":{"text":")",
                                       std::string(5000, 'x'), R"("}})");
  CannedServer canned([&big](const std::string&) {
    return CannedServer::Response("200 OK", "text/event-stream",
                                  absl::StrCat("id: 1-1\ndata: ", big, "\n\nid: 1-2\ndata: ",
                                               R"({"jsonrpc":"2.0","id":2,"result":{}})", "\n\n"));
  });
  absl::StatusOr<TransportPtr> transport = CreateHttpClientTransport(
      {.url = canned.url(), .kind = HttpTransportKind::kStreamable, .max_message_bytes = 1024});
  ASSERT_THAT(transport.status(), IsOk());
  RecordingSink sink;
  ASSERT_THAT((*transport)->Start(&sink), IsOk());
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":2,"method":"ping"})"), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(1));
  EXPECT_THAT(sink.frames(), ElementsAre(R"({"jsonrpc":"2.0","id":2,"result":{}})"));
  std::vector<OversizedFrame> oversized = sink.oversized();
  ASSERT_EQ(oversized.size(), 1u);
  EXPECT_EQ(oversized[0].size, big.size());
  EXPECT_EQ(oversized[0].limit, 1024u);
  EXPECT_THAT(oversized[0].head, ::testing::StartsWith(R"({"jsonrpc":"2.0","id":1,)"));
  EXPECT_THAT(oversized[0].tail, ::testing::EndsWith(R"(x"}})"));
  (*transport)->Close();
}

TEST_F(HttpClientTest, ConcurrentCallsOfTwoClientsOnOneLoop) {
  StartHttp();
  absl::StatusOr<std::unique_ptr<HttpClientLoop>> loop = HttpClientLoop::Create();
  ASSERT_THAT(loop.status(), IsOk());
  std::vector<std::shared_ptr<Client>> clients;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<TransportPtr> transport =
        CreateHttpClientTransport({.url = url_, .loop = loop->get()});
    ASSERT_THAT(transport.status(), IsOk());
    clients.push_back(Client::Create(*std::move(transport)));
    ASSERT_THAT(AwaitResult<InitializeResult>([&](auto done) {
                  clients.back()->Connect(std::move(done));
                }).status(),
                IsOk());
  }
  constexpr int kCalls = 20;
  absl::Mutex mu;
  int finished = 0;
  int succeeded = 0;
  for (int i = 0; i < kCalls; ++i) {
    clients[i % 2]->CallTool(i % 3 == 0 ? "progress" : "echo", Json::Object(), {},
                             [&](absl::StatusOr<CallToolResult> r) {
                               absl::MutexLock lock(&mu);
                               ++finished;
                               succeeded += r.ok() ? 1 : 0;
                             });
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return finished == kCalls; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20)));
    EXPECT_EQ(succeeded, kCalls);
  }
  EXPECT_EQ(http_->session_count(), 2u);
  for (auto& c : clients) {
    c->Close();
  }
  EXPECT_TRUE(Eventually([&]() { return http_->session_count() == 0; }));
}

TEST_F(HttpClientTest, OneFailedCallIsAnErrorAnswerAndMalformedAnswersClose) {
  CannedServer canned([](const std::string& request) {
    if (absl::StrContains(request, "\"fail\"")) {
      return CannedServer::Response("500 Internal Server Error", "text/plain", "boom");
    }
    if (absl::StrContains(request, "\"html\"")) {
      return CannedServer::Response("200 OK", "text/html", "<html></html>");
    }
    return CannedServer::Response("200 OK", "application/json",
                                  R"({"jsonrpc":"2.0","id":1,"result":{}})");
  });
  absl::StatusOr<TransportPtr> transport =
      CreateHttpClientTransport({.url = canned.url(), .kind = HttpTransportKind::kStreamable});
  ASSERT_THAT(transport.status(), IsOk());
  RecordingSink sink;
  ASSERT_THAT((*transport)->Start(&sink), IsOk());
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(1));
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":2,"method":"fail"})"), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(2));
  absl::StatusOr<Message> error = DecodeMessage(sink.frames()[1]);
  ASSERT_THAT(error.status(), IsOk());
  ASSERT_EQ(error->kind(), MessageKind::kErrorResponse);
  EXPECT_EQ(*error->id(), RequestId(2));
  EXPECT_THAT(error->error().message, HasSubstr("500"));
  EXPECT_THAT(error->error().message, HasSubstr("boom"));
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":3,"method":"html"})"), IsOk());
  std::optional<absl::Status> closed = sink.WaitForClose();
  ASSERT_TRUE(closed.has_value());
  EXPECT_THAT(*closed, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("text/html")));
  EXPECT_THAT(closed->message(), HasSubstr(canned.url()));
  EXPECT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":4,"method":"ping"})"),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(HttpClientTest, ACallWithNoAnswerInTimeFailsAloneAndTheTransportGoesOn) {
  CannedServer canned([](const std::string& request) {
    if (absl::StrContains(request, "\"slow\"")) {
      absl::SleepFor(absl::Seconds(2));
    }
    return CannedServer::Response("200 OK", "application/json",
                                  R"({"jsonrpc":"2.0","id":1,"result":{}})");
  });
  absl::StatusOr<TransportPtr> transport =
      CreateHttpClientTransport({.url = canned.url(),
                                 .kind = HttpTransportKind::kStreamable,
                                 .response_timeout = absl::Milliseconds(300)});
  ASSERT_THAT(transport.status(), IsOk());
  RecordingSink sink;
  ASSERT_THAT((*transport)->Start(&sink), IsOk());
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":7,"method":"slow"})"), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(1));
  absl::StatusOr<Message> error = DecodeMessage(sink.frames()[0]);
  ASSERT_THAT(error.status(), IsOk());
  ASSERT_EQ(error->kind(), MessageKind::kErrorResponse);
  EXPECT_EQ(*error->id(), RequestId(7));
  EXPECT_EQ(error->error().code, error_code::kRequestTimeout);
  EXPECT_THAT(error->error().message, HasSubstr(canned.url()));
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(2));
  EXPECT_EQ(sink.frames()[1], R"({"jsonrpc":"2.0","id":1,"result":{}})");
  (*transport)->Close();
}

TEST_F(HttpClientTest, ConnectionRefusedIsUnavailable) {
  int fd = Listen();
  uint16_t port = PortOf(fd);
  close(fd);  // nothing listens there now
  std::string url = absl::StrCat("http://127.0.0.1:", port, "/mcp");
  std::optional<absl::Status> status = CloseStatusOfRawInitialize({.url = url});
  ASSERT_TRUE(status.has_value());
  EXPECT_THAT(*status, StatusIs(absl::StatusCode::kUnavailable, HasSubstr(url)));
}

TEST_F(HttpClientTest, AServerThatNeverAnswersIsDeadlineExceeded) {
  int fd = Listen();  // the kernel accepts; nobody reads or answers
  std::string url = absl::StrCat("http://127.0.0.1:", PortOf(fd), "/mcp");
  std::optional<absl::Status> status =
      CloseStatusOfRawInitialize({.url = url, .response_timeout = absl::Milliseconds(300)});
  ASSERT_TRUE(status.has_value());
  EXPECT_THAT(*status, StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr(url)));
  close(fd);
}

TEST_F(HttpClientTest, BadUrlsAndOversizedFrames) {
  EXPECT_THAT(CreateHttpClientTransport({.url = "ftp://example.com/mcp"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CreateHttpClientTransport({.url = "http://"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  StartHttp();
  absl::StatusOr<TransportPtr> transport =
      CreateHttpClientTransport({.url = url_, .max_message_bytes = 4096});
  ASSERT_THAT(transport.status(), IsOk());
  EXPECT_THAT((*transport)->Send(std::string(5000, ' ')),
              StatusIs(absl::StatusCode::kResourceExhausted));
  client_ = Client::Create(*std::move(transport));
  ASSERT_THAT(
      AwaitResult<InitializeResult>([&](auto done) { client_->Connect(std::move(done)); }).status(),
      IsOk());
  // 64 KiB answer, 4 KiB limit: the call fails, the transport goes on.
  EXPECT_FALSE(Call("big").ok());
  absl::StatusOr<CallToolResult> echo = Call("echo");
  ASSERT_THAT(echo.status(), IsOk());
  EXPECT_EQ(TextOf(*echo), "echoed");
}

TEST_F(HttpClientTest, ExpiredSessionIsReinitializedAndSubscriptionsRenewed) {
  StartHttp();
  uint16_t port = http_->port();
  ASSERT_THAT(Connect({}).status(), IsOk());
  ASSERT_THAT(AwaitResult<EmptyResult>([&](auto done) {
                client_->Subscribe("test://watched", std::move(done));
              }).status(),
              IsOk());
  ASSERT_EQ(server_->sessions().size(), 1u);
  // The server restarts on the same port: it knows no session.
  http_->Stop();
  ASSERT_TRUE(Eventually([&]() { return server_->sessions().empty(); }));
  http_.reset();
  StartHttp({.port = port});
  absl::StatusOr<CallToolResult> echo = Call("echo");
  ASSERT_THAT(echo.status(), IsOk());
  EXPECT_EQ(TextOf(*echo), "echoed");
  EXPECT_EQ(http_->session_count(), 1u);
  std::vector<std::shared_ptr<ServerSession>> sessions = server_->sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_TRUE(Eventually([&]() {
    return sessions[0]->subscriptions() == std::vector<std::string>{"test://watched"};
  }));
  // Updates reach the client on the new session.
  absl::Notification updated;
  client_->OnResourceUpdated([&](const std::string& uri) {
    if (uri == "test://watched" && !updated.HasBeenNotified()) {
      updated.Notify();
    }
  });
  server_->NotifyResourceUpdated("test://watched");
  EXPECT_TRUE(updated.WaitForNotificationWithTimeout(absl::Seconds(20)));
}

TEST_F(HttpClientTest, ExpiredSessionClosesWhenReinitializationIsOff) {
  StartHttp();
  uint16_t port = http_->port();
  absl::StatusOr<TransportPtr> transport = CreateHttpClientTransport(
      {.url = url_, .open_get_stream = false, .reinitialize_on_expired_session = false});
  ASSERT_THAT(transport.status(), IsOk());
  RecordingSink sink;
  ASSERT_THAT((*transport)->Start(&sink), IsOk());
  ASSERT_THAT((*transport)->Send(kInitialize), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(1));
  http_->Stop();
  http_.reset();
  StartHttp({.port = port});
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":2,"method":"ping"})"), IsOk());
  std::optional<absl::Status> closed = sink.WaitForClose();
  ASSERT_TRUE(closed.has_value());
  EXPECT_THAT(*closed, StatusIs(absl::StatusCode::kNotFound, HasSubstr("expired")));
  (*transport)->Close();
}

TEST_F(HttpClientTest, ABrokenStreamIsResumedWithLastEventId) {
  StartHttp();
  Proxy proxy(http_->port());
  ASSERT_THAT(Connect({.url = absl::StrCat("http://127.0.0.1:", proxy.port(), "/mcp"),
                       .open_get_stream = false,
                       .reconnect_delay = absl::Milliseconds(50)})
                  .status(),
              IsOk());
  absl::Mutex mu;
  std::vector<double> progress;
  absl::Notification first;
  CallOptions options;
  options.on_progress = [&](const ProgressParams& p) {
    absl::MutexLock lock(&mu);
    progress.push_back(p.progress);
    if (!first.HasBeenNotified()) {
      first.Notify();
    }
  };
  absl::Notification done;
  absl::StatusOr<CallToolResult> result;
  client_->CallTool("gate", Json::Object(), std::move(options),
                    [&](absl::StatusOr<CallToolResult> r) {
                      result = std::move(r);
                      done.Notify();
                    });
  ASSERT_TRUE(first.WaitForNotificationWithTimeout(absl::Seconds(20)));
  proxy.Cut();
  gate_.Notify();  // the rest is written to the detached stream, to be replayed
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  ASSERT_THAT(result.status(), IsOk());
  EXPECT_EQ(TextOf(*result), "through the gate");
  absl::MutexLock lock(&mu);
  EXPECT_THAT(progress, ElementsAre(1, 2, 3));
  EXPECT_THAT(proxy.sent(), HasSubstr("Last-Event-ID: "));
}

TEST_F(HttpClientTest, AnUnresumableStreamAnswersItsRequestsWithErrors) {
  // SSE without event ids, cut before the answer.
  CannedServer canned([](const std::string&) {
    return absl::StrCat(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":"
        "\"info\",\"data\":1}}\n\n");
  });
  absl::StatusOr<TransportPtr> transport =
      CreateHttpClientTransport({.url = canned.url(), .kind = HttpTransportKind::kStreamable});
  ASSERT_THAT(transport.status(), IsOk());
  RecordingSink sink;
  ASSERT_THAT((*transport)->Start(&sink), IsOk());
  ASSERT_THAT((*transport)->Send(R"({"jsonrpc":"2.0","id":5,"method":"tools/call"})"), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(2));
  absl::StatusOr<Message> error = DecodeMessage(sink.frames()[1]);
  ASSERT_THAT(error.status(), IsOk());
  ASSERT_EQ(error->kind(), MessageKind::kErrorResponse);
  EXPECT_EQ(*error->id(), RequestId(5));
  EXPECT_THAT(error->error().message, HasSubstr("cannot be resumed"));
  (*transport)->Close();
}

TEST_F(HttpClientTest, DestroyingTheLoopClosesItsTransports) {
  StartHttp();
  absl::StatusOr<std::unique_ptr<HttpClientLoop>> loop = HttpClientLoop::Create();
  ASSERT_THAT(loop.status(), IsOk());
  absl::StatusOr<TransportPtr> transport =
      CreateHttpClientTransport({.url = url_, .loop = loop->get()});
  ASSERT_THAT(transport.status(), IsOk());
  RecordingSink sink;
  ASSERT_THAT((*transport)->Start(&sink), IsOk());
  ASSERT_THAT((*transport)->Send(kInitialize), IsOk());
  ASSERT_TRUE(sink.WaitForFrames(1));
  loop->reset();
  std::optional<absl::Status> closed = sink.WaitForClose();
  ASSERT_TRUE(closed.has_value());
  EXPECT_THAT(*closed, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE((*transport)->Send(R"({"jsonrpc":"2.0","id":2,"method":"ping"})").ok());
  transport->reset();
}

TEST_F(HttpClientTest, AutoPicksStreamableHttpWhenServed) {
  StartHttp();
  ASSERT_THAT(Connect({.kind = HttpTransportKind::kAuto}).status(), IsOk());
  EXPECT_EQ(http_->session_count(), 1u);
  ASSERT_THAT(Call("echo").status(), IsOk());
}

class LegacySseTest : public HttpClientTest {
 protected:
  void SetUp() override {
    HttpClientTest::SetUp();
    std::string modules = testing::E2eNodeModules();
    MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                          "the npm test kit is not installed (run scripts/setup.sh --tests)");
    ASSERT_TRUE(legacy_.Start(modules));
  }

  void CallEchoAndProgress() {
    absl::StatusOr<CallToolResult> echo = AwaitResult<CallToolResult>([&](auto done) {
      client_->CallTool("echo", MustParse(R"({"message":"hi"})"), {}, std::move(done));
    });
    ASSERT_THAT(echo.status(), IsOk());
    EXPECT_EQ(TextOf(*echo), "legacy: hi");
    absl::Mutex mu;
    std::vector<double> progress;
    CallOptions options;
    options.on_progress = [&](const ProgressParams& p) {
      absl::MutexLock lock(&mu);
      progress.push_back(p.progress);
    };
    absl::StatusOr<CallToolResult> slow = Call("progress", std::move(options));
    ASSERT_THAT(slow.status(), IsOk());
    EXPECT_EQ(TextOf(*slow), "done");
    absl::MutexLock lock(&mu);
    EXPECT_THAT(progress, ElementsAre(1, 2));
  }

  LegacyNodeServer legacy_;
};

TEST_F(LegacySseTest, SseKindTalksToALegacyServer) {
  absl::StatusOr<InitializeResult> init =
      Connect({.url = legacy_.url("/sse"), .kind = HttpTransportKind::kSse});
  ASSERT_THAT(init.status(), IsOk());
  EXPECT_EQ(init->server_info.name, "legacy-sse");
  CallEchoAndProgress();
}

TEST_F(LegacySseTest, AutoFallsBackToLegacySse) {
  absl::StatusOr<InitializeResult> init =
      Connect({.url = legacy_.url("/sse"), .kind = HttpTransportKind::kAuto});
  ASSERT_THAT(init.status(), IsOk());
  EXPECT_EQ(init->server_info.name, "legacy-sse");
  CallEchoAndProgress();
}

TEST_F(LegacySseTest, StreamableOnlyDoesNotFallBack) {
  std::optional<absl::Status> status = CloseStatusOfRawInitialize(
      {.url = legacy_.url("/sse"), .kind = HttpTransportKind::kStreamable});
  ASSERT_TRUE(status.has_value());
  EXPECT_THAT(*status, StatusIs(absl::StatusCode::kNotFound, HasSubstr("404")));
}

TEST_F(LegacySseTest, AutoExplainsWhenNeitherTransportIsServed) {
  std::optional<absl::Status> status = CloseStatusOfRawInitialize(
      {.url = legacy_.url("/nothing"), .kind = HttpTransportKind::kAuto});
  ASSERT_TRUE(status.has_value());
  EXPECT_THAT(status->message(), HasSubstr("Streamable HTTP"));
  EXPECT_THAT(status->message(), HasSubstr("HTTP+SSE"));
}

}  // namespace
}  // namespace mcpgw::mcp
