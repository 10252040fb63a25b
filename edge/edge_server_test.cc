#include "edge/edge_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/jwt.h"
#include "common/metrics.h"
#include "edge/edge_metrics.h"
#include "edge/testing/fake_control_api.h"
#include "edge/testing/fake_transport.h"
#include "wirehub/client/v1/client.pb.h"

namespace wirehub::edge {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::FakeControlApi;
using testing::FakeTransport;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kSecret[] = "edge-server-test-secret";

config::v1::Config TestConfig() {
  config::v1::Config config;
  config.mutable_defaults()->set_allow_subscribe_for_client(true);
  config::v1::Namespace* chat = config.add_namespaces();
  chat->set_name("chat");
  config::v1::NamespaceOptions* options = chat->mutable_options();
  options->set_allow_subscribe_for_client(true);
  options->set_history_size(100);
  options->mutable_history_ttl()->set_seconds(300);
  options->set_allow_recovery(true);
  options->set_allow_history_for_subscriber(true);
  options->set_presence(true);
  options->set_allow_presence_for_subscriber(true);
  return config;
}

std::string Token(const std::string& user) {
  TokenSpec spec;
  spec.subject = user;
  spec.issued_at = absl::Now() - absl::Minutes(1);
  spec.expires_at = absl::Now() + absl::Hours(1);
  return MintToken(kSecret, spec);
}

control::v1::HistoryResponse Position(const std::string& epoch, uint64_t top) {
  control::v1::HistoryResponse response;
  response.set_epoch(epoch);
  response.set_offset(top);
  return response;
}

class EdgeServerTest : public ::testing::Test {
 protected:
  EdgeServerTest() {
    options_.namespaces = NamespaceRegistry(TestConfig());
    options_.edge_id = "edge-test";
    options_.max_calls_per_connection = 4;
    options_.recovery_max_publications = 50;
    options_.metrics = &metrics_;
  }

  void Start() {
    server_ =
        std::make_unique<EdgeServer>(options_, TokenKeySet::FromHmacSecret(kSecret), &transport_);
    transport_.set_handler(server_.get());
    server_->SetControlLink(&control_);
    server_->Start();
  }

  void TearDown() override {
    // Every call comes back before the server goes, as ControlLink::Stop()
    // guarantees.
    while (!control_.history.empty()) {
      FakeControlApi::AnswerOldest(control_.history, absl::StatusOr<control::v1::HistoryResponse>(
                                                         absl::UnavailableError("test over")));
    }
    transport_.RunPosted();
  }

  // A connected client; its connect reply is consumed.
  uint64_t Connect(const std::string& user = "alice") {
    uint64_t id = transport_.Open();
    transport_.Receive(id, absl::StrCat(R"({"id":1,"connect":{"token":")", Token(user), R"("}})"));
    std::vector<std::string> sent = transport_.Take(id);
    EXPECT_THAT(sent, ElementsAre(HasSubstr(R"("connect":{"client":)")));
    return id;
  }

  // Control acknowledges every interest change so far.
  void Ack() {
    edge::v1::ControlMessage message;
    message.set_interest_ack(control_.seq);
    server_->OnControlMessage(message);
  }

  void Publish(const std::string& key, uint64_t offset, const std::string& epoch = "E") {
    edge::v1::ControlMessage message;
    edge::v1::Publication* publication = message.add_publications();
    publication->set_channel(key);
    publication->set_data(absl::StrCat(R"({"n":)", offset, "}"));
    publication->set_offset(offset);
    publication->set_epoch(epoch);
    server_->OnControlMessage(message);
  }

  void AnswerHistory(absl::StatusOr<control::v1::HistoryResponse> answer) {
    ASSERT_FALSE(control_.history.empty());
    FakeControlApi::AnswerOldest(control_.history, std::move(answer));
    transport_.RunPosted();
  }

  // A subscriber of chat:room positioned at epoch E, offset `top`.
  uint64_t PositionedSubscriber(uint64_t top) {
    uint64_t id = Connect();
    transport_.Receive(id, R"({"id":2,"subscribe":{"channel":"chat:room"}})");
    Ack();
    AnswerHistory(Position("E", top));
    EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("id":2,"subscribe")")));
    return id;
  }

