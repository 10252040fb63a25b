#include "tools/bench/proc_stats.h"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <thread>
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

TEST(ProcStatsTest, ParsesContextSwitchesOfAThread) {
  std::string_view status =
      "Name:\twirehub-edge\nState:\tS (sleeping)\nThreads:\t4\n"
      "Cpus_allowed_list:\t0-1\nvoluntary_ctxt_switches:\t1200\n"
      "nonvoluntary_ctxt_switches:\t34\n";
  absl::StatusOr<uint64_t> switches = ParseContextSwitches(status);
  ASSERT_TRUE(switches.ok()) << switches.status();
  EXPECT_EQ(*switches, 1234u);
  // Without its trailing newline too.
  EXPECT_EQ(
      ParseContextSwitches("voluntary_ctxt_switches: 5\nnonvoluntary_ctxt_switches: 6").value_or(0),
      11u);
}

TEST(ProcStatsTest, RefusesStatusWithoutContextSwitches) {
  EXPECT_EQ(ParseContextSwitches("Name:\tx\nvoluntary_ctxt_switches:\t3\n").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseContextSwitches("voluntary_ctxt_switches:\tmany\n"
                                 "nonvoluntary_ctxt_switches:\t1\n")
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  // "voluntary" must not match inside "nonvoluntary".
  EXPECT_FALSE(ParseContextSwitches("nonvoluntary_ctxt_switches:\t1\n").ok());
}

TEST(ProcStatsTest, CountsThisProcessesContextSwitchesOverItsThreads) {
  absl::StatusOr<uint64_t> before = ReadContextSwitches(getpid());
  ASSERT_TRUE(before.ok()) << before.status();
  // A thread that sleeps switches out voluntarily at least once; its
  // switches count while it is alive.
  uint64_t during = 0;
  std::thread sleeper([&] {
    for (int i = 0; i < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    during = ReadContextSwitches(getpid()).value_or(0);
  });
  sleeper.join();
  EXPECT_GE(during, *before + 5);
  absl::StatusOr<ProcSample> sample = ReadProcSample(getpid());
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_GT(sample->context_switches, 0u);
  EXPECT_EQ(ReadContextSwitches((1 << 22) + 1).status().code(), absl::StatusCode::kNotFound);
}

TEST(ProcStatsTest, MissingProcessIsNotFound) {
  // PIDs never exceed /proc/sys/kernel/pid_max, at most 2^22.
  EXPECT_EQ(ReadProcSample((1 << 22) + 1).status().code(), absl::StatusCode::kNotFound);
}

TEST(ProcStatsTest, DiffOfKnownSamples) {
  ProcSample before{.taken_ns = 1'000'000'000,
                    .user_seconds = 1,
                    .system_seconds = 0.5,
                    .rss_bytes = 1000,
                    .context_switches = 100};
  ProcSample after{.taken_ns = 3'000'000'000,
                   .user_seconds = 2,
                   .system_seconds = 1.5,
                   .rss_bytes = 500,
                   .context_switches = 350};
  ProcDelta delta = Diff(before, after);
  EXPECT_DOUBLE_EQ(delta.wall_seconds, 2.0);
  EXPECT_DOUBLE_EQ(delta.cpu_seconds, 2.0);
  EXPECT_DOUBLE_EQ(delta.cores, 1.0);
  EXPECT_EQ(delta.rss_change_bytes, -500);
  EXPECT_EQ(delta.context_switches, 250u);
  // A sum that went down (busy threads exited) is no negative count.
  after.context_switches = 50;
  EXPECT_EQ(Diff(before, after).context_switches, 0u);
}

}  // namespace
}  // namespace wirehub::bench
