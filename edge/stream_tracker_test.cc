#include "edge/stream_tracker.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Live = StreamTracker::Live;
using Kind = StreamTracker::RepairStep::Kind;

constexpr size_t kManyBytes = 1 << 20;
constexpr uint64_t kMaxGap = 1000;

// What a held publication counts beyond its data.
constexpr size_t kEnvelope = PublicationPush::kEnvelopeBytes;

// A publication push whose data is `text` (no channel name, so its
// bytes() is the text's size plus kEnvelope).
SharedPublication MakeFrame(std::string_view text) {
  return std::make_shared<const PublicationPush>("", text, 0, nullptr);
}

// A live publication's push; its text says where it came from.
SharedPublication LiveFrame(uint64_t offset) { return MakeFrame(absl::StrCat("live", offset)); }

// What `encode` makes of a kept publication in these tests.
SharedPublication EncodeKept(const control::v1::HistoryPublication& publication) {
  return MakeFrame(absl::StrCat("hist", publication.offset()));
}

// A page of control's history: `offsets` kept, the stream at `epoch`/`top`.
control::v1::HistoryResponse Page(const std::string& epoch, uint64_t top,
                                  const std::vector<uint64_t>& offsets, bool more = false) {
  control::v1::HistoryResponse page;
  page.set_epoch(epoch);
  page.set_offset(top);
  page.set_more(more);
  for (uint64_t offset : offsets) {
    control::v1::HistoryPublication* publication = page.add_publications();
    publication->set_offset(offset);
    publication->set_data(absl::StrCat("{\"i\":", offset, "}"));
  }
  return page;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> offsets;
  for (uint64_t offset = first; offset <= last; ++offset) offsets.push_back(offset);
  return offsets;
}

std::vector<uint64_t> OffsetsOf(const std::vector<StreamItem>& items) {
  std::vector<uint64_t> offsets;
  for (const StreamItem& item : items) offsets.push_back(item.offset);
  return offsets;
}

std::vector<std::string> TextsOf(const std::vector<StreamItem>& items) {
  std::vector<std::string> texts;
  for (const StreamItem& item : items) texts.push_back(std::string(item.push->data()));
  return texts;
}

StreamTracker::RepairStep Answer(StreamTracker& tracker,
                                 const absl::StatusOr<control::v1::HistoryResponse>& page) {
  return tracker.OnRepairPage(page, EncodeKept);
}

Live OnLive(StreamTracker& tracker, uint64_t offset, const std::string& epoch = "e1") {
  return tracker.OnLive(offset, epoch, LiveFrame(offset));
}

void ExpectUnpositioned(const StreamTracker& tracker) {
  EXPECT_FALSE(tracker.positioned());
  EXPECT_EQ(tracker.epoch(), "");
  EXPECT_EQ(tracker.last_offset(), 0u);
  EXPECT_FALSE(tracker.repairing());
  EXPECT_EQ(tracker.held_bytes(), 0u);
}

// recovery.test.mjs "recovered and live publications join with no gap and no
// duplicate while publishing": until the first subscriber is positioned,
// publications go out as they come.
TEST(StreamTrackerTest, UnpositionedTrackerLeavesPublicationsUntracked) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  ExpectUnpositioned(tracker);
  EXPECT_EQ(OnLive(tracker, 5), Live::kUntracked);
  EXPECT_EQ(OnLive(tracker, 9, "other"), Live::kUntracked);
  ExpectUnpositioned(tracker);
  EXPECT_FALSE(tracker.BeginRepair());
}

// recovery.test.mjs "recovered and live publications join ...": the first
// positioned subscriber positions the channel; later ones keep it.
TEST(StreamTrackerTest, FirstPositionIsKept) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  EXPECT_TRUE(tracker.positioned());
  tracker.Position("e2", 20);
  EXPECT_EQ(tracker.epoch(), "e1");
  EXPECT_EQ(tracker.last_offset(), 10u);
}

