#include "control/memory_stream_store.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace wirehub::control {

MemoryStreamStore::MemoryStreamStore() {
  std::random_device random;
  for (Stripe& stripe : stripes_) {
    absl::MutexLock lock(&stripe.mu);
    stripe.rng.seed((static_cast<uint64_t>(random()) << 32) ^ random());
  }
}

MemoryStreamStore::Stripe& MemoryStreamStore::StripeOf(const std::string& key) {
  return stripes_[absl::Hash<std::string>{}(key) % kStripes];
}

ChannelStream& MemoryStreamStore::StreamIn(Stripe& stripe, const std::string& key) {
  auto it = stripe.streams.find(key);
  if (it == stripe.streams.end()) {
    // 64 random bits: a restarted control (empty memory) never reuses an
    // epoch a client may still hold.
    it = stripe.streams.try_emplace(key, absl::StrFormat("%016x", stripe.rng())).first;
  }
  return it->second;
}

void MemoryStreamStore::Publish(PublishItem item, OnSequenced on_sequenced, Done done) {
  const absl::Time now = absl::Now();
  StreamPosition position;
  Stripe& stripe = StripeOf(item.key);
  {
    absl::MutexLock lock(&stripe.mu);
    ChannelStream& stream = StreamIn(stripe, item.key);
    position.epoch = stream.epoch();
    std::optional<uint64_t> replayed;
    if (!item.idempotency_key.empty()) {
      stream.Evict(now, item.policy, item.idempotency_window);
      replayed = stream.FindIdempotencyKey(item.idempotency_key);
    }
    if (replayed.has_value()) {
      idempotent_replays_.fetch_add(1, std::memory_order_relaxed);
      position.offset = *replayed;
      position.replayed = true;
      on_sequenced(nullptr);
    } else {
      position.offset = stream.NextOffset(now);
      if (!item.idempotency_key.empty()) {
        stream.RememberIdempotencyKey(item.idempotency_key, position.offset, now);
      }
      auto publication = std::make_shared<edge::v1::Publication>();
      publication->set_channel(item.key);
      publication->set_data(std::move(item.data));
      publication->set_offset(position.offset);
      publication->set_epoch(position.epoch);
      publication->set_accepted_unix_micros(absl::ToUnixMicros(now));
      if (item.info.has_value()) *publication->mutable_info() = std::move(*item.info);
      std::shared_ptr<const edge::v1::Publication> shared = std::move(publication);
      if (item.policy.max_size > 0) stream.Remember(shared, now, item.policy);
      on_sequenced(shared);
    }
  }
  done(std::move(position));
}

void MemoryStreamStore::History(const std::string& key, const std::optional<StreamPosition>& since,
                                int64_t limit, bool reverse, const HistoryPolicy& policy,
                                absl::Duration idempotency_window, HistoryDone done) {
  done(Read(key, since, limit, reverse, policy, idempotency_window));
}

absl::StatusOr<HistoryRead> MemoryStreamStore::Read(const std::string& key,
                                                    const std::optional<StreamPosition>& since,
                                                    int64_t limit, bool reverse,
                                                    const HistoryPolicy& policy,
                                                    absl::Duration idempotency_window) {
  Stripe& stripe = StripeOf(key);
  absl::MutexLock lock(&stripe.mu);
  ChannelStream& stream = StreamIn(stripe, key);
  stream.Evict(absl::Now(), policy, idempotency_window);
  uint64_t after = 0;
  if (since.has_value()) {
    if (since->epoch != stream.epoch() || since->offset > stream.top_offset()) {
      return absl::FailedPreconditionError(
          absl::StrCat("unrecoverable position: the stream is at epoch ", stream.epoch(),
                       " offset ", stream.top_offset()));
    }
    after = since->offset;
  }
  // Shared pointers only: the publications are not copied under the lock.
  return stream.Read(after, limit, reverse);
}

void MemoryStreamStore::RemoveHistory(const std::string& key, absl::Duration idempotency_window,
                                      StatusDone done) {
  {
    Stripe& stripe = StripeOf(key);
    absl::MutexLock lock(&stripe.mu);
    auto it = stripe.streams.find(key);
    // An empty policy evicts every kept publication; keys stay.
    if (it != stripe.streams.end()) {
      it->second.Evict(absl::Now(), HistoryPolicy{}, idempotency_window);
    }
  }
  done(absl::OkStatus());
}

void MemoryStreamStore::Maintain(absl::Time now, absl::Duration idempotency_window,
                                 const PolicyFor& policy_for, const Wanted& wanted) {
  for (Stripe& stripe : stripes_) {
    std::vector<std::string> idle;
    {
      absl::MutexLock lock(&stripe.mu);
      uint64_t publications = 0;
      uint64_t bytes = 0;
      for (auto& [key, stream] : stripe.streams) {
        stream.Evict(now, policy_for(key), idempotency_window);
        publications += stream.history_size();
        bytes += stream.memory_bytes();
        if (stream.empty() && now - stream.last_publish() >= idempotency_window) {
          idle.push_back(key);
        }
      }
      stripe.history_publications = publications;
      stripe.history_bytes = bytes;
    }
    if (idle.empty()) continue;
    absl::MutexLock lock(&stripe.mu);
    for (const std::string& key : idle) {
      auto it = stripe.streams.find(key);
      // A stream that holds nothing and that no edge listens to is forgotten
      // once idle for the idempotency window; a later publish starts a new
      // epoch, which clients treat as "cannot recover", never as a gap.
      // `wanted` is asked under the stripe lock (the order publishing takes
      // too), so an edge's interest cannot slip in between.
      if (it != stripe.streams.end() && it->second.empty() &&
          now - it->second.last_publish() >= idempotency_window && !wanted(key)) {
        stripe.streams.erase(it);
      }
    }
  }
}

StreamCounts MemoryStreamStore::Counts() const {
  StreamCounts counts;
  for (const Stripe& stripe : stripes_) {
    absl::MutexLock lock(&stripe.mu);
    counts.streams += stripe.streams.size();
    counts.history_publications += stripe.history_publications;
    counts.history_bytes += stripe.history_bytes;
  }
  counts.idempotent_replays = idempotent_replays_.load(std::memory_order_relaxed);
  return counts;
}

}  // namespace wirehub::control
