#include "mcpgw/container/ring_buffer.h"

#include <string>

#include "gtest/gtest.h"

namespace mcpgw::container {
namespace {

TEST(RingBuffer, KeepsTheLastBytes) {
  RingBuffer ring(8);
  ring.Append("abc");
  EXPECT_EQ(ring.Contents(), "abc");
  ring.Append("defgh");
  EXPECT_EQ(ring.Contents(), "abcdefgh");
  ring.Append("ij");
  EXPECT_EQ(ring.Contents(), "cdefghij");
  ring.Append("0123456789");
  EXPECT_EQ(ring.Contents(), "23456789");
  EXPECT_EQ(ring.total_bytes(), 20u);
}

TEST(RingBuffer, ManySmallAppendsWrapCorrectly) {
  RingBuffer ring(10);
  std::string all;
  for (int i = 0; i < 1000; ++i) {
    std::string piece = std::to_string(i);
    ring.Append(piece);
    all += piece;
    ASSERT_EQ(ring.Contents(), all.substr(all.size() > 10 ? all.size() - 10 : 0));
  }
}

TEST(RingBuffer, LastLines) {
  RingBuffer ring(1024);
  ring.Append("one\ntwo\nthree\nfour\n");
  EXPECT_EQ(ring.LastLines(2), "three\nfour");
  EXPECT_EQ(ring.LastLines(10), "one\ntwo\nthree\nfour");
  EXPECT_EQ(ring.LastLines(0), "");
  RingBuffer small(12);
  small.Append("a long first line\nx\ny\n");  // the first line is cut by the capacity
  EXPECT_EQ(small.LastLines(5), "x\ny");
}

}  // namespace
}  // namespace mcpgw::container