// gap_repair.test.mjs "a broken and restored control link ...": the ten
// publications before the cut are delivered in order.
TEST(StreamTrackerTest, PublicationsInOrderAreDelivered) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 0);
  for (uint64_t offset = 1; offset <= 10; ++offset) {
    EXPECT_EQ(OnLive(tracker, offset), Live::kDeliver) << offset;
    EXPECT_EQ(tracker.last_offset(), offset);
  }
  EXPECT_FALSE(tracker.repairing());
  EXPECT_EQ(tracker.held_bytes(), 0u);
}

// recovery.test.mjs "recovered and live publications join with no gap and no
// duplicate": a publication the stream already passed never moves it back
// (the caller skips it per subscriber).
TEST(StreamTrackerTest, AnOffsetAlreadyPassedIsDeliveredWithoutMovingBack) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  EXPECT_EQ(OnLive(tracker, 8), Live::kDeliver);
  EXPECT_EQ(OnLive(tracker, 10), Live::kDeliver);
  EXPECT_EQ(tracker.last_offset(), 10u);
  EXPECT_FALSE(tracker.repairing());
}

// gap_repair.test.mjs "a broken and restored control link ...": the first
// publication after the cut jumps the offset; it starts a repair and what
// follows waits behind it.
TEST(StreamTrackerTest, OffsetJumpStartsRepairAndLaterPublicationsAreHeld) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  EXPECT_EQ(OnLive(tracker, 21), Live::kRepair);
  EXPECT_TRUE(tracker.repairing());
  EXPECT_EQ(tracker.last_offset(), 10u) << "the repair fetches from here";
  EXPECT_EQ(tracker.held_bytes(), LiveFrame(21)->bytes());
  EXPECT_EQ(OnLive(tracker, 22), Live::kHeld);
  EXPECT_EQ(OnLive(tracker, 23), Live::kHeld);
  EXPECT_EQ(tracker.held_bytes(), 3 * LiveFrame(21)->bytes());
  EXPECT_EQ(tracker.last_offset(), 10u);
}

// gap_repair.test.mjs "a broken and restored control link: clients see no gap,
// no duplicate": the hole comes from history, then the held tail, in order.
TEST(StreamTrackerTest, RepairDeliversTheGapThenTheHeldTail) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 21), Live::kRepair);
  for (uint64_t offset = 22; offset <= 25; ++offset)
    ASSERT_EQ(OnLive(tracker, offset), Live::kHeld);

  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 20, Range(11, 20)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 25));
  EXPECT_EQ(TextsOf(step.deliver).front(), "hist11");
  EXPECT_EQ(TextsOf(step.deliver)[9], "hist20");
  EXPECT_EQ(TextsOf(step.deliver)[10], "live21");
  EXPECT_EQ(TextsOf(step.deliver).back(), "live25");
  EXPECT_EQ(tracker.last_offset(), 25u);
  EXPECT_FALSE(tracker.repairing());
  EXPECT_EQ(tracker.held_bytes(), 0u);

  EXPECT_EQ(OnLive(tracker, 26), Live::kDeliver);
  EXPECT_EQ(tracker.last_offset(), 26u);
}

// gap_repair.test.mjs "... no duplicate": history answered after more was
// published covers held publications too; each is delivered once.
TEST(StreamTrackerTest, HistoryCoveringTheHeldTailDeliversEachOffsetOnce) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 13), Live::kRepair);
  ASSERT_EQ(OnLive(tracker, 14), Live::kHeld);

  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 15, Range(11, 15)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 15));
  EXPECT_THAT(TextsOf(step.deliver), ElementsAre("hist11", "hist12", "hist13", "hist14", "hist15"));
  EXPECT_EQ(tracker.last_offset(), 15u);
  EXPECT_EQ(tracker.held_bytes(), 0u);
  // Its live copy arriving late changes nothing.
  EXPECT_EQ(OnLive(tracker, 15), Live::kDeliver);
  EXPECT_EQ(tracker.last_offset(), 15u);
}

