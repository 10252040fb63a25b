#include "control/presence_table.h"

#include <utility>

namespace wirehub::control {

bool PresenceTable::Add(const EdgeSession* owner, const std::string& key,
                        const v1::ClientInfo& info) {
  ClientMap& clients = channels_[key];
  auto [it, inserted] = clients.try_emplace(info.client(), Slot{info, owner});
  if (!inserted) {
    Slot& slot = it->second;
    if (slot.owner != owner) {
      Disown(slot.owner, EntryRef(key, info.client()));
      slot.owner = owner;
      by_owner_[owner].emplace(key, info.client());
    }
    slot.info = info;
    return false;
  }
  by_owner_[owner].emplace(key, info.client());
  ++size_;
  return true;
}

std::optional<v1::ClientInfo> PresenceTable::Remove(const EdgeSession* owner,
                                                    const std::string& key,
                                                    const std::string& client) {
  auto channel = channels_.find(key);
  if (channel == channels_.end()) return std::nullopt;
  ClientMap& clients = channel->second;
  auto it = clients.find(client);
  // Only the owner may remove: a stale session of an edge that has since
  // re-attached must not take entries its successor re-announced.
  if (it == clients.end() || it->second.owner != owner) return std::nullopt;
  v1::ClientInfo info = std::move(it->second.info);
  clients.erase(it);
  if (clients.empty()) channels_.erase(channel);
  Disown(owner, EntryRef(key, client));
  --size_;
  return info;
}

std::vector<PresenceTable::Entry> PresenceTable::RemoveOwner(const EdgeSession* owner) {
  std::vector<Entry> removed;
  auto owned = by_owner_.find(owner);
  if (owned == by_owner_.end()) return removed;
  absl::flat_hash_set<EntryRef> refs = std::move(owned->second);
  by_owner_.erase(owned);
  removed.reserve(refs.size());
  for (const EntryRef& ref : refs) {
    auto channel = channels_.find(ref.first);
    if (channel == channels_.end()) continue;
    auto it = channel->second.find(ref.second);
    if (it == channel->second.end()) continue;
    removed.push_back(Entry{ref.first, std::move(it->second.info)});
    channel->second.erase(it);
    if (channel->second.empty()) channels_.erase(channel);
    --size_;
  }
  return removed;
}

void PresenceTable::Disown(const EdgeSession* owner, const EntryRef& ref) {
  auto owned = by_owner_.find(owner);
  if (owned == by_owner_.end()) return;
  owned->second.erase(ref);
  if (owned->second.empty()) by_owner_.erase(owned);
}

PresenceTable::Page PresenceTable::List(const std::string& key, size_t page_size,
                                        const std::string& page_token) const {
  Page page;
  auto channel = channels_.find(key);
  if (channel == channels_.end() || page_size == 0) return page;
  const ClientMap& clients = channel->second;
  auto it = page_token.empty() ? clients.begin() : clients.upper_bound(page_token);
  for (; it != clients.end() && page.clients.size() < page_size; ++it) {
    page.clients.push_back(it->second.info);
  }
  if (it != clients.end()) page.next_page_token = page.clients.back().client();
  return page;
}

PresenceTable::Counts PresenceTable::Count(const std::string& key) const {
  Counts counts;
  auto channel = channels_.find(key);
  if (channel == channels_.end()) return counts;
  absl::flat_hash_set<std::string> users;
  for (const auto& [client, slot] : channel->second) users.insert(slot.info.user());
  counts.clients = channel->second.size();
  counts.users = users.size();
  return counts;
}

}  // namespace wirehub::control
