#include "tools/bench/proc_stats.h"

#include <unistd.h>

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

TEST(ProcStatsTest, ParsesACommandNameWithSpacesAndParentheses) {
  // Fields 14 and 15 (utime, stime) are 250 and 50 ticks.
  std::string_view stat =
      "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 3 0 100 "
      "123456789 2000 18446744073709551615\n";
  absl::StatusOr<ProcSample> sample =
      ParseProcSample(stat, "30000 2000 500 10 0 900 0\n", 100, 4096);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_DOUBLE_EQ(sample->user_seconds, 2.5);
  EXPECT_DOUBLE_EQ(sample->system_seconds, 0.5);
  EXPECT_DOUBLE_EQ(sample->cpu_seconds(), 3.0);
  EXPECT_EQ(sample->rss_bytes, 2000u * 4096u);
}

TEST(ProcStatsTest, RefusesMalformedFiles) {
  EXPECT_EQ(ParseProcSample("garbage", "1 2", 100, 4096).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseProcSample("1 (x) S 1 2", "1 2", 100, 4096).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseProcSample("1 (x) S 1 1 1 0 -1 0 0 0 0 0 5 6 0", "1", 100, 4096).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(ProcStatsTest, ReadsThisProcess) {
  absl::StatusOr<ProcSample> before = ReadProcSample(getpid());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_GT(before->rss_bytes, 0u);
  EXPECT_GE(before->cpu_seconds(), 0.0);
  // Touch 64 MiB so RSS grows, and burn some CPU; only the direction of the
  // change is asserted, never its rate.
  std::vector<uint8_t> memory(64 << 20);
  for (size_t i = 0; i < memory.size(); i += 4096) memory[i] = static_cast<uint8_t>(i);
  absl::StatusOr<ProcSample> after = ReadProcSample(getpid());
  ASSERT_TRUE(after.ok()) << after.status();
  ProcDelta delta = Diff(*before, *after);
  EXPECT_GE(delta.cpu_seconds, 0.0);
  EXPECT_GE(delta.wall_seconds, 0.0);
  EXPECT_GE(delta.rss_change_bytes, int64_t{32} << 20);
  EXPECT_EQ(memory[4096], static_cast<uint8_t>(4096));
}

TEST(ProcStatsTest, MissingProcessIsNotFound) {
  // PIDs never exceed /proc/sys/kernel/pid_max, at most 2^22.
  EXPECT_EQ(ReadProcSample((1 << 22) + 1).status().code(), absl::StatusCode::kNotFound);
}

TEST(ProcStatsTest, DiffOfKnownSamples) {
  ProcSample before{
      .taken_ns = 1'000'000'000, .user_seconds = 1, .system_seconds = 0.5, .rss_bytes = 1000};
  ProcSample after{
      .taken_ns = 3'000'000'000, .user_seconds = 2, .system_seconds = 1.5, .rss_bytes = 500};
  ProcDelta delta = Diff(before, after);
  EXPECT_DOUBLE_EQ(delta.wall_seconds, 2.0);
  EXPECT_DOUBLE_EQ(delta.cpu_seconds, 2.0);
  EXPECT_DOUBLE_EQ(delta.cores, 1.0);
  EXPECT_EQ(delta.rss_change_bytes, -500);
}

}  // namespace
}  // namespace wirehub::bench