  metrics::Registry registry_;
  EdgeMetrics metrics_{&registry_};
  EdgeServerOptions options_;
  FakeTransport transport_;
  FakeControlApi control_;
  std::unique_ptr<EdgeServer> server_;
};

TEST_F(EdgeServerTest, ConnectsWithAValidTokenAndTellsControlTheUser) {
  Start();
  Connect("bob");
  EXPECT_THAT(control_.users, ElementsAre("bob"));
}

TEST_F(EdgeServerTest, RefusedTokensCloseOrAnswer109) {
  Start();
  uint64_t bad = transport_.Open();
  transport_.Receive(bad, R"({"id":1,"connect":{"token":"not-a-jwt"}})");
  EXPECT_EQ(transport_.peer(bad).close_code, kCloseInvalidToken);

  TokenSpec spec;
  spec.subject = "alice";
  spec.issued_at = absl::Now() - absl::Hours(2);
  spec.expires_at = absl::Now() - absl::Hours(1);
  uint64_t expired = transport_.Open();
  transport_.Receive(
      expired, absl::StrCat(R"({"id":1,"connect":{"token":")", MintToken(kSecret, spec), R"("}})"));
  EXPECT_THAT(transport_.Take(expired), ElementsAre(HasSubstr(R"("code":109)")));
  EXPECT_EQ(transport_.peer(expired).close_code, 0);

  uint64_t early = transport_.Open();
  transport_.Receive(early, R"({"id":1,"subscribe":{"channel":"news"}})");
  EXPECT_EQ(transport_.peer(early).close_code, kCloseBadRequest);

  std::string text = registry_.Render();
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_connection_refusals_total{reason="token"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_commands_total{method="connect",result="error"} 2)"));
  EXPECT_THAT(text,
              HasSubstr(R"(wirehub_edge_commands_total{method="subscribe",result="error"} 1)"));
  EXPECT_THAT(text, HasSubstr("wirehub_edge_connects_total 0"));
}

TEST_F(EdgeServerTest, SubscribeWithoutHistoryWaitsForTheInterestAck) {
  Start();
  uint64_t id = Connect();
  transport_.Receive(id, R"({"id":2,"subscribe":{"channel":"news"}})");
  EXPECT_THAT(control_.channels, ElementsAre("news"));
  EXPECT_THAT(transport_.Take(id), IsEmpty());
  Ack();
  EXPECT_THAT(transport_.Take(id), ElementsAre(R"({"id":2,"subscribe":{}})"));
  Publish("news", 0);
  EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("channel":"news")")));
  EXPECT_TRUE(control_.history.empty()) << "no history read for a channel without history";

  std::string text = registry_.Render();
  EXPECT_THAT(text, HasSubstr("wirehub_edge_connects_total 1"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_commands_total{method="subscribe",result="ok"} 1)"));
  EXPECT_THAT(text, HasSubstr("wirehub_edge_subscriptions 1"));
  EXPECT_THAT(text, HasSubstr("wirehub_edge_channels 1"));
  EXPECT_THAT(text, HasSubstr("wirehub_edge_deliveries_total 1"));
  transport_.Receive(id, R"({"id":3,"unsubscribe":{"channel":"news"}})");
  text = registry_.Render();
  EXPECT_THAT(text, HasSubstr("wirehub_edge_subscriptions 0"));
  EXPECT_THAT(text, HasSubstr("wirehub_edge_channels 0"));
}

TEST_F(EdgeServerTest, PlainSubscribeLearnsThePositionWithoutReadingHistory) {
  Start();
  uint64_t id = Connect();
  transport_.Receive(id, R"({"id":2,"subscribe":{"channel":"chat:room"}})");
  Ack();
  ASSERT_THAT(control_.history, SizeIs(1));
  EXPECT_EQ(control_.history.front().request.limit(), 0);
  EXPECT_FALSE(control_.history.front().request.has_since());
  // A publication arriving meanwhile is held and follows the reply.
  Publish("chat:room", 43);
  EXPECT_THAT(transport_.Take(id), IsEmpty());
  AnswerHistory(Position("E", 42));
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(AllOf(HasSubstr(R"("id":2,"subscribe")"), HasSubstr(R"("epoch":"E")"),
                                HasSubstr(R"("offset":42)"), Not(HasSubstr("recovered")),
                                Not(HasSubstr("publications"))),
                          HasSubstr(R"("offset":43)")));
  EXPECT_THAT(control_.presence["chat:room"], SizeIs(1));
}

TEST_F(EdgeServerTest, RecoveryReadsOnlyWhatTheClientMissedInPages) {
  Start();
  uint64_t id = Connect();
  transport_.Receive(
      id, R"({"id":2,"subscribe":{"channel":"chat:room","recover":true,"epoch":"E","offset":40}})");
  Ack();
  AnswerHistory(Position("E", 43));
  ASSERT_THAT(control_.history, SizeIs(1));
  const control::v1::HistoryRequest& page = control_.history.front().request;
  EXPECT_EQ(page.since().offset(), 40u);
  EXPECT_EQ(page.since().epoch(), "E");
  EXPECT_EQ(page.limit(), 3);
  EXPECT_GT(page.max_bytes(), 0u);
  control::v1::HistoryResponse first = Position("E", 43);
  for (uint64_t offset : {41, 42}) {
    control::v1::HistoryPublication* publication = first.add_publications();
    publication->set_offset(offset);
    publication->set_data(absl::StrCat(R"({"n":)", offset, "}"));
  }
  first.set_more(true);
  AnswerHistory(first);
  ASSERT_THAT(control_.history, SizeIs(1));
  EXPECT_EQ(control_.history.front().request.since().offset(), 42u);
  control::v1::HistoryResponse second = Position("E", 43);
  control::v1::HistoryPublication* last = second.add_publications();
  last->set_offset(43);
  last->set_data(R"({"n":43})");
  AnswerHistory(second);
  std::vector<std::string> sent = transport_.Take(id);
  ASSERT_THAT(sent, SizeIs(1));
  EXPECT_THAT(sent[0], AllOf(HasSubstr(R"("recovered":true)"), HasSubstr(R"({"n":41})"),
                             HasSubstr(R"({"n":42})"), HasSubstr(R"({"n":43})")));
}

TEST_F(EdgeServerTest, RecoveryBeyondTheCapAnswersNotRecovered) {
  Start();
  uint64_t id = Connect();
  transport_.Receive(
      id, R"({"id":2,"subscribe":{"channel":"chat:room","recover":true,"epoch":"E","offset":1}})");
  Ack();
  AnswerHistory(Position("E", 1000));  // 999 missed, cap 50.
  EXPECT_TRUE(control_.history.empty());
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(AllOf(HasSubstr(R"("was_recovering":true)"),
                                Not(HasSubstr(R"("recovered":true)")), Not(HasSubstr("error")))));
}

TEST_F(EdgeServerTest, GapIsRepairedFromHistoryBeforeAnythingNewer) {
  Start();
  uint64_t id = PositionedSubscriber(10);
  Publish("chat:room", 11);
  Publish("chat:room", 14);  // 12 and 13 went missing.
  Publish("chat:room", 15);
  ASSERT_THAT(control_.history, SizeIs(1));
  EXPECT_EQ(control_.history.front().request.since().offset(), 11u);
  control::v1::HistoryResponse page = Position("E", 15);
  for (uint64_t offset : {12, 13, 14}) {
    control::v1::HistoryPublication* publication = page.add_publications();
    publication->set_offset(offset);
    publication->set_data(absl::StrCat(R"({"n":)", offset, "}"));
  }
  AnswerHistory(page);
  std::vector<std::string> sent = transport_.Take(id);
  ASSERT_THAT(sent, SizeIs(5));
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_THAT(sent[i], HasSubstr(absl::StrCat(R"("offset":)", 11 + i)));
  }
  EXPECT_EQ(metrics_.gap_repairs.value(), 1u);
  EXPECT_EQ(metrics_.gap_repair_publications.count(), 1u);
  EXPECT_EQ(metrics_.gap_repair_publications.sum(), 3);  // 12, 13 and 14 from history.
  EXPECT_EQ(metrics_.deliveries.value(), 5u);
}

