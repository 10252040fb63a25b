// Subscriptions: the edge's channel subscriptions, from a subscribe to its
// position, the fan-out of live publications, and gap repair.
#ifndef WIREHUB_EDGE_SUBSCRIPTIONS_H_
#define WIREHUB_EDGE_SUBSCRIPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "edge/channel_table.h"
#include "edge/client_session.h"
#include "edge/control_api.h"
#include "edge/edge_metrics.h"
#include "edge/session_registry.h"
#include "edge/transport.h"
#include "wirehub/config/v1/config.pb.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::edge {

struct SubscriptionOptions {
  // Most publications one recovery or one gap repair may bring.
  uint64_t recovery_max_publications = 1000;
  // A client's output bound: live publications held for a subscriber (or a
  // channel under repair) stay below it, recovered ones below half of it.
  size_t client_queue_max_bytes = 1 << 20;
  // How long a subscribe may wait for control to acknowledge the interest.
  absl::Duration subscribe_timeout = absl::Seconds(10);
  // Bound of one history call (position, recovery page, repair page).
  absl::Duration history_timeout = absl::Seconds(5);
  // Most publication bytes one history page carries; below gRPC's message
  // limit whatever the publication sizes.
  uint32_t history_page_bytes = 1 << 20;
  // Borrowed; null counts into EdgeMetrics::Discard().
  EdgeMetrics* metrics = nullptr;
};

// Subscriptions owns the channel table. A subscribe first makes control
// aware of the channel (the interest acknowledgement), then, for channels
// with history, learns its position (Positioning); live publications are
// encoded once per channel and queued to each subscriber, with the
// channel's StreamTracker deciding about holes.
// Thread: edge loop only.
class Subscriptions {
 public:
  Subscriptions(SubscriptionOptions options, SessionRegistry* sessions, Transport* transport)
      : options_(options),
        metrics_(options.metrics != nullptr ? options.metrics : &EdgeMetrics::Discard()),
        sessions_(sessions),
        transport_(transport) {}

  // Borrowed; null runs without control (tests). Set before serving.
  void set_link(ControlApi* link) { link_ = link; }

  // Starts a subscription the caller authorized: `subscription` joins the
  // session's channels at once, and the subscribe is answered (a reply in
  // its reserved place, or a subscribe push when server-side) once the
  // channel is live for it. False, changing nothing, when a client
  // subscribe would exceed the session's or the edge's calls in flight.
  // `options` (of the channel's namespace, never null) govern the channel
  // while it has subscribers on this edge, even after a config reload
  // changed them: a channel created under them keeps them.
  bool Subscribe(ClientSession* session, const std::string& channel,
                 std::shared_ptr<const config::v1::NamespaceOptions> options,
                 PendingSubscribe request, Subscription subscription);
  // Ends `session`'s subscription to `channel` (name); a subscribe of it
  // still unanswered is answered first, as subscribed.
  void Unsubscribe(ClientSession* session, const std::string& channel);
  // Ends every subscription of a session that is going away.
  void RemoveAll(ClientSession* session);

  // Publications and interest acknowledgements from control.
  void OnControlMessage(const edge::v1::ControlMessage& message);
  // After a re-attach, repairs every positioned channel.
  void OnLinkState(bool attached);
  // Subscribes that control never acknowledged in time fail (error 100),
  // and repairs that failed with publications held past a hole go again.
  void ExpirePending(absl::Time now);

  // Counters for stats.
  uint64_t subscriptions() const { return subscriptions_; }
  uint64_t TakeDeliveries() { return std::exchange(deliveries_, 0); }
  const ChannelTable& channels() const { return table_; }

  static std::string KeyOf(const ClientSession& session, std::string_view channel);
  static control::v1::ClientInfo InfoOf(const ClientSession& session, std::string_view channel);

 private:
  void Complete(const std::string& key, ChannelEntry& entry, PendingSubscribe request);
  void FetchPosition(const std::string& key, PositioningRun& run);
  void OnPositionAnswer(const std::string& key, uint64_t session_id, uint64_t run_id,
                        bool holds_call, absl::StatusOr<control::v1::HistoryResponse> answer);
  void FinishPositioning(const std::string& key, ChannelEntry& entry, ClientSession* session,
                         PositioningRun& run);
  // Fails an unanswered subscribe with error 100 (temporary).
  void AnswerFailure(const PendingSubscribe& request);
  void AddSubscriber(ClientSession* session, const std::string& key, ChannelEntry& entry,
                     uint64_t delivered);
  // Removes `session`'s subscription to `channel`; returns the subscribe
  // that was still on its way, if any (its interest wait no longer holds a
  // call; a position fetch releases its call when it comes back).
  std::optional<PendingSubscribe> Remove(ClientSession* session, const std::string& channel);
  void ConfirmChannels(uint64_t acked_seq);
  void OnPublication(const edge::v1::Publication& publication);
  // Returns the subscribers it was queued to.
  size_t DeliverTracked(ChannelEntry& entry, uint64_t offset, const PublicationPush& push);
  void FetchRepair(const std::string& key, ChannelEntry& entry);
  void OnRepairAnswer(const std::string& key, uint64_t fetch_id,
                      absl::StatusOr<control::v1::HistoryResponse> answer);
  // Repair impossible: every subscriber gets an unsubscribe push 2500 so
  // the SDK resubscribes with recovery, and the subscriptions end here.
  void ResetChannel(const std::string& key);
  // Asks control's History and runs `on_loop` with the answer on the loop.
  void FetchHistory(const control::v1::HistoryRequest& request,
                    std::function<void(absl::StatusOr<control::v1::HistoryResponse>)> on_loop);

  const SubscriptionOptions options_;
  EdgeMetrics* const metrics_;
  SessionRegistry* const sessions_;
  Transport* const transport_;
  ControlApi* link_ = nullptr;
  ChannelTable table_;
  // Repair fetch in flight per channel key: answers of older fetches (the
  // channel reset or was dropped meanwhile) are ignored.
  absl::flat_hash_map<std::string, uint64_t> repair_fetch_;
  // Channels whose repair failed with publications held past a hole: tried
  // again at the next ExpirePending().
  absl::flat_hash_set<std::string> retry_repair_;
  uint64_t next_id_ = 1;
  uint64_t subscriptions_ = 0;
  uint64_t deliveries_ = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_SUBSCRIPTIONS_H_
