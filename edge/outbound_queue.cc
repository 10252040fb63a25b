#include "edge/outbound_queue.h"

#include <cstddef>
#include <utility>

namespace wirehub::edge {
namespace {

// Slots a drained queue keeps for the next burst.
constexpr size_t kKeptCapacity = 8;

}  // namespace

bool OutboundQueue::Push(Frame frame, size_t max_bytes) {
  size_t size = frame->size();
  if (bytes_ + size > max_bytes) return false;
  bytes_ += size;
  // The order is first_, then rest_[head_..]: a frame goes in place only
  // when nothing waits.
  if (first_ == nullptr) {
    first_ = std::move(frame);
  } else {
    rest_.push_back(std::move(frame));
  }
  return true;
}

void OutboundQueue::Advance() {
  if (head_ < rest_.size()) {
    first_ = std::move(rest_[head_++]);
  } else {
    first_.reset();
  }
}

size_t OutboundQueue::DrainInto(size_t max_batch_bytes, std::string* out, bool newline) {
  size_t taken = 0;
  size_t appended = 0;
  while (first_ != nullptr) {
    const std::string& next = *first_;
    bool separated = newline && taken > 0;
    size_t cost = next.size() + (separated ? 1 : 0);
    if (taken > 0 && appended + cost > max_batch_bytes) break;
    if (separated) out->push_back('\n');
    out->append(next);
    appended += cost;
    bytes_ -= next.size();
    Advance();
    ++taken;
  }
  if (head_ == rest_.size()) {
    // Everything behind first_ went: start over at the front. A queue that
    // once held a burst gives its memory back rather than keeping it per
    // connection.
    head_ = 0;
    if (rest_.capacity() > kKeptCapacity) {
      std::vector<Frame>().swap(rest_);
    } else {
      rest_.clear();
    }
  } else if (head_ > kKeptCapacity && head_ * 2 > rest_.size()) {
    // A queue that never drains (a slow reader) must not grow by its dead
    // slots: drop them once they are the majority, amortized O(1) per frame.
    rest_.erase(rest_.begin(), rest_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  return taken;
}

void OutboundQueue::Clear() {
  first_.reset();
  std::vector<Frame>().swap(rest_);
  head_ = 0;
  bytes_ = 0;
}

}  // namespace wirehub::edge
