// MemoryStreamStore: channel streams in this process's memory.
#ifndef WIREHUB_CONTROL_MEMORY_STREAM_STORE_H_
#define WIREHUB_CONTROL_MEMORY_STREAM_STORE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "control/channel_stream.h"
#include "control/stream_store.h"

namespace wirehub::control {

// MemoryStreamStore keeps every stream in a ChannelStream, in one of 64
// stripes chosen by the channel key's hash, each with its own lock: the
// publications of one channel are sequenced (and handed to on_sequenced)
// under their stripe's lock, so channels of other stripes never wait for
// them, and no lock is ever held across more than one stripe.
// Thread-safe.
class MemoryStreamStore final : public StreamStore {
 public:
  MemoryStreamStore();

  void Publish(PublishItem item, OnSequenced on_sequenced, Done done) override;
  void History(const std::string& key, const std::optional<StreamPosition>& since, int64_t limit,
               bool reverse, const HistoryPolicy& policy, absl::Duration idempotency_window,
               HistoryDone done) override;
  void RemoveHistory(const std::string& key, absl::Duration idempotency_window,
                     StatusDone done) override;
  void Maintain(absl::Time now, absl::Duration idempotency_window, const PolicyFor& policy_for,
                const Wanted& wanted) override;
  StreamCounts Counts() const override;

 private:
  static constexpr size_t kStripes = 64;
  struct Stripe {
    mutable absl::Mutex mu;
    // Node map: ChannelStream is not movable (its epoch is const).
    absl::node_hash_map<std::string, ChannelStream> streams ABSL_GUARDED_BY(mu);
    std::mt19937_64 rng ABSL_GUARDED_BY(mu);
    // Refreshed by Maintain().
    uint64_t history_publications ABSL_GUARDED_BY(mu) = 0;
    uint64_t history_bytes ABSL_GUARDED_BY(mu) = 0;
  };

  Stripe& StripeOf(const std::string& key);
  absl::StatusOr<HistoryRead> Read(const std::string& key,
                                   const std::optional<StreamPosition>& since, int64_t limit,
                                   bool reverse, const HistoryPolicy& policy,
                                   absl::Duration idempotency_window);
  static ChannelStream& StreamIn(Stripe& stripe, const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);

  std::array<Stripe, kStripes> stripes_;
  std::atomic<uint64_t> idempotent_replays_{0};
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_MEMORY_STREAM_STORE_H_
