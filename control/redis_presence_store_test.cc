#include "control/redis_presence_store.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "control/redis_stream_store.h"
#include "control/testing/redis_server.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using testing::RedisServer;

constexpr absl::Duration kWait = absl::Seconds(10);

// Stand-ins for edge sessions: only their addresses matter.
const EdgeSession* const kEdgeA = reinterpret_cast<const EdgeSession*>(0x1000);
const EdgeSession* const kEdgeB = reinterpret_cast<const EdgeSession*>(0x2000);

v1::ClientInfo Client(const std::string& client, const std::string& user) {
  v1::ClientInfo info;
  info.set_client(client);
  info.set_user(user);
  return info;
}

RedisConnectionOptions Connection(int port) {
  RedisConnectionOptions options;
  options.port = port;
  options.min_reconnect_delay = absl::Milliseconds(20);
  options.max_reconnect_delay = absl::Milliseconds(100);
  return options;
}

std::unique_ptr<RedisPresenceStore> NewStore(int port, absl::Duration ttl = absl::Seconds(15)) {
  RedisPresenceStoreOptions options;
  options.connection = Connection(port);
  options.key_prefix = "t";
  options.ttl = ttl;
  auto store = std::make_unique<RedisPresenceStore>(options);
  store->Start();
  return store;
}

