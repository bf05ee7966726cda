// The Streamable HTTP server transport, driven by libcurl over real loopback sockets, with
// libmcp's Server behind it.
#include "mcpgw/mcp/http_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/server.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kBothAccept[] = "Accept: application/json, text/event-stream";
constexpr char kJsonType[] = "Content-Type: application/json";

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::vector<std::string> events;       // data of each SSE event
  std::vector<std::string> event_ids;    // its id ("" without one)
  std::vector<std::string> event_names;  // its event field ("" without one)
  std::vector<std::string> retries;      // its retry field ("" without one)
  int keep_alives = 0;                   // comment-only blocks

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers = {kBothAccept, kJsonType};
  std::string body;
  // Called with each SSE event's data as it arrives; false ends the transfer.
  std::function<bool(const std::string& data)> on_event;
  // Called once the response headers are in.
  std::function<void()> on_headers;
};

struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  std::string pending;  // SSE bytes not yet split into events
  bool headers_done = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  absl::string_view trimmed = absl::StripAsciiWhitespace(line);
  if (trimmed.empty()) {
    if (t->response->status / 100 != 1 && !t->headers_done) {
      t->headers_done = true;
      if (t->request->on_headers) {
        t->request->on_headers();
      }
    }
    return size * n;
  }
  if (absl::StartsWith(trimmed, "HTTP/")) {
    std::vector<std::string> parts = absl::StrSplit(trimmed, ' ');
    if (parts.size() >= 2) {
      t->response->status = std::stol(parts[1]);
    }
    return size * n;
  }
  size_t colon = trimmed.find(':');
  if (colon != absl::string_view::npos) {
    t->response->headers[absl::AsciiStrToLower(trimmed.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(trimmed.substr(colon + 1)));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response->body.append(data, size * n);
  if (!absl::StartsWith(t->response->header("content-type"), "text/event-stream")) {
    return size * n;
  }
  t->pending.append(data, size * n);
  size_t end;
  while ((end = t->pending.find("\n\n")) != std::string::npos) {
    std::string event = t->pending.substr(0, end);
    t->pending.erase(0, end + 2);
    std::string payload;
    std::string id;
    std::string name;
    std::string retry;
    bool fields = false;  // a block of comments only (keep-alive) is no event
    for (absl::string_view line : absl::StrSplit(event, '\n')) {
      if (absl::ConsumePrefix(&line, "data:")) {
        absl::ConsumePrefix(&line, " ");
        absl::StrAppend(&payload, line);
        fields = true;
      } else if (absl::ConsumePrefix(&line, "id:")) {
        absl::ConsumePrefix(&line, " ");
        id = std::string(line);
        fields = true;
      } else if (absl::ConsumePrefix(&line, "event:")) {
        absl::ConsumePrefix(&line, " ");
        name = std::string(line);
        fields = true;
      } else if (absl::ConsumePrefix(&line, "retry:")) {
        absl::ConsumePrefix(&line, " ");
        retry = std::string(line);
        fields = true;
      }
    }
    if (!fields) {
      t->response->keep_alives++;
      continue;
    }
    t->response->events.push_back(payload);
    t->response->event_ids.push_back(id);
    t->response->event_names.push_back(name);
    t->response->retries.push_back(retry);
    if (t->request->on_event && !t->request->on_event(payload)) {
      return 0;  // ends the transfer
    }
  }
  return size * n;
}

// Fetch performs one request (bounded: 20 s). A transfer ended by on_event is not an error.
HttpResponse Fetch(const HttpRequest& request) {
  HttpResponse response;
  Transfer transfer{.request = &request, .response = &response};
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  for (const std::string& h : request.headers) {
    headers = curl_slist_append(headers, h.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  CURLcode code = curl_easy_perform(curl);
  EXPECT_TRUE(code == CURLE_OK || code == CURLE_WRITE_ERROR) << curl_easy_strerror(code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return response;
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

std::string Initialize(absl::string_view capabilities = "{}",
                       absl::string_view version = "2025-11-25") {
  return absl::StrCat(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)",
                      R"("protocolVersion":")", version, R"(","capabilities":)", capabilities,
                      R"(,"clientInfo":{"name":"curl","version":"1"}}})");
}

constexpr char kInitialized[] = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }

  void SetUp() override {
    server_ = Server::Create({.info = {.name = "http-test", .version = "1"}});
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
                    [gate = gate_](const Json&, RequestContext& ctx)
                        -> absl::StatusOr<CallToolResult> {
                      ctx.ReportProgress(1).IgnoreError();
                      if (!gate->WaitForNotificationWithTimeout(absl::Seconds(20))) {
                        return absl::DeadlineExceededError("gate stayed shut");
                      }
                      ctx.ReportProgress(2).IgnoreError();
                      ctx.ReportProgress(3).IgnoreError();
                      return TextResult("through the gate");
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
  }

  void TearDown() override {
    if (!gate_->HasBeenNotified()) {
      gate_->Notify();
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

  HttpResponse Post(std::string body, const std::string& session_id,
                    std::vector<std::string> headers = {kBothAccept, kJsonType}) {
    if (!session_id.empty()) {
      headers.push_back("Mcp-Session-Id: " + session_id);
    }
    return Fetch({.url = url_, .headers = std::move(headers), .body = std::move(body)});
  }

  // Initializes a session (initialize, then notifications/initialized); returns its id.
  std::string Open(absl::string_view capabilities = "{}",
                   absl::string_view version = "2025-11-25") {
    HttpResponse init = Post(Initialize(capabilities, version), "");
    EXPECT_EQ(init.status, 200) << init.body;
    std::string id = init.header("mcp-session-id");
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(Post(kInitialized, id).status, 202);
    return id;
  }

  // The "gate" tool waits for it between its first and second progress report. Shared: a
  // cancelled call may still be waiting on it, on the server's pool, after the test ends.
  std::shared_ptr<absl::Notification> gate_ = std::make_shared<absl::Notification>();
  std::shared_ptr<Server> server_;
  std::unique_ptr<HttpServer> http_;
  std::string url_;
};

TEST_F(HttpServerTest, InitializeIssuesASessionAndAnswersWithJson) {
  StartHttp();
  EXPECT_THAT(url_, ::testing::StartsWith("http://127.0.0.1:"));
  HttpResponse init = Post(Initialize(), "");
  ASSERT_EQ(init.status, 200) << init.body;
  EXPECT_EQ(init.header("content-type"), "application/json");
  std::string id = init.header("mcp-session-id");
  ASSERT_FALSE(id.empty());
  for (char c : id) {
    EXPECT_TRUE(c >= 0x21 && c <= 0x7e);
  }
  EXPECT_THAT(init.body, HasSubstr(R"("protocolVersion":"2025-11-25")"));
  EXPECT_THAT(init.body, HasSubstr(R"("name":"http-test")"));
  EXPECT_EQ(http_->session_count(), 1u);

  HttpResponse initialized = Post(kInitialized, id);
  EXPECT_EQ(initialized.status, 202);
  EXPECT_TRUE(initialized.body.empty());

  HttpResponse list = Post(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", id);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.header("content-type"), "application/json");
  EXPECT_THAT(list.body, HasSubstr(R"("name":"echo")"));

  HttpResponse call = Post(
      R"({"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"echo","arguments":{}}})",
      id);
  ASSERT_EQ(call.status, 200);
  EXPECT_THAT(call.body, HasSubstr(R"("id":"c")"));
  EXPECT_THAT(call.body, HasSubstr("echoed"));

  // A second session is independent.
  std::string other = Open();
  EXPECT_NE(other, id);
  EXPECT_EQ(http_->session_count(), 2u);
}

TEST_F(HttpServerTest, MissingUnknownAndEndedSessions) {
  StartHttp();
  const std::string ping = R"({"jsonrpc":"2.0","id":9,"method":"ping"})";
  EXPECT_EQ(Post(ping, "").status, 400);
  HttpResponse unknown = Post(ping, "no-such-session");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("Session not found"));

  std::string id = Open();
  HttpResponse pong = Post(ping, id);
  EXPECT_EQ(pong.status, 200);
  EXPECT_THAT(pong.body, HasSubstr(R"("result":{})"));
  // initialize again on a session is refused.
  EXPECT_EQ(Post(Initialize(), id).status, 400);

  HttpResponse del = Fetch({.method = "DELETE", .url = url_, .headers = {"Mcp-Session-Id: " + id}});
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(Post(ping, id).status, 404);
  EXPECT_EQ(Fetch({.method = "DELETE", .url = url_, .headers = {"Mcp-Session-Id: " + id}}).status,
            404);
  EXPECT_EQ(http_->session_count(), 0u);
  // The Server saw its client go (bounded wait).
  for (int i = 0; i < 500 && !server_->sessions().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(server_->sessions(), SizeIs(0));
}

TEST_F(HttpServerTest, ChecksMethodPathAndHeaders) {
  StartHttp();
  std::string id = Open();
  const std::string ping = R"({"jsonrpc":"2.0","id":9,"method":"ping"})";
  EXPECT_EQ(Post(ping, id, {"Accept: application/json", kJsonType}).status, 406);
  EXPECT_EQ(Post(ping, id, {"Accept: text/event-stream", kJsonType}).status, 406);
  EXPECT_EQ(Post(ping, id, {kBothAccept, "Content-Type: text/plain"}).status, 415);
  EXPECT_EQ(Post(ping, id, {kBothAccept, kJsonType, "MCP-Protocol-Version: 1999-01-01"}).status,
            400);
  EXPECT_EQ(Post(ping, id, {kBothAccept, kJsonType, "MCP-Protocol-Version: 2025-11-25"}).status,
            200);
  // Absent: 2025-03-26 is assumed, which is supported.
  EXPECT_EQ(Post(ping, id).status, 200);
  HttpResponse bad_json = Post("{not json", id);
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_THAT(bad_json.body, HasSubstr("-32700"));
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":3})", id).status, 400);
  EXPECT_EQ(Fetch({.method = "GET",
                   .url = url_,
                   .headers = {"Accept: application/json", "Mcp-Session-Id: " + id}})
                .status,
            406);
  EXPECT_EQ(Fetch({.method = "PUT", .url = url_, .headers = {"Mcp-Session-Id: " + id}}).status,
            405);
  HttpResponse elsewhere = Fetch({.url = url_ + "x", .body = ping});
  EXPECT_EQ(elsewhere.status, 404);
  // None of this disturbed the session.
  EXPECT_EQ(Post(ping, id).status, 200);
}

TEST_F(HttpServerTest, ProgressAndLogsStreamBeforeTheResult) {
  StartHttp();
  std::string id = Open();
  HttpResponse call =
      Post(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"progress",)"
           R"("arguments":{},"_meta":{"progressToken":"p1"}}})",
           id);
  ASSERT_EQ(call.status, 200);
  EXPECT_EQ(call.header("content-type"), "text/event-stream");
  EXPECT_EQ(call.header("mcp-session-id"), id);
  ASSERT_THAT(call.events, SizeIs(4)) << call.body;
  EXPECT_THAT(call.events[0], HasSubstr(R"("method":"notifications/progress")"));
  EXPECT_THAT(call.events[0], HasSubstr(R"("progress":1)"));
  EXPECT_THAT(call.events[1], HasSubstr(R"("method":"notifications/message")"));
  EXPECT_THAT(call.events[2], HasSubstr(R"("progress":2)"));
  EXPECT_THAT(call.events[3], HasSubstr(R"("id":7)"));
  EXPECT_THAT(call.events[3], HasSubstr("finished"));
  // The connection is reusable after the stream.
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":8,"method":"ping"})", id).status, 200);
}

