#include "control/edge_hub.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/namespace_registry.h"
#include "control/edge_link_service.h"
#include "control/testing/fake_edge.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/config/v1/config.pb.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::control {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::Eq;
using testing::FakeEdge;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

TEST(EdgeHubTest, PublishWithoutEdgesAssignsConsecutiveOffsetsFromOne) {
  EdgeHub hub;
  StreamPosition first = *hub.PublishAndWait("news", R"({"n":1})");
  StreamPosition second = *hub.PublishAndWait("news", R"({"n":2})");
  StreamPosition third = *hub.PublishAndWait("news", R"({"n":3})");
  EXPECT_EQ(first.offset, 1u);
  EXPECT_EQ(second.offset, 2u);
  EXPECT_EQ(third.offset, 3u);
}

TEST(EdgeHubTest, PublishKeepsOneEpochPerChannel) {
  EdgeHub hub;
  StreamPosition first = *hub.PublishAndWait("news", "1");
  EXPECT_FALSE(first.epoch.empty());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(hub.PublishAndWait("news", "1")->epoch, first.epoch);
  }
}

TEST(EdgeHubTest, ChannelsHaveIndependentOffsets) {
  EdgeHub hub;
  EXPECT_EQ(hub.PublishAndWait("a", "1")->offset, 1u);
  EXPECT_EQ(hub.PublishAndWait("a", "1")->offset, 2u);
  EXPECT_EQ(hub.PublishAndWait("b", "1")->offset, 1u);
  EXPECT_EQ(hub.PublishAndWait("a", "1")->offset, 3u);
  EXPECT_EQ(hub.PublishAndWait("b", "1")->offset, 2u);
  EXPECT_EQ(hub.PublishAndWait("c", "1")->offset, 1u);
}

TEST(EdgeHubTest, ChannelsGetDifferentEpochs) {
  EdgeHub hub;
  // Epochs are 64 random bits; a collision among a few channels is
  // practically impossible.
  std::set<std::string> epochs;
  for (int i = 0; i < 8; ++i) {
    epochs.insert(hub.PublishAndWait("channel-" + std::to_string(i), "{}")->epoch);
  }
  EXPECT_EQ(epochs.size(), 8u);
}

