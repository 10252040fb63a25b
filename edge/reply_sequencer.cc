#include "edge/reply_sequencer.h"

#include <utility>

namespace wirehub::edge {

ReplySequencer::Ticket ReplySequencer::Reserve() {
  Slot slot;
  slot.ticket = next_ticket_++;
  slot.filled = false;
  slots_.push_back(std::move(slot));
  ++reserved_;
  return slots_.back().ticket;
}

bool ReplySequencer::Pass(Frame frame) {
  if (empty()) return true;
  held_bytes_ += frame->size();
  // Consecutive frames behind the same reservation share one slot.
  if (slots_.back().ticket == 0) {
    slots_.back().frames.push_back(std::move(frame));
  } else {
    Slot slot;
    slot.frames.push_back(std::move(frame));
    slots_.push_back(std::move(slot));
  }
  return false;
}

void ReplySequencer::Fill(Ticket ticket, std::vector<Frame> frames) {
  for (size_t i = head_; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (slot.ticket != ticket) continue;
    if (slot.filled) return;
    slot.filled = true;
    for (const Frame& frame : frames) held_bytes_ += frame->size();
    slot.frames = std::move(frames);
    return;
  }
}

void ReplySequencer::Release(std::vector<Frame>* out) {
  while (head_ < slots_.size() && slots_[head_].filled) {
    Slot& slot = slots_[head_];
    for (Frame& frame : slot.frames) {
      held_bytes_ -= frame->size();
      out->push_back(std::move(frame));
    }
    if (slot.ticket != 0) --reserved_;
    ++head_;
  }
  if (head_ == slots_.size()) {
    // Drained: give the memory back; an idle connection holds none.
    std::vector<Slot>().swap(slots_);
    head_ = 0;
  } else if (head_ >= 64 && head_ * 2 >= slots_.size()) {
    slots_.erase(slots_.begin(), slots_.begin() + static_cast<ptrdiff_t>(head_));
    head_ = 0;
  }
}

}  // namespace wirehub::edge
