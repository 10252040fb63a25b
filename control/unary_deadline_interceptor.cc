#include "control/unary_deadline_interceptor.h"

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>

#include <chrono>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace wirehub::control {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Cancels its call at the timeout unless the call ends first.
// Thread-safe: gRPC runs Intercept() on its threads, the alarm fires on
// another.
class UnaryDeadlineInterceptor final : public grpc::experimental::Interceptor {
 public:
  UnaryDeadlineInterceptor(grpc::ServerContextBase* context, absl::Duration timeout)
      : call_(std::make_shared<Call>()), timeout_(timeout) {
    call_->context = context;
  }

  // The interceptor dies with the call's context: after this no alarm can
  // touch the context.
  ~UnaryDeadlineInterceptor() override { Disarm(); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      Arm();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) Disarm();
    methods->Proceed();
  }

 private:
  struct Call {
    absl::Mutex mu;
    // Null once the call has ended.
    grpc::ServerContextBase* context ABSL_GUARDED_BY(mu) = nullptr;
  };

  void Arm() {
    grpc::ServerContextBase* context;
    {
      absl::MutexLock lock(&call_->mu);
      context = call_->context;
    }
    if (context == nullptr || armed_) return;
    // A deadline the client chose is kept, however long.
    if (context->deadline() != std::chrono::system_clock::time_point::max()) return;
    armed_ = true;
    alarm_.Set(absl::ToChronoTime(absl::Now() + timeout_), [call = call_](bool fired) {
      if (!fired) return;  // Cancelled: the call ended first.
      absl::MutexLock lock(&call->mu);
      if (call->context != nullptr) call->context->TryCancel();
    });
  }

  void Disarm() {
    {
      absl::MutexLock lock(&call_->mu);
      call_->context = nullptr;
    }
    if (armed_) alarm_.Cancel();
  }

  const std::shared_ptr<Call> call_;
  const absl::Duration timeout_;
  // Touched only from Intercept() and the destructor, which gRPC never runs
  // concurrently for one call's hooks.
  bool armed_ = false;
  grpc::Alarm alarm_;
};

}  // namespace

grpc::experimental::Interceptor* UnaryDeadlineInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) return nullptr;
  return new UnaryDeadlineInterceptor(info->server_context(), timeout_);
}

}  // namespace wirehub::control
