#include "edge/outbound_queue.h"

#include <utility>

namespace wirehub::edge {

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
  while (!frames_.empty()) {
    const std::string& next = *frames_.front();
    size_t cost = next.size() + (taken > 0 ? 1 : 0);
    if (taken > 0 && appended + cost > max_batch_bytes) break;
    if (taken > 0) out->push_back('\n');
    out->append(next);
    appended += cost;
    bytes_ -= next.size();
    frames_.pop_front();
    ++taken;
  }
  return taken;
}

void OutboundQueue::Clear() {
  frames_.clear();
  bytes_ = 0;
}

}  // namespace wirehub::edge
