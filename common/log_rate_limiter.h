// The rate limit behind WH_LOG_EVERY_N_SEC (common/logging.h): repeated
// warnings (a refusal storm, a peer that keeps failing) reach the log as one
// line per period with a count of the lines held back.
#ifndef WIREHUB_COMMON_LOG_RATE_LIMITER_H_
#define WIREHUB_COMMON_LOG_RATE_LIMITER_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>

#include "absl/time/time.h"

namespace wirehub {

// LogRateLimiter lets one call per period through and counts the others.
// Thread-safe and lock-free; constant-initialized, so a function-local static
// costs no guard.
//
// Example (what WH_LOG_EVERY_N_SEC expands to, roughly):
//   static LogRateLimiter limiter;
//   if (std::optional<uint64_t> held_back = limiter.Acquire(absl::Seconds(10), absl::Now())) {
//     WH_LOG(WARNING) << "accept failed (suppressed " << *held_back << " similar)";
//   }
class LogRateLimiter {
 public:
  constexpr LogRateLimiter() = default;
  LogRateLimiter(const LogRateLimiter&) = delete;
  LogRateLimiter& operator=(const LogRateLimiter&) = delete;

  // Acquire()
  //
  // At `now`: the number of calls held back since the last one let through,
  // when this one may write (the first call, or `period` after the last one
  // let through); nullopt when it must not. Every call held back is counted
  // by exactly one later call that goes through.
  std::optional<uint64_t> Acquire(absl::Duration period, absl::Time now);

  // Reset()
  //
  // Lets the next call through at once, with nothing counted as held back
  // (e.g. after a failing peer recovered, so its next failure shows at once).
  void Reset();

 private:
  // Unix nanoseconds from which the next call may go through.
  std::atomic<int64_t> next_nanos_{std::numeric_limits<int64_t>::min()};
  std::atomic<uint64_t> held_back_{0};
};

}  // namespace wirehub

#endif  // WIREHUB_COMMON_LOG_RATE_LIMITER_H_
