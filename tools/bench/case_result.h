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

  std::optional<double> server_cpu_s;
  std::optional<double> server_cpu_us_per_delivery;
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
