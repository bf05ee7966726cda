#include "mcpgw/base/fd_channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace mcpgw::base {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;

// Collects what a channel reads.
struct Collector {
  absl::Mutex mu;
  std::string data ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
  absl::Status reason ABSL_GUARDED_BY(mu);

  ByteChannel::Callbacks Callbacks() {
    return {.on_data =
                [this](absl::string_view bytes) {
                  absl::MutexLock lock(&mu);
                  data.append(bytes.data(), bytes.size());
                },
            .on_closed =
                [this](absl::Status s) {
                  absl::MutexLock lock(&mu);
                  closed = true;
                  reason = std::move(s);
                }};
  }
  bool WaitFor(size_t bytes) {
    absl::MutexLock lock(&mu);
    auto ready = [this, bytes]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return data.size() >= bytes || closed;
    };
    return mu.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(10)) && data.size() >= bytes;
  }
  bool WaitClosed() {
    absl::MutexLock lock(&mu);
    return mu.AwaitWithTimeout(absl::Condition(&closed), absl::Seconds(10));
  }
};

TEST(FdChannel, EchoThroughASocketPair) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  MCPGW_ASSERT_OK_AND_ASSIGN(auto a, FdChannel::Create(sv[0], sv[0], {.owns_fds = true}));
  MCPGW_ASSERT_OK_AND_ASSIGN(auto b, FdChannel::Create(sv[1], sv[1], {.owns_fds = true}));
  Collector ca, cb;
  ASSERT_THAT(a->Start(ca.Callbacks()), IsOk());
  ASSERT_THAT(b->Start(cb.Callbacks()), IsOk());
  ASSERT_THAT(a->Write({"hello", " ", "world"}), IsOk());
  ASSERT_TRUE(cb.WaitFor(11));
  {
    absl::MutexLock lock(&cb.mu);
    EXPECT_EQ(cb.data, "hello world");
  }
  a->CloseWrite();  // b sees end of stream, a can still read
  ASSERT_TRUE(cb.WaitClosed());
  ASSERT_THAT(b->Write({"reply"}), IsOk());
  ASSERT_TRUE(ca.WaitFor(5));
}

TEST(FdChannel, WriterNeverBlocksOnAFullPipe) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  int unused[2];
  ASSERT_EQ(pipe2(unused, O_CLOEXEC), 0);
  // Writes go to p[1], which nobody reads yet.
  MCPGW_ASSERT_OK_AND_ASSIGN(auto ch, FdChannel::Create(unused[0], p[1], {.owns_fds = true}));
  Collector c;
  ASSERT_THAT(ch->Start(c.Callbacks()), IsOk());
  std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(ch->Write({chunk}), IsOk());  // 4 MiB into a 64 KiB pipe: queued, not blocked
  }
  std::string got;
  char buf[65536];
  while (got.size() < 4 * chunk.size()) {
    ssize_t n = read(p[0], buf, sizeof(buf));
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got.size(), 4 * chunk.size());
  ch->Close();
  close(p[0]);
  close(unused[1]);
}

TEST(FdChannel, PeerThatStopsReadingIsDetected) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  int unused[2];
  ASSERT_EQ(pipe2(unused, O_CLOEXEC), 0);
  MCPGW_ASSERT_OK_AND_ASSIGN(
      auto ch, FdChannel::Create(unused[0], p[1],
                                 {.owns_fds = true, .max_queued_write_bytes = 1 << 20}));
  Collector c;
  ASSERT_THAT(ch->Start(c.Callbacks()), IsOk());
  std::string chunk(256 << 10, 'x');
  absl::Status s;
  for (int i = 0; i < 16 && s.ok(); ++i) {
    s = ch->Write({chunk});
  }
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(ch->Write({"more"}), StatusIs(absl::StatusCode::kResourceExhausted));
  ch->Close();
  close(p[0]);
  close(unused[1]);
}

