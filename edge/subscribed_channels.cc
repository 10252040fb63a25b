#include "edge/subscribed_channels.h"

#include <algorithm>
#include <utility>

namespace wirehub::edge {

SubscribedChannels::iterator SubscribedChannels::find(std::string_view name) {
  return std::find_if(entries_.begin(), entries_.end(),
                      [name](const value_type& entry) { return entry.first == name; });
}

SubscribedChannels::const_iterator SubscribedChannels::find(std::string_view name) const {
  return std::find_if(entries_.begin(), entries_.end(),
                      [name](const value_type& entry) { return entry.first == name; });
}

std::pair<SubscribedChannels::iterator, bool> SubscribedChannels::emplace(
    std::string name, Subscription subscription) {
  iterator it = find(name);
  if (it != entries_.end()) return {it, false};
  if (entries_.size() == entries_.capacity()) entries_.reserve(entries_.size() + 1);
  entries_.emplace_back(std::move(name), std::move(subscription));
  return {entries_.end() - 1, true};
}

void SubscribedChannels::erase(iterator it) {
  if (it != entries_.end() - 1) *it = std::move(entries_.back());
  entries_.pop_back();
  if (entries_.empty()) {
    std::vector<value_type>().swap(entries_);
  } else if (entries_.capacity() > entries_.size() + entries_.size() / 4 + 1) {
    entries_.shrink_to_fit();
  }
}

}  // namespace wirehub::edge