TEST(EdgeHubTest, SeparateHubsUseDifferentEpochsForTheSameChannel) {
  // A restarted control must not reuse an epoch a client may still hold.
  EdgeHub first;
  EdgeHub second;
  EXPECT_NE(first.PublishAndWait("news", "{}")->epoch, second.PublishAndWait("news", "{}")->epoch);
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
  ASSERT_TRUE(hub.PublishAndWait("a", "1").ok());
  ASSERT_TRUE(hub.PublishAndWait("a", "2").ok());
  ASSERT_TRUE(hub.PublishAndWait("b", "3").ok());
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
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(hub.PublishAndWait("channel-" + std::to_string(i), "{}").ok());
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
        StreamPosition position = *hub.PublishAndWait("shared", "{}");
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

// ---------------------------------------------------------------------------
// With edges attached through the real Attach stream.

config::v1::Config TestConfig() {
  config::v1::Config config;
  auto add = [&config](const std::string& name) {
    config::v1::Namespace* ns = config.add_namespaces();
    ns->set_name(name);
    return ns->mutable_options();
  };
  config::v1::NamespaceOptions* room = add("room");
  room->set_presence(true);
  room->set_join_leave(true);
  add("quiet")->set_presence(true);
  config::v1::NamespaceOptions* chat = add("chat");
  chat->set_history_size(10);
  chat->mutable_history_ttl()->set_seconds(60);
  config::v1::NamespaceOptions* bin = add("bin");
  bin->set_history_size(10);
  bin->mutable_history_ttl()->set_seconds(60);
  bin->set_binary_data(true);
  return config;
}

v1::ClientInfo Client(const std::string& client, const std::string& user = "u",
                      const std::string& conn_info = "") {
  v1::ClientInfo info;
  info.set_client(client);
  info.set_user(user);
  info.set_conn_info(conn_info);
  return info;
}

edge::v1::PresenceEntry Entry(const std::string& key, const v1::ClientInfo& info) {
  edge::v1::PresenceEntry entry;
  entry.set_channel(key);
  *entry.mutable_info() = info;
  return entry;
}

// "join:c1", "leave:c1" or "pub:DATA" for each publication.
std::vector<std::string> Events(const std::vector<edge::v1::Publication>& publications) {
  std::vector<std::string> events;
  for (const edge::v1::Publication& publication : publications) {
    if (publication.has_join()) {
      events.push_back("join:" + publication.join().client());
    } else if (publication.has_leave()) {
      events.push_back("leave:" + publication.leave().client());
    } else {
      events.push_back("pub:" + publication.data());
    }
  }
  return events;
}

class EdgeHubWithEdgesTest : public ::testing::Test {
 protected:
  explicit EdgeHubWithEdgesTest(absl::Duration edge_timeout = absl::Seconds(15))
      : hub_(&registry_, EdgeHubOptions{.edge_timeout = edge_timeout}) {}

  void SetUp() override {
    hub_.Start();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&link_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    edges_.clear();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
  }

  // Attaches an edge and waits until control applied its Hello.
  FakeEdge* Attach(const std::string& edge_id, const std::vector<std::string>& channels,
                   const std::vector<edge::v1::PresenceEntry>& presence = {}) {
    edge::v1::Hello hello;
    hello.set_edge_id(edge_id);
    hello.set_seq(1);
    for (const std::string& channel : channels) hello.add_channels(channel);
    for (const edge::v1::PresenceEntry& entry : presence) *hello.add_presence() = entry;
    edges_.push_back(std::make_unique<FakeEdge>(channel_, hello));
    EXPECT_TRUE(edges_.back()->WaitForAck(1)) << edge_id << " hello not acknowledged";
    return edges_.back().get();
  }

  // Sends a presence change (and waits until control applied it).
  static void ChangePresence(FakeEdge* edge, uint64_t seq,
                             const std::vector<edge::v1::PresenceEntry>& added,
                             const std::vector<edge::v1::PresenceEntry>& removed = {}) {
    edge::v1::InterestChange change;
    change.set_seq(seq);
    for (const auto& entry : added) *change.add_presence_added() = entry;
    for (const auto& entry : removed) *change.add_presence_removed() = entry;
    ASSERT_TRUE(edge->SendInterest(change)) << "interest " << seq << " not acknowledged";
  }

  std::vector<std::string> PresentClients(const std::string& key) {
    absl::StatusOr<PresenceTable::Page> page = hub_.PresenceAndWait(key, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const v1::ClientInfo& info : page->clients) ids.push_back(info.client());
    }
    return ids;
  }

  NamespaceRegistry registry_{TestConfig()};
  EdgeHub hub_;
  EdgeLinkServiceImpl link_{&hub_, EdgeLinkServiceOptions{}};
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<std::unique_ptr<FakeEdge>> edges_;
};

