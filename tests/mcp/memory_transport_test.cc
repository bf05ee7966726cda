#include "mcpgw/mcp/memory_transport.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/raw_peer.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::RawPeer;
using ::mcpgw::testing::StatusIs;
using ::testing::ElementsAre;

TEST(MemoryTransport, DeliversInOrderAndQueuesUntilStarted) {
  auto [a, b] = CreateMemoryTransportPair();
  ASSERT_THAT(a->Send("1"), StatusIs(absl::StatusCode::kOk));
  ASSERT_THAT(a->Send("2"), IsOk());
  RawPeer peer(std::move(b));  // starts now: the queued frames arrive
  ASSERT_THAT(a->Send("3"), IsOk());
  EXPECT_THAT(peer.frames(), ElementsAre("1", "2", "3"));
}

TEST(MemoryTransport, SizeLimitBoundary) {
  auto [a, b] = CreateMemoryTransportPair({.max_message_bytes = 8});
  RawPeer peer(std::move(b));
  EXPECT_THAT(a->Send("12345678"), IsOk());
  EXPECT_THAT(a->Send("123456789"), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(peer.frames(), ElementsAre("12345678"));
}

TEST(MemoryTransport, ReceiverLimitReportsOversizedFrames) {
  auto [a, b] = CreateMemoryTransportPair({.max_message_bytes = 100}, {.max_message_bytes = 10});
  RawPeer peer(std::move(b));
  std::string big = "{" + std::string(98, 'x') + "}";
  EXPECT_THAT(a->Send(big), IsOk());
  EXPECT_THAT(a->Send("0123456789"), IsOk());
  EXPECT_THAT(peer.frames(), ElementsAre("0123456789"));
  ASSERT_EQ(peer.oversized().size(), 1u);
  EXPECT_EQ(peer.oversized()[0].size, 100u);
  EXPECT_EQ(peer.oversized()[0].limit, 10u);
  EXPECT_EQ(peer.oversized()[0].head, big);
}

TEST(MemoryTransport, ClosingOneEndClosesTheOther) {
  auto [a, b] = CreateMemoryTransportPair();
  RawPeer peer(std::move(b));
  ASSERT_THAT(a->Send("x"), IsOk());
  a->Close();
  EXPECT_TRUE(peer.closed());
  EXPECT_THAT(peer.Send("y"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(a->Send("z"), StatusIs(absl::StatusCode::kUnavailable));
  a->Close();  // idempotent
}

}  // namespace
}  // namespace mcpgw::mcp