TEST_F(HttpServerTest, ServerToClientRequestTravelsOnTheRequestStream) {
  StartHttp();
  std::string id = Open(R"({"sampling":{}})");
  std::vector<std::string> methods;
  HttpRequest call{
      .url = url_,
      .headers = {kBothAccept, kJsonType, "Mcp-Session-Id: " + id},
      .body = R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"sample",)"
              R"("arguments":{}}})",
      .on_event =
          [&](const std::string& data) {
            absl::StatusOr<Message> m = DecodeMessage(data);
            EXPECT_THAT(m.status(), IsOk());
            if (m.ok() && m->is_request()) {
              methods.push_back(std::string(m->method()));
              std::string answer =
                  Message::Response(*m->id(), MustParse(R"({"role":"assistant","model":"m",)"
                                                        R"("content":{"type":"text",)"
                                                        R"("text":"Paris"}})"))
                      .Serialize();
              EXPECT_EQ(Post(answer, id).status, 202);
            }
            return true;
          },
  };
  HttpResponse response = Fetch(call);
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(response.header("content-type"), "text/event-stream");
  EXPECT_THAT(methods, ElementsAre("sampling/createMessage"));
  ASSERT_THAT(response.events, SizeIs(2));
  EXPECT_THAT(response.events[1], HasSubstr("sampled: Paris"));
}

