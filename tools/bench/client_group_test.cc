#include "tools/bench/client_group.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

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