TEST_F(EdgeServerTest, UnrepairableGapUnsubscribesWith2500) {
  Start();
  uint64_t id = PositionedSubscriber(10);
  Publish("chat:room", 20);
  AnswerHistory(absl::FailedPreconditionError("unrecoverable position"));
  EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("code":2500)")));
  EXPECT_THAT(control_.channels, IsEmpty());
}

TEST_F(EdgeServerTest, AnotherEpochLiveUnsubscribesWith2500) {
  Start();
  uint64_t id = PositionedSubscriber(10);
  Publish("chat:room", 1, "F");
  EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("code":2500)")));
}

TEST_F(EdgeServerTest, SubscribeOvertakenByItsUnsubscribeIsAnsweredFirst) {
  Start();
  uint64_t id = Connect();
  transport_.Receive(id,
                     "{\"id\":2,\"subscribe\":{\"channel\":\"chat:room\"}}\n"
                     "{\"id\":3,\"unsubscribe\":{\"channel\":\"chat:room\"}}\n"
                     "{\"id\":4,\"ping\":{}}");
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(R"({"id":2,"subscribe":{}})", R"({"id":3,"unsubscribe":{}})",
                          R"({"id":4,"ping":{}})"));
  // Also once control acknowledged and the position answer came back late.
  transport_.Receive(id, R"({"id":5,"subscribe":{"channel":"chat:room"}})");
  Ack();
  transport_.Receive(id, R"({"id":6,"unsubscribe":{"channel":"chat:room"}})");
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(R"({"id":5,"subscribe":{}})", R"({"id":6,"unsubscribe":{}})"));
  AnswerHistory(Position("E", 1));
  EXPECT_THAT(transport_.Take(id), IsEmpty());
  EXPECT_THAT(control_.channels, IsEmpty());
}

TEST_F(EdgeServerTest, RepliesKeepCommandOrderBehindSlowCalls) {
  Start();
  uint64_t id = PositionedSubscriber(1);
  transport_.Receive(id,
                     "{\"id\":3,\"presence_stats\":{\"channel\":\"chat:room\"}}\n"
                     "{\"id\":4,\"ping\":{}}");
  Publish("chat:room", 2);
  EXPECT_THAT(transport_.Take(id), IsEmpty());
  control::v1::PresenceStatsResponse stats;
  stats.set_num_clients(1);
  stats.set_num_users(1);
  FakeControlApi::AnswerOldest(control_.presence_stats_calls,
                               absl::StatusOr<control::v1::PresenceStatsResponse>(stats));
  transport_.RunPosted();
  EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("id":3,"presence_stats")"),
                                               HasSubstr(R"("id":4)"), HasSubstr(R"("offset":2)")));
}

TEST_F(EdgeServerTest, TheConnectThenEachPongIsAwaitedInTurn) {
  // One deadline per session serves both waits: the connect's, then each
  // ping's pong.
  options_.connect_timeout = absl::Milliseconds(50);
  options_.ping_interval = absl::Milliseconds(50);
  options_.pong_timeout = absl::Milliseconds(50);
  Start();
  uint64_t silent = transport_.Open();
  uint64_t id = Connect();
  absl::SleepFor(absl::Milliseconds(80));
  transport_.Tick();
  EXPECT_EQ(transport_.peer(silent).close_code, kCloseStale);
  EXPECT_EQ(transport_.peer(id).close_code, 0);
  EXPECT_THAT(transport_.Take(id), ElementsAre("{}"));
  transport_.Receive(id, "{}");
  absl::SleepFor(absl::Milliseconds(80));
  transport_.Tick();
  EXPECT_EQ(transport_.peer(id).close_code, 0);
  EXPECT_THAT(transport_.Take(id), ElementsAre("{}"));
  absl::SleepFor(absl::Milliseconds(80));
  transport_.Tick();
  EXPECT_EQ(transport_.peer(id).close_code, kCloseNoPong);
}

TEST_F(EdgeServerTest, ClientPublishesGoOneAtATimeWithinTheRate) {
  // The publish state is made by the first publish: its bucket starts full
  // (burst 2), and publications reach control one at a time, in order.
  config::v1::Config config = TestConfig();
  config.mutable_defaults()->set_allow_publish_for_client(true);
  options_.namespaces = NamespaceRegistry(config);
  options_.client_publish_burst = 2;
  options_.client_publish_rate = 0.001;
  Start();
  uint64_t id = Connect();
  transport_.Receive(id,
                     "{\"id\":10,\"publish\":{\"channel\":\"news\",\"data\":{\"n\":1}}}\n"
                     "{\"id\":11,\"publish\":{\"channel\":\"news\",\"data\":{\"n\":2}}}\n"
                     "{\"id\":12,\"publish\":{\"channel\":\"news\",\"data\":{\"n\":3}}}");
  ASSERT_THAT(control_.publishes, SizeIs(1));
  EXPECT_EQ(control_.publishes.front().request.data(), R"({"n":1})");
  // The refused third waits behind the two replies still to come.
  EXPECT_THAT(transport_.Take(id), IsEmpty());
  FakeControlApi::AnswerOldest(control_.publishes, absl::StatusOr<control::v1::PublishResponse>(
                                                       control::v1::PublishResponse()));
  transport_.RunPosted();
  ASSERT_THAT(control_.publishes, SizeIs(1));
  EXPECT_EQ(control_.publishes.front().request.data(), R"({"n":2})");
  FakeControlApi::AnswerOldest(control_.publishes, absl::StatusOr<control::v1::PublishResponse>(
                                                       control::v1::PublishResponse()));
  transport_.RunPosted();
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(HasSubstr(R"("id":10,"publish")"), HasSubstr(R"("id":11,"publish")"),
                          AllOf(HasSubstr(R"("id":12)"), HasSubstr(R"("code":111)"))));
  EXPECT_THAT(control_.publishes, IsEmpty());
}

