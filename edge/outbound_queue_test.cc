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
  OutboundQueue queue(1024);
  ASSERT_TRUE(queue.Push(MakeFrame("{\"a\":1}")));
  ASSERT_TRUE(queue.Push(MakeFrame("{}")));
  ASSERT_TRUE(queue.Push(MakeFrame("{\"b\":2}")));
  std::string out;
  EXPECT_EQ(queue.DrainInto(1 << 20, &out), 3u);
  EXPECT_EQ(out, "{\"a\":1}\n{}\n{\"b\":2}");
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(OutboundQueueTest, RejectsPushOverByteBoundAndKeepsEarlierFrames) {
  OutboundQueue queue(10);
  ASSERT_TRUE(queue.Push(MakeFrame("123456")));
  EXPECT_FALSE(queue.Push(MakeFrame("12345")));
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.bytes(), 6u);
  EXPECT_TRUE(queue.Push(MakeFrame("1234")));
  EXPECT_EQ(queue.bytes(), 10u);
}

TEST(OutboundQueueTest, DrainStopsAtBatchLimitButTakesAtLeastOne) {
  OutboundQueue queue(1024);
  ASSERT_TRUE(queue.Push(MakeFrame(std::string(50, 'x'))));
  ASSERT_TRUE(queue.Push(MakeFrame(std::string(50, 'y'))));
  std::string out;
  EXPECT_EQ(queue.DrainInto(20, &out), 1u);
  EXPECT_EQ(out, std::string(50, 'x'));
  out.clear();
  EXPECT_EQ(queue.DrainInto(120, &out), 1u);
  EXPECT_EQ(out, std::string(50, 'y'));
}

TEST(OutboundQueueTest, BatchLimitCountsSeparators) {
  OutboundQueue queue(1024);
  ASSERT_TRUE(queue.Push(MakeFrame("aaaa")));
  ASSERT_TRUE(queue.Push(MakeFrame("bbbb")));
  std::string out;
  EXPECT_EQ(queue.DrainInto(8, &out), 1u);  // "aaaa\nbbbb" is 9 bytes.
  EXPECT_EQ(queue.DrainInto(8, &out), 1u);
}

TEST(OutboundQueueTest, SharedFrameSurvivesDrainOfOneQueue) {
  Frame shared = MakeFrame("{\"push\":{}}");
  OutboundQueue first(1024);
  OutboundQueue second(1024);
  ASSERT_TRUE(first.Push(shared));
  ASSERT_TRUE(second.Push(shared));
  std::string out;
  first.DrainInto(1024, &out);
  first.Clear();
  std::string out2;
  second.DrainInto(1024, &out2);
  EXPECT_EQ(out, out2);
  EXPECT_EQ(shared.use_count(), 1);
}

TEST(OutboundQueueTest, ClearResetsBytes) {
  OutboundQueue queue(8);
  ASSERT_TRUE(queue.Push(MakeFrame("12345678")));
  queue.Clear();
  EXPECT_TRUE(queue.Push(MakeFrame("12345678")));
}

TEST(OutboundQueueTest, NeverEmptyQueueKeepsOrderThroughCompaction) {
  // A reader that always leaves something queued: frames keep their order
  // across the queue's internal compaction, and the bytes stay accounted.
  OutboundQueue queue(1 << 20);
  uint64_t next_pushed = 0;
  uint64_t next_expected = 0;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(queue.Push(std::make_shared<const std::string>(std::to_string(next_pushed++))));
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

}  // namespace
}  // namespace wirehub::edge
