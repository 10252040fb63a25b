#include "control/control_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;

// grpc.health.v1.Health/Check through a generic stub: the request is
// HealthCheckRequest{service = 1}, the answer HealthCheckResponse{status =
// 1}, whose SERVING is 1.
struct HealthAnswer {
  grpc::Status status;
  int serving_status = -1;
};

HealthAnswer CheckHealth(const std::string& address, const std::string& service) {
  std::string request;
  request.push_back(0x0a);
  request.push_back(static_cast<char>(service.size()));
  request += service;
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  absl::Notification done;
  HealthAnswer answer;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status status) {
                   answer.status = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!answer.status.ok()) return answer;
  std::vector<grpc::Slice> slices;
  (void)response_buffer.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& part : slices) bytes.append(part.begin(), part.end());
  if (bytes.size() >= 2 && bytes[0] == 0x08) answer.serving_status = bytes[1];
  if (bytes.empty()) answer.serving_status = 0;
  return answer;
}

ControlServerOptions Options(int port = 0) {
  ControlServerOptions options;
  options.grpc_listen = absl::StrCat("127.0.0.1:", port);
  return options;
}

TEST(ControlServerTest, HealthAnswersForTheServerAndEachService) {
  ControlServer server(Options());
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  std::string address = absl::StrCat("127.0.0.1:", *port);
  EXPECT_EQ(CheckHealth(address, "").serving_status, 1);
  EXPECT_EQ(CheckHealth(address, "wirehub.control.v1.ControlService").serving_status, 1);
  HealthAnswer unknown = CheckHealth(address, "no.such.Service");
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, SecondServerOnATakenPortRefusesToStart) {
  ControlServer first(Options());
  absl::StatusOr<int> port = first.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  ControlServer second(Options(*port));
  absl::StatusOr<int> taken = second.Start();
  ASSERT_FALSE(taken.ok());
  EXPECT_THAT(std::string(taken.status().message()), HasSubstr(absl::StrCat("127.0.0.1:", *port)));
  // The first one still serves.
  EXPECT_EQ(CheckHealth(absl::StrCat("127.0.0.1:", *port), "").serving_status, 1);
  first.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace wirehub::control