TEST_F(EdgeServerTest, TokenChannelsAloneOpenAChannelClientsMayNotSubscribe) {
  config::v1::Config config = TestConfig();
  config::v1::Namespace* closed = config.add_namespaces();
  closed->set_name("private");
  closed->mutable_options()->set_allow_subscribe_for_client(false);
  options_.namespaces = NamespaceRegistry(config);
  Start();
  TokenSpec spec;
  spec.subject = "alice";
  spec.issued_at = absl::Now() - absl::Minutes(1);
  spec.expires_at = absl::Now() + absl::Hours(1);
  spec.channels = {"private:a"};
  uint64_t id = transport_.Open();
  transport_.Receive(
      id, absl::StrCat(R"({"id":1,"connect":{"token":")", MintToken(kSecret, spec), R"("}})"));
  Ack();
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(HasSubstr(R"("connect")"), HasSubstr(R"("channel":"private:a")")));
  transport_.Receive(id, R"({"id":2,"unsubscribe":{"channel":"private:a"}})");
  transport_.Receive(id, R"({"id":3,"subscribe":{"channel":"private:a"}})");
  transport_.Receive(id, R"({"id":4,"subscribe":{"channel":"private:b"}})");
  Ack();
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(HasSubstr(R"("id":2)"), HasSubstr(R"("id":3,"subscribe")"),
                          AllOf(HasSubstr(R"("id":4)"), HasSubstr(R"("code":103)"))));
  // Another connection of the same user without the claim gets nothing.
  uint64_t other = Connect();
  transport_.Receive(other, R"({"id":2,"subscribe":{"channel":"private:a"}})");
  EXPECT_THAT(transport_.Take(other),
              ElementsAre(AllOf(HasSubstr(R"("id":2)"), HasSubstr(R"("code":103)"))));
}

TEST_F(EdgeServerTest, CallsPastTheConnectionBoundAnswer111) {
  Start();
  uint64_t id = PositionedSubscriber(1);
  std::string frame;
  for (int i = 0; i < 6; ++i) {
    absl::StrAppend(&frame, i ? "\n" : "", R"({"id":)", 10 + i,
                    R"(,"presence_stats":{"channel":"chat:room"}})");
  }
  transport_.Receive(id, frame);
  EXPECT_THAT(control_.presence_stats_calls, SizeIs(4));
  // The two refused ones wait behind the four in flight: order is kept.
  EXPECT_THAT(transport_.Take(id), IsEmpty());
  while (!control_.presence_stats_calls.empty()) {
    FakeControlApi::AnswerOldest(
        control_.presence_stats_calls,
        absl::StatusOr<control::v1::PresenceStatsResponse>(absl::UnavailableError("down")));
  }
  transport_.RunPosted();
  std::vector<std::string> sent = transport_.Take(id);
  ASSERT_THAT(sent, SizeIs(6));
  for (int i = 0; i < 4; ++i) EXPECT_THAT(sent[i], HasSubstr(R"("code":100)"));
  for (int i = 4; i < 6; ++i) EXPECT_THAT(sent[i], HasSubstr(R"("code":111)"));
  // Calls came back: the connection may start more.
  transport_.Receive(id, R"({"id":20,"presence_stats":{"channel":"chat:room"}})");
  EXPECT_THAT(control_.presence_stats_calls, SizeIs(1));
}

TEST_F(EdgeServerTest, CallsOfAClosedConnectionAreReleasedWhenTheyReturn) {
  options_.max_calls_per_edge = 2;
  Start();
  uint64_t first = Connect("a");
  transport_.Receive(first,
                     "{\"id\":2,\"subscribe\":{\"channel\":\"chat:a\"}}\n"
                     "{\"id\":3,\"subscribe\":{\"channel\":\"chat:b\"}}");
  Ack();
  ASSERT_THAT(control_.history, SizeIs(2));
  transport_.Drop(first);
  // Both position calls are still at control: the edge's bound holds.
  uint64_t second = Connect("b");
  transport_.Receive(second, R"({"id":2,"subscribe":{"channel":"chat:c"}})");
  EXPECT_THAT(transport_.Take(second), ElementsAre(HasSubstr(R"("code":111)")));
  AnswerHistory(Position("E", 0));
  AnswerHistory(Position("E", 0));
  transport_.Receive(second, R"({"id":3,"subscribe":{"channel":"chat:c"}})");
  Ack();
  AnswerHistory(Position("E", 0));
  EXPECT_THAT(transport_.Take(second), ElementsAre(HasSubstr(R"("id":3,"subscribe")")));
}

TEST_F(EdgeServerTest, UnsubscribeEndsDeliveryAndInterest) {
  Start();
  uint64_t id = PositionedSubscriber(1);
  transport_.Receive(id, R"({"id":3,"unsubscribe":{"channel":"chat:room"}})");
  EXPECT_THAT(transport_.Take(id), ElementsAre(R"({"id":3,"unsubscribe":{}})"));
  Publish("chat:room", 2);
  EXPECT_THAT(transport_.Take(id), IsEmpty());
  EXPECT_THAT(control_.channels, IsEmpty());
  EXPECT_THAT(control_.presence, IsEmpty());
}

TEST_F(EdgeServerTest, ServerDisconnectUsesTheRequestedCode) {
  Start();
  uint64_t id = Connect("carol");
  edge::v1::ControlMessage message;
  edge::v1::EdgeCommand* command = message.add_commands();
  command->set_id(7);
  command->mutable_disconnect()->set_user("carol");
  server_->OnControlMessage(message);
  EXPECT_EQ(transport_.peer(id).close_code, kCloseForceDisconnect);
  ASSERT_THAT(control_.results, SizeIs(1));
  EXPECT_EQ(control_.results[0].id(), 7u);
  EXPECT_EQ(control_.results[0].connections(), 1u);
}

