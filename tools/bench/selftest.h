// `wirehub-bench selftest`: the receive path of the load generator run on
// synthetic data, no network and no server. It checks that the pieces agree
// end to end (payload -> push line -> server frame -> parser -> sequence
// tracker -> histogram) and shows what the generator's own parsing costs
// per message on this machine.
#ifndef WIREHUB_TOOLS_BENCH_SELFTEST_H_
#define WIREHUB_TOOLS_BENCH_SELFTEST_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "tools/bench/latency_histogram.h"
#include "tools/bench/sequence_tracker.h"

namespace wirehub::bench {

// SelftestOptions says what synthetic stream to build.
struct SelftestOptions {
  // Publications on one channel.
  size_t messages = 200000;
  size_t payload_bytes = 100;
  // Push lines per WebSocket frame (the edge coalesces replies with '\n').
  size_t lines_per_frame = 4;
  // Every n-th sequence number is left out of the stream (0: none), and
  // every m-th is sent twice (0: none), so loss accounting is exercised.
  size_t drop_every = 0;
  size_t duplicate_every = 0;
};

// SelftestResult is what the run saw.
struct SelftestResult {
  uint64_t frames = 0;
  uint64_t lines = 0;
  SequenceTracker::Counts counts;
  // Synthetic latencies: message i is stamped as if it took
  // (i % 1000 + 1) µs, so the percentiles are known in advance
  // (p50 ≈ 500 µs, p99 ≈ 990 µs, max 1 ms).
  LatencyHistogram latency;
  // Wall time the parse loop took per line (framing, push scan, tracking,
  // recording), in nanoseconds: the generator's own cost, not wirehub's.
  double ns_per_line = 0;
};

// RunSelftest()
//
// Builds the stream in memory, then parses it. Errors from any parser are
// returned as they are (they mean a bug).
absl::StatusOr<SelftestResult> RunSelftest(const SelftestOptions& options);

// FormatSelftestResult()
//
// A few human-readable lines.
std::string FormatSelftestResult(const SelftestOptions& options, const SelftestResult& result);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_SELFTEST_H_
