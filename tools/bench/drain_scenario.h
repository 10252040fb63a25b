// The drain scenario: how fast the clients of a stopping edge arrive at
// another one (issue 14: a rolling restart must not be a reconnect storm).
#ifndef WIREHUB_TOOLS_BENCH_DRAIN_SCENARIO_H_
#define WIREHUB_TOOLS_BENCH_DRAIN_SCENARIO_H_

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tools/bench/scenarios.h"

namespace wirehub::bench {

// PeakInWindow()
//
// The most of `times` (ascending) that fall in any half-open interval of
// length `window`.
size_t PeakInWindow(const std::vector<absl::Duration>& times, absl::Duration window);

// RunDrainScenario()
//
// Two edges on one control; options.clients (10000) subscribers on the
// first, each reconnecting to the second as soon as it is closed. The first
// edge gets SIGTERM and drains: once with --drain_duration=0s (every client
// closed at once, as before issue 14) and once with waves over
// options.duration (10s). Reports per case the peak reconnects in any
// second, the mean rate, how long the move took and the clients that
// failed to come back.
absl::Status RunDrainScenario(const BenchOptions& options);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_DRAIN_SCENARIO_H_
