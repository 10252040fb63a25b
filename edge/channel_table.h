// ChannelTable: the channels this edge's clients subscribe to.
#ifndef WIREHUB_EDGE_CHANNEL_TABLE_H_
#define WIREHUB_EDGE_CHANNEL_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/time/time.h"
#include "edge/client_session.h"
#include "edge/positioning.h"
#include "edge/reply_sequencer.h"
#include "edge/stream_tracker.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub::edge {

// A subscribe on its way: waiting for control to acknowledge the channel's
// interest, then (channels with history) for its position.
struct PendingSubscribe {
  ClientSession* session = nullptr;
  uint64_t session_id = 0;
  // A client subscribe answers with a reply in this place; a server-side
  // one (token `channels`, the Subscribe API) with a subscribe push.
  bool server_side = false;
  uint32_t command_id = 0;
  ReplySequencer::Ticket ticket = 0;
  absl::Time since;
  PositionRequest position;
  // Holds one of the session's calls in flight (SessionRegistry).
  bool holds_call = false;
};

// A subscriber of a channel with history while control tells its position.
struct PositioningRun {
  PositioningRun(PendingSubscribe request, PositioningLimits limits, uint64_t run_id)
      : request(std::move(request)), positioning(this->request.position, limits), id(run_id) {}
  PendingSubscribe request;
  Positioning positioning;
  // Answers of an earlier run (unsubscribed and subscribed again) are told
  // apart by this.
  const uint64_t id;
};

struct ChannelEntry {
  // Namespace options (history, recovery, presence) the channel was created
  // under; never null. Shared, so a config reload that changes them leaves
  // this channel on the ones it started with until its last subscriber goes.
  std::shared_ptr<const config::v1::NamespaceOptions> options;
  // Subscriber -> offset of the last publication delivered to it (0 for
  // channels without history). Sessions join at different positions, so
  // repair and live delivery skip, per subscriber, what it already has.
  absl::flat_hash_map<ClientSession*, uint64_t> subscribers;
  std::vector<PendingSubscribe> pending;
  absl::flat_hash_map<ClientSession*, std::unique_ptr<PositioningRun>> positioning;
  // Channels with history only.
  std::optional<StreamTracker> tracker;
  uint64_t interest_seq = 0;
  // Control acknowledged the interest: publications reach this edge.
  bool confirmed = false;

  bool unused() const { return subscribers.empty() && pending.empty() && positioning.empty(); }
};

// ChannelTable maps channel keys to their entries and keeps the entries
// waiting for an interest acknowledgement in the order they were asked.
// Thread: edge loop only.
class ChannelTable {
 public:
  ChannelEntry* Find(const std::string& key);
  // The entry of `key`, created (with `options`) if absent; `created` says
  // which. Entry addresses stay valid until the entry is erased.
  ChannelEntry* FindOrCreate(const std::string& key,
                             std::shared_ptr<const config::v1::NamespaceOptions> options,
                             bool* created);
  // `key` waits for the acknowledgement of interest `seq`.
  void AwaitAck(uint64_t seq, const std::string& key);
  // Keys whose interest seq is at most `acked`, oldest first, no longer
  // waiting.
  std::vector<std::string> TakeAcked(uint64_t acked);
  // Keys still waiting for an acknowledgement.
  std::vector<std::string> Waiting() const;
  // Erases the entry of `key` if nothing uses it; true if it did.
  bool EraseIfUnused(const std::string& key);

  size_t size() const { return entries_.size(); }
  auto begin() { return entries_.begin(); }
  auto end() { return entries_.end(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }

 private:
  // Node map: entry addresses stay valid while others are added.
  absl::node_hash_map<std::string, ChannelEntry> entries_;
  absl::btree_map<uint64_t, std::string> awaiting_ack_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CHANNEL_TABLE_H_
