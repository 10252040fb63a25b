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
  if (slots_.empty()) return true;
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
  if (slots_.empty()) return;
  for (Slot& slot : slots_) {
    if (slot.ticket != ticket) continue;
    if (slot.filled) return;
    slot.filled = true;
    for (const Frame& frame : frames) held_bytes_ += frame->size();
    slot.frames = std::move(frames);
    return;
  }
}

void ReplySequencer::Release(std::vector<Frame>* out) {
  while (!slots_.empty() && slots_.front().filled) {
    Slot& slot = slots_.front();
    for (Frame& frame : slot.frames) {
      held_bytes_ -= frame->size();
      out->push_back(std::move(frame));
    }
    if (slot.ticket != 0) --reserved_;
    slots_.pop_front();
  }
}

}  // namespace wirehub::edge