TEST_F(HttpServerTest, ConcurrentSessionsEachGetOnlyTheirOwnSamplingRequest) {
  StartHttp();
  constexpr int kSessions = 2;
  std::vector<std::string> ids;
  for (int i = 0; i < kSessions; ++i) {
    ids.push_back(Open(R"({"sampling":{}})"));
  }
  // Each client answers its sampling request with its own name, once both requests are out.
  absl::Mutex mu;
  int asked = 0;
  std::vector<std::string> results(kSessions);
  std::vector<int> requests_seen(kSessions, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < kSessions; ++i) {
    clients.emplace_back([&, i]() {
      HttpResponse r = Fetch(
          {.url = url_,
           .headers = {kBothAccept, kJsonType, "Mcp-Session-Id: " + ids[i]},
           .body = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sample",)"
                   R"("arguments":{}}})",
           .on_event = [&, i](const std::string& data) {
             absl::StatusOr<Message> m = DecodeMessage(data);
             if (!m.ok() || !m->is_request()) {
               return true;
             }
             {
               absl::MutexLock lock(&mu);
               ++requests_seen[i];
               ++asked;
               auto both = [&asked]() { return asked == kSessions; };
               mu.AwaitWithTimeout(absl::Condition(&both), absl::Seconds(20));
             }
             std::string answer =
                 Message::Response(*m->id(), MustParse(absl::StrCat(
                                                 R"({"role":"assistant","model":"m","content":{)",
                                                 R"("type":"text","text":"client )", i, R"("}})")))
                     .Serialize();
             EXPECT_EQ(Post(answer, ids[i]).status, 202);
             return true;
           }});
      absl::MutexLock lock(&mu);
      results[i] = r.events.empty() ? r.body : r.events.back();
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  for (int i = 0; i < kSessions; ++i) {
    EXPECT_EQ(requests_seen[i], 1);
    EXPECT_THAT(results[i], HasSubstr(absl::StrCat("sampled: client ", i)));
  }
}

TEST_F(HttpServerTest, GetStreamCarriesUnrelatedMessages) {
  StartHttp();
  std::string id = Open();
  absl::Notification opened;
  std::vector<std::string> seen;
  HttpResponse get_response;
  std::thread get([&]() {
    get_response = Fetch({.method = "GET",
                          .url = url_,
                          .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + id},
                          .on_event =
                              [&](const std::string& data) {
                                seen.push_back(data);
                                return false;  // one message is enough
                              },
                          .on_headers = [&]() { opened.Notify(); }});
  });
  ASSERT_TRUE(opened.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(Fetch({.method = "GET",
                   .url = url_,
                   .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + id}})
                .status,
            409);
  server_->Log(LoggingLevel::kWarning, Json::String("to everyone"));
  get.join();
  EXPECT_EQ(get_response.status, 200);
  EXPECT_EQ(get_response.header("content-type"), "text/event-stream");
  ASSERT_THAT(seen, SizeIs(1));
  EXPECT_THAT(seen[0], HasSubstr(R"("method":"notifications/message")"));
  EXPECT_THAT(seen[0], HasSubstr("to everyone"));

  // The server notices the stream is gone: a new GET is accepted (bounded retries while the
  // close is in flight).
  HttpResponse again;
  for (int i = 0; i < 200; ++i) {
    again = Fetch(
        {.method = "GET",
         .url = url_,
         .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + id},
         .on_event = [](const std::string&) { return false; },
         .on_headers = [&]() { server_->Log(LoggingLevel::kWarning, Json::String("again")); }});
    if (again.status != 409) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(again.status, 200);
  ASSERT_THAT(again.events, SizeIs(1));
  EXPECT_THAT(again.events[0], HasSubstr("again"));
}

// Calls the gate tool at 2025-11-25 and drops the connection after its first progress event.
HttpResponse CallGateAndDisconnect(const std::string& url, const std::string& session_id) {
  return Fetch({.url = url,
                .headers = {kBothAccept, kJsonType, "Mcp-Session-Id: " + session_id,
                            "MCP-Protocol-Version: 2025-11-25"},
                .body = R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"gate",)"
                        R"("arguments":{},"_meta":{"progressToken":"g"}}})",
                .on_event = [](const std::string& data) { return data.empty(); }});
}

// GET with Last-Event-ID, retried (bounded) while the server has not yet seen the old
// connection go.
HttpResponse ResumeStream(const std::string& url, const std::string& session_id,
                          const std::string& last_event_id) {
  HttpResponse r;
  for (int i = 0; i < 200; ++i) {
    r = Fetch({.method = "GET",
               .url = url,
               .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + session_id,
                           "Last-Event-ID: " + last_event_id}});
    if (r.status != 409) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return r;
}

TEST_F(HttpServerTest, ResumesAStreamAfterAConnectionDrops) {
  StartHttp();
  std::string id = Open();
  HttpResponse first = CallGateAndDisconnect(url_, id);
  ASSERT_EQ(first.status, 200);
  // The priming event (2025-11-25: an id and empty data), then the first progress.
  ASSERT_THAT(first.events, SizeIs(2)) << first.body;
  EXPECT_EQ(first.events[0], "");
  EXPECT_EQ(first.event_ids[0], "1-0");
  EXPECT_THAT(first.events[1], HasSubstr(R"("progress":1)"));
  EXPECT_EQ(first.event_ids[1], "1-1");

  gate_->Notify();
  HttpResponse resumed = ResumeStream(url_, id, first.event_ids[1]);
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  EXPECT_EQ(resumed.header("content-type"), "text/event-stream");
  // Everything after event 1-1, exactly once.
  ASSERT_THAT(resumed.events, SizeIs(3)) << resumed.body;
  EXPECT_THAT(resumed.event_ids, ElementsAre("1-2", "1-3", "1-4"));
  EXPECT_THAT(resumed.events[0], HasSubstr(R"("progress":2)"));
  EXPECT_THAT(resumed.events[1], HasSubstr(R"("progress":3)"));
  EXPECT_THAT(resumed.events[2], HasSubstr("through the gate"));

  // Resuming again from the start of the finished stream replays it; a stream never sent or
  // a malformed id is refused.
  HttpResponse again = ResumeStream(url_, id, "1-0");
  EXPECT_THAT(again.event_ids, ElementsAre("1-1", "1-2", "1-3", "1-4"));
  EXPECT_EQ(ResumeStream(url_, id, "9-0").status, 400);
  EXPECT_EQ(ResumeStream(url_, id, "1-99").status, 400);
  EXPECT_EQ(ResumeStream(url_, id, "x").status, 400);
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":8,"method":"ping"})", id).status, 200);
}

class HttpReplayLimitTest : public HttpServerTest,
                            public ::testing::WithParamInterface<HttpServerOptions (*)()> {};

TEST_P(HttpReplayLimitTest, ResumingPastTheReplayBufferAnswersWithAnError) {
  StartHttp(GetParam()());
  std::string id = Open();
  HttpResponse first = CallGateAndDisconnect(url_, id);
  ASSERT_THAT(first.event_ids, SizeIs(2)) << first.body;
  gate_->Notify();
  // Wait (bounded) until the tool has returned: progress 3 was sent before, so the buffer no
  // longer holds progress 2.
  for (int i = 0; i < 2000 && !server_->sessions().empty() &&
                  server_->sessions()[0]->session().incoming_in_flight() != 0;
       ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  HttpResponse resumed = ResumeStream(url_, id, first.event_ids[1]);
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  ASSERT_THAT(resumed.events, SizeIs(1)) << resumed.body;
  EXPECT_THAT(resumed.events[0], HasSubstr(R"("id":7)"));
  EXPECT_THAT(resumed.events[0], HasSubstr("-32000"));
  EXPECT_THAT(resumed.events[0], HasSubstr("events of SSE stream 1 were lost"));
  // The stream is gone; the session goes on.
  EXPECT_EQ(ResumeStream(url_, id, first.event_ids[1]).status, 400);
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":8,"method":"ping"})", id).status, 200);
}

INSTANTIATE_TEST_SUITE_P(EventsOrBytes, HttpReplayLimitTest,
                         ::testing::Values(
                             +[]() { return HttpServerOptions{.replay_buffer_events = 1}; },
                             +[]() { return HttpServerOptions{.replay_buffer_bytes = 1}; }));

