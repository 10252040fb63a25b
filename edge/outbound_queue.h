// OutboundQueue: what waits to be written to one WebSocket client.
#ifndef WIREHUB_EDGE_OUTBOUND_QUEUE_H_
#define WIREHUB_EDGE_OUTBOUND_QUEUE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace wirehub::edge {

// An encoded message shared by every connection it goes to.
using Frame = std::shared_ptr<const std::string>;

// OutboundQueue holds encoded protocol messages for one connection, bounded
// by their total size, and drains them coalesced into newline-joined
// batches (the JSON protocol's multi-message frame).
// Thread: edge loop only.
class OutboundQueue {
 public:
  // Push()
  //
  // Queues `frame`. Returns false, queueing nothing, when the queue would
  // then hold more than `max_bytes`: the connection is too slow and must be
  // closed. (The bound is the transport's, the same for every connection,
  // so the queue does not keep a copy.)
  bool Push(Frame frame, size_t max_bytes);

  // DrainInto()
  //
  // Appends queued messages to `out`, separated by '\n' when `newline` (the
  // JSON form's line framing; protobuf messages carry their own length),
  // removing them from the queue, until the queue is empty or adding the
  // next one would take the appended size past `max_batch_bytes` (at least
  // one message is always taken). Returns the number of messages taken.
  size_t DrainInto(size_t max_batch_bytes, std::string* out, bool newline = true);

  void Clear();
  bool empty() const { return first_ == nullptr; }
  size_t size() const { return first_ == nullptr ? 0 : 1 + (rest_.size() - head_); }
  size_t bytes() const { return bytes_; }

 private:
  // Moves the next waiting frame, if any, into first_.
  void Advance();

  // The oldest frame, held in place; null exactly when the queue is empty.
  // Most connections hold one frame at a time (a reply, this turn's
  // publication), which then needs no allocation, and an idle one holds
  // none: at 10k connections a vector's smallest allocation here was 32 B
  // of RSS per connection.
  Frame first_;
  // The frames after first_: rest_[head_..]. A vector rather than a deque:
  // libstdc++'s deque allocates ~600 bytes when constructed.
  std::vector<Frame> rest_;
  size_t bytes_ = 0;
  size_t head_ = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_OUTBOUND_QUEUE_H_