TEST_F(EdgeServerTest, SlowClientIsClosedWith3008) {
  options_.client_queue_max_bytes = 1000;
  Start();
  uint64_t id = Connect();
  transport_.Receive(id, R"({"id":2,"subscribe":{"channel":"news"}})");
  Ack();
  transport_.Take(id);
  transport_.SetQueued(id, 1 << 20);
  Publish("news", 0);
  EXPECT_EQ(transport_.peer(id).close_code, kCloseSlow);
}

TEST_F(EdgeServerTest, OutputHeldBehindAReplyIsBoundedToo) {
  options_.client_queue_max_bytes = 2000;
  Start();
  uint64_t id = PositionedSubscriber(0);
  transport_.Receive(id, R"({"id":3,"presence_stats":{"channel":"chat:room"}})");
  for (uint64_t offset = 1; offset <= 200; ++offset) Publish("chat:room", offset);
  EXPECT_EQ(transport_.peer(id).close_code, kCloseSlow);
}

TEST_F(EdgeServerTest, BinaryFramesCloseWithBadRequest) {
  Start();
  uint64_t id = Connect();
  transport_.Receive(id, "\x01\x02", /*binary=*/true);
  EXPECT_EQ(transport_.peer(id).close_code, kCloseBadRequest);
}

namespace pbwire = ::wirehub::client::v1;

// `command` as the SDK frames it: its length as a varint, then its bytes.
std::string Delimited(const pbwire::Command& command) {
  std::string body = command.SerializeAsString();
  std::string out;
  for (uint64_t size = body.size();; size >>= 7) {
    if (size < 0x80) {
      out.push_back(static_cast<char>(size));
      break;
    }
    out.push_back(static_cast<char>((size & 0x7f) | 0x80));
  }
  return out + body;
}

// One sent frame holding exactly one length-delimited Reply.
pbwire::Reply DecodeReply(const std::string& frame) {
  pbwire::Reply reply;
  EXPECT_FALSE(frame.empty());
  if (frame.empty()) return reply;
  auto size = static_cast<uint8_t>(frame[0]);
  EXPECT_LT(size, 0x80) << "test replies are short";
  EXPECT_EQ(frame.size(), 1u + size);
  EXPECT_TRUE(reply.ParseFromString(frame.substr(1)));
  return reply;
}

class EdgeServerProtobufTest : public EdgeServerTest {
 protected:
  // A protobuf client, connected; its connect reply is consumed.
  uint64_t ConnectProtobuf(const std::string& user = "alice") {
    uint64_t id = transport_.Open(WireFormat::kProtobuf);
    pbwire::Command connect;
    connect.set_id(1);
    connect.mutable_connect()->set_token(Token(user));
    transport_.Receive(id, Delimited(connect), /*binary=*/true);
    std::vector<std::string> sent = transport_.Take(id);
    EXPECT_THAT(sent, SizeIs(1));
    if (sent.size() == 1) {
      pbwire::Reply reply = DecodeReply(sent[0]);
      EXPECT_EQ(reply.id(), 1u);
      EXPECT_TRUE(reply.has_connect());
      EXPECT_FALSE(reply.connect().client().empty());
    }
    return id;
  }

  void SubscribeProtobuf(uint64_t id, uint32_t command_id, const std::string& channel) {
    pbwire::Command subscribe;
    subscribe.set_id(command_id);
    subscribe.mutable_subscribe()->set_channel(channel);
    transport_.Receive(id, Delimited(subscribe), /*binary=*/true);
  }
};

TEST_F(EdgeServerProtobufTest, AnswersInBinaryAndClosesOnTextOrMalformedInput) {
  Start();
  uint64_t id = ConnectProtobuf();
  pbwire::Command ping;
  ping.set_id(2);
  ping.mutable_ping();
  pbwire::Command unknown;
  unknown.set_id(3);
  // Two commands in one message, answered in order.
  transport_.Receive(id, Delimited(ping) + Delimited(unknown), /*binary=*/true);
  std::vector<std::string> sent = transport_.Take(id);
  ASSERT_THAT(sent, SizeIs(2));
  pbwire::Reply pong = DecodeReply(sent[0]);
  EXPECT_EQ(pong.id(), 2u);
  EXPECT_TRUE(pong.has_ping());
  pbwire::Reply error = DecodeReply(sent[1]);
  EXPECT_EQ(error.id(), 3u);
  EXPECT_EQ(error.error().code(), 104u);
  EXPECT_EQ(transport_.peer(id).close_code, 0);

  transport_.Receive(id, R"({"id":4,"ping":{}})", /*binary=*/false);
  EXPECT_EQ(transport_.peer(id).close_code, kCloseBadRequest);

  uint64_t truncated = ConnectProtobuf("bob");
  transport_.Receive(truncated, std::string("\x05\x08", 2), /*binary=*/true);
  EXPECT_EQ(transport_.peer(truncated).close_code, kCloseBadRequest);
}

TEST_F(EdgeServerProtobufTest, PingsAreEmptyRepliesAndAnEmptyCommandIsThePong) {
  options_.ping_interval = absl::Milliseconds(50);
  options_.pong_timeout = absl::Milliseconds(50);
  Start();
  uint64_t id = ConnectProtobuf();
  const std::string empty(1, '\0');
  absl::SleepFor(absl::Milliseconds(80));
  transport_.Tick();
  EXPECT_THAT(transport_.Take(id), ElementsAre(empty));
  transport_.Receive(id, empty, /*binary=*/true);
  absl::SleepFor(absl::Milliseconds(80));
  transport_.Tick();
  EXPECT_EQ(transport_.peer(id).close_code, 0) << "the pong was taken";
  EXPECT_THAT(transport_.Take(id), ElementsAre(empty));
  absl::SleepFor(absl::Milliseconds(80));
  transport_.Tick();
  EXPECT_EQ(transport_.peer(id).close_code, kCloseNoPong);
}

