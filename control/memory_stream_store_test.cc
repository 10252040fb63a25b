#include "control/memory_stream_store.h"

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::ElementsAre;

PublishItem Item(const std::string& key, const std::string& data, size_t history = 10,
                 const std::string& idempotency_key = "") {
  PublishItem item;
  item.key = key;
  item.data = data;
  item.idempotency_key = idempotency_key;
  item.policy.max_size = history;
  item.policy.ttl = absl::Hours(1);
  return item;
}

// The memory store answers before History returns.
absl::StatusOr<HistoryRead> ReadHistory(MemoryStreamStore& store, const std::string& key,
                                        const std::optional<StreamPosition>& since,
                                        const HistoryPolicy& policy) {
  absl::StatusOr<HistoryRead> result = absl::UnknownError("History did not answer");
  store.History(key, since, -1, false, policy, absl::Minutes(5),
                [&](absl::StatusOr<HistoryRead> read) { result = std::move(read); });
  return result;
}

// Publishes and returns the position; `seen` gets the sequenced offset.
StreamPosition Publish(MemoryStreamStore& store, PublishItem item,
                       std::vector<uint64_t>* seen = nullptr) {
  StreamPosition result;
  store.Publish(
      std::move(item),
      [seen](const std::shared_ptr<const edge::v1::Publication>& publication) {
        if (seen != nullptr && publication != nullptr) seen->push_back(publication->offset());
      },
      [&result](absl::StatusOr<StreamPosition> position) {
        ASSERT_TRUE(position.ok());
        result = *position;
      });
  return result;
}

TEST(MemoryStreamStoreTest, SequencesPerChannelWithDistinctEpochs) {
  MemoryStreamStore store;
  StreamPosition a1 = Publish(store, Item("a", "1"));
  StreamPosition a2 = Publish(store, Item("a", "2"));
  StreamPosition b1 = Publish(store, Item("b", "1"));
  EXPECT_EQ(a1.offset, 1u);
  EXPECT_EQ(a2.offset, 2u);
  EXPECT_EQ(a1.epoch, a2.epoch);
  EXPECT_EQ(b1.offset, 1u);
  EXPECT_NE(a1.epoch, b1.epoch);
}

TEST(MemoryStreamStoreTest, IdempotencyKeyReplaysWithoutSequencing) {
  MemoryStreamStore store;
  std::vector<uint64_t> seen;
  StreamPosition first = Publish(store, Item("a", "1", 10, "k"), &seen);
  StreamPosition again = Publish(store, Item("a", "1", 10, "k"), &seen);
  EXPECT_EQ(again.offset, first.offset);
  EXPECT_TRUE(again.replayed);
  EXPECT_THAT(seen, ElementsAre(1));
  EXPECT_EQ(store.Counts().idempotent_replays, 1u);
}

TEST(MemoryStreamStoreTest, HistorySinceAPositionAndUnrecoverablePositions) {
  MemoryStreamStore store;
  HistoryPolicy policy{10, absl::Hours(1)};
  StreamPosition last;
  for (int i = 0; i < 5; ++i) last = Publish(store, Item("a", std::to_string(i)));
  absl::StatusOr<HistoryRead> read = ReadHistory(store, "a", StreamPosition{3, last.epoch}, policy);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->publications.size(), 2u);
  EXPECT_EQ(read->publications[0]->offset(), 4u);
  EXPECT_EQ(read->top_offset, 5u);
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ReadHistory(store, "a", StreamPosition{3, "other"}, policy).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ReadHistory(store, "a", StreamPosition{9, last.epoch}, policy).status()));
}

// Per-channel order under concurrent publishers: each channel's
// on_sequenced sees its offsets one at a time, in order.
TEST(MemoryStreamStoreTest, OnSequencedRunsInOffsetOrderPerChannelAcrossThreads) {
  MemoryStreamStore store;
  absl::Mutex mu;
  std::map<std::string, std::vector<uint64_t>> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string key = "ch" + std::to_string((i + t) % 8);
        store.Publish(
            Item(key, "{}", 0),
            [&](const std::shared_ptr<const edge::v1::Publication>& publication) {
              absl::MutexLock lock(&mu);
              seen[publication->channel()].push_back(publication->offset());
            },
            [](absl::StatusOr<StreamPosition>) {});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  uint64_t total = 0;
  for (const auto& [key, offsets] : seen) {
    for (size_t i = 0; i < offsets.size(); ++i) ASSERT_EQ(offsets[i], i + 1) << key;
    total += offsets.size();
  }
  EXPECT_EQ(total, 8000u);
}

TEST(MemoryStreamStoreTest, MaintainForgetsIdleStreamsNobodyWants) {
  MemoryStreamStore store;
  Publish(store, Item("wanted", "{}", 0));
  Publish(store, Item("idle", "{}", 0));
  Publish(store, Item("kept", "{}", 10));
  EXPECT_EQ(store.Counts().streams, 3u);
  absl::Time later = absl::Now() + absl::Minutes(10);
  store.Maintain(
      later, absl::Minutes(5),
      [](const std::string& key) {
        return key == "kept" ? HistoryPolicy{10, absl::Hours(1)} : HistoryPolicy{};
      },
      [](const std::string& key) { return key == "wanted"; });
  StreamCounts counts = store.Counts();
  EXPECT_EQ(counts.streams, 2u);  // "idle" is gone.
  EXPECT_EQ(counts.history_publications, 1u);
  // A forgotten stream starts again with a new epoch.
  EXPECT_EQ(Publish(store, Item("idle", "{}", 0)).offset, 1u);
}

}  // namespace
}  // namespace wirehub::control
