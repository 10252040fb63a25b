#include "edge/readiness.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace wirehub::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

TEST(EdgeReadinessTest, NotReadyBeforeTheFirstAttachOnceTheTimeoutPassed) {
  EdgeReadiness readiness(absl::Seconds(10), kStart);
  // A fresh edge gets its link a moment to come up.
  EXPECT_TRUE(readiness.Ready(kStart + absl::Seconds(10)));
  EXPECT_THAT(readiness.NotReadyReasons(kStart + absl::Seconds(12)),
              ElementsAre("control link detached for 12s (not attached since start)"));
  readiness.SetLinkAttached(true, kStart + absl::Seconds(13));
  EXPECT_TRUE(readiness.Ready(kStart + absl::Seconds(13)));
}

TEST(EdgeReadinessTest, DetachedLongerThanTheTimeoutIsNotReady) {
  EdgeReadiness readiness(absl::Seconds(2), kStart);
  readiness.SetLinkAttached(true, kStart);
  readiness.SetLinkAttached(false, kStart + absl::Seconds(100));
  EXPECT_TRUE(readiness.Ready(kStart + absl::Seconds(102)));
  EXPECT_THAT(readiness.NotReadyReasons(kStart + absl::Seconds(103)),
              ElementsAre("control link detached for 3s"));
  // A second detach notice does not restart the clock.
  readiness.SetLinkAttached(false, kStart + absl::Seconds(103));
  EXPECT_THAT(readiness.NotReadyReasons(kStart + absl::Seconds(104)),
              ElementsAre("control link detached for 4s"));
  readiness.SetLinkAttached(true, kStart + absl::Seconds(105));
  EXPECT_THAT(readiness.NotReadyReasons(kStart + absl::Seconds(105)), IsEmpty());
}

TEST(EdgeReadinessTest, DrainingIsFinal) {
  EdgeReadiness readiness(absl::Seconds(10), kStart);
  readiness.SetLinkAttached(true, kStart);
  EXPECT_FALSE(readiness.draining());
  readiness.SetDraining();
  EXPECT_TRUE(readiness.draining());
  EXPECT_THAT(readiness.NotReadyReasons(kStart), ElementsAre("draining"));
}

TEST(EdgeReadinessTest, AtTheConnectionLimitIsNotReady) {
  EdgeReadiness readiness(absl::Seconds(10), kStart);
  readiness.SetLinkAttached(true, kStart);
  readiness.SetConnections(99, 100);
  EXPECT_TRUE(readiness.Ready(kStart));
  readiness.SetConnections(100, 100);
  EXPECT_THAT(readiness.NotReadyReasons(kStart), ElementsAre("at connection limit (100)"));
  readiness.SetConnections(5, 0);  // No limit known.
  EXPECT_TRUE(readiness.Ready(kStart));
}

TEST(EdgeReadinessTest, EveryReasonInOrder) {
  EdgeReadiness readiness(absl::Seconds(1), kStart);
  readiness.SetDraining();
  readiness.SetConnections(10, 10);
  EXPECT_THAT(readiness.NotReadyReasons(kStart + absl::Seconds(5)),
              ElementsAre("draining", "control link detached for 5s (not attached since start)",
                          "at connection limit (10)"));
}

// Run under TSan: writers and a reader at once.
TEST(EdgeReadinessTest, WritersAndReadersOnOtherThreads) {
  EdgeReadiness readiness(absl::Seconds(1), kStart);
  std::thread loop([&] {
    for (int i = 0; i < 1000; ++i) {
      readiness.SetLinkAttached(i % 2 == 0, kStart + absl::Milliseconds(i));
      readiness.SetConnections(static_cast<size_t>(i), 1000);
    }
  });
  std::thread signals([&] { readiness.SetDraining(); });
  for (int i = 0; i < 1000; ++i) readiness.NotReadyReasons(kStart + absl::Seconds(2));
  loop.join();
  signals.join();
  EXPECT_TRUE(readiness.draining());
}

}  // namespace
}  // namespace wirehub::edge
