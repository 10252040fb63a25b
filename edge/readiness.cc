#include "edge/readiness.h"

#include "absl/strings/str_cat.h"

namespace wirehub::edge {

EdgeReadiness::EdgeReadiness(absl::Duration link_ready_timeout, absl::Time start)
    : link_ready_timeout_(link_ready_timeout), detached_since_micros_(absl::ToUnixMicros(start)) {}

void EdgeReadiness::SetLinkAttached(bool attached, absl::Time now) {
  if (attached) {
    ever_attached_.store(true, std::memory_order_relaxed);
  } else if (link_attached_.load(std::memory_order_relaxed)) {
    detached_since_micros_.store(absl::ToUnixMicros(now), std::memory_order_relaxed);
  }
  link_attached_.store(attached, std::memory_order_relaxed);
}

void EdgeReadiness::SetConnections(size_t open, size_t limit) {
  open_.store(open, std::memory_order_relaxed);
  limit_.store(limit, std::memory_order_relaxed);
}

std::vector<std::string> EdgeReadiness::NotReadyReasons(absl::Time now) const {
  std::vector<std::string> reasons;
  if (draining()) reasons.push_back("draining");
  if (!link_attached_.load(std::memory_order_relaxed)) {
    absl::Duration detached =
        now - absl::FromUnixMicros(detached_since_micros_.load(std::memory_order_relaxed));
    if (detached > link_ready_timeout_) {
      reasons.push_back(absl::StrCat(
          "control link detached for ", absl::ToInt64Seconds(detached), "s",
          ever_attached_.load(std::memory_order_relaxed) ? "" : " (not attached since start)"));
    }
  }
  uint64_t limit = limit_.load(std::memory_order_relaxed);
  if (limit > 0 && open_.load(std::memory_order_relaxed) >= limit) {
    reasons.push_back(absl::StrCat("at connection limit (", limit, ")"));
  }
  return reasons;
}

}  // namespace wirehub::edge
