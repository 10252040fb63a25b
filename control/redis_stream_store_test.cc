#include "control/redis_stream_store.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "control/testing/redis_server.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using testing::RedisServer;

constexpr absl::Duration kWait = absl::Seconds(10);

PublishItem Item(const std::string& key, const std::string& data,
                 const std::string& idempotency_key = "", size_t history = 100,
                 absl::Duration ttl = absl::Hours(1)) {
  PublishItem item;
  item.key = key;
  item.data = data;
  item.idempotency_key = idempotency_key;
  item.policy.max_size = history;
  item.policy.ttl = ttl;
  return item;
}

// A store plus what its feed received.
class Replica {
 public:
  explicit Replica(int port, const std::string& prefix = "t") {
    RedisStreamStoreOptions options;
    options.connection.port = port;
    options.connection.command_timeout = absl::Milliseconds(500);
    options.connection.min_reconnect_delay = absl::Milliseconds(20);
    options.connection.max_reconnect_delay = absl::Milliseconds(100);
    options.key_prefix = prefix;
    store_ = std::make_unique<RedisStreamStore>(options);
    store_->Start(
        [this](std::shared_ptr<const edge::v1::Publication> publication) {
          absl::MutexLock lock(&mu_);
          fed_.push_back(*publication);
        },
        [this](const absl::Status&) {
          absl::MutexLock lock(&mu_);
          ++lost_;
        });
  }
  ~Replica() { store_->Stop(); }

  RedisStreamStore& store() { return *store_; }

  bool WaitReady() {
    absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      if (store_->Ready().ok()) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  absl::StatusOr<StreamPosition> Publish(PublishItem item) {
    absl::Notification done;
    absl::StatusOr<StreamPosition> result;
    store_->Publish(
        std::move(item),
        [](const std::shared_ptr<const edge::v1::Publication>&) {
          ADD_FAILURE() << "a store that fans out never calls on_sequenced";
        },
        [&](absl::StatusOr<StreamPosition> position) {
          result = std::move(position);
          done.Notify();
        });
    if (!done.WaitForNotificationWithTimeout(kWait)) return absl::DeadlineExceededError("publish");
    return result;
  }

  absl::StatusOr<HistoryRead> History(const std::string& key,
                                      std::optional<StreamPosition> since = std::nullopt,
                                      int64_t limit = -1, bool reverse = false,
                                      absl::Duration ttl = absl::Hours(1)) {
    absl::Notification done;
    absl::StatusOr<HistoryRead> result;
    store_->History(key, since, limit, reverse, HistoryPolicy{100, ttl}, absl::Minutes(5),
                    [&](absl::StatusOr<HistoryRead> read) {
                      result = std::move(read);
                      done.Notify();
                    });
    if (!done.WaitForNotificationWithTimeout(kWait)) return absl::DeadlineExceededError("history");
    return result;
  }

  absl::Status Watch(const std::vector<std::string>& keys) {
    absl::Notification done;
    absl::Status result;
    store_->Watch(keys, [&](absl::Status status) {
      result = status;
      done.Notify();
    });
    if (!done.WaitForNotificationWithTimeout(kWait)) return absl::DeadlineExceededError("watch");
    return result;
  }

  bool WaitFed(size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return fed_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  bool WaitLost(int count) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return lost_ >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  std::vector<edge::v1::Publication> fed() {
    absl::MutexLock lock(&mu_);
    return fed_;
  }

 private:
  std::unique_ptr<RedisStreamStore> store_;
  absl::Mutex mu_;
  std::vector<edge::v1::Publication> fed_ ABSL_GUARDED_BY(mu_);
  int lost_ ABSL_GUARDED_BY(mu_) = 0;
};

class RedisStreamStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server =
        RedisServer::Start({"--appendonly", "yes", "--appendfsync", "always"});
    ASSERT_TRUE(server.ok()) << server.status();
    redis_ = *std::move(server);
  }
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(RedisStreamStoreTest, SequencesKeepsHistoryAndReadsSinceAPosition) {
  Replica replica(redis_->port());
  ASSERT_TRUE(replica.WaitReady());
  StreamPosition last;
  for (int i = 1; i <= 5; ++i) {
    absl::StatusOr<StreamPosition> position = replica.Publish(Item("chat:1", std::to_string(i)));
    ASSERT_TRUE(position.ok()) << position.status();
    EXPECT_EQ(position->offset, static_cast<uint64_t>(i));
    EXPECT_FALSE(position->replayed);
    if (i > 1) {
      EXPECT_EQ(position->epoch, last.epoch);
    }
    last = *position;
  }
  absl::StatusOr<HistoryRead> all = replica.History("chat:1");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->epoch, last.epoch);
  EXPECT_EQ(all->top_offset, 5u);
  ASSERT_EQ(all->publications.size(), 5u);
  EXPECT_EQ(all->publications[0]->data(), "1");
  EXPECT_EQ(all->publications[0]->offset(), 1u);
  EXPECT_EQ(all->publications[4]->epoch(), last.epoch);

