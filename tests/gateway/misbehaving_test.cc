// Misbehaving servers are contained: a server that hangs at initialize, prints garbage or
// oversized lines, floods notifications or floods stderr has its own calls fail with clear
// errors, while the gateway and a healthy server (mcp-fixture-server) carry on; a client that
// stops reading gets a bounded queue that sheds log notifications but never a response. The
// bad servers are tests/gateway/misbehaving_server.cc, started by ProcessRuntime.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/gateway/gateway.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/line_transport.h"
#include "mcpgw/mcp/memory_transport.h"
#include "testing/await.h"
#include "testing/status_matchers.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::AwaitResult;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);

std::string TextOf(const mcp::CallToolResult& r) {
  std::string out;
  for (const auto& block : r.content) {
    if (const auto* t = std::get_if<mcp::TextContent>(&block)) {
      out += t->text;
    }
  }
  return out;
}

// VmRSS of this process (the gateway runs in it), in bytes.
size_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      size_t kb = 0;
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) {
        return kb << 10;
      }
    }
  }
  return 0;
}

class MisbehavingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<container::ProcessRuntime>> runtime =
        container::ProcessRuntime::Create({});
    ASSERT_THAT(runtime.status(), IsOk());
    runtime_ = *std::move(runtime);
  }

  void TearDown() override {
    if (client_ != nullptr) {
      client_->Close();
    }
    if (gateway_ != nullptr) {
      gateway_->Shutdown();
      EXPECT_THAT(gateway_->WaitStopped(absl::Now() + kWait), IsOk());
      gateway_.reset();
    }
    absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline && Running() > 0) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ(Running(), 0) << "a server outlived the gateway";
    runtime_.reset();
    if (!marker_.empty()) {
      unlink(marker_.c_str());
    }
  }

  int Running() {
    int n = 0;
    for (const auto& info : runtime_->List({}).value_or(std::vector<container::InstanceInfo>{})) {
      n += info.exit_status.has_value() ? 0 : 1;
    }
    return n;
  }

  GatewayServer Good() {
    GatewayServer s;
    s.config.name = "good";
    s.config.spec.command = MCPGW_FIXTURE_SERVER;
    s.runtime = runtime_.get();
    return s;
  }

  GatewayServer Bad(std::vector<std::string> flags) {
    GatewayServer s;
    s.config.name = "bad";
    s.config.spec.command = MCPGW_MISBEHAVING_SERVER;
    s.config.spec.args = std::move(flags);
    s.config.stop_grace = absl::Milliseconds(200);
    s.runtime = runtime_.get();
    return s;
  }

  // Connect serves `servers` to an in-process client over an in-memory transport.
  void Connect(std::vector<GatewayServer> servers) {
    MCPGW_ASSERT_OK_AND_ASSIGN(gateway_, Gateway::Create({}, std::move(servers)));
    auto [client_side, gateway_side] = mcp::CreateMemoryTransportPair();
    ASSERT_THAT(gateway_->Serve(std::move(gateway_side)), IsOk());
    client_ = mcp::Client::Create(std::move(client_side));
    ASSERT_THAT(AwaitResult<mcp::InitializeResult>(
                    [&](auto done) { client_->Connect(std::move(done)); }, kWait)
                    .status(),
                IsOk());
  }

  absl::StatusOr<mcp::CallToolResult> Call(const std::string& tool,
                                           const std::string& args = "{}") {
    absl::StatusOr<mcp::Json> json = mcp::Json::Parse(args);
    if (!json.ok()) {
      return json.status();
    }
    return AwaitResult<mcp::CallToolResult>(
        [&](auto done) {
          client_->CallTool(tool, *std::move(json), {}, std::move(done));
        },
        kWait);
  }

  // ExpectEcho checks that `server`'s echo tool answers.
  void ExpectEcho(const std::string& server) {
    absl::StatusOr<mcp::CallToolResult> r =
        Call(absl::StrCat(server, "__echo"), R"({"message":"still here"})");
    ASSERT_THAT(r.status(), IsOk()) << server;
    EXPECT_FALSE(r->is_error.value_or(false)) << TextOf(*r);
    EXPECT_EQ(TextOf(*r), "Echo: still here") << server;
  }

  // Counter reads one of the misbehaving server's counters (its `counters` tool: only it has
  // one, so the name is not prefixed).
  uint64_t Counter(const std::string& name) {
    absl::StatusOr<mcp::CallToolResult> r = Call("counters");
    if (!r.ok()) {
      return 0;
    }
    absl::StatusOr<mcp::Json> json = mcp::Json::Parse(TextOf(*r));
    if (!json.ok()) {
      return 0;
    }
    const mcp::JsonValue* v = mcp::FindMember(json->value(), name);
    return v != nullptr && v->IsUint64() ? v->GetUint64() : 0;
  }

  std::unique_ptr<container::ProcessRuntime> runtime_;
  std::shared_ptr<Gateway> gateway_;
  std::shared_ptr<mcp::Client> client_;
  std::string marker_;
};

