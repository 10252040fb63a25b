#include "edge/session_registry.h"

#include <memory>
#include <vector>

#include "edge/testing/fake_transport.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::vector<ClientSession*> All(const SessionRegistry& registry) {
  return std::vector<ClientSession*>(registry.all().begin(), registry.all().end());
}

TEST(SessionRegistryTest, FindsOpenSessionsByIdUntilRemoved) {
  testing::FakeTransport transport;
  SessionRegistry registry(&transport, SessionLimits{});
  Connection first(7);
  Connection second(8);
  ClientSession* a = registry.Open(&first);
  ClientSession* b = registry.Open(&second);
  EXPECT_EQ(first.user, a);
  EXPECT_EQ(registry.size(), 2u);
  EXPECT_EQ(registry.Find(7), a);
  EXPECT_EQ(registry.Find(8), b);
  EXPECT_EQ(registry.Find(9), nullptr);
  EXPECT_THAT(All(registry), UnorderedElementsAre(a, b));
  registry.Remove(a);
  EXPECT_EQ(first.user, nullptr);
  EXPECT_EQ(registry.Find(7), nullptr);
  EXPECT_EQ(registry.Find(8), b);
  EXPECT_THAT(All(registry), UnorderedElementsAre(b));
  registry.Remove(b);
  EXPECT_THAT(All(registry), IsEmpty());
}

TEST(SessionRegistryTest, ManySessionsStayFindable) {
  testing::FakeTransport transport;
  SessionRegistry registry(&transport, SessionLimits{});
  std::vector<std::unique_ptr<Connection>> connections;
  for (uint64_t id = 1; id <= 1000; ++id) {
    connections.push_back(std::make_unique<Connection>(id));
    registry.Open(connections.back().get());
  }
  for (uint64_t id = 1; id <= 1000; id += 2) registry.Remove(registry.Find(id));
  EXPECT_EQ(registry.size(), 500u);
  for (uint64_t id = 1; id <= 1000; ++id) {
    ClientSession* session = registry.Find(id);
    if (id % 2 == 1) {
      EXPECT_EQ(session, nullptr) << id;
    } else {
      ASSERT_NE(session, nullptr) << id;
      EXPECT_EQ(session->id, id);
    }
  }
}

}  // namespace
}  // namespace wirehub::edge
