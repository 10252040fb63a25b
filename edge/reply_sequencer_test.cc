#include "edge/reply_sequencer.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Frame MakeFrame(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

std::vector<Frame> Frames(std::vector<std::string> texts) {
  std::vector<Frame> frames;
  for (std::string& text : texts) frames.push_back(MakeFrame(std::move(text)));
  return frames;
}

// The texts of everything Release() hands out now.
std::vector<std::string> Released(ReplySequencer& sequencer) {
  std::vector<Frame> out;
  sequencer.Release(&out);
  std::vector<std::string> texts;
  for (const Frame& frame : out) texts.push_back(*frame);
  return texts;
}

TEST(ReplySequencerTest, PassesThroughAndHoldsNothingWhenNothingIsReserved) {
  ReplySequencer sequencer;
  EXPECT_TRUE(sequencer.Pass(MakeFrame("a")));
  EXPECT_TRUE(sequencer.Pass(MakeFrame("b")));
  EXPECT_TRUE(sequencer.empty());
  EXPECT_EQ(sequencer.reserved(), 0u);
  EXPECT_EQ(sequencer.held_bytes(), 0u);
  EXPECT_THAT(Released(sequencer), IsEmpty());
}

TEST(ReplySequencerTest, TicketsAreDistinctAndNeverZero) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket first = sequencer.Reserve();
  ReplySequencer::Ticket second = sequencer.Reserve();
  EXPECT_NE(first, 0u);
  EXPECT_NE(second, 0u);
  EXPECT_NE(first, second);
  EXPECT_EQ(sequencer.reserved(), 2u);
  EXPECT_FALSE(sequencer.empty());
}

TEST(ReplySequencerTest, TicketsStayDistinctAfterEverythingWasReleased) {
  // A drained sequencer gives its memory back but keeps counting: a late
  // Fill() of an old ticket must not fill a new reservation.
  ReplySequencer sequencer;
  ReplySequencer::Ticket old = sequencer.Reserve();
  sequencer.Fill(old, Frames({"first"}));
  EXPECT_THAT(Released(sequencer), ElementsAre("first"));
  EXPECT_TRUE(sequencer.empty());
  ReplySequencer::Ticket fresh = sequencer.Reserve();
  EXPECT_NE(fresh, old);
  sequencer.Fill(old, Frames({"stale"}));
  EXPECT_THAT(Released(sequencer), IsEmpty());
  sequencer.Fill(fresh, Frames({"second"}));
  EXPECT_THAT(Released(sequencer), ElementsAre("second"));
  // Fills and releases with nothing reserved are ignored.
  sequencer.Fill(fresh, Frames({"again"}));
  EXPECT_THAT(Released(sequencer), IsEmpty());
  EXPECT_EQ(sequencer.held_bytes(), 0u);
}

TEST(ReplySequencerTest, FramesBehindAReservationWaitUntilItIsFilled) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket ticket = sequencer.Reserve();
  EXPECT_FALSE(sequencer.Pass(MakeFrame("push1")));
  EXPECT_FALSE(sequencer.Pass(MakeFrame("push2")));
  EXPECT_THAT(Released(sequencer), IsEmpty());

  sequencer.Fill(ticket, Frames({"reply"}));
  EXPECT_THAT(Released(sequencer), ElementsAre("reply", "push1", "push2"));
  EXPECT_TRUE(sequencer.empty());
  EXPECT_EQ(sequencer.reserved(), 0u);
  EXPECT_EQ(sequencer.held_bytes(), 0u);
  // Nothing reserved any more: straight through again.
  EXPECT_TRUE(sequencer.Pass(MakeFrame("push3")));
}

TEST(ReplySequencerTest, OutOfOrderFillsAreReleasedInCommandOrder) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket first = sequencer.Reserve();
  EXPECT_FALSE(sequencer.Pass(MakeFrame("after-first")));
  ReplySequencer::Ticket second = sequencer.Reserve();
  EXPECT_FALSE(sequencer.Pass(MakeFrame("after-second")));
  ReplySequencer::Ticket third = sequencer.Reserve();

  sequencer.Fill(third, Frames({"reply3"}));
  EXPECT_THAT(Released(sequencer), IsEmpty());
  sequencer.Fill(second, Frames({"reply2a", "reply2b"}));
  EXPECT_THAT(Released(sequencer), IsEmpty());
  EXPECT_EQ(sequencer.reserved(), 3u);

  sequencer.Fill(first, Frames({"reply1"}));
  EXPECT_THAT(Released(sequencer),
              ElementsAre("reply1", "after-first", "reply2a", "reply2b", "after-second", "reply3"));
  EXPECT_TRUE(sequencer.empty());
  EXPECT_EQ(sequencer.reserved(), 0u);
}

