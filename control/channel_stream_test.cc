#include "control/channel_stream.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// Publishes `count` publications at `at` and returns their offsets.
std::vector<uint64_t> PublishN(ChannelStream& stream, int count, absl::Time at,
                               const HistoryPolicy& policy) {
  std::vector<uint64_t> offsets;
  for (int i = 0; i < count; ++i) {
    auto publication = std::make_shared<edge::v1::Publication>();
    publication->set_channel("chat:1");
    publication->set_data("{\"i\":" + std::to_string(i) + "}");
    publication->set_offset(stream.NextOffset(at));
    publication->set_epoch(stream.epoch());
    offsets.push_back(publication->offset());
    stream.Remember(std::move(publication), at, policy);
  }
  return offsets;
}

std::vector<uint64_t> Offsets(const HistoryRead& read) {
  std::vector<uint64_t> out;
  for (const auto& publication : read.publications) out.push_back(publication->offset());
  return out;
}

TEST(ChannelStreamTest, OffsetsStartAtOneAndGrow) {
  ChannelStream stream("e1");
  EXPECT_EQ(stream.top_offset(), 0u);
  EXPECT_EQ(stream.NextOffset(kStart), 1u);
  EXPECT_EQ(stream.NextOffset(kStart), 2u);
  EXPECT_EQ(stream.top_offset(), 2u);
}

TEST(ChannelStreamTest, KeepsNothingWithoutHistory) {
  ChannelStream stream("e1");
  PublishN(stream, 5, kStart, HistoryPolicy{});
  EXPECT_EQ(stream.history_size(), 0u);
  HistoryRead read = stream.Read(0, -1, false);
  EXPECT_TRUE(read.publications.empty());
  EXPECT_EQ(read.top_offset, 5u);
  EXPECT_EQ(read.epoch, "e1");
}

TEST(ChannelStreamTest, EvictsBeyondSize) {
  ChannelStream stream("e1");
  HistoryPolicy policy{3, absl::Hours(1)};
  PublishN(stream, 5, kStart, policy);
  EXPECT_EQ(Offsets(stream.Read(0, -1, false)), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(stream.oldest_offset(), 3u);
}

TEST(ChannelStreamTest, EvictsByAge) {
  ChannelStream stream("e1");
  HistoryPolicy policy{100, absl::Seconds(10)};
  PublishN(stream, 2, kStart, policy);
  PublishN(stream, 2, kStart + absl::Seconds(6), policy);
  stream.Evict(kStart + absl::Seconds(11), policy, absl::Minutes(5));
  EXPECT_EQ(Offsets(stream.Read(0, -1, false)), (std::vector<uint64_t>{3, 4}));
  stream.Evict(kStart + absl::Seconds(16), policy, absl::Minutes(5));
  EXPECT_TRUE(stream.Read(0, -1, false).publications.empty());
  EXPECT_EQ(stream.memory_bytes(), 0u);
}

TEST(ChannelStreamTest, ReadAfterOffsetWithLimitAndReverse) {
  ChannelStream stream("e1");
  HistoryPolicy policy{100, absl::Hours(1)};
  PublishN(stream, 10, kStart, policy);
  EXPECT_EQ(Offsets(stream.Read(7, -1, false)), (std::vector<uint64_t>{8, 9, 10}));
  EXPECT_EQ(Offsets(stream.Read(2, 3, false)), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(Offsets(stream.Read(0, 2, true)), (std::vector<uint64_t>{10, 9}));
  EXPECT_EQ(Offsets(stream.Read(8, 5, true)), (std::vector<uint64_t>{10, 9}));
  EXPECT_TRUE(stream.Read(10, -1, false).publications.empty());
  EXPECT_TRUE(stream.Read(0, 0, false).publications.empty());
}

TEST(ChannelStreamTest, ReadAfterEvictedOffsetStartsAtOldestKept) {
  ChannelStream stream("e1");
  HistoryPolicy policy{3, absl::Hours(1)};
  PublishN(stream, 6, kStart, policy);
  // The caller sees from oldest_offset() that 2 and 3 are gone.
  EXPECT_EQ(Offsets(stream.Read(1, -1, false)), (std::vector<uint64_t>{4, 5, 6}));
  EXPECT_EQ(stream.oldest_offset(), 4u);
}

TEST(ChannelStreamTest, MemoryIsAccountedAndReleased) {
  ChannelStream stream("e1");
  HistoryPolicy policy{2, absl::Hours(1)};
  PublishN(stream, 1, kStart, policy);
  size_t one = stream.memory_bytes();
  EXPECT_GT(one, 0u);
  PublishN(stream, 1, kStart, policy);
  EXPECT_GT(stream.memory_bytes(), one);
  stream.Evict(kStart, HistoryPolicy{}, absl::Minutes(5));
  EXPECT_EQ(stream.memory_bytes(), 0u);
}

TEST(ChannelStreamTest, IdempotencyKeysExpireAfterWindow) {
  ChannelStream stream("e1");
  stream.RememberIdempotencyKey("k1", 7, kStart);
  stream.RememberIdempotencyKey("k2", 8, kStart + absl::Minutes(3));
  EXPECT_EQ(stream.FindIdempotencyKey("k1"), 7u);
  stream.Evict(kStart + absl::Minutes(5), HistoryPolicy{}, absl::Minutes(5));
  EXPECT_FALSE(stream.FindIdempotencyKey("k1").has_value());
  EXPECT_EQ(stream.FindIdempotencyKey("k2"), 8u);
  EXPECT_FALSE(stream.empty());
  stream.Evict(kStart + absl::Minutes(9), HistoryPolicy{}, absl::Minutes(5));
  EXPECT_TRUE(stream.empty());
}

TEST(ChannelStreamTest, FirstUseOfAKeyWins) {
  ChannelStream stream("e1");
  stream.RememberIdempotencyKey("k", 1, kStart);
  stream.RememberIdempotencyKey("k", 2, kStart);
  EXPECT_EQ(stream.FindIdempotencyKey("k"), 1u);
}

}  // namespace
}  // namespace wirehub::control
