// CompactTime: an absl::Time in 8 bytes, for the timestamps an edge keeps
// per connection.
#ifndef WIREHUB_EDGE_COMPACT_TIME_H_
#define WIREHUB_EDGE_COMPACT_TIME_H_

#include <cstdint>
#include <limits>

#include "absl/time/time.h"

namespace wirehub::edge {

// CompactTime holds an absl::Time (16 bytes) as nanoseconds since the Unix
// epoch in one int64. It is exact for every time from 1677 to 2262; the
// infinite times stay infinite, and finite times outside that range are
// clamped to its ends. Being another representation of the same value, it
// converts to and from absl::Time implicitly, so a field can change type
// without its readers noticing.
//
// Example:
//   CompactTime deadline = absl::Now() + timeout;
//   if (absl::Now() >= deadline) ...
//
// Thread-compatible.
class CompactTime {
 public:
  // The Unix epoch, as absl::Time() is.
  constexpr CompactTime() = default;
  CompactTime(absl::Time time)  // NOLINT(google-explicit-constructor): same value.
      : unix_nanos_(ToUnixNanos(time)) {}

  operator absl::Time() const {  // NOLINT(google-explicit-constructor): same value.
    if (unix_nanos_ == kFuture) return absl::InfiniteFuture();
    if (unix_nanos_ == kPast) return absl::InfinitePast();
    return absl::FromUnixNanos(unix_nanos_);
  }

 private:
  // The infinite times; finite ones lie strictly between.
  static constexpr int64_t kFuture = std::numeric_limits<int64_t>::max();
  static constexpr int64_t kPast = std::numeric_limits<int64_t>::min();

  static int64_t ToUnixNanos(absl::Time time) {
    if (time == absl::InfiniteFuture()) return kFuture;
    if (time == absl::InfinitePast()) return kPast;
    if (time >= absl::FromUnixNanos(kFuture - 1)) return kFuture - 1;
    if (time <= absl::FromUnixNanos(kPast + 1)) return kPast + 1;
    return absl::ToUnixNanos(time);
  }

  int64_t unix_nanos_ = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_COMPACT_TIME_H_
