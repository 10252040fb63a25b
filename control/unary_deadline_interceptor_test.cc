#include "control/unary_deadline_interceptor.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::control {
namespace {

// Stats never answers until the call is cancelled; Info answers at once.
class HangingService final : public v1::ControlService::CallbackService {
 public:
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override {
    class Hanging final : public grpc::ServerUnaryReactor {
     public:
      void OnCancel() override { Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }
    };
    return new Hanging();
  }
  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* context,
                                 const v1::InfoRequest* request,
                                 v1::InfoResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

class UnaryDeadlineInterceptorTest : public ::testing::Test {
 protected:
  static constexpr absl::Duration kTimeout = absl::Milliseconds(300);

  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<UnaryDeadlineInterceptorFactory>(kTimeout));
    builder.experimental().SetInterceptorCreators(std::move(factories));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::ControlService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  HangingService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ControlService::Stub> stub_;
};

TEST_F(UnaryDeadlineInterceptorTest, CallWithoutDeadlineIsCancelledAfterTheTimeout) {
  grpc::ClientContext context;  // No deadline.
  v1::StatsResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status = stub_->Stats(&context, v1::StatsRequest(), &response);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_GE(took, kTimeout);
  EXPECT_LT(took, absl::Seconds(5));
}

TEST_F(UnaryDeadlineInterceptorTest, TheClientsOwnDeadlineIsKept) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + 3 * kTimeout));
  v1::StatsResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status = stub_->Stats(&context, v1::StatsRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GE(absl::Now() - start, 2 * kTimeout);
}

TEST_F(UnaryDeadlineInterceptorTest, QuickCallsAreUntouched) {
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext context;
    v1::InfoResponse response;
    EXPECT_TRUE(stub_->Info(&context, v1::InfoRequest(), &response).ok());
  }
  // The alarms of finished calls fire into nothing.
  absl::SleepFor(kTimeout + absl::Milliseconds(100));
}

}  // namespace
}  // namespace wirehub::control
