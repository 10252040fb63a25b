#include "tools/wirehubctl/cli.h"

#include <cstdlib>
#include <fstream>
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
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

using ::testing::AllOf;
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

  std::vector<v1::PublishRequest> publishes;
  std::vector<v1::BroadcastRequest> broadcasts;
  std::vector<v1::StatsRequest> stats;
};

class FakeClient : public ControlClient {
 public:
  explicit FakeClient(FakeControl* control) : control_(control) {}

  grpc::Status Publish(const v1::PublishRequest& request,
                       v1::PublishResponse* response) override {
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

 private:
  FakeControl* control_;
};

struct Connection {
  std::string target;
  absl::Duration timeout;
};

class CliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliContext context;
    context.out = &out_;
    context.err = &err_;
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
};

// --- help ---------------------------------------------------------------

TEST_F(CliTest, HelpListsSubcommands) {
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("publish"), HasSubstr("broadcast"), HasSubstr("stats"),
                           HasSubstr("token"), HasSubstr("--control")));
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
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
  EXPECT_TRUE(connections_.empty());
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
  EXPECT_THAT(err(), HasSubstr("--top does not apply to 'publish'"));
  EXPECT_EQ(Run({"--user=alice", "stats"}), kExitUsage);
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
  EXPECT_EQ(Run({"--control=h:1", "--timeout=2.5", "--idempotency_key=k1", "publish", "c",
                 "{}"}),
            kExitOk);
  EXPECT_EQ(Run({"publish", "c", "--control=h:2", "{}", "--timeout", "7",
                 "--idempotency_key", "k2"}),
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
  EXPECT_THAT(out(), AllOf(HasSubstr("edge-7f3a"), HasSubstr("2023-11-14T22:13:20Z"),
                           HasSubstr("news"), HasSubstr("publications accepted"),
                           HasSubstr("1100"), Not(StartsWith("{"))));
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
  EXPECT_THAT(json, AllOf(HasSubstr("\"total_connections\""), HasSubstr("\"top_channels\""),
                          HasSubstr("\"slow_edge_detaches\""),
                          HasSubstr("\"connected_since_unix_ms\"")));
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

// --- token ----------------------------------------------------------------

TEST_F(CliTest, TokenNeedsUser) {
  EXPECT_EQ(Run({"token"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--user"));
  EXPECT_EQ(Run({"token", "--user="}), kExitUsage);
}

TEST_F(CliTest, TokenRejectsBadTtlAndPositionals) {
  std::string path = WriteSecretFile("ttl_secret", "s3cret");
  EXPECT_EQ(Run({"token", "--user=a", "--ttl=0", "--token_hmac_secret_file=" + path}),
            kExitUsage);
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
  EXPECT_EQ(Run({"--control=h:1", "token", "--user=u", "--token_hmac_secret_file", path}),
            kExitOk);
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
