#include "edge/positioning.h"

#include <cstddef>
#include <cstdint>
#include <limits>
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
using Next = Positioning::Next;

constexpr uint32_t kPageBytes = 4096;

// A publication push whose data is `text` (no channel name, so its
// bytes() is the text's size).
SharedPublication MakeFrame(std::string_view text) {
  return std::make_shared<const PublicationPush>("", text, 0, nullptr);
}

SharedPublication LiveFrame(uint64_t offset) { return MakeFrame(absl::StrCat("live", offset)); }

std::string DataOf(uint64_t offset) { return absl::StrCat("{\"i\":", offset, "}"); }

// Control's answer: the stream at `epoch`/`top` with `offsets` kept.
control::v1::HistoryResponse Answer(const std::string& epoch, uint64_t top,
                                    const std::vector<uint64_t>& offsets = {}, bool more = false) {
  control::v1::HistoryResponse answer;
  answer.set_epoch(epoch);
  answer.set_offset(top);
  answer.set_more(more);
  for (uint64_t offset : offsets) {
    control::v1::HistoryPublication* publication = answer.add_publications();
    publication->set_offset(offset);
    publication->set_data(DataOf(offset));
  }
  return answer;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> offsets;
  for (uint64_t offset = first; offset <= last; ++offset) offsets.push_back(offset);
  return offsets;
}

PositionRequest Recover(const std::string& epoch, uint64_t offset) {
  PositionRequest request;
  request.recover = true;
  request.epoch = epoch;
  request.offset = offset;
  return request;
}

PositioningLimits Limits() {
  PositioningLimits limits;
  limits.allow_recovery = true;
  limits.max_publications = 500;  // recovery.test.mjs's recovery_max_publications.
  limits.max_recovered_bytes = 1 << 20;
  limits.max_held_bytes = 1 << 20;
  return limits;
}

std::vector<uint64_t> OffsetsOf(const Positioning& positioning) {
  std::vector<uint64_t> offsets;
  for (const auto& publication : positioning.publications())
    offsets.push_back(publication.offset());
  return offsets;
}

std::vector<uint64_t> OffsetsOf(const std::vector<StreamItem>& items) {
  std::vector<uint64_t> offsets;
  for (const StreamItem& item : items) offsets.push_back(item.offset);
  return offsets;
}

control::v1::HistoryRequest RequestOf(const Positioning& positioning) {
  control::v1::HistoryRequest request;
  request.set_channel("chat:x");  // The caller's; kept as is.
  positioning.FillRequest(&request, kPageBytes);
  return request;
}

// Expects the outcome of a recovery that did not succeed: the position is
// still told, without publications.
void ExpectNotRecovered(const Positioning& positioning, const std::string& epoch, uint64_t top) {
  EXPECT_TRUE(positioning.recovering());
  EXPECT_FALSE(positioning.recovered());
  EXPECT_THAT(positioning.publications(), IsEmpty());
  EXPECT_EQ(positioning.epoch(), epoch) << "the reply carries the current position";
  EXPECT_EQ(positioning.top(), top) << "the reply carries the current position";
}

TEST(PositioningTest, FirstRequestAsksForThePositionOnly) {
  Positioning positioning(Recover("e1", 3), Limits());
  control::v1::HistoryRequest request = RequestOf(positioning);
  EXPECT_EQ(request.channel(), "chat:x");
  EXPECT_EQ(request.limit(), 0);
  EXPECT_FALSE(request.has_since());
}

// recovery.test.mjs "a plain subscribe to a channel with history reports its
// position".
TEST(PositioningTest, PlainSubscribeReportsThePosition) {
  Positioning positioning(PositionRequest{}, Limits());
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kDone);
  EXPECT_EQ(positioning.epoch(), "e1");
  EXPECT_EQ(positioning.top(), 3u);
  EXPECT_FALSE(positioning.recovering());
  EXPECT_FALSE(positioning.recovered());
  EXPECT_THAT(positioning.publications(), IsEmpty());
}

// recovery.test.mjs "recovery: namespace without allow_recovery: position
// only".
TEST(PositioningTest, NamespaceWithoutRecoveryTellsThePositionOnly) {
  PositioningLimits limits = Limits();
  limits.allow_recovery = false;
  Positioning positioning(Recover("e1", 2), limits);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kDone);
  EXPECT_FALSE(positioning.recovering()) << "was_recovering stays false";
  EXPECT_FALSE(positioning.recovered());
  EXPECT_THAT(positioning.publications(), IsEmpty());
  EXPECT_EQ(positioning.epoch(), "e1");
  EXPECT_EQ(positioning.top(), 3u);
}

