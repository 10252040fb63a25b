#include "control/callback_thread_parker.h"

#include <memory>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::control {
namespace {

// A callback service with nothing implemented: a server needs one.
v1::ControlService::CallbackService* Unimplemented() {
  static auto* service = new v1::ControlService::CallbackService;
  return service;
}

// A server with the health service, on a port nobody calls: the tests
// reach it in process.
std::unique_ptr<grpc::Server> HealthServer() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(Unimplemented());
  return builder.BuildAndStart();
}

// Makes `calls` health checks at once and waits until every completion
// callback ran (each on a callback thread); false after `timeout`.
bool CallbacksRun(grpc::Server* server, int calls, absl::Duration timeout) {
  grpc::ChannelArguments args;
  grpc::GenericStub stub(server->InProcessChannel(args));
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    absl::Notification done;
  };
  std::vector<std::unique_ptr<Call>> pending;
  for (int i = 0; i < calls; ++i) {
    auto call = std::make_unique<Call>();
    grpc::Slice empty;
    call->request = grpc::ByteBuffer(&empty, 1);
    Call* raw = call.get();
    stub.UnaryCall(&raw->context, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                   &raw->request, &raw->response,
                   [raw](const grpc::Status&) { raw->done.Notify(); });
    pending.push_back(std::move(call));
  }
  bool all = true;
  for (auto& call : pending) {
    all = call->done.WaitForNotificationWithTimeout(timeout) && all;
  }
  if (!all) {
    for (auto& call : pending) call->context.TryCancel();
    for (auto& call : pending) call->done.WaitForNotificationWithTimeout(timeout);
  }
  return all;
}

TEST(CallbackThreadParkerTest, PoolSizeIsGrpcsClamp) {
  const int size = CallbackThreadParker::PoolSize();
  EXPECT_GE(size, 2);
  EXPECT_LE(size, 16);
}

TEST(CallbackThreadParkerTest, ParksAllButOneAndCallbacksStillRun) {
  std::unique_ptr<grpc::Server> server = HealthServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<CallbackThreadParker>> parker =
      CallbackThreadParker::Park(server.get(), 1, absl::Seconds(5));
  ASSERT_TRUE(parker.ok()) << parker.status();
  EXPECT_EQ((*parker)->parked(), CallbackThreadParker::PoolSize() - 1);
  // Many calls at once all complete on the thread that is left.
  EXPECT_TRUE(CallbacksRun(server.get(), 200, absl::Seconds(10)));
  parker->reset();
  // Released threads are back: parking works again.
  absl::StatusOr<std::unique_ptr<CallbackThreadParker>> again =
      CallbackThreadParker::Park(server.get(), 1, absl::Seconds(5));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->parked(), CallbackThreadParker::PoolSize() - 1);
  again->reset();
  EXPECT_TRUE(CallbacksRun(server.get(), 10, absl::Seconds(10)));
  server->Shutdown();
}

TEST(CallbackThreadParkerTest, KeepingThePoolParksNothing) {
  std::unique_ptr<grpc::Server> server = HealthServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<CallbackThreadParker>> parker =
      CallbackThreadParker::Park(server.get(), CallbackThreadParker::PoolSize(), absl::Seconds(5));
  ASSERT_TRUE(parker.ok()) << parker.status();
  EXPECT_EQ((*parker)->parked(), 0);
  EXPECT_TRUE(CallbacksRun(server.get(), 10, absl::Seconds(10)));
  parker->reset();
  server->Shutdown();
}

}  // namespace
}  // namespace wirehub::control
