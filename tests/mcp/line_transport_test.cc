#include "mcpgw/mcp/line_transport.h"

#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/session.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A line transport over two pipes, with the far ends kept by the test.
struct PipePair {
  int to_transport[2];    // test writes [1], transport reads [0]
  int from_transport[2];  // transport writes [1], test reads [0]

  PipePair() {
    EXPECT_EQ(pipe2(to_transport, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(from_transport, O_CLOEXEC), 0);
  }
  ~PipePair() {
    CloseWriter();
    if (from_transport[0] >= 0) {
      close(from_transport[0]);
    }
  }
  void CloseWriter() {
    if (to_transport[1] >= 0) {
      close(to_transport[1]);
      to_transport[1] = -1;
    }
  }
  absl::StatusOr<TransportPtr> Make(size_t max_bytes = kDefaultMaxMessageBytes,
                                    size_t max_queued = kDefaultMaxQueuedBytes) {
    return CreateStdioTransport({.read_fd = to_transport[0],
                                 .write_fd = from_transport[1],
                                 .owns_fds = true,
                                 .max_message_bytes = max_bytes,
                                 .max_queued_bytes = max_queued});
  }
  void Write(absl::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = write(to_transport[1], bytes.data(), bytes.size());
      ASSERT_GT(n, 0);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads until `lines` newline-terminated lines have arrived (bounded by the peer closing).
  std::vector<std::string> ReadLines(size_t lines) {
    std::vector<std::string> out;
    std::string buf;
    char chunk[65536];
    while (out.size() < lines) {
      ssize_t n = read(from_transport[0], chunk, sizeof(chunk));
      if (n <= 0) {
        break;
      }
      buf.append(chunk, static_cast<size_t>(n));
      size_t pos;
      while ((pos = buf.find('\n')) != std::string::npos) {
        out.push_back(buf.substr(0, pos));
        buf.erase(0, pos + 1);
      }
    }
    return out;
  }
};

// A sink that records what the transport delivers.
class Sink final : public TransportSink {
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
    done_ = true;
  }
  bool WaitClosed() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(10));
  }
  std::vector<std::string> frames() {
    absl::MutexLock lock(&mu_);
    return frames_;
  }
  std::vector<OversizedFrame> oversized() {
    absl::MutexLock lock(&mu_);
    return oversized_;
  }
  absl::Status closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> frames_ ABSL_GUARDED_BY(mu_);
  std::vector<OversizedFrame> oversized_ ABSL_GUARDED_BY(mu_);
  absl::Status closed_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

TEST(LineTransport, SplitsLinesAcrossReadsAndIgnoresBlankLinesAndCarriageReturns) {
  PipePair pipes;
  MCPGW_ASSERT_OK_AND_ASSIGN(TransportPtr t, pipes.Make());
  Sink sink;
  ASSERT_THAT(t->Start(&sink), IsOk());
  pipes.Write("{\"a\":1}\n\n  \r\n{\"b\"");
  pipes.Write(":2}\r\n{\"c\":3}\n{\"last\":true}");  // the last line has no newline
  pipes.CloseWriter();
  ASSERT_TRUE(sink.WaitClosed());
  EXPECT_THAT(sink.frames(), ElementsAre("{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"last\":true}"));
  EXPECT_THAT(sink.closed(), IsOk());
}

TEST(LineTransport, SizeLimitBoundary) {
  PipePair pipes;
  constexpr size_t kLimit = 100;
  MCPGW_ASSERT_OK_AND_ASSIGN(TransportPtr t, pipes.Make(kLimit));
  Sink sink;
  ASSERT_THAT(t->Start(&sink), IsOk());
  std::string exact(kLimit, 'a');
  std::string over(kLimit + 1, 'b');
  std::string huge(1 << 20, 'c');
  pipes.Write(exact + "\n" + exact + "\r\n" + over + "\n" + huge + "\n" + "ok\n");
  pipes.CloseWriter();
  ASSERT_TRUE(sink.WaitClosed());
  EXPECT_THAT(sink.frames(), ElementsAre(exact, exact, "ok"));
  std::vector<OversizedFrame> big = sink.oversized();
  ASSERT_EQ(big.size(), 2u);
  EXPECT_EQ(big[0].size, kLimit + 1);
  EXPECT_EQ(big[0].limit, kLimit);
  EXPECT_EQ(big[1].size, huge.size());
  EXPECT_EQ(big[1].head, huge.substr(0, 512));
  EXPECT_EQ(big[1].tail, huge.substr(0, 512));
}

