// MemoryPresenceStore: presence in this process's memory.
#ifndef WIREHUB_CONTROL_MEMORY_PRESENCE_STORE_H_
#define WIREHUB_CONTROL_MEMORY_PRESENCE_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "control/presence_store.h"
#include "control/presence_table.h"

namespace wirehub::control {

// MemoryPresenceStore is a PresenceTable behind its own lock, which nothing
// else is taken under.
// Thread-safe.
class MemoryPresenceStore final : public PresenceStore {
 public:
  bool Add(Owner owner, const std::string& key, const v1::ClientInfo& info) override {
    absl::MutexLock lock(&mu_);
    return table_.Add(owner, key, info);
  }
  std::optional<v1::ClientInfo> Remove(Owner owner, const std::string& key,
                                       const std::string& client) override {
    absl::MutexLock lock(&mu_);
    return table_.Remove(owner, key, client);
  }
  std::vector<PresenceTable::Entry> RemoveOwner(Owner owner) override {
    absl::MutexLock lock(&mu_);
    return table_.RemoveOwner(owner);
  }
  PresenceTable::Page List(const std::string& key, size_t page_size,
                           const std::string& page_token) const override {
    absl::MutexLock lock(&mu_);
    return table_.List(key, page_size, page_token);
  }
  PresenceTable::Counts Count(const std::string& key) const override {
    absl::MutexLock lock(&mu_);
    return table_.Count(key);
  }
  size_t size() const override {
    absl::MutexLock lock(&mu_);
    return table_.size();
  }

 private:
  mutable absl::Mutex mu_;
  PresenceTable table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_MEMORY_PRESENCE_STORE_H_