  absl::StatusOr<HistoryRead> since = replica.History("chat:1", StreamPosition{3, last.epoch});
  ASSERT_TRUE(since.ok());
  ASSERT_EQ(since->publications.size(), 2u);
  EXPECT_EQ(since->publications[0]->offset(), 4u);

  absl::StatusOr<HistoryRead> newest = replica.History("chat:1", std::nullopt, 2, true);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->publications.size(), 2u);
  EXPECT_EQ(newest->publications[0]->offset(), 5u);
  EXPECT_EQ(newest->publications[1]->offset(), 4u);

  absl::StatusOr<HistoryRead> position_only = replica.History("chat:1", std::nullopt, 0);
  ASSERT_TRUE(position_only.ok());
  EXPECT_TRUE(position_only->publications.empty());
  EXPECT_EQ(position_only->top_offset, 5u);

  EXPECT_TRUE(absl::IsFailedPrecondition(
      replica.History("chat:1", StreamPosition{3, "0000000000000000"}).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      replica.History("chat:1", StreamPosition{9, last.epoch}).status()));
}

TEST_F(RedisStreamStoreTest, HistoryIsBoundedBySizeAndAge) {
  Replica replica(redis_->port());
  ASSERT_TRUE(replica.WaitReady());
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(replica.Publish(Item("chat:1", std::to_string(i), "", /*history=*/3)).ok());
  }
  absl::StatusOr<HistoryRead> kept = replica.History("chat:1");
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->publications.size(), 3u);
  EXPECT_EQ(kept->publications[0]->offset(), 8u);

  ASSERT_TRUE(
      replica.Publish(Item("chat:2", "old", "", /*history=*/10, absl::Milliseconds(300))).ok());
  absl::SleepFor(absl::Milliseconds(400));
  ASSERT_TRUE(
      replica.Publish(Item("chat:2", "new", "", /*history=*/10, absl::Milliseconds(300))).ok());
  absl::StatusOr<HistoryRead> fresh =
      replica.History("chat:2", std::nullopt, -1, false, absl::Milliseconds(300));
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(fresh->publications.size(), 1u);
  EXPECT_EQ(fresh->publications[0]->data(), "new");
  EXPECT_EQ(fresh->top_offset, 2u);
}

