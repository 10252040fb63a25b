#include "control/control_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/namespace_registry.h"
#include "control/edge_hub.h"
#include "control/edge_link_service.h"
#include "control/testing/fake_edge.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/control/v1/control.grpc.pb.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::control {
namespace {

using ::testing::ElementsAre;
using testing::FakeEdge;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

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
    hub_.Start();
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

// ---------------------------------------------------------------------------
// Tenants, presence, client publish and the server API, over one in-process
// server that serves both the public API and the edge link, with fake edges
// attached through the real Attach stub.

config::v1::Config ApiConfig() {
  config::v1::Config config;
  config::v1::Namespace* room = config.add_namespaces();
  room->set_name("room");
  room->mutable_options()->set_presence(true);
  room->mutable_options()->set_join_leave(true);
  config::v1::Namespace* chat = config.add_namespaces();
  chat->set_name("chat");
  chat->mutable_options()->set_history_size(10);
  chat->mutable_options()->mutable_history_ttl()->set_seconds(60);
  config::v1::Namespace* bin = config.add_namespaces();
  bin->set_name("bin");
  bin->mutable_options()->set_history_size(10);
  bin->mutable_options()->mutable_history_ttl()->set_seconds(60);
  bin->mutable_options()->set_binary_data(true);
  return config;
}

// Bytes no JSON document has: NUL, 0xff, a line break, truncated UTF-8.
const std::string kBinary("\x00\xff\x01\n\xc3", 5);

v1::ClientInfo Client(const std::string& client, const std::string& user) {
  v1::ClientInfo info;
  info.set_client(client);
  info.set_user(user);
  return info;
}

v1::ConnectionInfo Connection(const std::string& client, const std::string& edge_id = "") {
  v1::ConnectionInfo info;
  info.set_client(client);
  info.set_edge_id(edge_id);
  return info;
}

class ControlApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.Start();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    builder.RegisterService(&link_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::ControlService::NewStub(channel_);
    link_stub_ = edge::v1::EdgeLinkService::NewStub(channel_);
  }

  void TearDown() override {
    edges_.clear();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
  }

  static std::unique_ptr<grpc::ClientContext> Context(
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + timeout);
    return context;
  }

  FakeEdge* Attach(const std::string& edge_id, const std::vector<std::string>& channels = {},
                   const std::vector<std::pair<std::string, v1::ClientInfo>>& presence = {}) {
    edge::v1::Hello hello;
    hello.set_edge_id(edge_id);
    hello.set_seq(1);
    for (const std::string& channel : channels) hello.add_channels(channel);
    for (const auto& [key, info] : presence) {
      edge::v1::PresenceEntry* entry = hello.add_presence();
      entry->set_channel(key);
      *entry->mutable_info() = info;
    }
    edges_.push_back(std::make_unique<FakeEdge>(channel_, hello));
    EXPECT_TRUE(edges_.back()->WaitForAck(1)) << edge_id << " hello not acknowledged";
    return edges_.back().get();
  }

  grpc::Status Publish(const std::string& tenant, const std::string& channel,
                       const std::string& data, v1::PublishResponse* response) {
    v1::PublishRequest request;
    request.set_tenant(tenant);
    request.set_channel(channel);
    request.set_data(data);
    return stub_->Publish(Context().get(), request, response);
  }

  grpc::Status History(const std::string& tenant, const std::string& channel,
                       v1::HistoryResponse* response) {
    v1::HistoryRequest request;
    request.set_tenant(tenant);
    request.set_channel(channel);
    request.set_limit(-1);
    return stub_->History(Context().get(), request, response);
  }

  NamespaceRegistry registry_{ApiConfig()};
  EdgeHub hub_{&registry_};
  ControlServiceImpl service_{&hub_, ControlServiceOptions{.max_payload_bytes = kLimit}};
  EdgeLinkServiceImpl link_{&hub_, EdgeLinkServiceOptions{.max_payload_bytes = kLimit}};
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ControlService::Stub> stub_;
  std::unique_ptr<edge::v1::EdgeLinkService::Stub> link_stub_;
  std::vector<std::unique_ptr<FakeEdge>> edges_;
};

