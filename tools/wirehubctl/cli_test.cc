#include "tools/wirehubctl/cli.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/jwt.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/ws_test_server.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// What the fake ControlService saw and what it answers. Shared by every
// client the fixture's factory hands out.
struct FakeControl {
  grpc::Status status = grpc::Status::OK;
  v1::PublishResponse publish_response;
  v1::BroadcastResponse broadcast_response;
  v1::StatsResponse stats_response;
  v1::HistoryResponse history_response;

  // PublishStream: how one request is answered (default: success with
  // offset 10 * request_id and epoch "e"), whether answers wait for the end
  // of the input, how many of the last answers are never sent, and the
  // stream's final status.
  std::function<v1::PublishStreamResponse(const v1::PublishStreamRequest&)> answer;
  bool answer_after_input = false;
  size_t drop_answers = 0;
  grpc::Status stream_status = grpc::Status::OK;

  std::vector<v1::PublishRequest> publishes;
  std::vector<v1::BroadcastRequest> broadcasts;
  std::vector<v1::StatsRequest> stats;
  std::vector<v1::HistoryRequest> histories;
  std::vector<v1::HistoryRemoveRequest> history_removes;
  std::vector<v1::PublishStreamRequest> stream_requests;
  int streams = 0;

  // The calls added with tenants: each records its requests and answers
  // with the matching response (paged calls: one response per call, in
  // order, the last one repeated).
  std::vector<v1::PresenceResponse> presence_pages;
  v1::PresenceStatsResponse presence_stats_response;
  v1::SubscribeResponse subscribe_response;
  v1::UnsubscribeResponse unsubscribe_response;
  v1::DisconnectResponse disconnect_response;
  v1::RefreshResponse refresh_response;
  std::vector<v1::ConnectionsResponse> connections_pages;
  std::vector<v1::ChannelsResponse> channels_pages;
  v1::InfoResponse info_response;

  std::vector<v1::PresenceRequest> presences;
  std::vector<v1::PresenceStatsRequest> presence_stats;
  std::vector<v1::SubscribeRequest> subscribes;
  std::vector<v1::UnsubscribeRequest> unsubscribes;
  std::vector<v1::DisconnectRequest> disconnects;
  std::vector<v1::RefreshRequest> refreshes;
  std::vector<v1::ConnectionsRequest> connection_lists;
  std::vector<v1::ChannelsRequest> channel_lists;
  int infos = 0;
};

// The answer to the `index`th call of a paged RPC.
template <typename Response>
Response Page(const std::vector<Response>& pages, size_t index) {
  if (pages.empty()) return Response();
  return pages[std::min(index, pages.size() - 1)];
}

class FakeClient : public ControlClient {
 public:
  explicit FakeClient(FakeControl* control) : control_(control) {}

  grpc::Status Publish(const v1::PublishRequest& request, v1::PublishResponse* response) override {
    control_->publishes.push_back(request);
    *response = control_->publish_response;
    return control_->status;
  }
  grpc::Status Broadcast(const v1::BroadcastRequest& request,
                         v1::BroadcastResponse* response) override {
    control_->broadcasts.push_back(request);
    *response = control_->broadcast_response;
    return control_->status;
  }
  grpc::Status Stats(const v1::StatsRequest& request, v1::StatsResponse* response) override {
    control_->stats.push_back(request);
    *response = control_->stats_response;
    return control_->status;
  }
  grpc::Status History(const v1::HistoryRequest& request, v1::HistoryResponse* response) override {
    control_->histories.push_back(request);
    *response = control_->history_response;
    return control_->status;
  }
  grpc::Status HistoryRemove(const v1::HistoryRemoveRequest& request,
                             v1::HistoryRemoveResponse* response) override {
    control_->history_removes.push_back(request);
    *response = v1::HistoryRemoveResponse();
    return control_->status;
  }
  grpc::Status Presence(const v1::PresenceRequest& request,
                        v1::PresenceResponse* response) override {
    control_->presences.push_back(request);
    *response = Page(control_->presence_pages, control_->presences.size() - 1);
    return control_->status;
  }
  grpc::Status PresenceStats(const v1::PresenceStatsRequest& request,
                             v1::PresenceStatsResponse* response) override {
    control_->presence_stats.push_back(request);
    *response = control_->presence_stats_response;
    return control_->status;
  }
  grpc::Status Subscribe(const v1::SubscribeRequest& request,
                         v1::SubscribeResponse* response) override {
    control_->subscribes.push_back(request);
    *response = control_->subscribe_response;
    return control_->status;
  }
  grpc::Status Unsubscribe(const v1::UnsubscribeRequest& request,
                           v1::UnsubscribeResponse* response) override {
    control_->unsubscribes.push_back(request);
    *response = control_->unsubscribe_response;
    return control_->status;
  }
  grpc::Status Disconnect(const v1::DisconnectRequest& request,
                          v1::DisconnectResponse* response) override {
    control_->disconnects.push_back(request);
    *response = control_->disconnect_response;
    return control_->status;
  }
  grpc::Status Refresh(const v1::RefreshRequest& request, v1::RefreshResponse* response) override {
    control_->refreshes.push_back(request);
    *response = control_->refresh_response;
    return control_->status;
  }
  grpc::Status Connections(const v1::ConnectionsRequest& request,
                           v1::ConnectionsResponse* response) override {
    control_->connection_lists.push_back(request);
    *response = Page(control_->connections_pages, control_->connection_lists.size() - 1);
    return control_->status;
  }
  grpc::Status Channels(const v1::ChannelsRequest& request,
                        v1::ChannelsResponse* response) override {
    control_->channel_lists.push_back(request);
    *response = Page(control_->channels_pages, control_->channel_lists.size() - 1);
    return control_->status;
  }
  grpc::Status Info(const v1::InfoRequest& request, v1::InfoResponse* response) override {
    ++control_->infos;
    *response = control_->info_response;
    return control_->status;
  }
  grpc::Status PublishStream(const NextStreamRequest& next_request,
                             const OnStreamResponse& on_response) override {
    ++control_->streams;
    std::vector<v1::PublishStreamResponse> answers;
    while (std::optional<v1::PublishStreamRequest> request = next_request()) {
      control_->stream_requests.push_back(*request);
      answers.push_back(Answer(*request));
      if (!control_->answer_after_input && control_->drop_answers == 0) {
        on_response(answers.back());
        answers.clear();
      }
    }
    answers.resize(answers.size() - std::min(answers.size(), control_->drop_answers));
    for (const v1::PublishStreamResponse& answer : answers) on_response(answer);
    return control_->stream_status;
  }

 private:
  v1::PublishStreamResponse Answer(const v1::PublishStreamRequest& request) const {
    if (control_->answer) return control_->answer(request);
    v1::PublishStreamResponse response;
    response.set_request_id(request.request_id());
    response.set_offset(10 * request.request_id());
    response.set_epoch("e");
    return response;
  }

 private:
  FakeControl* control_;
};

struct Connection {
  std::string target;
  absl::Duration timeout;
};

class CliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args, const std::string& input = "") {
    out_.str("");
    err_.str("");
    in_.str(input);
    in_.clear();
    CliContext context;
    context.out = &out_;
    context.err = &err_;
    context.in = &in_;
    context.get_env = [this](std::string_view name) -> std::optional<std::string> {
      auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    context.now = [this] { return now_; };
    context.connect = [this](const std::string& target, absl::Duration timeout) {
      connections_.push_back({target, timeout});
      return std::make_unique<FakeClient>(&control_);
    };
    return RunCli(args, context);
  }

  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }

  std::string WriteSecretFile(const std::string& name, const std::string& contents) {
    std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream file(path, std::ios::trunc);
    file << contents;
    return path;
  }

  FakeControl control_;
  std::vector<Connection> connections_;
  std::map<std::string, std::string> env_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::ostringstream out_;
  std::ostringstream err_;
  std::istringstream in_;
};

// --- help ---------------------------------------------------------------

