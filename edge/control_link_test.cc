#include "edge/control_link.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/namespace_registry.h"
#include "control/control_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/config/v1/config.pb.h"
#include "wirehub/control/v1/control.grpc.pb.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::edge {
namespace {

using ::testing::HasSubstr;

// Enough that the whole interest in one message (about 4 MB) is far over
// control's receive limit (1,179,648 bytes with default flags).
constexpr int kChannels = 50000;
constexpr absl::Duration kWait = absl::Seconds(10);

// "room" has presence (no join/leave, so 50k entries cause no events),
// "chat" has history, "plain" neither.
config::v1::Config TestConfig() {
  config::v1::Config config;
  config::v1::Namespace* room = config.add_namespaces();
  room->set_name("room");
  room->mutable_options()->set_presence(true);
  config::v1::Namespace* chat = config.add_namespaces();
  chat->set_name("chat");
  chat->mutable_options()->set_history_size(10);
  chat->mutable_options()->mutable_history_ttl()->set_seconds(60);
  config.add_namespaces()->set_name("plain");
  return config;
}

std::string RoomKey(int i) { return absl::StrCat("room:", 100000 + i); }
std::string UserKey(int i) { return absl::StrCat("user-", 100000 + i); }

control::v1::ClientInfo ClientFor(int i) {
  control::v1::ClientInfo info;
  info.set_client(absl::StrCat("5f0c8a52-3b1e-4d6a-9c1f-", 100000000000 + i));
  info.set_user(UserKey(i));
  return info;
}

// Thread-safe. What the link reported through its callbacks.
class LinkEvents {
 public:
  // `probe` runs inside each on_state(true), on the link's reader thread;
  // its results are kept (probed_at_attach()).
  explicit LinkEvents(std::function<uint64_t()> probe) : probe_(std::move(probe)) {}

  void OnMessage(v1::ControlMessage&& message) {
    absl::MutexLock lock(&mu_);
    max_ack_ = std::max(max_ack_, message.interest_ack());
    for (const v1::Publication& publication : message.publications()) {
      publication_channels_.push_back(publication.channel());
    }
  }

  void OnState(bool attached) {
    const uint64_t probed = attached ? probe_() : 0;
    absl::MutexLock lock(&mu_);
    states_.push_back(attached);
    if (!attached) return;
    probed_at_attach_.push_back(probed);
    ack_at_attach_.push_back(max_ack_);
  }

  bool WaitForAck(uint64_t seq) {
    absl::MutexLock lock(&mu_);
    auto acked = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return max_ack_ >= seq; };
    return mu_.AwaitWithTimeout(absl::Condition(&acked), kWait);
  }

  bool WaitForStates(size_t count) {
    absl::MutexLock lock(&mu_);
    auto reported = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return states_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&reported), kWait);
  }

  bool WaitForPublication(const std::string& channel) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find(publication_channels_.begin(), publication_channels_.end(), channel) !=
             publication_channels_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&arrived), kWait);
  }

  std::vector<bool> states() const {
    absl::MutexLock lock(&mu_);
    return states_;
  }
  // The highest interest_ack on_message had seen at each on_state(true).
  std::vector<uint64_t> ack_at_attach() const {
    absl::MutexLock lock(&mu_);
    return ack_at_attach_;
  }
  // What `probe` returned at each on_state(true).
  std::vector<uint64_t> probed_at_attach() const {
    absl::MutexLock lock(&mu_);
    return probed_at_attach_;
  }
  std::vector<std::string> publication_channels() const {
    absl::MutexLock lock(&mu_);
    return publication_channels_;
  }

 private:
  const std::function<uint64_t()> probe_;
  mutable absl::Mutex mu_;
  uint64_t max_ack_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<bool> states_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> probed_at_attach_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> ack_at_attach_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> publication_channels_ ABSL_GUARDED_BY(mu_);
};

