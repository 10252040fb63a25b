// CaseResult: the figures of one measured case against one server, as the
// JSON line docs/benchmarks.md is generated from.
#ifndef WIREHUB_TOOLS_BENCH_CASE_RESULT_H_
#define WIREHUB_TOOLS_BENCH_CASE_RESULT_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/bench/latency_histogram.h"

namespace wirehub::bench {

struct ProcessFigures {
  std::string name;
  pid_t pid = 0;
  double cpu_s = 0;
  uint64_t rss_bytes = 0;
  // Voluntary and involuntary context switches over the case, where the
  // scenario counts them (tokens).
  std::optional<uint64_t> context_switches;
};

// CaseResult holds what tools/bench/report.mjs reads; optional fields are
// left out of the JSON when unset.
struct CaseResult {
  std::string scenario;
  std::string case_name;
  std::string server;
  // How the clients reached the server: "ws" or "wss"; for wss, the
  // negotiated protocol and cipher (e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384").
  std::string transport;
  std::string tls;
  // wirehub's client protocol encoding when the case sets it (the wire
  // scenario): "json" or "protobuf".
  std::string wire;
  uint64_t clients = 0;
  uint64_t channels = 0;
  std::optional<double> publish_rate;
  std::string publish_api;
  std::optional<uint64_t> payload_bytes;
  double duration_s = 0;

  std::optional<uint64_t> published;
  std::optional<uint64_t> accepted;
  std::optional<uint64_t> expected;
  std::optional<uint64_t> delivered;
  std::optional<uint64_t> missing;
  std::optional<uint64_t> duplicated;
  std::optional<uint64_t> late;
  uint64_t disconnected = 0;
  uint64_t failed_clients = 0;
  std::optional<double> deliveries_per_s;
  std::optional<double> publishes_per_s;
  std::optional<double> max_publisher_lag_ms;
  // Set when latency was measured.
  std::optional<LatencyHistogram> latency;

  // Token streams (the tokens scenario): each channel is a conversation
  // whose replies are streamed token by token.
  // Tokens per second of each conversation, and tokens per reply.
  std::optional<double> token_rate;
  std::optional<uint64_t> reply_tokens;
  // Publications refused by control or never answered.
  std::optional<uint64_t> publish_failed;
  // CPU and context switches of wirehub-control and of the edges over the
  // case, per publication accepted.
  std::optional<double> control_cpu_us_per_publication;
  std::optional<double> edge_cpu_us_per_publication;
  std::optional<double> control_context_switches_per_publication;
  std::optional<double> edge_context_switches_per_publication;
  // From the backend's write of the first token of every reply to its
  // receipt by each subscriber.
  std::optional<LatencyHistogram> first_token_latency;
  // Between consecutive tokens of one reply at one subscriber: the receive
  // gap minus the send gap (what the gateway added), and the receive gap.
  std::optional<LatencyHistogram> gap_jitter;
  std::optional<LatencyHistogram> receive_gap;
  // From the backend's write of a token to control's answer: how much of
  // the latency is before control sequenced it.
  std::optional<LatencyHistogram> answer_latency;

  // The engine dimension (wirehub-bench --engines): control's stream engine
  // ("memory" or "redis"), how many control replicas shared it, how the
  // bench's redis-server persisted ("off", "aof appendfsync=everysec") and
  // the publications kept per channel. Empty or unset without --engines.
  std::string engine;
  std::optional<uint64_t> control_replicas;
  std::string redis_persistence;
  std::optional<uint64_t> history_size;
  // redis-server's CPU over the case per publication accepted (redis_script:
  // per script call).
  std::optional<double> redis_cpu_us_per_publication;
  // redis_script: redis-benchmark's pipeline depth, whether a connection
  // subscribed to the channel (as a control replica's feed is), and its
  // latency per call.
  std::optional<uint64_t> pipeline;
  std::optional<uint64_t> subscribers;
  std::optional<double> call_p50_us;
  std::optional<double> call_p99_us;

  std::optional<double> server_cpu_s;
  std::optional<double> server_cpu_us_per_delivery;
  // WebSocket frame bytes (headers included) the subscribers received
  // while subscribed, per delivery (the wire scenario).
  std::optional<double> bytes_per_delivery;
  std::optional<uint64_t> server_rss_bytes;
  std::optional<double> rss_per_client_bytes;
  std::optional<double> connects_per_s;
  std::optional<double> subscribes_per_s;
  std::optional<uint64_t> slow_clients;
  std::optional<uint64_t> slow_disconnected;
  std::optional<uint64_t> edge_rss_max_bytes;
  std::vector<ProcessFigures> processes;
  std::string notes;
};

// ToJsonLine()
//
// One line of JSON, no trailing newline; latency in microseconds.
std::string ToJsonLine(const CaseResult& result);

// ToSummary()
//
// A few human-readable lines for the terminal.
std::string ToSummary(const CaseResult& result);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_CASE_RESULT_H_