TEST_F(EdgeServerProtobufTest, EachFormatIsEncodedOncePerPublicationAndSharedBySubscribers) {
  Start();
  uint64_t json_a = Connect("a");
  uint64_t json_b = Connect("b");
  uint64_t pb_a = ConnectProtobuf("c");
  uint64_t pb_b = ConnectProtobuf("d");
  for (uint64_t id : {json_a, json_b}) {
    transport_.Receive(id, R"({"id":2,"subscribe":{"channel":"news"}})");
  }
  for (uint64_t id : {pb_a, pb_b}) SubscribeProtobuf(id, 2, "news");
  Ack();
  for (uint64_t id : {json_a, json_b, pb_a, pb_b}) transport_.Take(id);
  for (uint64_t id : {json_a, json_b, pb_a, pb_b}) transport_.peer(id).frames.clear();

  Publish("news", 0);
  const FakeTransport::Peer& ja = transport_.peer(json_a);
  const FakeTransport::Peer& jb = transport_.peer(json_b);
  const FakeTransport::Peer& pa = transport_.peer(pb_a);
  const FakeTransport::Peer& pbp = transport_.peer(pb_b);
  ASSERT_THAT(ja.frames, SizeIs(1));
  ASSERT_THAT(jb.frames, SizeIs(1));
  ASSERT_THAT(pa.frames, SizeIs(1));
  ASSERT_THAT(pbp.frames, SizeIs(1));
  EXPECT_EQ(ja.frames[0].get(), jb.frames[0].get()) << "one JSON encoding";
  EXPECT_EQ(pa.frames[0].get(), pbp.frames[0].get()) << "one protobuf encoding";
  EXPECT_THAT(*ja.frames[0], HasSubstr(R"("pub":{"data":{"n":0})"));
  pbwire::Reply push = DecodeReply(*pa.frames[0]);
  EXPECT_EQ(push.push().channel(), "news");
  EXPECT_EQ(push.push().pub().data(), R"({"n":0})");
}

TEST_F(EdgeServerProtobufTest, RecoveredAndHeldPublicationsReachBothFormatsInOrder) {
  Start();
  uint64_t json = Connect("a");
  uint64_t pb = ConnectProtobuf("b");
  transport_.Receive(json, R"({"id":2,"subscribe":{"channel":"chat:room"}})");
  SubscribeProtobuf(pb, 2, "chat:room");
  Ack();
  // Held while both positions are read, then delivered after each reply.
  Publish("chat:room", 43);
  AnswerHistory(Position("E", 42));
  AnswerHistory(Position("E", 42));
  std::vector<std::string> json_sent = transport_.Take(json);
  ASSERT_THAT(json_sent, SizeIs(2));
  EXPECT_THAT(json_sent[1], HasSubstr(R"("offset":43)"));
  std::vector<std::string> pb_sent = transport_.Take(pb);
  ASSERT_THAT(pb_sent, SizeIs(2));
  pbwire::Reply subscribed = DecodeReply(pb_sent[0]);
  EXPECT_EQ(subscribed.id(), 2u);
  EXPECT_EQ(subscribed.subscribe().epoch(), "E");
  EXPECT_EQ(subscribed.subscribe().offset(), 42u);
  EXPECT_EQ(DecodeReply(pb_sent[1]).push().pub().offset(), 43u);
  // Live, then a hole repaired from history: the same order for both.
  Publish("chat:room", 44);
  Publish("chat:room", 46);
  ASSERT_FALSE(control_.history.empty());
  control::v1::HistoryResponse page = Position("E", 46);
  control::v1::HistoryPublication* missing = page.add_publications();
  missing->set_offset(45);
  missing->set_data(R"({"n":45})");
  AnswerHistory(page);
  std::vector<uint64_t> pb_offsets;
  for (const std::string& frame : transport_.Take(pb)) {
    pb_offsets.push_back(DecodeReply(frame).push().pub().offset());
  }
  EXPECT_THAT(pb_offsets, ElementsAre(44, 45, 46));
  EXPECT_THAT(transport_.Take(json),
              ElementsAre(HasSubstr(R"("offset":44)"), HasSubstr(R"("offset":45)"),
                          HasSubstr(R"("offset":46)")));
}

TEST_F(EdgeServerTest, StopClosesClientsWith3001ThenEndsTheLoop) {
  Start();
  uint64_t a = Connect("a");
  uint64_t b = Connect("b");
  server_->RequestStop();
  transport_.RunPosted();
  EXPECT_EQ(transport_.peer(a).close_code, kCloseShutdown);
  EXPECT_EQ(transport_.peer(b).close_code, kCloseShutdown);
  EXPECT_FALSE(transport_.stopped());
  transport_.Drop(a);
  transport_.Drop(b);
  EXPECT_TRUE(transport_.stopped());
  EXPECT_THAT(control_.users, IsEmpty());
}

TEST_F(EdgeServerTest, ReattachRepairsPositionedChannels) {
  Start();
  uint64_t id = PositionedSubscriber(5);
  server_->OnLinkState(true);
  ASSERT_THAT(control_.history, SizeIs(1));
  EXPECT_EQ(control_.history.front().request.since().offset(), 5u);
  control::v1::HistoryResponse page = Position("E", 6);
  control::v1::HistoryPublication* missed = page.add_publications();
  missed->set_offset(6);
  missed->set_data(R"({"n":6})");
  AnswerHistory(page);
  EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("offset":6)")));
}

