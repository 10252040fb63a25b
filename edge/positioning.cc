#include "edge/positioning.h"

#include <algorithm>
#include <utility>

namespace wirehub::edge {

void Positioning::FillRequest(control::v1::HistoryRequest* request, uint32_t page_bytes) const {
  request->clear_since();
  if (!have_position_) {
    request->set_limit(0);  // The position only.
    return;
  }
  request->mutable_since()->set_epoch(epoch_);
  request->mutable_since()->set_offset(next_after_);
  request->set_limit(static_cast<int32_t>(std::min<uint64_t>(top_ - next_after_, INT32_MAX)));
  request->set_max_bytes(page_bytes);
}

Positioning::Next Positioning::Finish(bool recovered) {
  recovered_ = recovered;
  if (!recovered) publications_.clear();
  return Next::kDone;
}

Positioning::Next Positioning::OnAnswer(absl::StatusOr<control::v1::HistoryResponse> answer) {
  if (!have_position_) {
    if (!answer.ok()) {
      failure_ = answer.status();
      return Next::kFailed;
    }
    have_position_ = true;
    epoch_ = answer->epoch();
    top_ = answer->offset();
    recovering_ = request_.recover && limits_.allow_recovery;
    if (!recovering_) return Next::kDone;
    // Recovered only when every publication after the client's offset can
    // be returned: same epoch, not from the future, within the cap.
    if (request_.epoch != epoch_ || request_.offset > top_) return Finish(false);
    if (request_.offset == top_) return Finish(true);
    if (top_ - request_.offset > limits_.max_publications) return Finish(false);
    next_after_ = request_.offset;
    return Next::kFetch;
  }
  // A page of the recovery. FAILED_PRECONDITION: the epoch changed since
  // the position; anything else: control failed. Either way the client
  // subscribes without recovery rather than failing.
  if (!answer.ok() || answer->epoch() != epoch_) return Finish(false);
  if (answer->publications_size() == 0 || answer->publications(0).offset() != next_after_ + 1) {
    return Finish(false);  // History no longer reaches back that far.
  }
  for (control::v1::HistoryPublication& publication : *answer->mutable_publications()) {
    if (publication.offset() != next_after_ + 1 || publication.offset() > top_) break;
    recovered_bytes_ += publication.data().size() + 32;
    if (recovered_bytes_ > limits_.max_recovered_bytes) return Finish(false);
    next_after_ = publication.offset();
    publications_.push_back(std::move(publication));
  }
  if (next_after_ >= top_) return Finish(true);
  return Next::kFetch;
}

bool Positioning::Hold(uint64_t offset, std::string epoch, SharedPublication push) {
  held_bytes_ += push->bytes();
  if (held_bytes_ > limits_.max_held_bytes) return false;
  held_.push_back(HeldItem{StreamItem{offset, std::move(push)}, std::move(epoch)});
  return true;
}

std::vector<StreamItem> Positioning::TakeNewer() {
  std::vector<StreamItem> newer;
  uint64_t delivered = top_;
  for (HeldItem& held : held_) {
    if (!held.epoch.empty() && held.epoch != epoch_) continue;
    if (held.item.offset <= delivered) continue;
    delivered = held.item.offset;
    newer.push_back(std::move(held.item));
  }
  held_.clear();
  held_bytes_ = 0;
  return newer;
}

}  // namespace wirehub::edge