// recovery.test.mjs "recovery: short gap: recovered with exactly the missing
// publications".
TEST(PositioningTest, SameEpochWithinTheCapRecoversExactlyTheMissedPublications) {
  Positioning positioning(Recover("e1", 3), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 5)), Next::kFetch);
  control::v1::HistoryRequest request = RequestOf(positioning);
  EXPECT_EQ(request.since().epoch(), "e1");
  EXPECT_EQ(request.since().offset(), 3u);
  EXPECT_EQ(request.limit(), 2);
  EXPECT_EQ(request.max_bytes(), kPageBytes);
  EXPECT_FALSE(request.reverse());

  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 5, Range(4, 5))), Next::kDone);
  EXPECT_TRUE(positioning.recovering());
  EXPECT_TRUE(positioning.recovered());
  EXPECT_EQ(positioning.epoch(), "e1");
  EXPECT_EQ(positioning.top(), 5u);
  ASSERT_THAT(OffsetsOf(positioning), ElementsAre(4, 5));
  EXPECT_EQ(positioning.publications()[0].data(), DataOf(4)) << "data matches its offset";
  EXPECT_EQ(positioning.publications()[1].data(), DataOf(5));
}

// recovery.test.mjs "recovery: gap larger than history_size: not recovered":
// history was trimmed, its first kept offset is after the client's next one.
TEST(PositioningTest, HistoryTrimmedPastTheClientsOffsetIsNotRecovered) {
  Positioning positioning(Recover("e1", 2), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 9)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 9, Range(5, 9))), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 9);
}

// recovery.test.mjs "recovery: gap older than history_ttl: not recovered":
// nothing is kept any more.
TEST(PositioningTest, ExpiredHistoryIsNotRecovered) {
  Positioning positioning(Recover("e1", 2), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 4)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 4)), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 4);
}

// recovery.test.mjs "recovery: wrong epoch: not recovered".
TEST(PositioningTest, DifferentEpochIsNotRecoveredWithoutFetching) {
  Positioning positioning(Recover("ffffffffffffffff", 2), Limits());
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 3);
}

// recovery.test.mjs "recovery: offset from the future: not recovered".
TEST(PositioningTest, OffsetFromTheFutureIsNotRecovered) {
  Positioning positioning(Recover("e1", 102), Limits());
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 3);
}

// recovery.test.mjs "recovery: empty position: not recovered".
TEST(PositioningTest, EmptyPositionIsNotRecovered) {
  Positioning positioning(Recover("", 0), Limits());
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 3);
}

// gap_repair.test.mjs "a restarted control: clients get recovered=false and
// the new epoch": the SDK resubscribes from its old position into a new
// stream.
TEST(PositioningTest, OldPositionInARestartedStreamIsNotRecoveredAndTellsTheNewEpoch) {
  Positioning positioning(Recover("e1", 3), Limits());
  EXPECT_EQ(positioning.OnAnswer(Answer("e2", 0)), Next::kDone);
  ExpectNotRecovered(positioning, "e2", 0);
}

// recovery.test.mjs "recovery: nothing missed: recovered with no
// publications".
TEST(PositioningTest, NothingMissedIsRecoveredWithoutFetching) {
  Positioning positioning(Recover("e1", 2), Limits());
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 2)), Next::kDone);
  EXPECT_TRUE(positioning.recovering());
  EXPECT_TRUE(positioning.recovered());
  EXPECT_THAT(positioning.publications(), IsEmpty());
  EXPECT_EQ(positioning.top(), 2u);
}

// recovery.test.mjs "recovery: more missed than recovery_max_publications:
// not recovered".
TEST(PositioningTest, MoreMissedThanMaxPublicationsIsNotRecoveredWithoutFetching) {
  Positioning positioning(Recover("e1", 1), Limits());
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 601)), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 601);
}

// recovery.test.mjs "recovery: more missed than recovery_max_publications"
// at its boundary: exactly the cap is still recovered.
TEST(PositioningTest, ExactlyMaxPublicationsMissedIsFetched) {
  Positioning positioning(Recover("e1", 1), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 501)), Next::kFetch);
  EXPECT_EQ(RequestOf(positioning).limit(), 500);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 501, Range(2, 501))), Next::kDone);
  EXPECT_TRUE(positioning.recovered());
  EXPECT_EQ(positioning.publications().size(), 500u);
}