TEST_F(RedisStreamStoreTest, IdempotencyKeyReplaysThePositionAndPublishesNothing) {
  Replica replica(redis_->port());
  ASSERT_TRUE(replica.WaitReady());
  ASSERT_TRUE(replica.Watch({"chat:1"}).ok());
  absl::StatusOr<StreamPosition> first = replica.Publish(Item("chat:1", "a", "key-1"));
  ASSERT_TRUE(first.ok());
  absl::StatusOr<StreamPosition> again = replica.Publish(Item("chat:1", "a", "key-1"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->offset, first->offset);
  EXPECT_EQ(again->epoch, first->epoch);
  ASSERT_TRUE(replica.Publish(Item("chat:1", "b", "key-2")).ok());
  ASSERT_TRUE(replica.WaitFed(2));
  absl::SleepFor(absl::Milliseconds(100));
  std::vector<edge::v1::Publication> fed = replica.fed();
  ASSERT_EQ(fed.size(), 2u);
  EXPECT_EQ(fed[0].data(), "a");
  EXPECT_EQ(fed[1].data(), "b");
  EXPECT_EQ(replica.store().Counts().idempotent_replays, 1u);
}

TEST_F(RedisStreamStoreTest, EveryReplicaReceivesEveryPublicationInOffsetOrder) {
  Replica a(redis_->port());
  Replica b(redis_->port());
  ASSERT_TRUE(a.WaitReady());
  ASSERT_TRUE(b.WaitReady());
  ASSERT_TRUE(a.Watch({"chat:1", "chat:2"}).ok());
  ASSERT_TRUE(b.Watch({"chat:1"}).ok());
  // Pipelined from both replicas at once.
  constexpr int kEach = 500;
  absl::Mutex mu;
  int answered = 0;
  for (int i = 0; i < kEach; ++i) {
    for (Replica* replica : {&a, &b}) {
      replica->store().Publish(
          Item("chat:1", std::to_string(i)), [](const auto&) {},
          [&](absl::StatusOr<StreamPosition> position) {
            EXPECT_TRUE(position.ok()) << position.status();
            absl::MutexLock lock(&mu);
            ++answered;
          });
    }
  }
  ASSERT_TRUE(a.Publish(Item("chat:2", "other")).ok());
  ASSERT_TRUE(a.WaitFed(2 * kEach + 1));
  ASSERT_TRUE(b.WaitFed(2 * kEach));
  for (Replica* replica : {&a, &b}) {
    uint64_t expected = 1;
    for (const edge::v1::Publication& publication : replica->fed()) {
      if (publication.channel() != "chat:1") continue;
      EXPECT_EQ(publication.offset(), expected++);
    }
    EXPECT_EQ(expected, 2u * kEach + 1);
  }
  // b never watched chat:2.
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(b.fed().size(), 2u * kEach);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(answered, 2 * kEach);
}

TEST_F(RedisStreamStoreTest, DataOfAnyBytesRoundTripsThroughHistoryAndTheFeed) {
  Replica publisher(redis_->port());
  Replica watcher(redis_->port());
  ASSERT_TRUE(publisher.WaitReady());
  ASSERT_TRUE(watcher.WaitReady());
  ASSERT_TRUE(watcher.Watch({"bin:1"}).ok());
  // A binary_data namespace's publications: NUL, bytes that are not UTF-8,
  // line breaks, every byte value.
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<char>(i));
  const std::vector<std::string> data = {std::string("\x00\xff\n\r\xc3", 5), std::string(1, '\0'),
                                         every_byte};
  for (const std::string& bytes : data) {
    absl::StatusOr<StreamPosition> position = publisher.Publish(Item("bin:1", bytes));
    ASSERT_TRUE(position.ok()) << position.status();
  }
  absl::StatusOr<HistoryRead> history = publisher.History("bin:1");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->publications.size(), data.size());
  ASSERT_TRUE(watcher.WaitFed(data.size()));
  std::vector<edge::v1::Publication> fed = watcher.fed();
  for (size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(history->publications[i]->data(), data[i]) << i;
    EXPECT_EQ(fed[i].data(), data[i]) << i;
  }
}