TEST_F(EdgeServerTest, CommandsOverTheRateAnswer111ThenClose3013) {
  options_.command_rate = 0.001;  // No refill within the test.
  options_.command_burst = 3;
  Start();
  uint64_t id = Connect();  // The connect took one token.
  transport_.Receive(id, R"({"id":2,"ping":{}})");
  transport_.Receive(id, R"({"id":3,"ping":{}})");
  EXPECT_THAT(transport_.Take(id), SizeIs(2));
  // Out of tokens: refused, each with 111, and the connection stays...
  for (int i = 0; i < 3; ++i) {
    transport_.Receive(id, absl::StrCat(R"({"id":)", 10 + i, R"(,"ping":{}})"));
  }
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(HasSubstr(R"("code":111)"), HasSubstr(R"("code":111)"),
                          HasSubstr(R"("code":111)")));
  EXPECT_EQ(transport_.peer(id).close_code, 0);
  // ...until more than command_burst refusals in a row.
  transport_.Receive(id, R"({"id":20,"ping":{}})");
  EXPECT_EQ(transport_.peer(id).close_code, kCloseTooManyRequests);
}

TEST_F(EdgeServerTest, PongsAreNotCounted) {
  options_.command_rate = 0.001;
  options_.command_burst = 1;
  Start();
  uint64_t id = Connect();
  for (int i = 0; i < 10; ++i) transport_.Receive(id, "{}");
  EXPECT_EQ(transport_.peer(id).close_code, 0);
  EXPECT_THAT(transport_.Take(id), IsEmpty());
}

TEST_F(EdgeServerTest, ConnectionsPerUserAreBounded) {
  options_.max_connections_per_user = 2;
  Start();
  uint64_t first = Connect("alice");
  Connect("alice");
  uint64_t third = transport_.Open();
  transport_.Receive(third,
                     absl::StrCat(R"({"id":1,"connect":{"token":")", Token("alice"), R"("}})"));
  EXPECT_EQ(transport_.peer(third).close_code, kCloseConnectionLimit);
  // Another user is not affected, and a slot frees when alice leaves.
  Connect("bob");
  transport_.Drop(first);
  transport_.Drop(third);
  Connect("alice");
}

// A config reload (ApplyConfig): a subscription whose namespace vanished
// ends with unsubscribe push 2000, and a new subscribe there answers 102.
TEST_F(EdgeServerTest, ReloadEndsSubscriptionsOfAVanishedNamespace) {
  config::v1::Config with_gone = TestConfig();
  config::v1::Namespace* gone = with_gone.add_namespaces();
  gone->set_name("gone");
  gone->mutable_options()->set_allow_subscribe_for_client(true);
  options_.namespaces = NamespaceRegistry(with_gone);
  Start();
  uint64_t id = Connect();
  transport_.Receive(id, R"({"id":2,"subscribe":{"channel":"gone:1"}})");
  transport_.Receive(id, R"({"id":3,"subscribe":{"channel":"news"}})");
  Ack();
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(HasSubstr(R"("id":2,"subscribe")"), HasSubstr(R"("id":3,"subscribe")")));
  EdgeServerOptions reloaded;
  reloaded.namespaces = NamespaceRegistry(TestConfig());
  EXPECT_EQ(server_->ApplyConfig(reloaded), 1u);
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(AllOf(HasSubstr(R"("channel":"gone:1")"), HasSubstr(R"("code":2000)"))));
  EXPECT_THAT(control_.channels, ElementsAre("news"));
  transport_.Receive(id, R"({"id":4,"subscribe":{"channel":"gone:2"}})");
  EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("code":102)")));
  EXPECT_EQ(transport_.peer(id).close_code, 0);
}

// A binary_data namespace: public, with history and presence.
config::v1::Config WithBinaryNamespace() {
  config::v1::Config config = TestConfig();
  config::v1::Namespace* bin = config.add_namespaces();
  bin->set_name("bin");
  *bin->mutable_options() = config.namespaces(0).options();
  bin->mutable_options()->set_binary_data(true);
  return config;
}

constexpr char kBinaryRefusal[] =
    R"("message":"bad request: namespace \"bin\" carries binary data; it needs the )"
    R"(centrifuge-protobuf subprotocol")";

TEST_F(EdgeServerTest, JsonConnectionsMayNotSubscribeToABinaryNamespace) {
  options_.namespaces = NamespaceRegistry(WithBinaryNamespace());
  Start();
  uint64_t id = Connect();
  transport_.Receive(id, R"({"id":2,"subscribe":{"channel":"bin:1"}})");
  transport_.Receive(id, R"({"id":3,"history":{"channel":"bin:1","limit":1}})");
  transport_.Receive(id, R"({"id":4,"presence":{"channel":"bin:1"}})");
  transport_.Receive(id, R"({"id":5,"presence_stats":{"channel":"bin:1"}})");
  EXPECT_THAT(
      transport_.Take(id),
      ElementsAre(AllOf(HasSubstr(R"({"id":2,"error":{"code":107,)"), HasSubstr(kBinaryRefusal),
                        Not(HasSubstr("temporary"))),
                  AllOf(HasSubstr(R"("id":3,"error":{"code":107)"), HasSubstr(kBinaryRefusal)),
                  AllOf(HasSubstr(R"("id":4,"error":{"code":107)"), HasSubstr(kBinaryRefusal)),
                  AllOf(HasSubstr(R"("id":5,"error":{"code":107)"), HasSubstr(kBinaryRefusal))));
  EXPECT_THAT(control_.channels, IsEmpty());
  EXPECT_TRUE(control_.history.empty());
  EXPECT_EQ(transport_.peer(id).close_code, 0);
  // JSON namespaces are unchanged.
  transport_.Receive(id, R"({"id":6,"subscribe":{"channel":"news"}})");
  Ack();
  EXPECT_THAT(transport_.Take(id), ElementsAre(R"({"id":6,"subscribe":{}})"));
  std::string text = registry_.Render();
  EXPECT_THAT(text,
              HasSubstr(R"(wirehub_edge_commands_total{method="subscribe",result="error"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_commands_total{method="history",result="error"} 1)"));
}

