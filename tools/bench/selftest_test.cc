#include "tools/bench/selftest.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;

TEST(SelftestTest, CleanStreamArrivesWhole) {
  SelftestOptions options{.messages = 5000, .payload_bytes = 100, .lines_per_frame = 3};
  absl::StatusOr<SelftestResult> result = RunSelftest(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->lines, 5000u);
  EXPECT_EQ(result->frames, 1667u);
  EXPECT_EQ(result->counts.received, 5000u);
  EXPECT_EQ(result->counts.missing, 0u);
  EXPECT_EQ(result->counts.duplicated, 0u);
  // Synthetic latencies 1..1000 µs, five times over.
  const LatencyHistogram& h = result->latency;
  EXPECT_EQ(h.Count(), 5000u);
  EXPECT_NEAR(static_cast<double>(h.Percentile(50)), 500e3, 500e3 / 100);
  EXPECT_NEAR(static_cast<double>(h.Percentile(99)), 990e3, 990e3 / 100);
  EXPECT_EQ(h.Max(), 1'000'000);
  EXPECT_THAT(FormatSelftestResult(options, *result), HasSubstr("missing 0"));
}

TEST(SelftestTest, DropsAndDuplicatesAreCounted) {
  SelftestOptions options{.messages = 1000,
                          .payload_bytes = 300,
                          .lines_per_frame = 1,
                          .drop_every = 10,
                          .duplicate_every = 7};
  absl::StatusOr<SelftestResult> result = RunSelftest(options);
  ASSERT_TRUE(result.ok()) << result.status();
  // 100 dropped; of the 142 multiples of 7, 14 are also multiples of 10.
  EXPECT_EQ(result->counts.missing, 100u);
  EXPECT_EQ(result->counts.duplicated, 128u);
  EXPECT_EQ(result->counts.received, 900u + 128u);
}

}  // namespace
}  // namespace wirehub::bench