TEST_F(RedisStreamStoreTest, UnwatchedChannelsAreNoLongerFed) {
  Replica replica(redis_->port());
  ASSERT_TRUE(replica.WaitReady());
  ASSERT_TRUE(replica.Watch({"chat:1"}).ok());
  ASSERT_TRUE(replica.Watch({"chat:1"}).ok());  // A second edge.
  replica.store().Unwatch({"chat:1"});
  ASSERT_TRUE(replica.Publish(Item("chat:1", "still")).ok());
  ASSERT_TRUE(replica.WaitFed(1));
  replica.store().Unwatch({"chat:1"});
  ASSERT_TRUE(replica.Watch({"chat:other"}).ok());  // Its PING follows the unsubscribe.
  ASSERT_TRUE(replica.Publish(Item("chat:1", "gone")).ok());
  ASSERT_TRUE(replica.Publish(Item("chat:other", "marker")).ok());
  ASSERT_TRUE(replica.WaitFed(2));
  std::vector<edge::v1::Publication> fed = replica.fed();
  ASSERT_EQ(fed.size(), 2u);
  EXPECT_EQ(fed[1].data(), "marker");
  EXPECT_EQ(replica.store().Counts().streams, 1u);
}

// The trap of appendfsync everysec: a Redis that restarts may have lost
// offsets clients saw. Every restart (a new run_id) starts new epochs, so a
// position from before can never be taken as recoverable.
TEST_F(RedisStreamStoreTest, ARedisRestartStartsNewEpochsEvenWithItsDataKept) {
  Replica replica(redis_->port());
  ASSERT_TRUE(replica.WaitReady());
  ASSERT_TRUE(replica.Watch({"chat:1"}).ok());
  absl::StatusOr<StreamPosition> before;
  for (int i = 0; i < 3; ++i) before = replica.Publish(Item("chat:1", "x", "", 10));
  ASSERT_TRUE(before.ok());
  redis_->Kill();
  ASSERT_TRUE(replica.WaitLost(1));
  absl::StatusOr<StreamPosition> down = replica.Publish(Item("chat:1", "y"));
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(replica.WaitReady());
  // The AOF kept the stream, but it belongs to the old run.
  absl::StatusOr<RedisReply> kept =
      redis_->Command({"HGET", replica.store().MetaKey("chat:1"), "o"});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->str, "3");
  EXPECT_TRUE(absl::IsFailedPrecondition(replica.History("chat:1", *before).status()));
  absl::StatusOr<StreamPosition> after = replica.Publish(Item("chat:1", "z", "", 10));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(after->epoch, before->epoch);
  EXPECT_EQ(after->offset, 1u);
  absl::StatusOr<HistoryRead> history = replica.History("chat:1");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->publications.size(), 1u);
  EXPECT_EQ(history->publications[0]->data(), "z");
}

TEST_F(RedisStreamStoreTest, NotReadyAndUnavailableWithoutRedis) {
  const int port = redis_->port();
  redis_->Kill();
  Replica replica(port);
  EXPECT_FALSE(replica.store().Ready().ok());
  EXPECT_TRUE(absl::IsUnavailable(replica.Publish(Item("chat:1", "x")).status()));
  EXPECT_TRUE(absl::IsUnavailable(replica.History("chat:1").status()));
  EXPECT_FALSE(replica.Watch({"chat:1"}).ok());
  ASSERT_TRUE(redis_->Restart().ok());
  EXPECT_TRUE(replica.WaitReady());
  EXPECT_TRUE(replica.Publish(Item("chat:1", "x")).ok());
}

TEST_F(RedisStreamStoreTest, KeyPrefixesSeparateDeployments) {
  Replica blue(redis_->port(), "blue");
  Replica green(redis_->port(), "green");
  ASSERT_TRUE(blue.WaitReady());
  ASSERT_TRUE(green.WaitReady());
  ASSERT_TRUE(blue.Publish(Item("chat:1", "b")).ok());
  absl::StatusOr<StreamPosition> first_green = green.Publish(Item("chat:1", "g"));
  ASSERT_TRUE(first_green.ok());
  EXPECT_EQ(first_green->offset, 1u);
  EXPECT_EQ(blue.store().MetaKey("chat:1"), "blue:{chat:1}:m");
}

}  // namespace
}  // namespace wirehub::control
