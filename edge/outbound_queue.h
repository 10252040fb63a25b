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
  explicit OutboundQueue(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Push()
  //
  // Queues `frame`. Returns false, queueing nothing, when the queue would
  // exceed its byte bound: the connection is too slow and must be closed.
  bool Push(Frame frame);

  // DrainInto()
  //
  // Appends queued messages to `out`, separated by '\n', removing them from
  // the queue, until the queue is empty or adding the next one would take the
  // appended size past `max_batch_bytes` (at least one message is always
  // taken). Returns the number of messages taken.
  size_t DrainInto(size_t max_batch_bytes, std::string* out);

  void Clear();
  bool empty() const { return head_ == frames_.size(); }
  size_t size() const { return frames_.size() - head_; }
  size_t bytes() const { return bytes_; }

 private:
  const size_t max_bytes_;
  size_t bytes_ = 0;
  // frames_[head_..] wait. A vector rather than a deque: an idle
  // connection's queue then allocates nothing (libstdc++'s deque allocates
  // ~600 bytes when constructed), and at 15k connections that is most of
  // the edge's memory.
  std::vector<Frame> frames_;
  size_t head_ = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_OUTBOUND_QUEUE_H_
