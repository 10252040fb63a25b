#include "tools/bench/client_group.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/bench/client_worker.h"

namespace wirehub::bench {
namespace {

ClientGroupSpec Spec(size_t clients, size_t channels, size_t threads, size_t processes) {
  ClientGroupSpec spec;
  spec.clients = clients;
  spec.channels = channels;
  spec.threads = threads;
  spec.processes = processes;
  return spec;
}

TEST(ClientGroupTest, WorkersHoldEveryClientExactlyOnce) {
  // One channel per client, so a client's channel names it.
  ClientGroupSpec spec = Spec(103, 103, 2, 3);
  std::multiset<std::string> seen;
  size_t total = 0;
  for (size_t worker = 0; worker < 6; ++worker) {
    ClientPoolOptions options = LocalWorkerOptions(spec, worker);
    EXPECT_THAT(options.clients, ::testing::AnyOf(17u, 18u)) << worker;
    total += options.clients;
    for (size_t local = 0; local < options.clients; ++local) {
      // Worker w's local client i is global client i * 6 + w.
      EXPECT_EQ(options.channel(local), BenchChannelName(local * 6 + worker));
      seen.insert(options.channel(local));
    }
  }
  EXPECT_EQ(total, 103u);
  EXPECT_EQ(seen.size(), 103u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 103u);
}

TEST(ClientGroupTest, ResourceNamesTheClientsChannel) {
  ClientGroupSpec spec = Spec(10, 4, 1, 2);
  spec.resource = "/sub/{channel}";
  ClientPoolOptions second = LocalWorkerOptions(spec, 1);
  // Worker 1's local client 2 is global client 5, on channel 5 % 4.
  EXPECT_EQ(second.resource(2), "/sub/bench1");
  spec.resource = "/connection/websocket";
  EXPECT_EQ(LocalWorkerOptions(spec, 0).resource(3), "/connection/websocket");
}

TEST(ClientGroupTest, WorkersSpreadOverThePorts) {
  ClientGroupSpec spec = Spec(8, 1, 2, 2);
  spec.ports = {1001, 1002};
  EXPECT_EQ(LocalWorkerOptions(spec, 0).server_port, 1001);
  EXPECT_EQ(LocalWorkerOptions(spec, 1).server_port, 1002);
  EXPECT_EQ(LocalWorkerOptions(spec, 3).server_port, 1002);
  spec.ports = {1, 2, 3, 4, 5};
  EXPECT_FALSE(ClientGroup::Start(spec, "/nonexistent").ok());
}

TEST(ClientGroupTest, TokensOnlyWithASecret) {
  ClientGroupSpec spec = Spec(4, 1, 1, 1);
  EXPECT_FALSE(LocalWorkerOptions(spec, 0).token);
  spec.token_secret = "s3cret";
  ClientPoolOptions options = LocalWorkerOptions(spec, 0);
  ASSERT_TRUE(options.token);
  EXPECT_NE(options.token(0), options.token(1));
}

TEST(ClientGroupTest, ExpectedSkipsSlowClientsOfEveryWorker) {
  ClientGroupSpec spec = Spec(50, 7, 2, 2);
  spec.slow_every = 5;
  std::vector<uint64_t> last_seq = {1, 2, 3, 4, 5, 6, 7};
  // By hand: every worker's local clients 4, 9, ... are slow.
  uint64_t want = 0;
  for (size_t worker = 0; worker < 4; ++worker) {
    ClientPoolOptions options = LocalWorkerOptions(spec, worker);
    for (size_t local = 0; local < options.clients; ++local) {
      if (local % 5 == 4) continue;
      want += last_seq[(local * 4 + worker) % 7];
    }
  }
  EXPECT_EQ(ExpectedDeliveries(spec, last_seq), want);
  spec.slow_every = 0;
  EXPECT_GT(ExpectedDeliveries(spec, last_seq), want);
  EXPECT_EQ(ExpectedDeliveries(spec, {}), 0u);
}

TEST(ClientGroupTest, ChannelSubscribersNumberTheClientsChannelByChannel) {
  // Conversation i has 1 + i % 3 subscribers.
  ClientGroupSpec spec = Spec(0, 7, 1, 1);
  spec.channel_subscribers = {1, 2, 3};
  spec.clients = SubscribersOfChannels(spec.channel_subscribers, 7);
  EXPECT_EQ(spec.clients, 1u + 2 + 3 + 1 + 2 + 3 + 1);
  std::vector<size_t> want = {0, 1, 1, 2, 2, 2, 3, 4, 4, 5, 5, 5, 6};
  for (size_t g = 0; g < want.size(); ++g) EXPECT_EQ(ChannelOfClient(spec, g), want[g]) << g;
  EXPECT_EQ(SubscribersOfChannels({}, 7), 7u);
  spec.channel_subscribers.clear();
  EXPECT_EQ(ChannelOfClient(spec, 9), 2u);
}

TEST(ClientGroupTest, WorkersSubscribeTheirShareOfEveryChannel) {
  ClientGroupSpec spec = Spec(0, 1000, 2, 2);
  spec.channel_subscribers = {1, 2, 3};
  spec.clients = SubscribersOfChannels(spec.channel_subscribers, 1000);
  std::map<std::string, size_t> per_channel;
  for (size_t worker = 0; worker < 4; ++worker) {
    ClientPoolOptions options = LocalWorkerOptions(spec, worker);
    for (size_t local = 0; local < options.clients; ++local) ++per_channel[options.channel(local)];
  }
  ASSERT_EQ(per_channel.size(), 1000u);
  for (size_t c = 0; c < 1000; ++c) EXPECT_EQ(per_channel[BenchChannelName(c)], 1 + c % 3) << c;
  // Every subscriber expects every token of its channel.
  std::vector<uint64_t> last_seq(1000, 0);
  last_seq[5] = 10;  // 3 subscribers
  last_seq[7] = 4;   // 2 subscribers
  EXPECT_EQ(ExpectedDeliveries(spec, last_seq), 3u * 10 + 2u * 4);
}

TEST(ClientGroupTest, WorkerCommandRejectsBadFlags) {
  EXPECT_EQ(RunClientWorkerCommand({"--bogus=1"}), 2);
  EXPECT_EQ(RunClientWorkerCommand({"--threads=0"}), 2);
  EXPECT_EQ(RunClientWorkerCommand({"--processes=2", "--process=2"}), 2);
  EXPECT_EQ(RunClientWorkerCommand({"--protocol=9"}), 2);
  EXPECT_EQ(RunClientWorkerCommand({"--ports=80,x"}), 2);
  EXPECT_EQ(RunClientWorkerCommand({"--processes=2", "--process=1"}), 2);  // no --ports
}

}  // namespace
}  // namespace wirehub::bench
