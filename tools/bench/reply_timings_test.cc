#include "tools/bench/reply_timings.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

constexpr int64_t kMs = 1'000'000;

TEST(ReplyTimingsTest, FirstTokenOfEveryReply) {
  ReplyTimings timings;
  ReplyCursor cursor;
  // Replies of 3 tokens: seq 1 and 4 start one. Tokens every 33 ms, the
  // first of each reply 5 and 7 ms late, the others 1 ms.
  int64_t sent = 1000 * kMs;
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    int64_t latency = seq == 1 ? 5 * kMs : seq == 4 ? 7 * kMs : 1 * kMs;
    timings.Record(3, &cursor, seq, sent, sent + latency);
    sent += 33 * kMs;
  }
  EXPECT_EQ(timings.first_token().Count(), 2u);
  EXPECT_EQ(timings.first_token().Min(), 5 * kMs);
  EXPECT_EQ(timings.first_token().Max(), 7 * kMs);
  // Gaps only within a reply: 2 after 1, 3 after 2, 5 after 4, 6 after 5.
  EXPECT_EQ(timings.receive_gap().Count(), 4u);
  EXPECT_EQ(timings.gap_jitter().Count(), 4u);
}

TEST(ReplyTimingsTest, JitterIsTheReceiveGapBeyondTheSendGap) {
  ReplyTimings timings;
  ReplyCursor cursor;
  timings.Record(100, &cursor, 1, 0, 2 * kMs);
  // Sent 33 ms later, received 40 ms later: 7 ms of jitter.
  timings.Record(100, &cursor, 2, 33 * kMs, 42 * kMs);
  EXPECT_EQ(timings.gap_jitter().Max(), 7 * kMs);
  EXPECT_EQ(timings.receive_gap().Max(), 40 * kMs);
  // Catching up (received 20 ms after the previous one) counts as 0.
  timings.Record(100, &cursor, 3, 66 * kMs, 62 * kMs);
  EXPECT_EQ(timings.gap_jitter().Min(), 0);
  EXPECT_EQ(timings.gap_jitter().Count(), 2u);
  EXPECT_EQ(cursor.seq, 3u);
  EXPECT_EQ(cursor.received_ns, 62 * kMs);
}

TEST(ReplyTimingsTest, NoGapAcrossALostToken) {
  ReplyTimings timings;
  ReplyCursor cursor;
  timings.Record(100, &cursor, 1, 0, kMs);
  timings.Record(100, &cursor, 3, 66 * kMs, 67 * kMs);  // 2 was lost
  timings.Record(100, &cursor, 4, 99 * kMs, 100 * kMs);
  EXPECT_EQ(timings.receive_gap().Count(), 1u);
  EXPECT_EQ(timings.receive_gap().Max(), 33 * kMs);
}

TEST(ReplyTimingsTest, NothingWithoutReplies) {
  ReplyTimings timings;
  ReplyCursor cursor;
  timings.Record(0, &cursor, 1, 0, kMs);
  timings.Record(0, &cursor, 2, kMs, 2 * kMs);
  EXPECT_EQ(timings.first_token().Count(), 0u);
  EXPECT_EQ(timings.receive_gap().Count(), 0u);
}

TEST(ReplyTimingsTest, EncodesMergesAndDecodes) {
  ReplyTimings a;
  ReplyCursor cursor;
  a.Record(2, &cursor, 1, 0, 3 * kMs);
  a.Record(2, &cursor, 2, 10 * kMs, 15 * kMs);
  ReplyTimings b;
  ReplyCursor other;
  b.Record(2, &other, 3, 0, 9 * kMs);

  absl::StatusOr<ReplyTimings> decoded = ReplyTimings::Decode(a.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->first_token().Max(), 3 * kMs);
  EXPECT_EQ(decoded->gap_jitter().Max(), 2 * kMs);
  EXPECT_EQ(decoded->receive_gap().Max(), 12 * kMs);
  decoded->Merge(b);
  EXPECT_EQ(decoded->first_token().Count(), 2u);
  EXPECT_EQ(decoded->first_token().Max(), 9 * kMs);
  // Empty histograms travel too.
  EXPECT_TRUE(ReplyTimings::Decode(ReplyTimings().Encode()).ok());
  EXPECT_FALSE(ReplyTimings::Decode("0 0 0 0|0 0 0 0").ok());
  EXPECT_FALSE(ReplyTimings::Decode("1 0 0 0|0 0 0 0|0 0 0 0").ok());
}

}  // namespace
}  // namespace wirehub::bench
