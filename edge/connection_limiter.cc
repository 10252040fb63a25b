#include "edge/connection_limiter.h"

#include <algorithm>

#include "common/absl_compat.h"

namespace wirehub::edge {

ConnectionLimiter::ConnectionLimiter(ConnectionLimiterOptions options)
    : options_(options), burst_(std::max<double>(1, options.burst_per_address)) {}

void ConnectionLimiter::Reconfigure(ConnectionLimiterOptions options) {
  options_ = options;
  burst_ = std::max<double>(1, options.burst_per_address);
}

ConnectionLimiter::Verdict ConnectionLimiter::Admit(std::string_view key, absl::Time now) {
  if (options_.max_per_address == 0 && options_.rate_per_address <= 0) return Verdict::kAdmit;
  auto [it, inserted] = addresses_.try_emplace(AsAbsl(key));
  Address& address = it->second;
  if (inserted) address.bucket.Fill(burst_, now);
  if (options_.max_per_address > 0 && address.open >= options_.max_per_address) {
    return Verdict::kTooManyConnections;
  }
  if (options_.rate_per_address > 0 &&
      !address.bucket.Take(options_.rate_per_address, burst_, now)) {
    return Verdict::kRateExceeded;
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
  absl::erase_if(addresses_, [&](auto& entry) {
    Address& address = entry.second;
    if (address.open > 0) return false;
    if (options_.rate_per_address <= 0) return true;
    address.bucket.Refill(options_.rate_per_address, burst_, now);
    return address.bucket.tokens >= burst_;
  });
}

}  // namespace wirehub::edge
