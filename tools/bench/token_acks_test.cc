#include "tools/bench/token_acks.h"

#include <deque>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

TEST(AckCounterTest, SettlesAcceptedRefusedAndLostKeepingTheFirstError) {
  AckCounter acks;
  acks.Accepted(5);
  acks.Refused(2, "unknown namespace");
  acks.Lost(3, "PublishStream broke");
  acks.NoteError("later");
  EXPECT_EQ(acks.accepted(), 5u);
  EXPECT_EQ(acks.settled(), 10u);
  EXPECT_EQ(acks.first_error(), "unknown namespace");
}

TEST(AckCounterTest, AnswersPopTheOldestSendTimes) {
  AckCounter acks;
  std::deque<int64_t> sent = {100, 200, 300};
  acks.Answered(&sent, 2, 1000);
  EXPECT_EQ(sent, std::deque<int64_t>{300});
  acks.Answered(50, 1000);
  LatencyHistogram answers = acks.answers();
  EXPECT_EQ(answers.Count(), 3u);
  EXPECT_EQ(answers.Min(), 800);
  EXPECT_EQ(answers.Max(), 950);
}

TEST(AckCounterTest, CountsFromManyThreads) {
  AckCounter acks;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&acks, t] {
      for (int i = 0; i < 1000; ++i) {
        acks.Accepted(1);
        acks.Answered(0, i);
        if (i % 100 == 0) acks.Refused(1, t == 0 ? "zero" : "other");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(acks.accepted(), 4000u);
  EXPECT_EQ(acks.settled(), 4040u);
  EXPECT_EQ(acks.answers().Count(), 4000u);
  EXPECT_FALSE(acks.first_error().empty());
}

}  // namespace
}  // namespace wirehub::bench
