#include "edge/reply_sequencer.h"

#include <memory>
#include <utility>

namespace wirehub::edge {

ReplySequencer::Ticket ReplySequencer::Reserve() {
  if (held_ == nullptr) held_ = std::make_unique<Held>();
  Slot slot;
  slot.ticket = next_ticket_++;
  slot.filled = false;
  held_->slots.push_back(std::move(slot));
  ++held_->reserved;
  return held_->slots.back().ticket;
}

bool ReplySequencer::Pass(Frame frame) {
  if (held_ == nullptr) return true;
  held_->held_bytes += frame->size();
  // Consecutive frames behind the same reservation share one slot.
  std::vector<Slot>& slots = held_->slots;
  if (slots.back().ticket == 0) {
    slots.back().frames.push_back(std::move(frame));
  } else {
    Slot slot;
    slot.frames.push_back(std::move(frame));
    slots.push_back(std::move(slot));
  }
  return false;
}

void ReplySequencer::Fill(Ticket ticket, std::vector<Frame> frames) {
  if (held_ == nullptr) return;
  for (size_t i = held_->head; i < held_->slots.size(); ++i) {
    Slot& slot = held_->slots[i];
    if (slot.ticket != ticket) continue;
    if (slot.filled) return;
    slot.filled = true;
    for (const Frame& frame : frames) held_->held_bytes += frame->size();
    slot.frames = std::move(frames);
    return;
  }
}

void ReplySequencer::Release(std::vector<Frame>* out) {
  if (held_ == nullptr) return;
  Held& held = *held_;
  while (held.head < held.slots.size() && held.slots[held.head].filled) {
    Slot& slot = held.slots[held.head];
    for (Frame& frame : slot.frames) {
      held.held_bytes -= frame->size();
      out->push_back(std::move(frame));
    }
    if (slot.ticket != 0) --held.reserved;
    ++held.head;
  }
  if (held.head == held.slots.size()) {
    // Drained: give the memory back; an idle connection holds none.
    held_.reset();
  } else if (held.head >= 64 && held.head * 2 >= held.slots.size()) {
    held.slots.erase(held.slots.begin(), held.slots.begin() + static_cast<ptrdiff_t>(held.head));
    held.head = 0;
  }
}

}  // namespace wirehub::edge
