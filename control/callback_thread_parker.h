// CallbackThreadParker: keeps all but a few of gRPC's callback threads out of
// the way, so one thread polls, reads, publishes and writes.
#ifndef WIREHUB_CONTROL_CALLBACK_THREAD_PARKER_H_
#define WIREHUB_CONTROL_CALLBACK_THREAD_PARKER_H_

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wirehub::control {

// Why: gRPC 1.51 (Linux, epoll1) runs every callback-API reaction on a pool
// of "nexting" threads, clamp(cores / 2, 2, 16) of them, that share one
// completion queue and one epoll set. The thread that wakes for a socket
// hands the poller role to another pool thread before it handles what it
// read, and completions it queues wake yet another, so each inbound HTTP/2
// frame costs three or four context switches even when nothing else runs.
// With one pool thread left, the one that wakes does the whole job and goes
// back to epoll: a publication at a steady 1,000/s goes from ~8.5 context
// switches and ~170 µs of control CPU to ~2.5 and 66–86 µs. The price:
// every callback of the process runs on that thread, one after the other,
// so when it is preempted on busy shared cores every call waits (p99 of
// 40–86 ms measured there); with a core of its own the tails match the
// default pool's (docs/architecture.md, "Publish path cost").
//
// How: each parked thread is held inside the completion callback of a
// health check this process makes to its own server over an in-process
// channel; gRPC's pool thread that runs that callback stays there until
// Release(). After parking, a probe call proves that a callback can still
// run; if it cannot (the pool is smaller than gRPC 1.51 makes it), every
// thread is released and Park() fails, leaving gRPC as it was.
//
// Callbacks must never block, or the threads left could all wait on each
// other: control's never do (no gRPC thread waits, docs/architecture.md).
//
// Thread-safe.
class CallbackThreadParker {
 public:
  // The size of gRPC 1.51's callback pool on this machine.
  static int PoolSize();

  // Park()
  //
  // Parks PoolSize() - `keep` pool threads (none when that is not positive)
  // using health checks to `server` (which must serve grpc.health.v1).
  // Each step waits at most `step_timeout`. Errors (with nothing parked)
  // when a thread cannot be parked or the probe does not run.
  static absl::StatusOr<std::unique_ptr<CallbackThreadParker>> Park(grpc::Server* server, int keep,
                                                                    absl::Duration step_timeout);

  // Releases the parked threads and waits (bounded) until they have left.
  ~CallbackThreadParker();

  int parked() const;

 private:
  // Shared with the callbacks, which may run after a failed Park() has
  // returned.
  struct State {
    std::shared_ptr<grpc::Channel> channel;
    absl::Mutex mu;
    int parked ABSL_GUARDED_BY(mu) = 0;
    int probes ABSL_GUARDED_BY(mu) = 0;
    bool released ABSL_GUARDED_BY(mu) = false;
  };

  CallbackThreadParker(std::shared_ptr<State> state, absl::Duration step_timeout)
      : state_(std::move(state)), step_timeout_(step_timeout) {}

  // Starts a health check whose completion runs `then` on a pool thread.
  static void Call(const std::shared_ptr<State>& state, std::function<void()> then);
  // Runs on a pool thread: holds it until released.
  static void Hold(State* state);

  const std::shared_ptr<State> state_;
  const absl::Duration step_timeout_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CALLBACK_THREAD_PARKER_H_
