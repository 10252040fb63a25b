// DrainPlan: how many clients each wave of a drain closes.
#ifndef WIREHUB_EDGE_DRAIN_PLAN_H_
#define WIREHUB_EDGE_DRAIN_PLAN_H_

#include <cstddef>

#include "absl/time/time.h"

namespace wirehub::edge {

// DrainPlan spreads the closing of a draining edge's clients evenly over
// [start, start + duration], so that they reconnect elsewhere at about
// N / duration per second instead of all at once.
//
// Each wave closes its share of the clients still open: the `remaining`
// clients spread evenly over the time from the previous wave to the
// deadline, and a wave at `now` owes remaining * (now - previous) /
// (deadline - previous) of them. The fraction of a client that is owed
// carries over to the next wave, so that 60 clients over 20 s with a wave
// every 100 ms close one about every third wave, not one per wave. With
// waves every `tick`, no wave closes more than N * tick / duration + 1 of
// N clients; with irregular waves (a late timer) no wave closes more than
// N * (now - previous) / duration + 2 (a carried fraction and rounding).
// The first wave at or after the deadline closes all that are left.
//
// Example (a wave every 100 ms):
//   DrainPlan plan(now, absl::Seconds(20));
//   ... every tick: size_t n = plan.WaveSize(absl::Now(), open_clients);
//
// Thread-compatible.
class DrainPlan {
 public:
  DrainPlan(absl::Time start, absl::Duration duration)
      : previous_(start), deadline_(start + duration) {}

  // How many of the `remaining` clients to close at `now`; every one at or
  // after the deadline.
  size_t WaveSize(absl::Time now, size_t remaining);

  absl::Time deadline() const { return deadline_; }

 private:
  absl::Time previous_;
  const absl::Time deadline_;
  // Clients owed but not closed yet: the fraction below one.
  double owed_ = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_DRAIN_PLAN_H_
