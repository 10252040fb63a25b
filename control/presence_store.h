// PresenceStore: who is subscribed where, over every edge (the seam a
// Redis engine goes behind).
#ifndef WIREHUB_CONTROL_PRESENCE_STORE_H_
#define WIREHUB_CONTROL_PRESENCE_STORE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "control/presence_table.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::control {

// PresenceStore keeps (channel, client) entries, each owned by the edge
// session that reported it (later: by a control replica for its edges).
// Invariants every implementation keeps: an entry disappears with its
// owner (RemoveOwner, or expiry when the owner stops refreshing it), and
// Add/Remove say whether the entry was new / existed, which decides the
// join and leave events.
// Thread-safe.
class PresenceStore {
 public:
  using Owner = const EdgeSession*;
  virtual ~PresenceStore() = default;

  // True when the client was not on the channel before (a join).
  virtual bool Add(Owner owner, const std::string& key, const v1::ClientInfo& info) = 0;
  // The removed entry's info (a leave), or nullopt.
  virtual std::optional<v1::ClientInfo> Remove(Owner owner, const std::string& key,
                                               const std::string& client) = 0;
  virtual std::vector<PresenceTable::Entry> RemoveOwner(Owner owner) = 0;
  virtual PresenceTable::Page List(const std::string& key, size_t page_size,
                                   const std::string& page_token) const = 0;
  virtual PresenceTable::Counts Count(const std::string& key) const = 0;
  virtual size_t size() const = 0;
  // OK when the store can serve (see StreamStore::Ready()).
  virtual absl::Status Ready() const { return absl::OkStatus(); }
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_PRESENCE_STORE_H_