// A real control in process, restartable on the same ports, and a link to
// its edge link listener.
class ControlLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(StartControl(0, 0));
    channel_ = grpc::CreateChannel(api_address_, grpc::InsecureChannelCredentials());
    stub_ = control::v1::ControlService::NewStub(channel_);
  }

  void TearDown() override {
    link_.reset();
    StopControl();
  }

  LinkEvents& events() { return *events_; }

  // Ports 0 pick free ones; a restart passes the previous ones.
  bool StartControl(int api_port, int edge_port) {
    control::ControlServerOptions options;
    options.grpc_listen = absl::StrCat("127.0.0.1:", api_port);
    options.edge_listen = absl::StrCat("127.0.0.1:", edge_port);
    options.namespaces = NamespaceRegistry(TestConfig());
    auto server = std::make_unique<control::ControlServer>(std::move(options));
    absl::StatusOr<int> bound = server->Start();
    EXPECT_TRUE(bound.ok()) << bound.status().message();
    if (!bound.ok()) return false;
    api_port_ = *bound;
    api_address_ = absl::StrCat("127.0.0.1:", api_port_);
    edge_port_ = server->edge_link_port();
    edge_address_ = absl::StrCat("127.0.0.1:", edge_port_);
    absl::MutexLock lock(&control_mu_);
    control_ = std::move(server);
    return true;
  }

  void StopControl() {
    std::unique_ptr<control::ControlServer> server;
    {
      absl::MutexLock lock(&control_mu_);
      server = std::move(control_);
    }
    if (server != nullptr) server->Shutdown(absl::Milliseconds(100));
  }

  // Presence entries the current control holds over the first `channels`
  // rooms (read from the hub directly: 50k RPCs would be slow).
  uint64_t PresenceHeld(int channels = kChannels) {
    absl::MutexLock lock(&control_mu_);
    if (control_ == nullptr) return 0;
    uint64_t held = 0;
    for (int i = 0; i < channels; ++i) {
      absl::StatusOr<control::PresenceTable::Counts> counts =
          control_->hub().PresenceStatsAndWait(RoomKey(i));
      if (counts.ok()) held += counts->clients;
    }
    return held;
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  control::v1::StatsResponse Stats() {
    control::v1::StatsResponse stats;
    control::v1::StatsRequest request;
    request.set_top_channels(5);
    grpc::Status status = stub_->Stats(Context().get(), request, &stats);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return stats;
  }

  // Creates the link (not started), reporting to events(); each
  // on_state(true) probes the presence control holds over the first
  // `probed_channels` rooms.
  ControlLink& MakeLink(size_t max_message_bytes = 256 << 10, int probed_channels = kChannels) {
    events_ = std::make_unique<LinkEvents>(
        [this, probed_channels] { return PresenceHeld(probed_channels); });
    LinkEvents* events = events_.get();
    ControlLinkOptions options;
    options.control_address = edge_address_;
    options.edge_id = "edge-1";
    options.version = "test";
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    options.max_message_bytes = max_message_bytes;
    link_ = std::make_unique<ControlLink>(
        std::move(options),
        [events](v1::ControlMessage&& message) { events->OnMessage(std::move(message)); },
        [events](bool attached) { events->OnState(attached); });
    return *link_;
  }

  // Gives the link `count` rooms, each with one presence entry and a user.
  // Returns the last interest sequence number handed out.
  static uint64_t AddRooms(ControlLink& link, int first, int count) {
    uint64_t seq = 0;
    for (int i = first; i < first + count; ++i) {
      seq = link.AddChannel(RoomKey(i));
      link.AddUser(UserKey(i));
      link.AddPresence(RoomKey(i), ClientFor(i));
    }
    return seq;
  }

  absl::Mutex control_mu_;
  std::unique_ptr<control::ControlServer> control_ ABSL_GUARDED_BY(control_mu_);
  // The public API (backends' calls) and the edge link (the link's).
  int api_port_ = 0;
  std::string api_address_;
  int edge_port_ = 0;
  std::string edge_address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<control::v1::ControlService::Stub> stub_;
  // The link reports to events_, so it goes first.
  std::unique_ptr<LinkEvents> events_;
  std::unique_ptr<ControlLink> link_;
};

TEST_F(ControlLinkTest, LargeInterestAttachesInPagesAndOnStateTrueFollowsIt) {
  ControlLink& link = MakeLink();
  const uint64_t last_seq = AddRooms(link, 0, kChannels);
  link.Start();

  ASSERT_TRUE(events().WaitForStates(1)) << "never attached";
  EXPECT_EQ(events().states(), std::vector<bool>{true});
  // Control already held everything when on_state(true) ran...
  EXPECT_EQ(events().probed_at_attach(), std::vector<uint64_t>{kChannels});
  // ...because on_message had seen the ack of the snapshot, whose sequence
  // number is past every one handed out before.
  ASSERT_EQ(events().ack_at_attach().size(), 1u);
  EXPECT_GT(events().ack_at_attach()[0], last_seq);

  control::v1::StatsResponse stats = Stats();
  ASSERT_EQ(stats.edges_size(), 1);
  EXPECT_EQ(stats.edges(0).id(), "edge-1");
  EXPECT_EQ(stats.unique_users(), static_cast<uint64_t>(kChannels));

  control::v1::PresenceRequest request;
  request.set_channel(RoomKey(kChannels - 1));
  control::v1::PresenceResponse presence;
  ASSERT_TRUE(stub_->Presence(Context().get(), request, &presence).ok());
  ASSERT_EQ(presence.clients_size(), 1);
  EXPECT_EQ(presence.clients(0).client(), ClientFor(kChannels - 1).client());
}

TEST_F(ControlLinkTest, ChangesMadeWhileTheSnapshotIsWrittenFollowIt) {
  ControlLink& link = MakeLink(/*max_message_bytes=*/64 << 10);
  AddRooms(link, 0, kChannels);
  link.Start();
  // Races the snapshot's pages: none of these may be lost or overtaken.
  const uint64_t added_seq = AddRooms(link, kChannels, 1000);
  uint64_t removed_seq = 0;
  for (int i = 0; i < 1000; ++i) {
    link.RemovePresence(RoomKey(i), ClientFor(i).client());
    removed_seq = link.RemoveChannel(RoomKey(i));
  }
  EXPECT_GT(removed_seq, added_seq);
  ASSERT_TRUE(events().WaitForAck(removed_seq)) << "changes after the snapshot never acknowledged";
  EXPECT_EQ(PresenceHeld(kChannels + 1000), static_cast<uint64_t>(kChannels));
  EXPECT_EQ(PresenceHeld(1000), 0u);
}

