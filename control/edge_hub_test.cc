#include "control/edge_hub.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::control {
namespace {

using ::testing::Each;
using ::testing::Eq;
using ::testing::IsEmpty;

TEST(EdgeHubTest, PublishWithoutEdgesAssignsConsecutiveOffsetsFromOne) {
  EdgeHub hub;
  StreamPosition first = *hub.Publish("news", R"({"n":1})");
  StreamPosition second = *hub.Publish("news", R"({"n":2})");
  StreamPosition third = *hub.Publish("news", R"({"n":3})");
  EXPECT_EQ(first.offset, 1u);
  EXPECT_EQ(second.offset, 2u);
  EXPECT_EQ(third.offset, 3u);
}

TEST(EdgeHubTest, PublishKeepsOneEpochPerChannel) {
  EdgeHub hub;
  StreamPosition first = *hub.Publish("news", "1");
  EXPECT_FALSE(first.epoch.empty());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(hub.Publish("news", "1")->epoch, first.epoch);
  }
}

TEST(EdgeHubTest, ChannelsHaveIndependentOffsets) {
  EdgeHub hub;
  EXPECT_EQ(hub.Publish("a", "1")->offset, 1u);
  EXPECT_EQ(hub.Publish("a", "1")->offset, 2u);
  EXPECT_EQ(hub.Publish("b", "1")->offset, 1u);
  EXPECT_EQ(hub.Publish("a", "1")->offset, 3u);
  EXPECT_EQ(hub.Publish("b", "1")->offset, 2u);
  EXPECT_EQ(hub.Publish("c", "1")->offset, 1u);
}

TEST(EdgeHubTest, ChannelsGetDifferentEpochs) {
  EdgeHub hub;
  // Epochs are 64 random bits; a collision among a few channels is
  // practically impossible.
  std::set<std::string> epochs;
  for (int i = 0; i < 8; ++i) {
    epochs.insert(hub.Publish("channel-" + std::to_string(i), "{}")->epoch);
  }
  EXPECT_EQ(epochs.size(), 8u);
}

TEST(EdgeHubTest, SeparateHubsUseDifferentEpochsForTheSameChannel) {
  // A restarted control must not reuse an epoch a client may still hold.
  EdgeHub first;
  EdgeHub second;
  EXPECT_NE(first.Publish("news", "{}")->epoch, second.Publish("news", "{}")->epoch);
}

TEST(EdgeHubTest, FillStatsOnFreshHub) {
  EdgeHub hub;
  v1::StatsResponse stats;
  hub.FillStats(10, &stats);
  EXPECT_THAT(stats.edges(), IsEmpty());
  EXPECT_THAT(stats.top_channels(), IsEmpty());
  EXPECT_EQ(stats.total_connections(), 0u);
  EXPECT_EQ(stats.unique_users(), 0u);
  EXPECT_EQ(stats.subscriptions(), 0u);
  EXPECT_EQ(stats.channels_with_subscribers(), 0u);
  EXPECT_EQ(stats.publications_accepted(), 0u);
  EXPECT_EQ(stats.deliveries(), 0u);
  EXPECT_EQ(stats.slow_edge_detaches(), 0u);
}

TEST(EdgeHubTest, FillStatsCountsPublicationsAccepted) {
  EdgeHub hub;
  ASSERT_TRUE(hub.Publish("a", "1").ok());
  ASSERT_TRUE(hub.Publish("a", "2").ok());
  ASSERT_TRUE(hub.Publish("b", "3").ok());
  v1::StatsResponse stats;
  hub.FillStats(10, &stats);
  EXPECT_EQ(stats.publications_accepted(), 3u);
  // Nobody is subscribed, so nothing was delivered and no channel has
  // subscribers.
  EXPECT_EQ(stats.deliveries(), 0u);
  EXPECT_EQ(stats.channels_with_subscribers(), 0u);
  EXPECT_THAT(stats.top_channels(), IsEmpty());
  EXPECT_THAT(stats.edges(), IsEmpty());
}

TEST(EdgeHubTest, FillStatsAcceptsAnyTopChannelsLimitWithoutEdges) {
  EdgeHub hub;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(hub.Publish("channel-" + std::to_string(i), "{}").ok());
  // 0 and negative mean the default, large values are capped; published-to
  // channels without subscribers are never listed.
  for (int limit : {-1, 0, 1, 5, 1000, 1001, 1 << 30}) {
    SCOPED_TRACE(limit);
    v1::StatsResponse stats;
    hub.FillStats(limit, &stats);
    EXPECT_THAT(stats.top_channels(), IsEmpty());
    EXPECT_EQ(stats.publications_accepted(), 20u);
  }
}

TEST(EdgeHubTest, ConcurrentPublishesOnOneChannelGetUniqueConsecutiveOffsets) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1000;
  EdgeHub hub;
  std::vector<std::vector<uint64_t>> offsets(kThreads);
  std::vector<std::vector<std::string>> epochs(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&hub, &offsets, &epochs, t] {
      offsets[t].reserve(kPerThread);
      epochs[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        StreamPosition position = *hub.Publish("shared", "{}");
        offsets[t].push_back(position.offset);
        epochs[t].push_back(std::move(position.epoch));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::vector<uint64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    // Each publisher sees its own offsets strictly increasing.
    EXPECT_TRUE(std::is_sorted(offsets[t].begin(), offsets[t].end()));
    EXPECT_EQ(std::adjacent_find(offsets[t].begin(), offsets[t].end()), offsets[t].end());
    all.insert(all.end(), offsets[t].begin(), offsets[t].end());
  }
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> expected(kThreads * kPerThread);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = i + 1;
  EXPECT_EQ(all, expected);

  const std::string& epoch = epochs[0][0];
  for (int t = 0; t < kThreads; ++t) EXPECT_THAT(epochs[t], Each(Eq(epoch)));

  v1::StatsResponse stats;
  hub.FillStats(0, &stats);
  EXPECT_EQ(stats.publications_accepted(), static_cast<uint64_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace wirehub::control
