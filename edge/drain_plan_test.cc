#include "edge/drain_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <vector>

namespace wirehub::edge {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

struct DrainRun {
  std::vector<size_t> waves;
  absl::Time last_close;  // When the last client was closed.
  size_t closed = 0;
};

// Drains `clients` over `duration` with a wave every `tick` (plus up to
// `jitter` of lateness per wave), until none is left.
DrainRun Drain(size_t clients, absl::Duration duration, absl::Duration tick,
               absl::Duration jitter = absl::ZeroDuration(), unsigned seed = 1) {
  std::mt19937 rng(seed);
  DrainPlan plan(kStart, duration);
  DrainRun run;
  size_t remaining = clients;
  absl::Time now = kStart;
  while (remaining > 0) {
    absl::Duration late = jitter * std::uniform_real_distribution<double>(0, 1)(rng);
    now += tick + late;
    size_t wave = plan.WaveSize(now, remaining);
    run.waves.push_back(wave);
    remaining -= wave;
    run.closed += wave;
    if (wave > 0) run.last_close = now;
    if (run.waves.size() > 100000) break;
  }
  return run;
}

TEST(DrainPlanTest, NoWaveClosesMoreThanItsShareAndTheLastEndsByTheDeadline) {
  const absl::Duration tick = absl::Milliseconds(100);
  for (size_t clients : {1u, 2u, 7u, 60u, 299u, 1000u, 10000u}) {
    for (absl::Duration duration : {absl::Seconds(1), absl::Seconds(3), absl::Seconds(20)}) {
      DrainRun run = Drain(clients, duration, tick);
      const double share = static_cast<double>(clients) * absl::FDivDuration(tick, duration);
      for (size_t wave : run.waves) {
        EXPECT_LE(static_cast<double>(wave), share + 1) << clients << " over " << duration;
      }
      EXPECT_EQ(run.closed, clients);
      EXPECT_LE(run.last_close, kStart + duration) << clients << " over " << duration;
    }
  }
}

TEST(DrainPlanTest, TheRateIsAboutClientsOverDuration) {
  // 600 clients over 3 s: about 20 per 100 ms wave, every wave.
  DrainRun run = Drain(600, absl::Seconds(3), absl::Milliseconds(100));
  ASSERT_EQ(run.waves.size(), 30u);
  for (size_t wave : run.waves) EXPECT_EQ(wave, 20u);
}

TEST(DrainPlanTest, FewClientsAreSpreadOverTheWholeDuration) {
  // 60 clients over 20 s, a wave every 100 ms: one every third wave or so,
  // half of them in each half of the time.
  DrainPlan plan(kStart, absl::Seconds(20));
  size_t remaining = 60;
  size_t closed_by_half_time = 0;
  absl::Time last_close;
  for (absl::Time now = kStart + absl::Milliseconds(100); remaining > 0;
       now += absl::Milliseconds(100)) {
    size_t wave = plan.WaveSize(now, remaining);
    EXPECT_LE(wave, 1u);
    remaining -= wave;
    if (now <= kStart + absl::Seconds(10)) closed_by_half_time = 60 - remaining;
    if (wave > 0) last_close = now;
  }
  EXPECT_NEAR(static_cast<double>(closed_by_half_time), 30, 1);
  EXPECT_GE(last_close, kStart + absl::Milliseconds(19500));
  EXPECT_LE(last_close, kStart + absl::Seconds(20));
}

TEST(DrainPlanTest, LateWavesCloseInProportionToTheirLateness) {
  const absl::Duration tick = absl::Milliseconds(100);
  const absl::Duration jitter = absl::Milliseconds(150);
  for (unsigned seed = 1; seed <= 20; ++seed) {
    DrainPlan plan(kStart, absl::Seconds(5));
    std::mt19937 rng(seed);
    size_t remaining = 1000;
    absl::Time now = kStart;
    while (remaining > 0) {
      absl::Time previous = now;
      now += tick + jitter * std::uniform_real_distribution<double>(0, 1)(rng);
      size_t wave = plan.WaveSize(now, remaining);
      if (now < plan.deadline()) {
        EXPECT_LE(static_cast<double>(wave),
                  1000 * absl::FDivDuration(now - previous, absl::Seconds(5)) + 2);
      }
      remaining -= wave;
    }
    EXPECT_LE(now, plan.deadline() + tick + jitter);
  }
}

TEST(DrainPlanTest, ClientsLeavingOnTheirOwnSlowTheWavesDown) {
  DrainPlan plan(kStart, absl::Seconds(2));
  EXPECT_EQ(plan.WaveSize(kStart + absl::Milliseconds(100), 200), 10u);
  // Half of the rest left by themselves: the next wave shares what is left.
  // 90 * 0.1 / 1.9 = 4.7: four now, the rest owed to the next wave.
  EXPECT_EQ(plan.WaveSize(kStart + absl::Milliseconds(200), 90), 4u);
}

TEST(DrainPlanTest, AtOrAfterTheDeadlineEverythingGoes) {
  DrainPlan plan(kStart, absl::Seconds(2));
  EXPECT_EQ(plan.WaveSize(kStart + absl::Seconds(2), 77), 77u);
  EXPECT_EQ(plan.WaveSize(kStart + absl::Seconds(9), 3), 3u);
}

TEST(DrainPlanTest, ZeroDurationClosesEverythingAtOnce) {
  DrainPlan plan(kStart, absl::ZeroDuration());
  EXPECT_EQ(plan.WaveSize(kStart, 500), 500u);
}

TEST(DrainPlanTest, NoTimePassedClosesNothing) {
  DrainPlan plan(kStart, absl::Seconds(2));
  EXPECT_EQ(plan.WaveSize(kStart, 500), 0u);
  EXPECT_EQ(plan.WaveSize(kStart - absl::Seconds(1), 500), 0u);  // A clock step back.
  EXPECT_EQ(plan.WaveSize(kStart + absl::Milliseconds(100), 0), 0u);
}

}  // namespace
}  // namespace wirehub::edge
