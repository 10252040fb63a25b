#include "control/control_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "control/edge_hub.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/control/v1/control.grpc.pb.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr size_t kLimit = 64;

class ValidateTest : public ::testing::Test {
 protected:
  EdgeHub hub_;
  ControlServiceImpl service_{&hub_, ControlServiceOptions{.max_payload_bytes = kLimit}};
};

TEST_F(ValidateTest, AcceptsValidPublication) {
  EXPECT_TRUE(service_.ValidatePublication("news:sport", R"({"score":[1,2]})").ok());
  EXPECT_TRUE(service_.ValidatePublication("a", "1").ok());
  EXPECT_TRUE(service_.ValidatePublication("Az09_-:.@#,=/+$!~", "null").ok());
}

TEST_F(ValidateTest, RejectsEmptyChannel) {
  absl::Status status = service_.ValidatePublication("", "{}");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("empty"));
}

TEST_F(ValidateTest, AcceptsChannelOf255Bytes) {
  EXPECT_TRUE(service_.ValidatePublication(std::string(255, 'c'), "{}").ok());
}

TEST_F(ValidateTest, RejectsChannelOf256Bytes) {
  absl::Status status = service_.ValidatePublication(std::string(256, 'c'), "{}");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("256"));
}

TEST_F(ValidateTest, RejectsChannelWithBadCharacter) {
  absl::Status status = service_.ValidatePublication("news sport", "{}");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("0x20"));
  EXPECT_EQ(service_.ValidatePublication("a\nb", "{}").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ValidatePublication("caf\xc3\xa9", "{}").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ValidateTest, ChecksChannelBeforeData) {
  absl::Status status = service_.ValidatePublication("", "not json");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("channel"));
}

TEST_F(ValidateTest, RejectsDataThatIsNotJson) {
  for (const char* data : {"", "not json", "{", R"({"a":1} x)", "{}{}"}) {
    SCOPED_TRACE(data);
    absl::Status status = service_.ValidatePublication("news", data);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("JSON"));
  }
}

TEST_F(ValidateTest, RejectsDataOverLimitNamingTheLimit) {
  std::string data = "\"" + std::string(kLimit - 1, 'x') + "\"";  // kLimit + 1 bytes
  ASSERT_EQ(data.size(), kLimit + 1);
  absl::Status status = service_.ValidateData(data);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(std::to_string(kLimit)));
  EXPECT_EQ(service_.ValidatePublication("news", data).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ValidateTest, AcceptsValidJsonExactlyAtLimit) {
  std::string data = "\"" + std::string(kLimit - 2, 'x') + "\"";
  ASSERT_EQ(data.size(), kLimit);
  EXPECT_TRUE(service_.ValidateData(data).ok());
  EXPECT_TRUE(service_.ValidatePublication("news", data).ok());
}

TEST_F(ValidateTest, ValidationDoesNotPublish) {
  ASSERT_TRUE(service_.ValidatePublication("news", "{}").ok());
  v1::StatsResponse stats;
  hub_.FillStats(0, &stats);
  EXPECT_EQ(stats.publications_accepted(), 0u);
}

TEST(ToGrpcStatusTest, OkMapsToOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(ToGrpcStatusTest, InvalidArgumentKeepsCodeAndMessage) {
  grpc::Status status = ToGrpcStatus(absl::InvalidArgumentError("channel name is empty"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "channel name is empty");
}

TEST(ToGrpcStatusTest, OtherCodesMapToSameNumbers) {
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(absl::ResourceExhaustedError("x")).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ToGrpcStatus(absl::InternalError("x")).error_code(), grpc::StatusCode::INTERNAL);
}

// ---------------------------------------------------------------------------
// End to end through a real in-process gRPC server.

class ControlServiceRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = v1::ControlService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
      server_->Wait();
    }
  }

  // A context whose deadline keeps a broken server from hanging the test.
  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }

  grpc::Status Publish(const std::string& channel, const std::string& data,
                       v1::PublishResponse* response) {
    v1::PublishRequest request;
    request.set_channel(channel);
    request.set_data(data);
    return stub_->Publish(Context().get(), request, response);
  }

  EdgeHub hub_;
  ControlServiceImpl service_{&hub_, ControlServiceOptions{.max_payload_bytes = kLimit}};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ControlService::Stub> stub_;
};

TEST_F(ControlServiceRpcTest, PublishAssignsConsecutiveOffsets) {
  v1::PublishResponse first;
  grpc::Status status = Publish("news", R"({"n":1})", &first);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(first.offset(), 1u);
  EXPECT_THAT(first.epoch(), Not(IsEmpty()));

  v1::PublishResponse second;
  status = Publish("news", R"({"n":2})", &second);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(second.offset(), 2u);
  EXPECT_EQ(second.epoch(), first.epoch());
}

