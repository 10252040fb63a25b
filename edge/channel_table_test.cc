#include "edge/channel_table.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "edge/client_session.h"
#include "edge/transport.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class ChannelTableTest : public ::testing::Test {
 protected:
  // An entry for `key` waiting for the acknowledgement of interest `seq`,
  // as Subscriptions makes it for a channel's first subscriber.
  ChannelEntry* AddAwaiting(const std::string& key, uint64_t seq) {
    bool created = false;
    ChannelEntry* entry = table_.FindOrCreate(key, history_, &created);
    EXPECT_TRUE(created) << key;
    entry->interest_seq = seq;
    table_.AwaitAck(seq, key);
    return entry;
  }

  std::shared_ptr<const config::v1::NamespaceOptions> history_ =
      std::make_shared<config::v1::NamespaceOptions>();
  std::shared_ptr<const config::v1::NamespaceOptions> plain_ =
      std::make_shared<config::v1::NamespaceOptions>();
  Connection connection_{1};
  ClientSession session_{&connection_};
  ChannelTable table_;
};

TEST_F(ChannelTableTest, FindOfAnAbsentKeyIsNull) {
  EXPECT_EQ(table_.Find("chat:x"), nullptr);
  EXPECT_EQ(table_.size(), 0u);
}

// recovery.test.mjs / gap_repair.test.mjs: every subscribe finds or creates
// its channel; later subscribers share the first one's entry.
TEST_F(ChannelTableTest, FindOrCreateCreatesOnceAndKeepsTheFirstOptions) {
  bool created = false;
  ChannelEntry* entry = table_.FindOrCreate("chat:x", history_, &created);
  ASSERT_NE(entry, nullptr);
  EXPECT_TRUE(created);
  EXPECT_EQ(entry->options, history_);
  EXPECT_FALSE(entry->confirmed);
  EXPECT_EQ(entry->interest_seq, 0u);
  EXPECT_FALSE(entry->tracker.has_value());
  EXPECT_TRUE(entry->unused());

  EXPECT_EQ(table_.FindOrCreate("chat:x", plain_, &created), entry);
  EXPECT_FALSE(created);
  EXPECT_EQ(entry->options, history_);
  EXPECT_EQ(table_.Find("chat:x"), entry);
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(ChannelTableTest, EntryAddressesStayValidWhileOthersAreAdded) {
  bool created = false;
  ChannelEntry* first = table_.FindOrCreate("chat:first", history_, &created);
  first->subscribers[&session_] = 7;
  for (int i = 0; i < 1000; ++i) {
    table_.FindOrCreate(absl::StrCat("chat:", i), plain_, &created);
  }
  EXPECT_EQ(table_.Find("chat:first"), first);
  EXPECT_EQ(first->subscribers.at(&session_), 7u);
  EXPECT_EQ(table_.size(), 1001u);
}

// recovery.test.mjs / gap_repair.test.mjs: a channel's first subscribe is
// answered only once control acknowledged the interest; acknowledgements
// are cumulative and confirm channels in the order they were asked.
TEST_F(ChannelTableTest, TakeAckedReturnsKeysUpToTheAckOldestFirst) {
  table_.AwaitAck(3, "c");
  table_.AwaitAck(1, "a");
  table_.AwaitAck(5, "e");
  table_.AwaitAck(2, "b");

  EXPECT_THAT(table_.TakeAcked(0), IsEmpty());
  EXPECT_THAT(table_.TakeAcked(3), ElementsAre("a", "b", "c")) << "inclusive bound";
  EXPECT_THAT(table_.Waiting(), ElementsAre("e"));
  EXPECT_THAT(table_.TakeAcked(3), IsEmpty()) << "taken once";
  EXPECT_THAT(table_.TakeAcked(4), IsEmpty());
  EXPECT_THAT(table_.TakeAcked(100), ElementsAre("e"));
  EXPECT_THAT(table_.Waiting(), IsEmpty());
}

// recovery.test.mjs / gap_repair.test.mjs: subscribes still waiting for
// their acknowledgement time out (Subscriptions::ExpirePending).
TEST_F(ChannelTableTest, WaitingListsKeysInAckOrderWithoutTakingThem) {
  EXPECT_THAT(table_.Waiting(), IsEmpty());
  table_.AwaitAck(9, "late");
  table_.AwaitAck(4, "early");
  EXPECT_THAT(table_.Waiting(), ElementsAre("early", "late"));
  EXPECT_THAT(table_.Waiting(), ElementsAre("early", "late"));
  EXPECT_THAT(table_.TakeAcked(9), ElementsAre("early", "late"));
}

TEST_F(ChannelTableTest, EraseIfUnusedOfAnAbsentKeyIsFalse) {
  EXPECT_FALSE(table_.EraseIfUnused("chat:x"));
}

// gap_repair.test.mjs "a broken and restored control link: ... no
// unsubscribe": a channel with a subscriber stays.
TEST_F(ChannelTableTest, ChannelWithASubscriberIsNotErased) {
  bool created = false;
  ChannelEntry* entry = table_.FindOrCreate("chat:x", history_, &created);
  entry->confirmed = true;
  entry->subscribers[&session_] = 0;
  EXPECT_FALSE(entry->unused());
  EXPECT_FALSE(table_.EraseIfUnused("chat:x"));
  EXPECT_EQ(table_.Find("chat:x"), entry);

  entry->subscribers.erase(&session_);
  EXPECT_TRUE(table_.EraseIfUnused("chat:x"));
  EXPECT_EQ(table_.Find("chat:x"), nullptr);
  EXPECT_EQ(table_.size(), 0u);
}

// recovery.test.mjs: a subscribe still waiting for the acknowledgement keeps
// its channel, and so does the acknowledgement it waits for.
TEST_F(ChannelTableTest, ChannelWithAPendingSubscribeIsNotErased) {
  ChannelEntry* entry = AddAwaiting("chat:x", 1);
  PendingSubscribe pending;
  pending.session = &session_;
  entry->pending.push_back(pending);
  EXPECT_FALSE(table_.EraseIfUnused("chat:x"));
  EXPECT_THAT(table_.Waiting(), ElementsAre("chat:x"));

  entry->pending.clear();
  EXPECT_TRUE(table_.EraseIfUnused("chat:x"));
}

// gap_repair.test.mjs "a restarted control ...": after the reset, sessions
// still positioning keep the channel.
TEST_F(ChannelTableTest, ChannelWithAPositioningSubscriberIsNotErased) {
  bool created = false;
  ChannelEntry* entry = table_.FindOrCreate("chat:x", history_, &created);
  entry->confirmed = true;
  entry->positioning[&session_] =
      std::make_unique<PositioningRun>(PendingSubscribe{}, PositioningLimits{}, 1);
  EXPECT_FALSE(entry->unused());
  EXPECT_FALSE(table_.EraseIfUnused("chat:x"));

  entry->positioning.clear();
  EXPECT_TRUE(table_.EraseIfUnused("chat:x"));
}

// recovery.test.mjs: a client that unsubscribes (or closes) before control
// acknowledged its channel's interest drops the wait with the channel; the
// later acknowledgement confirms nothing.
TEST_F(ChannelTableTest, ErasingAnUnconfirmedChannelDropsItsAwaitedAck) {
  AddAwaiting("chat:a", 1);
  AddAwaiting("chat:b", 2);
  EXPECT_TRUE(table_.EraseIfUnused("chat:a"));
  EXPECT_EQ(table_.Find("chat:a"), nullptr);
  EXPECT_THAT(table_.Waiting(), ElementsAre("chat:b"));
  EXPECT_THAT(table_.TakeAcked(2), ElementsAre("chat:b"));
}

// gap_repair.test.mjs: erasing a confirmed channel leaves the other
// channels' waits alone.
TEST_F(ChannelTableTest, ErasingAConfirmedChannelLeavesOtherWaitsAlone) {
  ChannelEntry* a = AddAwaiting("chat:a", 1);
  AddAwaiting("chat:b", 2);
  ASSERT_THAT(table_.TakeAcked(1), ElementsAre("chat:a"));
  a->confirmed = true;
  EXPECT_TRUE(table_.EraseIfUnused("chat:a"));
  EXPECT_THAT(table_.Waiting(), ElementsAre("chat:b"));
}

// gap_repair.test.mjs "a restarted control: clients get recovered=false and
// the new epoch": the reset removes every subscriber, the channel goes, and
// the SDK's resubscribe makes a fresh one that waits for its own ack.
TEST_F(ChannelTableTest, ChannelMadeAgainAfterEraseWaitsForItsNewAck) {
  ChannelEntry* old_entry = AddAwaiting("chat:x", 1);
  old_entry->tracker.emplace(1024, 10);
  old_entry->tracker->Position("e1", 3);
  ASSERT_TRUE(table_.EraseIfUnused("chat:x"));

  bool created = false;
  ChannelEntry* entry = table_.FindOrCreate("chat:x", history_, &created);
  EXPECT_TRUE(created);
  EXPECT_FALSE(entry->confirmed);
  EXPECT_FALSE(entry->tracker.has_value());
  entry->interest_seq = 2;
  table_.AwaitAck(2, "chat:x");
  EXPECT_THAT(table_.TakeAcked(1), IsEmpty()) << "the old ack names nothing any more";
  EXPECT_THAT(table_.TakeAcked(2), ElementsAre("chat:x"));
}

TEST_F(ChannelTableTest, IteratesEveryEntry) {
  bool created = false;
  table_.FindOrCreate("chat:a", history_, &created);
  table_.FindOrCreate("plain:b", plain_, &created);
  std::vector<std::string> keys;
  for (auto& [key, entry] : table_) keys.push_back(key);
  EXPECT_THAT(keys, UnorderedElementsAre("chat:a", "plain:b"));

  const ChannelTable& view = table_;
  int count = 0;
  for (const auto& [key, entry] : view) {
    EXPECT_NE(entry.options, nullptr) << key;
    ++count;
  }
  EXPECT_EQ(count, 2);
}

}  // namespace
}  // namespace wirehub::edge
