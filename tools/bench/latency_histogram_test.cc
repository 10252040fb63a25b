#include "tools/bench/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

// Asserts that `reported` is within the histogram's 1/128 relative error
// above `exact` (it reports the upper end of a bucket, never less).
void ExpectClose(int64_t reported, int64_t exact) {
  EXPECT_GE(reported, exact);
  EXPECT_LE(static_cast<double>(reported - exact), static_cast<double>(exact) / 128.0 + 1)
      << "reported " << reported << " exact " << exact;
}

TEST(LatencyHistogramTest, EmptyReportsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.Count(), 0u);
  EXPECT_EQ(histogram.Percentile(50), 0);
  EXPECT_EQ(histogram.Min(), 0);
  EXPECT_EQ(histogram.Max(), 0);
  EXPECT_EQ(histogram.Mean(), 0.0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (int64_t v = 1; v <= 100; ++v) histogram.Record(v);
  EXPECT_EQ(histogram.Count(), 100u);
  EXPECT_EQ(histogram.Percentile(50), 50);
  EXPECT_EQ(histogram.Percentile(90), 90);
  EXPECT_EQ(histogram.Percentile(99), 99);
  EXPECT_EQ(histogram.Percentile(99.9), 100);
  EXPECT_EQ(histogram.Percentile(100), 100);
  EXPECT_EQ(histogram.Percentile(0), 1);
  EXPECT_EQ(histogram.Min(), 1);
  EXPECT_EQ(histogram.Max(), 100);
  EXPECT_DOUBLE_EQ(histogram.Mean(), 50.5);
}

TEST(LatencyHistogramTest, BucketsCoverEveryValueWithBoundedError) {
  // Walk values from 1 ns to past 100 s in steps of about 0.3 %: every value
  // lies in a bucket whose upper end is at most 1/128 above it, and bucket
  // indices never decrease.
  size_t last_index = 0;
  for (double v = 1; v < 2e11; v *= 1.003) {
    auto ns = static_cast<int64_t>(v);
    size_t index = LatencyHistogram::BucketIndex(ns);
    ASSERT_LT(index, LatencyHistogram::NumBuckets());
    ASSERT_GE(index, last_index);
    last_index = index;
    int64_t upper = LatencyHistogram::BucketUpperBound(index);
    ASSERT_GE(upper, ns);
    ASSERT_LE(static_cast<double>(upper - ns), static_cast<double>(ns) / 128.0) << ns;
    if (index > 0) {
      ASSERT_LT(LatencyHistogram::BucketUpperBound(index - 1), ns) << ns;
    }
  }
}

TEST(LatencyHistogramTest, BucketBoundariesAreContiguous) {
  for (size_t i = 1; i < LatencyHistogram::NumBuckets(); ++i) {
    int64_t first = LatencyHistogram::BucketUpperBound(i - 1) + 1;
    ASSERT_EQ(LatencyHistogram::BucketIndex(first), i);
    ASSERT_EQ(LatencyHistogram::BucketIndex(LatencyHistogram::BucketUpperBound(i)), i);
  }
  EXPECT_EQ(LatencyHistogram::BucketUpperBound(LatencyHistogram::NumBuckets() - 1),
            LatencyHistogram::kMaxTrackableNs);
}

TEST(LatencyHistogramTest, UniformMicrosecondsToMilliseconds) {
  // 1 µs, 2 µs, ..., 10 ms: the p-th percentile is p% of 10 ms.
  LatencyHistogram histogram;
  for (int64_t us = 1; us <= 10000; ++us) histogram.Record(us * 1000);
  ExpectClose(histogram.Percentile(50), 5'000'000);
  ExpectClose(histogram.Percentile(90), 9'000'000);
  ExpectClose(histogram.Percentile(99), 9'900'000);
  ExpectClose(histogram.Percentile(99.9), 9'990'000);
  EXPECT_EQ(histogram.Max(), 10'000'000);
  EXPECT_EQ(histogram.Percentile(100), 10'000'000);
  EXPECT_EQ(histogram.Min(), 1000);
}

