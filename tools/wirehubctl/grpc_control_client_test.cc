#include "tools/wirehubctl/grpc_control_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

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

TEST(GrpcControlClientTest, UnaryCallToNobodyFailsWithinTheTimeout) {
  std::unique_ptr<ControlClient> client = NewGrpcControlClient(DeadTarget(), absl::Seconds(2));
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
  std::unique_ptr<ControlClient> client = NewGrpcControlClient(DeadTarget(), absl::Seconds(2));
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
