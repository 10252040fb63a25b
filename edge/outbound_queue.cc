#include "edge/outbound_queue.h"

#include <cstddef>
#include <utility>

namespace wirehub::edge {
namespace {

// Slots a drained queue keeps for the next messages.
constexpr size_t kKeptCapacity = 8;

}  // namespace

bool OutboundQueue::Push(Frame frame) {
  size_t size = frame->size();
  if (bytes_ + size > max_bytes_) return false;
  bytes_ += size;
  frames_.push_back(std::move(frame));
  return true;
}

size_t OutboundQueue::DrainInto(size_t max_batch_bytes, std::string* out) {
  size_t taken = 0;
  size_t appended = 0;
  while (head_ < frames_.size()) {
    const std::string& next = *frames_[head_];
    size_t cost = next.size() + (taken > 0 ? 1 : 0);
    if (taken > 0 && appended + cost > max_batch_bytes) break;
    if (taken > 0) out->push_back('\n');
    out->append(next);
    appended += cost;
    bytes_ -= next.size();
    frames_[head_++].reset();
    ++taken;
  }
  if (head_ == frames_.size()) {
    // Drained: start over at the front. A queue that once held a burst gives
    // its memory back rather than keeping it per connection.
    head_ = 0;
    if (frames_.capacity() > kKeptCapacity) {
      std::vector<Frame>().swap(frames_);
    } else {
      frames_.clear();
    }
  } else if (head_ > kKeptCapacity && head_ * 2 > frames_.size()) {
    // A queue that never drains (a slow reader) must not grow by its dead
    // slots: drop them once they are the majority, amortized O(1) per frame.
    frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  return taken;
}

void OutboundQueue::Clear() {
  std::vector<Frame>().swap(frames_);
  head_ = 0;
  bytes_ = 0;
}

}  // namespace wirehub::edge