TEST_F(ControlLinkTest, ReattachesToRestartedControlWithTheWholeSnapshot) {
  ControlLink& link = MakeLink(256 << 10, /*probed_channels=*/kChannels + 100);
  AddRooms(link, 0, kChannels);
  link.Start();
  ASSERT_TRUE(events().WaitForStates(1)) << "never attached";

  StopControl();
  ASSERT_TRUE(events().WaitForStates(2)) << "the end of the stream was not reported";
  // Changes while detached are part of the next snapshot.
  for (int i = 0; i < 100; ++i) link.RemovePresence(RoomKey(i), ClientFor(i).client());
  AddRooms(link, kChannels, 100);
  ASSERT_TRUE(StartControl(api_port_, edge_port_));

  ASSERT_TRUE(events().WaitForStates(3)) << "never re-attached to the restarted control";
  EXPECT_EQ(events().states(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(events().probed_at_attach(), (std::vector<uint64_t>{kChannels, kChannels}));
}

TEST_F(ControlLinkTest, RemovingFiftyThousandEntriesAtOnceIsApplied) {
  ControlLink& link = MakeLink();
  AddRooms(link, 0, kChannels);
  link.AddChannel("room:sentinel");
  link.Start();
  ASSERT_TRUE(events().WaitForStates(1)) << "never attached";
  ASSERT_EQ(PresenceHeld(), static_cast<uint64_t>(kChannels));

  uint64_t last_seq = 0;
  for (int i = 0; i < kChannels; ++i) {
    link.RemovePresence(RoomKey(i), ClientFor(i).client());
    link.RemoveUser(UserKey(i));
    last_seq = link.RemoveChannel(RoomKey(i));
  }
  ASSERT_TRUE(events().WaitForAck(last_seq)) << "removal never acknowledged";
  EXPECT_EQ(PresenceHeld(), 0u);
  EXPECT_EQ(Stats().unique_users(), 0u);

  // Control queues an edge's publications in the order it sequences them:
  // had the interest in room 7 survived, its publication would arrive
  // before the sentinel's.
  for (const std::string& channel : {RoomKey(7), std::string("room:sentinel")}) {
    control::v1::PublishRequest request;
    request.set_channel(channel);
    request.set_data("{}");
    control::v1::PublishResponse response;
    ASSERT_TRUE(stub_->Publish(Context().get(), request, &response).ok());
  }
  ASSERT_TRUE(events().WaitForPublication("room:sentinel"));
  EXPECT_EQ(events().publication_channels(), std::vector<std::string>{"room:sentinel"});
}

TEST_F(ControlLinkTest, StatsOverTheBoundKeepTheBusiestChannels) {
  ControlLink& link = MakeLink();
  link.Start();
  v1::EdgeStats stats;
  stats.set_connections(7);
  for (int i = 0; i < kChannels; ++i) {
    v1::ChannelCount* count = stats.add_channels();
    count->set_channel(RoomKey(i));
    count->set_subscribers(i + 1);
  }
  ASSERT_GT(stats.ByteSizeLong(), 256u << 10);
  link.SendStats(std::move(stats));

  control::v1::StatsResponse seen;
  const absl::Time deadline = absl::Now() + kWait;
  do {
    seen = Stats();
    if (seen.edges_size() == 1 && seen.edges(0).connections() == 7) break;
    absl::SleepFor(absl::Milliseconds(10));
  } while (absl::Now() < deadline);
  ASSERT_EQ(seen.edges_size(), 1);
  ASSERT_EQ(seen.edges(0).connections(), 7u) << "stats never arrived";
  // The busiest channels that fit in 256 KiB (each count takes about 19
  // bytes), and only those.
  EXPECT_GT(seen.channels_with_subscribers(), 10000u);
  EXPECT_LT(seen.channels_with_subscribers(), 20000u);
  ASSERT_GT(seen.top_channels_size(), 0);
  EXPECT_EQ(seen.top_channels(0).channel(), RoomKey(kChannels - 1));
  EXPECT_EQ(seen.top_channels(0).subscribers(), static_cast<uint64_t>(kChannels));
}

TEST_F(ControlLinkTest, UnaryCallsCarryResponsesAndGrpcStatusAsAbslStatus) {
  // Unary calls do not need the stream.
  ControlLink& link = MakeLink();

  struct Results {
    absl::Mutex mu;
    std::optional<absl::StatusOr<control::v1::PublishResponse>> publish ABSL_GUARDED_BY(mu);
    std::vector<absl::StatusOr<control::v1::HistoryResponse>> history ABSL_GUARDED_BY(mu);
    std::optional<absl::StatusOr<control::v1::PresenceResponse>> presence ABSL_GUARDED_BY(mu);
    std::optional<absl::StatusOr<control::v1::PresenceStatsResponse>> stats ABSL_GUARDED_BY(mu);
  } results;
  // Every callback has run before `results` goes, even when an assertion
  // returns early.
  absl::Cleanup stop_link = [&link] { link.Stop(); };

  v1::ClientPublishRequest publish;
  publish.set_channel("chat:1");
  publish.set_data(R"({"n":1})");
  publish.mutable_info()->set_client("c1");
  link.Publish(publish, kWait, [&](absl::StatusOr<control::v1::PublishResponse> response) {
    absl::MutexLock lock(&results.mu);
    results.publish = std::move(response);
  });
  {
    absl::MutexLock lock(&results.mu);
    auto published = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(results.mu) {
      return results.publish.has_value();
    };
    ASSERT_TRUE(results.mu.AwaitWithTimeout(absl::Condition(&published), kWait));
    ASSERT_TRUE(results.publish->ok()) << results.publish->status();
    EXPECT_EQ((*results.publish)->offset(), 1u);
  }

  for (const char* channel : {"chat:1", "plain:1"}) {
    control::v1::HistoryRequest request;
    request.set_channel(channel);
    request.set_limit(-1);
    size_t want;
    {
      // Counted before the call: its answer may arrive before it returns.
      absl::MutexLock lock(&results.mu);
      want = results.history.size() + 1;
    }
    link.FetchHistory(request, kWait, [&](absl::StatusOr<control::v1::HistoryResponse> response) {
      absl::MutexLock lock(&results.mu);
      results.history.push_back(std::move(response));
    });
    absl::MutexLock lock(&results.mu);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(results.mu) {
      return results.history.size() >= want;
    };
    ASSERT_TRUE(results.mu.AwaitWithTimeout(absl::Condition(&arrived), kWait));
  }
  control::v1::PresenceRequest presence;
  presence.set_channel("chat:1");
  link.FetchPresence(presence, kWait, [&](absl::StatusOr<control::v1::PresenceResponse> response) {
    absl::MutexLock lock(&results.mu);
    results.presence = std::move(response);
  });
  control::v1::PresenceStatsRequest presence_stats;
  presence_stats.set_channel("bad channel");
  link.FetchPresenceStats(presence_stats, kWait,
                          [&](absl::StatusOr<control::v1::PresenceStatsResponse> response) {
                            absl::MutexLock lock(&results.mu);
                            results.stats = std::move(response);
                          });

  absl::MutexLock lock(&results.mu);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(results.mu) {
    return results.presence.has_value() && results.stats.has_value();
  };
  ASSERT_TRUE(results.mu.AwaitWithTimeout(absl::Condition(&done), kWait));

  ASSERT_EQ(results.history.size(), 2u);
  ASSERT_TRUE(results.history[0].ok()) << results.history[0].status();
  ASSERT_EQ(results.history[0]->publications_size(), 1);
  EXPECT_EQ(results.history[0]->publications(0).info().client(), "c1");
  EXPECT_EQ(results.history[1].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(results.history[1].status().message(),
            "history is not enabled for the namespace of channel plain:1");
  EXPECT_EQ(results.presence->status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(results.presence->status().message()),
              HasSubstr("presence is not enabled for namespace"));
  EXPECT_EQ(results.stats->status().code(), absl::StatusCode::kInvalidArgument);
}

// Starts a call through `start(callback)` and waits for its answer. The
// state is shared with the callback, so a late answer after a timeout
// touches nothing gone.
template <typename Response, typename StartFn>
absl::StatusOr<Response> CallAndWait(StartFn start) {
  struct State {
    absl::Mutex mu;
    std::optional<absl::StatusOr<Response>> result ABSL_GUARDED_BY(mu);
  };
  auto state = std::make_shared<State>();
  start([state](absl::StatusOr<Response> response) {
    absl::MutexLock lock(&state->mu);
    state->result = std::move(response);
  });
  absl::MutexLock lock(&state->mu);
  auto arrived = [&]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) { return state->result.has_value(); };
  if (!state->mu.AwaitWithTimeout(absl::Condition(&arrived), kWait)) {
    return absl::DeadlineExceededError("no answer from the link");
  }
  return *std::move(state->result);
}

TEST_F(ControlLinkTest, HistoryOverTheEdgeLinkPagesByMaxBytesWithinTheClientsTenant) {
  ControlLink& link = MakeLink();
  absl::Cleanup stop_link = [&link] { link.Stop(); };
  const std::string data = absl::StrCat(R"({"pad":")", std::string(100, 'x'), R"("})");
  for (int i = 0; i < 3; ++i) {
    v1::ClientPublishRequest publish;
    publish.set_channel("acme|chat:1");
    publish.set_data(data);
    publish.mutable_info()->set_client(absl::StrCat("c", i));
    absl::StatusOr<control::v1::PublishResponse> published =
        CallAndWait<control::v1::PublishResponse>(
            [&](auto done) { link.Publish(publish, kWait, std::move(done)); });
    ASSERT_TRUE(published.ok()) << published.status();
  }

  // One publication per page: max_bytes is below two of them.
  control::v1::HistoryRequest request;
  request.set_tenant("acme");
  request.set_channel("chat:1");
  request.set_limit(-1);
  request.set_max_bytes(static_cast<uint32_t>(data.size() + 50));
  std::vector<std::string> clients;
  std::string epoch;
  for (int page = 0; page < 3; ++page) {
    absl::StatusOr<control::v1::HistoryResponse> history =
        CallAndWait<control::v1::HistoryResponse>(
            [&](auto done) { link.FetchHistory(request, kWait, std::move(done)); });
    ASSERT_TRUE(history.ok()) << history.status();
    ASSERT_EQ(history->publications_size(), 1) << "page " << page;
    EXPECT_EQ(history->offset(), 3u);
    EXPECT_EQ(history->more(), page < 2) << "page " << page;
    clients.push_back(history->publications(0).info().client());
    epoch = history->epoch();
    request.mutable_since()->set_offset(history->publications(0).offset());
    request.mutable_since()->set_epoch(epoch);
  }
  EXPECT_EQ(clients, (std::vector<std::string>{"c0", "c1", "c2"}));

  // The same channel name in the default space is another stream.
  control::v1::HistoryRequest other;
  other.set_channel("chat:1");
  other.set_limit(-1);
  absl::StatusOr<control::v1::HistoryResponse> history = CallAndWait<control::v1::HistoryResponse>(
      [&](auto done) { link.FetchHistory(other, kWait, std::move(done)); });
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->publications_size(), 0);
  EXPECT_EQ(history->offset(), 0u);
}

TEST_F(ControlLinkTest, PresenceOverTheEdgeLinkSeesTheEdgesEntriesWithinTheClientsTenant) {
  ControlLink& link = MakeLink(256 << 10, /*probed_channels=*/0);
  absl::Cleanup stop_link = [&link] { link.Stop(); };
  link.Start();
  link.AddChannel("acme|room:1");
  control::v1::ClientInfo info;
  info.set_client("c1");
  info.set_user("u1");
  link.AddPresence("acme|room:1", info);
  // Acknowledged after the presence entry queued with it is applied.
  ASSERT_TRUE(events().WaitForAck(link.AddChannel("acme|room:2")));

  control::v1::PresenceRequest presence;
  presence.set_tenant("acme");
  presence.set_channel("room:1");
  absl::StatusOr<control::v1::PresenceResponse> clients =
      CallAndWait<control::v1::PresenceResponse>(
          [&](auto done) { link.FetchPresence(presence, kWait, std::move(done)); });
  ASSERT_TRUE(clients.ok()) << clients.status();
  ASSERT_EQ(clients->clients_size(), 1);
  EXPECT_EQ(clients->clients(0).user(), "u1");

  control::v1::PresenceStatsRequest stats;
  stats.set_tenant("acme");
  stats.set_channel("room:1");
  absl::StatusOr<control::v1::PresenceStatsResponse> counts =
      CallAndWait<control::v1::PresenceStatsResponse>(
          [&](auto done) { link.FetchPresenceStats(stats, kWait, std::move(done)); });
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->num_clients(), 1u);
  EXPECT_EQ(counts->num_users(), 1u);

  presence.clear_tenant();
  clients = CallAndWait<control::v1::PresenceResponse>(
      [&](auto done) { link.FetchPresence(presence, kWait, std::move(done)); });
  ASSERT_TRUE(clients.ok()) << clients.status();
  EXPECT_EQ(clients->clients_size(), 0);

  presence.set_page_size(-1);
  presence.set_tenant("acme");
  clients = CallAndWait<control::v1::PresenceResponse>(
      [&](auto done) { link.FetchPresence(presence, kWait, std::move(done)); });
  EXPECT_EQ(clients.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(clients.status().message(), "page_size is negative: -1");
}

// ---------------------------------------------------------------------------
// Stop() and calls in flight, against a server that answers no call until
// the client cancels it.

// Finishes only when cancelled (or at server shutdown).
class HangingReactor final : public grpc::ServerUnaryReactor {
 public:
  void OnCancel() override { Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }
  void OnDone() override { delete this; }
};

// Thread-safe. Counts the calls that reached it.
class Arrivals {
 public:
  grpc::ServerUnaryReactor* Hang() {
    absl::MutexLock lock(&mu_);
    ++count_;
    return new HangingReactor;
  }
  bool WaitFor(int count) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kWait);
  }

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Every call the link makes goes to the EdgeLinkService; the public
// ControlService is not served here, so a call made there would fail at
// once with UNIMPLEMENTED instead of hanging. Attach stays unimplemented:
// the link keeps retrying meanwhile.
class HangingEdgeLinkService final : public v1::EdgeLinkService::CallbackService {
 public:
  explicit HangingEdgeLinkService(Arrivals* arrivals) : arrivals_(arrivals) {}
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext*, const v1::ClientPublishRequest*,
                                    control::v1::PublishResponse*) override {
    return arrivals_->Hang();
  }
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext*,
                                    const control::v1::HistoryRequest*,
                                    control::v1::HistoryResponse*) override {
    return arrivals_->Hang();
  }
  grpc::ServerUnaryReactor* Presence(grpc::CallbackServerContext*,
                                     const control::v1::PresenceRequest*,
                                     control::v1::PresenceResponse*) override {
    return arrivals_->Hang();
  }
  grpc::ServerUnaryReactor* PresenceStats(grpc::CallbackServerContext*,
                                          const control::v1::PresenceStatsRequest*,
                                          control::v1::PresenceStatsResponse*) override {
    return arrivals_->Hang();
  }

 private:
  Arrivals* const arrivals_;
};

