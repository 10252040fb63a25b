// SubscribedChannels: the channels one client session is subscribed to.
#ifndef WIREHUB_EDGE_SUBSCRIBED_CHANNELS_H_
#define WIREHUB_EDGE_SUBSCRIBED_CHANNELS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "edge/compact_time.h"

namespace wirehub::edge {

// One subscription of a session, by channel name.
struct Subscription {
  // The subscription token's `info` (raw JSON), shown in presence; null
  // without one. A pointer: most subscriptions have none, and an empty
  // string would take 32 bytes in each.
  std::unique_ptr<const std::string> chan_info;
  // The subscription token's expiry; InfiniteFuture without a token.
  CompactTime expires_at = absl::InfiniteFuture();
  // Reported to control's presence (namespace with presence or join_leave).
  bool in_presence = false;

  std::string_view info() const { return chan_info != nullptr ? *chan_info : std::string_view(); }
};

// SubscribedChannels maps channel names to their Subscription, with the
// part of a map's interface the edge uses (find, contains, emplace, erase,
// iteration over {name, subscription} pairs, in no particular order).
//
// Every connection has one and most hold a channel or two, so it is a
// vector sized to fit, searched linearly: one subscription costs its
// 56 bytes and the vector's 24, where a flat_hash_map took 40 bytes plus a
// 112-byte allocation. Sessions hold at most max_subscriptions_per_client
// (128 by default), which keeps the linear search short.
// Thread-compatible.
class SubscribedChannels {
 public:
  using value_type = std::pair<std::string, Subscription>;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;

  iterator find(std::string_view name);
  const_iterator find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != end(); }

  // Adds `name` with `subscription` unless it is there already; returns
  // where it is and whether it was added. Invalidates iterators.
  std::pair<iterator, bool> emplace(std::string name, Subscription subscription);
  // Removes the entry at `it`. The last entry takes its place: iterators
  // to it and after it are invalidated.
  void erase(iterator it);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }

 private:
  // Capacity equals size: grown by one and shrunk on erase, since a
  // doubling vector would leave up to half its slots empty per session.
  std::vector<value_type> entries_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_SUBSCRIBED_CHANNELS_H_
