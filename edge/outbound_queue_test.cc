#include "edge/outbound_queue.h"

#include <memory>
#include <string>

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

}  // namespace
}  // namespace wirehub::edge