// Thread-safe. How each call's callback went.
class CallOutcomes {
 public:
  explicit CallOutcomes(int calls) : runs_(calls, 0), codes_(calls, absl::StatusCode::kOk) {}

  template <typename Response>
  ControlApi::Callback<Response> For(int call) {
    return [this, call](absl::StatusOr<Response> response) {
      absl::MutexLock lock(&mu_);
      ++runs_[call];
      codes_[call] = response.status().code();
    };
  }
  std::vector<int> runs() const {
    absl::MutexLock lock(&mu_);
    return runs_;
  }
  // Waits until at least `count` callbacks ran.
  bool WaitForRuns(int count) {
    absl::MutexLock lock(&mu_);
    auto ran = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::count_if(runs_.begin(), runs_.end(), [](int runs) { return runs > 0; }) >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&ran), kWait);
  }
  std::vector<absl::StatusCode> codes() const {
    absl::MutexLock lock(&mu_);
    return codes_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int> runs_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::StatusCode> codes_ ABSL_GUARDED_BY(mu_);
};

// Starts call `i` of each of the four kinds in turn.
void StartCall(ControlLink& link, int i, CallOutcomes& outcomes, absl::Duration timeout) {
  switch (i % 4) {
    case 0: {
      control::v1::HistoryRequest request;
      request.set_channel("chat:1");
      link.FetchHistory(request, timeout, outcomes.For<control::v1::HistoryResponse>(i));
      break;
    }
    case 1: {
      control::v1::PresenceRequest request;
      request.set_channel("room:1");
      link.FetchPresence(request, timeout, outcomes.For<control::v1::PresenceResponse>(i));
      break;
    }
    case 2: {
      control::v1::PresenceStatsRequest request;
      request.set_channel("room:1");
      link.FetchPresenceStats(request, timeout,
                              outcomes.For<control::v1::PresenceStatsResponse>(i));
      break;
    }
    default: {
      v1::ClientPublishRequest request;
      request.set_channel("chat:1");
      request.set_data("{}");
      link.Publish(request, timeout, outcomes.For<control::v1::PublishResponse>(i));
      break;
    }
  }
}