TEST(ReplySequencerTest, ReleaseStopsAtTheFirstUnfilledReservation) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket first = sequencer.Reserve();
  EXPECT_FALSE(sequencer.Pass(MakeFrame("a")));
  ReplySequencer::Ticket second = sequencer.Reserve();
  EXPECT_FALSE(sequencer.Pass(MakeFrame("b")));

  sequencer.Fill(first, Frames({"reply1"}));
  EXPECT_THAT(Released(sequencer), ElementsAre("reply1", "a"));
  EXPECT_EQ(sequencer.reserved(), 1u);
  EXPECT_EQ(sequencer.held_bytes(), 1u);  // "b"
  EXPECT_FALSE(sequencer.empty());
  // Still behind the second reservation.
  EXPECT_FALSE(sequencer.Pass(MakeFrame("c")));

  sequencer.Fill(second, Frames({"reply2"}));
  EXPECT_THAT(Released(sequencer), ElementsAre("reply2", "b", "c"));
  EXPECT_TRUE(sequencer.empty());
}

TEST(ReplySequencerTest, ReleaseAppendsToWhatIsAlreadyInOut) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket ticket = sequencer.Reserve();
  sequencer.Fill(ticket, Frames({"reply"}));
  std::vector<Frame> out = Frames({"earlier"});
  sequencer.Release(&out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(*out[0], "earlier");
  EXPECT_EQ(*out[1], "reply");
}

TEST(ReplySequencerTest, FillOfAnUnknownTicketIsIgnored) {
  ReplySequencer sequencer;
  sequencer.Fill(42, Frames({"stray"}));  // Nothing reserved at all.
  EXPECT_TRUE(sequencer.empty());
  EXPECT_EQ(sequencer.held_bytes(), 0u);

  ReplySequencer::Ticket ticket = sequencer.Reserve();
  EXPECT_FALSE(sequencer.Pass(MakeFrame("push")));
  sequencer.Fill(ticket + 100, Frames({"stray"}));
  sequencer.Fill(0, Frames({"stray"}));  // 0 names the frames' own slots, never a reservation.
  EXPECT_EQ(sequencer.held_bytes(), 4u);
  EXPECT_THAT(Released(sequencer), IsEmpty());

  sequencer.Fill(ticket, Frames({"reply"}));
  EXPECT_THAT(Released(sequencer), ElementsAre("reply", "push"));
}

TEST(ReplySequencerTest, DuplicateFillIsIgnoredBeforeAndAfterRelease) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket first = sequencer.Reserve();
  ReplySequencer::Ticket second = sequencer.Reserve();

  sequencer.Fill(second, Frames({"reply2"}));
  sequencer.Fill(second, Frames({"again2", "again2"}));  // Filled, not yet released.
  EXPECT_EQ(sequencer.held_bytes(), 6u);

  sequencer.Fill(first, Frames({"reply1"}));
  EXPECT_THAT(Released(sequencer), ElementsAre("reply1", "reply2"));

  sequencer.Fill(first, Frames({"again1"}));  // Already released.
  EXPECT_TRUE(sequencer.empty());
  EXPECT_EQ(sequencer.held_bytes(), 0u);
  EXPECT_EQ(sequencer.reserved(), 0u);
  EXPECT_THAT(Released(sequencer), IsEmpty());
}

TEST(ReplySequencerTest, AnEmptyFillReleasesWhatWaitedBehindIt) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket ticket = sequencer.Reserve();
  EXPECT_FALSE(sequencer.Pass(MakeFrame("push")));
  sequencer.Fill(ticket, {});
  EXPECT_THAT(Released(sequencer), ElementsAre("push"));
  EXPECT_EQ(sequencer.reserved(), 0u);
  EXPECT_TRUE(sequencer.empty());
}