TEST_F(EdgeHubWithEdgesTest, JoinAndLeaveReachEveryInterestedEdgeOfJoinLeaveNamespaces) {
  FakeEdge* a = Attach("a", {"room:1", "quiet:1"});
  FakeEdge* b = Attach("b", {"room:1"});
  FakeEdge* c = Attach("c", {"room:2"});
  ChangePresence(
      a, 2, {Entry("room:1", Client("c1", "ann", R"({"n":1})")), Entry("quiet:1", Client("c2"))});
  ASSERT_TRUE(b->WaitForPublications(1));
  std::vector<edge::v1::Publication> seen = b->publications();
  EXPECT_EQ(seen[0].channel(), "room:1");
  EXPECT_EQ(seen[0].join().user(), "ann");
  EXPECT_EQ(seen[0].join().conn_info(), R"({"n":1})");
  EXPECT_EQ(seen[0].offset(), 0u) << "join/leave events are not sequenced";
  EXPECT_THAT(seen[0].epoch(), IsEmpty());

  // The edge only sends the client id of a removed entry; the leave carries
  // the info the client joined with.
  v1::ClientInfo gone;
  gone.set_client("c1");
  ChangePresence(a, 3, {}, {Entry("room:1", gone)});
  ASSERT_TRUE(b->WaitForPublications(2));
  seen = b->publications();
  EXPECT_EQ(seen[1].leave().client(), "c1");
  EXPECT_EQ(seen[1].leave().user(), "ann");
  EXPECT_EQ(seen[1].leave().conn_info(), R"({"n":1})");

  // A's own clients' events reach A too (other subscribers of its own
  // channel), and quiet:1 (presence without join_leave) sends none.
  ASSERT_TRUE(a->WaitForPublications(2));
  EXPECT_THAT(Events(a->publications()), ElementsAre("join:c1", "leave:c1"));

  // C has no interest in room:1: the first thing it gets is this publish.
  ASSERT_TRUE(hub_.PublishAndWait("room:2", "42").ok());
  ASSERT_TRUE(c->WaitForPublications(1));
  EXPECT_THAT(Events(c->publications()), ElementsAre("pub:42"));
  EXPECT_THAT(PresentClients("quiet:1"), ElementsAre("c2"));
}

TEST_F(EdgeHubWithEdgesTest, JoinLeaveAreOrderedWithPublications) {
  FakeEdge* a = Attach("a", {"room:1"});
  FakeEdge* b = Attach("b", {"room:1"});
  ASSERT_TRUE(hub_.PublishAndWait("room:1", "1").ok());
  ChangePresence(a, 2, {Entry("room:1", Client("c1"))});
  ASSERT_TRUE(hub_.PublishAndWait("room:1", "2").ok());
  ASSERT_TRUE(b->WaitForPublications(3));
  EXPECT_THAT(Events(b->publications()), ElementsAre("pub:1", "join:c1", "pub:2"));
}

TEST_F(EdgeHubWithEdgesTest, DetachRemovesPresenceAndSendsLeaves) {
  FakeEdge* a =
      Attach("a", {"room:1"}, {Entry("room:1", Client("a1")), Entry("room:1", Client("a2"))});
  FakeEdge* b = Attach("b", {"room:1"}, {Entry("room:1", Client("b1"))});
  EXPECT_THAT(PresentClients("room:1"), ElementsAre("a1", "a2", "b1"));
  a->Cancel();
  // B's join for b1 plus a leave for each of A's clients.
  ASSERT_TRUE(b->WaitForPublications(3));
  EXPECT_THAT(Events(b->publications()), UnorderedElementsAre("join:b1", "leave:a1", "leave:a2"));
  EXPECT_THAT(PresentClients("room:1"), ElementsAre("b1"));
  absl::StatusOr<PresenceTable::Counts> counts = hub_.PresenceStatsAndWait("room:1");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->clients, 1u);
}

TEST_F(EdgeHubWithEdgesTest, HelloOfReattachingEdgeTakesOverWithoutSpuriousEvents) {
  FakeEdge* observer = Attach("observer", {"room:1"});
  FakeEdge* old_session =
      Attach("e1", {"room:1"}, {Entry("room:1", Client("c1")), Entry("room:1", Client("c2"))});
  ASSERT_TRUE(observer->WaitForPublications(2));
  // The edge re-attaches before control noticed its old stream died; c2
  // disconnected meanwhile.
  Attach("e1", {"room:1"}, {Entry("room:1", Client("c1"))});
  EXPECT_THAT(PresentClients("room:1"), ElementsAre("c1", "c2"));
  old_session->Cancel();
  ASSERT_TRUE(observer->WaitForPublications(3));
  ASSERT_TRUE(hub_.PublishAndWait("room:1", "\"sync\"").ok());
  ASSERT_TRUE(observer->WaitForPublications(4));
  EXPECT_THAT(Events(observer->publications()),
              ElementsAre("join:c1", "join:c2", "leave:c2", "pub:\"sync\""));
  EXPECT_THAT(PresentClients("room:1"), ElementsAre("c1"));
}

