#include "common/log_rate_limiter.h"

namespace wirehub {

std::optional<uint64_t> LogRateLimiter::Acquire(absl::Duration period, absl::Time now) {
  const int64_t now_nanos = absl::ToUnixNanos(now);
  int64_t next = next_nanos_.load(std::memory_order_relaxed);
  // Of the callers that find the period over, the one whose exchange succeeds
  // writes; the others count as held back.
  if (now_nanos < next || !next_nanos_.compare_exchange_strong(
                              next, absl::ToUnixNanos(now + period), std::memory_order_relaxed)) {
    held_back_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return held_back_.exchange(0, std::memory_order_relaxed);
}

void LogRateLimiter::Reset() {
  held_back_.store(0, std::memory_order_relaxed);
  next_nanos_.store(std::numeric_limits<int64_t>::min(), std::memory_order_relaxed);
}

}  // namespace wirehub
