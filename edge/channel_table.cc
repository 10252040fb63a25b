#include "edge/channel_table.h"

#include <utility>

namespace wirehub::edge {

ChannelEntry* ChannelTable::Find(const std::string& key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

ChannelEntry* ChannelTable::FindOrCreate(
    const std::string& key, std::shared_ptr<const config::v1::NamespaceOptions> options,
    bool* created) {
  auto [it, inserted] = entries_.try_emplace(key);
  *created = inserted;
  if (inserted) it->second.options = std::move(options);
  return &it->second;
}

void ChannelTable::AwaitAck(uint64_t seq, const std::string& key) {
  awaiting_ack_.try_emplace(seq, key);
}

std::vector<std::string> ChannelTable::TakeAcked(uint64_t acked) {
  std::vector<std::string> keys;
  while (!awaiting_ack_.empty() && awaiting_ack_.begin()->first <= acked) {
    keys.push_back(std::move(awaiting_ack_.begin()->second));
    awaiting_ack_.erase(awaiting_ack_.begin());
  }
  return keys;
}

std::vector<std::string> ChannelTable::Waiting() const {
  std::vector<std::string> keys;
  keys.reserve(awaiting_ack_.size());
  for (const auto& [seq, key] : awaiting_ack_) keys.push_back(key);
  return keys;
}

bool ChannelTable::EraseIfUnused(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.unused()) return false;
  if (!it->second.confirmed) awaiting_ack_.erase(it->second.interest_seq);
  entries_.erase(it);
  return true;
}

}  // namespace wirehub::edge
