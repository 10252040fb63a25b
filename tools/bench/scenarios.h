// The benchmark scenarios of docs/benchmarks.md (issue #5, a-f), each run
// against wirehub and, where they apply, against the peers.
#ifndef WIREHUB_TOOLS_BENCH_SCENARIOS_H_
#define WIREHUB_TOOLS_BENCH_SCENARIOS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace wirehub::bench {

struct BenchOptions {
  // Directory holding wirehub-control and wirehub-edge (the build's bin/).
  std::string bin_dir;
  // Scratch directory for configs, secrets and server logs.
  std::string work_dir;
  // Servers to measure: wirehub, nchan, nats.
  std::vector<std::string> servers = {"wirehub"};
  // Skip a peer whose Debian packages are missing (with a message) instead
  // of failing.
  bool skip_missing_peers = false;
  // Appends one JSON line per case and server here (empty: none).
  std::string results_path;
  // Client source addresses, used round-robin.
  std::vector<std::string> source_addresses = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"};
  // Client threads (one epoll loop each) per generator process.
  size_t client_threads = 1;
  // Generator processes holding clients: this one and client_processes - 1
  // children (`wirehub-bench clients`), each with its own open-files limit.
  size_t client_processes = 1;
  // wirehub-edge processes sharing one control (wirehub only): each may
  // hold ~19k clients, the open-files limit.
  size_t edges = 1;
  // This binary, which the children run.
  std::string self_binary;

  size_t clients = 0;  // 0: the scenario's default
  std::vector<double> rates;
  absl::Duration duration = absl::ZeroDuration();  // 0: the scenario's default
  size_t payload_bytes = 0;                        // 0: the scenario's default (100; slow: 1000)
  // channels: unary, broadcast, stream; latency: its first; tokens: stream,
  // multiplexed, unary.
  std::vector<std::string> apis;
  double slow_percent = 1;
  size_t broadcast_batch = 100;
  // tokens: conversations (channels with 1-3 subscribers each), tokens per
  // second of each, tokens per reply, and the PublishStreams of the
  // multiplexed publisher (0: the scenario's defaults, 1000, 30, 100, 4).
  size_t conversations = 0;
  double token_rate = 0;
  size_t reply_tokens = 0;
  size_t streams = 0;
  // Extra flags for wirehub-edge, e.g. "--client_queue_max_bytes=65536".
  std::vector<std::string> edge_flags;
  // The transports wirehub is measured over, in this order: false is ws,
  // true is wss (the bench makes a CA and a server certificate, the edges
  // serve them and the clients verify them). {false, true} measures both
  // in one run, server "wirehub" then "wirehub-wss". The peers stay ws.
  std::vector<bool> wirehub_tls = {false};
  // Control's stream engines wirehub is measured with, in this order:
  // "memory" and/or "redis" (docs/bench/redis-engine.md). Empty: the
  // memory engine without a config file for control, and no engine in the
  // results (every scenario before issue 16).
  std::vector<std::string> engines;
  // Control replicas per engine, in this order (the memory engine runs one
  // replica only). With redis, N controls share one redis-server; the
  // edges attach to them in turn and the publications of channel i go to
  // replica (i + 1) % N. One replica keeps --edges and --client_threads;
  // N replicas run max(N, --edges) edges on as many client loops.
  std::vector<size_t> control_replicas = {1};
  // The bench's redis-server: empty, no persistence; "no", "everysec" or
  // "always": AOF on with that appendfsync.
  std::string redis_appendfsync;
  // Publications kept per channel (the control config's history_size, with
  // a 600 s history_ttl); 0 keeps none. Set with the engines only.
  size_t history_size = 0;
  // redis_script: calls per redis-benchmark run and its pipeline depths.
  size_t redis_requests = 0;
  std::vector<size_t> pipelines;
  // wire: the client protocol encodings compared ("json", "protobuf"),
  // and the channel counts the clients spread over.
  std::vector<std::string> wires;
  std::vector<size_t> channel_counts;
};

// RunScenario()
//
// Runs scenario `name` (idle, fanout, latency, channels, slow, scale,
// tokens, redis_script, wire, smoke) and
// prints a summary per case. Errors when a server cannot be started or a
// scenario's set-up fails (clients that cannot connect, ...); the figures of
// cases that completed are already written.
absl::Status RunScenario(const std::string& name, const BenchOptions& options);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_SCENARIOS_H_
