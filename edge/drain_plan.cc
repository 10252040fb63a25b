#include "edge/drain_plan.h"

#include <algorithm>
#include <cmath>

namespace wirehub::edge {

size_t DrainPlan::WaveSize(absl::Time now, size_t remaining) {
  if (now >= deadline_) {
    previous_ = now;
    return remaining;
  }
  if (now <= previous_ || remaining == 0) return 0;
  // The remaining clients spread evenly over [previous_, deadline_]; this
  // wave owes the part of them that falls in [previous_, now].
  const double share = absl::FDivDuration(now - previous_, deadline_ - previous_);
  previous_ = now;
  owed_ += static_cast<double>(remaining) * share;
  // The epsilon keeps a share that is a whole number but for rounding
  // (600 * 0.1 / 3) from leaving one client for the next wave.
  const size_t wave = std::min(remaining, static_cast<size_t>(std::floor(owed_ + 1e-9)));
  owed_ = std::max(0.0, owed_ - static_cast<double>(wave));
  return wave;
}

}  // namespace wirehub::edge
