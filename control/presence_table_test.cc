#include "control/presence_table.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Owners are opaque to the table; distinct addresses stand for sessions.
int edge_a_storage = 0;
int edge_b_storage = 0;
const EdgeSession* const kEdgeA = reinterpret_cast<const EdgeSession*>(&edge_a_storage);
const EdgeSession* const kEdgeB = reinterpret_cast<const EdgeSession*>(&edge_b_storage);

v1::ClientInfo Client(const std::string& client, const std::string& user,
                      const std::string& conn_info = "") {
  v1::ClientInfo info;
  info.set_client(client);
  info.set_user(user);
  info.set_conn_info(conn_info);
  return info;
}

std::vector<std::string> ClientIds(const PresenceTable::Page& page) {
  std::vector<std::string> ids;
  for (const v1::ClientInfo& info : page.clients) ids.push_back(info.client());
  return ids;
}

std::vector<std::string> Describe(const std::vector<PresenceTable::Entry>& entries) {
  std::vector<std::string> out;
  for (const PresenceTable::Entry& entry : entries) {
    out.push_back(entry.key + "/" + entry.info.client());
  }
  return out;
}

TEST(PresenceTableTest, AddReportsJoinOnlyTheFirstTime) {
  PresenceTable table;
  EXPECT_TRUE(table.Add(kEdgeA, "chat:1", Client("c1", "u1")));
  EXPECT_FALSE(table.Add(kEdgeA, "chat:1", Client("c1", "u1")));
  EXPECT_TRUE(table.Add(kEdgeA, "chat:2", Client("c1", "u1")));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.channel_count(), 2u);
}

TEST(PresenceTableTest, ReAddReplacesInfo) {
  PresenceTable table;
  table.Add(kEdgeA, "chat:1", Client("c1", "u1", R"({"v":1})"));
  table.Add(kEdgeA, "chat:1", Client("c1", "u1", R"({"v":2})"));
  PresenceTable::Page page = table.List("chat:1", 10, "");
  ASSERT_EQ(page.clients.size(), 1u);
  EXPECT_EQ(page.clients[0].conn_info(), R"({"v":2})");
}

TEST(PresenceTableTest, RemoveReturnsTheStoredInfo) {
  PresenceTable table;
  table.Add(kEdgeA, "chat:1", Client("c1", "u1", R"({"name":"ann"})"));
  std::optional<v1::ClientInfo> removed = table.Remove(kEdgeA, "chat:1", "c1");
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->user(), "u1");
  EXPECT_EQ(removed->conn_info(), R"({"name":"ann"})");
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.channel_count(), 0u);
  EXPECT_FALSE(table.Remove(kEdgeA, "chat:1", "c1").has_value());
  EXPECT_FALSE(table.Remove(kEdgeA, "nowhere", "c1").has_value());
}

TEST(PresenceTableTest, OnlyTheOwnerRemoves) {
  PresenceTable table;
  table.Add(kEdgeA, "chat:1", Client("c1", "u1"));
  EXPECT_FALSE(table.Remove(kEdgeB, "chat:1", "c1").has_value());
  EXPECT_EQ(table.size(), 1u);
}

TEST(PresenceTableTest, RemoveOwnerDropsExactlyItsEntries) {
  PresenceTable table;
  table.Add(kEdgeA, "chat:1", Client("a1", "u1"));
  table.Add(kEdgeA, "chat:2", Client("a1", "u1"));
  table.Add(kEdgeB, "chat:1", Client("b1", "u2"));
  EXPECT_THAT(Describe(table.RemoveOwner(kEdgeA)), UnorderedElementsAre("chat:1/a1", "chat:2/a1"));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_THAT(ClientIds(table.List("chat:1", 10, "")), ElementsAre("b1"));
  EXPECT_THAT(table.RemoveOwner(kEdgeA), IsEmpty());
}

