// ChannelStream: the sequenced stream of one channel at control: its
// position, bounded history and idempotency keys.
#ifndef WIREHUB_CONTROL_CHANNEL_STREAM_H_
#define WIREHUB_CONTROL_CHANNEL_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::control {

// Retention of one channel's history (from its namespace options).
struct HistoryPolicy {
  size_t max_size = 0;  // 0: keep nothing.
  absl::Duration ttl = absl::ZeroDuration();
};

// What a history read returns.
struct HistoryRead {
  std::vector<std::shared_ptr<const edge::v1::Publication>> publications;
  std::string epoch;
  // Offset of the newest publication ever made in the stream (0: none).
  uint64_t top_offset = 0;
};

// ChannelStream holds one channel's epoch, last offset, recent publications
// (bounded by count and age) and recently used idempotency keys.
// Thread-compatible: EdgeHub guards every stream with its lock.
class ChannelStream {
 public:
  explicit ChannelStream(std::string epoch) : epoch_(std::move(epoch)) {}

  const std::string& epoch() const { return epoch_; }
  uint64_t top_offset() const { return top_offset_; }
  absl::Time last_publish() const { return last_publish_; }

  // NextOffset() reserves the offset of a new publication.
  uint64_t NextOffset(absl::Time now) {
    last_publish_ = now;
    return ++top_offset_;
  }

  // Remember() keeps `publication` (whose offset came from NextOffset) in
  // history under `policy`, evicting what no longer fits.
  void Remember(std::shared_ptr<const edge::v1::Publication> publication, absl::Time now,
                const HistoryPolicy& policy);

  // Evict() drops publications older than the policy's TTL or beyond its
  // size, and idempotency keys older than `idempotency_window`.
  void Evict(absl::Time now, const HistoryPolicy& policy, absl::Duration idempotency_window);

  // Read()
  //
  // Publications in history with offset > `after_offset` (all when 0),
  // oldest first, or newest first when `reverse`; at most `limit` of them
  // (negative: no limit; 0: none, only the position).
  HistoryRead Read(uint64_t after_offset, int64_t limit, bool reverse) const;

  // Offset of the oldest publication still in history, 0 when empty.
  uint64_t oldest_offset() const { return history_.empty() ? 0 : history_.front().offset; }

  // Idempotency: the offset a key published at, if still remembered.
  std::optional<uint64_t> FindIdempotencyKey(const std::string& key) const;
  void RememberIdempotencyKey(const std::string& key, uint64_t offset, absl::Time now);

  size_t history_size() const { return history_.size(); }
  // Bytes held: publication data and names, plus idempotency keys.
  size_t memory_bytes() const { return history_bytes_ + idempotency_bytes_; }
  // True when nothing but the position is held.
  bool empty() const { return history_.empty() && idempotency_.empty(); }

 private:
  struct Entry {
    uint64_t offset;
    absl::Time time;
    std::shared_ptr<const edge::v1::Publication> publication;
    size_t bytes;
  };
  struct KeyEntry {
    uint64_t offset;
    absl::Time time;
  };

  const std::string epoch_;
  uint64_t top_offset_ = 0;
  absl::Time last_publish_ = absl::InfinitePast();
  std::deque<Entry> history_;
  size_t history_bytes_ = 0;
  absl::flat_hash_map<std::string, KeyEntry> idempotency_;
  // Keys in insertion (= time) order, for expiry.
  std::deque<std::string> idempotency_order_;
  size_t idempotency_bytes_ = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CHANNEL_STREAM_H_