TEST_F(EdgeHubWithEdgesTest, PresenceNeedsThePresenceOption) {
  Attach("a", {"chat:1"}, {Entry("chat:1", Client("c1"))});
  absl::StatusOr<PresenceTable::Page> page = hub_.PresenceAndWait("chat:1", 10, "");
  EXPECT_EQ(page.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("presence is not enabled"));
  EXPECT_EQ(hub_.PresenceStatsAndWait("acme|chat:1").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(hub_.PresenceAndWait("nope:1", 10, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  // The namespace comes from the channel part of a tenant's key.
  EXPECT_TRUE(hub_.PresenceAndWait("acme|room:1", 10, "").ok());
}

TEST_F(EdgeHubWithEdgesTest, TenantsHaveSeparatePresenceAndEvents) {
  FakeEdge* a = Attach("a", {"acme|room:1", "room:1"});
  ChangePresence(a, 2, {Entry("acme|room:1", Client("t1"))});
  EXPECT_THAT(PresentClients("acme|room:1"), ElementsAre("t1"));
  EXPECT_THAT(PresentClients("room:1"), IsEmpty());
  EXPECT_THAT(PresentClients("other|room:1"), IsEmpty());
  ASSERT_TRUE(a->WaitForPublications(1));
  EXPECT_EQ(a->publications()[0].channel(), "acme|room:1");
}

TEST_F(EdgeHubWithEdgesTest, ClientPublicationCarriesInfoToEdgesAndHistory) {
  FakeEdge* a = Attach("a", {"chat:1"});
  v1::ClientInfo info = Client("c9", "zoe", R"({"name":"Zoe"})");
  absl::StatusOr<StreamPosition> position =
      hub_.PublishAndWait("chat:1", R"({"t":"hi"})", "", &info);
  ASSERT_TRUE(position.ok()) << position.status();
  ASSERT_TRUE(a->WaitForPublications(1));
  edge::v1::Publication sent = a->publications()[0];
  EXPECT_EQ(sent.info().client(), "c9");
  EXPECT_EQ(sent.info().conn_info(), R"({"name":"Zoe"})");
  EXPECT_EQ(sent.offset(), position->offset);
  absl::StatusOr<HistoryRead> history = hub_.HistoryAndWait("chat:1", std::nullopt, -1, false);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->publications.size(), 1u);
  EXPECT_EQ(history->publications[0]->info().user(), "zoe");
}

TEST_F(EdgeHubWithEdgesTest, StatsSplitChannelKeysIntoNameAndTenant) {
  FakeEdge* a = Attach("a", {"acme|chat:1", "chat:1"});
  edge::v1::EdgeMessage stats;
  edge::v1::ChannelCount* count = stats.mutable_stats()->add_channels();
  count->set_channel("acme|chat:1");
  count->set_subscribers(3);
  count = stats.mutable_stats()->add_channels();
  count->set_channel("chat:1");
  count->set_subscribers(2);
  ASSERT_TRUE(a->Send(stats));
  // Stats carry no ack; an acknowledged change behind them orders the check.
  ChangePresence(a, 2, {});
  v1::StatsResponse response;
  hub_.FillStats(10, &response);
  ASSERT_EQ(response.top_channels_size(), 2);
  EXPECT_EQ(response.top_channels(0).channel(), "chat:1");
  EXPECT_EQ(response.top_channels(0).tenant(), "acme");
  EXPECT_EQ(response.top_channels(0).subscribers(), 3u);
  EXPECT_EQ(response.top_channels(1).channel(), "chat:1");
  EXPECT_EQ(response.top_channels(1).tenant(), "");
}

// Collects one command outcome.
struct OutcomeBox {
  absl::Notification done;
  CommandOutcome outcome;
  CommandCallback Callback() {
    return [this](CommandOutcome result) {
      outcome = std::move(result);
      done.Notify();
    };
  }
};

uint64_t SumConnections(const CommandOutcome& outcome) {
  uint64_t sum = 0;
  for (const auto& answer : outcome.answers) sum += answer.result.connections();
  return sum;
}

std::optional<edge::v1::CommandResult> Answer(uint64_t connections) {
  edge::v1::CommandResult result;
  result.set_connections(connections);
  return result;
}

TEST_F(EdgeHubWithEdgesTest, CommandReachesEveryEdgeAndCollectsAnswers) {
  FakeEdge* a = Attach("a", {});
  FakeEdge* b = Attach("b", {});
  a->set_command_handler([](const edge::v1::EdgeCommand&) { return Answer(2); });
  b->set_command_handler([](const edge::v1::EdgeCommand&) { return Answer(3); });
  edge::v1::EdgeCommand command;
  command.mutable_disconnect()->set_user("u1");
  OutcomeBox box;
  hub_.SendCommand(command, absl::Now() + absl::Seconds(30), box.Callback());
  ASSERT_TRUE(box.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(box.outcome.missing, 0u);
  EXPECT_EQ(SumConnections(box.outcome), 5u);
  ASSERT_EQ(a->commands().size(), 1u);
  EXPECT_EQ(a->commands()[0].disconnect().user(), "u1");
  EXPECT_NE(a->commands()[0].id(), 0u);
  EXPECT_EQ(a->commands()[0].id(), b->commands()[0].id());
}

TEST_F(EdgeHubWithEdgesTest, SilentEdgeIsMissingAfterDeadline) {
  FakeEdge* a = Attach("a", {});
  FakeEdge* b = Attach("b", {});
  a->set_command_handler([](const edge::v1::EdgeCommand&) { return Answer(2); });
  OutcomeBox box;
  hub_.SendCommand(edge::v1::EdgeCommand(), absl::Now() + absl::Milliseconds(300), box.Callback());
  ASSERT_TRUE(box.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(box.outcome.missing, 1u);
  EXPECT_EQ(SumConnections(box.outcome), 2u);
  EXPECT_TRUE(b->WaitForCommands(1)) << "the silent edge did get the command";
}

TEST_F(EdgeHubWithEdgesTest, DetachingEdgeIsMissingBeforeDeadline) {
  FakeEdge* a = Attach("a", {});
  FakeEdge* b = Attach("b", {});
  a->set_command_handler([](const edge::v1::EdgeCommand&) { return Answer(1); });
  OutcomeBox box;
  absl::Time start = absl::Now();
  hub_.SendCommand(edge::v1::EdgeCommand(), start + absl::Seconds(30), box.Callback());
  ASSERT_TRUE(b->WaitForCommands(1));
  b->Cancel();
  ASSERT_TRUE(box.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(box.outcome.missing, 1u);
  EXPECT_EQ(SumConnections(box.outcome), 1u);
}

TEST_F(EdgeHubWithEdgesTest, CommandWithoutEdgesCompletesAtOnce) {
  OutcomeBox box;
  hub_.SendCommand(edge::v1::EdgeCommand(), absl::Now() + absl::Seconds(30), box.Callback());
  ASSERT_TRUE(box.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(box.outcome.missing, 0u);
  EXPECT_THAT(box.outcome.answers, IsEmpty());
}

class EdgeTimeoutTest : public EdgeHubWithEdgesTest {
 protected:
  EdgeTimeoutTest() : EdgeHubWithEdgesTest(absl::Milliseconds(300)) {}
};

TEST_F(EdgeTimeoutTest, SilentEdgeIsDetachedAndLosesPresence) {
  FakeEdge* silent = Attach("silent", {"room:1"}, {Entry("room:1", Client("s1"))});
  FakeEdge* alive = Attach("alive", {"room:1"});
  absl::SleepFor(absl::Milliseconds(400));
  // The live edge speaks (any message counts); the silent one does not.
  ChangePresence(alive, 2, {});
  hub_.Maintain(absl::Now());

  grpc::Status status;
  ASSERT_TRUE(silent->WaitForEnd(&status)) << "control did not end the silent edge's stream";
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("edge silent for"));
  EXPECT_THAT(PresentClients("room:1"), IsEmpty());
  ASSERT_TRUE(alive->WaitForPublications(1));
  EXPECT_THAT(Events(alive->publications()), ElementsAre("leave:s1"));
  v1::StatsResponse stats;
  hub_.FillStats(10, &stats);
  ASSERT_EQ(stats.edges_size(), 1);
  EXPECT_EQ(stats.edges(0).id(), "alive");
}

TEST_F(EdgeTimeoutTest, EdgeThatSpeaksStaysAttached) {
  FakeEdge* edge = Attach("a", {"room:1"}, {Entry("room:1", Client("c1"))});
  for (int i = 0; i < 3; ++i) {
    absl::SleepFor(absl::Milliseconds(150));
    ChangePresence(edge, 2 + i, {});
    hub_.Maintain(absl::Now());
  }
  EXPECT_THAT(PresentClients("room:1"), ElementsAre("c1"));
}

TEST_F(EdgeHubWithEdgesTest, TenantStreamsAreIndependent) {
  StreamPosition acme = *hub_.PublishAndWait("acme|chat:1", "1");
  StreamPosition plain = *hub_.PublishAndWait("chat:1", "1");
  StreamPosition acme2 = *hub_.PublishAndWait("acme|chat:1", "2");
  EXPECT_EQ(acme.offset, 1u);
  EXPECT_EQ(plain.offset, 1u);
  EXPECT_EQ(acme2.offset, 2u);
  EXPECT_NE(acme.epoch, plain.epoch);
  // Options follow the channel part: "nope" is not configured in any tenant.
  absl::StatusOr<StreamPosition> refused = hub_.PublishAndWait("acme|nope:1", "1");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("nope:1"));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("acme")));
}

}  // namespace
}  // namespace wirehub::control

