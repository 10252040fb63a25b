// MemoryPresenceStore: presence in this process's memory.
#ifndef WIREHUB_CONTROL_MEMORY_PRESENCE_STORE_H_
#define WIREHUB_CONTROL_MEMORY_PRESENCE_STORE_H_

#include <optional>
#include <string>
#include <utility>
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
  bool Add(Owner owner, const std::string& key, const v1::ClientInfo& info,
           bool announce) override {
    absl::MutexLock lock(&mu_);
    return table_.Add(owner, key, info);
  }
  std::optional<v1::ClientInfo> Remove(Owner owner, const std::string& key,
                                       const std::string& client, bool announce) override {
    absl::MutexLock lock(&mu_);
    return table_.Remove(owner, key, client);
  }
  std::vector<PresenceTable::Entry> RemoveOwner(Owner owner,
                                                const AnnounceFor& announce_for) override {
    absl::MutexLock lock(&mu_);
    return table_.RemoveOwner(owner);
  }
  void List(const std::string& key, size_t page_size, const std::string& page_token,
            PageDone done) const override {
    PresenceTable::Page page;
    {
      absl::MutexLock lock(&mu_);
      page = table_.List(key, page_size, page_token);
    }
    done(std::move(page));
  }
  void Count(const std::string& key, CountsDone done) const override {
    PresenceTable::Counts counts;
    {
      absl::MutexLock lock(&mu_);
      counts = table_.Count(key);
    }
    done(counts);
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