TEST_F(HttpServerTest, LogsWithNoStreamToTakeThemAreDropped) {
  StartHttp();
  std::string id = Open();
  server_->Log(LoggingLevel::kWarning, Json::String("nobody listens"));
  ASSERT_THAT(server_->sessions(), SizeIs(1));
  Session& session = server_->sessions()[0]->session();
  for (int i = 0; i < 1000 && session.transport_stats().dropped_messages == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(session.transport_stats().dropped_messages, 1u);
  // A GET stream opened later does not get it.
  HttpResponse get = Fetch(
      {.method = "GET",
       .url = url_,
       .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + id},
       .on_event = [](const std::string&) { return false; },
       .on_headers = [&]() { server_->Log(LoggingLevel::kWarning, Json::String("listening")); }});
  ASSERT_THAT(get.events, SizeIs(1));
  EXPECT_THAT(get.events[0], HasSubstr("listening"));
}

TEST_F(HttpServerTest, CancellingARequestEndsItsStream) {
  StartHttp();
  std::string id = Open();
  // Without a progress token nothing is sent before the answer: the POST is still waiting
  // for its JSON answer when it is cancelled, and ends with 204.
  HttpResponse quiet;
  std::thread quiet_caller([&]() {
    quiet = Post(R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"gate",)"
                 R"("arguments":{}}})",
                 id);
  });
  for (int i = 0; i < 2000 && (server_->sessions().empty() ||
                               server_->sessions()[0]->session().incoming_in_flight() == 0);
       ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(
      Post(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":6}})", id)
          .status,
      202);
  quiet_caller.join();
  EXPECT_EQ(quiet.status, 204);
  EXPECT_TRUE(quiet.body.empty());

  // With progress the answer had become an SSE stream; it ends without the answer.
  absl::Notification progressed;
  HttpResponse call;
  std::thread caller([&]() {
    call = Fetch({.url = url_,
                  .headers = {kBothAccept, kJsonType, "Mcp-Session-Id: " + id,
                              "MCP-Protocol-Version: 2025-11-25"},
                  .body = R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{)"
                          R"("name":"gate","arguments":{},"_meta":{"progressToken":"g"}}})",
                  .on_event = [&](const std::string& data) {
                    if (!data.empty()) {
                      progressed.Notify();
                    }
                    return true;
                  }});
  });
  ASSERT_TRUE(progressed.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                 R"("params":{"requestId":7,"reason":"changed my mind"}})",
                 id)
                .status,
            202);
  caller.join();  // the stream ended without an answer
  EXPECT_EQ(call.status, 200);
  ASSERT_THAT(call.events, SizeIs(2)) << call.body;
  EXPECT_THAT(call.events[1], HasSubstr(R"("progress":1)"));
  gate_->Notify();
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":8,"method":"ping"})", id).status, 200);
}

TEST_F(HttpServerTest, BatchesOnlyAt2025_03_26) {
  StartHttp();
  const std::string batch = R"([{"jsonrpc":"2.0","id":1,"method":"ping"},)"
                            R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"},)"
                            R"({"jsonrpc":"2.0","id":"two","method":"tools/list"}])";
  std::string old = Open("{}", "2025-03-26");
  HttpResponse answered = Post(batch, old);
  ASSERT_EQ(answered.status, 200) << answered.body;
  EXPECT_EQ(answered.header("content-type"), "application/json");
  Json array = MustParse(answered.body);
  ASSERT_TRUE(array.value().IsArray()) << answered.body;
  EXPECT_EQ(array.value().Size(), 2u);
  EXPECT_THAT(answered.body, HasSubstr(R"("id":1)"));
  EXPECT_THAT(answered.body, HasSubstr(R"("id":"two")"));

  std::string current = Open();
  HttpResponse refused = Post(batch, current);
  EXPECT_EQ(refused.status, 400);
  EXPECT_THAT(refused.body, HasSubstr("-32600"));
  // initialize never travels in a batch.
  EXPECT_EQ(Post(absl::StrCat("[", Initialize(), "]"), "").status, 400);
}

TEST_F(HttpServerTest, SlowRequestsAreCutOff) {
  StartHttp({.request_read_timeout = absl::Milliseconds(100)});
  std::string id = Open();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(http_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval bound{.tv_sec = 20, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  const std::string partial = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  ASSERT_EQ(write(fd, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
  char byte;
  EXPECT_EQ(read(fd, &byte, 1), 0);  // the server closed the connection
  close(fd);
  // Others are not disturbed.
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})", id).status, 200);
}

TEST_F(HttpServerTest, AClientThatStopsReadingIsDisconnected) {
  StartHttp({.max_queued_bytes = size_t{1} << 30, .max_connection_queue_bytes = 64 << 10});
  std::string id = Open();
  // A GET stream whose client never reads.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(http_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string get =
      absl::StrCat("GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                   "Accept: text/event-stream\r\nMcp-Session-Id: ", id, "\r\n\r\n");
  ASSERT_EQ(write(fd, get.data(), get.size()), static_cast<ssize_t>(get.size()));
  // Read its response header (bounded), then stop reading.
  timeval bound{.tv_sec = 20, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  std::string head;
  char c;
  while (!absl::EndsWith(head, "\r\n\r\n") && head.size() < 4096 && read(fd, &c, 1) == 1) {
    head.push_back(c);
  }
  ASSERT_THAT(head, ::testing::StartsWith("HTTP/1.1 200"));
  long status = 409;
  // Messages pile up until the server gives up on the connection; the stream then lives on
  // detached, and a new GET replaces it.
  const std::string big(16 << 10, 'x');
  for (int round = 0; round < 100 && status == 409; ++round) {
    for (int i = 0; i < 50; ++i) {
      server_->Log(LoggingLevel::kWarning, Json::String(big));
    }
    status = Fetch({.method = "GET",
                    .url = url_,
                    .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + id},
                    .on_event = [](const std::string&) { return false; },
                    .on_headers =
                        [&]() { server_->Log(LoggingLevel::kWarning, Json::String("fresh")); }})
                 .status;
  }
  EXPECT_EQ(status, 200);
  close(fd);
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})", id).status, 200);
}

TEST_F(HttpServerTest, TransportOutlivesTheServer) {
  TransportPtr kept;
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
      {.on_session = [&kept](TransportPtr transport) { kept = std::move(transport); }});
  ASSERT_THAT(http.status(), IsOk());
  url_ = (*http)->url();
  // Not started: the initialize waits; the server's stop answers it.
  std::thread client([&]() {
    HttpResponse init = Post(Initialize(), "");
    EXPECT_EQ(init.status, 200);
    EXPECT_THAT(init.body, HasSubstr("-32000"));
  });
  for (int i = 0; i < 2000 && (*http)->session_count() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ((*http)->session_count(), 1u);
  (*http)->Stop();
  client.join();
  http->reset();
  ASSERT_NE(kept, nullptr);
  EXPECT_FALSE(kept->Send(R"({"jsonrpc":"2.0","method":"x"})").ok());
  kept->Close();
  kept->Close();
  kept.reset();
}

TEST_F(HttpServerTest, OriginAndHostValidation) {
  StartHttp({.allowed_origins = {"https://app.example.com"}, .allowed_hosts = {"mcp.test"}});
  const std::string init = Initialize();
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Origin: http://evil.example"}).status, 403);
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Origin: null"}).status, 403);
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Host: evil.example"}).status, 403);
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Host: evil.example:8080"}).status, 403);
  EXPECT_EQ(http_->session_count(), 0u);
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Origin: http://localhost:5173"}).status, 200);
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Origin: https://app.example.com"}).status,
            200);
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Host: mcp.test"}).status, 200);
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Host: localhost:1"}).status, 200);
}