// recovery.test.mjs "recovered and live publications join with no gap and no
// duplicate while publishing": the recovery comes in several pages (`more`),
// each asked from where the last one ended.
TEST(PositioningTest, RecoveryAcrossSeveralPages) {
  Positioning positioning(Recover("e1", 5), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 405)), Next::kFetch);
  for (uint64_t after = 5; after < 405; after += 100) {
    control::v1::HistoryRequest request = RequestOf(positioning);
    EXPECT_EQ(request.since().epoch(), "e1");
    EXPECT_EQ(request.since().offset(), after);
    EXPECT_EQ(request.limit(), static_cast<int32_t>(405 - after));
    bool last = after + 100 == 405;
    // Control's top moves on while the pages are read.
    Next next =
        positioning.OnAnswer(Answer("e1", 405 + after, Range(after + 1, after + 100), !last));
    EXPECT_EQ(next, last ? Next::kDone : Next::kFetch) << after;
  }
  EXPECT_TRUE(positioning.recovered());
  EXPECT_EQ(positioning.top(), 405u) << "the position first told";
  EXPECT_EQ(OffsetsOf(positioning), Range(6, 405));
}

// recovery.test.mjs "recovered and live publications join ...": a page may
// reach past the position (published since); those come live instead.
TEST(PositioningTest, PagePastThePositionStopsAtIt) {
  Positioning positioning(Recover("e1", 0), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 2)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 5, Range(1, 5))), Next::kDone);
  EXPECT_TRUE(positioning.recovered());
  EXPECT_THAT(OffsetsOf(positioning), ElementsAre(1, 2));
}

// recovery.test.mjs "recovered and live publications join with no gap":
// offsets that stop being consecutive mid-page are asked again from there.
TEST(PositioningTest, PageBreakingMidwayIsFetchedAgainFromTheBreak) {
  Positioning positioning(Recover("e1", 0), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 4)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 4, {1, 2, 4})), Next::kFetch);
  EXPECT_EQ(RequestOf(positioning).since().offset(), 2u);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 4, Range(3, 4))), Next::kDone);
  EXPECT_TRUE(positioning.recovered());
  EXPECT_EQ(OffsetsOf(positioning), Range(1, 4));
}

// recovery.test.mjs "recovery: more missed than recovery_max_publications"
// counted in bytes: a recovery larger than the client's queue could never be
// sent, so it is not recovered.
TEST(PositioningTest, RecoveryBeyondTheByteCapIsNotRecovered) {
  // Each publication counts its data plus 32 bytes: 7 + 32 = 39.
  PositioningLimits limits = Limits();
  limits.max_recovered_bytes = 3 * 39 - 1;
  Positioning positioning(Recover("e1", 0), limits);
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kFetch);
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 3, Range(1, 2), true)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 3, Range(3, 3))), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 3);
}

TEST(PositioningTest, RecoveryExactlyAtTheByteCapIsRecovered) {
  PositioningLimits limits = Limits();
  limits.max_recovered_bytes = 3 * 39;
  Positioning positioning(Recover("e1", 0), limits);
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(Answer("e1", 3, Range(1, 3))), Next::kDone);
  EXPECT_TRUE(positioning.recovered());
  EXPECT_EQ(OffsetsOf(positioning), Range(1, 3));
}

// gap_repair.test.mjs "a restarted control ... never recovered across a
// hole": the epoch changed between pages (FAILED_PRECONDITION); what the
// earlier pages brought is dropped.
TEST(PositioningTest, EpochChangedMidwayIsNotRecovered) {
  Positioning positioning(Recover("e1", 0), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 4)), Next::kFetch);
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 4, Range(1, 2), true)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(absl::FailedPreconditionError("unrecoverable position")),
            Next::kDone);
  ExpectNotRecovered(positioning, "e1", 4);
}

// gap_repair.test.mjs "a restarted control ...": a page answered by the new
// stream (another epoch) is not recovered either.
TEST(PositioningTest, PageOfAnotherEpochIsNotRecovered) {
  Positioning positioning(Recover("e1", 0), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 4)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(Answer("e2", 4, Range(1, 4))), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 4);
}

// gap_repair.test.mjs "a broken and restored control link ..." during a
// subscribe: control unreachable mid-recovery subscribes without recovery
// rather than failing.
TEST(PositioningTest, ControlFailingMidwayIsNotRecovered) {
  Positioning positioning(Recover("e1", 0), Limits());
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 4)), Next::kFetch);
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 4, Range(1, 2), true)), Next::kFetch);
  EXPECT_EQ(positioning.OnAnswer(absl::UnavailableError("control gone")), Next::kDone);
  ExpectNotRecovered(positioning, "e1", 4);
}

