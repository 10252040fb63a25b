#include "control/api_call_tracker.h"

#include <chrono>

namespace wirehub::control {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

// Thread-compatible: gRPC runs one call's hooks one at a time.
// One call: counted when its status is sent, or as CANCELLED when it ends
// without one (the client went away first).
class ApiCallInterceptor final : public grpc::experimental::Interceptor {
 public:
  ApiCallInterceptor(ApiCallTracker* tracker, MethodSeries* method, bool unary)
      : tracker_(tracker),
        method_(method),
        unary_(unary),
        start_(std::chrono::steady_clock::now()) {
    if (unary_) tracker_->unary_in_flight_.fetch_add(1, std::memory_order_acq_rel);
  }

  // The interceptor dies with the call.
  ~ApiCallInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
    if (unary_) tracker_->unary_in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    absl::Duration duration = absl::FromChrono(std::chrono::steady_clock::now() - start_);
    method_->Record(code, unary_ ? duration : -absl::Nanoseconds(1));
  }

  ApiCallTracker* const tracker_;
  MethodSeries* const method_;
  const bool unary_;
  const std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

// Thread-safe: gRPC creates interceptors on any thread.
class ApiCallInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ApiCallInterceptorFactory(ApiCallTracker* tracker) : tracker_(tracker) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    MethodSeries* method = tracker_->metrics_->Method(info->method());
    if (method == nullptr) return nullptr;
    return new ApiCallInterceptor(tracker_, method, info->type() == ServerRpcInfo::Type::UNARY);
  }

 private:
  ApiCallTracker* const tracker_;
};

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ApiCallTracker::NewFactory() {
  return std::make_unique<ApiCallInterceptorFactory>(this);
}

}  // namespace wirehub::control
