#include "edge/connection_limiter.h"

#include <algorithm>

#include "common/absl_compat.h"

namespace wirehub::edge {

ConnectionLimiter::ConnectionLimiter(ConnectionLimiterOptions options) : options_(options) {}

void ConnectionLimiter::Refill(Address& address, absl::Time now) const {
  if (options_.rate_per_address <= 0) return;
  double elapsed = absl::ToDoubleSeconds(now - address.refilled);
  if (elapsed > 0) {
    address.tokens = std::min<double>(options_.burst_per_address,
                                      address.tokens + elapsed * options_.rate_per_address);
    address.refilled = now;
  }
}

ConnectionLimiter::Verdict ConnectionLimiter::Admit(std::string_view key, absl::Time now) {
  if (options_.max_per_address == 0 && options_.rate_per_address <= 0) return Verdict::kAdmit;
  auto [it, inserted] = addresses_.try_emplace(AsAbsl(key));
  Address& address = it->second;
  if (inserted) {
    address.tokens = std::max<double>(1, options_.burst_per_address);
    address.refilled = now;
  }
  Refill(address, now);
  if (options_.max_per_address > 0 && address.open >= options_.max_per_address) {
    return Verdict::kTooManyConnections;
  }
  if (options_.rate_per_address > 0) {
    if (address.tokens < 1) return Verdict::kRateExceeded;
    address.tokens -= 1;
  }
  ++address.open;
  return Verdict::kAdmit;
}

void ConnectionLimiter::Release(std::string_view key) {
  auto it = addresses_.find(AsAbsl(key));
  if (it == addresses_.end() || it->second.open == 0) return;
  --it->second.open;
}

void ConnectionLimiter::Sweep(absl::Time now) {
  double full = std::max<double>(1, options_.burst_per_address);
  absl::erase_if(addresses_, [&](auto& entry) {
    Address& address = entry.second;
    if (address.open > 0) return false;
    Refill(address, now);
    return options_.rate_per_address <= 0 || address.tokens >= full;
  });
}

}  // namespace wirehub::edge