TEST_F(MisbehavingTest, AServerThatHangsAtInitializeIsLeftOutAndTheOthersCarryOn) {
  std::vector<GatewayServer> servers;
  servers.push_back(Bad({"--hang-initialize"}));
  servers.back().config.start_timeout = absl::Milliseconds(500);
  servers.push_back(Good());
  Connect(std::move(servers));
  ASSERT_EQ(gateway_->upstreams().size(), 2u);
  // Whoever needs it waits for the start timeout, no longer, and learns why.
  std::shared_ptr<Upstream> bad = gateway_->upstreams()[0];
  EXPECT_THAT(AwaitResult<Upstream::Lease>([&](auto done) { bad->Acquire(std::move(done)); },
                                           kWait)
                  .status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       HasSubstr("server \"bad\" did not answer initialize within 500ms")));
  // Listings go on without it: the fixture's names, unprefixed.
  absl::StatusOr<std::vector<mcp::Tool>> tools = AwaitResult<std::vector<mcp::Tool>>(
      [&](auto done) { client_->ListTools(std::move(done)); }, kWait);
  ASSERT_THAT(tools.status(), IsOk());
  EXPECT_TRUE(std::any_of(tools->begin(), tools->end(),
                          [](const mcp::Tool& t) { return t.name == "echo"; }));
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::CallToolResult r, Call("echo", R"({"message":"x"})"));
  EXPECT_EQ(TextOf(r), "Echo: x");
}

TEST_F(MisbehavingTest, ACallToAServerThatHangsAtInitializeFailsNamingIt) {
  // The first instance serves (so its tools are listed and routed); once the marker exists,
  // a restarted one hangs at initialize.
  marker_ = absl::StrCat(::testing::TempDir(), "/hang-", getpid());
  unlink(marker_.c_str());
  std::vector<GatewayServer> servers;
  servers.push_back(Bad({"--hang-initialize-if", marker_}));
  servers.back().config.start_timeout = absl::Milliseconds(500);
  servers.push_back(Good());
  Connect(std::move(servers));
  ExpectEcho("bad");
  std::FILE* f = std::fopen(marker_.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_FALSE(Call("exit").ok());  // it exits: the next need restarts it, and it hangs
  absl::StatusOr<mcp::CallToolResult> hung;
  absl::Time deadline = absl::Now() + kWait;
  do {  // until the gateway has seen the exit (a call may still meet the dying instance)
    hung = Call("bad__echo", R"({"message":"x"})");
  } while (!absl::StrContains(hung.status().message(), "did not answer initialize") &&
           absl::Now() < deadline);
  // The call that waited for the start gets DeadlineExceeded; a call while the gateway backs
  // off gets Unavailable quoting it (the listing before the call may be what restarted it).
  EXPECT_TRUE(absl::IsDeadlineExceeded(hung.status()) || absl::IsUnavailable(hung.status()))
      << hung.status();
  EXPECT_THAT(hung.status().message(),
              HasSubstr("server \"bad\" did not answer initialize within 500ms"));
  ExpectEcho("good");
}

TEST_F(MisbehavingTest, GarbageLinesAreSkippedAndATruncatedAnswerFailsItsCallAtOnce) {
  std::vector<GatewayServer> servers;
  servers.push_back(Bad({"--garbage"}));
  servers.push_back(Good());
  Connect(std::move(servers));
  // Non-JSON before and after its initialize answer and before every answer: skipped.
  ExpectEcho("bad");
  // A response cut in the middle of its JSON: the call fails now, not at a timeout.
  absl::StatusOr<mcp::CallToolResult> cut = Call("truncated");
  EXPECT_THAT(cut.status(),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("upstream bad"), HasSubstr("not valid JSON"))));
  ExpectEcho("bad");
  ExpectEcho("good");
  EXPECT_EQ(gateway_->upstreams()[0]->state(), UpstreamState::kReady);
}

