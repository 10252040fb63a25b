#include "edge/edge_metrics.h"

#include <string>
#include <string_view>

namespace wirehub::edge {
namespace {

constexpr std::string_view kMethodNames[] = {
    "connect", "subscribe", "unsubscribe", "publish",     "presence", "presence_stats", "history",
    "send",    "rpc",       "refresh",     "sub_refresh", "ping",     "unknown",
};
static_assert(std::size(kMethodNames) == static_cast<size_t>(CommandMethod::kCount));

constexpr std::string_view kOutcomeNames[] = {"ok", "error", "refused"};
static_assert(std::size(kOutcomeNames) == static_cast<size_t>(CommandOutcome::kCount));

constexpr std::string_view kRefusalNames[] = {
    "origin",           "bad_handshake",   "per_address_limit", "rate_limit",
    "connection_limit", "draining",        "handshake_timeout", "token",
    "user_limit",       "connect_timeout",
};
static_assert(std::size(kRefusalNames) == static_cast<size_t>(RefusalReason::kCount));

// The codes the edge sends, shown (at 0) from the start.
constexpr int kKnownCloseCodes[] = {1009, 3001, 3004, 3005, 3006, 3008, 3011,
                                    3012, 3013, 3500, 3501, 3502, 3503, 3504};

}  // namespace

CommandMethod CommandMethodNamed(std::string_view name) {
  for (size_t method = 0; method < std::size(kMethodNames); ++method) {
    if (kMethodNames[method] == name) return static_cast<CommandMethod>(method);
  }
  return CommandMethod::kUnknown;
}

EdgeMetrics::EdgeMetrics(metrics::Registry* registry) : EdgeMetrics(registry, false) {}

EdgeMetrics::EdgeMetrics(metrics::Registry* registry, bool discard)
    : connection_family_(
          registry->AddGauge("wirehub_edge_connections",
                             "Open client connections (WebSocket handshake completed), by wire "
                             "format (protocol: json or protobuf).",
                             {"transport", "protocol"})),
      connections(connection_family_.Get({"websocket", "json"})),
      protobuf_connections(connection_family_.Get({"websocket", "protobuf"})),
      connects(
          registry->AddCounter("wirehub_edge_connects_total", "Connect commands that succeeded.")
              .Get({})),
      subscriptions(registry
                        ->AddGauge("wirehub_edge_subscriptions",
                                   "Client subscriptions, those still being established included.")
                        .Get({})),
      channels(registry
                   ->AddGauge("wirehub_edge_channels",
                              "Distinct channels with local subscribers (or subscribes under way).")
                   .Get({})),
      deliveries(registry
                     ->AddCounter("wirehub_edge_deliveries_total",
                                  "Publication, join and leave pushes queued to subscribers.")
                     .Get({})),
      written_bytes(registry
                        ->AddCounter("wirehub_edge_written_bytes_total",
                                     "WebSocket message payload bytes handed to client sockets "
                                     "(framing and TLS excluded).")
                        .Get({})),
      client_queue_bytes(registry
                             ->AddHistogram("wirehub_edge_client_queue_bytes",
                                            "Bytes queued for a connection each time the loop "
                                            "writes to its socket.",
                                            metrics::ExponentialBuckets(64, 4, 10))
                             .Get({})),
      slow_client_closes(registry
                             ->AddCounter("wirehub_edge_slow_client_closes_total",
                                          "Clients closed with 3008: their output outgrew "
                                          "client_queue_max_bytes.")
                             .Get({})),
      loop_turn_seconds(registry
                            ->AddHistogram("wirehub_edge_loop_turn_seconds",
                                           "Work of one event loop turn (callbacks, timers and "
                                           "the end-of-turn write), the idle wait excluded.",
                                           metrics::ExponentialBuckets(0.00005, 2, 16))
                            .Get({})),
      publish_latency_seconds(
          registry
              ->AddHistogram("wirehub_edge_publish_latency_seconds",
                             "From control accepting a publication to the end of the loop turn "
                             "that wrote it to its subscribers' sockets (across machines, as "
                             "exact as their clocks agree).",
                             metrics::ExponentialBuckets(0.0005, 2, 15))
              .Get({})),
      control_link_up(registry
                          ->AddGauge("wirehub_edge_control_link_up",
                                     "1 while the link to control is attached (control holds "
                                     "this edge's interest), else 0.")
                          .Get({})),
      control_link_attaches(registry
                                ->AddCounter("wirehub_edge_control_link_attaches_total",
                                             "Attaches of the link to control, the first one "
                                             "included.")
                                .Get({})),
      gap_repairs(registry
                      ->AddCounter("wirehub_edge_gap_repairs_total",
                                   "Gap repairs started from control's history (a hole in a "
                                   "channel's stream, or a re-attach).")
                      .Get({})),
      gap_repair_publications(registry
                                  ->AddHistogram("wirehub_edge_gap_repair_publications",
                                                 "Publications fetched from history by each "
                                                 "completed gap repair.",
                                                 metrics::ExponentialBuckets(1, 4, 8))
                                  .Get({})),
      ready(registry->AddGauge("wirehub_edge_ready", "1 while the edge is ready (/readyz), else 0.")
                .Get({})),
      draining(
          registry->AddGauge("wirehub_edge_draining", "1 while the edge drains, else 0.").Get({})),
      disconnects_(registry->AddCounter("wirehub_edge_disconnects_total",
                                        "Close frames sent to clients, by close code (\"other\": "
                                        "a code outside 1000-1015 and 3000-3999).",
                                        {"code"})),
      discard_(discard) {
  metrics::CounterFamily& commands = registry->AddCounter(
      "wirehub_edge_commands_total",
      "Client commands by method and result (refused: over a rate or a bound, error 111 or "
      "close 3013).",
      {"method", "result"});
  for (size_t method = 0; method < commands_.size(); ++method) {
    for (size_t outcome = 0; outcome < commands_[method].size(); ++outcome) {
      commands_[method][outcome] = &commands.Get({kMethodNames[method], kOutcomeNames[outcome]});
    }
  }
  metrics::CounterFamily& refusals = registry->AddCounter(
      "wirehub_edge_connection_refusals_total",
      "Connections turned away, by reason: at the handshake (origin, bad_handshake, "
      "per_address_limit, rate_limit, handshake_timeout), at accept (connection_limit: times "
      "accepting paused at max_connections), while draining, or at the connect command (token, "
      "user_limit, connect_timeout).",
      {"reason"});
  for (size_t reason = 0; reason < refusals_.size(); ++reason) {
    refusals_[reason] = &refusals.Get({kRefusalNames[reason]});
  }
  for (int code : kKnownCloseCodes) {
    disconnect_codes_[CloseCodeSlot(code)].store(&disconnects_.Get({std::to_string(code)}),
                                                 std::memory_order_release);
  }
  disconnect_codes_[kCloseCodeSlots - 1].store(&disconnects_.Get({"other"}),
                                               std::memory_order_release);
}

EdgeMetrics& EdgeMetrics::Discard() {
  static metrics::Registry* const registry = new metrics::Registry;
  static EdgeMetrics* const discard = new EdgeMetrics(registry, true);
  return *discard;
}

size_t EdgeMetrics::CloseCodeSlot(int code) {
  if (code >= 1000 && code <= 1015) return static_cast<size_t>(code - 1000);
  if (code >= 3000 && code <= 3999) return static_cast<size_t>(16 + code - 3000);
  return kCloseCodeSlots - 1;
}

void EdgeMetrics::CountDisconnect(int code) {
  size_t slot = CloseCodeSlot(code);
  metrics::Counter* counter = disconnect_codes_[slot].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Cold: the first close with this code.
    counter = &disconnects_.Get({std::to_string(code)});
    disconnect_codes_[slot].store(counter, std::memory_order_release);
  }
  counter->Increment();
  if (code == 3008) slow_client_closes.Increment();
}

void EdgeMetrics::PublicationQueued(int64_t accepted_unix_micros) {
  if (accepted_unix_micros == 0 || discard_ || accepted_.size() >= kMaxAcceptedWaiting) return;
  accepted_.push_back(accepted_unix_micros);
}

void EdgeMetrics::PublicationsWritten(absl::Time now) {
  int64_t now_micros = absl::ToUnixMicros(now);
  for (int64_t accepted : accepted_) {
    // A clock behind control's shows as 0 rather than as a negative time.
    int64_t micros = now_micros > accepted ? now_micros - accepted : 0;
    publish_latency_seconds.Observe(static_cast<double>(micros) * 1e-6);
  }
  accepted_.clear();
}

}  // namespace wirehub::edge
