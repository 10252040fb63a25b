#include "edge/compact_time.h"

#include <cstdint>
#include <limits>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

TEST(CompactTimeTest, HoldsAnAbslTimeInEightBytes) {
  static_assert(sizeof(CompactTime) == 8);
  EXPECT_EQ(absl::Time(CompactTime()), absl::UnixEpoch());
}

TEST(CompactTimeTest, RoundTripsTimesExactlyToTheNanosecond) {
  const absl::Time now = absl::FromUnixNanos(absl::ToUnixNanos(absl::Now()));
  for (absl::Time time : {now, now + absl::Nanoseconds(1), now - absl::Hours(24 * 365 * 50),
                          absl::FromUnixSeconds(4102444800), absl::FromUnixSeconds(-1)}) {
    CompactTime compact = time;
    EXPECT_EQ(absl::Time(compact), time);
  }
}

TEST(CompactTimeTest, KeepsTheInfiniteTimes) {
  CompactTime never = absl::InfiniteFuture();
  EXPECT_EQ(absl::Time(never), absl::InfiniteFuture());
  EXPECT_TRUE(never == absl::InfiniteFuture());
  CompactTime always = absl::InfinitePast();
  EXPECT_EQ(absl::Time(always), absl::InfinitePast());
}

TEST(CompactTimeTest, ClampsFiniteTimesBeyondItsRange) {
  CompactTime far = absl::FromUnixSeconds(int64_t{1} << 40);
  EXPECT_NE(absl::Time(far), absl::InfiniteFuture());
  EXPECT_EQ(absl::Time(far), absl::FromUnixNanos(std::numeric_limits<int64_t>::max() - 1));
  CompactTime early = absl::FromUnixSeconds(-(int64_t{1} << 40));
  EXPECT_NE(absl::Time(early), absl::InfinitePast());
  EXPECT_EQ(absl::Time(early), absl::FromUnixNanos(std::numeric_limits<int64_t>::min() + 1));
}

TEST(CompactTimeTest, ComparesAndAddsAsAnAbslTime) {
  const absl::Time now = absl::Now();
  CompactTime deadline = now + absl::Seconds(5);
  EXPECT_FALSE(now >= deadline);
  EXPECT_TRUE(now + absl::Seconds(6) >= deadline);
  EXPECT_EQ(deadline + absl::Seconds(1) - now, absl::Seconds(6));
  CompactTime never = absl::InfiniteFuture();
  EXPECT_FALSE(now + absl::Hours(1e6) >= never + absl::Seconds(25));
}

}  // namespace
}  // namespace wirehub::edge