TEST(PresenceTableTest, ReAnnouncingMovesOwnershipWithoutJoin) {
  // An edge re-attaches on a new session before the old one is detected as
  // gone: entries it re-announces move; the old session's detach leaves
  // only what was not re-announced.
  PresenceTable table;
  table.Add(kEdgeA, "chat:1", Client("c1", "u1"));
  table.Add(kEdgeA, "chat:1", Client("c2", "u2"));
  EXPECT_FALSE(table.Add(kEdgeB, "chat:1", Client("c1", "u1")));
  EXPECT_THAT(Describe(table.RemoveOwner(kEdgeA)), ElementsAre("chat:1/c2"));
  EXPECT_THAT(ClientIds(table.List("chat:1", 10, "")), ElementsAre("c1"));
  EXPECT_TRUE(table.Remove(kEdgeB, "chat:1", "c1").has_value());
  EXPECT_EQ(table.size(), 0u);
}

TEST(PresenceTableTest, ListPagesInClientIdOrder) {
  PresenceTable table;
  for (const char* id : {"e", "a", "d", "c", "b"}) table.Add(kEdgeA, "chat:1", Client(id, "u"));
  PresenceTable::Page first = table.List("chat:1", 2, "");
  EXPECT_THAT(ClientIds(first), ElementsAre("a", "b"));
  EXPECT_EQ(first.next_page_token, "b");
  PresenceTable::Page second = table.List("chat:1", 2, first.next_page_token);
  EXPECT_THAT(ClientIds(second), ElementsAre("c", "d"));
  EXPECT_EQ(second.next_page_token, "d");
  PresenceTable::Page last = table.List("chat:1", 2, second.next_page_token);
  EXPECT_THAT(ClientIds(last), ElementsAre("e"));
  EXPECT_EQ(last.next_page_token, "");
}

TEST(PresenceTableTest, ExactlyFullLastPageHasNoToken) {
  PresenceTable table;
  table.Add(kEdgeA, "chat:1", Client("a", "u"));
  table.Add(kEdgeB, "chat:1", Client("b", "u"));
  PresenceTable::Page page = table.List("chat:1", 2, "");
  EXPECT_THAT(ClientIds(page), ElementsAre("a", "b"));
  EXPECT_EQ(page.next_page_token, "");
}

TEST(PresenceTableTest, TokenBetweenIdsStartsAfterIt) {
  PresenceTable table;
  for (const char* id : {"a", "c", "e"}) table.Add(kEdgeA, "chat:1", Client(id, "u"));
  EXPECT_THAT(ClientIds(table.List("chat:1", 10, "b")), ElementsAre("c", "e"));
  EXPECT_THAT(ClientIds(table.List("chat:1", 10, "z")), IsEmpty());
}

TEST(PresenceTableTest, UnknownChannelIsEmpty) {
  PresenceTable table;
  PresenceTable::Page page = table.List("chat:1", 10, "");
  EXPECT_THAT(page.clients, IsEmpty());
  EXPECT_EQ(page.next_page_token, "");
  PresenceTable::Counts counts = table.Count("chat:1");
  EXPECT_EQ(counts.clients, 0u);
  EXPECT_EQ(counts.users, 0u);
}

TEST(PresenceTableTest, CountsClientsAndDistinctUsersOverEdges) {
  PresenceTable table;
  table.Add(kEdgeA, "chat:1", Client("a1", "ann"));
  table.Add(kEdgeA, "chat:1", Client("a2", "ann"));
  table.Add(kEdgeB, "chat:1", Client("b1", "ann"));
  table.Add(kEdgeB, "chat:1", Client("b2", "bob"));
  table.Add(kEdgeB, "chat:1", Client("b3", ""));
  table.Add(kEdgeB, "chat:1", Client("b4", ""));
  table.Add(kEdgeB, "chat:2", Client("b5", "cid"));
  PresenceTable::Counts counts = table.Count("chat:1");
  EXPECT_EQ(counts.clients, 6u);
  EXPECT_EQ(counts.users, 3u);  // ann, bob and the anonymous user
}

TEST(PresenceTableTest, TenantKeysAreSeparateChannels) {
  PresenceTable table;
  table.Add(kEdgeA, "acme|chat:1", Client("a1", "u1"));
  table.Add(kEdgeA, "chat:1", Client("d1", "u2"));
  EXPECT_THAT(ClientIds(table.List("acme|chat:1", 10, "")), ElementsAre("a1"));
  EXPECT_THAT(ClientIds(table.List("chat:1", 10, "")), ElementsAre("d1"));
  EXPECT_THAT(ClientIds(table.List("other|chat:1", 10, "")), IsEmpty());
}

}  // namespace
}  // namespace wirehub::control
