#include "control/callback_thread_parker.h"

#include <algorithm>
#include <utility>

#include <grpc/support/cpu.h>
#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace wirehub::control {
namespace {

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";

// One in-process health check; deletes itself when it completes.
struct ParkingCall {
  ParkingCall() {
    // An empty HealthCheckRequest (service "") serializes to no bytes; a
    // ByteBuffer must still hold a (empty) slice to be a message.
    grpc::Slice empty;
    request = grpc::ByteBuffer(&empty, 1);
  }
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

}  // namespace

int CallbackThreadParker::PoolSize() {
  // gRPC 1.51, src/cpp/common/completion_queue_cc.cc:
  // Clamp(gpr_cpu_num_cores() / 2, 2u, 16u).
  return static_cast<int>(std::clamp(gpr_cpu_num_cores() / 2, 2u, 16u));
}

absl::StatusOr<std::unique_ptr<CallbackThreadParker>> CallbackThreadParker::Park(
    grpc::Server* server, int keep, absl::Duration step_timeout) {
  auto state = std::make_shared<State>();
  grpc::ChannelArguments args;
  state->channel = server->InProcessChannel(args);
  // From here on a failure returns through the parker's destructor, which
  // releases whatever was parked.
  std::unique_ptr<CallbackThreadParker> parker(new CallbackThreadParker(state, step_timeout));
  const int to_park = PoolSize() - std::max(keep, 1);
  for (int i = 0; i < to_park; ++i) {
    Call(state, [s = state.get()] { Hold(s); });
    absl::MutexLock lock(&state->mu);
    // Conditions run with the mutex held; the analysis cannot name a
    // capture's mutex, so these lambdas opt out of it.
    auto parked = [s = state.get(), i]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->parked > i; };
    if (!state->mu.AwaitWithTimeout(absl::Condition(&parked), step_timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("parked ", i, " of ", to_park, " gRPC callback threads, then none came"));
    }
  }
  // A callback must still find a thread.
  Call(state, [s = state.get()] {
    absl::MutexLock lock(&s->mu);
    ++s->probes;
  });
  absl::MutexLock lock(&state->mu);
  auto probed = [s = state.get()]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->probes > 0; };
  if (!state->mu.AwaitWithTimeout(absl::Condition(&probed), step_timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "after parking ", to_park, " gRPC callback threads no callback ran: released them"));
  }
  return parker;
}

CallbackThreadParker::~CallbackThreadParker() {
  absl::MutexLock lock(&state_->mu);
  state_->released = true;
  auto gone = [s = state_.get()]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->parked == 0; };
  if (!state_->mu.AwaitWithTimeout(absl::Condition(&gone), step_timeout_)) {
    WH_LOG(ERROR) << state_->parked << " parked gRPC callback thread(s) did not leave";
  }
}

int CallbackThreadParker::parked() const {
  absl::MutexLock lock(&state_->mu);
  return state_->parked;
}

void CallbackThreadParker::Call(const std::shared_ptr<State>& state, std::function<void()> then) {
  auto* call = new ParkingCall;
  call->context.set_wait_for_ready(true);
  grpc::GenericStub stub(state->channel);
  // The callback keeps the state alive: it may run after the parker is gone.
  stub.UnaryCall(&call->context, kHealthCheck, grpc::StubOptions(), &call->request, &call->response,
                 [call, state, then = std::move(then)](const grpc::Status&) {
                   delete call;
                   then();
                 });
}

void CallbackThreadParker::Hold(State* state) {
  absl::MutexLock lock(&state->mu);
  ++state->parked;
  state->mu.Await(absl::Condition(&state->released));
  --state->parked;
}

}  // namespace wirehub::control
