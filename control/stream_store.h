// StreamStore: where channel streams are sequenced and kept (the seam a
// Redis engine goes behind).
#ifndef WIREHUB_CONTROL_STREAM_STORE_H_
#define WIREHUB_CONTROL_STREAM_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/channel_stream.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::control {

// Position assigned to a publication.
struct StreamPosition {
  uint64_t offset = 0;
  std::string epoch;
  // True when an idempotency key matched: nothing was published again.
  bool replayed = false;
};

// One publication to sequence.
struct PublishItem {
  // Channel key (common/channel_name.h), already validated.
  std::string key;
  std::string data;
  std::string idempotency_key;
  // The publishing client, for client publications.
  std::optional<v1::ClientInfo> info;
  // The namespace's retention (max_size 0: the stream keeps no history).
  HistoryPolicy policy;
  absl::Duration idempotency_window = absl::Minutes(5);
};

struct StreamCounts {
  uint64_t streams = 0;
  uint64_t history_publications = 0;
  uint64_t history_bytes = 0;
  uint64_t idempotent_replays = 0;
};

// StreamStore sequences publications per channel (epoch + offset), keeps
// bounded history and idempotency keys, and evicts them.
//
// Invariants every implementation keeps:
//  - Per channel, offsets grow by one per publication, and `on_sequenced`
//    runs for a channel's publications one at a time, in offset order, so
//    whatever it enqueues reaches each edge in that order.
//  - An epoch never repeats: a stream that was forgotten (or whose store
//    restarted) starts a new one, which clients treat as "cannot recover".
//  - A publication is readable through History() once its `done` ran.
//
// Thread-safe.
class StreamStore {
 public:
  // Called with the sequenced publication (null when an idempotency key
  // replayed an earlier one). Runs inside the channel's order: it must only
  // enqueue, never block, and never call back into the store.
  using OnSequenced = std::function<void(const std::shared_ptr<const edge::v1::Publication>&)>;
  // Runs exactly once, after `on_sequenced`, with no store lock held.
  using Done = std::function<void(absl::StatusOr<StreamPosition>)>;

  virtual ~StreamStore() = default;

  // Asynchronous: a store behind the network answers later, on its own
  // thread; the in-memory store answers before returning.
  virtual void Publish(PublishItem item, OnSequenced on_sequenced, Done done) = 0;

  // Publications of `key` after `since` (when given; its epoch must match
  // and its offset not be ahead: FailedPrecondition "unrecoverable
  // position" otherwise), oldest first or newest first when `reverse`, at
  // most `limit` (negative: all; 0: only the position). `done` runs once,
  // with no store lock held: before History returns in the memory store,
  // later on the store's thread in a networked one.
  using HistoryDone = std::function<void(absl::StatusOr<HistoryRead>)>;
  virtual void History(const std::string& key, const std::optional<StreamPosition>& since,
                       int64_t limit, bool reverse, const HistoryPolicy& policy,
                       absl::Duration idempotency_window, HistoryDone done) = 0;
  // Drops `key`'s kept publications; its position stays. `done` as in
  // History.
  using StatusDone = std::function<void(absl::Status)>;
  virtual void RemoveHistory(const std::string& key, absl::Duration idempotency_window,
                             StatusDone done) = 0;

  // A store that fans out by itself (fans_out(): Redis, where publications
  // made by any control replica come back through a subscription) hands
  // every sequenced publication, and every join/leave event, to `feed` on
  // its own thread, each channel's in offset order; `on_sequenced` is then
  // never called with a publication. `lost` runs when that flow broke
  // (publications may have been missed): the caller detaches its edges,
  // which re-attach and repair their gaps from history. Start() is called
  // once, before anything else; Stop() before destruction.
  using Feed = std::function<void(std::shared_ptr<const edge::v1::Publication>)>;
  using Lost = std::function<void(const absl::Status&)>;
  virtual bool fans_out() const { return false; }
  virtual void Start(Feed feed, Lost lost) {}
  virtual void Stop() {}
  // Watch() counts one more interest in each of `keys`; `done` runs once
  // every publication sequenced after it is sure to reach the feed (a
  // failure: it may not, and the interest must be treated as lost). The
  // `done`s run in the order of the Watch() calls. Unwatch() takes one
  // interest back per key; a Watch and an Unwatch of the same key may
  // arrive in either order. Without fans_out(), `done` runs at once.
  virtual void Watch(const std::vector<std::string>& keys, StatusDone done) {
    done(absl::OkStatus());
  }
  virtual void Unwatch(const std::vector<std::string>& keys) {}

  // Expires history and idempotency keys and forgets streams that hold
  // nothing, have been idle for `idempotency_window` and that `wanted`
  // (called without any store lock that publishing of other channels
  // waits on for long) does not keep.
  using PolicyFor = std::function<HistoryPolicy(const std::string& key)>;
  using Wanted = std::function<bool(const std::string& key)>;
  virtual void Maintain(absl::Time now, absl::Duration idempotency_window,
                        const PolicyFor& policy_for, const Wanted& wanted) = 0;

  virtual StreamCounts Counts() const = 0;

  // OK when the store can serve; a networked store reports its link here
  // (readiness and wirehub_control_engine_up). The memory store always can.
  virtual absl::Status Ready() const { return absl::OkStatus(); }
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_STREAM_STORE_H_
