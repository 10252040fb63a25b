#include "control/channel_stream.h"

#include <algorithm>
#include <utility>

namespace wirehub::control {
namespace {

// Rough per-entry overhead beyond the payload (deque slot, shared_ptr
// control block, protobuf object), so Stats reflects real memory use.
constexpr size_t kEntryOverheadBytes = 128;
constexpr size_t kKeyOverheadBytes = 64;
// Keys remembered per channel at most; past that the oldest are forgotten
// early (a producer that needs more should use fewer, longer-lived keys).
constexpr size_t kMaxIdempotencyKeys = 100000;

}  // namespace

void ChannelStream::Remember(std::shared_ptr<const edge::v1::Publication> publication,
                             absl::Time now, const HistoryPolicy& policy) {
  if (policy.max_size == 0 || policy.ttl <= absl::ZeroDuration()) return;
  size_t bytes = publication->data().size() + publication->channel().size() + epoch_.size() +
                 kEntryOverheadBytes;
  uint64_t offset = publication->offset();
  history_.push_back(Entry{offset, now, std::move(publication), bytes});
  history_bytes_ += bytes;
  Evict(now, policy, absl::InfiniteDuration());
}

void ChannelStream::Evict(absl::Time now, const HistoryPolicy& policy,
                          absl::Duration idempotency_window) {
  while (!history_.empty() &&
         (history_.size() > policy.max_size || now - history_.front().time >= policy.ttl)) {
    history_bytes_ -= history_.front().bytes;
    history_.pop_front();
  }
  while (!idempotency_order_.empty()) {
    auto it = idempotency_.find(idempotency_order_.front());
    if (it != idempotency_.end() && now - it->second.time < idempotency_window) break;
    if (it != idempotency_.end()) {
      idempotency_bytes_ -= it->first.size() + kKeyOverheadBytes;
      idempotency_.erase(it);
    }
    idempotency_order_.pop_front();
  }
}

HistoryRead ChannelStream::Read(uint64_t after_offset, int64_t limit, bool reverse) const {
  HistoryRead read;
  read.epoch = epoch_;
  read.top_offset = top_offset_;
  if (limit == 0) return read;
  // Offsets in history are consecutive, so the start is found by arithmetic.
  size_t first = 0;
  if (!history_.empty() && after_offset >= history_.front().offset) {
    first =
        std::min(history_.size(), static_cast<size_t>(after_offset - history_.front().offset + 1));
  }
  size_t available = history_.size() - first;
  size_t count = limit < 0 ? available : std::min(available, static_cast<size_t>(limit));
  read.publications.reserve(count);
  if (reverse) {
    for (size_t i = 0; i < count; ++i) {
      read.publications.push_back(history_[history_.size() - 1 - i].publication);
    }
  } else {
    for (size_t i = 0; i < count; ++i) read.publications.push_back(history_[first + i].publication);
  }
  return read;
}

std::optional<uint64_t> ChannelStream::FindIdempotencyKey(const std::string& key) const {
  auto it = idempotency_.find(key);
  if (it == idempotency_.end()) return std::nullopt;
  return it->second.offset;
}

void ChannelStream::RememberIdempotencyKey(const std::string& key, uint64_t offset,
                                           absl::Time now) {
  auto [it, inserted] = idempotency_.try_emplace(key, KeyEntry{offset, now});
  if (!inserted) return;
  idempotency_order_.push_back(key);
  idempotency_bytes_ += key.size() + kKeyOverheadBytes;
  while (idempotency_order_.size() > kMaxIdempotencyKeys) {
    auto oldest = idempotency_.find(idempotency_order_.front());
    if (oldest != idempotency_.end()) {
      idempotency_bytes_ -= oldest->first.size() + kKeyOverheadBytes;
      idempotency_.erase(oldest);
    }
    idempotency_order_.pop_front();
  }
}

}  // namespace wirehub::control
