// A server-side deadline for unary calls that bring none: a backend that
// forgets its deadline cannot hold a call (and its stream slot) forever.
#ifndef WIREHUB_CONTROL_UNARY_DEADLINE_INTERCEPTOR_H_
#define WIREHUB_CONTROL_UNARY_DEADLINE_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include "absl/time/time.h"

namespace wirehub::control {

// UnaryDeadlineInterceptorFactory makes, for each unary call without a
// deadline, an interceptor that cancels the call (the client sees
// CANCELLED) once `timeout` has passed since its metadata arrived. Calls
// with a deadline of their own and streaming calls (PublishStream, the
// edges' Attach, meant to last) are left alone.
// Thread-safe: gRPC creates interceptors on any thread.
//
// Example:
//   std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> f;
//   f.push_back(std::make_unique<UnaryDeadlineInterceptorFactory>(absl::Seconds(30)));
//   builder.experimental().SetInterceptorCreators(std::move(f));
class UnaryDeadlineInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit UnaryDeadlineInterceptorFactory(absl::Duration timeout) : timeout_(timeout) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  const absl::Duration timeout_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_UNARY_DEADLINE_INTERCEPTOR_H_
