// ApiCallTracker: wirehub_control_api_calls_total and
// wirehub_control_api_call_duration_seconds for every ControlService call,
// and the count of unary calls in flight that a drain waits for.
#ifndef WIREHUB_CONTROL_API_CALL_TRACKER_H_
#define WIREHUB_CONTROL_API_CALL_TRACKER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include <grpcpp/support/server_interceptor.h>

#include "control/control_metrics.h"

namespace wirehub::control {

// Thread-safe. NewFactory() makes the interceptor factory a ServerBuilder
// takes; its interceptors see each ControlService call's arrival and the
// status it is answered with (whoever answers it: the key check, a drain's
// refusal, the service), so every method is counted in one place. Calls of
// other services on the listener (health, reflection) are not counted.
// Per call: a lookup of the method name in a table built up front, two
// clock reads and a few relaxed atomic adds; no lock.
//
// Streams (PublishStream) are counted when they end; their duration, the
// stream's lifetime, is not observed.
class ApiCallTracker {
 public:
  // `metrics` outlives the tracker, which outlives the server.
  explicit ApiCallTracker(ControlMetrics* metrics) : metrics_(metrics) {}

  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewFactory();

  // Unary ControlService calls that arrived and are not finished.
  int64_t unary_in_flight() const { return unary_in_flight_.load(std::memory_order_acquire); }

 private:
  friend class ApiCallInterceptor;
  friend class ApiCallInterceptorFactory;

  ControlMetrics* const metrics_;
  std::atomic<int64_t> unary_in_flight_{0};
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_API_CALL_TRACKER_H_
