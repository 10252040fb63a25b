#include "edge/outbound_queue.h"

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

Frame MakeFrame(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

TEST(OutboundQueueTest, DrainJoinsWithNewlines) {
  OutboundQueue queue;
  ASSERT_TRUE(queue.Push(MakeFrame("{\"a\":1}"), 1024));
  ASSERT_TRUE(queue.Push(MakeFrame("{}"), 1024));
  ASSERT_TRUE(queue.Push(MakeFrame("{\"b\":2}"), 1024));
  std::string out;
  EXPECT_EQ(queue.DrainInto(1 << 20, &out), 3u);
  EXPECT_EQ(out, "{\"a\":1}\n{}\n{\"b\":2}");
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(OutboundQueueTest, DrainWithoutNewlinesConcatenatesAndCountsNoSeparator) {
  OutboundQueue queue;
  ASSERT_TRUE(queue.Push(MakeFrame(std::string("\x02\x08\x01", 3)), 1024));
  ASSERT_TRUE(queue.Push(MakeFrame(std::string(1, '\0')), 1024));
  ASSERT_TRUE(queue.Push(MakeFrame(std::string("\x02\x08\x02", 3)), 1024));
  std::string out;
  // 3 + 1 + 3 bytes fit a batch of 7 exactly: no separator is counted.
  EXPECT_EQ(queue.DrainInto(7, &out, /*newline=*/false), 3u);
  EXPECT_EQ(out, std::string("\x02\x08\x01\0\x02\x08\x02", 7));
  EXPECT_TRUE(queue.empty());
}

TEST(OutboundQueueTest, RejectsPushOverByteBoundAndKeepsEarlierFrames) {
  OutboundQueue queue;
  ASSERT_TRUE(queue.Push(MakeFrame("123456"), 10));
  EXPECT_FALSE(queue.Push(MakeFrame("12345"), 10));
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.bytes(), 6u);
  EXPECT_TRUE(queue.Push(MakeFrame("1234"), 10));
  EXPECT_EQ(queue.bytes(), 10u);
}

TEST(OutboundQueueTest, DrainStopsAtBatchLimitButTakesAtLeastOne) {
  OutboundQueue queue;
  ASSERT_TRUE(queue.Push(MakeFrame(std::string(50, 'x')), 1024));
  ASSERT_TRUE(queue.Push(MakeFrame(std::string(50, 'y')), 1024));
  std::string out;
  EXPECT_EQ(queue.DrainInto(20, &out), 1u);
  EXPECT_EQ(out, std::string(50, 'x'));
  out.clear();
  EXPECT_EQ(queue.DrainInto(120, &out), 1u);
  EXPECT_EQ(out, std::string(50, 'y'));
}

TEST(OutboundQueueTest, BatchLimitCountsSeparators) {
  OutboundQueue queue;
  ASSERT_TRUE(queue.Push(MakeFrame("aaaa"), 1024));
  ASSERT_TRUE(queue.Push(MakeFrame("bbbb"), 1024));
  std::string out;
  EXPECT_EQ(queue.DrainInto(8, &out), 1u);  // "aaaa\nbbbb" is 9 bytes.
  EXPECT_EQ(queue.DrainInto(8, &out), 1u);
}

TEST(OutboundQueueTest, SharedFrameSurvivesDrainOfOneQueue) {
  Frame shared = MakeFrame("{\"push\":{}}");
  OutboundQueue first;
  OutboundQueue second;
  ASSERT_TRUE(first.Push(shared, 1024));
  ASSERT_TRUE(second.Push(shared, 1024));
  std::string out;
  first.DrainInto(1024, &out);
  first.Clear();
  std::string out2;
  second.DrainInto(1024, &out2);
  EXPECT_EQ(out, out2);
  EXPECT_EQ(shared.use_count(), 1);
}

TEST(OutboundQueueTest, ClearResetsBytes) {
  OutboundQueue queue;
  ASSERT_TRUE(queue.Push(MakeFrame("12345678"), 8));
  queue.Clear();
  EXPECT_TRUE(queue.Push(MakeFrame("12345678"), 8));
}

TEST(OutboundQueueTest, NeverEmptyQueueKeepsOrderThroughCompaction) {
  // A reader that always leaves something queued: frames keep their order
  // across the queue's internal compaction, and the bytes stay accounted.
  OutboundQueue queue;
  uint64_t next_pushed = 0;
  uint64_t next_expected = 0;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(
          queue.Push(std::make_shared<const std::string>(std::to_string(next_pushed++)), 1 << 20));
    }
    std::string out;
    // Batch limit small enough to take ~4 of the 5 new frames each round.
    queue.DrainInto(8, &out);
    for (absl::string_view part : absl::StrSplit(out, '\n')) {
      ASSERT_EQ(part, std::to_string(next_expected++));
    }
    ASSERT_FALSE(queue.empty());
  }
  EXPECT_EQ(queue.size(), next_pushed - next_expected);
  std::string rest;
  queue.DrainInto(1 << 20, &rest);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(OutboundQueueTest, FramesPushedWhileOthersWaitKeepTheirPlace) {
  // The oldest frame is held apart from the rest: a push after a partial
  // drain goes behind what is left, never ahead of it.
  OutboundQueue queue;
  ASSERT_TRUE(queue.Push(MakeFrame("a"), 1024));
  ASSERT_TRUE(queue.Push(MakeFrame("b"), 1024));
  ASSERT_TRUE(queue.Push(MakeFrame("c"), 1024));
  std::string out;
  EXPECT_EQ(queue.DrainInto(1, &out), 1u);
  EXPECT_EQ(out, "a");
  EXPECT_EQ(queue.size(), 2u);
  ASSERT_TRUE(queue.Push(MakeFrame("d"), 1024));
  out.clear();
  EXPECT_EQ(queue.DrainInto(1024, &out), 3u);
  EXPECT_EQ(out, "b\nc\nd");
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(OutboundQueueTest, OneFrameAtATimeLeavesTheQueueEmpty) {
  OutboundQueue queue;
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(queue.Push(MakeFrame("too long"), 4));
    EXPECT_TRUE(queue.empty());
    ASSERT_TRUE(queue.Push(MakeFrame(std::to_string(i)), 4));
    EXPECT_EQ(queue.size(), 1u);
    EXPECT_EQ(queue.bytes(), 1u);
    std::string out;
    EXPECT_EQ(queue.DrainInto(1024, &out), 1u);
    EXPECT_EQ(out, std::to_string(i));
    EXPECT_TRUE(queue.empty());
  }
}

}  // namespace
}  // namespace wirehub::edge