TEST(LineTransport, SendChecksSizeAndNewlines) {
  PipePair pipes;
  MCPGW_ASSERT_OK_AND_ASSIGN(TransportPtr t, pipes.Make(10));
  Sink sink;
  ASSERT_THAT(t->Start(&sink), IsOk());
  EXPECT_THAT(t->Send("0123456789"), IsOk());
  EXPECT_THAT(t->Send("0123456789a"), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(t->Send("a\nb"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(pipes.ReadLines(1), ElementsAre("0123456789"));
}

TEST(LineTransport, ReportsAnErrorForAnInvalidDescriptor) {
  EXPECT_THAT(CreateStdioTransport({.read_fd = 1000, .write_fd = 1001}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not open")));
}

// A session over real pipes: malformed, truncated and oversized input each get the right
// answer, and the session keeps working.
TEST(LineTransport, SessionOverPipesSurvivesBadInput) {
  PipePair pipes;
  MCPGW_ASSERT_OK_AND_ASSIGN(TransportPtr t, pipes.Make(4096));
  base::InlineExecutor inline_executor;
  auto session = Session::Create(std::move(t), {.name = "pipe", .executor = &inline_executor});
  ASSERT_THAT(session->Start(), IsOk());
  pipes.Write("{not json\n");
  pipes.Write(R"({"jsonrpc":"2.0","id":1,"method")" "\n");  // truncated
  pipes.Write(absl::StrCat(R"({"jsonrpc":"2.0","id":2,"method":"x","params":{"s":")",
                           std::string(10000, 'q'), "\"}}\n"));
  pipes.Write(R"({"jsonrpc":"2.0","id":3,"method":"ping"})" "\n");
  std::vector<std::string> lines = pipes.ReadLines(4);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], HasSubstr(R"("id":null,"error":{"code":-32700)"));
  EXPECT_THAT(lines[1], HasSubstr(R"("id":null,"error":{"code":-32700)"));
  EXPECT_THAT(lines[2], HasSubstr(R"("id":2,"error":{"code":-32600)"));
  EXPECT_EQ(lines[3], R"({"jsonrpc":"2.0","id":3,"result":{}})");
  pipes.CloseWriter();
}

// A peer that does not read: past the bound, droppable frames are dropped and counted; the
// others are queued whatever the bound, and arrive in order once the peer reads.
TEST(LineTransport, DropsOnlyDroppableFramesWhileThePeerDoesNotRead) {
  PipePair pipes;
  constexpr size_t kBound = 64 << 10;
  MCPGW_ASSERT_OK_AND_ASSIGN(TransportPtr t, pipes.Make(kDefaultMaxMessageBytes, kBound));
  Sink sink;
  ASSERT_THAT(t->Start(&sink), IsOk());
  EXPECT_THAT(t->Send("\"droppable while there is room\"", {.droppable = true}), IsOk());
  // The pipe takes 64 KiB at most; the rest of 256 KiB waits in the queue, over the bound.
  std::string big = absl::StrCat("\"", std::string(256 << 10, 'x'), "\"");
  EXPECT_THAT(t->Send(big), IsOk());
  EXPECT_GT(t->stats().queued_bytes, kBound);
  EXPECT_THAT(t->Send("\"progress\"", {.droppable = true}), IsOk());
  EXPECT_THAT(t->Send("\"log\"", {.droppable = true}), IsOk());
  EXPECT_EQ(t->stats().dropped_messages, 2u);
  EXPECT_THAT(t->Send("\"a response\""), IsOk());  // never dropped
  EXPECT_EQ(t->stats().dropped_messages, 2u);
  EXPECT_THAT(pipes.ReadLines(3),
              ElementsAre("\"droppable while there is room\"", big, "\"a response\""));
  // Drained: droppable frames pass again.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (t->stats().queued_bytes > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(t->stats().queued_bytes, 0u);
  EXPECT_THAT(t->Send("\"progress again\"", {.droppable = true}), IsOk());
  EXPECT_THAT(pipes.ReadLines(1), ElementsAre("\"progress again\""));
  EXPECT_EQ(t->stats().dropped_messages, 2u);
}

// The session marks progress and log notifications droppable, nothing else.
TEST(LineTransport, SessionDropsOnlyProgressAndLogNotificationsForASlowPeer) {
  PipePair pipes;
  MCPGW_ASSERT_OK_AND_ASSIGN(TransportPtr t, pipes.Make(kDefaultMaxMessageBytes, 1024));
  auto session = Session::Create(std::move(t), {.name = "slow peer"});
  ASSERT_THAT(session->Start(), IsOk());
  Json big = Json::Object();
  big.Set("data", std::string(256 << 10, 'x'));
  ASSERT_THAT(session->SendNotification("notifications/resources/updated", std::move(big)),
              IsOk());
  ASSERT_GT(session->transport_stats().queued_bytes, 1024u);
  EXPECT_THAT(session->SendNotification("notifications/message", Json::Object()), IsOk());
  EXPECT_THAT(session->SendNotification("notifications/progress", Json::Object()), IsOk());
  EXPECT_EQ(session->transport_stats().dropped_messages, 2u);
  EXPECT_THAT(session->SendNotification("notifications/tools/list_changed"), IsOk());
  EXPECT_EQ(session->transport_stats().dropped_messages, 2u);
  std::vector<std::string> lines = pipes.ReadLines(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("notifications/resources/updated"));
  EXPECT_THAT(lines[1], HasSubstr("notifications/tools/list_changed"));
  session->Close();
}

// A response cut in the middle of its JSON fails the request it answers at once.
TEST(LineTransport, ATruncatedResponseFailsItsRequestAtOnce) {
  PipePair pipes;
  MCPGW_ASSERT_OK_AND_ASSIGN(TransportPtr t, pipes.Make());
  auto session = Session::Create(std::move(t), {.name = "upstream cut"});
  ASSERT_THAT(session->Start(), IsOk());
  absl::Mutex mu;
  std::optional<absl::StatusOr<Message>> got;
  session->SendRequest("tools/call", Json::Object(), [&](absl::StatusOr<Message> r) {
    absl::MutexLock lock(&mu);
    got = std::move(r);
  });
  ASSERT_EQ(pipes.ReadLines(1).size(), 1u);
  pipes.Write("garbage first\n");
  pipes.Write(R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text")" "\n");
  absl::MutexLock lock(&mu);
  auto answered = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return got.has_value(); };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&answered), absl::Seconds(10)));
  EXPECT_THAT(got->status(),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("upstream cut sent a response to request 1 that is not valid "
                                 "JSON")));
  // The garbage line got a parse error answer (id null); the cut response got none.
  std::vector<std::string> lines = pipes.ReadLines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(R"("id":null,"error":{"code":-32700)"));
  EXPECT_EQ(session->outgoing_in_flight(), 0u);
}

TEST(LineTransport, LargeMessagesBothWays) {
  PipePair pipes;
  MCPGW_ASSERT_OK_AND_ASSIGN(TransportPtr t, pipes.Make());
  Sink sink;
  ASSERT_THAT(t->Start(&sink), IsOk());
  // 8 MiB out while nobody reads yet: the writer must not block (it queues).
  std::string big = absl::StrCat("\"", std::string(8 << 20, 'x'), "\"");
  EXPECT_THAT(t->Send(big), IsOk());
  std::thread reader([&] {
    std::vector<std::string> lines = pipes.ReadLines(1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].size(), big.size());
  });
  pipes.Write(big + "\n");
  reader.join();
  pipes.CloseWriter();
  ASSERT_TRUE(sink.WaitClosed());
  ASSERT_EQ(sink.frames().size(), 1u);
  EXPECT_EQ(sink.frames()[0], big);
}

}  // namespace
}  // namespace mcpgw::mcp