TEST_F(HttpServerTest, BearerToken) {
  StartHttp({.bearer_token = "s3cret"});
  const std::string init = Initialize();
  HttpResponse none = Post(init, "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Authorization: Bearer s3cre"}).status, 401);
  EXPECT_EQ(Post(init, "", {kBothAccept, kJsonType, "Authorization: Basic s3cret"}).status, 401);
  EXPECT_EQ(http_->session_count(), 0u);
  HttpResponse ok = Post(init, "", {kBothAccept, kJsonType, "Authorization: Bearer s3cret"});
  ASSERT_EQ(ok.status, 200);
  std::string id = ok.header("mcp-session-id");
  // Every request needs it, not just initialize.
  EXPECT_EQ(Post(kInitialized, id).status, 401);
  EXPECT_EQ(Post(kInitialized, id, {kBothAccept, kJsonType, "Authorization: bearer s3cret"}).status,
            202);
}

TEST_F(HttpServerTest, RefusesNonLoopbackBindAndBadOptions) {
  EXPECT_FALSE(HttpServer::Start(
                   {.host = "127.0.0.1", .on_session = [](TransportPtr) {}, .bearer_token = ""})
                   .ok());
  EXPECT_FALSE(HttpServer::Start({.host = "0.0.0.0", .on_session = [](TransportPtr) {}}).ok());
  EXPECT_FALSE(HttpServer::Start({.path = "mcp", .on_session = [](TransportPtr) {}}).ok());
  EXPECT_FALSE(HttpServer::Start({}).ok());
}

TEST_F(HttpServerTest, BodyLimit) {
  StartHttp({.max_message_bytes = 1024});
  std::string id = Open();
  std::string big = absl::StrCat(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":")",
                                 std::string(4096, 'a'), R"("}})");
  EXPECT_EQ(Post(big, id).status, 413);
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})", id).status, 200);
}

TEST_F(HttpServerTest, SessionLimit) {
  StartHttp({.max_sessions = 1});
  std::string id = Open();
  EXPECT_EQ(Post(Initialize(), "").status, 503);
  EXPECT_EQ(Fetch({.method = "DELETE", .url = url_, .headers = {"Mcp-Session-Id: " + id}}).status,
            200);
  EXPECT_EQ(Post(Initialize(), "").status, 200);
}

