// ConnectionLimiter: per-address connection counts and connection rates.
#ifndef WIREHUB_EDGE_CONNECTION_LIMITER_H_
#define WIREHUB_EDGE_CONNECTION_LIMITER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "edge/token_bucket.h"

namespace wirehub::edge {

struct ConnectionLimiterOptions {
  // Open WebSocket connections per address key; 0: unlimited.
  uint32_t max_per_address = 0;
  // New connections per second per address key (token bucket) and the
  // burst; rate 0: unlimited.
  double rate_per_address = 0;
  uint32_t burst_per_address = 0;
};

// ConnectionLimiter admits handshakes per client address (the key is
// IpAddress::LimitKey()). What it holds is bounded by the open connections
// plus the addresses seen within one refill of the rate bucket: Sweep()
// forgets an address with no connection once its bucket is full again.
// Thread: edge loop only.
class ConnectionLimiter {
 public:
  enum class Verdict { kAdmit, kTooManyConnections, kRateExceeded };

  explicit ConnectionLimiter(ConnectionLimiterOptions options);

  // New limits (a config reload) for the handshakes to come; the open
  // connections counted so far stay counted.
  void Reconfigure(ConnectionLimiterOptions options);

  // Whether Admit() counts connections at all (a limit is configured). A
  // connection admitted while it does not must not be Release()d.
  bool enabled() const { return options_.max_per_address > 0 || options_.rate_per_address > 0; }
  // A handshake from `key` at `now`. kAdmit counts one open connection,
  // to be returned with Release() when it closes.
  Verdict Admit(std::string_view key, absl::Time now);
  void Release(std::string_view key);
  // Drops idle addresses; run every few seconds.
  void Sweep(absl::Time now);

  size_t tracked_addresses() const { return addresses_.size(); }

 private:
  struct Address {
    uint32_t open = 0;
    TokenBucket bucket;
  };

  ConnectionLimiterOptions options_;
  // The bucket's size: burst_per_address, at least one.
  double burst_;
  absl::flat_hash_map<std::string, Address> addresses_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CONNECTION_LIMITER_H_
