#include "edge/connection_limiter.h"

#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

using Verdict = ConnectionLimiter::Verdict;

TEST(ConnectionLimiterTest, UnlimitedByDefaultHoldsNothing) {
  ConnectionLimiter limiter({});
  absl::Time now = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.Admit("192.0.2.1", now), Verdict::kAdmit);
  EXPECT_EQ(limiter.tracked_addresses(), 0u);
}

TEST(ConnectionLimiterTest, CountsOpenConnectionsPerAddress) {
  ConnectionLimiter limiter({.max_per_address = 2});
  absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(limiter.Admit("a", now), Verdict::kAdmit);
  EXPECT_EQ(limiter.Admit("a", now), Verdict::kAdmit);
  EXPECT_EQ(limiter.Admit("a", now), Verdict::kTooManyConnections);
  EXPECT_EQ(limiter.Admit("b", now), Verdict::kAdmit);
  limiter.Release("a");
  EXPECT_EQ(limiter.Admit("a", now), Verdict::kAdmit);
  // A release of an unknown or idle address is harmless.
  limiter.Release("zzz");
}

TEST(ConnectionLimiterTest, RateRefillsOverTime) {
  ConnectionLimiter limiter({.rate_per_address = 2, .burst_per_address = 3});
  absl::Time now = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Admit("a", now), Verdict::kAdmit);
  EXPECT_EQ(limiter.Admit("a", now), Verdict::kRateExceeded);
  EXPECT_EQ(limiter.Admit("b", now), Verdict::kAdmit);
  now += absl::Milliseconds(500);  // One token back.
  EXPECT_EQ(limiter.Admit("a", now), Verdict::kAdmit);
  EXPECT_EQ(limiter.Admit("a", now), Verdict::kRateExceeded);
}

TEST(ConnectionLimiterTest, SweepForgetsIdleAddressesOnly) {
  ConnectionLimiter limiter({.max_per_address = 10, .rate_per_address = 1, .burst_per_address = 2});
  absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(limiter.Admit("open", now), Verdict::kAdmit);
  EXPECT_EQ(limiter.Admit("closed", now), Verdict::kAdmit);
  limiter.Release("closed");
  limiter.Sweep(now);
  // "closed" has a bucket still refilling: kept, or a reconnect would get a
  // fresh burst.
  EXPECT_EQ(limiter.tracked_addresses(), 2u);
  limiter.Sweep(now + absl::Seconds(5));
  EXPECT_EQ(limiter.tracked_addresses(), 1u);
}

}  // namespace
}  // namespace wirehub::edge
