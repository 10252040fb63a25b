// ReplySequencer: a connection's output in the order its commands came.
#ifndef WIREHUB_EDGE_REPLY_SEQUENCER_H_
#define WIREHUB_EDGE_REPLY_SEQUENCER_H_

#include <cstddef>
#include <cstdint>
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
  size_t reserved() const { return reserved_; }
  // Bytes of held frames (counted against the connection's queue bound).
  size_t held_bytes() const { return held_bytes_; }
  bool empty() const { return head_ == slots_.size(); }

 private:
  struct Slot {
    Ticket ticket = 0;  // 0: a frame sent in order, not a reservation.
    bool filled = true;
    std::vector<Frame> frames;
  };
  // slots_[head_..] wait. A vector rather than a deque: every connection
  // has a sequencer, and libstdc++'s deque allocates ~600 bytes when
  // constructed (measured: +760 B RSS per idle connection at 15k).
  std::vector<Slot> slots_;
  size_t head_ = 0;
  Ticket next_ticket_ = 1;
  size_t reserved_ = 0;
  size_t held_bytes_ = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_REPLY_SEQUENCER_H_