// gap_repair.test.mjs "a broken and restored control link ..." during a
// subscribe: without the position the subscribe fails (temporarily).
TEST(PositioningTest, PositionAnswerFailingFails) {
  Positioning positioning(Recover("e1", 2), Limits());
  EXPECT_EQ(positioning.OnAnswer(absl::UnavailableError("control gone")), Next::kFailed);
  EXPECT_EQ(positioning.failure().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(positioning.failure().message(), "control gone");
  EXPECT_FALSE(positioning.recovered());
  EXPECT_THAT(positioning.publications(), IsEmpty());
  EXPECT_FALSE(RequestOf(positioning).has_since()) << "still the position only";
}

// recovery.test.mjs "recovered and live publications join with no gap and no
// duplicate while publishing": live publications held meanwhile go out only
// when newer than the position, each once, in order.
TEST(PositioningTest, LivePublicationsHeldMeanwhileAreMergedAfterThePosition) {
  Positioning positioning(Recover("e1", 5), Limits());
  EXPECT_TRUE(positioning.Hold(6, LiveFrame(6)));  // Before the position: recovered.
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 8)), Next::kFetch);
  EXPECT_TRUE(positioning.Hold(7, LiveFrame(7)));
  EXPECT_TRUE(positioning.Hold(9, LiveFrame(9)));
  EXPECT_TRUE(positioning.Hold(9, LiveFrame(9)));
  EXPECT_TRUE(positioning.Hold(8, LiveFrame(8)));
  EXPECT_TRUE(positioning.Hold(10, LiveFrame(10)));
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 10, Range(6, 10))), Next::kDone);
  EXPECT_THAT(OffsetsOf(positioning), ElementsAre(6, 7, 8));

  std::vector<StreamItem> newer = positioning.TakeNewer();
  EXPECT_THAT(OffsetsOf(newer), ElementsAre(9, 10));
  ASSERT_EQ(newer.size(), 2u);
  EXPECT_EQ(newer[0].push->data(), "live9");
  EXPECT_EQ(newer[1].push->data(), "live10");
  EXPECT_THAT(positioning.TakeNewer(), IsEmpty()) << "taken once";
}

// recovery.test.mjs "a plain subscribe to a channel with history reports its
// position", with publishing going on: the subscriber gets what is newer
// than the position it was told.
TEST(PositioningTest, LivePublicationsNewerThanThePositionFollowAPlainSubscribe) {
  Positioning positioning(PositionRequest{}, Limits());
  EXPECT_TRUE(positioning.Hold(3, LiveFrame(3)));
  EXPECT_TRUE(positioning.Hold(4, LiveFrame(4)));
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kDone);
  EXPECT_THAT(OffsetsOf(positioning.TakeNewer()), ElementsAre(4));
}

// recovery.test.mjs "recovery: ... not recovered" with publishing going on:
// live publications after the position still reach the subscriber.
TEST(PositioningTest, LivePublicationsFollowAFailedRecovery) {
  Positioning positioning(Recover("other", 1), Limits());
  EXPECT_TRUE(positioning.Hold(4, LiveFrame(4)));
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kDone);
  EXPECT_FALSE(positioning.recovered());
  EXPECT_THAT(OffsetsOf(positioning.TakeNewer()), ElementsAre(4));
}

// recovery.test.mjs "recovered and live publications join ..." when the
// subscriber cannot keep up: past the bound Hold() says so.
TEST(PositioningTest, HoldBeyondTheBoundFails) {
  PositioningLimits limits = Limits();
  limits.max_held_bytes = 10 + 2 * PublicationPush::kEnvelopeBytes;
  Positioning positioning(Recover("e1", 0), limits);
  EXPECT_TRUE(positioning.Hold(1, MakeFrame("aaaa")));
  EXPECT_TRUE(positioning.Hold(2, MakeFrame("bbbbbb")));  // Exactly the bound.
  EXPECT_FALSE(positioning.Hold(3, MakeFrame("c")));
}

// gap_repair.test.mjs "a restarted control": live publications of the new
// stream held while the old position is told are not delivered under it.
TEST(PositioningTest, HeldPublicationsOfAnotherEpochAreDropped) {
  Positioning positioning(PositionRequest{}, Limits());
  EXPECT_TRUE(positioning.Hold(4, "e1", MakeFrame("old-4")));
  EXPECT_TRUE(positioning.Hold(1, "e2", MakeFrame("new-1")));
  EXPECT_TRUE(positioning.Hold(5, "e1", MakeFrame("old-5")));
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", 3)), Next::kDone);
  std::vector<StreamItem> newer = positioning.TakeNewer();
  ASSERT_EQ(newer.size(), 2u);
  EXPECT_EQ(newer[0].push->data(), "old-4");
  EXPECT_EQ(newer[1].push->data(), "old-5");
}

TEST(PositioningTest, PageLimitIsClampedToInt32) {
  PositioningLimits limits = Limits();
  limits.max_publications = std::numeric_limits<uint64_t>::max();
  Positioning positioning(Recover("e1", 0), limits);
  ASSERT_EQ(positioning.OnAnswer(Answer("e1", uint64_t{1} << 40)), Next::kFetch);
  EXPECT_EQ(RequestOf(positioning).limit(), std::numeric_limits<int32_t>::max());
}

}  // namespace
}  // namespace wirehub::edge