TEST_F(MisbehavingTest, AnOversizedAnswerFailsItsCallAndTheConnectionResyncs) {
  std::vector<GatewayServer> servers;
  servers.push_back(Bad({"--oversized"}));
  servers.push_back(Good());
  Connect(std::move(servers));
  absl::StatusOr<mcp::CallToolResult> big = Call("big");
  EXPECT_THAT(big.status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("upstream bad"),
                             HasSubstr("exceeds the limit of 16777216"))));
  // The line ended with a newline: the next line is read normally, same instance.
  ExpectEcho("bad");
  ExpectEcho("good");
  EXPECT_EQ(gateway_->upstreams()[0]->state(), UpstreamState::kReady);
}

TEST_F(MisbehavingTest, AnOversizedAnswerWithoutAReadableIdRestartsTheServer) {
  std::vector<GatewayServer> servers;
  servers.push_back(Bad({"--oversized"}));
  servers.push_back(Good());
  Connect(std::move(servers));
  // Which call it answered cannot be told: the connection is closed, the call fails now.
  EXPECT_THAT(Call("big_anonymous").status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("upstream bad"),
                             HasSubstr("sent a response whose id could not be read"))));
  ExpectEcho("good");
  // The server is treated as crashed: stopped, and started again at the next need.
  absl::StatusOr<mcp::CallToolResult> again;
  absl::Time deadline = absl::Now() + kWait;
  do {
    again = Call("bad__echo", R"({"message":"back"})");
  } while (!again.ok() && absl::Now() < deadline);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(TextOf(*again), "Echo: back");
}

TEST_F(MisbehavingTest, ANotificationFloodKeepsTheGatewayBoundedAndResponsive) {
  std::vector<GatewayServer> servers;
  servers.push_back(Bad({"--notification-flood"}));
  servers.push_back(Good());
  Connect(std::move(servers));
  ExpectEcho("bad");
  size_t before = ResidentBytes();
  // 100,000 log notifications (about 33 MB of JSON) pass through the gateway.
  absl::Time deadline = absl::Now() + absl::Seconds(90);
  uint64_t sent = 0;
  while ((sent = Counter("notifications")) < 100000 && absl::Now() < deadline) {
    ExpectEcho("good");
  }
  EXPECT_GE(sent, 100000u);
#if !defined(__SANITIZE_ADDRESS__)
  // (Not under AddressSanitizer: its quarantine keeps up to 256 MiB of freed memory resident,
  // so the resident size measures the churn, not what the gateway holds.)
  EXPECT_LT(ResidentBytes(), before + (size_t{24} << 20)) << "memory grew with the flood";
#else
  (void)before;
#endif
  ExpectEcho("good");
  ExpectEcho("bad");
}

TEST_F(MisbehavingTest, AStderrFloodIsCappedByTheTailBuffer) {
  std::vector<GatewayServer> servers;
  servers.push_back(Bad({"--stderr-flood"}));
  servers.push_back(Good());
  Connect(std::move(servers));
  ExpectEcho("bad");
  size_t before = ResidentBytes();
  absl::Time deadline = absl::Now() + absl::Seconds(90);
  uint64_t written = 0;
  while ((written = Counter("stderr_bytes")) < (uint64_t{256} << 20) && absl::Now() < deadline) {
    ExpectEcho("good");
  }
  EXPECT_GE(written, uint64_t{256} << 20);
  EXPECT_LT(ResidentBytes(), before + (size_t{48} << 20)) << "memory grew with the flood";
  ExpectEcho("good");
  ExpectEcho("bad");
}

// --- A client that stops reading, over real pipes.

