// Process signal set-up shared by the server binaries.
#ifndef WIREHUB_COMMON_SIGNALS_H_
#define WIREHUB_COMMON_SIGNALS_H_

#include <csignal>

#include "absl/functional/function_ref.h"

namespace wirehub {

// BlockServerSignals()
//
// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and so in every
// thread it starts afterwards) and ignores SIGPIPE. Call it first in main(),
// before gRPC or libuv start threads; then take the returned set with
// WaitForStopSignal() on one thread.
sigset_t BlockServerSignals();

// WaitForStopSignal()
//
// Waits for the signals of `signals` (from BlockServerSignals()) and returns
// the number of the first SIGINT or SIGTERM. Each SIGHUP runs `on_hangup` on
// the calling thread and the wait goes on: a hang-up asks for a reload,
// never for a stop.
//
// Example:
//   int stop = WaitForStopSignal(signals, [] { WH_LOG(INFO) << "SIGHUP: ..."; });
int WaitForStopSignal(const sigset_t& signals, absl::FunctionRef<void()> on_hangup);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_SIGNALS_H_