TEST_F(HttpServerTest, IdleSessionsExpire) {
  StartHttp({.session_idle_timeout = absl::Milliseconds(300)});
  std::string id = Open();
  // Polled without touching the session (a request would keep it alive); bounded.
  for (int i = 0; i < 1000 && http_->session_count() != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(http_->session_count(), 0u);
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", id).status, 404);
  for (int i = 0; i < 500 && !server_->sessions().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(server_->sessions(), SizeIs(0));
}

TEST_F(HttpServerTest, StopEndsEverySession) {
  StartHttp();
  Open();
  Open();
  EXPECT_THAT(server_->sessions(), SizeIs(2));
  http_->Stop();
  http_->Stop();  // idempotent
  EXPECT_EQ(http_->session_count(), 0u);
  for (int i = 0; i < 500 && !server_->sessions().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(server_->sessions(), SizeIs(0));
}

// A legacy HTTP+SSE client's event stream, read on its own thread. Events are collected;
// WaitFor waits (bounded) for one matching a substring. Close ends the transfer (on the next
// event, which it provokes with a log message to every session).
class LegacyStream {
 public:
  LegacyStream(std::string sse_url, std::vector<std::string> headers = {"Accept: text/event-stream"})
      : thread_([this, url = std::move(sse_url), headers = std::move(headers)]() {
          response_ = Fetch({.method = "GET",
                             .url = url,
                             .headers = headers,
                             .on_event =
                                 [this](const std::string& data) {
                                   absl::MutexLock lock(&mu_);
                                   seen_.push_back(data);
                                   return !closing_;
                                 }});
          absl::MutexLock lock(&mu_);
          done_ = true;
        }) {}
  ~LegacyStream() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  // The first event whose data contains `needle` (polled for up to 20 s); "" when none came.
  std::string WaitFor(absl::string_view needle) {
    for (int i = 0; i < 4000; ++i) {
      {
        absl::MutexLock lock(&mu_);
        for (const std::string& e : seen_) {
          if (absl::StrContains(e, needle)) {
            return e;
          }
        }
        if (done_) {
          return "";
        }
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return "";
  }

  std::vector<std::string> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

  // Ends the transfer (the client closes the stream); `poke` makes the server send an event.
  HttpResponse Close(const std::function<void()>& poke) {
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
    }
    for (int i = 0; i < 2000; ++i) {
      {
        absl::MutexLock lock(&mu_);
        if (done_) {
          break;
        }
      }
      poke();
      absl::SleepFor(absl::Milliseconds(10));
    }
    thread_.join();
    return response_;
  }

  // Waits for the transfer to end by itself (the server closed the stream).
  HttpResponse Join() {
    thread_.join();
    return response_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  HttpResponse response_;
  std::thread thread_;
};

// "http://127.0.0.1:PORT" of a URL.
std::string Origin(const std::string& url) { return url.substr(0, url.find('/', 8)); }

TEST_F(HttpServerTest, LegacySseSession) {
  StartHttp();
  std::string sse = http_->sse_url();
  EXPECT_EQ(sse, Origin(url_) + "/sse");
  LegacyStream stream(sse);
  std::string endpoint = stream.WaitFor("/message?sessionId=");
  ASSERT_FALSE(endpoint.empty());
  // The session exists from the GET on, before initialize.
  EXPECT_EQ(http_->session_count(), 1u);
  std::string message_url = Origin(url_) + endpoint;
  auto post = [&](const std::string& url, std::string body,
                  std::vector<std::string> headers = {kJsonType}) {
    return Fetch({.url = url, .headers = std::move(headers), .body = std::move(body)});
  };
  HttpResponse init = post(message_url, Initialize("{}", "2024-11-05"));
  EXPECT_EQ(init.status, 202);
  EXPECT_EQ(init.body, "Accepted");
  std::string answer = stream.WaitFor(R"("id":1)");
  EXPECT_THAT(answer, HasSubstr(R"("protocolVersion":"2024-11-05")"));
  EXPECT_THAT(answer, HasSubstr(R"("name":"http-test")"));
  EXPECT_EQ(post(message_url, kInitialized).status, 202);
  EXPECT_EQ(post(message_url,
                 R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"progress",)"
                 R"("arguments":{},"_meta":{"progressToken":"p1"}}})")
                .status,
            202);
  EXPECT_THAT(stream.WaitFor(R"("id":7)"), HasSubstr("finished"));
  std::vector<std::string> seen = stream.seen();
  // Progress and the log went on the same stream, before the answer.
  ASSERT_GE(seen.size(), 5u);
  EXPECT_THAT(seen[seen.size() - 4], HasSubstr(R"("progress":1)"));
  EXPECT_THAT(seen[seen.size() - 3], HasSubstr("working"));
  EXPECT_THAT(seen[seen.size() - 2], HasSubstr(R"("progress":2)"));

  // Bad input is refused with a clear status and disturbs nothing.
  std::string base_message = Origin(url_) + "/message";
  HttpResponse unknown = post(base_message + "?sessionId=nope", kInitialized);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("no such session"));
  EXPECT_EQ(post(base_message, kInitialized).status, 400);
  HttpResponse bad_json = post(message_url, "{not json");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_THAT(bad_json.body, HasSubstr("-32700"));
  EXPECT_EQ(post(message_url, kInitialized, {"Content-Type: text/plain"}).status, 415);
  EXPECT_EQ(Fetch({.method = "GET", .url = message_url}).status, 405);
  // A legacy session id is no Streamable session, and the other way round.
  std::string legacy_id = endpoint.substr(endpoint.find('=') + 1);
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})", legacy_id).status, 404);
  std::string streamable = Open();
  EXPECT_EQ(post(base_message + "?sessionId=" + streamable, kInitialized).status, 404);
  EXPECT_EQ(post(message_url, R"({"jsonrpc":"2.0","id":8,"method":"ping"})").status, 202);
  EXPECT_THAT(stream.WaitFor(R"("id":8)"), HasSubstr(R"("result":{})"));

  // Closing the stream ends the session: the Server sees its client go, and the message URL
  // is gone.
  HttpResponse get = stream.Close([&]() { server_->Log(LoggingLevel::kWarning, Json::String("x")); });
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.header("content-type"), "text/event-stream");
  ASSERT_FALSE(get.event_names.empty());
  EXPECT_EQ(get.event_names[0], "endpoint");
  EXPECT_EQ(get.event_names.back(), "message");
  for (int i = 0; i < 500 && http_->session_count() != 1; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(http_->session_count(), 1u);  // the Streamable one
  for (int i = 0; i < 500 && server_->sessions().size() != 1; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(server_->sessions(), SizeIs(1));
  EXPECT_EQ(post(message_url, kInitialized).status, 404);
  EXPECT_EQ(Post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})", streamable).status, 200);
}

TEST_F(HttpServerTest, LegacySseSessionEndsWhenTheServerSideCloses) {
  TransportPtr kept;
  absl::Notification got;
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start({.on_session = [&](TransportPtr transport) {
        kept = std::move(transport);
        got.Notify();
      }});
  ASSERT_THAT(http.status(), IsOk());
  LegacyStream stream((*http)->sse_url());
  ASSERT_TRUE(got.WaitForNotificationWithTimeout(absl::Seconds(20)));
  // Destroyed without being started: the session ends and its stream is closed.
  kept.reset();
  HttpResponse get = stream.Join();
  EXPECT_EQ(get.status, 200);
  EXPECT_THAT(get.event_names, ElementsAre("endpoint"));
  EXPECT_EQ((*http)->session_count(), 0u);
}

TEST_F(HttpServerTest, LegacySseProtections) {
  StartHttp({.max_message_bytes = 1024, .max_sessions = 1, .bearer_token = "s3cret"});
  std::string sse = http_->sse_url();
  const std::string auth = "Authorization: Bearer s3cret";
  // Without the token, from a foreign origin, or naming a foreign host: refused, no session.
  EXPECT_EQ(Fetch({.method = "GET", .url = sse, .headers = {"Accept: text/event-stream"}}).status,
            401);
  EXPECT_EQ(Fetch({.method = "GET",
                   .url = sse,
                   .headers = {"Accept: text/event-stream", auth, "Origin: http://evil.example"}})
                .status,
            403);
  EXPECT_EQ(Fetch({.method = "GET",
                   .url = sse,
                   .headers = {"Accept: text/event-stream", auth, "Host: evil.example"}})
                .status,
            403);
  EXPECT_EQ(Fetch({.method = "GET", .url = sse, .headers = {"Accept: application/json", auth}})
                .status,
            406);
  EXPECT_EQ(Fetch({.url = sse, .headers = {kJsonType, auth}, .body = "{}"}).status, 405);
  EXPECT_EQ(http_->session_count(), 0u);

  LegacyStream stream(sse, {"Accept: text/event-stream", auth});
  std::string endpoint = stream.WaitFor("/message?sessionId=");
  ASSERT_FALSE(endpoint.empty());
  std::string message_url = Origin(url_) + endpoint;
  // max_sessions counts legacy sessions.
  EXPECT_EQ(Post(Initialize(), "", {kBothAccept, kJsonType, auth}).status, 503);
  EXPECT_EQ(Fetch({.method = "GET", .url = sse, .headers = {"Accept: text/event-stream", auth}})
                .status,
            503);
  const std::string ping = R"({"jsonrpc":"2.0","id":5,"method":"ping"})";
  EXPECT_EQ(Fetch({.url = message_url, .headers = {kJsonType}, .body = ping}).status, 401);
  EXPECT_EQ(Fetch({.url = message_url,
                   .headers = {kJsonType, auth, "Origin: http://evil.example"},
                   .body = ping})
                .status,
            403);
  std::string big = absl::StrCat(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":")",
                                 std::string(4096, 'a'), R"("}})");
  EXPECT_EQ(Fetch({.url = message_url, .headers = {kJsonType, auth}, .body = big}).status, 413);
  // None of it reached the session or disturbed it.
  EXPECT_EQ(Fetch({.url = message_url, .headers = {kJsonType, auth}, .body = Initialize()}).status,
            202);
  EXPECT_THAT(stream.WaitFor(R"("id":1)"), HasSubstr("protocolVersion"));
  std::vector<std::string> seen = stream.seen();
  EXPECT_THAT(seen, SizeIs(2)) << seen.back();
  stream.Close([&]() { server_->Log(LoggingLevel::kWarning, Json::String("x")); });
}

TEST_F(HttpServerTest, LegacySseCanBeTurnedOffAndPathsMustDiffer) {
  StartHttp({.sse_path = ""});
  EXPECT_EQ(http_->sse_url(), "");
  EXPECT_EQ(Fetch({.method = "GET",
                   .url = Origin(url_) + "/sse",
                   .headers = {"Accept: text/event-stream"}})
                .status,
            404);
  EXPECT_EQ(Fetch({.url = Origin(url_) + "/message?sessionId=x", .body = kInitialized}).status,
            404);
  auto start = [](HttpServerOptions o) {
    o.on_session = [](TransportPtr) {};
    return HttpServer::Start(std::move(o)).status();
  };
  EXPECT_THAT(start({.sse_path = "/mcp"}).message(), HasSubstr("path and sse_path"));
  EXPECT_THAT(start({.message_path = ""}).message(), HasSubstr("message_path"));
  EXPECT_THAT(start({.health_path = "healthz"}).message(), HasSubstr("must start with '/'"));
}

