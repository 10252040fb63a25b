#include "tools/bench/drain_scenario.h"

#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

std::vector<absl::Duration> Millis(std::initializer_list<int> ms) {
  std::vector<absl::Duration> out;
  for (int m : ms) out.push_back(absl::Milliseconds(m));
  return out;
}

TEST(PeakInWindowTest, CountsTheBusiestWindow) {
  EXPECT_EQ(PeakInWindow({}, absl::Seconds(1)), 0u);
  EXPECT_EQ(PeakInWindow(Millis({0}), absl::Seconds(1)), 1u);
  // 0..999 ms is one window; 1000 starts the next (half-open).
  EXPECT_EQ(PeakInWindow(Millis({0, 500, 999, 1000}), absl::Seconds(1)), 3u);
  EXPECT_EQ(PeakInWindow(Millis({0, 1500, 1600, 1700, 2400, 2600}), absl::Seconds(1)), 4u);
  EXPECT_EQ(PeakInWindow(Millis({0, 2000, 4000}), absl::Seconds(1)), 1u);
}

}  // namespace
}  // namespace wirehub::bench