TEST(FdChannel, WritingToAVanishedPeerFailsWithoutSigpipe) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  int unused[2];
  ASSERT_EQ(pipe2(unused, O_CLOEXEC), 0);
  MCPGW_ASSERT_OK_AND_ASSIGN(auto ch, FdChannel::Create(unused[0], p[1], {.owns_fds = true}));
  close(p[0]);
  EXPECT_THAT(ch->Write({"x"}), StatusIs(absl::StatusCode::kUnavailable));
  close(unused[1]);
}

TEST(FdChannel, EndOfStreamAndInvalidDescriptors) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  MCPGW_ASSERT_OK_AND_ASSIGN(auto ch, FdChannel::Create(p[0], out[1], {.owns_fds = true}));
  Collector c;
  ASSERT_THAT(ch->Start(c.Callbacks()), IsOk());
  EXPECT_THAT(ch->Start(c.Callbacks()), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_EQ(write(p[1], "abc", 3), 3);
  close(p[1]);
  ASSERT_TRUE(c.WaitClosed());
  {
    absl::MutexLock lock(&c.mu);
    EXPECT_EQ(c.data, "abc");
    EXPECT_THAT(c.reason, IsOk());
  }
  ch->Close();
  ch->Close();
  EXPECT_THAT(ch->Write({"x"}), StatusIs(absl::StatusCode::kUnavailable));
  close(out[0]);
  EXPECT_THAT(FdChannel::Create(-1, 1, {}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FdChannel, RestoresFlagsOfDescriptorsItDoesNotOwn) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  int before = fcntl(p[0], F_GETFL);
  {
    MCPGW_ASSERT_OK_AND_ASSIGN(auto ch, FdChannel::Create(p[0], p[1], {.owns_fds = false}));
    EXPECT_NE(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
  }
  EXPECT_EQ(fcntl(p[0], F_GETFL), before);
  EXPECT_GE(fcntl(p[1], F_GETFL), 0);  // still open
  close(p[0]);
  close(p[1]);
}

TEST(FdChannel, WritesRacingCloseAreSafe) {
  for (int round = 0; round < 20; ++round) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    MCPGW_ASSERT_OK_AND_ASSIGN(auto ch, FdChannel::Create(sv[0], sv[0], {.owns_fds = true}));
    Collector c;
    ASSERT_THAT(ch->Start(c.Callbacks()), IsOk());
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      while (!stop) {
        ch->Write({"x"}).IgnoreError();  // fails with Unavailable once closed
      }
    });
    ch->Close();
    stop = true;
    writer.join();
    EXPECT_THAT(ch->Write({"y"}), StatusIs(absl::StatusCode::kUnavailable));
    close(sv[1]);
  }
}

TEST(FdChannel, WhatThePeerWroteBeforeLeavingIsReadEvenAfterAWriteFails) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  MCPGW_ASSERT_OK_AND_ASSIGN(auto ch, FdChannel::Create(sv[0], sv[0], {.owns_fds = true}));
  ASSERT_EQ(write(sv[1], "last answer\n", 12), 12);
  close(sv[1]);  // the peer is gone; its last line is still in the socket
  EXPECT_THAT(ch->Write({"a request"}), StatusIs(absl::StatusCode::kUnavailable));
  Collector c;
  ASSERT_THAT(ch->Start(c.Callbacks()), IsOk());
  ASSERT_TRUE(c.WaitClosed());
  absl::MutexLock lock(&c.mu);
  EXPECT_EQ(c.data, "last answer\n");
}

TEST(FdChannel, MayBeDestroyedFromItsOwnCallback) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  MCPGW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FdChannel> ch,
                             FdChannel::Create(p[0], out[1], {.owns_fds = true}));
  absl::Mutex mu;
  bool destroyed = false;
  FdChannel* raw = ch.get();
  std::unique_ptr<FdChannel>* holder = &ch;
  ASSERT_THAT(raw->Start({.on_data =
                              [&, holder](absl::string_view) {
                                holder->reset();
                                absl::MutexLock lock(&mu);
                                destroyed = true;
                              },
                          .on_closed = [](absl::Status) {}}),
              IsOk());
  ASSERT_EQ(write(p[1], "x", 1), 1);
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&destroyed), absl::Seconds(10)));
  close(p[1]);
  close(out[0]);
}

}  // namespace
}  // namespace mcpgw::base