// Records how a transport ended.
class ClosedSink : public TransportSink {
 public:
  void OnFrame(absl::string_view) override {}
  void OnOversizedFrame(const OversizedFrame&) override {}
  void OnTransportClosed(absl::Status status) override {
    absl::MutexLock lock(&mu_);
    closed_ = std::move(status);
  }
  std::optional<absl::Status> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

 private:
  absl::Mutex mu_;
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
};

// A legacy reader that stops reading: droppable messages are dropped while its connection is
// behind (counted), others queue until the connection is given up, which ends its session.
TEST_F(HttpServerTest, LegacySseSlowReader) {
  TransportPtr kept;
  absl::Notification got;
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
      {.on_session =
           [&](TransportPtr transport) {
             kept = std::move(transport);
             got.Notify();
           },
       .max_queued_bytes = 64 << 10,
       .max_connection_queue_bytes = 1 << 20});
  ASSERT_THAT(http.status(), IsOk());
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((*http)->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string get =
      "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  ASSERT_EQ(write(fd, get.data(), get.size()), static_cast<ssize_t>(get.size()));
  ASSERT_TRUE(got.WaitForNotificationWithTimeout(absl::Seconds(20)));
  ClosedSink sink;
  ASSERT_THAT(kept->Start(&sink), IsOk());
  // Never read from here on.
  const std::string log = absl::StrCat(
      R"({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":")",
      std::string(16 << 10, 'x'), R"("}})");
  for (int i = 0; i < 20000 && kept->stats().dropped_messages == 0; ++i) {
    ASSERT_THAT(kept->Send(log, {.droppable = true}), IsOk());
  }
  EXPECT_GT(kept->stats().dropped_messages, 0u);
  EXPECT_EQ((*http)->session_count(), 1u);
  // Messages that are never dropped pile up until the connection is given up (bounded).
  const std::string notice = absl::StrCat(
      R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":")",
      std::string(16 << 10, 'y'), R"("}})");
  for (int i = 0; i < 20000 && !sink.closed().has_value(); ++i) {
    if (!kept->Send(notice).ok()) {
      break;
    }
    if (i % 64 == 0) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  for (int i = 0; i < 2000 && !sink.closed().has_value(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(sink.closed().has_value());
  EXPECT_EQ((*http)->session_count(), 0u);
  close(fd);
  kept.reset();
}

TEST_F(HttpServerTest, HealthCheck) {
  StartHttp({.bearer_token = "s3cret"});
  std::string health = Origin(url_) + "/healthz";
  // No token needed.
  HttpResponse r = Fetch({.method = "GET", .url = health, .headers = {}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"status":"ok","sessions":0})");
  ASSERT_EQ(Post(Initialize(), "", {kBothAccept, kJsonType, "Authorization: Bearer s3cret"}).status,
            200);
  EXPECT_EQ(Fetch({.method = "GET", .url = health, .headers = {}}).body,
            R"({"status":"ok","sessions":1})");
  // Host (DNS rebinding) and Origin still checked; only GET.
  EXPECT_EQ(Fetch({.method = "GET", .url = health, .headers = {"Host: evil.example"}}).status, 403);
  EXPECT_EQ(
      Fetch({.method = "GET", .url = health, .headers = {"Origin: http://evil.example"}}).status,
      403);
  EXPECT_EQ(Fetch({.url = health, .headers = {}, .body = "{}"}).status, 405);
}

TEST_F(HttpServerTest, PrimingEventsCarryRetryOnlyFrom2025_11_25) {
  StartHttp({.sse_retry = absl::Milliseconds(250)});
  const std::string call =
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"progress",)"
      R"("arguments":{},"_meta":{"progressToken":"p1"}}})";
  std::string current = Open();
  HttpResponse primed = Post(call, current, {kBothAccept, kJsonType, "MCP-Protocol-Version: 2025-11-25"});
  ASSERT_EQ(primed.status, 200);
  ASSERT_THAT(primed.events, SizeIs(5)) << primed.body;
  EXPECT_EQ(primed.events[0], "");
  EXPECT_EQ(primed.retries[0], "250");
  // Only the priming event carries it.
  EXPECT_THAT(std::vector<std::string>(primed.retries.begin() + 1, primed.retries.end()),
              ElementsAre("", "", "", ""));

  std::string older = Open("{}", "2025-06-18");
  HttpResponse plain = Post(call, older, {kBothAccept, kJsonType, "MCP-Protocol-Version: 2025-06-18"});
  ASSERT_EQ(plain.status, 200);
  ASSERT_THAT(plain.events, SizeIs(4)) << plain.body;
  EXPECT_THAT(plain.retries, ElementsAre("", "", "", ""));
  EXPECT_THAT(plain.body, ::testing::Not(HasSubstr("retry:")));

  // The GET stream too.
  HttpResponse get = Fetch({.method = "GET",
                            .url = url_,
                            .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + current,
                                        "MCP-Protocol-Version: 2025-11-25"},
                            .on_event = [](const std::string&) { return false; }});
  ASSERT_THAT(get.retries, SizeIs(1));
  EXPECT_EQ(get.retries[0], "250");
}

TEST_F(HttpServerTest, ProtocolVersionHeaderMustMatchTheSession) {
  StartHttp();
  const std::string ping = R"({"jsonrpc":"2.0","id":9,"method":"ping"})";
  std::string id = Open();
  HttpResponse mismatch =
      Post(ping, id, {kBothAccept, kJsonType, "MCP-Protocol-Version: 2025-06-18"});
  EXPECT_EQ(mismatch.status, 400);
  EXPECT_THAT(mismatch.body, HasSubstr("MCP-Protocol-Version 2025-06-18 differs from the protocol "
                                       "version negotiated for this session (2025-11-25)"));
  EXPECT_EQ(Fetch({.method = "GET",
                   .url = url_,
                   .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + id,
                               "MCP-Protocol-Version: 2025-03-26"}})
                .status,
            400);
  EXPECT_EQ(Post(ping, id, {kBothAccept, kJsonType, "MCP-Protocol-Version: 2025-11-25"}).status,
            200);
  EXPECT_EQ(Post(ping, id).status, 200);  // absent: accepted
  std::string older = Open("{}", "2025-06-18");
  EXPECT_EQ(Post(ping, older, {kBothAccept, kJsonType, "MCP-Protocol-Version: 2025-06-18"}).status,
            200);
  EXPECT_EQ(Post(ping, older, {kBothAccept, kJsonType, "MCP-Protocol-Version: 2025-11-25"}).status,
            400);
}