// gap_repair.test.mjs "a broken and restored control link ..." with history
// pages cut short (`more`): each page is delivered and the next fetched from
// where it ended; live publications keep waiting meanwhile.
TEST(StreamTrackerTest, RepairPagesWithMoreFetchAgainFromTheLastOffset) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 21), Live::kRepair);

  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 21, Range(11, 14), true));
  EXPECT_EQ(step.kind, Kind::kFetchMore);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 14));
  EXPECT_EQ(tracker.last_offset(), 14u);
  EXPECT_TRUE(tracker.repairing());
  EXPECT_EQ(OnLive(tracker, 22), Live::kHeld);

  step = Answer(tracker, Page("e1", 22, Range(15, 18), true));
  EXPECT_EQ(step.kind, Kind::kFetchMore);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(15, 18));
  EXPECT_EQ(tracker.last_offset(), 18u);

  step = Answer(tracker, Page("e1", 22, Range(19, 22)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(19, 22));
  EXPECT_EQ(tracker.last_offset(), 22u);
  EXPECT_FALSE(tracker.repairing());
  EXPECT_EQ(tracker.held_bytes(), 0u);
}

// gap_repair.test.mjs "a broken and restored control link ...": a page that
// says `more` but already reaches the top needs no further fetch.
TEST(StreamTrackerTest, MoreIsIgnoredOnceThePageReachesTheTop) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 12), Live::kRepair);
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 12, Range(11, 12), true));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 12));
  EXPECT_FALSE(tracker.repairing());
}

// gap_repair.test.mjs "a broken and restored control link ..." when the link
// drops again during the repair: a second hole behind the held tail is
// fetched too before the rest goes out.
TEST(StreamTrackerTest, SecondHoleBehindTheHeldTailFetchesMore) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 12), Live::kRepair);
  ASSERT_EQ(OnLive(tracker, 15), Live::kHeld);  // 13 and 14 lost.

  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 12, Range(11, 12)));
  EXPECT_EQ(step.kind, Kind::kFetchMore);
  EXPECT_THAT(TextsOf(step.deliver), ElementsAre("hist11", "hist12"));
  EXPECT_EQ(tracker.last_offset(), 12u);
  EXPECT_TRUE(tracker.repairing());
  EXPECT_EQ(tracker.held_bytes(), LiveFrame(15)->bytes());

  step = Answer(tracker, Page("e1", 15, Range(13, 15)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(13, 15));
  EXPECT_EQ(tracker.last_offset(), 15u);
  EXPECT_FALSE(tracker.repairing());
  EXPECT_EQ(tracker.held_bytes(), 0u);
}

// gap_repair.test.mjs "... no gap": a page whose offsets stop being
// consecutive is delivered up to the break, and the rest fetched again.
TEST(StreamTrackerTest, PageBreakingMidwayIsDeliveredUpToTheBreak) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 15), Live::kRepair);

  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 15, {11, 12, 14, 15}));
  EXPECT_EQ(step.kind, Kind::kFetchMore);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 12));
  EXPECT_EQ(tracker.last_offset(), 12u);

  step = Answer(tracker, Page("e1", 15, Range(13, 15)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(13, 15));
}

// gap_repair.test.mjs "a broken and restored control link ...": after the
// edge re-attaches it repairs every positioned channel, whether or not a
// publication came; publications meanwhile wait for that repair.
TEST(StreamTrackerTest, BeginRepairAfterReattachOnlyWhenPositionedAndNotRepairing) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  EXPECT_FALSE(tracker.BeginRepair()) << "not positioned";
  EXPECT_FALSE(tracker.repairing());

  tracker.Position("e1", 10);
  EXPECT_TRUE(tracker.BeginRepair());
  EXPECT_TRUE(tracker.repairing());
  EXPECT_FALSE(tracker.BeginRepair()) << "already repairing";

  for (uint64_t offset = 21; offset <= 25; ++offset) {
    EXPECT_EQ(OnLive(tracker, offset), Live::kHeld) << offset;
  }
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 20, Range(11, 20)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 25));
  EXPECT_EQ(tracker.last_offset(), 25u);
  EXPECT_FALSE(tracker.repairing());
  EXPECT_TRUE(tracker.BeginRepair()) << "the next re-attach repairs again";
}

