// EdgeMetrics: the edge's Prometheus metrics (wirehub_edge_*), with the
// series the loop touches resolved once so that counting is one relaxed
// atomic add.
#ifndef WIREHUB_EDGE_EDGE_METRICS_H_
#define WIREHUB_EDGE_EDGE_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "common/metrics.h"

namespace wirehub::edge {

// The `method` label of wirehub_edge_commands_total.
enum class CommandMethod {
  kConnect,
  kSubscribe,
  kUnsubscribe,
  kPublish,
  kPresence,
  kPresenceStats,
  kHistory,
  kSend,
  kRpc,
  kRefresh,
  kSubRefresh,
  kPing,
  kUnknown,
  kCount,
};

// The method of a protocol method name ("presence_stats"); kUnknown for a
// name the protocol does not define.
CommandMethod CommandMethodNamed(std::string_view name);

// The `result` label of wirehub_edge_commands_total: answered with a
// result, with an error (or a close), or refused for a rate or a bound
// (error 111, close 3013).
enum class CommandOutcome { kOk, kError, kRefused, kCount };

// The `reason` label of wirehub_edge_connection_refusals_total.
enum class RefusalReason {
  kOrigin,            // 403: origin not allowed.
  kBadHandshake,      // 400, 404, 426: not a WebSocket handshake we take.
  kPerAddressLimit,   // 429: max_connections_per_ip.
  kRateLimit,         // 429: connection_rate_per_ip.
  kConnectionLimit,   // max_connections reached: accepting paused.
  kDraining,          // Turned away while draining.
  kHandshakeTimeout,  // No complete handshake within handshake_timeout.
  kToken,             // connect with a missing, invalid or expired token.
  kUserLimit,         // 3504: max_connections_per_user.
  kConnectTimeout,    // 3502: no successful connect within connect_timeout.
  kCount,
};

// EdgeMetrics registers every wirehub_edge_* family on a registry and keeps
// references to their series, so the hot paths never look a series up.
// Label values are fixed tables (method x result, refusal reasons, close
// codes), resolved at construction or, for rare close codes, once on first
// use.
//
// Thread: the series are written by the edge loop (and control_link_up and
// control_link_attaches_total by the control link's reader thread) and read
// by the scraping thread; every counter, gauge and histogram is a relaxed
// atomic. PublicationQueued() and PublicationsWritten() are loop only.
//
// Example:
//   metrics::Registry registry;
//   EdgeMetrics edge_metrics(&registry);
//   edge_metrics.deliveries.Increment(subscribers);
//   edge_metrics.CountCommand(CommandMethod::kSubscribe, CommandOutcome::kOk);
class EdgeMetrics {
  // Declared first: the connection gauges below are its children.
  metrics::GaugeFamily& connection_family_;

 public:
  explicit EdgeMetrics(metrics::Registry* registry);
  EdgeMetrics(const EdgeMetrics&) = delete;
  EdgeMetrics& operator=(const EdgeMetrics&) = delete;

  // Discard()
  //
  // A process-wide instance on a registry nobody renders: what a component
  // built without metrics (a unit test) counts into. Thread-safe.
  static EdgeMetrics& Discard();

  void CountCommand(CommandMethod method, CommandOutcome outcome) {
    commands_[static_cast<size_t>(method)][static_cast<size_t>(outcome)]->Increment();
  }
  void CountRefusal(RefusalReason reason) { refusals_[static_cast<size_t>(reason)]->Increment(); }
  // A close frame sent with `code`: disconnects_total{code} (1000..1015 and
  // 3000..3999 by number, anything else as "other"), and 3008 also
  // slow_client_closes_total.
  void CountDisconnect(int code);

  // PublicationQueued()
  //
  // Loop thread: a publication accepted by control at
  // `accepted_unix_micros` (0: unknown, ignored) was queued to at least one
  // subscriber this turn. PublicationsWritten() observes each one's latency
  // after the loop wrote the turn's output to the sockets, when
  // publications_waiting() says there are some.
  void PublicationQueued(int64_t accepted_unix_micros);
  bool publications_waiting() const { return !accepted_.empty(); }
  void PublicationsWritten(absl::Time now);

  // wirehub_edge_connections{transport="websocket",protocol="json"}.
  metrics::Gauge& connections;
  // wirehub_edge_connections{transport="websocket",protocol="protobuf"}.
  metrics::Gauge& protobuf_connections;
  metrics::Counter& connects;
  metrics::Gauge& subscriptions;
  metrics::Gauge& channels;
  metrics::Counter& deliveries;
  metrics::Counter& written_bytes;
  metrics::Histogram& client_queue_bytes;
  metrics::Counter& slow_client_closes;
  metrics::Histogram& loop_turn_seconds;
  metrics::Histogram& publish_latency_seconds;
  metrics::Gauge& control_link_up;
  metrics::Counter& control_link_attaches;
  metrics::Counter& gap_repairs;
  metrics::Histogram& gap_repair_publications;
  // Set at scrape time from EdgeReadiness (a collector in main.cc).
  metrics::Gauge& ready;
  metrics::Gauge& draining;

 private:
  // Close codes with a series of their own: 1000..1015, then 3000..3999;
  // the last slot is "other".
  static constexpr size_t kCloseCodeSlots = 16 + 1000 + 1;
  // Most publications waiting for PublicationsWritten() (a loop whose
  // writes never run, as with a fake transport, must not grow it forever).
  static constexpr size_t kMaxAcceptedWaiting = 4096;

  EdgeMetrics(metrics::Registry* registry, bool discard);
  static size_t CloseCodeSlot(int code);

  metrics::CounterFamily& disconnects_;
  std::array<std::array<metrics::Counter*, static_cast<size_t>(CommandOutcome::kCount)>,
             static_cast<size_t>(CommandMethod::kCount)>
      commands_{};
  std::array<metrics::Counter*, static_cast<size_t>(RefusalReason::kCount)> refusals_{};
  // Created on first use (Family::Get is idempotent, so a race between two
  // threads of Discard()'s users stores the same pointer).
  std::array<std::atomic<metrics::Counter*>, kCloseCodeSlots> disconnect_codes_{};
  // Loop only; unused by Discard(), which several loops may share.
  const bool discard_;
  std::vector<int64_t> accepted_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_EDGE_METRICS_H_