namespace wirehub::control {
namespace {

TEST_F(EdgeHubWithEdgesTest, LineBreaksInDataBecomeSpaces) {
  FakeEdge* a = Attach("a", {"chat:1"});
  // Clients split frames at '\n': a multi-line document would break apart.
  ASSERT_TRUE(hub_.PublishAndWait("chat:1", "{\n  \"t\": \"a\\nb\"\r\n}").ok());
  ASSERT_TRUE(a->WaitForPublications(1));
  EXPECT_EQ(a->publications()[0].data(), "{   \"t\": \"a\\nb\"  }");
  absl::StatusOr<HistoryRead> history = hub_.HistoryAndWait("chat:1", std::nullopt, -1, false);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->publications.size(), 1u);
  EXPECT_EQ(history->publications[0]->data(), "{   \"t\": \"a\\nb\"  }");
}

TEST_F(EdgeHubWithEdgesTest, BinaryDataIsKeptByteForByte) {
  FakeEdge* a = Attach("a", {"bin:1"});
  // Protobuf connections frame by length: line breaks, NUL and bytes that
  // are not UTF-8 all reach the edge and history as they were published.
  const std::string data("\n\x00\xff\r\nbin\xc3", 9);
  ASSERT_TRUE(hub_.PublishAndWait("bin:1", data).ok());
  ASSERT_TRUE(a->WaitForPublications(1));
  EXPECT_EQ(a->publications()[0].data(), data);
  absl::StatusOr<HistoryRead> history = hub_.HistoryAndWait("bin:1", std::nullopt, -1, false);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->publications.size(), 1u);
  EXPECT_EQ(history->publications[0]->data(), data);
}