// gap_repair.test.mjs "a broken and restored control link ...": a repair
// after re-attaching when nothing was missed delivers only what is held.
TEST(StreamTrackerTest, RepairWithNothingMissedDeliversOnlyWhatIsHeld) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_TRUE(tracker.BeginRepair());
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 10, {}));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_THAT(step.deliver, IsEmpty());
  EXPECT_EQ(tracker.last_offset(), 10u);
  EXPECT_FALSE(tracker.repairing());

  ASSERT_TRUE(tracker.BeginRepair());
  ASSERT_EQ(OnLive(tracker, 11), Live::kHeld);
  step = Answer(tracker, Page("e1", 10, {}));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_THAT(TextsOf(step.deliver), ElementsAre("live11"));
  EXPECT_EQ(tracker.last_offset(), 11u);
}

// gap_repair.test.mjs "a restarted control ... never recovered across a
// hole": history trimmed past the hole cannot repair it; the subscribers
// start over.
TEST(StreamTrackerTest, HistoryNoLongerReachingBackResets) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 30), Live::kRepair);
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 30, Range(25, 30)));
  EXPECT_EQ(step.kind, Kind::kReset);
  EXPECT_THAT(step.deliver, IsEmpty());
  ExpectUnpositioned(tracker);
}

// gap_repair.test.mjs "a restarted control ...": history expired entirely
// (nothing kept while the stream moved on) resets too.
TEST(StreamTrackerTest, EmptyHistoryBelowTheTopResets) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_TRUE(tracker.BeginRepair());
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 12, {}));
  EXPECT_EQ(step.kind, Kind::kReset);
  EXPECT_THAT(step.deliver, IsEmpty());
  ExpectUnpositioned(tracker);
}

// gap_repair.test.mjs "a restarted control: clients get recovered=false and
// the new epoch": a live publication of another epoch resets the channel;
// after the reset the new stream is followed from its own position.
TEST(StreamTrackerTest, LivePublicationOfAnotherEpochResets) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 3);
  EXPECT_EQ(OnLive(tracker, 1, "e2"), Live::kReset);
  EXPECT_EQ(tracker.last_offset(), 3u) << "the caller resets";

  tracker.Reset();
  ExpectUnpositioned(tracker);
  EXPECT_EQ(OnLive(tracker, 1, "e2"), Live::kUntracked);
  tracker.Position("e2", 0);
  EXPECT_EQ(tracker.epoch(), "e2");
  EXPECT_EQ(OnLive(tracker, 1, "e2"), Live::kDeliver);
  EXPECT_EQ(tracker.last_offset(), 1u);
}

// gap_repair.test.mjs "a restarted control ...": the new epoch may show up
// live while a repair is in flight.
TEST(StreamTrackerTest, LivePublicationOfAnotherEpochResetsDuringRepair) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 12), Live::kRepair);
  EXPECT_EQ(OnLive(tracker, 1, "e2"), Live::kReset);
  EXPECT_EQ(tracker.held_bytes(), LiveFrame(12)->bytes()) << "not held";
}

// gap_repair.test.mjs "a restarted control ...": the edge re-attaches to the
// new control, whose stream no longer has our epoch (FAILED_PRECONDITION).
TEST(StreamTrackerTest, FailedPreconditionDuringRepairResets) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 3);
  ASSERT_TRUE(tracker.BeginRepair());
  ASSERT_EQ(OnLive(tracker, 4), Live::kHeld);
  StreamTracker::RepairStep step =
      Answer(tracker, absl::FailedPreconditionError("unrecoverable position"));
  EXPECT_EQ(step.kind, Kind::kReset);
  EXPECT_THAT(step.deliver, IsEmpty());
  ExpectUnpositioned(tracker);
}

// gap_repair.test.mjs "a restarted control ...": a page of another epoch
// (the stream restarted between request and answer) resets too.
TEST(StreamTrackerTest, PageOfAnotherEpochResets) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 3);
  ASSERT_TRUE(tracker.BeginRepair());
  StreamTracker::RepairStep step = Answer(tracker, Page("e2", 5, Range(4, 5)));
  EXPECT_EQ(step.kind, Kind::kReset);
  EXPECT_THAT(step.deliver, IsEmpty());
  ExpectUnpositioned(tracker);
}