ControlLinkOptions OptionsFor(const std::string& address) {
  ControlLinkOptions options;
  options.control_address = address;
  options.edge_id = "edge-1";
  options.initial_backoff = absl::Milliseconds(20);
  options.max_backoff = absl::Milliseconds(200);
  return options;
}

TEST(ControlLinkStopTest, StopCancelsCallsInFlightAndWaitsForEveryCallback) {
  Arrivals arrivals;
  HangingEdgeLinkService link_service(&arrivals);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&link_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  constexpr int kCalls = 40;
  CallOutcomes outcomes(kCalls + 1);
  auto link = std::make_unique<ControlLink>(
      OptionsFor(absl::StrCat("127.0.0.1:", port)), [](v1::ControlMessage&&) {}, [](bool) {});
  link->Start();
  for (int i = 0; i < kCalls; ++i) StartCall(*link, i, outcomes, absl::Seconds(60));
  ASSERT_TRUE(arrivals.WaitFor(kCalls)) << "calls never reached the server";
  EXPECT_EQ(outcomes.runs(), std::vector<int>(kCalls + 1, 0));

  const absl::Time start = absl::Now();
  link->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "Stop() waited for the call deadlines";
  std::vector<int> runs = outcomes.runs();
  std::vector<absl::StatusCode> codes = outcomes.codes();
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(runs[i], 1) << "call " << i;
    EXPECT_EQ(codes[i], absl::StatusCode::kCancelled) << "call " << i;
  }

  // After Stop(): answered at once, on this thread.
  StartCall(*link, kCalls, outcomes, absl::Seconds(60));
  EXPECT_EQ(outcomes.runs()[kCalls], 1);
  EXPECT_EQ(outcomes.codes()[kCalls], absl::StatusCode::kUnavailable);

  link.reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  EXPECT_EQ(outcomes.runs(), std::vector<int>(kCalls + 1, 1)) << "a callback ran twice";
}

