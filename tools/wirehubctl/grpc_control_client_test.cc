#include "tools/wirehubctl/grpc_control_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

// A loopback port that nothing listens on: bound to learn a free one, then
// closed.
std::string DeadTarget() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), size), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  close(fd);
  return absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
}

ControlTarget Target(std::string address, std::string api_key = "") {
  ControlTarget target;
  target.address = std::move(address);
  target.timeout = absl::Seconds(2);
  target.api_key = std::move(api_key);
  return target;
}

std::unique_ptr<ControlClient> Client(const ControlTarget& target) {
  absl::StatusOr<std::unique_ptr<ControlClient>> client = NewGrpcControlClient(target);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// Answers Stats and PublishStream, recording the authorization metadata.
class RecordingService final : public v1::ControlService::CallbackService {
 public:
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override {
    Record(context);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>* PublishStream(
      grpc::CallbackServerContext* context) override {
    Record(context);
    class Done final
        : public grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse> {
     public:
      Done() { Finish(grpc::Status::OK); }
      void OnDone() override { delete this; }
    };
    return new Done();
  }
  std::vector<std::string> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  void Record(grpc::CallbackServerContext* context) {
    auto it = context->client_metadata().find("authorization");
    absl::MutexLock lock(&mu_);
    seen_.push_back(it == context->client_metadata().end()
                        ? "(none)"
                        : std::string(it->second.data(), it->second.size()));
  }
  absl::Mutex mu_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

TEST(GrpcControlClientTest, EveryCallCarriesTheApiKey) {
  RecordingService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  v1::StatsResponse response;
  EXPECT_TRUE(Client(Target(address, "wh_k"))->Stats(v1::StatsRequest(), &response).ok());
  // The stream's own outcome races with the server's early end; only its
  // metadata matters here.
  (void)Client(Target(address, "wh_k"))
      ->PublishStream([] { return std::optional<ControlClient::StreamRequest>(); },
                      [](const v1::PublishStreamResponse&) {});
  EXPECT_TRUE(Client(Target(address))->Stats(v1::StatsRequest(), &response).ok());
  EXPECT_EQ(service.seen(), (std::vector<std::string>{"apikey wh_k", "apikey wh_k", "(none)"}));
  server->Shutdown();
}

// Answers each PublishStream request as control does: a plain request with
// its request_id and offset, a batch with one result per item, in order.
class EchoStreamService final : public v1::ControlService::Service {
 public:
  grpc::Status PublishStream(grpc::ServerContext* context,
                             grpc::ServerReaderWriter<v1::PublishStreamResponse,
                                                      v1::PublishStreamRequest>* stream) override {
    v1::PublishStreamRequest request;
    while (stream->Read(&request)) {
      v1::PublishStreamResponse response;
      if (request.items_size() == 0) {
        response = Answer(request);
      } else {
        for (const v1::PublishStreamRequest& item : request.items()) {
          *response.add_results() = Answer(item);
        }
      }
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  std::vector<v1::PublishStreamRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  static v1::PublishStreamResponse Answer(const v1::PublishStreamRequest& item) {
    v1::PublishStreamResponse response;
    response.set_request_id(item.request_id());
    response.set_offset(item.request_id() * 10);
    response.set_epoch(item.channel());
    return response;
  }

  absl::Mutex mu_;
  std::vector<v1::PublishStreamRequest> requests_ ABSL_GUARDED_BY(mu_);
};

ControlClient::StreamRequest Item(uint64_t id, bool more_ready) {
  ControlClient::StreamRequest next;
  next.request.set_channel(absl::StrCat("c", id));
  next.request.set_data("{}");
  next.request.set_request_id(id);
  next.more_ready = more_ready;
  return next;
}

ControlClient::StreamRequest Batch(uint64_t first_id, int size, bool more_ready) {
  ControlClient::StreamRequest next;
  for (int i = 0; i < size; ++i) *next.request.add_items() = Item(first_id + i, false).request;
  next.more_ready = more_ready;
  return next;
}

TEST(GrpcControlClientTest, StreamCarriesBatchesAndTheirAnswers) {
  EchoStreamService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  // A plain request held back for the batch behind it, the batch (held back
  // too), and a plain one that is not: the three go out together.
  std::vector<ControlClient::StreamRequest> script = {Item(1, true), Batch(2, 3, true),
                                                      Item(5, false)};
  size_t asked = 0;
  std::vector<v1::PublishStreamResponse> answers;
  grpc::Status status =
      Client(Target(absl::StrCat("127.0.0.1:", port)))
          ->PublishStream(
              [&]() -> std::optional<ControlClient::StreamRequest> {
                if (asked == script.size()) return std::nullopt;
                return script[asked++];
              },
              [&](const v1::PublishStreamResponse& response) { answers.push_back(response); });
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].request_id(), 1u);
  EXPECT_EQ(answers[0].results_size(), 0);
  ASSERT_EQ(answers[1].results_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(answers[1].results(i).request_id(), static_cast<uint64_t>(2 + i));
    EXPECT_EQ(answers[1].results(i).offset(), static_cast<uint64_t>(20 + 10 * i));
    EXPECT_EQ(answers[1].results(i).epoch(), absl::StrCat("c", 2 + i));
  }
  EXPECT_EQ(answers[2].request_id(), 5u);
  std::vector<v1::PublishStreamRequest> seen = service.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].channel(), "c1");
  ASSERT_EQ(seen[1].items_size(), 3);
  EXPECT_EQ(seen[1].items(2).channel(), "c4");
  EXPECT_EQ(seen[2].channel(), "c5");
  server->Shutdown();
}

TEST(GrpcControlClientTest, HeldBackRequestsGoOutWhileAnswersAreRead) {
  EchoStreamService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  // Far more than the transport's write buffer and flow-control windows
  // hold, every request but the last held back: none may be stuck.
  constexpr uint64_t kRequests = 20000;
  uint64_t asked = 0;
  uint64_t answered = 0;
  uint64_t next_expected = 1;
  grpc::Status status = Client(Target(absl::StrCat("127.0.0.1:", port)))
                            ->PublishStream(
                                [&]() -> std::optional<ControlClient::StreamRequest> {
                                  if (asked == kRequests) return std::nullopt;
                                  ++asked;
                                  return Item(asked, asked < kRequests);
                                },
                                [&](const v1::PublishStreamResponse& response) {
                                  if (response.request_id() == next_expected) ++next_expected;
                                  ++answered;
                                });
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(answered, kRequests);
  EXPECT_EQ(next_expected, kRequests + 1);
  server->Shutdown();
}

TEST(GrpcControlClientTest, RequestNotHeldBackSendsThoseBeforeIt) {
  EchoStreamService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  // Two requests, the first held back; then the input waits until both are
  // answered, as a person typing waits for the answers of what was typed.
  absl::Mutex mu;
  int answered = 0;
  int asked = 0;
  bool both_answered = false;
  grpc::Status status = Client(Target(absl::StrCat("127.0.0.1:", port)))
                            ->PublishStream(
                                [&]() -> std::optional<ControlClient::StreamRequest> {
                                  ++asked;
                                  if (asked <= 2) return Item(asked, asked == 1);
                                  absl::MutexLock lock(&mu);
                                  both_answered = mu.AwaitWithTimeout(
                                      absl::Condition(
                                          +[](int* count) { return *count == 2; }, &answered),
                                      absl::Seconds(10));
                                  return std::nullopt;
                                },
                                [&](const v1::PublishStreamResponse&) {
                                  absl::MutexLock lock(&mu);
                                  ++answered;
                                });
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_TRUE(both_answered) << "the requests were not sent until the input ended";
  server->Shutdown();
}

TEST(GrpcControlClientTest, UnreadableCaFileIsAnError) {
  ControlTarget target = Target("127.0.0.1:1");
  target.tls_ca_file = "/nonexistent/ca.pem";
  absl::StatusOr<std::unique_ptr<ControlClient>> client = NewGrpcControlClient(target);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(std::string(client.status().message()).find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(GrpcControlClientTest, UnaryCallToNobodyFailsWithinTheTimeout) {
  std::unique_ptr<ControlClient> client = Client(Target(DeadTarget()));
  const absl::Time start = absl::Now();
  v1::StatsResponse response;
  grpc::Status status = client->Stats(v1::StatsRequest(), &response);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
              status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_code() << " " << status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(GrpcControlClientTest, StreamToNobodyEndsWithoutWaitingForInput) {
  std::unique_ptr<ControlClient> client = Client(Target(DeadTarget()));
  int asked = 0;
  int answered = 0;
  grpc::Status status = client->PublishStream(
      [&]() -> std::optional<ControlClient::StreamRequest> {
        // One request, then the end of the input.
        if (asked++ > 0) return std::nullopt;
        ControlClient::StreamRequest next;
        next.request.set_channel("news");
        next.request.set_data("{}");
        next.request.set_request_id(1);
        return next;
      },
      [&](const v1::PublishStreamResponse&) { ++answered; });
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(answered, 0);
}

}  // namespace
}  // namespace wirehub::ctl
