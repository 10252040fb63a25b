// EdgeReadiness: whether the edge should get new clients (/readyz), and why
// not.
#ifndef WIREHUB_EDGE_READINESS_H_
#define WIREHUB_EDGE_READINESS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wirehub::edge {

// EdgeReadiness holds the facts /readyz decides on and decides. The edge is
// not ready, with one reason per fact, while:
//   - it drains (SIGTERM): "draining";
//   - the control link has been detached for longer than
//     `link_ready_timeout` (before the first attach: since start), since
//     its clients would get no publications: "control link detached for
//     12s";
//   - its sockets are at the transport's connection limit, so a new client
//     would wait in the listen backlog: "at connection limit (10000)".
//
// Thread-safe: the loop, the control link's thread and the signal thread
// write it; the admin thread reads it. Every field is an atomic of its own:
// a reader may see one fact a little older than another, which a probe
// polled every few seconds does not notice.
class EdgeReadiness {
 public:
  // The edge started at `start`; the link counts as detached since then.
  EdgeReadiness(absl::Duration link_ready_timeout, absl::Time start);
  EdgeReadiness(const EdgeReadiness&) = delete;
  EdgeReadiness& operator=(const EdgeReadiness&) = delete;

  // The edge drains from now on; never undone.
  void SetDraining() { draining_.store(true, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  // The control link attached or detached at `now`.
  void SetLinkAttached(bool attached, absl::Time now);

  // `open` sockets held of at most `limit` (0: no limit known).
  void SetConnections(size_t open, size_t limit);

  // NotReadyReasons()
  //
  // Empty when ready; otherwise one line per reason, in the order above.
  std::vector<std::string> NotReadyReasons(absl::Time now) const;
  bool Ready(absl::Time now) const { return NotReadyReasons(now).empty(); }

 private:
  const absl::Duration link_ready_timeout_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> link_attached_{false};
  std::atomic<bool> ever_attached_{false};
  // When the link last detached (or the edge started), in Unix microseconds.
  std::atomic<int64_t> detached_since_micros_;
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> limit_{0};
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_READINESS_H_
