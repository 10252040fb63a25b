#include "edge/subscribed_channels.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Names(const SubscribedChannels& channels) {
  std::vector<std::string> names;
  for (const auto& [name, subscription] : channels) names.push_back(name);
  return names;
}

Subscription WithInfo(std::string info) {
  Subscription subscription;
  subscription.chan_info = std::make_unique<const std::string>(std::move(info));
  return subscription;
}

TEST(SubscribedChannelsTest, FindsWhatWasAddedByName) {
  SubscribedChannels channels;
  EXPECT_TRUE(channels.empty());
  EXPECT_FALSE(channels.contains("news"));
  EXPECT_TRUE(channels.emplace("news", Subscription()).second);
  EXPECT_TRUE(channels.emplace("chat:room", WithInfo(R"({"role":"mod"})")).second);
  EXPECT_EQ(channels.size(), 2u);
  EXPECT_TRUE(channels.contains("news"));
  EXPECT_FALSE(channels.contains("new"));
  auto it = channels.find("chat:room");
  ASSERT_NE(it, channels.end());
  EXPECT_EQ(it->first, "chat:room");
  EXPECT_EQ(it->second.info(), R"({"role":"mod"})");
  EXPECT_EQ(channels.find("news")->second.info(), "");
  EXPECT_THAT(Names(channels), UnorderedElementsAre("news", "chat:room"));
}

TEST(SubscribedChannelsTest, AddingANameTwiceKeepsTheFirst) {
  SubscribedChannels channels;
  channels.emplace("news", WithInfo("1"));
  auto [it, added] = channels.emplace("news", WithInfo("2"));
  EXPECT_FALSE(added);
  EXPECT_EQ(it->second.info(), "1");
  EXPECT_EQ(channels.size(), 1u);
}

TEST(SubscribedChannelsTest, EraseKeepsTheOthersFindable) {
  SubscribedChannels channels;
  for (const char* name : {"a", "b", "c", "d"}) channels.emplace(name, WithInfo(name));
  channels.erase(channels.find("b"));
  EXPECT_THAT(Names(channels), UnorderedElementsAre("a", "c", "d"));
  for (const char* name : {"a", "c", "d"}) EXPECT_EQ(channels.find(name)->second.info(), name);
  channels.erase(channels.find("d"));  // The last one.
  channels.erase(channels.find("a"));
  EXPECT_THAT(Names(channels), UnorderedElementsAre("c"));
  channels.erase(channels.find("c"));
  EXPECT_TRUE(channels.empty());
  EXPECT_THAT(Names(channels), IsEmpty());
  EXPECT_TRUE(channels.emplace("a", Subscription()).second);
}

TEST(SubscribedChannelsTest, ManySubscriptionsStayConsistent) {
  SubscribedChannels channels;
  for (int i = 0; i < 128; ++i) channels.emplace("ch" + std::to_string(i), Subscription());
  for (int i = 0; i < 128; i += 2) channels.erase(channels.find("ch" + std::to_string(i)));
  EXPECT_EQ(channels.size(), 64u);
  for (int i = 0; i < 128; ++i) {
    EXPECT_EQ(channels.contains("ch" + std::to_string(i)), i % 2 == 1) << i;
  }
}

TEST(SubscribedChannelsTest, KeepsExpiryAndPresenceMarks) {
  SubscribedChannels channels;
  Subscription subscription;
  const absl::Time expiry = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 60);
  subscription.expires_at = expiry;
  channels.emplace("news", std::move(subscription));
  channels.find("news")->second.in_presence = true;
  EXPECT_EQ(absl::Time(channels.find("news")->second.expires_at), expiry);
  EXPECT_TRUE(channels.find("news")->second.in_presence);
  EXPECT_EQ(absl::Time(Subscription().expires_at), absl::InfiniteFuture());
}

}  // namespace
}  // namespace wirehub::edge
