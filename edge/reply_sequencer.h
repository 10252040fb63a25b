// ReplySequencer: a connection's output in the order its commands came.
#ifndef WIREHUB_EDGE_REPLY_SEQUENCER_H_
#define WIREHUB_EDGE_REPLY_SEQUENCER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "edge/outbound_queue.h"

namespace wirehub::edge {

// ReplySequencer keeps one connection's output in order while some replies
// wait for control: a command answered later reserves its place, and
// everything sent after it (other replies, pushes) waits behind that place
// until it is filled. With nothing reserved, output passes straight through
// and the sequencer holds and allocates nothing.
// Thread: edge loop only.
class ReplySequencer {
 public:
  using Ticket = uint64_t;

  // Reserves the next place in the output for a reply to come.
  Ticket Reserve();
  // Whether `frame` may go out now. If not, it is held behind the
  // reservations (Release() hands it out in order).
  bool Pass(Frame frame);
  // Fills a reservation with the frames that answer it (possibly none).
  // Unknown or already filled tickets are ignored.
  void Fill(Ticket ticket, std::vector<Frame> frames);
  // Appends to `out` everything now free to go, in order: the held output
  // up to the first reservation still unfilled.
  void Release(std::vector<Frame>* out);

  // Reservations not yet released.
  size_t reserved() const { return held_ != nullptr ? held_->reserved : 0; }
  // Bytes of held frames (counted against the connection's queue bound).
  size_t held_bytes() const { return held_ != nullptr ? held_->held_bytes : 0; }
  bool empty() const { return held_ == nullptr; }

 private:
  struct Slot {
    Ticket ticket = 0;  // 0: a frame sent in order, not a reservation.
    bool filled = true;
    std::vector<Frame> frames;
  };
  // What waits behind reservations: slots[head..].
  struct Held {
    // A vector rather than a deque: libstdc++'s deque allocates ~600 bytes
    // when constructed.
    std::vector<Slot> slots;
    size_t head = 0;
    size_t reserved = 0;
    size_t held_bytes = 0;
  };
  // Allocated by a reservation, freed once everything was released: every
  // connection has a sequencer and most have nothing reserved, so an idle
  // one holds 16 bytes (this and the next ticket) instead of 56.
  std::unique_ptr<Held> held_;
  Ticket next_ticket_ = 1;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_REPLY_SEQUENCER_H_