TEST_F(ControlLinkTest, DestructionRacingCompletionsRunsEachCallbackOnce) {
  constexpr int kCalls = 400;
  CallOutcomes outcomes(kCalls);
  MakeLink().Start();
  for (int i = 0; i < kCalls; ++i) StartCall(*link_, i, outcomes, kWait);
  // Some calls have completed by now, most are in flight.
  ASSERT_TRUE(outcomes.WaitForRuns(20));
  link_.reset();
  EXPECT_EQ(outcomes.runs(), std::vector<int>(kCalls, 1));
  for (absl::StatusCode code : outcomes.codes()) {
    EXPECT_THAT(code, ::testing::AnyOf(absl::StatusCode::kOk, absl::StatusCode::kCancelled));
  }
}

// Several control replicas: the link attaches to one, and to another when
// it goes away or never answers.

// Thread-compatible. One control replica in process, restartable on the
// same ports.
class Replica {
 public:
  ~Replica() { Stop(); }

  bool Start() {
    control::ControlServerOptions options;
    options.grpc_listen = absl::StrCat("127.0.0.1:", api_port_);
    options.edge_listen = absl::StrCat("127.0.0.1:", edge_port_);
    options.namespaces = NamespaceRegistry(TestConfig());
    server_ = std::make_unique<control::ControlServer>(std::move(options));
    absl::StatusOr<int> bound = server_->Start();
    EXPECT_TRUE(bound.ok()) << bound.status().message();
    if (!bound.ok()) return false;
    api_port_ = *bound;
    edge_port_ = server_->edge_link_port();
    stub_ = control::v1::ControlService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", api_port_), grpc::InsecureChannelCredentials()));
    return true;
  }