TEST(ReplySequencerTest, AnEmptyFillAloneLeavesNothingHeld) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket ticket = sequencer.Reserve();
  sequencer.Fill(ticket, {});
  EXPECT_THAT(Released(sequencer), IsEmpty());
  EXPECT_TRUE(sequencer.empty());
  EXPECT_EQ(sequencer.reserved(), 0u);
  EXPECT_TRUE(sequencer.Pass(MakeFrame("push")));
}

TEST(ReplySequencerTest, HeldBytesCountHeldFramesAndFilledRepliesUntilReleased) {
  ReplySequencer sequencer;
  ReplySequencer::Ticket first = sequencer.Reserve();
  EXPECT_EQ(sequencer.held_bytes(), 0u);  // A reservation alone holds no bytes.
  EXPECT_FALSE(sequencer.Pass(MakeFrame("12345")));
  EXPECT_FALSE(sequencer.Pass(MakeFrame("123")));
  EXPECT_EQ(sequencer.held_bytes(), 8u);
  ReplySequencer::Ticket second = sequencer.Reserve();
  sequencer.Fill(second, Frames({"1234567890"}));
  EXPECT_EQ(sequencer.held_bytes(), 18u);
  EXPECT_FALSE(sequencer.Pass(MakeFrame("12")));
  EXPECT_EQ(sequencer.held_bytes(), 20u);

  sequencer.Fill(first, Frames({"1"}));
  EXPECT_EQ(sequencer.held_bytes(), 21u);
  EXPECT_THAT(Released(sequencer), ElementsAre("1", "12345", "123", "1234567890", "12"));
  EXPECT_EQ(sequencer.held_bytes(), 0u);
}

TEST(ReplySequencerTest, FramesPassedAfterAFillWaitForTheRelease) {
  // Filled but not yet released: a frame sent now must still not overtake
  // the reply.
  ReplySequencer sequencer;
  ReplySequencer::Ticket ticket = sequencer.Reserve();
  sequencer.Fill(ticket, Frames({"reply"}));
  EXPECT_FALSE(sequencer.Pass(MakeFrame("push")));
  EXPECT_THAT(Released(sequencer), ElementsAre("reply", "push"));
  EXPECT_TRUE(sequencer.empty());
}

TEST(ReplySequencerTest, LongRunOfReservationsFilledOneByOneKeepsCommandOrder) {
  // Never drained in between: the released front must not disturb the
  // reservations and frames still waiting behind it.
  ReplySequencer sequencer;
  std::vector<ReplySequencer::Ticket> tickets;
  tickets.push_back(sequencer.Reserve());
  std::vector<std::string> expected;
  std::vector<std::string> released;
  for (int i = 0; i < 300; ++i) {
    EXPECT_FALSE(sequencer.Pass(MakeFrame(absl::StrCat("push", i))));
    tickets.push_back(sequencer.Reserve());
    sequencer.Fill(tickets[i], Frames({absl::StrCat("reply", i)}));
    for (std::string& text : Released(sequencer)) released.push_back(std::move(text));
    expected.push_back(absl::StrCat("reply", i));
    expected.push_back(absl::StrCat("push", i));
    EXPECT_EQ(sequencer.reserved(), 1u);
    EXPECT_EQ(sequencer.held_bytes(), 0u);
  }
  EXPECT_EQ(released, expected);
  sequencer.Fill(tickets.back(), {});
  EXPECT_THAT(Released(sequencer), IsEmpty());
  EXPECT_TRUE(sequencer.empty());
}

TEST(ReplySequencerTest, LongRunOfReservationsFilledInReverseIsReleasedInOrder) {
  ReplySequencer sequencer;
  std::vector<ReplySequencer::Ticket> tickets;
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) {
    tickets.push_back(sequencer.Reserve());
    EXPECT_FALSE(sequencer.Pass(MakeFrame(absl::StrCat("push", i))));
    expected.push_back(absl::StrCat("reply", i));
    expected.push_back(absl::StrCat("push", i));
  }
  for (int i = 199; i > 0; --i) {
    sequencer.Fill(tickets[i], Frames({absl::StrCat("reply", i)}));
    EXPECT_THAT(Released(sequencer), IsEmpty());
  }
  sequencer.Fill(tickets[0], Frames({"reply0"}));
  EXPECT_EQ(Released(sequencer), expected);
  EXPECT_TRUE(sequencer.empty());
  EXPECT_EQ(sequencer.reserved(), 0u);
  EXPECT_EQ(sequencer.held_bytes(), 0u);
}

}  // namespace
}  // namespace wirehub::edge
