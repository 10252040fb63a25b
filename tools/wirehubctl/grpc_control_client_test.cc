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
      ->PublishStream([] { return std::optional<v1::PublishStreamRequest>(); },
                      [](const v1::PublishStreamResponse&) {});
  EXPECT_TRUE(Client(Target(address))->Stats(v1::StatsRequest(), &response).ok());
  EXPECT_EQ(service.seen(), (std::vector<std::string>{"apikey wh_k", "apikey wh_k", "(none)"}));
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
      [&]() -> std::optional<v1::PublishStreamRequest> {
        // One request, then the end of the input.
        if (asked++ > 0) return std::nullopt;
        v1::PublishStreamRequest request;
        request.set_channel("news");
        request.set_data("{}");
        request.set_request_id(1);
        return request;
      },
      [&](const v1::PublishStreamResponse&) { ++answered; });
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(answered, 0);
}

}  // namespace
}  // namespace wirehub::ctl