TEST_F(EdgeServerTest, ServerSideSubscriptionsSkipABinaryNamespace) {
  options_.namespaces = NamespaceRegistry(WithBinaryNamespace());
  Start();
  TokenSpec spec;
  spec.subject = "alice";
  spec.issued_at = absl::Now() - absl::Minutes(1);
  spec.expires_at = absl::Now() + absl::Hours(1);
  spec.channels = {"bin:1", "news"};
  uint64_t id = transport_.Open();
  transport_.Receive(
      id, absl::StrCat(R"({"id":1,"connect":{"token":")", MintToken(kSecret, spec), R"("}})"));
  Ack();
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(HasSubstr(R"("connect")"), HasSubstr(R"("channel":"news")")));
  EXPECT_THAT(control_.channels, ElementsAre("news"));

  edge::v1::ControlMessage message;
  edge::v1::EdgeCommand* command = message.add_commands();
  command->set_id(7);
  command->mutable_subscribe()->set_user("alice");
  command->mutable_subscribe()->set_channel("bin:2");
  server_->OnControlMessage(message);
  ASSERT_THAT(control_.results, SizeIs(1));
  EXPECT_EQ(control_.results[0].connections(), 0u);
  EXPECT_EQ(control_.results[0].error_code(), 0);
  EXPECT_THAT(transport_.Take(id), IsEmpty());
  EXPECT_THAT(control_.channels, ElementsAre("news"));
}

TEST_F(EdgeServerTest, ReloadEndsJsonSubscriptionsOfANamespaceTurnedBinary) {
  Start();
  uint64_t id = PositionedSubscriber(5);
  config::v1::Config changed = TestConfig();
  changed.mutable_namespaces(0)->mutable_options()->set_binary_data(true);
  EdgeServerOptions reloaded;
  reloaded.namespaces = NamespaceRegistry(changed);
  EXPECT_EQ(server_->ApplyConfig(reloaded), 1u);
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(AllOf(HasSubstr(R"("channel":"chat:room")"), HasSubstr(R"("code":2000)"),
                                HasSubstr("namespace carries binary data"))));
  transport_.Receive(id, R"({"id":3,"subscribe":{"channel":"chat:room"}})");
  EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("code":107)")));
}

// A subscription whose namespace changed keeps the options it was made
// under: chat:room keeps its history positions after chat lost its history.
TEST_F(EdgeServerTest, ReloadKeepsTheOptionsALiveChannelWasMadeUnder) {
  Start();
  uint64_t id = PositionedSubscriber(5);
  config::v1::Config changed = TestConfig();
  config::v1::NamespaceOptions* chat = changed.mutable_namespaces(0)->mutable_options();
  chat->set_history_size(0);
  chat->set_allow_recovery(false);
  chat->set_presence(false);
  EdgeServerOptions reloaded;
  reloaded.namespaces = NamespaceRegistry(changed);
  EXPECT_EQ(server_->ApplyConfig(reloaded), 0u);
  Publish("chat:room", 6);
  EXPECT_THAT(transport_.Take(id),
              ElementsAre(AllOf(HasSubstr(R"("n":6)"), HasSubstr(R"("offset":6)"))));
  // New commands follow the new options: no history to read any more.
  transport_.Receive(id, R"({"id":7,"history":{"channel":"chat:room","limit":1}})");
  EXPECT_THAT(transport_.Take(id), ElementsAre(HasSubstr(R"("code":108)")));
}

TEST_F(EdgeServerTest, ReloadAppliesNewLimitsToNewConnects) {
  Start();
  Connect("alice");
  EdgeServerOptions reloaded = options_;
  reloaded.max_connections_per_user = 1;
  server_->ApplyConfig(reloaded);
  uint64_t second = transport_.Open();
  transport_.Receive(second,
                     absl::StrCat(R"({"id":1,"connect":{"token":")", Token("alice"), R"("}})"));
  EXPECT_EQ(transport_.peer(second).close_code, kCloseConnectionLimit);
}

// A drain with a delay stops nothing until the delay passed; a second stop
// request cuts it short.
TEST_F(EdgeServerTest, DrainWaitsForItsDelayUnlessCutShort) {
  int stopped_accepting = 0;
  options_.drain_delay = absl::Hours(1);
  options_.drain_duration = absl::Hours(1);
  options_.stop_accepting = [&stopped_accepting] { ++stopped_accepting; };
  Start();
  uint64_t a = Connect("a");
  server_->RequestStop();
  transport_.RunPosted();
  transport_.Tick();
  EXPECT_EQ(stopped_accepting, 0);
  EXPECT_EQ(transport_.peer(a).close_code, 0);
  // Still accepting during the delay.
  uint64_t b = Connect("b");
  server_->RequestStopNow();
  transport_.RunPosted();
  EXPECT_EQ(stopped_accepting, 1);
  EXPECT_EQ(transport_.peer(a).close_code, kCloseShutdown);
  EXPECT_EQ(transport_.peer(b).close_code, kCloseShutdown);
  // A handshake that was under way is closed as it opens.
  uint64_t late = transport_.Open();
  EXPECT_EQ(transport_.peer(late).close_code, kCloseShutdown);
  transport_.Drop(a);
  transport_.Drop(b);
  EXPECT_FALSE(transport_.stopped());
  transport_.Drop(late);
  EXPECT_TRUE(transport_.stopped());
}

TEST_F(EdgeServerTest, DrainClosesInWavesAfterTheDelay) {
  int stopped_accepting = 0;
  options_.drain_duration = absl::Hours(1);
  options_.stop_accepting = [&stopped_accepting] { ++stopped_accepting; };
  Start();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Connect(absl::StrCat("user", i)));
  server_->RequestStop();
  transport_.RunPosted();
  // No delay: accepting stopped at once, but an hour-long drain closes
  // nobody in its first moments.
  EXPECT_EQ(stopped_accepting, 1);
  transport_.Tick();
  for (uint64_t id : ids) EXPECT_EQ(transport_.peer(id).close_code, 0);
  EXPECT_FALSE(transport_.stopped());
}

}  // namespace
}  // namespace wirehub::edge