// A reload (SetConfig) changes a live stream's retention from its next
// maintenance pass; a vanished namespace refuses at once and drops what was
// kept; the stream's epoch and offsets survive while it is remembered.
TEST(EdgeHubTest, ReloadedHistorySettingsApplyToLiveStreams) {
  auto version = [](uint32_t history_size, bool with_news) {
    config::v1::Config config;
    if (with_news) {
      config::v1::Namespace* news = config.add_namespaces();
      news->set_name("news");
      news->mutable_options()->set_history_size(history_size);
      news->mutable_options()->mutable_history_ttl()->set_seconds(3600);
    }
    return config;
  };
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  auto hub_config = [&](const config::v1::Config& config) {
    auto out = std::make_shared<HubConfig>();
    out->namespaces = std::make_shared<const NamespaceTable>(
        NamespaceRegistry(config), std::vector<std::string>{"news"}, &metrics);
    return out;
  };
  EdgeHub hub(nullptr, EdgeHubOptions{.metrics = &metrics});
  hub.SetConfig(hub_config(version(10, true)));
  std::string epoch;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<StreamPosition> position = hub.PublishAndWait("news:1", "{}");
    ASSERT_TRUE(position.ok()) << position.status();
    epoch = position->epoch;
  }
  ASSERT_EQ(hub.HistoryAndWait("news:1", std::nullopt, -1, false)->publications.size(), 5u);

  // Smaller history: trimmed by the next pass.
  hub.SetConfig(hub_config(version(2, true)));
  hub.Maintain(absl::Now());
  absl::StatusOr<HistoryRead> trimmed = hub.HistoryAndWait("news:1", std::nullopt, -1, false);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  ASSERT_EQ(trimmed->publications.size(), 2u);
  EXPECT_EQ(trimmed->publications[1]->offset(), 5u);

  // The namespace vanished: refused at once, history dropped by the pass.
  hub.SetConfig(hub_config(version(0, false)));
  EXPECT_EQ(hub.HistoryAndWait("news:1", std::nullopt, -1, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hub.PublishAndWait("news:1", "{}").status().code(), absl::StatusCode::kInvalidArgument);
  hub.Maintain(absl::Now());

  // Back within the idempotency window: same epoch, the next offset, nothing kept.
  hub.SetConfig(hub_config(version(10, true)));
  absl::StatusOr<HistoryRead> empty = hub.HistoryAndWait("news:1", std::nullopt, -1, false);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->publications.empty());
  absl::StatusOr<StreamPosition> next = hub.PublishAndWait("news:1", "{}");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->epoch, epoch);
  EXPECT_EQ(next->offset, 6u);
  EXPECT_THAT(registry.Render(),
              ::testing::HasSubstr("wirehub_control_publications_total{namespace=\"news\"} 6"));
  EXPECT_THAT(registry.Render(),
              ::testing::HasSubstr("wirehub_control_publication_refusals_total{namespace=\"\","
                                   "reason=\"unknown_namespace\"} 1"));
}

TEST(EdgeHubTest, CloseEdgesEndsStreamsAndTurnsLaterEdgesAway) {
  EdgeHub hub;
  EdgeLinkServiceImpl service(&hub, EdgeLinkServiceOptions{});
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  hub.Start();
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  edge::v1::Hello hello;
  hello.set_edge_id("edge-1");
  testing::FakeEdge first(channel, hello);
  edge::v1::InterestChange interest;
  interest.set_seq(1);
  ASSERT_TRUE(first.SendInterest(interest));
  EXPECT_EQ(hub.CloseEdges(grpc::Status(grpc::StatusCode::UNAVAILABLE, "control is draining")), 1u);
  grpc::Status status;
  ASSERT_TRUE(first.WaitForEnd(&status));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  hello.set_edge_id("edge-2");
  testing::FakeEdge later(channel, hello);
  ASSERT_TRUE(later.WaitForEnd(&status));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(hub.Counts().edges, 0u);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  hub.Stop();
}

}  // namespace
}  // namespace wirehub::control
