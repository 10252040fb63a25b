#include "control/replica_bus.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "control/edge_hub.h"
#include "control/testing/redis_server.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using testing::RedisServer;

constexpr absl::Duration kWait = absl::Seconds(10);

std::unique_ptr<ReplicaBus> NewBus(int port, const std::string& id, ReplicaBus::Handler handler) {
  ReplicaBusOptions options;
  options.connection.port = port;
  options.connection.min_reconnect_delay = absl::Milliseconds(20);
  options.key_prefix = "t";
  options.replica_id = id;
  auto bus = std::make_unique<ReplicaBus>(options);
  bus->Start(std::move(handler));
  return bus;
}

bool WaitReady(const ReplicaBus& bus) {
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline) {
    if (bus.Ready().ok()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

ReplicaBus::Handler Answering(const std::string& edge) {
  return [edge](const edge::v1::ReplicaRequest& request, ReplicaBus::Reply reply) {
    edge::v1::ReplicaReply out;
    edge::v1::ReplicaAnswer* answer = out.add_answers();
    answer->set_edge_id(edge);
    answer->mutable_result()->set_connections(request.command().id());
    out.set_missing(1);
    reply(std::move(out));
  };
}

ReplicaBus::Gathered Forward(ReplicaBus& bus, absl::Duration timeout) {
  absl::Notification done;
  ReplicaBus::Gathered result;
  edge::v1::ReplicaRequest request;
  request.mutable_command()->set_id(7);
  bus.Forward(request, absl::Now() + timeout, [&](ReplicaBus::Gathered gathered) {
    result = std::move(gathered);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  return result;
}

class ReplicaBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    redis_ = *std::move(server);
  }
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(ReplicaBusTest, EveryOtherReplicaAnswersOnce) {
  auto a = NewBus(redis_->port(), "a", Answering("edge-of-a"));
  auto b = NewBus(redis_->port(), "b", Answering("edge-of-b"));
  auto c = NewBus(redis_->port(), "c", Answering("edge-of-c"));
  ASSERT_TRUE(WaitReady(*a) && WaitReady(*b) && WaitReady(*c));
  const absl::Time start = absl::Now();
  ReplicaBus::Gathered gathered = Forward(*a, absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "it waited for the deadline";
  ASSERT_EQ(gathered.replies.size(), 2u);
  EXPECT_EQ(gathered.replicas_missing, 0u);
  std::vector<std::string> edges;
  for (const edge::v1::ReplicaReply& reply : gathered.replies) {
    EXPECT_EQ(reply.missing(), 1u);
    ASSERT_EQ(reply.answers_size(), 1);
    EXPECT_EQ(reply.answers(0).result().connections(), 7u);
    edges.push_back(reply.answers(0).edge_id());
  }
  std::sort(edges.begin(), edges.end());
  EXPECT_EQ(edges, (std::vector<std::string>{"edge-of-b", "edge-of-c"}));
}

TEST_F(ReplicaBusTest, AReplicaThatDoesNotAnswerIsMissingAtTheDeadline) {
  auto a = NewBus(redis_->port(), "a", Answering("edge-of-a"));
  auto silent = NewBus(redis_->port(), "silent",
                       [](const edge::v1::ReplicaRequest&, ReplicaBus::Reply reply) {
                         // Never answers (a replica stuck or dying).
                       });
  ASSERT_TRUE(WaitReady(*a) && WaitReady(*silent));
  const absl::Time start = absl::Now();
  ReplicaBus::Gathered gathered = Forward(*a, absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(gathered.replies.empty());
  EXPECT_EQ(gathered.replicas_missing, 1u);
  EXPECT_GE(took, absl::Milliseconds(280));
  EXPECT_LT(took, absl::Seconds(2));
}

TEST_F(ReplicaBusTest, AloneOrWithoutRedisItAnswersAtOnce) {
  auto a = NewBus(redis_->port(), "a", Answering("edge-of-a"));
  ASSERT_TRUE(WaitReady(*a));
  ReplicaBus::Gathered alone = Forward(*a, absl::Seconds(5));
  EXPECT_TRUE(alone.replies.empty());
  EXPECT_EQ(alone.replicas_missing, 0u);
  redis_->Kill();
  const absl::Time start = absl::Now();
  ReplicaBus::Gathered down = Forward(*a, absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(down.replies.empty());
}

TEST(EdgeHubMergeStatsTest, SumsCountsListsEdgesAndRanksChannelsOverReplicas) {
  v1::StatsResponse into;
  into.add_edges()->set_id("a");
  into.set_total_connections(3);
  into.set_publications_accepted(10);
  auto* one = into.add_top_channels();
  one->set_channel("x");
  one->set_subscribers(2);
  v1::StatsResponse from;
  from.add_edges()->set_id("b");
  from.set_total_connections(4);
  from.set_publications_accepted(5);
  auto* x = from.add_top_channels();
  x->set_channel("x");
  x->set_subscribers(2);
  auto* y = from.add_top_channels();
  y->set_channel("y");
  y->set_subscribers(3);
  EdgeHub::MergeStats(from, 1, &into);
  EXPECT_EQ(into.edges_size(), 2);
  EXPECT_EQ(into.total_connections(), 7u);
  EXPECT_EQ(into.publications_accepted(), 15u);
  ASSERT_EQ(into.top_channels_size(), 1);
  EXPECT_EQ(into.top_channels(0).channel(), "x");
  EXPECT_EQ(into.top_channels(0).subscribers(), 4u);
}

}  // namespace
}  // namespace wirehub::control
