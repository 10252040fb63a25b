#include "tools/bench/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"

namespace wirehub::bench {
namespace {

// Values below 2^kSubBits are their own bucket; each power of two at or above
// it is split into 2^(kSubBits - 1) buckets.
constexpr int kSubBits = 8;
constexpr uint64_t kLinearLimit = uint64_t{1} << kSubBits;       // 256
constexpr uint64_t kSubBuckets = uint64_t{1} << (kSubBits - 1);  // 128
constexpr int kMaxBits = 40;
// Buckets: the linear 256, then 128 for every exponent from 8 to 39.
constexpr size_t kNumBuckets = kLinearLimit + (kMaxBits - kSubBits) * kSubBuckets;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kNumBuckets, 0) {}

size_t LatencyHistogram::NumBuckets() { return kNumBuckets; }

size_t LatencyHistogram::BucketIndex(int64_t ns) {
  uint64_t v = ns < 0 ? 0 : static_cast<uint64_t>(std::min(ns, kMaxTrackableNs));
  if (v < kLinearLimit) return static_cast<size_t>(v);
  // v has its highest set bit at `msb` >= kSubBits; keep the top kSubBits
  // bits, whose leading one makes `top` lie in [128, 256).
  int msb = 63 - std::countl_zero(v);
  int shift = msb - (kSubBits - 1);
  uint64_t top = v >> shift;
  return static_cast<size_t>(kLinearLimit + (shift - 1) * kSubBuckets + (top - kSubBuckets));
}

int64_t LatencyHistogram::BucketUpperBound(size_t index) {
  if (index < kLinearLimit) return static_cast<int64_t>(index);
  size_t rest = index - kLinearLimit;
  int shift = static_cast<int>(rest / kSubBuckets) + 1;
  uint64_t top = kSubBuckets + rest % kSubBuckets;
  return static_cast<int64_t>(((top + 1) << shift) - 1);
}

void LatencyHistogram::RecordN(int64_t ns, uint64_t count) {
  if (count == 0) return;
  if (ns < 0) ns = 0;
  counts_[BucketIndex(ns)] += count;
  if (count_ == 0 || ns < min_) min_ = ns;
  if (ns > max_) max_ = ns;
  count_ += count;
  sum_ += static_cast<double>(ns) * static_cast<double>(count);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < kNumBuckets; ++i) counts_[i] += other.counts_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

std::string LatencyHistogram::Encode() const {
  // The sum goes out with 17 significant digits, enough to read back the
  // same double.
  char sum[32];
  std::snprintf(sum, sizeof(sum), "%.17g", sum_);
  std::string out = absl::StrCat(count_, " ", min_, " ", max_, " ", sum);
  for (size_t i = 0; i < kNumBuckets; ++i) {
    if (counts_[i] != 0) absl::StrAppend(&out, " ", i, ":", counts_[i]);
  }
  return out;
}

absl::StatusOr<LatencyHistogram> LatencyHistogram::Decode(std::string_view text) {
  std::vector<absl::string_view> fields = absl::StrSplit(AsAbsl(text), ' ', absl::SkipEmpty());
  LatencyHistogram histogram;
  if (fields.size() < 4 || !absl::SimpleAtoi(fields[0], &histogram.count_) ||
      !absl::SimpleAtoi(fields[1], &histogram.min_) ||
      !absl::SimpleAtoi(fields[2], &histogram.max_) ||
      !absl::SimpleAtod(fields[3], &histogram.sum_)) {
    return absl::InvalidArgumentError("histogram: expected count, min, max and sum");
  }
  uint64_t bucketed = 0;
  for (size_t f = 4; f < fields.size(); ++f) {
    std::vector<absl::string_view> pair = absl::StrSplit(fields[f], ':');
    size_t index = 0;
    uint64_t count = 0;
    if (pair.size() != 2 || !absl::SimpleAtoi(pair[0], &index) ||
        !absl::SimpleAtoi(pair[1], &count) || index >= kNumBuckets || count == 0) {
      return absl::InvalidArgumentError(absl::StrCat("histogram: bad bucket \"", fields[f], "\""));
    }
    histogram.counts_[index] += count;
    bucketed += count;
  }
  if (bucketed != histogram.count_ || histogram.min_ < 0 || histogram.max_ < histogram.min_) {
    return absl::InvalidArgumentError("histogram: buckets do not add up to the count");
  }
  return histogram;
}

void LatencyHistogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

int64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The rank of the value asked for, 1-based: the smallest rank whose share
  // of the values is at least p percent.
  // The small subtraction keeps rounding noise (99.9 is not exact in binary)
  // from pushing an exact product such as 999.0000000000001 up a rank.
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_) - 1e-6));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kNumBuckets; ++i) {
    seen += counts_[i];
    if (seen < rank) continue;
    // The top bucket also holds every value past kMaxTrackableNs.
    if (i == kNumBuckets - 1) return max_;
    return std::clamp(BucketUpperBound(i), min_, max_);
  }
  return max_;
}

double LatencyHistogram::Mean() const {
  return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_);
}

}  // namespace wirehub::bench