// gap_repair.test.mjs "a restarted control ...": a stream whose top is behind
// what we already delivered is not ours any more.
TEST(StreamTrackerTest, TopBehindTheLastOffsetResets) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_TRUE(tracker.BeginRepair());
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 5, {}));
  EXPECT_EQ(step.kind, Kind::kReset);
  ExpectUnpositioned(tracker);
}

// gap_repair.test.mjs "a broken and restored control link: ... no
// unsubscribe": control unreachable during the repair does not drop the
// subscribers; nothing past the hole goes out (that would skip offset 11
// unsaid), it stays held and the next repair delivers it in order.
TEST(StreamTrackerTest, UnavailableDuringRepairKeepsWhatIsPastTheHoleForTheNextRepair) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 12), Live::kRepair);
  ASSERT_EQ(OnLive(tracker, 13), Live::kHeld);
  ASSERT_EQ(OnLive(tracker, 14), Live::kHeld);

  StreamTracker::RepairStep step = Answer(tracker, absl::UnavailableError("control gone"));
  EXPECT_EQ(step.kind, Kind::kRetryLater);
  EXPECT_THAT(step.deliver, IsEmpty());
  EXPECT_TRUE(tracker.positioned());
  EXPECT_EQ(tracker.epoch(), "e1");
  EXPECT_EQ(tracker.last_offset(), 10u);
  EXPECT_FALSE(tracker.repairing());
  EXPECT_TRUE(tracker.holding());

  // A live publication meanwhile finds the hole and repairs again.
  EXPECT_EQ(OnLive(tracker, 15), Live::kRepair);
  step = Answer(tracker, Page("e1", 15, Range(11, 11)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_THAT(TextsOf(step.deliver), ElementsAre("hist11", "live12", "live13", "live14", "live15"));
  EXPECT_EQ(tracker.last_offset(), 15u);
  EXPECT_FALSE(tracker.holding());
}

// gap_repair.test.mjs "a broken and restored control link: ... no duplicate":
// control failing on a later page delivers only the held publications the
// earlier pages did not already bring.
TEST(StreamTrackerTest, UnavailableOnALaterPageDeliversOnlyWhatIsStillMissing) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 12), Live::kRepair);
  ASSERT_EQ(OnLive(tracker, 13), Live::kHeld);
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 13, Range(11, 12), true));
  ASSERT_EQ(step.kind, Kind::kFetchMore);
  EXPECT_THAT(TextsOf(step.deliver), ElementsAre("hist11", "hist12"));

  step = Answer(tracker, absl::UnavailableError("control gone"));
  EXPECT_EQ(step.kind, Kind::kRetryLater);
  EXPECT_THAT(TextsOf(step.deliver), ElementsAre("live13"));
  EXPECT_EQ(tracker.last_offset(), 13u);
  EXPECT_FALSE(tracker.repairing());
}

// gap_repair.test.mjs "a broken and restored control link ...": a repair
// after re-attaching that times out leaves the position as it was.
TEST(StreamTrackerTest, DeadlineExceededWithNothingHeldKeepsThePosition) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_TRUE(tracker.BeginRepair());
  StreamTracker::RepairStep step = Answer(tracker, absl::DeadlineExceededError("slow"));
  EXPECT_EQ(step.kind, Kind::kRetryLater);
  EXPECT_THAT(step.deliver, IsEmpty());
  EXPECT_EQ(tracker.last_offset(), 10u);
  EXPECT_FALSE(tracker.repairing());
  EXPECT_TRUE(tracker.BeginRepair());
}

// recovery.test.mjs "more missed than recovery_max_publications: not
// recovered", for a hole found live: past max_gap the channel resets.
TEST(StreamTrackerTest, GapLargerThanMaxGapResets) {
  StreamTracker tracker(kManyBytes, /*max_gap=*/5);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 17), Live::kRepair);
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 17, Range(11, 17)));
  EXPECT_EQ(step.kind, Kind::kReset);
  EXPECT_THAT(step.deliver, IsEmpty());
  ExpectUnpositioned(tracker);
}