TEST_F(ControlApiTest, TenantsWithTheSameChannelNameHaveIndependentStreams) {
  v1::PublishResponse response;
  ASSERT_TRUE(Publish("acme", "chat:1", R"({"n":1})", &response).ok());
  EXPECT_EQ(response.offset(), 1u);
  ASSERT_TRUE(Publish("acme", "chat:1", R"({"n":2})", &response).ok());
  EXPECT_EQ(response.offset(), 2u);
  const std::string acme_epoch = response.epoch();
  ASSERT_TRUE(Publish("", "chat:1", R"({"n":3})", &response).ok());
  EXPECT_EQ(response.offset(), 1u);
  ASSERT_TRUE(Publish("globex", "chat:1", R"({"n":4})", &response).ok());
  EXPECT_EQ(response.offset(), 1u);
  EXPECT_NE(response.epoch(), acme_epoch);

  v1::HistoryResponse acme;
  ASSERT_TRUE(History("acme", "chat:1", &acme).ok());
  ASSERT_EQ(acme.publications_size(), 2);
  EXPECT_EQ(acme.publications(1).data(), R"({"n":2})");
  EXPECT_EQ(acme.epoch(), acme_epoch);
  v1::HistoryResponse plain;
  ASSERT_TRUE(History("", "chat:1", &plain).ok());
  ASSERT_EQ(plain.publications_size(), 1);
  EXPECT_EQ(plain.publications(0).data(), R"({"n":3})");

  v1::HistoryRemoveRequest remove;
  remove.set_tenant("acme");
  remove.set_channel("chat:1");
  v1::HistoryRemoveResponse removed;
  ASSERT_TRUE(stub_->HistoryRemove(Context().get(), remove, &removed).ok());
  ASSERT_TRUE(History("acme", "chat:1", &acme).ok());
  EXPECT_EQ(acme.publications_size(), 0);
  ASSERT_TRUE(History("", "chat:1", &plain).ok());
  EXPECT_EQ(plain.publications_size(), 1);
}

TEST_F(ControlApiTest, HistoryPagesByBytesAndResumesFromTheLastOffset) {
  v1::PublishResponse published;
  for (int i = 1; i <= 10; ++i) {
    std::string data =
        R"({"n":)" + std::to_string(i) + R"(,"pad":")" + std::string(40, 'x') + "\"}";
    ASSERT_TRUE(Publish("", "chat:big", data, &published).ok());
  }
  std::vector<uint64_t> offsets;
  v1::HistoryRequest request;
  request.set_channel("chat:big");
  request.set_limit(-1);
  request.set_max_bytes(200);
  for (int page = 0; page < 20; ++page) {
    v1::HistoryResponse response;
    ASSERT_TRUE(stub_->History(Context().get(), request, &response).ok());
    ASSERT_GT(response.publications_size(), 0);
    // Each page stays within the budget (about 64 bytes per publication).
    EXPECT_LE(response.publications_size(), 3);
    EXPECT_EQ(response.offset(), 10u);
    for (const auto& publication : response.publications()) offsets.push_back(publication.offset());
    if (!response.more()) break;
    request.mutable_since()->set_epoch(response.epoch());
    request.mutable_since()->set_offset(offsets.back());
  }
  EXPECT_THAT(offsets, ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));

  // A budget below one publication still returns one, so paging progresses.
  request.clear_since();
  request.set_max_bytes(1);
  v1::HistoryResponse one;
  ASSERT_TRUE(stub_->History(Context().get(), request, &one).ok());
  ASSERT_EQ(one.publications_size(), 1);
  EXPECT_TRUE(one.more());
  // limit 0: the position only, never `more`.
  request.set_limit(0);
  v1::HistoryResponse position;
  ASSERT_TRUE(stub_->History(Context().get(), request, &position).ok());
  EXPECT_EQ(position.publications_size(), 0);
  EXPECT_EQ(position.offset(), 10u);
  EXPECT_FALSE(position.more());
}

