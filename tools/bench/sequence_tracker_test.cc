#include "tools/bench/sequence_tracker.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

TEST(SequenceTrackerTest, InOrderStreamHasNothingMissing) {
  SequenceTracker tracker(2);
  for (uint64_t seq = 1; seq <= 1000; ++seq) {
    tracker.Observe(0, seq);
    tracker.Observe(1, seq);
  }
  tracker.Finish(0, 1000);
  tracker.Finish(1, 1000);
  SequenceTracker::Counts totals = tracker.totals();
  EXPECT_EQ(totals.received, 2000u);
  EXPECT_EQ(totals.missing, 0u);
  EXPECT_EQ(totals.duplicated, 0u);
  EXPECT_EQ(totals.late, 0u);
}

TEST(SequenceTrackerTest, CountsGapsPerStream) {
  SequenceTracker tracker(2);
  // Stream 0 misses 3, 4 and 10; stream 1 misses nothing.
  for (uint64_t seq : {1, 2, 5, 6, 7, 8, 9, 11}) tracker.Observe(0, seq);
  for (uint64_t seq = 1; seq <= 11; ++seq) tracker.Observe(1, seq);
  EXPECT_EQ(tracker.counts(0).missing, 3u);
  EXPECT_EQ(tracker.counts(1).missing, 0u);
  EXPECT_EQ(tracker.counts(0).received, 8u);
}

TEST(SequenceTrackerTest, FinishCountsTheLostTail) {
  SequenceTracker tracker(3);
  for (uint64_t seq = 1; seq <= 90; ++seq) tracker.Observe(0, seq);
  tracker.Finish(0, 100);  // 91..100 never came.
  tracker.Finish(1, 100);  // Nothing came.
  tracker.Finish(2, 0);    // Nothing was sent.
  EXPECT_EQ(tracker.counts(0).missing, 10u);
  EXPECT_EQ(tracker.counts(1).missing, 100u);
  EXPECT_EQ(tracker.counts(2).missing, 0u);
  // One of the tail turns up after all.
  tracker.Observe(0, 95);
  EXPECT_EQ(tracker.counts(0).missing, 9u);
  EXPECT_EQ(tracker.counts(0).late, 1u);
}

TEST(SequenceTrackerTest, CountsDuplicates) {
  SequenceTracker tracker(1);
  for (uint64_t seq : {1, 2, 2, 3, 1, 3, 3}) tracker.Observe(0, seq);
  EXPECT_EQ(tracker.counts(0).duplicated, 4u);
  EXPECT_EQ(tracker.counts(0).missing, 0u);
  EXPECT_EQ(tracker.counts(0).received, 7u);
}

TEST(SequenceTrackerTest, LateArrivalIsNotMissingButReordered) {
  SequenceTracker tracker(1);
  for (uint64_t seq : {1, 3, 2, 4, 2}) tracker.Observe(0, seq);
  EXPECT_EQ(tracker.counts(0).missing, 0u);
  EXPECT_EQ(tracker.counts(0).late, 1u);
  EXPECT_EQ(tracker.counts(0).duplicated, 1u);
}

TEST(SequenceTrackerTest, WindowBitsFromAnEarlierLapDoNotHideLoss) {
  // Receive 1..kWindow, then jump ahead by less than a window: the numbers
  // skipped reuse bits that were set a lap ago and must read as unseen, so a
  // late one counts as late, not as a duplicate.
  const uint64_t w = SequenceTracker::kWindow;
  SequenceTracker tracker(1);
  for (uint64_t seq = 1; seq <= w; ++seq) tracker.Observe(0, seq);
  tracker.Observe(0, w + 10);  // Skips w+1 .. w+9.
  EXPECT_EQ(tracker.counts(0).missing, 9u);
  tracker.Observe(0, w + 5);
  EXPECT_EQ(tracker.counts(0).late, 1u);
  EXPECT_EQ(tracker.counts(0).duplicated, 0u);
  EXPECT_EQ(tracker.counts(0).missing, 8u);
  // A big jump, then an arrival older than the window: a duplicate, since it
  // cannot be told apart.
  tracker.Observe(0, 10 * w);
  tracker.Observe(0, w + 6);
  EXPECT_EQ(tracker.counts(0).duplicated, 1u);
  // Numbers below the first expected one are not "late".
  tracker.Observe(0, 0);
  EXPECT_EQ(tracker.counts(0).duplicated, 2u);
}

TEST(SequenceTrackerTest, StartsWhereTheCallerSays) {
  SequenceTracker tracker(1, /*first_seq=*/100);
  tracker.Observe(0, 102);
  EXPECT_EQ(tracker.counts(0).missing, 2u);
  tracker.Observe(0, 99);
  EXPECT_EQ(tracker.counts(0).duplicated, 1u);
  EXPECT_EQ(tracker.counts(0).missing, 2u);
}

}  // namespace
}  // namespace wirehub::bench