TEST_F(CliTest, HelpListsSubcommands) {
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("publish"), HasSubstr("broadcast"), HasSubstr("stats"),
                           HasSubstr("token"), HasSubstr("--control")));
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, HelpListsNewSubcommandsInOneColumn) {
  ASSERT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("\n  publish         Publish a JSON document"),
                           HasSubstr("\n  publish-stream  Publish \"CHANNEL JSON\" lines"),
                           HasSubstr("\n  history         Show the publications kept"),
                           HasSubstr("\n  history-remove  Drop the publications kept"),
                           HasSubstr("\n  help            Show help for a subcommand")));
  EXPECT_EQ(Run({"frobnicate"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("(expected publish, publish-stream, broadcast, history, "
                               "history-remove, presence, presence-stats, subscribe, "
                               "unsubscribe, disconnect, refresh, connections, channels, info, "
                               "stats, token or tail)"));
}

TEST_F(CliTest, ShortHelpAndHelpSubcommandMatchLongHelp) {
  ASSERT_EQ(Run({"--help"}), kExitOk);
  std::string expected = out();
  EXPECT_EQ(Run({"-h"}), kExitOk);
  EXPECT_EQ(out(), expected);
  EXPECT_EQ(Run({"help"}), kExitOk);
  EXPECT_EQ(out(), expected);
}

TEST_F(CliTest, SubcommandHelpPrintsItsUsage) {
  EXPECT_EQ(Run({"publish", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("publish CHANNEL JSON"), HasSubstr("--idempotency_key")));
  EXPECT_THAT(err(), IsEmpty());

  EXPECT_EQ(Run({"broadcast", "--help"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("broadcast CHANNEL... JSON"));

  EXPECT_EQ(Run({"stats", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("--top=N"), HasSubstr("--json")));

  EXPECT_EQ(Run({"token", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("--user=ID"), HasSubstr("--ttl=SECONDS"),
                           HasSubstr("--token_hmac_secret_file")));

  EXPECT_EQ(Run({"history", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("history CHANNEL"), HasSubstr("--limit=N"),
                           HasSubstr("--since_offset=N"), HasSubstr("--since_epoch=E"),
                           HasSubstr("--reverse"), HasSubstr("--json"), HasSubstr("--control")));

  EXPECT_EQ(Run({"history-remove", "--help"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("history-remove CHANNEL"));

  EXPECT_EQ(Run({"publish-stream", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("publish-stream"), HasSubstr("CHANNEL JSON"),
                           HasSubstr("line N: expected CHANNEL JSON"),
                           HasSubstr("--timeout does not apply")));
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
  EXPECT_EQ(control_.streams, 0);
}

TEST_F(CliTest, HelpBeforeSubcommandAndHelpTopic) {
  EXPECT_EQ(Run({"--help", "stats"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("stats [--top=N] [--json]"));
  EXPECT_EQ(Run({"help", "token"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("--user=ID"));
}

TEST_F(CliTest, HelpWinsOverMissingArguments) {
  EXPECT_EQ(Run({"publish", "-h"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("publish CHANNEL JSON"));
  EXPECT_TRUE(control_.publishes.empty());
}

// --- usage errors ---------------------------------------------------------

TEST_F(CliTest, NoArgumentsIsUsageError) {
  EXPECT_EQ(Run({}), kExitUsage);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_THAT(err(), AllOf(HasSubstr("missing subcommand"), HasSubstr("publish")));
}

TEST_F(CliTest, UnknownSubcommandIsUsageError) {
  EXPECT_EQ(Run({"frobnicate"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("unknown subcommand 'frobnicate'"));
  EXPECT_EQ(Run({"frobnicate", "--help"}), kExitUsage);
  EXPECT_EQ(Run({"help", "frobnicate"}), kExitUsage);
  EXPECT_THAT(out(), IsEmpty());
}

TEST_F(CliTest, UnknownFlagIsUsageError) {
  EXPECT_EQ(Run({"stats", "--verbose"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("unknown flag --verbose"));
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, FlagOfAnotherSubcommandIsUsageError) {
  EXPECT_EQ(Run({"publish", "news", "{}", "--top=3"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--top does not apply to 'publish' (it belongs to 'stats')"));
  EXPECT_EQ(Run({"--user=alice", "stats"}), kExitUsage);
  EXPECT_EQ(Run({"publish", "news", "{}", "--json"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--json does not apply to 'publish' (it belongs to 'stats', "
                               "'history', 'presence', 'connections', 'channels' and 'info')"));
  EXPECT_EQ(Run({"stats", "--limit=3"}), kExitUsage);
  EXPECT_EQ(Run({"history-remove", "news", "--reverse"}), kExitUsage);
  EXPECT_EQ(Run({"publish-stream", "--idempotency_key=k"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, PublishArgumentCountIsChecked) {
  EXPECT_EQ(Run({"publish"}), kExitUsage);
  EXPECT_EQ(Run({"publish", "news"}), kExitUsage);
  EXPECT_EQ(Run({"publish", "news", "{}", "extra"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("publish takes CHANNEL and JSON"));
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, BroadcastNeedsAtLeastOneChannel) {
  EXPECT_EQ(Run({"broadcast"}), kExitUsage);
  EXPECT_EQ(Run({"broadcast", "a"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("broadcast takes at least one CHANNEL, then JSON"));
  EXPECT_THAT(err(), HasSubstr("at least one CHANNEL"));
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, StatsRejectsPositionalsAndBadTop) {
  EXPECT_EQ(Run({"stats", "extra"}), kExitUsage);
  EXPECT_EQ(Run({"stats", "--top=-1"}), kExitUsage);
  EXPECT_EQ(Run({"stats", "--top=ten"}), kExitUsage);
  EXPECT_EQ(Run({"stats", "--top=99999999999"}), kExitUsage);
  EXPECT_EQ(Run({"stats", "--json=maybe"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, BadTimeoutAndControlAreUsageErrors) {
  for (const char* timeout : {"--timeout=0", "--timeout=-1", "--timeout=abc", "--timeout=inf",
                              "--timeout=nan", "--timeout=1e9"}) {
    EXPECT_EQ(Run({timeout, "stats"}), kExitUsage) << timeout;
  }
  EXPECT_EQ(Run({"--control=", "stats"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, ValueFlagWithoutValueIsUsageError) {
  EXPECT_EQ(Run({"stats", "--top"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--top needs a value"));
  EXPECT_EQ(Run({"--control", "--timeout=1", "stats"}), kExitUsage);
}

// --- publish --------------------------------------------------------------

TEST_F(CliTest, PublishPrintsPosition) {
  control_.publish_response.set_offset(42);
  control_.publish_response.set_epoch("ab12");
  EXPECT_EQ(Run({"publish", "news", R"({"text":"hello"})"}), kExitOk);
  EXPECT_EQ(out(), "offset=42 epoch=ab12\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].channel(), "news");
  EXPECT_EQ(control_.publishes[0].data(), R"({"text":"hello"})");
  EXPECT_EQ(control_.publishes[0].idempotency_key(), "");
}

TEST_F(CliTest, PublishRepeatPublishesNTimesAndReportsRate) {
  control_.publish_response.set_offset(3);
  EXPECT_EQ(Run({"publish", "news", "{}", "--repeat=3"}), kExitOk);
  EXPECT_EQ(control_.publishes.size(), 3u);
  EXPECT_EQ(out(), "offset=3 epoch=\n");
  EXPECT_THAT(err(), HasSubstr("3 publishes in"));
}

TEST_F(CliTest, PublishRepeatRejectsIdempotencyKeyAndBadCounts) {
  EXPECT_EQ(Run({"publish", "news", "{}", "--repeat=2", "--idempotency_key=k"}), kExitUsage);
  EXPECT_EQ(Run({"publish", "news", "{}", "--repeat=0"}), kExitUsage);
  EXPECT_TRUE(control_.publishes.empty());
}

TEST_F(CliTest, DefaultsToLocalControlAndFiveSeconds) {
  EXPECT_EQ(Run({"publish", "news", "{}"}), kExitOk);
  ASSERT_EQ(connections_.size(), 1u);
  EXPECT_EQ(connections_[0].target, "127.0.0.1:7100");
  EXPECT_EQ(connections_[0].timeout, absl::Seconds(5));
}

TEST_F(CliTest, ControlFromEnvironmentAndFlagOverridesIt) {
  env_["WIREHUB_CONTROL"] = "control.internal:9000";
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_EQ(Run({"stats", "--control=10.1.2.3:7100"}), kExitOk);
  ASSERT_EQ(connections_.size(), 2u);
  EXPECT_EQ(connections_[0].target, "control.internal:9000");
  EXPECT_EQ(connections_[1].target, "10.1.2.3:7100");
}

TEST_F(CliTest, FlagsMayComeBeforeOrAfterSubcommand) {
  EXPECT_EQ(Run({"--control=h:1", "--timeout=2.5", "--idempotency_key=k1", "publish", "c", "{}"}),
            kExitOk);
  EXPECT_EQ(
      Run({"publish", "c", "--control=h:2", "{}", "--timeout", "7", "--idempotency_key", "k2"}),
      kExitOk);
  ASSERT_EQ(connections_.size(), 2u);
  EXPECT_EQ(connections_[0].target, "h:1");
  EXPECT_EQ(connections_[0].timeout, absl::Milliseconds(2500));
  EXPECT_EQ(connections_[1].target, "h:2");
  EXPECT_EQ(connections_[1].timeout, absl::Seconds(7));
  ASSERT_EQ(control_.publishes.size(), 2u);
  EXPECT_EQ(control_.publishes[0].idempotency_key(), "k1");
  EXPECT_EQ(control_.publishes[1].idempotency_key(), "k2");
  EXPECT_EQ(control_.publishes[1].channel(), "c");
  EXPECT_EQ(control_.publishes[1].data(), "{}");
}

TEST_F(CliTest, PublishPassesIdempotencyKey) {
  control_.publish_response.set_offset(7);
  control_.publish_response.set_epoch("e");
  EXPECT_EQ(Run({"publish", "news", "{}", "--idempotency_key=order-42:v1"}), kExitOk);
  EXPECT_EQ(out(), "offset=7 epoch=e\n");
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].idempotency_key(), "order-42:v1");
  EXPECT_EQ(control_.publishes[0].channel(), "news");
  EXPECT_EQ(control_.publishes[0].data(), "{}");
}

TEST_F(CliTest, JsonIsNotCheckedByTheCli) {
  EXPECT_EQ(Run({"publish", "news", "not json at all"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].data(), "not json at all");
}

TEST_F(CliTest, DoubleDashEndsFlags) {
  EXPECT_EQ(Run({"publish", "--", "news", "--not-a-flag"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].data(), "--not-a-flag");
}

TEST_F(CliTest, NegativeNumberIsAPositional) {
  EXPECT_EQ(Run({"publish", "news", "-5"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].data(), "-5");
}

TEST_F(CliTest, PublishRpcFailureIsReported) {
  control_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad channel name");
  EXPECT_EQ(Run({"publish", "bad channel", "{}"}), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(err(), "error: INVALID_ARGUMENT: bad channel name\n");
}

TEST_F(CliTest, UnavailableControlIsReported) {
  control_.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect");
  EXPECT_EQ(Run({"stats"}), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: failed to connect\n");
}

// --- broadcast ------------------------------------------------------------

v1::BroadcastResult Ok(const std::string& channel, uint64_t offset, const std::string& epoch) {
  v1::BroadcastResult result;
  result.set_channel(channel);
  result.set_offset(offset);
  result.set_epoch(epoch);
  return result;
}

v1::BroadcastResult Failed(const std::string& channel, grpc::StatusCode code,
                           const std::string& message) {
  v1::BroadcastResult result;
  result.set_channel(channel);
  result.set_error_code(code);
  result.set_error_message(message);
  return result;
}

TEST_F(CliTest, BroadcastAllSucceed) {
  *control_.broadcast_response.add_results() = Ok("a", 1, "e1");
  *control_.broadcast_response.add_results() = Ok("b", 9, "e2");
  EXPECT_EQ(Run({"broadcast", "a", "b", R"({"x":1})"}), kExitOk);
  EXPECT_EQ(out(), "a offset=1 epoch=e1\nb offset=9 epoch=e2\n");
  ASSERT_EQ(control_.broadcasts.size(), 1u);
  EXPECT_EQ(control_.broadcasts[0].data(), R"({"x":1})");
  EXPECT_THAT(control_.broadcasts[0].channels(), ::testing::ElementsAre("a", "b"));
}

TEST_F(CliTest, BroadcastPartialFailureExitsOne) {
  *control_.broadcast_response.add_results() = Ok("a", 3, "e1");
  *control_.broadcast_response.add_results() =
      Failed("b!", grpc::StatusCode::INVALID_ARGUMENT, "invalid channel name");
  EXPECT_EQ(Run({"broadcast", "a", "b!", "{}"}), kExitFailure);
  EXPECT_EQ(out(), "a offset=3 epoch=e1\nb! error=INVALID_ARGUMENT invalid channel name\n");
}

TEST_F(CliTest, BroadcastWithMissingResultsFails) {
  *control_.broadcast_response.add_results() = Ok("a", 3, "e1");
  EXPECT_EQ(Run({"broadcast", "a", "b", "{}"}), kExitFailure);
  EXPECT_THAT(err(), HasSubstr("1 result(s) for 2 channel(s)"));
}

TEST_F(CliTest, BroadcastRpcFailure) {
  control_.status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
  EXPECT_EQ(Run({"broadcast", "a", "{}"}), kExitFailure);
  EXPECT_EQ(err(), "error: DEADLINE_EXCEEDED: Deadline Exceeded\n");
}

// Regression: broadcast took the JSON first and the channels after, the
// other way round from publish CHANNEL JSON.
TEST_F(CliTest, BroadcastTakesChannelsFirstLikePublish) {
  *control_.broadcast_response.add_results() = Ok("news", 1, "e1");
  *control_.broadcast_response.add_results() = Ok("sports", 2, "e1");
  EXPECT_EQ(Run({"broadcast", "news", "sports", R"({"n":1})"}), kExitOk) << err();
  ASSERT_EQ(control_.broadcasts.size(), 1u);
  EXPECT_EQ(control_.broadcasts[0].data(), R"({"n":1})");
  EXPECT_THAT(control_.broadcasts[0].channels(), ::testing::ElementsAre("news", "sports"));
  // publish and broadcast to one channel read the same.
  EXPECT_EQ(Run({"publish", "news", R"({"n":1})"}), kExitOk);
  EXPECT_EQ(control_.publishes.back().channel(), control_.broadcasts[0].channels(0));
  EXPECT_EQ(control_.publishes.back().data(), control_.broadcasts[0].data());
}

TEST_F(CliTest, BroadcastRefusesTheOldOrder) {
  for (const char* json : {R"({"n":1})", "[1]", R"("text")"}) {
    SCOPED_TRACE(json);
    EXPECT_EQ(Run({"broadcast", json, "news", "sports"}), kExitUsage);
    EXPECT_THAT(err(), HasSubstr("broadcast takes the channels first and the JSON last"));
  }
  EXPECT_TRUE(control_.broadcasts.empty());
}

// --- stats ----------------------------------------------------------------

void FillStats(v1::StatsResponse* stats) {
  v1::EdgeInfo* edge = stats->add_edges();
  edge->set_id("edge-7f3a");
  edge->set_address("127.0.0.1:40312");
  edge->set_public_address("ws://127.0.0.1:8000/connection/websocket");
  edge->set_version("0.1.0");
  edge->set_connected_since_unix_ms(1700000000123);
  edge->set_connections(12);
  edge->set_subscriptions(30);
  stats->set_total_connections(12);
  stats->set_unique_users(5);
  stats->set_subscriptions(30);
  stats->set_channels_with_subscribers(2);
  v1::ChannelSubscribers* top = stats->add_top_channels();
  top->set_channel("news");
  top->set_subscribers(11);
  stats->set_publications_accepted(100);
  stats->set_deliveries(1100);
}

TEST_F(CliTest, StatsTable) {
  FillStats(&control_.stats_response);
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_THAT(out(),
              AllOf(HasSubstr("edge-7f3a"), HasSubstr("2023-11-14T22:13:20Z"), HasSubstr("news"),
                    HasSubstr("publications accepted"), HasSubstr("1100"), Not(StartsWith("{"))));
  ASSERT_EQ(control_.stats.size(), 1u);
  EXPECT_EQ(control_.stats[0].top_channels(), 0);
}

TEST_F(CliTest, StatsTableWhenEmpty) {
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("(none)"));
}

TEST_F(CliTest, StatsJsonRoundTrips) {
  FillStats(&control_.stats_response);
  EXPECT_EQ(Run({"stats", "--json", "--top=25"}), kExitOk);
  ASSERT_EQ(control_.stats.size(), 1u);
  EXPECT_EQ(control_.stats[0].top_channels(), 25);

  std::string json = out();
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(json.back(), '\n');
  // Proto field names, and zero-valued fields are printed too.
  EXPECT_THAT(json,
              AllOf(HasSubstr("\"total_connections\""), HasSubstr("\"top_channels\""),
                    HasSubstr("\"slow_edge_detaches\""), HasSubstr("\"connected_since_unix_ms\"")));
  v1::StatsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), control_.stats_response.SerializeAsString());
}

TEST_F(CliTest, StatsJsonFlagBeforeSubcommand) {
  EXPECT_EQ(Run({"--json", "stats"}), kExitOk);
  EXPECT_THAT(out(), StartsWith("{"));
  EXPECT_EQ(Run({"stats", "--json=false"}), kExitOk);
  EXPECT_THAT(out(), Not(StartsWith("{")));
}

// --- history --------------------------------------------------------------

v1::HistoryResponse MakeHistory() {
  v1::HistoryResponse history;
  history.set_epoch("ep1");
  history.set_offset(9);
  v1::HistoryPublication* first = history.add_publications();
  first->set_offset(8);
  first->set_data(R"({"text":"a b"})");
  v1::HistoryPublication* second = history.add_publications();
  second->set_offset(9);
  second->set_data("{\n  \"n\": [1,\r\n 2]\n}");
  return history;
}

TEST_F(CliTest, HistoryPrintsPositionThenOnePublicationPerLine) {
  control_.history_response = MakeHistory();
  EXPECT_EQ(Run({"history", "news"}), kExitOk);
  EXPECT_EQ(out(),
            "epoch=ep1 offset=9\n"
            "8 {\"text\":\"a b\"}\n"
            "9 {   \"n\": [1,   2] }\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.histories.size(), 1u);
  const v1::HistoryRequest& request = control_.histories[0];
  EXPECT_EQ(request.channel(), "news");
  EXPECT_EQ(request.limit(), 100);
  EXPECT_FALSE(request.reverse());
  EXPECT_FALSE(request.has_since());
  ASSERT_EQ(connections_.size(), 1u);
  EXPECT_EQ(connections_[0].timeout, absl::Seconds(5));
}

TEST_F(CliTest, HistoryPassesLimitReverseAndSince) {
  EXPECT_EQ(Run({"history", "--limit=-1", "news", "--reverse", "--since_offset",
                 "18446744073709551615", "--since_epoch=ep1"}),
            kExitOk);
  EXPECT_EQ(Run({"history", "news", "--limit=0", "--since_offset=0", "--since_epoch=ep2"}),
            kExitOk);
  EXPECT_EQ(Run({"history", "news", "--limit=2147483647", "--reverse=false"}), kExitOk);
  ASSERT_EQ(control_.histories.size(), 3u);
  EXPECT_EQ(control_.histories[0].limit(), -1);
  EXPECT_TRUE(control_.histories[0].reverse());
  ASSERT_TRUE(control_.histories[0].has_since());
  EXPECT_EQ(control_.histories[0].since().offset(), UINT64_MAX);
  EXPECT_EQ(control_.histories[0].since().epoch(), "ep1");
  EXPECT_EQ(control_.histories[1].limit(), 0);
  ASSERT_TRUE(control_.histories[1].has_since());
  EXPECT_EQ(control_.histories[1].since().offset(), 0u);
  EXPECT_EQ(control_.histories[1].since().epoch(), "ep2");
  EXPECT_EQ(control_.histories[2].limit(), 2147483647);
  EXPECT_FALSE(control_.histories[2].reverse());
  EXPECT_FALSE(control_.histories[2].has_since());
}

TEST_F(CliTest, HistoryWithOnlyThePosition) {
  control_.history_response.set_epoch("ep1");
  control_.history_response.set_offset(0);
  EXPECT_EQ(Run({"history", "news", "--limit=0"}), kExitOk);
  EXPECT_EQ(out(), "epoch=ep1 offset=0\n");
}

TEST_F(CliTest, HistoryJsonEmbedsTheDocuments) {
  control_.history_response = MakeHistory();
  EXPECT_EQ(Run({"history", "news", "--json"}), kExitOk);
  EXPECT_EQ(out(),
            R"({"epoch":"ep1","offset":9,"publications":[{"offset":8,"data":{"text":"a b"}},)"
            R"({"offset":9,"data":{   "n": [1,   2] }}]})"
            "\n");

  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  EXPECT_EQ(parsed.fields().at("epoch").string_value(), "ep1");
  EXPECT_EQ(parsed.fields().at("offset").number_value(), 9);
  const google::protobuf::ListValue& publications = parsed.fields().at("publications").list_value();
  ASSERT_EQ(publications.values_size(), 2);
  const google::protobuf::Struct& second = publications.values(1).struct_value();
  EXPECT_EQ(second.fields().at("offset").number_value(), 9);
  EXPECT_EQ(second.fields().at("data").struct_value().fields().at("n").list_value().values_size(),
            2);
}

TEST_F(CliTest, HistoryJsonWhenEmptyAndEpochEscaped) {
  control_.history_response.set_epoch("a\"b\\c\x01");
  control_.history_response.set_offset(3);
  EXPECT_EQ(Run({"--json", "history", "news"}), kExitOk);
  EXPECT_EQ(out(), R"({"epoch":"a\"b\\c\u0001","offset":3,"publications":[]})"
                   "\n");
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  EXPECT_EQ(parsed.fields().at("epoch").string_value(), "a\"b\\c\x01");
}

TEST_F(CliTest, HistoryUsageErrors) {
  EXPECT_EQ(Run({"history"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("history takes CHANNEL, got 0 argument(s)"));
  EXPECT_EQ(Run({"history", "a", "b"}), kExitUsage);
  EXPECT_EQ(Run({"history", "news", "--since_offset=5"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--since_offset and --since_epoch must be given together"));
  EXPECT_EQ(Run({"history", "news", "--since_epoch=ep1"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--since_offset and --since_epoch must be given together"));
  EXPECT_EQ(Run({"history", "news", "--since_offset=5", "--since_epoch="}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--since_epoch must not be empty"));
  for (const char* offset : {"-1", "abc", "", " 5", "+5", "18446744073709551616"}) {
    EXPECT_EQ(
        Run({"history", "news", std::string("--since_offset=") + offset, "--since_epoch=ep1"}),
        kExitUsage)
        << offset;
    EXPECT_THAT(err(), HasSubstr("--since_offset must be an unsigned 64-bit integer"));
  }
  EXPECT_EQ(Run({"history", "news", "--limit=-2"}), kExitUsage);
  EXPECT_EQ(Run({"history", "news", "--limit=ten"}), kExitUsage);
  EXPECT_EQ(Run({"history", "news", "--limit=2147483648"}), kExitUsage);
  EXPECT_EQ(Run({"history", "news", "--reverse=maybe"}), kExitUsage);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
  EXPECT_TRUE(control_.histories.empty());
}

TEST_F(CliTest, HistoryRpcFailureIsReported) {
  control_.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "namespace has no history");
  EXPECT_EQ(Run({"history", "news"}), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(err(), "error: FAILED_PRECONDITION: namespace has no history\n");
  EXPECT_EQ(Run({"history", "news", "--json"}), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
}

// --- history-remove -------------------------------------------------------

TEST_F(CliTest, HistoryRemovePrintsOk) {
  EXPECT_EQ(Run({"--control=h:1", "history-remove", "news"}), kExitOk);
  EXPECT_EQ(out(), "ok\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.history_removes.size(), 1u);
  EXPECT_EQ(control_.history_removes[0].channel(), "news");
  ASSERT_EQ(connections_.size(), 1u);
  EXPECT_EQ(connections_[0].target, "h:1");
}

TEST_F(CliTest, HistoryRemoveUsageAndRpcErrors) {
  EXPECT_EQ(Run({"history-remove"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("history-remove takes CHANNEL, got 0 argument(s)"));
  EXPECT_EQ(Run({"history-remove", "a", "b"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());

  control_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad channel name");
  EXPECT_EQ(Run({"history-remove", "bad channel"}), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(err(), "error: INVALID_ARGUMENT: bad channel name\n");
}

// --- publish-stream -------------------------------------------------------

TEST(ParsePublishStreamLineTest, ChannelThenSpaceOrTabThenTheRestOfTheLine) {
  PublishStreamLine parsed = ParsePublishStreamLine(R"(news {"text": "a b"})");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.channel, "news");
  EXPECT_EQ(parsed.data, R"({"text": "a b"})");

  parsed = ParsePublishStreamLine("chat:room#1\t[1,\t2] ");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.channel, "chat:room#1");
  EXPECT_EQ(parsed.data, "[1,\t2] ");

  // Only the first separator splits; the rest belongs to the JSON.
  parsed = ParsePublishStreamLine("news  \t{}");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.channel, "news");
  EXPECT_EQ(parsed.data, " \t{}");

  // CRLF input.
  parsed = ParsePublishStreamLine("news 1\r");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.data, "1");

  // The JSON is not checked here.
  parsed = ParsePublishStreamLine("news not json");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.data, "not json");
}

TEST(ParsePublishStreamLineTest, BlankLines) {
  for (const char* line : {"", " ", "\t \t", "\r", "  \r"}) {
    EXPECT_EQ(ParsePublishStreamLine(line).kind, PublishStreamLine::Kind::kBlank)
        << "'" << line << "'";
  }
}

TEST(ParsePublishStreamLineTest, MalformedLines) {
  for (const char* line : {"news", "{}", "news ", "news\t \r", " news {}", "\tnews {}", "news\r"}) {
    PublishStreamLine parsed = ParsePublishStreamLine(line);
    EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kMalformed) << "'" << line << "'";
    EXPECT_THAT(parsed.channel, IsEmpty());
    EXPECT_THAT(parsed.data, IsEmpty());
  }
}

v1::PublishStreamResponse StreamError(const v1::PublishStreamRequest& request,
                                      grpc::StatusCode code, const std::string& message) {
  v1::PublishStreamResponse response;
  response.set_request_id(request.request_id());
  response.set_error_code(code);
  response.set_error_message(message);
  return response;
}

TEST_F(CliTest, PublishStreamSendsEachLineAndPrintsEachAnswer) {
  EXPECT_EQ(Run({"--timeout=1", "publish-stream"},
                "news {\"text\":\"hi there\"}\n\n   \nchat\t[1, 2]\r\nnews 3"),
            kExitOk);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n2 offset=20 epoch=e\n3 offset=30 epoch=e\n");
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_EQ(control_.streams, 1);
  ASSERT_EQ(control_.stream_requests.size(), 3u);
  EXPECT_EQ(control_.stream_requests[0].channel(), "news");
  EXPECT_EQ(control_.stream_requests[0].data(), R"({"text":"hi there"})");
  EXPECT_EQ(control_.stream_requests[0].request_id(), 1u);
  EXPECT_EQ(control_.stream_requests[0].idempotency_key(), "");
  EXPECT_EQ(control_.stream_requests[1].channel(), "chat");
  EXPECT_EQ(control_.stream_requests[1].data(), "[1, 2]");
  EXPECT_EQ(control_.stream_requests[1].request_id(), 2u);
  EXPECT_EQ(control_.stream_requests[2].data(), "3");
  EXPECT_EQ(control_.stream_requests[2].request_id(), 3u);
  ASSERT_EQ(connections_.size(), 1u);
}

TEST_F(CliTest, PublishStreamPrintsEachAnswerBeforeReadingOn) {
  std::vector<std::string> seen;
  control_.answer = [this, &seen](const v1::PublishStreamRequest& request) {
    seen.push_back(out());
    v1::PublishStreamResponse response;
    response.set_request_id(request.request_id());
    response.set_offset(request.request_id());
    response.set_epoch("e");
    return response;
  };
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitOk);
  EXPECT_THAT(seen, ElementsAre("", "1 offset=1 epoch=e\n"));
}

TEST_F(CliTest, PublishStreamAnswersAfterEndOfInput) {
  control_.answer_after_input = true;
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitOk);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n2 offset=20 epoch=e\n");
}

TEST_F(CliTest, PublishStreamEmptyInputSendsNothing) {
  EXPECT_EQ(Run({"publish-stream"}, "\n\n"), kExitOk);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_EQ(control_.streams, 1);
  EXPECT_TRUE(control_.stream_requests.empty());
}

TEST_F(CliTest, PublishStreamFailedItemExitsOne) {
  control_.answer = [](const v1::PublishStreamRequest& request) {
    if (request.channel() == "bad!") {
      return StreamError(request, grpc::StatusCode::INVALID_ARGUMENT, "invalid channel name");
    }
    v1::PublishStreamResponse response;
    response.set_request_id(request.request_id());
    response.set_offset(5);
    response.set_epoch("e");
    return response;
  };
  EXPECT_EQ(Run({"publish-stream"}, "bad! {}\nnews {}\n"), kExitFailure);
  EXPECT_EQ(out(), "1 error=INVALID_ARGUMENT invalid channel name\n2 offset=5 epoch=e\n");
  EXPECT_THAT(err(), IsEmpty());

  control_.answer = [](const v1::PublishStreamRequest& request) {
    return StreamError(request, grpc::StatusCode::RESOURCE_EXHAUSTED, "");
  };
  EXPECT_EQ(Run({"publish-stream"}, "news {}\n"), kExitFailure);
  EXPECT_EQ(out(), "1 error=RESOURCE_EXHAUSTED\n");
}

TEST_F(CliTest, PublishStreamMalformedLinesAreReportedAndNotSent) {
  EXPECT_EQ(Run({"publish-stream"}, "a 1\n\nnojson\n b 2\nc 3\n"), kExitFailure);
  EXPECT_EQ(err(), "line 2: expected CHANNEL JSON\nline 3: expected CHANNEL JSON\n");
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n4 offset=40 epoch=e\n");
  ASSERT_EQ(control_.stream_requests.size(), 2u);
  EXPECT_EQ(control_.stream_requests[0].request_id(), 1u);
  EXPECT_EQ(control_.stream_requests[1].request_id(), 4u);
  EXPECT_EQ(control_.stream_requests[1].channel(), "c");
}

TEST_F(CliTest, PublishStreamFailureIsReported) {
  control_.stream_status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect");
  EXPECT_EQ(Run({"publish-stream"}, "a 1\n"), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: failed to connect\n");
}

TEST_F(CliTest, PublishStreamWithMissingAnswersFails) {
  control_.drop_answers = 1;
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitFailure);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n");
  EXPECT_EQ(err(), "error: server answered 1 of 2 publication(s)\n");
}

TEST_F(CliTest, PublishStreamTakesNoArguments) {
  EXPECT_EQ(Run({"publish-stream", "news", "{}"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("unexpected argument 'news'"));
  EXPECT_TRUE(connections_.empty());
  EXPECT_EQ(control_.streams, 0);
}

// --- token ----------------------------------------------------------------

TEST_F(CliTest, TokenNeedsUser) {
  EXPECT_EQ(Run({"token"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--user"));
  EXPECT_EQ(Run({"token", "--user="}), kExitUsage);
}

TEST_F(CliTest, TokenRejectsBadTtlAndPositionals) {
  std::string path = WriteSecretFile("ttl_secret", "s3cret");
  EXPECT_EQ(Run({"token", "--user=a", "--ttl=0", "--token_hmac_secret_file=" + path}), kExitUsage);
  EXPECT_EQ(Run({"token", "--user=a", "--ttl=soon", "--token_hmac_secret_file=" + path}),
            kExitUsage);
  EXPECT_EQ(Run({"token", "--user=a", "alice", "--token_hmac_secret_file=" + path}), kExitUsage);
  EXPECT_THAT(out(), IsEmpty());
}

TEST_F(CliTest, TokenWithMissingSecretFileFails) {
  EXPECT_EQ(Run({"token", "--user=alice",
                 "--token_hmac_secret_file=" + ::testing::TempDir() + "/does/not/exist"}),
            kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_THAT(err(), StartsWith("error: "));
}

TEST_F(CliTest, TokenIsVerifiableWithTheSecret) {
  std::string path = WriteSecretFile("token_secret", "dev-secret-0123456789\n");
  EXPECT_EQ(Run({"token", "--user=alice", "--ttl=600", "--token_hmac_secret_file=" + path}),
            kExitOk);
  EXPECT_TRUE(connections_.empty());
  std::string token = out();
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(token.back(), '\n');
  token.pop_back();

  // LoadTokenSecret strips the one trailing newline of the file.
  JwtVerifier verifier("dev-secret-0123456789");
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, now_ + absl::Seconds(1));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->expires_at, now_ + absl::Seconds(600));

  EXPECT_EQ(verifier.Verify(token, now_ + absl::Seconds(601)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(JwtVerifier("other-secret").Verify(token, now_).ok());
}

TEST_F(CliTest, TokenDefaultTtlIsOneHourAndSecretMayComeFromEnvironment) {
  ASSERT_EQ(setenv("WIREHUB_TOKEN_HMAC_SECRET", "env-secret", 1), 0);
  int code = Run({"token", "--user=bob"});
  unsetenv("WIREHUB_TOKEN_HMAC_SECRET");
  ASSERT_EQ(code, kExitOk) << err();
  std::string token = out();
  token.pop_back();
  absl::StatusOr<TokenClaims> claims = JwtVerifier("env-secret").Verify(token, now_);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "bob");
  EXPECT_EQ(claims->expires_at, now_ + absl::Hours(1));
}

TEST_F(CliTest, TokenAcceptsGlobalFlags) {
  std::string path = WriteSecretFile("global_secret", "s");
  EXPECT_EQ(Run({"--control=h:1", "token", "--user=u", "--token_hmac_secret_file", path}), kExitOk);
  EXPECT_TRUE(connections_.empty());
}

// --- --tenant on the publishing and history subcommands ---------------------

TEST_F(CliTest, TenantIsSentWithPublishBroadcastStreamAndHistory) {
  control_.broadcast_response.add_results()->set_channel("a");
  control_.broadcast_response.add_results()->set_channel("b");
  EXPECT_EQ(Run({"publish", "news", "{}", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(Run({"broadcast", "a", "b", "{}", "--tenant", "acme"}), kExitOk);
  EXPECT_EQ(Run({"publish-stream", "--tenant=acme"}, "a 1\nb 2\n"), kExitOk);
  EXPECT_EQ(Run({"history", "news", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(Run({"history-remove", "news", "--tenant=acme"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].tenant(), "acme");
  ASSERT_EQ(control_.broadcasts.size(), 1u);
  EXPECT_EQ(control_.broadcasts[0].tenant(), "acme");
  ASSERT_EQ(control_.stream_requests.size(), 2u);
  EXPECT_EQ(control_.stream_requests[0].tenant(), "acme");
  EXPECT_EQ(control_.stream_requests[1].tenant(), "acme");
  ASSERT_EQ(control_.histories.size(), 1u);
  EXPECT_EQ(control_.histories[0].tenant(), "acme");
  ASSERT_EQ(control_.history_removes.size(), 1u);
  EXPECT_EQ(control_.history_removes[0].tenant(), "acme");
}

TEST_F(CliTest, NoTenantMeansTheDefaultSpace) {
  EXPECT_EQ(Run({"publish", "news", "{}"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].tenant(), "");
  EXPECT_EQ(Run({"stats", "--tenant=acme"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--tenant does not apply to 'stats'"));
}

TEST_F(CliTest, NewSubcommandsHaveHelp) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"presence",
       {"presence CHANNEL", "--page_size=N", "--page_token=TOKEN", "--all", "--json", "--tenant=T",
        "--control"}},
      {"presence-stats", {"presence-stats CHANNEL", "clients=N users=M", "--tenant=T"}},
      {"subscribe", {"--user=U", "--client=C", "CHANNEL", "connections=N [edges_missing=M]"}},
      {"unsubscribe", {"--user=U", "--client=C", "CHANNEL", "2000"}},
      {"disconnect", {"--code=N", "--reason=TEXT", "--reconnect", "3000-4999"}},
      {"refresh", {"--expire_at=UNIX_SECONDS", "--ttl=DURATION", "--expired"}},
      {"connections", {"--user=U", "--channel=C", "--all", "--json", "EXPIRES"}},
      {"channels", {"--prefix=P", "--all", "--json", "SUBSCRIBERS"}},
      {"info", {"--json", "RSS", "UPTIME"}},
      {"token",
       {"--tenant=T", "--info=JSON", "--channels=A,B,...", "--channel=C", "--audience=AUD",
        "--issuer=ISS", "subscription token"}},
      {"tail",
       {"tail CHANNEL", "--url=", "ws://127.0.0.1:8000/connection/websocket",
        "Only ws:// is supported", "--token=JWT", "--user=ID", "--sub_token=JWT", "--count=N",
        "--timeout=DURATION", "--offsets", "--recover", "--epoch=E", "--offset=N",
        "closed: CODE reason", "error: subscribe: CODE message"}},
  };
  for (const auto& [subcommand, snippets] : expected) {
    EXPECT_EQ(Run({subcommand, "--help"}), kExitOk) << subcommand;
    for (const std::string& snippet : snippets) {
      EXPECT_THAT(out(), HasSubstr(snippet)) << subcommand;
    }
    EXPECT_THAT(err(), IsEmpty());
  }
  EXPECT_TRUE(connections_.empty());
  ASSERT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("\n  presence-stats  Count the clients"),
                           HasSubstr("\n  tail            Follow a channel"),
                           HasSubstr("\n  info            Describe control")));
}

// --- presence ---------------------------------------------------------------

v1::ClientInfo Client(const std::string& client, const std::string& user,
                      const std::string& conn_info = "", const std::string& chan_info = "") {
  v1::ClientInfo info;
  info.set_client(client);
  info.set_user(user);
  info.set_conn_info(conn_info);
  info.set_chan_info(chan_info);
  return info;
}

TEST_F(CliTest, PresencePrintsATable) {
  v1::PresenceResponse page;
  *page.add_clients() = Client("c1", "alice", R"({"name":"Alice"})", R"({"role":"admin"})");
  *page.add_clients() = Client("c22", "", "", "");
  control_.presence_pages = {page};
  EXPECT_EQ(Run({"presence", "chat:1", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(out(),
            "CLIENT  USER   CONN_INFO         CHAN_INFO\n"
            "c1      alice  {\"name\":\"Alice\"}  {\"role\":\"admin\"}\n"
            "c22     -      -                 -\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.presences.size(), 1u);
  EXPECT_EQ(control_.presences[0].channel(), "chat:1");
  EXPECT_EQ(control_.presences[0].tenant(), "acme");
  EXPECT_EQ(control_.presences[0].page_size(), 0);
  EXPECT_EQ(control_.presences[0].page_token(), "");
}

TEST_F(CliTest, PresenceEmptyAndNextPage) {
  v1::PresenceResponse page;
  page.set_next_page_token("tok2");
  control_.presence_pages = {page};
  EXPECT_EQ(Run({"presence", "chat:1", "--page_size=2", "--page_token=tok1"}), kExitOk);
  EXPECT_EQ(out(), "(none)\nnext page: --page_token=tok2\n");
  ASSERT_EQ(control_.presences.size(), 1u);
  EXPECT_EQ(control_.presences[0].page_size(), 2);
  EXPECT_EQ(control_.presences[0].page_token(), "tok1");
}

TEST_F(CliTest, PresenceAllFollowsThePages) {
  v1::PresenceResponse first;
  *first.add_clients() = Client("c1", "u1");
  first.set_next_page_token("p2");
  v1::PresenceResponse second;
  *second.add_clients() = Client("c2", "u2");
  second.set_next_page_token("p3");
  v1::PresenceResponse last;
  *last.add_clients() = Client("c3", "u3");
  control_.presence_pages = {first, second, last};
  EXPECT_EQ(Run({"presence", "chat:1", "--all", "--page_size=1"}), kExitOk);
  EXPECT_EQ(out(),
            "CLIENT  USER  CONN_INFO  CHAN_INFO\n"
            "c1      u1    -          -\n"
            "c2      u2    -          -\n"
            "c3      u3    -          -\n");
  ASSERT_EQ(control_.presences.size(), 3u);
  EXPECT_EQ(control_.presences[0].page_token(), "");
  EXPECT_EQ(control_.presences[1].page_token(), "p2");
  EXPECT_EQ(control_.presences[2].page_token(), "p3");
  for (const v1::PresenceRequest& request : control_.presences) {
    EXPECT_EQ(request.page_size(), 1);
    EXPECT_EQ(request.channel(), "chat:1");
  }
}

TEST_F(CliTest, PresenceAllStopsOnARepeatedPageToken) {
  v1::PresenceResponse page;
  *page.add_clients() = Client("c1", "u1");
  page.set_next_page_token("again");
  control_.presence_pages = {page};  // Every call answers the same page.
  EXPECT_EQ(Run({"presence", "chat:1", "--all"}), kExitFailure);
  EXPECT_EQ(err(), "error: the server returned page token 'again' twice\n");
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(control_.presences.size(), 2u);
}

TEST_F(CliTest, PresenceJsonUsesTheProtobufMapping) {
  v1::PresenceResponse page;
  *page.add_clients() = Client("c1", "alice", R"({"a":1})");
  page.set_next_page_token("n");
  control_.presence_pages = {page};
  EXPECT_EQ(Run({"presence", "chat:1", "--json"}), kExitOk);
  v1::PresenceResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  ASSERT_EQ(parsed.clients_size(), 1);
  EXPECT_EQ(parsed.clients(0).client(), "c1");
  EXPECT_EQ(parsed.clients(0).conn_info(), R"({"a":1})");
  EXPECT_EQ(parsed.next_page_token(), "n");
  EXPECT_THAT(out(), HasSubstr("\"next_page_token\":\"n\""));
}

TEST_F(CliTest, PresenceUsageAndRpcErrors) {
  EXPECT_EQ(Run({"presence"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("presence takes CHANNEL, got 0 argument(s)"));
  EXPECT_EQ(Run({"presence", "a", "b"}), kExitUsage);
  EXPECT_EQ(Run({"presence", "a", "--page_size=0"}), kExitUsage);
  EXPECT_EQ(Run({"presence", "a", "--page_size=x"}), kExitUsage);
  EXPECT_EQ(Run({"presence", "a", "--all=maybe"}), kExitUsage);
  EXPECT_EQ(Run({"presence", "a", "--user=u"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());

  control_.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no presence");
  EXPECT_EQ(Run({"presence", "a"}), kExitFailure);
  EXPECT_EQ(err(), "error: FAILED_PRECONDITION: no presence\n");
  EXPECT_THAT(out(), IsEmpty());
}

// --- presence-stats ---------------------------------------------------------

TEST_F(CliTest, PresenceStatsPrintsCounts) {
  control_.presence_stats_response.set_num_clients(5);
  control_.presence_stats_response.set_num_users(3);
  EXPECT_EQ(Run({"presence-stats", "chat:1", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(out(), "clients=5 users=3\n");
  ASSERT_EQ(control_.presence_stats.size(), 1u);
  EXPECT_EQ(control_.presence_stats[0].channel(), "chat:1");
  EXPECT_EQ(control_.presence_stats[0].tenant(), "acme");

  EXPECT_EQ(Run({"presence-stats"}), kExitUsage);
  EXPECT_EQ(Run({"presence-stats", "a", "--json"}), kExitUsage);
  control_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad channel");
  EXPECT_EQ(Run({"presence-stats", "a b"}), kExitFailure);
  EXPECT_EQ(err(), "error: INVALID_ARGUMENT: bad channel\n");
}

// --- subscribe / unsubscribe ------------------------------------------------

TEST_F(CliTest, SubscribeByUserOrClient) {
  control_.subscribe_response.set_connections(3);
  EXPECT_EQ(Run({"subscribe", "--user=alice", "news", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(out(), "connections=3\n");
  control_.subscribe_response.set_edges_missing(1);
  EXPECT_EQ(Run({"subscribe", "--client=c1", "news"}), kExitOk);
  EXPECT_EQ(out(), "connections=3 edges_missing=1\n");
  ASSERT_EQ(control_.subscribes.size(), 2u);
  EXPECT_EQ(control_.subscribes[0].user(), "alice");
  EXPECT_EQ(control_.subscribes[0].client(), "");
  EXPECT_EQ(control_.subscribes[0].channel(), "news");
  EXPECT_EQ(control_.subscribes[0].tenant(), "acme");
  EXPECT_EQ(control_.subscribes[1].user(), "");
  EXPECT_EQ(control_.subscribes[1].client(), "c1");
}

TEST_F(CliTest, UnsubscribeByUserAndClient) {
  control_.unsubscribe_response.set_connections(1);
  EXPECT_EQ(Run({"unsubscribe", "--user=alice", "--client=c1", "news"}), kExitOk);
  EXPECT_EQ(out(), "connections=1\n");
  ASSERT_EQ(control_.unsubscribes.size(), 1u);
  EXPECT_EQ(control_.unsubscribes[0].user(), "alice");
  EXPECT_EQ(control_.unsubscribes[0].client(), "c1");
  EXPECT_EQ(control_.unsubscribes[0].channel(), "news");
  EXPECT_TRUE(control_.subscribes.empty());
}

TEST_F(CliTest, SubscribeUsageAndRpcErrors) {
  for (const char* subcommand : {"subscribe", "unsubscribe"}) {
    EXPECT_EQ(Run({subcommand, "news"}), kExitUsage) << subcommand;
    EXPECT_THAT(err(), HasSubstr(std::string(subcommand) + " needs --user=U or --client=C"));
    EXPECT_EQ(Run({subcommand, "--user=alice"}), kExitUsage);
    EXPECT_THAT(err(), HasSubstr("takes CHANNEL, got 0 argument(s)"));
    EXPECT_EQ(Run({subcommand, "--user=", "news"}), kExitUsage);
    EXPECT_THAT(err(), HasSubstr("--user is empty"));
    EXPECT_EQ(Run({subcommand, "--client=", "news"}), kExitUsage);
    EXPECT_EQ(Run({subcommand, "--user=a", "news", "more"}), kExitUsage);
    EXPECT_EQ(Run({subcommand, "--user=a", "news", "--reason=x"}), kExitUsage);
  }
  EXPECT_TRUE(connections_.empty());
  control_.status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no such client");
  EXPECT_EQ(Run({"subscribe", "--client=zz", "news"}), kExitFailure);
  EXPECT_EQ(err(), "error: NOT_FOUND: no such client\n");
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(Run({"unsubscribe", "--client=zz", "news"}), kExitFailure);
  EXPECT_EQ(err(), "error: NOT_FOUND: no such client\n");
}

// --- disconnect -------------------------------------------------------------

TEST_F(CliTest, DisconnectSendsCodeReasonAndReconnect) {
  control_.disconnect_response.set_connections(2);
  control_.disconnect_response.set_edges_missing(2);
  EXPECT_EQ(Run({"disconnect", "--user=alice", "--tenant=acme", "--code=4000",
                 "--reason=maintenance", "--reconnect"}),
            kExitOk);
  EXPECT_EQ(out(), "connections=2 edges_missing=2\n");
  EXPECT_EQ(Run({"disconnect", "--client=c9"}), kExitOk);
  ASSERT_EQ(control_.disconnects.size(), 2u);
  const v1::DisconnectRequest& first = control_.disconnects[0];
  EXPECT_EQ(first.user(), "alice");
  EXPECT_EQ(first.tenant(), "acme");
  EXPECT_EQ(first.code(), 4000u);
  EXPECT_EQ(first.reason(), "maintenance");
  EXPECT_TRUE(first.reconnect());
  const v1::DisconnectRequest& second = control_.disconnects[1];
  EXPECT_EQ(second.client(), "c9");
  EXPECT_EQ(second.code(), 0u);
  EXPECT_EQ(second.reason(), "");
  EXPECT_FALSE(second.reconnect());
}

TEST_F(CliTest, DisconnectUsageErrors) {
  EXPECT_EQ(Run({"disconnect"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("disconnect needs --user=U or --client=C"));
  EXPECT_EQ(Run({"disconnect", "alice"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("unexpected argument 'alice'"));
  EXPECT_EQ(Run({"disconnect", "--user=a", "--code=2999"}), kExitUsage);
  EXPECT_EQ(Run({"disconnect", "--user=a", "--code=5000"}), kExitUsage);
  EXPECT_EQ(Run({"disconnect", "--user=a", "--code=abc"}), kExitUsage);
  EXPECT_EQ(Run({"disconnect", "--user=a", "--reason=" + std::string(101, 'r')}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--reason is 101 bytes; at most 100"));
  EXPECT_EQ(Run({"disconnect", "--user=a", "--reconnect=perhaps"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
  EXPECT_EQ(Run({"disconnect", "--user=a", "--code=3000", "--reason=" + std::string(100, 'r')}),
            kExitOk);
}

TEST_F(CliTest, DisconnectRpcError) {
  control_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad code");
  EXPECT_EQ(Run({"disconnect", "--user=a"}), kExitFailure);
  EXPECT_EQ(err(), "error: INVALID_ARGUMENT: bad code\n");
  EXPECT_THAT(out(), IsEmpty());
}

// --- refresh ----------------------------------------------------------------

TEST_F(CliTest, RefreshWithExpireAtTtlOrExpired) {
  control_.refresh_response.set_connections(4);
  EXPECT_EQ(Run({"refresh", "--user=alice", "--tenant=acme", "--expire_at=1800000000"}), kExitOk);
  EXPECT_EQ(out(), "connections=4\n");
  EXPECT_EQ(Run({"refresh", "--user=alice", "--expire_at=0"}), kExitOk);
  EXPECT_EQ(Run({"refresh", "--client=c1", "--ttl=90s"}), kExitOk);
  EXPECT_EQ(Run({"refresh", "--client=c1", "--ttl=2h"}), kExitOk);
  EXPECT_EQ(Run({"refresh", "--client=c1", "--ttl=1.5"}), kExitOk);
  EXPECT_EQ(Run({"refresh", "--user=alice", "--expired"}), kExitOk);
  ASSERT_EQ(control_.refreshes.size(), 6u);
  EXPECT_EQ(control_.refreshes[0].user(), "alice");
  EXPECT_EQ(control_.refreshes[0].tenant(), "acme");
  EXPECT_EQ(control_.refreshes[0].expire_at_unix(), 1800000000);
  EXPECT_FALSE(control_.refreshes[0].expired());
  EXPECT_EQ(control_.refreshes[1].expire_at_unix(), 0);
  EXPECT_EQ(control_.refreshes[2].client(), "c1");
  EXPECT_EQ(control_.refreshes[2].expire_at_unix(), 1700000090);
  EXPECT_EQ(control_.refreshes[3].expire_at_unix(), 1700007200);
  // Rounded up to whole seconds.
  EXPECT_EQ(control_.refreshes[4].expire_at_unix(), 1700000002);
  EXPECT_TRUE(control_.refreshes[5].expired());
  EXPECT_EQ(control_.refreshes[5].expire_at_unix(), 0);
}

TEST_F(CliTest, RefreshNeedsExactlyOneExpiry) {
  EXPECT_EQ(Run({"refresh", "--user=a"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("exactly one of --expire_at, --ttl and --expired"));
  EXPECT_EQ(Run({"refresh", "--user=a", "--expired=false"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--user=a", "--expired", "--ttl=1m"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--user=a", "--expire_at=5", "--ttl=1m"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--ttl=1m"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("refresh needs --user=U or --client=C"));
  for (const char* ttl :
       {"--ttl=0", "--ttl=-5s", "--ttl=soon", "--ttl=inf", "--ttl=nan", "--ttl=", "--ttl=99999y"}) {
    EXPECT_EQ(Run({"refresh", "--user=a", ttl}), kExitUsage) << ttl;
  }
  EXPECT_THAT(err(), HasSubstr("--ttl must be a positive number of seconds or a duration"));
  EXPECT_EQ(Run({"refresh", "--user=a", "--expire_at=-1"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--user=a", "--expire_at=tomorrow"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--user=a", "--expired", "extra"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, RefreshRpcError) {
  control_.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "control is down");
  EXPECT_EQ(Run({"refresh", "--user=a", "--expired"}), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: control is down\n");
}

// --- connections ------------------------------------------------------------

v1::ConnectionInfo Connection(const std::string& client, const std::string& user,
                              std::vector<std::string> channels, int64_t expires_ms) {
  v1::ConnectionInfo info;
  info.set_client(client);
  info.set_user(user);
  info.set_edge_id("edge-1");
  info.set_connected_at_unix_ms(1700000000000);
  info.set_expires_at_unix_ms(expires_ms);
  for (const std::string& channel : channels) info.add_channels(channel);
  return info;
}

TEST_F(CliTest, ConnectionsPrintsATable) {
  v1::ConnectionsResponse page;
  *page.add_connections() = Connection("c1", "alice", {"news", "chat:1"}, 1700003600000);
  v1::ConnectionInfo anonymous = Connection("c2", "", {}, 0);
  anonymous.set_conn_info("{\n\"device\": \"phone\"}");
  *page.add_connections() = anonymous;
  control_.connections_pages = {page};
  EXPECT_EQ(Run({"connections", "--tenant=acme", "--user=alice", "--channel=news"}), kExitOk);
  EXPECT_EQ(out(),
            "CLIENT  USER   EDGE    CONNECTED             EXPIRES               CHANNELS     "
            "INFO\n"
            "c1      alice  edge-1  2023-11-14T22:13:20Z  2023-11-14T23:13:20Z  news,chat:1  -\n"
            "c2      -      edge-1  2023-11-14T22:13:20Z  never                 -            "
            "{ \"device\": \"phone\"}\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.connection_lists.size(), 1u);
  EXPECT_EQ(control_.connection_lists[0].tenant(), "acme");
  EXPECT_EQ(control_.connection_lists[0].user(), "alice");
  EXPECT_EQ(control_.connection_lists[0].channel(), "news");
}

TEST_F(CliTest, ConnectionsAllMergesPagesAndWarnsAboutMissingEdges) {
  v1::ConnectionsResponse first;
  *first.add_connections() = Connection("c1", "u", {}, 0);
  first.set_next_page_token("p2");
  first.set_edges_missing(2);
  v1::ConnectionsResponse second;
  *second.add_connections() = Connection("c2", "u", {}, 0);
  second.set_edges_missing(1);
  control_.connections_pages = {first, second};
  EXPECT_EQ(Run({"connections", "--all", "--json"}), kExitOk);
  v1::ConnectionsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  ASSERT_EQ(parsed.connections_size(), 2);
  EXPECT_EQ(parsed.connections(0).client(), "c1");
  EXPECT_EQ(parsed.connections(1).client(), "c2");
  EXPECT_EQ(parsed.next_page_token(), "");
  EXPECT_EQ(parsed.edges_missing(), 2u);
  EXPECT_EQ(err(), "warning: 2 edge(s) did not answer in time; the list may be incomplete\n");
  ASSERT_EQ(control_.connection_lists.size(), 2u);
  EXPECT_EQ(control_.connection_lists[1].page_token(), "p2");
}

TEST_F(CliTest, ConnectionsUsageAndRpcErrors) {
  EXPECT_EQ(Run({"connections", "alice"}), kExitUsage);
  EXPECT_EQ(Run({"connections", "--page_size=-1"}), kExitUsage);
  EXPECT_EQ(Run({"connections", "--client=c1"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
  control_.status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "too slow");
  EXPECT_EQ(Run({"connections"}), kExitFailure);
  EXPECT_EQ(err(), "error: DEADLINE_EXCEEDED: too slow\n");
  EXPECT_THAT(out(), IsEmpty());
}

// --- channels ---------------------------------------------------------------

TEST_F(CliTest, ChannelsPrintsNamesAndCounts) {
  v1::ChannelsResponse page;
  v1::ChannelSubscribers* news = page.add_channels();
  news->set_channel("news");
  news->set_subscribers(12);
  v1::ChannelSubscribers* chat = page.add_channels();
  chat->set_channel("news:sport");
  chat->set_subscribers(3);
  page.set_next_page_token("more");
  control_.channels_pages = {page};
  EXPECT_EQ(Run({"channels", "--prefix=news", "--tenant=acme", "--page_size=2"}), kExitOk);
  EXPECT_EQ(out(),
            "CHANNEL     SUBSCRIBERS\n"
            "news        12\n"
            "news:sport  3\n"
            "next page: --page_token=more\n");
  ASSERT_EQ(control_.channel_lists.size(), 1u);
  EXPECT_EQ(control_.channel_lists[0].prefix(), "news");
  EXPECT_EQ(control_.channel_lists[0].tenant(), "acme");
  EXPECT_EQ(control_.channel_lists[0].page_size(), 2);
}

TEST_F(CliTest, ChannelsEmptyAllAndJson) {
  EXPECT_EQ(Run({"channels", "--all"}), kExitOk);
  EXPECT_EQ(out(), "(none)\n");
  v1::ChannelsResponse page;
  page.add_channels()->set_channel("a");
  control_.channels_pages = {page};
  EXPECT_EQ(Run({"channels", "--json"}), kExitOk);
  v1::ChannelsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  ASSERT_EQ(parsed.channels_size(), 1);
  EXPECT_EQ(parsed.channels(0).channel(), "a");
  EXPECT_THAT(out(), HasSubstr("\"subscribers\":\"0\""));  // uint64 as a string.

  EXPECT_EQ(Run({"channels", "x"}), kExitUsage);
  control_.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  EXPECT_EQ(Run({"channels"}), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: down\n");
}

// --- info -------------------------------------------------------------------

TEST_F(CliTest, InfoPrintsControlThenEdges) {
  v1::NodeInfo* control = control_.info_response.mutable_control();
  control->set_id("control");
  control->set_kind("control");
  control->set_version("0.1.0");
  control->set_uptime_seconds(3725);
  control->set_connections(1);
  control->set_subscriptions(40);
  control->set_rss_bytes(52428800);
  control->set_address("127.0.0.1:7100");
  v1::NodeInfo* edge = control_.info_response.add_edges();
  edge->set_id("edge-1");
  edge->set_kind("edge");
  edge->set_version("0.1.0");
  edge->set_uptime_seconds(59);
  edge->set_connections(1000);
  edge->set_subscriptions(2500);
  edge->set_rss_bytes(900);
  control_.info_response.set_edges_missing(1);
  EXPECT_EQ(Run({"info"}), kExitOk);
  EXPECT_EQ(out(),
            "ID       KIND     VERSION  UPTIME  CONNECTIONS  SUBSCRIPTIONS  RSS       ADDRESS\n"
            "control  control  0.1.0    1h2m5s  1            40             50.0 MiB  "
            "127.0.0.1:7100\n"
            "edge-1   edge     0.1.0    59s     1000         2500           900 B     -\n");
  EXPECT_EQ(err(), "warning: 1 edge(s) did not answer in time; the list may be incomplete\n");
  EXPECT_EQ(control_.infos, 1);

  EXPECT_EQ(Run({"info", "--json"}), kExitOk);
  v1::InfoResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  EXPECT_EQ(parsed.control().id(), "control");
  EXPECT_EQ(parsed.edges_size(), 1);
  EXPECT_EQ(parsed.edges_missing(), 1u);
}

TEST_F(CliTest, InfoUsageAndRpcErrors) {
  EXPECT_EQ(Run({"info", "now"}), kExitUsage);
  EXPECT_EQ(Run({"info", "--all"}), kExitUsage);
  EXPECT_EQ(control_.infos, 0);
  control_.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  EXPECT_EQ(Run({"info"}), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: down\n");
}

// --- token claims -------------------------------------------------------------

TEST_F(CliTest, TokenWithTenantInfoChannelsAudienceAndIssuer) {
  std::string path = WriteSecretFile("claims_secret", "claims-secret");
  ASSERT_EQ(Run({"token", "--user=alice", "--tenant=acme", R"(--info={"name": "Alice"})",
                 "--channels=news,chat:1", "--audience=wirehub", "--issuer=backend",
                 "--token_hmac_secret_file=" + path}),
            kExitOk)
      << err();
  std::string token = out();
  token.pop_back();
  VerifyOptions options;
  options.audience = "wirehub";
  options.issuer = "backend";
  absl::StatusOr<TokenClaims> claims = JwtVerifier("claims-secret").Verify(token, now_, options);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->tenant, "acme");
  EXPECT_EQ(claims->info_json, R"({"name":"Alice"})");
  EXPECT_THAT(claims->channels, ElementsAre("news", "chat:1"));
  EXPECT_EQ(claims->expires_at, now_ + absl::Hours(1));
  // Not a subscription token.
  options.kind = TokenKind::kSubscription;
  EXPECT_FALSE(JwtVerifier("claims-secret").Verify(token, now_, options).ok());
}

TEST_F(CliTest, TokenWithChannelIsASubscriptionToken) {
  std::string path = WriteSecretFile("sub_secret", "sub-secret");
  ASSERT_EQ(Run({"token", "--user=bob", "--channel=chat:1", "--ttl=60", "--info=[1]",
                 "--token_hmac_secret_file=" + path}),
            kExitOk)
      << err();
  std::string token = out();
  token.pop_back();
  VerifyOptions options;
  options.kind = TokenKind::kSubscription;
  absl::StatusOr<TokenClaims> claims = JwtVerifier("sub-secret").Verify(token, now_, options);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "bob");
  EXPECT_EQ(claims->channel, "chat:1");
  EXPECT_EQ(claims->info_json, "[1]");
  EXPECT_EQ(claims->expires_at, now_ + absl::Seconds(60));
  EXPECT_FALSE(JwtVerifier("sub-secret").Verify(token, now_).ok());  // Not a connection token.
}

TEST_F(CliTest, TokenRejectsBadClaims) {
  std::string path = WriteSecretFile("bad_claims_secret", "s");
  const std::string secret = "--token_hmac_secret_file=" + path;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--info={"}, "--info must be one JSON document"},
      {{"--info={} {}"}, "--info must be one JSON document"},
      {{"--info="}, "--info must be one JSON document"},
      {{"--tenant=a|b"}, "--tenant"},
      {{"--tenant="}, "--tenant"},
      {{"--channels=news,,chat"}, "--channels: ''"},
      {{"--channels=news,bad channel"}, "--channels: 'bad channel'"},
      {{"--channel=bad channel"}, "--channel"},
      {{"--channel=a", "--channels=b"}, "--channels is for connection tokens"},
      {{"--audience="}, "--audience is empty"},
      {{"--issuer="}, "--issuer is empty"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> args = {"token", "--user=u", secret};
    args.insert(args.end(), flags.begin(), flags.end());
    EXPECT_EQ(Run(args), kExitUsage) << flags[0];
    EXPECT_THAT(err(), HasSubstr(message)) << flags[0];
    EXPECT_THAT(out(), IsEmpty());
  }
  std::string many = "c0";
  for (int i = 1; i <= 128; ++i) absl::StrAppend(&many, ",c", i);
  EXPECT_EQ(Run({"token", "--user=u", secret, "--channels=" + many}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("at most 128"));
}

// --- tail -------------------------------------------------------------------

TEST_F(CliTest, TailUsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"tail", "--token=t"}, "tail takes CHANNEL, got 0 argument(s)"},
      {{"tail", "a", "b", "--token=t"}, "tail takes CHANNEL, got 2"},
      {{"tail", "bad channel", "--token=t"}, "invalid"},
      {{"tail", "news"}, "either --token=JWT or --user=ID"},
      {{"tail", "news", "--token=t", "--user=u"}, "either --token=JWT or --user=ID"},
      {{"tail", "news", "--token="}, "--token is empty"},
      {{"tail", "news", "--token=t", "--tenant=acme"}, "--tenant only applies with --user"},
      {{"tail", "news", "--user=u", "--tenant=a b"}, "--tenant"},
      {{"tail", "news", "--token=t", "--url=wss://127.0.0.1/"}, "ws:// only"},
      {{"tail", "news", "--token=t", "--url=ws://edge.internal/"}, "names are not resolved"},
      {{"tail", "news", "--token=t", "--count=0"}, "--count"},
      {{"tail", "news", "--token=t", "--timeout=0"}, "--timeout"},
      {{"tail", "news", "--token=t", "--timeout=later"}, "--timeout"},
      {{"tail", "news", "--token=t", "--recover"}, "--recover, --epoch and --offset go together"},
      {{"tail", "news", "--token=t", "--epoch=e", "--offset=1"}, "go together"},
      {{"tail", "news", "--token=t", "--recover", "--offset=1"}, "go together"},
      {{"tail", "news", "--token=t", "--recover", "--epoch=e", "--offset=-1"}, "--offset"},
      {{"tail", "news", "--token=t", "--sub_token="}, "--sub_token is empty"},
      {{"tail", "news", "--token=t", "--json"}, "does not apply to 'tail'"},
  };
  for (const auto& [args, message] : cases) {
    EXPECT_EQ(Run(args), kExitUsage) << args[1] << " " << args.back();
    EXPECT_THAT(err(), HasSubstr(message)) << args[1] << " " << args.back();
  }
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, TailWithMintedTokenPrintsPublications) {
  std::string path = WriteSecretFile("tail_secret", "tail-secret");
  std::string token;
  testing::WsTestServer server([&token](testing::WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    std::string connect = connection.ReadText().value_or("");
    const std::string prefix = R"({"id":1,"connect":{"token":")";
    ASSERT_THAT(connect, StartsWith(prefix));
    token = connect.substr(prefix.size(), connect.find('"', prefix.size()) - prefix.size());
    connection.SendText(R"({"id":1,"connect":{"client":"c1"}})");
    EXPECT_EQ(connection.ReadText().value_or(""),
              R"({"id":2,"subscribe":{"channel":"news","token":"S"}})");
    connection.SendText(R"({"id":2,"subscribe":{}})"
                        "\n"
                        R"({"push":{"channel":"news","pub":{"data":{"a":1},"offset":4}}})");
    connection.SendText(R"({"push":{"channel":"news","pub":{"data":"two","offset":5}}})");
    connection.ReadFrame();  // The client's close.
  });
  EXPECT_EQ(Run({"tail", "news", "--url=" + server.Url(), "--user=alice", "--tenant=acme",
                 "--token_hmac_secret_file=" + path, "--sub_token=S", "--count=2", "--offsets",
                 "--timeout=10s"}),
            kExitOk)
      << err();
  server.Join();
  EXPECT_EQ(out(), "4 {\"a\":1}\n5 \"two\"\n");
  EXPECT_THAT(err(), IsEmpty());
  absl::StatusOr<TokenClaims> claims = JwtVerifier("tail-secret").Verify(token, now_);
  ASSERT_TRUE(claims.ok()) << claims.status() << " token: " << token;
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->tenant, "acme");
  EXPECT_TRUE(connections_.empty());  // No control connection.
}

TEST_F(CliTest, TailReportsSubscribeErrorsAndCloses) {
  {
    testing::WsTestServer server([](testing::WsTestConnection& connection) {
      ASSERT_TRUE(connection.Handshake().has_value());
      connection.ReadText();
      connection.SendText(R"({"id":1,"connect":{}})");
      connection.ReadText();
      connection.SendText(R"({"id":2,"error":{"code":103,"message":"permission denied"}})");
      connection.ReadFrame();
    });
    EXPECT_EQ(Run({"tail", "news", "--url=" + server.Url(), "--token=T"}), kExitFailure);
    EXPECT_EQ(err(), "error: subscribe: 103 permission denied\n");
    EXPECT_THAT(out(), IsEmpty());
  }
  {
    testing::WsTestServer server([](testing::WsTestConnection& connection) {
      ASSERT_TRUE(connection.Handshake().has_value());
      connection.ReadText();
      connection.SendClose(3500, "invalid token");
      connection.ReadFrame();
    });
    EXPECT_EQ(Run({"tail", "news", "--url=" + server.Url(), "--token=T"}), kExitFailure);
    EXPECT_EQ(err(), "closed: 3500 invalid token\n");
  }
}

TEST_F(CliTest, TailWithoutSecretFailsBeforeConnecting) {
  EXPECT_EQ(Run({"tail", "news", "--user=u",
                 "--token_hmac_secret_file=" + ::testing::TempDir() + "/no/such/secret"}),
            kExitFailure);
  EXPECT_THAT(err(), StartsWith("error: "));
}

TEST_F(CliTest, TailConnectionRefused) {
  // A bound socket that does not listen: connecting to its port is refused.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), size), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  const std::string host = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  int code = Run({"tail", "news", "--url=ws://" + host + "/", "--token=T", "--timeout=5s"});
  close(fd);
  EXPECT_EQ(code, kExitFailure);
  EXPECT_THAT(err(), AllOf(StartsWith("error: connect to " + host), HasSubstr("refused")));
}

// --- misc -----------------------------------------------------------------

TEST(GrpcCodeNameTest, KnownAndUnknownCodes) {
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(3), "INVALID_ARGUMENT");
  EXPECT_EQ(GrpcCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(17), "CODE_17");
  EXPECT_EQ(GrpcCodeName(-1), "CODE_-1");
}

}  // namespace
}  // namespace wirehub::ctl
