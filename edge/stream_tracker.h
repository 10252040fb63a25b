// StreamTracker: where a channel's stream stands at this edge, and the gap
// repairs that keep its subscribers whole.
#ifndef WIREHUB_EDGE_STREAM_TRACKER_H_
#define WIREHUB_EDGE_STREAM_TRACKER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "edge/publication_push.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::edge {

// One publication of a stream: its offset and its push.
struct StreamItem {
  uint64_t offset = 0;
  SharedPublication push;
};

// StreamTracker follows the live publications of one channel with history
// and decides, for each, whether it is delivered, held while a hole before
// it is repaired from control's history, or whether the stream changed
// under us (new epoch) and the channel's subscribers must start over.
// Pure logic: the caller does the fetching and the delivering.
// Thread: edge loop only.
class StreamTracker {
 public:
  // `max_held_bytes` bounds publications held during a repair; past it they
  // are dropped (a later one finds the hole again). `max_gap`: a hole of
  // more publications is not repaired; the channel resets instead.
  StreamTracker(size_t max_held_bytes, uint64_t max_gap)
      : max_held_bytes_(max_held_bytes), max_gap_(max_gap) {}

  // Empty until the first subscriber learned the stream's position.
  const std::string& epoch() const { return epoch_; }
  uint64_t last_offset() const { return last_offset_; }
  bool repairing() const { return repairing_; }
  bool positioned() const { return !epoch_.empty(); }

  // The stream position of the channel's first positioned subscriber; a
  // tracker already positioned keeps its own.
  void Position(const std::string& epoch, uint64_t offset);

  enum class Live {
    kUntracked,  // Not positioned yet: deliver to every subscriber as is.
    kDeliver,    // Next in order: deliver (last_offset() advanced).
    kHeld,       // Held until the repair in flight fills the hole before it.
    kRepair,     // Held; a hole before it: fetch from last_offset() on.
    kReset,      // Another epoch: every subscriber must resubscribe.
  };
  Live OnLive(uint64_t offset, const std::string& epoch, const SharedPublication& push);

  // After the link to control came back: whatever was published meanwhile
  // is missing. True when the caller should fetch from last_offset().
  bool BeginRepair();

  struct RepairStep {
    enum class Kind {
      kFetchMore,   // Deliver `deliver`, then fetch again from last_offset().
      kDone,        // Deliver `deliver`; the stream is whole again.
      kRetryLater,  // Control failed: deliver `deliver` (what is held in
                    // order after the position); what lies past the hole
                    // stays held (holding()) for the next repair.
      kReset,       // Not repairable: the subscribers start over.
    };
    Kind kind = Kind::kDone;
    std::vector<StreamItem> deliver;
  };
  // One page of history after last_offset() (`encode` turns a kept
  // publication into its push).
  template <typename Encode>
  RepairStep OnRepairPage(const absl::StatusOr<control::v1::HistoryResponse>& page, Encode encode) {
    std::vector<StreamItem> items;
    if (page.ok()) {
      items.reserve(page->publications_size());
      for (const auto& publication : page->publications()) {
        items.push_back(StreamItem{publication.offset(), encode(publication)});
      }
    }
    return OnRepairItems(page.status(), page.ok() ? page->epoch() : std::string(),
                         page.ok() ? page->offset() : 0, std::move(items),
                         page.ok() && page->more());
  }
  RepairStep OnRepairItems(const absl::Status& status, const std::string& epoch, uint64_t top,
                           std::vector<StreamItem> items, bool more);

  // Forgets the position and anything held.
  void Reset();

  size_t held_bytes() const { return held_bytes_; }
  // Publications held past a hole, waiting for a repair.
  bool holding() const { return !held_.empty(); }
  // Publications from history the current (or last) repair delivered.
  uint64_t repaired() const { return repaired_; }

 private:
  void Hold(uint64_t offset, const SharedPublication& push);
  // Moves what is held and now in order to `out`; true when another hole
  // remains before the rest.
  bool TakeHeldInOrder(std::vector<StreamItem>* out);

  const size_t max_held_bytes_;
  const uint64_t max_gap_;
  std::string epoch_;
  uint64_t last_offset_ = 0;
  bool repairing_ = false;
  uint64_t repaired_ = 0;
  std::vector<StreamItem> held_;
  size_t held_bytes_ = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_STREAM_TRACKER_H_
