#include "edge/stream_tracker.h"

#include <utility>

namespace wirehub::edge {

void StreamTracker::Position(const std::string& epoch, uint64_t offset) {
  if (positioned()) return;
  epoch_ = epoch;
  last_offset_ = offset;
}

StreamTracker::Live StreamTracker::OnLive(uint64_t offset, const std::string& epoch,
                                          const SharedPublication& push) {
  if (!positioned()) return Live::kUntracked;
  if (epoch != epoch_) return Live::kReset;
  if (repairing_) {
    Hold(offset, push);
    return Live::kHeld;
  }
  if (offset > last_offset_ + 1) {
    repairing_ = true;
    repaired_ = 0;
    Hold(offset, push);
    return Live::kRepair;
  }
  if (offset > last_offset_) last_offset_ = offset;
  return Live::kDeliver;
}

bool StreamTracker::BeginRepair() {
  if (!positioned() || repairing_) return false;
  repairing_ = true;
  repaired_ = 0;
  return true;
}

void StreamTracker::Hold(uint64_t offset, const SharedPublication& push) {
  // Past the bound the tail is dropped: the repair does not reach it, and
  // the next live publication finds that hole and repairs it.
  if (held_bytes_ + push->bytes() > max_held_bytes_) return;
  held_bytes_ += push->bytes();
  held_.push_back(StreamItem{offset, push});
}

bool StreamTracker::TakeHeldInOrder(std::vector<StreamItem>* out) {
  size_t i = 0;
  for (; i < held_.size(); ++i) {
    uint64_t offset = held_[i].offset;
    if (offset <= last_offset_) continue;  // The repair already brought it.
    if (offset > last_offset_ + 1) break;
    last_offset_ = offset;
    out->push_back(std::move(held_[i]));
  }
  held_.erase(held_.begin(), held_.begin() + i);
  held_bytes_ = 0;
  for (const StreamItem& item : held_) held_bytes_ += item.push->bytes();
  return !held_.empty();
}

StreamTracker::RepairStep StreamTracker::OnRepairItems(const absl::Status& status,
                                                       const std::string& epoch, uint64_t top,
                                                       std::vector<StreamItem> items, bool more) {
  RepairStep step;
  if (!status.ok() && !absl::IsFailedPrecondition(status)) {
    // Control unreachable or slow: the subscribers stay (dropping them all
    // at once would only move the load to their resubscribes), what is held
    // right after the position goes out, and what lies beyond the hole
    // stays held until a later repair fills it. Delivering past the hole
    // would hand clients offset N+k after N with nothing said.
    repairing_ = false;
    TakeHeldInOrder(&step.deliver);
    step.kind = RepairStep::Kind::kRetryLater;
    return step;
  }
  // Another epoch (FAILED_PRECONDITION: our position is not in the stream
  // any more), a hole larger than recovery may fill, or history that no
  // longer reaches back to the hole (kept offsets are consecutive).
  bool repairable =
      status.ok() && epoch == epoch_ && top >= last_offset_ && top - last_offset_ <= max_gap_;
  if (repairable && top > last_offset_) {
    repairable = !items.empty() && items.front().offset == last_offset_ + 1;
  }
  if (!repairable) {
    Reset();
    step.kind = RepairStep::Kind::kReset;
    return step;
  }
  for (StreamItem& item : items) {
    if (item.offset <= last_offset_) continue;
    if (item.offset != last_offset_ + 1) break;  // Not consecutive: fetch again from here.
    last_offset_ = item.offset;
    ++repaired_;
    step.deliver.push_back(std::move(item));
  }
  if (more && last_offset_ < top) {
    step.kind = RepairStep::Kind::kFetchMore;
    return step;
  }
  if (TakeHeldInOrder(&step.deliver)) {
    // Another hole behind the repaired one (the link dropped again).
    step.kind = RepairStep::Kind::kFetchMore;
    return step;
  }
  repairing_ = false;
  step.kind = RepairStep::Kind::kDone;
  return step;
}

void StreamTracker::Reset() {
  epoch_.clear();
  last_offset_ = 0;
  repairing_ = false;
  held_.clear();
  held_bytes_ = 0;
}

}  // namespace wirehub::edge