  void Stop() {
    if (server_ != nullptr) server_->Shutdown(absl::Milliseconds(100));
    server_.reset();
  }

  std::string edge_address() const { return absl::StrCat("127.0.0.1:", edge_port_); }

  // The ids of the edges attached here; empty when it is stopped.
  std::vector<std::string> Edges() {
    if (server_ == nullptr) return {};
    control::v1::StatsRequest request;
    control::v1::StatsResponse stats;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status status = stub_->Stats(&context, request, &stats);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> ids;
    for (const control::v1::EdgeInfo& edge : stats.edges()) ids.push_back(edge.id());
    return ids;
  }

  // Waits until `edge_id` is attached here; returns when it was seen.
  std::optional<absl::Time> WaitForEdge(const std::string& edge_id, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      std::vector<std::string> edges = Edges();
      if (std::find(edges.begin(), edges.end(), edge_id) != edges.end()) return absl::Now();
      absl::SleepFor(absl::Milliseconds(10));
    }
    return std::nullopt;
  }

  bool Publish(const std::string& channel) {
    control::v1::PublishRequest request;
    request.set_channel(channel);
    request.set_data("{}");
    control::v1::PublishResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub_->Publish(&context, request, &response).ok();
  }

 private:
  int api_port_ = 0;
  int edge_port_ = 0;
  std::unique_ptr<control::ControlServer> server_;
  std::unique_ptr<control::v1::ControlService::Stub> stub_;
};

// A TCP listener that never accepts. `fill_backlog`: its accept queue is
// filled first, so further SYNs go unanswered (a blackholed address);
// otherwise connections complete and then hear nothing (a wedged process).
class SilentListener {
 public:
  explicit SilentListener(bool fill_backlog) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(fd_, 0) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
    // Backlog 0 holds one or two; the rest of these stay in SYN-SENT.
    for (int i = 0; fill_backlog && i < 8; ++i) {
      int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address));
      fillers_.push_back(client);
    }
  }
  ~SilentListener() {
    for (int fd : fillers_) close(fd);
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return port_ > 0; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

// A link to `addresses` with the production backoff and, unless told
// otherwise, timeouts.
std::unique_ptr<ControlLink> ReplicaLink(
    const std::string& addresses, LinkEvents* events,
    absl::Duration attach_timeout = ControlLinkOptions().attach_timeout,
    absl::Duration snapshot_ack_timeout = ControlLinkOptions().snapshot_ack_timeout) {
  ControlLinkOptions options;
  options.control_address = addresses;
  options.attach_timeout = attach_timeout;
  options.snapshot_ack_timeout = snapshot_ack_timeout;
  options.edge_id = "edge-1";
  options.version = "test";
  return std::make_unique<ControlLink>(
      std::move(options),
      [events](v1::ControlMessage&& message) { events->OnMessage(std::move(message)); },
      [events](bool attached) { events->OnState(attached); });
}

// One Publish through `link`, which goes to the replica it attached to.
absl::Status PublishThrough(ControlLink& link, const std::string& channel) {
  auto done = std::make_shared<absl::Notification>();
  auto result = std::make_shared<absl::Status>();
  v1::ClientPublishRequest request;
  request.set_channel(channel);
  request.set_data("{}");
  link.Publish(request, absl::Seconds(5),
               [done, result](absl::StatusOr<control::v1::PublishResponse> response) {
                 *result = response.status();
                 done->Notify();
               });
  if (!done->WaitForNotificationWithTimeout(kWait)) return absl::DeadlineExceededError("no answer");
  return *result;
}

TEST(ControlLinkReplicasTest, AttachesToTheOtherReplicaWithinTwoSecondsWhenItsOwnGoesAway) {
  Replica a;
  Replica b;
  ASSERT_TRUE(a.Start());
  ASSERT_TRUE(b.Start());
  LinkEvents events([] { return uint64_t{0}; });
  std::unique_ptr<ControlLink> link =
      ReplicaLink(absl::StrCat(a.edge_address(), ",", b.edge_address()), &events);
  const uint64_t seq = link->AddChannel("chat:1");
  link->Start();
  ASSERT_TRUE(events.WaitForStates(1)) << "never attached";
  EXPECT_THAT(a.Edges(), ::testing::ElementsAre("edge-1")) << "the first of the list first";
  EXPECT_THAT(b.Edges(), ::testing::IsEmpty());
  ASSERT_TRUE(PublishThrough(*link, "chat:1").ok());

  // A goes away: B, then (A back) B goes away: A again. Each time the
  // other replica holds the edge within 2 s, with its interest, and the
  // unary calls follow the stream.
  Replica* replicas[] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    Replica& gone = *replicas[i];
    Replica& other = *replicas[1 - i];
    const absl::Time stopped = absl::Now();
    gone.Stop();
    std::optional<absl::Time> seen =
        other.WaitForEdge("edge-1", absl::Seconds(2) + absl::Milliseconds(500));
    ASSERT_TRUE(seen.has_value()) << "never attached to the other replica";
    EXPECT_LT(*seen - stopped, absl::Seconds(2));
    std::cerr << "re-attached to the other replica " << (*seen - stopped) << " after the stop\n";
    ASSERT_TRUE(events.WaitForStates(2 * i + 3));
    EXPECT_TRUE(events.WaitForAck(seq));
    ASSERT_TRUE(other.Publish("chat:1"));
    EXPECT_TRUE(events.WaitForPublication("chat:1")) << "no publication from the other replica";
    absl::Status published = PublishThrough(*link, "chat:1");
    EXPECT_TRUE(published.ok()) << "the unary call did not follow the stream: " << published;
    ASSERT_TRUE(gone.Start()) << "restart on the same ports";
  }
  EXPECT_EQ(events.states(), (std::vector<bool>{true, false, true, false, true}));
  link.reset();
}