bool WaitReady(const PresenceStore& store) {
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline) {
    if (store.Ready().ok()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

absl::StatusOr<PresenceTable::Page> List(const PresenceStore& store, const std::string& key,
                                         size_t page_size = 100, const std::string& token = "") {
  absl::Notification done;
  absl::StatusOr<PresenceTable::Page> result;
  store.List(key, page_size, token, [&](absl::StatusOr<PresenceTable::Page> page) {
    result = std::move(page);
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(kWait)) return absl::DeadlineExceededError("list");
  return result;
}

absl::StatusOr<PresenceTable::Counts> Count(const PresenceStore& store, const std::string& key) {
  absl::Notification done;
  absl::StatusOr<PresenceTable::Counts> result;
  store.Count(key, [&](absl::StatusOr<PresenceTable::Counts> counts) {
    result = std::move(counts);
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(kWait)) return absl::DeadlineExceededError("count");
  return result;
}

std::vector<std::string> Clients(const PresenceTable::Page& page) {
  std::vector<std::string> out;
  for (const v1::ClientInfo& info : page.clients) out.push_back(info.client());
  return out;
}

// Receives the channel's joins and leaves the way a replica does: through
// a stream store's feed.
class Events {
 public:
  explicit Events(int port) {
    RedisStreamStoreOptions options;
    options.connection = Connection(port);
    options.key_prefix = "t";
    feed_ = std::make_unique<RedisStreamStore>(options);
    feed_->Start(
        [this](std::shared_ptr<const edge::v1::Publication> event) {
          absl::MutexLock lock(&mu_);
          events_.push_back(
              absl::StrCat(event->has_join() ? "join " : "leave ",
                           event->has_join() ? event->join().client() : event->leave().client(),
                           " ", event->channel()));
        },
        [](const absl::Status&) {});
  }
  ~Events() { feed_->Stop(); }

  bool Watch(const std::string& key) {
    const absl::Time deadline = absl::Now() + kWait;
    while (!feed_->Ready().ok() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    absl::Notification done;
    bool ok = false;
    feed_->Watch({key}, [&](absl::Status status) {
      ok = status.ok();
      done.Notify();
    });
    return done.WaitForNotificationWithTimeout(kWait) && ok;
  }
  bool WaitFor(size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  std::unique_ptr<RedisStreamStore> feed_;
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

class RedisPresenceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    redis_ = *std::move(server);
  }
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(RedisPresenceStoreTest, ReplicasShareEntriesAndAnnounceJoinsAndLeavesOnce) {
  Events events(redis_->port());
  ASSERT_TRUE(events.Watch("chat:1"));
  auto a = NewStore(redis_->port());
  auto b = NewStore(redis_->port());
  ASSERT_TRUE(WaitReady(*a));
  ASSERT_TRUE(WaitReady(*b));

  // Each store writes on its own connection: the test waits for each event
  // before the next write, so their order is known.
  EXPECT_FALSE(a->Add(kEdgeA, "chat:1", Client("c1", "alice"), true));
  ASSERT_TRUE(events.WaitFor(1));
  EXPECT_FALSE(b->Add(kEdgeB, "chat:1", Client("c2", "bob"), true));
  ASSERT_TRUE(events.WaitFor(2));
  // A re-announce (an edge re-attaching) is no second join.
  a->Add(kEdgeA, "chat:1", Client("c1", "alice"), true);
  absl::SleepFor(absl::Milliseconds(50));
  b->Add(kEdgeB, "chat:1", Client("c3", "bob"), true);
  ASSERT_TRUE(events.WaitFor(3));

  absl::StatusOr<PresenceTable::Page> page = List(*a, "chat:1");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Clients(*page), (std::vector<std::string>{"c1", "c2", "c3"}));
  EXPECT_EQ(page->clients[1].user(), "bob");
  absl::StatusOr<PresenceTable::Counts> counts = Count(*b, "chat:1");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->clients, 3u);
  EXPECT_EQ(counts->users, 2u);
  EXPECT_EQ(a->size(), 1u);

  EXPECT_EQ(b->Remove(kEdgeB, "chat:1", "c2", true), std::nullopt);
  ASSERT_TRUE(events.WaitFor(4));
  // Not A's entry: nothing happens.
  a->Remove(kEdgeA, "chat:1", "c3", true);
  EXPECT_TRUE(b->RemoveOwner(kEdgeB, [](const std::string&) { return true; }).empty());
  ASSERT_TRUE(events.WaitFor(5));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(events.events(),
            (std::vector<std::string>{"join c1 chat:1", "join c2 chat:1", "join c3 chat:1",
                                      "leave c2 chat:1", "leave c3 chat:1"}));
  page = List(*b, "chat:1");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Clients(*page), (std::vector<std::string>{"c1"}));
  counts = Count(*a, "chat:1");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->users, 1u);
}

TEST_F(RedisPresenceStoreTest, WithoutJoinLeaveNothingIsAnnounced) {
  Events events(redis_->port());
  ASSERT_TRUE(events.Watch("quiet:1"));
  ASSERT_TRUE(events.Watch("loud:1"));
  auto store = NewStore(redis_->port());
  ASSERT_TRUE(WaitReady(*store));
  store->Add(kEdgeA, "quiet:1", Client("c1", "u"), false);
  store->Remove(kEdgeA, "quiet:1", "c1", false);
  store->Add(kEdgeA, "loud:1", Client("c2", "u"), true);
  ASSERT_TRUE(events.WaitFor(1));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(events.events(), (std::vector<std::string>{"join c2 loud:1"}));
}

TEST_F(RedisPresenceStoreTest, PagesByClientId) {
  auto store = NewStore(redis_->port());
  ASSERT_TRUE(WaitReady(*store));
  for (int i = 0; i < 25; ++i) {
    store->Add(kEdgeA, "chat:1", Client(absl::StrCat("c", 100 + i), "u"), false);
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<PresenceTable::Page> page = List(*store, "chat:1", 10, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const std::string& client : Clients(*page)) seen.push_back(client);
    token = page->next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.front(), "c100");
  EXPECT_EQ(seen.back(), "c124");
}

// A replica that dies stops refreshing: its entries expire within the ttl,
// and the replica that sweeps them announces the leaves.
TEST_F(RedisPresenceStoreTest, EntriesOfADeadReplicaExpireWithLeaves) {
  Events events(redis_->port());
  ASSERT_TRUE(events.Watch("chat:1"));
  auto alive = NewStore(redis_->port(), absl::Seconds(1));
  auto dead = NewStore(redis_->port(), absl::Seconds(1));
  ASSERT_TRUE(WaitReady(*alive));
  ASSERT_TRUE(WaitReady(*dead));
  auto announce = [](const std::string&) { return true; };
  alive->Add(kEdgeA, "chat:1", Client("stays", "u1"), true);
  dead->Add(kEdgeB, "chat:1", Client("goes", "u2"), true);
  ASSERT_TRUE(events.WaitFor(2));
  dead->Stop();
  const absl::Time start = absl::Now();
  while (events.events().size() < 3 && absl::Now() - start < kWait) {
    alive->Maintain(absl::Now(), announce);
    absl::SleepFor(absl::Milliseconds(50));
  }
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(events.events().size(), 3u);
  EXPECT_EQ(events.events()[2], "leave goes chat:1");
  EXPECT_LT(took, absl::Seconds(2));
  absl::StatusOr<PresenceTable::Page> page = List(*alive, "chat:1");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Clients(*page), (std::vector<std::string>{"stays"}));
}

TEST_F(RedisPresenceStoreTest, ReadsFailUnavailableWithoutRedisAndEntriesComeBackAfter) {
  auto store = NewStore(redis_->port());
  ASSERT_TRUE(WaitReady(*store));
  redis_->Kill();
  store->Add(kEdgeA, "chat:1", Client("c1", "u"), false);
  EXPECT_TRUE(absl::IsUnavailable(List(*store, "chat:1").status()));
  EXPECT_TRUE(absl::IsUnavailable(Count(*store, "chat:1").status()));
  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(WaitReady(*store));
  // The refresh after the reconnect writes what Redis missed.
  store->Maintain(absl::Now(), [](const std::string&) { return false; });
  absl::StatusOr<PresenceTable::Page> page = List(*store, "chat:1");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Clients(*page), (std::vector<std::string>{"c1"}));
}

}  // namespace
}  // namespace wirehub::control