TEST_F(ControlServiceRpcTest, PublishInvalidChannelIsInvalidArgument) {
  v1::PublishResponse response;
  grpc::Status status = Publish("bad channel", "{}", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("channel name"));
}

TEST_F(ControlServiceRpcTest, PublishInvalidDataIsInvalidArgument) {
  v1::PublishResponse response;
  grpc::Status status = Publish("news", "{oops", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("JSON"));
}

TEST_F(ControlServiceRpcTest, PublishOverLimitIsInvalidArgumentNamingLimit) {
  v1::PublishResponse response;
  grpc::Status status = Publish("news", "\"" + std::string(kLimit, 'x') + "\"", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(std::to_string(kLimit)));
}

TEST_F(ControlServiceRpcTest, RejectedPublishDoesNotConsumeOffset) {
  v1::PublishResponse response;
  EXPECT_FALSE(Publish("news", "nope", &response).ok());
  ASSERT_TRUE(Publish("news", "{}", &response).ok());
  EXPECT_EQ(response.offset(), 1u);
}

TEST_F(ControlServiceRpcTest, BroadcastReportsEachChannel) {
  v1::PublishResponse earlier;
  ASSERT_TRUE(Publish("b", "{}", &earlier).ok());

  v1::BroadcastRequest request;
  request.add_channels("a");
  request.add_channels("bad channel");
  request.add_channels("b");
  request.set_data(R"({"hello":"world"})");
  v1::BroadcastResponse response;
  grpc::Status status = stub_->Broadcast(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 3);

  const v1::BroadcastResult& a = response.results(0);
  EXPECT_EQ(a.channel(), "a");
  EXPECT_EQ(a.error_code(), 0);
  EXPECT_THAT(a.error_message(), IsEmpty());
  EXPECT_EQ(a.offset(), 1u);
  EXPECT_THAT(a.epoch(), Not(IsEmpty()));

  const v1::BroadcastResult& bad = response.results(1);
  EXPECT_EQ(bad.channel(), "bad channel");
  EXPECT_EQ(bad.error_code(), 3);  // INVALID_ARGUMENT
  EXPECT_THAT(bad.error_message(), HasSubstr("channel name"));
  EXPECT_EQ(bad.offset(), 0u);
  EXPECT_THAT(bad.epoch(), IsEmpty());

  const v1::BroadcastResult& b = response.results(2);
  EXPECT_EQ(b.channel(), "b");
  EXPECT_EQ(b.error_code(), 0);
  EXPECT_EQ(b.offset(), 2u);
  EXPECT_EQ(b.epoch(), earlier.epoch());
}

TEST_F(ControlServiceRpcTest, BroadcastInvalidDataFailsEveryChannel) {
  v1::BroadcastRequest request;
  request.add_channels("a");
  request.add_channels("b");
  request.set_data("not json");
  v1::BroadcastResponse response;
  grpc::Status status = stub_->Broadcast(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 2);
  for (const v1::BroadcastResult& result : response.results()) {
    EXPECT_EQ(result.error_code(), 3);
    EXPECT_THAT(result.error_message(), HasSubstr("JSON"));
    EXPECT_EQ(result.offset(), 0u);
  }
  v1::PublishResponse next;
  ASSERT_TRUE(Publish("a", "{}", &next).ok());
  EXPECT_EQ(next.offset(), 1u);
}

TEST_F(ControlServiceRpcTest, BroadcastWithoutChannelsIsInvalidArgument) {
  v1::BroadcastRequest request;
  request.set_data("{}");
  v1::BroadcastResponse response;
  grpc::Status status = stub_->Broadcast(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("channels"));
}

TEST_F(ControlServiceRpcTest, StatsCountsAcceptedPublications) {
  v1::PublishResponse published;
  ASSERT_TRUE(Publish("a", "1", &published).ok());
  ASSERT_TRUE(Publish("a", "2", &published).ok());
  EXPECT_FALSE(Publish("a", "bad", &published).ok());

  v1::BroadcastRequest broadcast;
  broadcast.add_channels("b");
  broadcast.add_channels("bad channel");
  broadcast.add_channels("c");
  broadcast.set_data("{}");
  v1::BroadcastResponse broadcast_response;
  ASSERT_TRUE(stub_->Broadcast(Context().get(), broadcast, &broadcast_response).ok());

  v1::StatsResponse stats;
  grpc::Status status = stub_->Stats(Context().get(), v1::StatsRequest(), &stats);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stats.publications_accepted(), 4u);
  EXPECT_THAT(stats.edges(), IsEmpty());
  EXPECT_THAT(stats.top_channels(), IsEmpty());
  EXPECT_EQ(stats.total_connections(), 0u);
}

}  // namespace
}  // namespace wirehub::control
