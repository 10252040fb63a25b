// The redis_script scenario: what Redis itself does with control's publish
// script (control/redis_scripts.h), measured with redis-benchmark, so the
// Redis engine's figures have a ceiling to be compared with.
#ifndef WIREHUB_TOOLS_BENCH_REDIS_SCRIPT_H_
#define WIREHUB_TOOLS_BENCH_REDIS_SCRIPT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/bench/scenarios.h"

namespace wirehub::bench {

// RedisBenchmarkFigures is what one redis-benchmark --csv run reports.
struct RedisBenchmarkFigures {
  double calls_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// ParseRedisBenchmarkCsv()
//
// The figures of the last record of redis-benchmark --csv output
// ("test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
// "p95_latency_ms","p99_latency_ms","max_latency_ms"); the test's name may
// hold anything (a custom command's arguments), so the numbers are read
// from the end. InvalidArgument when there are none.
absl::StatusOr<RedisBenchmarkFigures> ParseRedisBenchmarkCsv(std::string_view output);

// PublishScriptArgs()
//
// The arguments after "EVALSHA <sha>" of one publish as control's
// RedisStreamStore sends it (key prefix "wirehub", no idempotency key,
// a 24 h stream ttl) on `channel`: 3 keys, then run_id, a new epoch,
// `history_size`, a 600 s history ttl and the serialized publication of a
// `payload_bytes` bench payload.
std::vector<std::string> PublishScriptArgs(const std::string& channel, const std::string& run_id,
                                           size_t history_size, size_t payload_bytes);

// RunRedisScriptScenario()
//
// Starts a redis-server (options.redis_appendfsync), loads the publish
// script and runs redis-benchmark -c 50 with it for each of
// options.pipelines (1,16), without and then with a connection subscribed
// to the channel (as a control replica's feed is). One result per run.
absl::Status RunRedisScriptScenario(const BenchOptions& options, bool smoke);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_REDIS_SCRIPT_H_