// `fill_backlog`: see SilentListener.
void AttachesPastASilentFirstTarget(bool fill_backlog) {
  SilentListener silent(fill_backlog);
  ASSERT_TRUE(silent.ok());
  Replica good;
  ASSERT_TRUE(good.Start());
  LinkEvents events([] { return uint64_t{0}; });
  const absl::Time start = absl::Now();
  std::unique_ptr<ControlLink> link =
      ReplicaLink(absl::StrCat(silent.address(), ",", good.edge_address()), &events);
  link->Start();
  ASSERT_TRUE(events.WaitForStates(1)) << "never attached";
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(2)) << "the silent target held the link";
  std::cerr << "attached past the silent target in " << took << "\n";
  EXPECT_THAT(good.Edges(), ::testing::ElementsAre("edge-1"));
  link.reset();
}

TEST(ControlLinkReplicasTest, ABlackholedFirstTargetIsSkipped) {
  AttachesPastASilentFirstTarget(/*fill_backlog=*/true);
}

TEST(ControlLinkReplicasTest, AFirstTargetThatAcceptsButNeverSpeaksHttp2IsSkipped) {
  AttachesPastASilentFirstTarget(/*fill_backlog=*/false);
}

TEST(ControlLinkReplicasTest, AStalledConnectIsGivenUpAfterTheAttachTimeout) {
  // gRPC gives a first connect 100 ms, later ones up to max_backoff: the
  // link's own bound is what holds when gRPC's is longer than it.
  SilentListener blackhole(/*fill_backlog=*/true);
  ASSERT_TRUE(blackhole.ok());
  Replica good;
  ASSERT_TRUE(good.Start());
  LinkEvents events([] { return uint64_t{0}; });
  ::testing::internal::CaptureStderr();
  std::unique_ptr<ControlLink> link =
      ReplicaLink(absl::StrCat(blackhole.address(), ",", good.edge_address()), &events,
                  /*attach_timeout=*/absl::Milliseconds(30));
  link->Start();
  const bool attached = events.WaitForStates(1);
  link.reset();
  const std::string logged = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(attached) << "never attached: " << logged;
  EXPECT_THAT(logged, HasSubstr(absl::StrCat("control link attach to ", blackhole.address(),
                                             " failed: no progress for 30ms, trying the next "
                                             "control (4)")));
}

// Takes the Attach stream and never answers it: a wedged control.
class WedgedAttachReactor final
    : public grpc::ServerBidiReactor<v1::EdgeMessage, v1::ControlMessage> {
 public:
  WedgedAttachReactor() { StartRead(&in_); }
  void OnReadDone(bool ok) override {
    if (ok) {
      StartRead(&in_);
    } else {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }
  void OnDone() override { delete this; }

 private:
  v1::EdgeMessage in_;
};

class WedgedEdgeLinkService final : public v1::EdgeLinkService::CallbackService {
 public:
  grpc::ServerBidiReactor<v1::EdgeMessage, v1::ControlMessage>* Attach(
      grpc::CallbackServerContext*) override {
    return new WedgedAttachReactor;
  }
};

TEST(ControlLinkReplicasTest, AReplicaThatNeverAcknowledgesTheSnapshotIsGivenUp) {
  WedgedEdgeLinkService wedged_service;
  grpc::ServerBuilder builder;
  int wedged_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &wedged_port);
  builder.RegisterService(&wedged_service);
  std::unique_ptr<grpc::Server> wedged = builder.BuildAndStart();
  ASSERT_NE(wedged, nullptr);
  Replica good;
  ASSERT_TRUE(good.Start());

  LinkEvents events([] { return uint64_t{0}; });
  std::unique_ptr<ControlLink> link =
      ReplicaLink(absl::StrCat("127.0.0.1:", wedged_port, ",", good.edge_address()), &events,
                  ControlLinkOptions().attach_timeout,
                  /*snapshot_ack_timeout=*/absl::Milliseconds(500));
  link->AddChannel("chat:1");
  ::testing::internal::CaptureStderr();
  const absl::Time start = absl::Now();
  link->Start();
  const bool attached = events.WaitForStates(1);
  const absl::Duration took = absl::Now() - start;
  link.reset();
  const std::string logged = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(attached) << "never attached: " << logged;
  EXPECT_GE(took, absl::Milliseconds(500));
  EXPECT_LT(took, absl::Milliseconds(1500));
  EXPECT_THAT(logged, HasSubstr(absl::StrCat("control link attach to 127.0.0.1:", wedged_port,
                                             " failed: snapshot not acknowledged within 500ms, "
                                             "trying the next control (4)")));
  wedged->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace
}  // namespace wirehub::edge
