#include "tools/wirehubctl/cli.h"

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

#include "absl/time/time.h"
#include "common/jwt.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

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
};

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
                               "history-remove, stats or token)"));
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
  EXPECT_THAT(out(), HasSubstr("broadcast JSON CHANNEL..."));

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
  EXPECT_THAT(err(), HasSubstr("--json does not apply to 'publish' (it belongs to 'stats' and "
                               "'history')"));
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
  EXPECT_EQ(Run({"broadcast", "{}"}), kExitUsage);
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
  EXPECT_EQ(Run({"broadcast", R"({"x":1})", "a", "b"}), kExitOk);
  EXPECT_EQ(out(), "a offset=1 epoch=e1\nb offset=9 epoch=e2\n");
  ASSERT_EQ(control_.broadcasts.size(), 1u);
  EXPECT_EQ(control_.broadcasts[0].data(), R"({"x":1})");
  EXPECT_THAT(control_.broadcasts[0].channels(), ::testing::ElementsAre("a", "b"));
}

TEST_F(CliTest, BroadcastPartialFailureExitsOne) {
  *control_.broadcast_response.add_results() = Ok("a", 3, "e1");
  *control_.broadcast_response.add_results() =
      Failed("b!", grpc::StatusCode::INVALID_ARGUMENT, "invalid channel name");
  EXPECT_EQ(Run({"broadcast", "{}", "a", "b!"}), kExitFailure);
  EXPECT_EQ(out(), "a offset=3 epoch=e1\nb! error=INVALID_ARGUMENT invalid channel name\n");
}

TEST_F(CliTest, BroadcastWithMissingResultsFails) {
  *control_.broadcast_response.add_results() = Ok("a", 3, "e1");
  EXPECT_EQ(Run({"broadcast", "{}", "a", "b"}), kExitFailure);
  EXPECT_THAT(err(), HasSubstr("1 result(s) for 2 channel(s)"));
}

TEST_F(CliTest, BroadcastRpcFailure) {
  control_.status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
  EXPECT_EQ(Run({"broadcast", "{}", "a"}), kExitFailure);
  EXPECT_EQ(err(), "error: DEADLINE_EXCEEDED: Deadline Exceeded\n");
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