// recovery.test.mjs "short gap: recovered with exactly the missing
// publications", for a hole found live: up to max_gap it is repaired.
TEST(StreamTrackerTest, GapOfExactlyMaxGapIsRepaired) {
  StreamTracker tracker(kManyBytes, /*max_gap=*/5);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 15), Live::kRepair);
  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 15, Range(11, 15)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 15));
}

// gap_repair.test.mjs "a broken and restored control link ..." with more
// published during the repair than may be held: the tail past the bound is
// dropped, and the next publication finds that hole and repairs it.
TEST(StreamTrackerTest, HeldBytesBoundDropsTheTailAndTheNextPublicationRepairsIt) {
  StreamTracker tracker(/*max_held_bytes=*/8 + 2 * kEnvelope, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(tracker.OnLive(12, "e1", MakeFrame("aaaa")), Live::kRepair);
  ASSERT_EQ(tracker.OnLive(13, "e1", MakeFrame("bbbb")), Live::kHeld);
  EXPECT_EQ(tracker.held_bytes(), 8 + 2 * kEnvelope);
  ASSERT_EQ(tracker.OnLive(14, "e1", MakeFrame("cccc")), Live::kHeld);
  EXPECT_EQ(tracker.held_bytes(), 8 + 2 * kEnvelope) << "dropped";

  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 13, Range(11, 13)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 13));
  EXPECT_EQ(tracker.last_offset(), 13u);
  EXPECT_EQ(tracker.held_bytes(), 0u);

  EXPECT_EQ(tracker.OnLive(15, "e1", MakeFrame("dddd")), Live::kRepair);
  step = Answer(tracker, Page("e1", 15, Range(14, 15)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(14, 15));
}

// gap_repair.test.mjs "a broken and restored control link ...": a smaller
// publication held after a dropped one leaves a hole inside the held tail,
// which is fetched before the held publication goes out.
TEST(StreamTrackerTest, HoleLeftByADroppedPublicationIsFetched) {
  StreamTracker tracker(/*max_held_bytes=*/10 + 3 * kEnvelope, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(tracker.OnLive(12, "e1", MakeFrame("aaaa")), Live::kRepair);
  ASSERT_EQ(tracker.OnLive(13, "e1", MakeFrame("bbbb")), Live::kHeld);
  ASSERT_EQ(tracker.OnLive(14, "e1", MakeFrame("cccc")), Live::kHeld);  // Dropped.
  ASSERT_EQ(tracker.OnLive(15, "e1", MakeFrame("dd")), Live::kHeld);
  EXPECT_EQ(tracker.held_bytes(), 10 + 3 * kEnvelope);

  StreamTracker::RepairStep step = Answer(tracker, Page("e1", 13, Range(11, 13)));
  EXPECT_EQ(step.kind, Kind::kFetchMore);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(11, 13));
  EXPECT_EQ(tracker.held_bytes(), 2 + kEnvelope) << "only 15 is still held";

  step = Answer(tracker, Page("e1", 15, Range(14, 15)));
  EXPECT_EQ(step.kind, Kind::kDone);
  EXPECT_EQ(OffsetsOf(step.deliver), Range(14, 15));
  EXPECT_EQ(tracker.held_bytes(), 0u);
}

TEST(StreamTrackerTest, ResetForgetsThePositionAndEverythingHeld) {
  StreamTracker tracker(kManyBytes, kMaxGap);
  tracker.Position("e1", 10);
  ASSERT_EQ(OnLive(tracker, 12), Live::kRepair);
  ASSERT_EQ(OnLive(tracker, 13), Live::kHeld);
  tracker.Reset();
  ExpectUnpositioned(tracker);
  tracker.Position("e1", 20);
  EXPECT_EQ(tracker.last_offset(), 20u);
  EXPECT_EQ(OnLive(tracker, 21), Live::kDeliver);
}

}  // namespace
}  // namespace wirehub::edge
