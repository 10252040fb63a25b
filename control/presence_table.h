// PresenceTable: who is subscribed to which channel, over every attached
// edge, as control keeps it for Presence, PresenceStats and join/leave.
#ifndef WIREHUB_CONTROL_PRESENCE_TABLE_H_
#define WIREHUB_CONTROL_PRESENCE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::control {

class EdgeSession;

// Thread-compatible: EdgeHub guards it with its lock.
//
// PresenceTable maps channel key -> client id -> (ClientInfo, owning edge
// session). A client id is unique per connection, so one (channel, client)
// pair has exactly one owner: the session of the edge holding the
// connection. Owners are opaque here; the table never dereferences them.
//
// Example:
//   PresenceTable table;
//   if (table.Add(session, "chat:1", info)) { /* a join */ }
//   for (PresenceTable::Entry& gone : table.RemoveOwner(session)) { /* leaves */ }
class PresenceTable {
 public:
  // One (channel, client) entry.
  struct Entry {
    std::string key;
    v1::ClientInfo info;
  };

  // One page of a channel's presence.
  struct Page {
    std::vector<v1::ClientInfo> clients;  // Ordered by client id.
    std::string next_page_token;          // Empty on the last page.
  };

  // Counts of one channel's presence.
  struct Counts {
    uint64_t clients = 0;
    // Distinct user ids; anonymous clients (empty user) count as one user.
    uint64_t users = 0;
  };

  // Add()
  //
  // Records `info` (keyed by info.client(), which must not be empty) on
  // channel `key`, owned by `owner`. Returns true when the client was not
  // on the channel before (a join). An existing entry takes the new info and
  // owner and returns false: a re-attaching edge re-announces its clients.
  bool Add(const EdgeSession* owner, const std::string& key, const v1::ClientInfo& info);

  // Remove()
  //
  // Drops `client` from `key` when `owner` owns it; returns the removed
  // entry's info (a leave), or nullopt when there was nothing to remove.
  std::optional<v1::ClientInfo> Remove(const EdgeSession* owner, const std::string& key,
                                       const std::string& client);

  // RemoveOwner() drops every entry `owner` owns and returns them.
  std::vector<Entry> RemoveOwner(const EdgeSession* owner);

  // List()
  //
  // Up to `page_size` (> 0) clients of `key` with a client id greater than
  // `page_token` (all when empty), ordered by client id. next_page_token is
  // the last client id returned when more remain.
  Page List(const std::string& key, size_t page_size, const std::string& page_token) const;

  // Count() counts `key`'s clients and distinct users.
  Counts Count(const std::string& key) const;

  // ForEach() calls fn(key, info) for every entry.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const auto& [key, clients] : channels_) {
      for (const auto& [client, slot] : clients) fn(key, slot.info);
    }
  }

  // Entries over all channels.
  size_t size() const { return size_; }
  // Channels with at least one entry.
  size_t channel_count() const { return channels_.size(); }

 private:
  struct Slot {
    v1::ClientInfo info;
    const EdgeSession* owner;
  };
  using ClientMap = std::map<std::string, Slot, std::less<>>;
  using EntryRef = std::pair<std::string, std::string>;  // (key, client)

  void Disown(const EdgeSession* owner, const EntryRef& ref);

  // Ordered per channel, so a page is a range scan.
  absl::flat_hash_map<std::string, ClientMap> channels_;
  // What each owner owns, so a detach costs its own entries only.
  absl::flat_hash_map<const EdgeSession*, absl::flat_hash_set<EntryRef>> by_owner_;
  size_t size_ = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_PRESENCE_TABLE_H_
