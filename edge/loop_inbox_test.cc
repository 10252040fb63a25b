#include "edge/loop_inbox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace wirehub::edge {
namespace {

using ::testing::ElementsAre;

TEST(LoopInboxTest, RunsTasksInOrderAndWakesOncePerBatch) {
  int wakes = 0;
  LoopInbox inbox([&] { ++wakes; });
  std::vector<int> ran;
  inbox.Post([&] { ran.push_back(1); });
  inbox.Post([&] { ran.push_back(2); });
  EXPECT_EQ(wakes, 1);
  inbox.Drain();
  EXPECT_THAT(ran, ElementsAre(1, 2));
  inbox.Post([&] { ran.push_back(3); });
  EXPECT_EQ(wakes, 2);
  inbox.Drain();
  EXPECT_THAT(ran, ElementsAre(1, 2, 3));
}

TEST(LoopInboxTest, TasksPostedWhileDrainingRunOnTheNextDrain) {
  int wakes = 0;
  LoopInbox inbox([&] { ++wakes; });
  std::vector<int> ran;
  inbox.Post([&] {
    ran.push_back(1);
    inbox.Post([&] { ran.push_back(2); });
  });
  inbox.Drain();
  EXPECT_THAT(ran, ElementsAre(1));
  EXPECT_EQ(wakes, 2);
  inbox.Drain();
  EXPECT_THAT(ran, ElementsAre(1, 2));
}

TEST(LoopInboxTest, EveryTaskFromManyThreadsRunsOnce) {
  std::atomic<int> wakes{0};
  LoopInbox inbox([&] { ++wakes; });
  constexpr int kThreads = 4;
  constexpr int kTasks = 10000;
  std::vector<int> count(kThreads, 0);
  std::atomic<bool> done{false};
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kTasks; ++i) inbox.Post([&count, t] { ++count[t]; });
    });
  }
  std::thread loop([&] {
    while (!done.load()) inbox.Drain();
    inbox.Drain();
  });
  for (std::thread& poster : posters) poster.join();
  done.store(true);
  loop.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(count[t], kTasks);
  EXPECT_GE(wakes.load(), 1);
  EXPECT_LE(wakes.load(), kThreads * kTasks);
}

}  // namespace
}  // namespace wirehub::edge
