// TokenBucket: a rate with a burst, refilled lazily when a token is taken.
#ifndef WIREHUB_EDGE_TOKEN_BUCKET_H_
#define WIREHUB_EDGE_TOKEN_BUCKET_H_

#include <algorithm>

#include "absl/time/time.h"
#include "edge/compact_time.h"

namespace wirehub::edge {

// The rate and burst live with the caller (one option shared by every
// bucket); the bucket holds only its level.
// Thread: its owner's (not synchronized).
struct TokenBucket {
  double tokens = 0;
  // 8 bytes rather than 16: every connection has a bucket.
  CompactTime refilled_at;

  void Fill(double burst, absl::Time now) {
    tokens = burst;
    refilled_at = now;
  }
  // Adds `rate` tokens per second since the last call, up to `burst`.
  void Refill(double rate, double burst, absl::Time now) {
    double elapsed = absl::ToDoubleSeconds(now - refilled_at);
    if (elapsed > 0) tokens = std::min(burst, tokens + elapsed * rate);
    refilled_at = now;
  }
  // Refills, then takes one token; false, taking none, when there is none.
  bool Take(double rate, double burst, absl::Time now) {
    Refill(rate, burst, now);
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_TOKEN_BUCKET_H_