// Every kind of bad request gets its status, and a session open meanwhile (with a GET stream)
// is not disturbed by any of them.
TEST_F(HttpServerTest, MalformedRequestsLeaveOtherSessionsAlone) {
  StartHttp({.max_message_bytes = 4096, .request_read_timeout = absl::Milliseconds(200)});
  std::string bystander = Open();
  absl::Notification opened;
  HttpResponse get_response;
  std::thread get([&]() {
    get_response = Fetch({.method = "GET",
                          .url = url_,
                          .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + bystander},
                          .on_event = [](const std::string& data) { return data.empty(); },
                          .on_headers = [&]() { opened.Notify(); }});
  });
  ASSERT_TRUE(opened.WaitForNotificationWithTimeout(absl::Seconds(20)));
  std::string victim = Open();
  const std::string ping = R"({"jsonrpc":"2.0","id":9,"method":"ping"})";
  auto bystander_works = [&](const std::string& after) {
    HttpResponse pong = Post(ping, bystander);
    EXPECT_EQ(pong.status, 200) << "after " << after;
    EXPECT_THAT(pong.body, HasSubstr(R"("result":{})")) << "after " << after;
  };
  EXPECT_EQ(Post("{not json", victim).status, 400);
  bystander_works("bad JSON");
  EXPECT_EQ(Post(ping, victim, {kBothAccept, "Content-Type: text/plain"}).status, 415);
  bystander_works("wrong content type");
  EXPECT_EQ(Post(absl::StrCat(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":")",
                              std::string(1 << 20, 'a'), R"("}})"),
                 victim)
                .status,
            413);
  bystander_works("a huge body");
  EXPECT_EQ(Post(ping, "no-such-session").status, 404);
  bystander_works("an unknown session");
  EXPECT_EQ(Post(ping, victim, {kBothAccept, kJsonType, "MCP-Protocol-Version: 2024-13-45"}).status,
            400);
  bystander_works("a bad protocol version header");
  EXPECT_EQ(Post(ping, victim, {kBothAccept, kJsonType, "Origin: http://evil.example"}).status,
            403);
  bystander_works("a foreign Origin");
  // Slowloris: a request that never completes is cut off after request_read_timeout.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(http_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval bound{.tv_sec = 20, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  const std::string partial =
      "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"";
  ASSERT_EQ(write(fd, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
  bystander_works("a partial request (still open)");
  char byte;
  EXPECT_EQ(read(fd, &byte, 1), 0);  // the server closed the connection
  close(fd);
  bystander_works("a partial request");
  // Garbage that is not HTTP at all.
  fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  const std::string garbage = "\x16\x03\x01 not http at all\r\n\r\n";
  ASSERT_EQ(write(fd, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  std::string reply;
  char buf[512];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_THAT(reply, ::testing::StartsWith("HTTP/1.1 400"));
  bystander_works("bytes that are not HTTP");
  // The victim session itself survived its bad requests too, and the bystander's GET stream
  // still carries messages.
  EXPECT_EQ(Post(ping, victim).status, 200);
  server_->Log(LoggingLevel::kWarning, Json::String("still here"));
  get.join();
  EXPECT_EQ(get_response.status, 200);
  ASSERT_FALSE(get_response.events.empty());
  EXPECT_THAT(get_response.events.back(), HasSubstr("still here"));
}

TEST_F(HttpServerTest, KeepAliveCommentsOnIdleStreams) {
  StartHttp({.sse_keepalive = absl::Milliseconds(50)});
  std::string id = Open();
  absl::Notification opened;
  HttpResponse get;
  std::thread reader([&]() {
    get = Fetch({.method = "GET",
                 .url = url_,
                 .headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + id},
                 .on_event = [](const std::string&) { return false; },
                 .on_headers = [&]() { opened.Notify(); }});
  });
  ASSERT_TRUE(opened.WaitForNotificationWithTimeout(absl::Seconds(20)));
  // Ten times the keep-alive interval of silence, then a real event ends the transfer.
  absl::SleepFor(absl::Milliseconds(500));
  server_->Log(LoggingLevel::kWarning, Json::String("after the quiet"));
  reader.join();
  EXPECT_EQ(get.status, 200);
  EXPECT_GE(get.keep_alives, 1);
  EXPECT_THAT(get.body, HasSubstr(": keep-alive\n\n"));
  ASSERT_THAT(get.events, SizeIs(1));
  EXPECT_THAT(get.events[0], HasSubstr("after the quiet"));
}

TEST_F(HttpServerTest, TypeScriptSdkSseClient) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  StartHttp();
  testing::ChildResult r = testing::RunProgram(
      {modules + "/.bin/node", std::string(MCPGW_E2E_DIR) + "/sdk-sse-client.mjs",
       http_->sse_url()});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  absl::StatusOr<Json> seen = Json::Parse(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(seen.ok()) << r.out;
  const JsonValue& v = seen->value();
  EXPECT_EQ(SerializeJson(v["server"]), R"("http-test")");
  EXPECT_EQ(SerializeJson(v["tools"]), R"(["echo","progress","gate","sample"])");
  EXPECT_EQ(SerializeJson(v["echo"]), R"("echoed")");
  EXPECT_EQ(SerializeJson(v["slow"]), R"("finished")");
  EXPECT_EQ(SerializeJson(v["progress"]), "[1,2]");
  EXPECT_EQ(SerializeJson(v["logs"]), R"(["working"])");
  EXPECT_EQ(SerializeJson(v["sampled"]), R"("sampled: Paris")");
  // The client closed its event stream, which ended the session (bounded wait).
  for (int i = 0; i < 500 && http_->session_count() != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(http_->session_count(), 0u);
  for (int i = 0; i < 500 && !server_->sessions().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(server_->sessions(), SizeIs(0));
}

// Boost.Beast/Asio are slow to compile: they stay in one translation unit of libmcp.
TEST(HttpServerSources, OnlyHttpServerCcIncludesBoost) {
  std::regex include(R"re(^\s*#\s*include\s*[<"]boost/)re");
  std::vector<std::string> found;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(MCPGW_SOURCE_DIR) + "/libmcp")) {
    if (!entry.is_regular_file()) {
      continue;
    }
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      if (std::regex_search(line, include)) {
        found.push_back(entry.path().lexically_relative(MCPGW_SOURCE_DIR).string());
        break;
      }
    }
  }
  EXPECT_THAT(found, ElementsAre("libmcp/src/http_server.cc"));
}

TEST_F(HttpServerTest, TypeScriptSdkClient) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  StartHttp();
  testing::ChildResult r = testing::RunProgram(
      {modules + "/.bin/node", std::string(MCPGW_E2E_DIR) + "/sdk-http-client.mjs", url_});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  absl::StatusOr<Json> seen = Json::Parse(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(seen.ok()) << r.out;
  const JsonValue& v = seen->value();
  EXPECT_EQ(std::string(v["sessionId"].GetString()).size(), 32u);
  EXPECT_EQ(SerializeJson(v["version"]), R"("2025-11-25")");
  EXPECT_EQ(SerializeJson(v["tools"]), R"(["echo","progress","gate","sample"])");
  EXPECT_EQ(SerializeJson(v["echo"]), R"("echoed")");
  EXPECT_EQ(SerializeJson(v["slow"]), R"("finished")");
  EXPECT_EQ(SerializeJson(v["progress"]), "[1,2]");
  EXPECT_EQ(SerializeJson(v["logs"]), R"(["working"])");
  EXPECT_EQ(SerializeJson(v["sampled"]), R"("sampled: Paris")");
  // The client ended its session with DELETE.
  EXPECT_EQ(http_->session_count(), 0u);
}

}  // namespace
}  // namespace mcpgw::mcp