// RawClient writes JSON-RPC lines to the gateway and reads its lines only when asked.
class RawClient {
 public:
  RawClient(int write_fd, int read_fd) : write_fd_(write_fd), read_fd_(read_fd) {}
  ~RawClient() {
    close(write_fd_);
    close(read_fd_);
  }

  bool Send(const std::string& line) {
    std::string all = line + "\n";
    size_t done = 0;
    while (done < all.size()) {
      ssize_t n = write(write_fd_, all.data() + done, all.size() - done);
      if (n <= 0) {
        return false;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // ReadUntil reads lines until one contains `needle` (returned) or the deadline passes ("").
  std::string ReadUntil(const std::string& needle, absl::Time deadline) {
    char buf[65536];
    while (absl::Now() < deadline) {
      size_t nl;
      while ((nl = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.find(needle) != std::string::npos) {
          return line;
        }
      }
      pollfd pfd{read_fd_, POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) {
        continue;
      }
      ssize_t n = read(read_fd_, buf, sizeof(buf));
      if (n <= 0) {
        return "";
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
    return "";
  }

 private:
  int write_fd_;
  int read_fd_;
  std::string buffer_;
};

TEST_F(MisbehavingTest, ASlowClientGetsABoundedQueueThatDropsLogsButNeverAResponse) {
  constexpr size_t kBound = size_t{1} << 20;
  int to_gateway[2];
  int from_gateway[2];
  ASSERT_EQ(pipe2(to_gateway, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(from_gateway, O_CLOEXEC), 0);
  std::vector<GatewayServer> servers;
  servers.push_back(Bad({"--notification-flood"}));
  servers.push_back(Good());
  MCPGW_ASSERT_OK_AND_ASSIGN(gateway_, Gateway::Create({}, std::move(servers)));
  MCPGW_ASSERT_OK_AND_ASSIGN(
      mcp::TransportPtr transport,
      mcp::CreateStdioTransport({.read_fd = to_gateway[0],
                                 .write_fd = from_gateway[1],
                                 .owns_fds = true,
                                 .max_queued_bytes = kBound}));
  ASSERT_THAT(gateway_->Serve(std::move(transport)), IsOk());
  RawClient client(to_gateway[1], from_gateway[0]);
  ASSERT_TRUE(client.Send(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
      R"("capabilities":{},"clientInfo":{"name":"slow","version":"1"}}})"));
  ASSERT_NE(client.ReadUntil(R"("id":1)", absl::Now() + kWait), "");
  ASSERT_TRUE(client.Send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
  // A listing starts both servers; the flood begins. The client reads the listing, then stops.
  ASSERT_TRUE(client.Send(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})"));
  ASSERT_NE(client.ReadUntil(R"("id":2)", absl::Now() + kWait), "");

  // Not reading: the queue fills to the bound, then log notifications are dropped.
  size_t max_queued = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (gateway_->downstream_stats().dropped_messages < 1000 && absl::Now() < deadline) {
    max_queued = std::max(max_queued, gateway_->downstream_stats().queued_bytes);
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_GE(gateway_->downstream_stats().dropped_messages, 1000u);
  // A call now: its answer goes behind the full queue, past the bound, never dropped.
  ASSERT_TRUE(client.Send(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"good__echo",)"
      R"("arguments":{"message":"queued"}}})"));
  uint64_t dropped = gateway_->downstream_stats().dropped_messages;
  deadline = absl::Now() + absl::Seconds(60);
  while (gateway_->downstream_stats().dropped_messages < dropped + 1000 &&
         absl::Now() < deadline) {
    max_queued = std::max(max_queued, gateway_->downstream_stats().queued_bytes);
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_GT(max_queued, kBound / 2) << "the queue did fill";
  // At most one notification past the bound (a check and a write are not one step), plus the
  // answers, which are always queued.
  EXPECT_LE(max_queued, kBound + (size_t{64} << 10));

  // Reading again: the answer is there.
  std::string answer = client.ReadUntil(R"("id":3)", absl::Now() + kWait);
  EXPECT_THAT(answer, HasSubstr("Echo: queued"));
  EXPECT_GT(gateway_->downstream_stats().dropped_messages, 0u);
}

}  // namespace
}  // namespace mcpgw::gateway