TEST(LatencyHistogramTest, HeavyTail) {
  // 990 fast deliveries at 200 µs, 9 at 5 ms, one at 3 s.
  LatencyHistogram histogram;
  histogram.RecordN(200'000, 990);
  histogram.RecordN(5'000'000, 9);
  histogram.Record(3'000'000'000);
  ExpectClose(histogram.Percentile(50), 200'000);
  ExpectClose(histogram.Percentile(99), 200'000);
  ExpectClose(histogram.Percentile(99.1), 5'000'000);
  ExpectClose(histogram.Percentile(99.9), 5'000'000);
  EXPECT_EQ(histogram.Percentile(99.95), 3'000'000'000);
  EXPECT_EQ(histogram.Max(), 3'000'000'000);
  EXPECT_EQ(histogram.Count(), 1000u);
}

TEST(LatencyHistogramTest, MatchesSortedSamplesOfARandomDistribution) {
  // Exponentially distributed latencies (mean 1 ms) checked against the exact
  // order statistics.
  std::mt19937_64 random(42);
  std::exponential_distribution<double> exponential(1.0 / 1e6);
  std::vector<int64_t> samples;
  LatencyHistogram histogram;
  for (int i = 0; i < 100000; ++i) {
    auto ns = static_cast<int64_t>(exponential(random)) + 1000;
    samples.push_back(ns);
    histogram.Record(ns);
  }
  std::sort(samples.begin(), samples.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto rank = static_cast<size_t>(std::ceil(p / 100.0 * samples.size() - 1e-6));
    SCOPED_TRACE(p);
    ExpectClose(histogram.Percentile(p), samples[rank - 1]);
  }
  EXPECT_EQ(histogram.Max(), samples.back());
  EXPECT_EQ(histogram.Min(), samples.front());
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (int64_t v = 1; v <= 5000; ++v) {
    int64_t ns = v * 7919 % 100'000'000;
    (v % 3 == 0 ? a : b).Record(ns);
    all.Record(ns);
  }
  a.Merge(b);
  EXPECT_EQ(a.Count(), all.Count());
  EXPECT_EQ(a.Min(), all.Min());
  EXPECT_EQ(a.Max(), all.Max());
  EXPECT_DOUBLE_EQ(a.Mean(), all.Mean());
  for (double p : {0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(a.Percentile(p), all.Percentile(p)) << p;
  }
  LatencyHistogram empty;
  a.Merge(empty);
  EXPECT_EQ(a.Count(), all.Count());
  empty.Merge(all);
  EXPECT_EQ(empty.Min(), all.Min());
}

TEST(LatencyHistogramTest, ClampsOutOfRangeValues) {
  LatencyHistogram histogram;
  histogram.Record(-5);
  histogram.Record(LatencyHistogram::kMaxTrackableNs * 4);
  EXPECT_EQ(histogram.Min(), 0);
  EXPECT_EQ(histogram.Max(), LatencyHistogram::kMaxTrackableNs * 4);
  EXPECT_EQ(histogram.Percentile(0), 0);
  EXPECT_EQ(histogram.Percentile(100), LatencyHistogram::kMaxTrackableNs * 4);
  histogram.Reset();
  EXPECT_EQ(histogram.Count(), 0u);
  EXPECT_EQ(histogram.Max(), 0);
}

TEST(LatencyHistogramTest, EncodeDecodeRoundTrips) {
  LatencyHistogram original;
  for (int64_t v = 1; v <= 3000; ++v) original.Record(v * 104729 % 50'000'000);
  original.RecordN(17, 4);
  absl::StatusOr<LatencyHistogram> decoded = LatencyHistogram::Decode(original.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->Count(), original.Count());
  EXPECT_EQ(decoded->Min(), original.Min());
  EXPECT_EQ(decoded->Max(), original.Max());
  EXPECT_DOUBLE_EQ(decoded->Mean(), original.Mean());
  for (double p : {0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(decoded->Percentile(p), original.Percentile(p)) << p;
  }
  EXPECT_EQ(decoded->Encode(), original.Encode());

  absl::StatusOr<LatencyHistogram> empty = LatencyHistogram::Decode(LatencyHistogram().Encode());
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->Count(), 0u);
}

TEST(LatencyHistogramTest, DecodeRejectsWhatEncodeCannotWrite) {
  for (const char* text : {"", "1 2 3", "1 5 5 5 x", "1 5 5 5 9:1:2", "2 5 5 10 5:1",
                           "1 5 5 5 99999999:1", "1 5 5 5 5:0", "1 9 5 5 5:1", "a 5 5 5 5:1"}) {
    EXPECT_FALSE(LatencyHistogram::Decode(text).ok()) << text;
  }
  EXPECT_TRUE(LatencyHistogram::Decode("1 5 5 5 5:1").ok());
}

}  // namespace
}  // namespace wirehub::bench
