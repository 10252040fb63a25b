// OutboundQueue: what waits to be written to one WebSocket client.
#ifndef WIREHUB_EDGE_OUTBOUND_QUEUE_H_
#define WIREHUB_EDGE_OUTBOUND_QUEUE_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <string>

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
  bool empty() const { return frames_.empty(); }
  size_t size() const { return frames_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  const size_t max_bytes_;
  size_t bytes_ = 0;
  std::deque<Frame> frames_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_OUTBOUND_QUEUE_H_
