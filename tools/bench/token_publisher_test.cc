#include "tools/bench/token_publisher.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tools/bench/bench_payload.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::bench {
namespace {

namespace pb = ::wirehub::control::v1;

// A control that publishes nothing: it records what each channel got, in
// arrival order, and answers like control (a batch: one result per item).
class FakeControl final : public pb::ControlService::Service {
 public:
  explicit FakeControl(bool refuse_batches = false) : refuse_batches_(refuse_batches) {}

  grpc::Status Publish(grpc::ServerContext* context, const pb::PublishRequest* request,
                       pb::PublishResponse* response) override {
    Record(context, request->channel(), request->data());
    absl::MutexLock lock(&mu_);
    ++unary_calls_;
    return grpc::Status::OK;
  }

  grpc::Status PublishStream(grpc::ServerContext* context,
                             grpc::ServerReaderWriter<pb::PublishStreamResponse,
                                                      pb::PublishStreamRequest>* stream) override {
    {
      absl::MutexLock lock(&mu_);
      ++streams_;
    }
    pb::PublishStreamRequest request;
    while (stream->Read(&request)) {
      pb::PublishStreamResponse response;
      if (request.items_size() == 0) {
        Record(context, request.channel(), request.data());
        response.set_request_id(request.request_id());
      } else if (refuse_batches_) {
        response.set_error_code(grpc::StatusCode::INVALID_ARGUMENT);
        response.set_error_message("invalid channel name");
      } else {
        for (const pb::PublishStreamRequest& item : request.items()) {
          Record(context, item.channel(), item.data());
          response.add_results()->set_request_id(item.request_id());
        }
      }
      {
        absl::MutexLock lock(&mu_);
        ++stream_requests_;
        max_batch_ = std::max(max_batch_, request.items_size());
      }
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  std::map<std::string, std::vector<uint64_t>> seqs() {
    absl::MutexLock lock(&mu_);
    return seqs_;
  }
  // The send time of each channel's first token.
  std::map<std::string, int64_t> first_sent() {
    absl::MutexLock lock(&mu_);
    return first_sent_;
  }
  size_t peers() {
    absl::MutexLock lock(&mu_);
    return peers_.size();
  }
  int streams() {
    absl::MutexLock lock(&mu_);
    return streams_;
  }
  int stream_requests() {
    absl::MutexLock lock(&mu_);
    return stream_requests_;
  }
  int max_batch() {
    absl::MutexLock lock(&mu_);
    return max_batch_;
  }
  int unary_calls() {
    absl::MutexLock lock(&mu_);
    return unary_calls_;
  }

 private:
  void Record(grpc::ServerContext* context, const std::string& channel, const std::string& data) {
    absl::StatusOr<BenchPayload> payload = ParseBenchPayload(data);
    ASSERT_TRUE(payload.ok()) << data;
    absl::MutexLock lock(&mu_);
    seqs_[channel].push_back(payload->seq);
    if (payload->seq == 1) first_sent_[channel] = payload->ts_ns;
    peers_.insert(context->peer());
  }

  const bool refuse_batches_;
  absl::Mutex mu_;
  std::map<std::string, std::vector<uint64_t>> seqs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> first_sent_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> peers_ ABSL_GUARDED_BY(mu_);
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
  int stream_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int max_batch_ ABSL_GUARDED_BY(mu_) = 0;
  int unary_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class TokenPublisherTest : public ::testing::Test {
 protected:
  void StartControl(bool refuse_batches = false) {
    control_ = std::make_unique<FakeControl>(refuse_batches);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(control_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  TokenPlan Plan(TokenApi api, size_t conversations, double rate, absl::Duration duration) {
    TokenPlan plan;
    plan.api = api;
    plan.target = absl::StrCat("127.0.0.1:", port_);
    for (size_t i = 0; i < conversations; ++i) plan.channels.push_back(absl::StrCat("c", i));
    plan.token_rate = rate;
    plan.duration = duration;
    plan.drain_timeout = absl::Seconds(10);
    return plan;
  }

  // Every conversation got 1..tokens, in order.
  void ExpectEveryTokenInOrder(const TokenPlan& plan, uint64_t tokens) {
    std::map<std::string, std::vector<uint64_t>> seqs = control_->seqs();
    ASSERT_EQ(seqs.size(), plan.channels.size());
    std::vector<uint64_t> want(tokens);
    for (uint64_t i = 0; i < tokens; ++i) want[i] = i + 1;
    for (const std::string& channel : plan.channels) EXPECT_EQ(seqs[channel], want) << channel;
  }

  std::unique_ptr<FakeControl> control_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST(TokenScheduleTest, ConversationsAreStaggeredOverTheFirstInterval) {
  // 4 conversations at 10 tokens/s: a token every 25 ms, conversation j % 4.
  EXPECT_EQ(TokenDueNs(0, 4, 10), 0);
  EXPECT_EQ(TokenDueNs(1, 4, 10), 25'000'000);
  EXPECT_EQ(TokenDueNs(3, 4, 10), 75'000'000);
  // Conversation 0's second token, one interval after its first.
  EXPECT_EQ(TokenDueNs(4, 4, 10), 100'000'000);
  TokenPlan plan;
  plan.token_rate = 30;
  plan.duration = absl::Seconds(10);
  EXPECT_EQ(TokensPerConversation(plan), 300u);
  plan.duration = absl::Milliseconds(100);
  EXPECT_EQ(TokensPerConversation(plan), 3u);
}

TEST(TokenScheduleTest, ApiNames) {
  for (TokenApi api : {TokenApi::kStream, TokenApi::kMultiplexed, TokenApi::kUnary}) {
    absl::StatusOr<TokenApi> parsed = ParseTokenApi(TokenApiName(api));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, api);
  }
  EXPECT_FALSE(ParseTokenApi("broadcast").ok());
}

TEST_F(TokenPublisherTest, MultiplexedBatchesTheTokensOfATick) {
  StartControl();
  // 10,000 tokens/s over 2 streams: ~5 per stream per millisecond tick.
  TokenPlan plan = Plan(TokenApi::kMultiplexed, 200, 50, absl::Milliseconds(400));
  plan.streams = 2;
  absl::StatusOr<PublishOutcome> outcome = RunTokenPublisher(plan);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->sent, 200u * 20);
  EXPECT_EQ(outcome->accepted, outcome->sent);
  EXPECT_EQ(outcome->failed, 0u) << outcome->first_error;
  EXPECT_EQ(outcome->last_seq, std::vector<uint64_t>(200, 20));
  EXPECT_EQ(outcome->answer_latency.Count(), outcome->sent);
  ExpectEveryTokenInOrder(plan, 20);
  EXPECT_EQ(control_->streams(), 2);
  EXPECT_GT(control_->max_batch(), 1);
  EXPECT_LT(control_->stream_requests(), 4000);
  EXPECT_LE(control_->max_batch(), 1024);
}

TEST_F(TokenPublisherTest, StreamPerConversationOverSeveralConnections) {
  StartControl();
  TokenPlan plan = Plan(TokenApi::kStream, 25, 20, absl::Milliseconds(500));
  plan.streams_per_connection = 10;
  absl::StatusOr<PublishOutcome> outcome = RunTokenPublisher(plan);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->sent, 25u * 10);
  EXPECT_EQ(outcome->accepted, outcome->sent) << outcome->first_error;
  EXPECT_EQ(outcome->answer_latency.Count(), outcome->sent);
  ExpectEveryTokenInOrder(plan, 10);
  EXPECT_EQ(control_->streams(), 25);
  EXPECT_EQ(control_->max_batch(), 0);  // one publication per request
  EXPECT_EQ(control_->peers(), 3u);     // 25 streams, 10 per connection

  // The first tokens were spread over the first interval (50 ms), in
  // conversation order.
  std::map<std::string, int64_t> first = control_->first_sent();
  int64_t spread = first["c24"] - first["c0"];
  EXPECT_GT(spread, 30'000'000);
  EXPECT_LT(spread, 80'000'000);
  for (int i = 1; i < 25; ++i) {
    EXPECT_GE(first[absl::StrCat("c", i)], first[absl::StrCat("c", i - 1)]) << i;
  }
}

TEST_F(TokenPublisherTest, UnaryKeepsEachConversationInOrder) {
  StartControl();
  TokenPlan plan = Plan(TokenApi::kUnary, 30, 40, absl::Milliseconds(500));
  plan.max_unary_in_flight = 4;
  absl::StatusOr<PublishOutcome> outcome = RunTokenPublisher(plan);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->sent, 30u * 20);
  EXPECT_EQ(outcome->accepted, outcome->sent) << outcome->first_error;
  EXPECT_EQ(outcome->answer_latency.Count(), outcome->sent);
  ExpectEveryTokenInOrder(plan, 20);
  EXPECT_EQ(control_->unary_calls(), 600);
}

TEST_F(TokenPublisherTest, RefusedBatchesCountEveryTokenAsFailed) {
  // A control that does not know batches refuses each as one request.
  StartControl(/*refuse_batches=*/true);
  TokenPlan plan = Plan(TokenApi::kMultiplexed, 10, 20, absl::Milliseconds(250));
  absl::StatusOr<PublishOutcome> outcome = RunTokenPublisher(plan);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->sent, 50u);
  EXPECT_EQ(outcome->accepted, 0u);
  EXPECT_EQ(outcome->failed, 50u);
  EXPECT_THAT(outcome->first_error, ::testing::HasSubstr("invalid channel name"));
}

TEST_F(TokenPublisherTest, UnreachableControlIsAnError) {
  StartControl();
  TokenPlan plan = Plan(TokenApi::kStream, 2, 10, absl::Milliseconds(100));
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
  plan.connect_timeout = absl::Milliseconds(300);
  EXPECT_EQ(RunTokenPublisher(plan).status().code(), absl::StatusCode::kUnavailable);
  plan.channels.clear();
  EXPECT_EQ(RunTokenPublisher(plan).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wirehub::bench