TEST_F(ControlApiTest, BadTenantIsInvalidArgumentEverywhere) {
  v1::PublishResponse response;
  grpc::Status status = Publish("acme|x", "chat:1", "{}", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("tenant"));
  EXPECT_EQ(Publish(std::string(65, 't'), "chat:1", "{}", &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A channel name cannot smuggle a tenant in.
  status = Publish("", "acme|chat:1", "{}", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("channel name"));

  v1::HistoryResponse history;
  status = History("a b", "chat:1", &history);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("tenant"));

  v1::BroadcastRequest broadcast;
  broadcast.set_tenant("bad tenant");
  broadcast.add_channels("chat:1");
  broadcast.set_data("{}");
  v1::BroadcastResponse broadcast_response;
  status = stub_->Broadcast(Context().get(), broadcast, &broadcast_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("tenant"));
}

TEST_F(ControlApiTest, BroadcastAndPublishStreamUseTheTenant) {
  v1::BroadcastRequest broadcast;
  broadcast.set_tenant("acme");
  broadcast.add_channels("chat:1");
  broadcast.add_channels("chat:2");
  broadcast.set_data("{}");
  v1::BroadcastResponse broadcast_response;
  ASSERT_TRUE(stub_->Broadcast(Context().get(), broadcast, &broadcast_response).ok());
  ASSERT_EQ(broadcast_response.results_size(), 2);
  EXPECT_EQ(broadcast_response.results(0).offset(), 1u);

  auto context = Context();
  auto stream = stub_->PublishStream(context.get());
  v1::PublishStreamRequest item;
  item.set_tenant("acme");
  item.set_channel("chat:1");
  item.set_data("{}");
  ASSERT_TRUE(stream->Write(item));
  item.set_tenant("bad|tenant");
  ASSERT_TRUE(stream->Write(item));
  stream->WritesDone();
  v1::PublishStreamResponse first;
  v1::PublishStreamResponse second;
  ASSERT_TRUE(stream->Read(&first));
  ASSERT_TRUE(stream->Read(&second));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(first.error_code(), 0);
  EXPECT_EQ(first.offset(), 2u) << "the broadcast made offset 1 of acme|chat:1";
  EXPECT_EQ(second.error_code(), 3);
  EXPECT_THAT(second.error_message(), StartsWith("tenant"));
}

TEST_F(ControlApiTest, PublishStreamBatchesAnswerEveryItemInOrder) {
  auto context = Context();
  auto stream = stub_->PublishStream(context.get());
  v1::PublishStreamRequest single;
  single.set_channel("chat:1");
  single.set_data(R"({"n":0})");
  single.set_request_id(7);
  ASSERT_TRUE(stream->Write(single));
  v1::PublishStreamRequest batch;
  for (int i = 1; i <= 3; ++i) {
    v1::PublishStreamRequest* item = batch.add_items();
    item->set_channel(i == 2 ? "bad channel" : "chat:1");
    item->set_data(absl::StrCat(R"({"n":)", i, "}"));
    item->set_request_id(100 + i);
  }
  ASSERT_TRUE(stream->Write(batch));
  // Nested items, own fields set, and too many items: refused whole.
  v1::PublishStreamRequest nested;
  nested.add_items()->add_items()->set_channel("chat:1");
  ASSERT_TRUE(stream->Write(nested));
  v1::PublishStreamRequest mixed = batch;
  mixed.set_channel("chat:1");
  ASSERT_TRUE(stream->Write(mixed));
  v1::PublishStreamRequest huge;
  for (int i = 0; i < 1025; ++i) {
    v1::PublishStreamRequest* item = huge.add_items();
    item->set_channel("chat:1");
    item->set_data("{}");
  }
  ASSERT_TRUE(stream->Write(huge));
  ASSERT_TRUE(stream->Write(single));
  stream->WritesDone();
  std::vector<v1::PublishStreamResponse> responses;
  v1::PublishStreamResponse response;
  while (stream->Read(&response)) responses.push_back(response);
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(responses.size(), 6u);
  EXPECT_EQ(responses[0].request_id(), 7u);
  EXPECT_EQ(responses[0].offset(), 1u);
  const v1::PublishStreamResponse& answer = responses[1];
  EXPECT_EQ(answer.error_code(), 0);
  ASSERT_EQ(answer.results_size(), 3);
  EXPECT_EQ(answer.results(0).request_id(), 101u);
  EXPECT_EQ(answer.results(0).offset(), 2u);
  EXPECT_EQ(answer.results(0).epoch(), responses[0].epoch());
  EXPECT_EQ(answer.results(1).request_id(), 102u);
  EXPECT_EQ(answer.results(1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(answer.results(2).offset(), 3u);
  for (size_t i : {2u, 3u, 4u}) {
    EXPECT_EQ(responses[i].error_code(), grpc::StatusCode::INVALID_ARGUMENT) << i;
    EXPECT_EQ(responses[i].results_size(), 0) << i;
  }
  EXPECT_THAT(responses[2].error_message(), HasSubstr("items of its own"));
  EXPECT_THAT(responses[3].error_message(), HasSubstr("own fields must be unset"));
  EXPECT_THAT(responses[4].error_message(), HasSubstr("at most 1024"));
  // Nothing of the refused batches was published.
  EXPECT_EQ(responses[5].offset(), 4u);
}

TEST_F(ControlApiTest, ClientPublishIsSequencedWithItsInfoInHistory) {
  FakeEdge* edge = Attach("e1", {"acme|chat:1"});
  v1::PublishResponse backend;
  ASSERT_TRUE(Publish("acme", "chat:1", R"({"from":"backend"})", &backend).ok());

  edge::v1::ClientPublishRequest request;
  request.set_channel("acme|chat:1");
  request.set_data(R"({"typing":true})");
  *request.mutable_info() = Client("c1", "ann");
  request.mutable_info()->set_chan_info(R"({"role":"mod"})");
  v1::PublishResponse response;
  grpc::Status status = link_stub_->Publish(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.offset(), 2u);
  EXPECT_EQ(response.epoch(), backend.epoch());

  ASSERT_TRUE(edge->WaitForPublications(2));
  EXPECT_EQ(edge->publications()[1].info().client(), "c1");
  v1::HistoryResponse history;
  ASSERT_TRUE(History("acme", "chat:1", &history).ok());
  ASSERT_EQ(history.publications_size(), 2);
  EXPECT_FALSE(history.publications(0).has_info());
  EXPECT_EQ(history.publications(1).info().user(), "ann");
  EXPECT_EQ(history.publications(1).info().chan_info(), R"({"role":"mod"})");
}

TEST_F(ControlApiTest, ClientPublishIsValidatedLikeBackendPublish) {
  auto publish = [this](const std::string& key, const std::string& data) {
    edge::v1::ClientPublishRequest request;
    request.set_channel(key);
    request.set_data(data);
    *request.mutable_info() = Client("c1", "ann");
    v1::PublishResponse response;
    return link_stub_->Publish(Context().get(), request, &response);
  };
  EXPECT_TRUE(publish("chat:1", "{}").ok());
  for (const char* key : {"|chat:1", "a b|chat:1", "acme|", "acme|bad channel", ""}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(publish(key, "{}").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  grpc::Status status = publish("chat:1", "{oops");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("JSON"));
  status = publish("chat:1", "\"" + std::string(kLimit, 'x') + "\"");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(std::to_string(kLimit)));
  EXPECT_EQ(publish("nope:1", "{}").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControlApiTest, BinaryNamespaceTakesAnyBytesOthersOnlyJson) {
  v1::PublishResponse published;
  grpc::Status status = Publish("acme", "bin:1", kBinary, &published);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(Publish("acme", "bin:1", R"({"json":"too"})", &published).ok());
  v1::HistoryResponse history;
  ASSERT_TRUE(History("acme", "bin:1", &history).ok());
  ASSERT_EQ(history.publications_size(), 2);
  EXPECT_EQ(history.publications(0).data(), kBinary);
  EXPECT_EQ(history.publications(1).data(), R"({"json":"too"})");

  status = Publish("acme", "chat:1", kBinary, &published);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("data: invalid JSON"));
  EXPECT_THAT(status.error_message(),
              HasSubstr(R"(channel chat:1 is in namespace "chat", which takes JSON only)"));
  // The size limit is the same for both.
  status = Publish("", "bin:1", std::string(kLimit + 1, '\xff'), &published);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("over the limit of 64 bytes"));
  EXPECT_TRUE(Publish("", "bin:1", std::string(kLimit, '\xff'), &published).ok());
  // An unknown namespace is refused as before, whatever the data.
  EXPECT_EQ(Publish("", "nope:1", kBinary, &published).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControlApiTest, BinaryDataInPublishStreamAndClientPublish) {
  auto context = Context();
  auto stream = stub_->PublishStream(context.get());
  v1::PublishStreamRequest batch;
  for (const char* channel : {"bin:1", "chat:1"}) {
    v1::PublishStreamRequest* item = batch.add_items();
    item->set_channel(channel);
    item->set_data(kBinary);
  }
  ASSERT_TRUE(stream->Write(batch));
  stream->WritesDone();
  v1::PublishStreamResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_EQ(response.results(0).error_code(), 0);
  EXPECT_EQ(response.results(0).offset(), 1u);
  EXPECT_EQ(response.results(1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.results(1).error_message(), HasSubstr("chat:1"));

  auto client_publish = [this](const std::string& key) {
    edge::v1::ClientPublishRequest request;
    request.set_channel(key);
    request.set_data(kBinary);
    *request.mutable_info() = Client("c1", "ann");
    v1::PublishResponse published;
    return link_stub_->Publish(Context().get(), request, &published);
  };
  grpc::Status status = client_publish("acme|bin:1");
  EXPECT_TRUE(status.ok()) << status.error_message();
  status = client_publish("acme|chat:1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr(R"(channel chat:1 is in namespace "chat", which takes JSON only)"));
  EXPECT_THAT(status.error_message(), Not(HasSubstr("acme")));
}

TEST_F(ControlApiTest, BroadcastOfBinaryDataNeedsEveryNamespaceBinary) {
  auto broadcast = [this](const std::vector<std::string>& channels, const std::string& data) {
    v1::BroadcastRequest request;
    for (const std::string& channel : channels) request.add_channels(channel);
    request.set_data(data);
    v1::BroadcastResponse response;
    grpc::Status status = stub_->Broadcast(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  v1::BroadcastResponse all_binary = broadcast({"bin:1", "bin:2"}, kBinary);
  ASSERT_EQ(all_binary.results_size(), 2);
  for (const v1::BroadcastResult& result : all_binary.results()) {
    EXPECT_EQ(result.error_code(), 0) << result.error_message();
    EXPECT_EQ(result.offset(), 1u);
  }
  // One JSON-only namespace refuses the bytes for every channel, naming the
  // first such channel (an unknown namespace is not one); a bad name fails
  // on its own.
  v1::BroadcastResponse mixed =
      broadcast({"bin:1", "bad channel", "nope:1", "room:1", "chat:1"}, kBinary);
  ASSERT_EQ(mixed.results_size(), 5);
  for (int i : {0, 2, 3, 4}) {
    EXPECT_EQ(mixed.results(i).error_code(), grpc::StatusCode::INVALID_ARGUMENT) << i;
    EXPECT_THAT(mixed.results(i).error_message(),
                HasSubstr(R"(channel room:1 is in namespace "room", which takes JSON only)"))
        << i;
  }
  EXPECT_THAT(mixed.results(1).error_message(), HasSubstr("channel name"));
  // JSON suits both kinds.
  v1::BroadcastResponse json = broadcast({"bin:1", "chat:1"}, "[1]");
  EXPECT_EQ(json.results(0).error_code(), 0);
  EXPECT_EQ(json.results(0).offset(), 2u) << "the refused broadcast published nothing";
  EXPECT_EQ(json.results(1).error_code(), 0);
}

TEST_F(ControlApiTest, PresencePagesOverEdgesInClientIdOrder) {
  Attach("e1", {"room:1"},
         {{"room:1", Client("c", "ann")},
          {"room:1", Client("a", "ann")},
          {"acme|room:1", Client("x", "zed")}});
  Attach("e2", {"room:1"}, {{"room:1", Client("b", "bob")}});

  v1::PresenceRequest request;
  request.set_channel("room:1");
  request.set_page_size(2);
  v1::PresenceResponse page;
  grpc::Status status = stub_->Presence(Context().get(), request, &page);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(page.clients_size(), 2);
  EXPECT_EQ(page.clients(0).client(), "a");
  EXPECT_EQ(page.clients(1).client(), "b");
  EXPECT_EQ(page.clients(1).user(), "bob");
  EXPECT_EQ(page.next_page_token(), "b");

  request.set_page_token(page.next_page_token());
  ASSERT_TRUE(stub_->Presence(Context().get(), request, &page).ok());
  ASSERT_EQ(page.clients_size(), 1);
  EXPECT_EQ(page.clients(0).client(), "c");
  EXPECT_THAT(page.next_page_token(), IsEmpty());

  request.Clear();
  request.set_channel("room:1");
  request.set_tenant("acme");
  ASSERT_TRUE(stub_->Presence(Context().get(), request, &page).ok());
  ASSERT_EQ(page.clients_size(), 1);
  EXPECT_EQ(page.clients(0).client(), "x");

  v1::PresenceStatsRequest stats_request;
  stats_request.set_channel("room:1");
  v1::PresenceStatsResponse stats;
  ASSERT_TRUE(stub_->PresenceStats(Context().get(), stats_request, &stats).ok());
  EXPECT_EQ(stats.num_clients(), 3u);
  EXPECT_EQ(stats.num_users(), 2u);
}

TEST_F(ControlApiTest, PresenceErrors) {
  v1::PresenceRequest request;
  v1::PresenceResponse response;
  request.set_channel("chat:1");
  grpc::Status status = stub_->Presence(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("presence is not enabled for namespace"));
  request.set_channel("room:1");
  request.set_page_size(-1);
  EXPECT_EQ(stub_->Presence(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_page_size(0);
  request.set_tenant("x|y");
  EXPECT_EQ(stub_->Presence(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_tenant("");
  request.set_channel("bad channel");
  EXPECT_EQ(stub_->Presence(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::PresenceStatsRequest stats_request;
  stats_request.set_channel("chat:1");
  v1::PresenceStatsResponse stats;
  EXPECT_EQ(stub_->PresenceStats(Context().get(), stats_request, &stats).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ControlApiTest, ServerApiWithoutEdgesAnswersAtOnce) {
  absl::Time start = absl::Now();
  v1::SubscribeRequest subscribe;
  subscribe.set_user("u1");
  subscribe.set_channel("room:1");
  v1::SubscribeResponse subscribed;
  ASSERT_TRUE(stub_->Subscribe(Context().get(), subscribe, &subscribed).ok());
  EXPECT_EQ(subscribed.connections(), 0u);
  EXPECT_EQ(subscribed.edges_missing(), 0u);
  v1::ConnectionsResponse connections;
  ASSERT_TRUE(stub_->Connections(Context().get(), v1::ConnectionsRequest(), &connections).ok());
  EXPECT_EQ(connections.connections_size(), 0);
  EXPECT_THAT(connections.next_page_token(), IsEmpty());
  v1::ChannelsResponse channels;
  ASSERT_TRUE(stub_->Channels(Context().get(), v1::ChannelsRequest(), &channels).ok());
  EXPECT_EQ(channels.channels_size(), 0);
  v1::InfoResponse info;
  ASSERT_TRUE(stub_->Info(Context().get(), v1::InfoRequest(), &info).ok());
  EXPECT_EQ(info.control().id(), "control");
  EXPECT_EQ(info.control().kind(), "control");
  EXPECT_EQ(info.control().connections(), 0u);
  EXPECT_GT(info.control().rss_bytes(), 0u);
  EXPECT_EQ(info.edges_size(), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(ControlApiTest, ServerApiValidatesRequests) {
  auto code = [](const grpc::Status& status) { return status.error_code(); };
  constexpr auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;

  v1::SubscribeRequest subscribe;
  v1::SubscribeResponse subscribed;
  subscribe.set_channel("room:1");
  grpc::Status status = stub_->Subscribe(Context().get(), subscribe, &subscribed);
  EXPECT_EQ(code(status), kInvalid);
  EXPECT_THAT(status.error_message(), HasSubstr("user or client"));
  subscribe.set_client("c1");
  subscribe.set_channel("bad channel");
  EXPECT_EQ(code(stub_->Subscribe(Context().get(), subscribe, &subscribed)), kInvalid);
  subscribe.set_channel("nope:1");
  EXPECT_EQ(code(stub_->Subscribe(Context().get(), subscribe, &subscribed)), kInvalid);
  subscribe.set_channel("room:1");
  subscribe.set_tenant("t|t");
  EXPECT_EQ(code(stub_->Subscribe(Context().get(), subscribe, &subscribed)), kInvalid);

  v1::UnsubscribeRequest unsubscribe;
  v1::UnsubscribeResponse unsubscribed;
  unsubscribe.set_channel("room:1");
  EXPECT_EQ(code(stub_->Unsubscribe(Context().get(), unsubscribe, &unsubscribed)), kInvalid);

  v1::DisconnectRequest disconnect;
  v1::DisconnectResponse disconnected;
  EXPECT_EQ(code(stub_->Disconnect(Context().get(), disconnect, &disconnected)), kInvalid);
  disconnect.set_user("u1");
  for (uint32_t bad : {1u, 1000u, 2999u, 5000u}) {
    disconnect.set_code(bad);
    EXPECT_EQ(code(stub_->Disconnect(Context().get(), disconnect, &disconnected)), kInvalid) << bad;
  }
  for (uint32_t good : {0u, 3000u, 4999u}) {
    disconnect.set_code(good);
    EXPECT_TRUE(stub_->Disconnect(Context().get(), disconnect, &disconnected).ok()) << good;
  }
  disconnect.set_reason(std::string(101, 'r'));
  EXPECT_EQ(code(stub_->Disconnect(Context().get(), disconnect, &disconnected)), kInvalid);
  disconnect.set_reason(std::string(100, 'r'));
  EXPECT_TRUE(stub_->Disconnect(Context().get(), disconnect, &disconnected).ok());

  v1::RefreshRequest refresh;
  v1::RefreshResponse refreshed;
  EXPECT_EQ(code(stub_->Refresh(Context().get(), refresh, &refreshed)), kInvalid);
  refresh.set_client("c1");
  refresh.set_expire_at_unix(-1);
  EXPECT_EQ(code(stub_->Refresh(Context().get(), refresh, &refreshed)), kInvalid);
  refresh.set_expire_at_unix(0);
  EXPECT_TRUE(stub_->Refresh(Context().get(), refresh, &refreshed).ok());

  v1::ConnectionsRequest list;
  v1::ConnectionsResponse listed;
  list.set_page_size(-1);
  EXPECT_EQ(code(stub_->Connections(Context().get(), list, &listed)), kInvalid);
  v1::ChannelsRequest channels;
  v1::ChannelsResponse channels_listed;
  channels.set_tenant("no way");
  EXPECT_EQ(code(stub_->Channels(Context().get(), channels, &channels_listed)), kInvalid);
}

TEST_F(ControlApiTest, SubscribeReachesEveryEdgeAndSumsConnections) {
  FakeEdge* a = Attach("a");
  FakeEdge* b = Attach("b");
  a->set_command_handler([](const edge::v1::EdgeCommand& command) {
    edge::v1::CommandResult result;
    result.set_connections(command.subscribe().user() == "u1" ? 2 : 0);
    return std::optional(result);
  });
  b->set_command_handler([](const edge::v1::EdgeCommand& command) {
    edge::v1::CommandResult result;
    result.set_connections(1);
    return std::optional(result);
  });
  v1::SubscribeRequest request;
  request.set_user("u1");
  request.set_tenant("acme");
  request.set_channel("room:1");
  v1::SubscribeResponse response;
  grpc::Status status = stub_->Subscribe(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.connections(), 3u);
  EXPECT_EQ(response.edges_missing(), 0u);
  // Forwarded as the backend sent it: the edge maps tenant + channel.
  ASSERT_EQ(b->commands().size(), 1u);
  EXPECT_EQ(b->commands()[0].subscribe().tenant(), "acme");
  EXPECT_EQ(b->commands()[0].subscribe().channel(), "room:1");
}

TEST_F(ControlApiTest, SilentEdgeIsReportedMissingWithinTheCallDeadline) {
  FakeEdge* a = Attach("a");
  Attach("b");  // Never answers.
  a->set_command_handler([](const edge::v1::EdgeCommand&) {
    edge::v1::CommandResult result;
    result.set_connections(4);
    return std::optional(result);
  });
  v1::DisconnectRequest request;
  request.set_user("u1");
  v1::DisconnectResponse response;
  absl::Time start = absl::Now();
  grpc::Status status =
      stub_->Disconnect(Context(std::chrono::milliseconds(1000)).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(response.connections(), 4u);
  EXPECT_EQ(response.edges_missing(), 1u);
}

TEST_F(ControlApiTest, EdgeErrorsFailTheCallOnlyWhenEveryEdgeFailed) {
  FakeEdge* a = Attach("a");
  FakeEdge* b = Attach("b");
  auto failing = [](const edge::v1::EdgeCommand&) {
    edge::v1::CommandResult result;
    result.set_error_code(static_cast<int32_t>(grpc::StatusCode::FAILED_PRECONDITION));
    result.set_error_message("no such thing");
    return std::optional(result);
  };
  a->set_command_handler(failing);
  b->set_command_handler(failing);
  v1::RefreshRequest request;
  request.set_user("u1");
  v1::RefreshResponse response;
  grpc::Status status = stub_->Refresh(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("no such thing"));

  b->set_command_handler([](const edge::v1::EdgeCommand&) {
    edge::v1::CommandResult result;
    result.set_connections(1);
    return std::optional(result);
  });
  status = stub_->Refresh(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.connections(), 1u);
}

// Answers a Connections command from `all` (sorted by client id) the way
// an edge does: up to page_size after page_token.
edge::v1::CommandResult ConnectionsPage(const std::vector<v1::ConnectionInfo>& all,
                                        const v1::ConnectionsRequest& request) {
  edge::v1::CommandResult result;
  for (const v1::ConnectionInfo& connection : all) {
    if (result.connection_list_size() == request.page_size()) break;
    if (connection.client() <= request.page_token()) continue;
    *result.add_connection_list() = connection;
  }
  return result;
}

TEST_F(ControlApiTest, ConnectionsMergesEdgesPagesAndNamesTheEdge) {
  FakeEdge* a = Attach("edge-a");
  FakeEdge* b = Attach("edge-b");
  a->set_command_handler([](const edge::v1::EdgeCommand& command) {
    return std::optional(ConnectionsPage({Connection("c1"), Connection("c3"), Connection("c5")},
                                         command.connections()));
  });
  b->set_command_handler([](const edge::v1::EdgeCommand& command) {
    return std::optional(ConnectionsPage({Connection("c2", "b-self"), Connection("c4", "b-self")},
                                         command.connections()));
  });
  v1::ConnectionsRequest request;
  request.set_page_size(3);
  v1::ConnectionsResponse page;
  grpc::Status status = stub_->Connections(Context().get(), request, &page);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(page.connections_size(), 3);
  EXPECT_EQ(page.connections(0).client(), "c1");
  EXPECT_EQ(page.connections(0).edge_id(), "edge-a");
  EXPECT_EQ(page.connections(1).client(), "c2");
  EXPECT_EQ(page.connections(1).edge_id(), "b-self");
  EXPECT_EQ(page.connections(2).client(), "c3");
  EXPECT_EQ(page.next_page_token(), "c3");

  request.set_page_token(page.next_page_token());
  ASSERT_TRUE(stub_->Connections(Context().get(), request, &page).ok());
  ASSERT_EQ(page.connections_size(), 2);
  EXPECT_EQ(page.connections(0).client(), "c4");
  EXPECT_EQ(page.connections(1).client(), "c5");
  EXPECT_THAT(page.next_page_token(), IsEmpty());

  // The default page size reaches the edges.
  ASSERT_TRUE(stub_->Connections(Context().get(), v1::ConnectionsRequest(), &page).ok());
  EXPECT_EQ(page.connections_size(), 5);
  EXPECT_EQ(a->commands().back().connections().page_size(), 100);
}

TEST_F(ControlApiTest, ChannelsSumsCountsPerNameAcrossEdges) {
  FakeEdge* a = Attach("a");
  FakeEdge* b = Attach("b");
  auto answer = [](std::vector<std::pair<std::string, uint64_t>> counts) {
    return [counts](const edge::v1::EdgeCommand& command) {
      edge::v1::CommandResult result;
      for (const auto& [name, subscribers] : counts) {
        if (name <= command.channels().page_token()) continue;
        v1::ChannelSubscribers* channel = result.add_channels();
        channel->set_channel(name);
        channel->set_subscribers(subscribers);
      }
      return std::optional(result);
    };
  };
  a->set_command_handler(answer({{"room:1", 2}, {"room:2", 1}}));
  b->set_command_handler(answer({{"room:1", 3}, {"room:3", 7}}));
  v1::ChannelsRequest request;
  request.set_tenant("acme");
  v1::ChannelsResponse response;
  grpc::Status status = stub_->Channels(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.channels_size(), 3);
  EXPECT_EQ(response.channels(0).channel(), "room:1");
  EXPECT_EQ(response.channels(0).subscribers(), 5u);
  EXPECT_EQ(response.channels(0).tenant(), "acme");
  EXPECT_EQ(response.channels(1).channel(), "room:2");
  EXPECT_EQ(response.channels(2).channel(), "room:3");
  EXPECT_EQ(response.channels(2).subscribers(), 7u);
  EXPECT_THAT(response.next_page_token(), IsEmpty());
  EXPECT_EQ(a->commands().back().channels().tenant(), "acme");
  EXPECT_EQ(a->commands().back().channels().page_size(), 1000);

  request.set_page_size(2);
  ASSERT_TRUE(stub_->Channels(Context().get(), request, &response).ok());
  ASSERT_EQ(response.channels_size(), 2);
  EXPECT_EQ(response.next_page_token(), "room:2");
  request.set_page_token("room:2");
  ASSERT_TRUE(stub_->Channels(Context().get(), request, &response).ok());
  ASSERT_EQ(response.channels_size(), 1);
  EXPECT_EQ(response.channels(0).channel(), "room:3");
  EXPECT_THAT(response.next_page_token(), IsEmpty());
}

TEST_F(ControlApiTest, InfoDescribesControlAndEveryEdge) {
  FakeEdge* a = Attach("edge-a");
  FakeEdge* b = Attach("edge-b");
  a->set_command_handler([](const edge::v1::EdgeCommand& command) {
    edge::v1::CommandResult result;
    result.mutable_info()->set_kind("edge");
    result.mutable_info()->set_connections(12);
    return std::optional(result);
  });
  b->set_command_handler([](const edge::v1::EdgeCommand& command) {
    edge::v1::CommandResult result;
    result.mutable_info()->set_id("self-named");
    return std::optional(result);
  });
  service_.set_address("127.0.0.1:7100");
  v1::InfoResponse info;
  grpc::Status status = stub_->Info(Context().get(), v1::InfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.control().connections(), 2u);
  EXPECT_EQ(info.control().address(), "127.0.0.1:7100");
  EXPECT_THAT(info.control().version(), Not(IsEmpty()));
  EXPECT_EQ(info.edges_missing(), 0u);
  std::vector<std::string> ids;
  for (const v1::NodeInfo& edge : info.edges()) ids.push_back(edge.id());
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, ElementsAre("edge-a", "self-named"));
}

}  // namespace
}  // namespace wirehub::control
