// A log-bucketed latency histogram for the load generator: constant-time,
// allocation-free recording and percentiles with a bounded relative error.
#ifndef WIREHUB_TOOLS_BENCH_LATENCY_HISTOGRAM_H_
#define WIREHUB_TOOLS_BENCH_LATENCY_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wirehub::bench {

// LatencyHistogram counts latencies in nanoseconds.
// Thread-compatible: one thread records into its own histogram; merge the
// histograms of several threads with Merge() once they are done.
//
// Values below 256 ns are counted exactly. Above that, every power of two is
// split into 128 equal buckets, so a bucket is at most 1/128 (0.78 %) of the
// values it holds wide: any percentile is reported within 0.8 % of a value
// that was recorded. Values from 0 to kMaxTrackableNs (about 18 minutes) are
// bucketed; larger ones land in the top bucket (Max() stays exact).
//
// Example:
//   LatencyHistogram histogram;
//   histogram.Record(receive_ns - send_ns);
//   printf("p99 %lld ns\n", static_cast<long long>(histogram.Percentile(99)));
class LatencyHistogram {
 public:
  // Largest value bucketed precisely: 2^40 - 1 ns.
  static constexpr int64_t kMaxTrackableNs = (int64_t{1} << 40) - 1;

  LatencyHistogram();

  LatencyHistogram(const LatencyHistogram&) = default;
  LatencyHistogram& operator=(const LatencyHistogram&) = default;
  LatencyHistogram(LatencyHistogram&&) = default;
  LatencyHistogram& operator=(LatencyHistogram&&) = default;

  // Record()
  //
  // Counts one latency of `ns` nanoseconds. Negative values count as 0.
  // O(1); never allocates.
  void Record(int64_t ns) { RecordN(ns, 1); }

  // RecordN()
  //
  // Counts `count` latencies of `ns` nanoseconds each.
  void RecordN(int64_t ns, uint64_t count);

  // Merge()
  //
  // Adds every value counted by `other` to this histogram.
  void Merge(const LatencyHistogram& other);

  // Reset()
  //
  // Forgets every value.
  void Reset();

  // Percentile()
  //
  // The value at or below which `p` percent of the recorded values lie
  // (p in [0, 100]; 50 is the median, 99.9 is p999), reported as the upper
  // end of the bucket it falls in, clamped to [Min(), Max()]. 0 when the
  // histogram is empty.
  int64_t Percentile(double p) const;

  // Count(), Min(), Max(), Mean()
  //
  // How many values were recorded, the smallest and largest exactly as
  // recorded, and their mean. Min(), Max() and Mean() are 0 when empty.
  uint64_t Count() const { return count_; }
  int64_t Min() const { return count_ == 0 ? 0 : min_; }
  int64_t Max() const { return max_; }
  double Mean() const;

  // Encode(), Decode()
  //
  // A histogram as one line of text and back, so a generator process can
  // hand what it recorded to the one that reports: the non-empty buckets as
  // "index:count" after the count, min, max and sum. Decode() gives
  // InvalidArgument for anything Encode() cannot have written.
  std::string Encode() const;
  static absl::StatusOr<LatencyHistogram> Decode(std::string_view text);

  // BucketIndex(), BucketUpperBound()
  //
  // The bucket `ns` falls in, and the largest value that bucket holds.
  // Exposed for tests.
  static size_t BucketIndex(int64_t ns);
  static int64_t BucketUpperBound(size_t index);

  // Number of buckets.
  static size_t NumBuckets();

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  // Sum of the values as a double: exact enough for a mean, never overflows.
  double sum_ = 0;
};

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_LATENCY_HISTOGRAM_H_
