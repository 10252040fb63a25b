#include "control/edge_registry.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::UnorderedElementsAre;

// Sessions are only compared as pointers here.
EdgeSession* FakeSession(int n) {
  return reinterpret_cast<EdgeSession*>(static_cast<uintptr_t>(0x1000 * n));
}

edge::v1::Hello Hello(const std::string& id) {
  edge::v1::Hello hello;
  hello.set_edge_id(id);
  return hello;
}

std::vector<EdgeSession*> Interested(const EdgeRegistry& registry, const std::string& key) {
  std::vector<EdgeSession*> out;
  registry.ForEachInterested(key, [&](EdgeSession* session) { out.push_back(session); });
  return out;
}

TEST(EdgeRegistryTest, InterestAndUsersFollowAttachAndDetach) {
  EdgeRegistry registry;
  EdgeSession* a = FakeSession(1);
  EdgeSession* b = FakeSession(2);
  ASSERT_TRUE(registry.Attach(a, Hello("a"), "peer-a"));
  EXPECT_FALSE(registry.Attach(a, Hello("a"), "peer-a"));
  ASSERT_TRUE(registry.Attach(b, Hello("b"), "peer-b"));
  registry.AddInterest(a, "news");
  registry.AddInterest(b, "news");
  registry.AddInterest(a, "news");  // Twice: still once.
  registry.AddUser(a, "u1");
  registry.AddUser(b, "u1");
  registry.AddUser(b, "u2");
  EXPECT_THAT(Interested(registry, "news"), UnorderedElementsAre(a, b));
  EXPECT_EQ(registry.users(), 2u);

  std::optional<EdgeSnapshot> gone = registry.Detach(a);
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->peer, "peer-a");
  EXPECT_FALSE(registry.Detach(a).has_value());
  EXPECT_THAT(Interested(registry, "news"), UnorderedElementsAre(b));
  EXPECT_EQ(registry.users(), 2u);
  registry.RemoveInterest(b, "news");
  EXPECT_FALSE(registry.HasInterest("news"));
  registry.RemoveUser(b, "u1");
  EXPECT_EQ(registry.users(), 1u);
  // Changes of a session that is not attached are ignored.
  registry.AddInterest(a, "late");
  EXPECT_FALSE(registry.HasInterest("late"));
}

TEST(EdgeRegistryTest, SnapshotCarriesTheLatestStats) {
  EdgeRegistry registry;
  EdgeSession* a = FakeSession(1);
  registry.Attach(a, Hello("edge-a"), "peer");
  edge::v1::EdgeStats stats;
  stats.set_connections(7);
  registry.UpdateStats(a, stats);
  std::vector<EdgeSnapshot> snapshot = registry.Snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].edge_id, "edge-a");
  EXPECT_EQ(snapshot[0].last_stats->connections(), 7u);
  size_t visited = 0;
  registry.WithSessions(
      [&](const std::vector<const EdgeSnapshot*>& edges) { visited = edges.size(); });
  EXPECT_EQ(visited, 1u);
}

}  // namespace
}  // namespace wirehub::control
