// PresenceStore: who is subscribed where, over every edge (the seam a
// Redis engine goes behind).
#ifndef WIREHUB_CONTROL_PRESENCE_STORE_H_
#define WIREHUB_CONTROL_PRESENCE_STORE_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/presence_table.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::control {

// PresenceStore keeps (channel, client) entries, each owned by the edge
// session that reported it. Invariants every implementation keeps: an entry
// disappears with its owner (RemoveOwner, or expiry when its control
// replica stops refreshing it), and a client's join and leave are announced
// once each.
//
// Announcing: a store that does not announce() returns the joins and leaves
// (Add's true, Remove's info, RemoveOwner's entries) for the caller to
// announce. One that announces() (Redis) publishes them itself, when the
// caller says `announce` (the namespace has join_leave), through the
// channels' pub/sub, where every replica receives them in order with the
// publications; it then returns none.
//
// Thread-safe.
class PresenceStore {
 public:
  using Owner = const EdgeSession*;
  using AnnounceFor = std::function<bool(const std::string& key)>;
  using PageDone = std::function<void(absl::StatusOr<PresenceTable::Page>)>;
  using CountsDone = std::function<void(absl::StatusOr<PresenceTable::Counts>)>;
  virtual ~PresenceStore() = default;

  virtual bool announces() const { return false; }
  // Start() before the first call, Stop() before destruction.
  virtual void Start() {}
  virtual void Stop() {}

  // True when the client was not on the channel before (a join to
  // announce; always false when announces()).
  virtual bool Add(Owner owner, const std::string& key, const v1::ClientInfo& info,
                   bool announce) = 0;
  // The removed entry's info (a leave to announce), or nullopt.
  virtual std::optional<v1::ClientInfo> Remove(Owner owner, const std::string& key,
                                               const std::string& client, bool announce) = 0;
  // Drops every entry of `owner`; returns those whose leave the caller
  // announces.
  virtual std::vector<PresenceTable::Entry> RemoveOwner(Owner owner,
                                                        const AnnounceFor& announce_for) = 0;
  // One page of `key`'s clients (see PresenceTable::List). `done` runs
  // once, at once in memory, later on the store's thread otherwise.
  virtual void List(const std::string& key, size_t page_size, const std::string& page_token,
                    PageDone done) const = 0;
  virtual void Count(const std::string& key, CountsDone done) const = 0;
  // Entries this process owns.
  virtual size_t size() const = 0;
  // Refreshes what this process owns and expires what others stopped
  // refreshing; called periodically (every second by ControlServer).
  virtual void Maintain(absl::Time now, const AnnounceFor& announce_for) {}
  // OK when the store can serve (see StreamStore::Ready()).
  virtual absl::Status Ready() const { return absl::OkStatus(); }
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_PRESENCE_STORE_H_
