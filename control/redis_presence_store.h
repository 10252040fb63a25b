// RedisPresenceStore: presence kept in Redis, shared by every control
// replica on the same Redis and key prefix.
#ifndef WIREHUB_CONTROL_REDIS_PRESENCE_STORE_H_
#define WIREHUB_CONTROL_REDIS_PRESENCE_STORE_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/presence_store.h"
#include "control/presence_table.h"
#include "control/redis_connection.h"
#include "control/redis_script_set.h"

namespace wirehub::control {

struct RedisPresenceStoreOptions {
  // Host, port, credentials and timeouts (`name` is set by the store).
  RedisConnectionOptions connection;
  std::string key_prefix = "wirehub";
  // An entry its replica stops refreshing (the replica died, or lost
  // Redis) expires this long after its last refresh; replicas refresh
  // theirs every third of it.
  absl::Duration ttl = absl::Seconds(15);
};

// RedisPresenceStore keeps each channel's entries in Redis (a hash of
// entries, a sorted set of their deadlines and a hash of per-user counts:
// Redis 7.0 has no per-field expiry) through the scripts of
// redis_scripts.h, which announce joins and leaves on the channel's pub/sub
// channel themselves (announces()): every replica's edges get them in order
// with the publications, through the stream store's feed.
//
// The entries this process owns are mirrored locally (owner -> entries) for
// RemoveOwner() and for the refresh that keeps them alive; writes to Redis
// are pipelined and not waited for. A write that fails (Redis down) leaves
// Redis as it was: an entry that was not added appears at the next refresh,
// one that was not removed expires within `ttl`.
//
// Thread-safe. Read callbacks run on the connection's thread.
class RedisPresenceStore final : public PresenceStore {
 public:
  explicit RedisPresenceStore(RedisPresenceStoreOptions options);
  ~RedisPresenceStore() override;

  bool announces() const override { return true; }
  void Start() override;
  void Stop() override;
  bool Add(Owner owner, const std::string& key, const v1::ClientInfo& info, bool announce) override;
  std::optional<v1::ClientInfo> Remove(Owner owner, const std::string& key,
                                       const std::string& client, bool announce) override;
  std::vector<PresenceTable::Entry> RemoveOwner(Owner owner,
                                                const AnnounceFor& announce_for) override;
  void List(const std::string& key, size_t page_size, const std::string& page_token,
            PageDone done) const override;
  void Count(const std::string& key, CountsDone done) const override;
  size_t size() const override;
  void Maintain(absl::Time now, const AnnounceFor& announce_for) override;
  absl::Status Ready() const override;

 private:
  // Runs script `index` of scripts_ on `key` with ARGV 4.. = `args`; `done`
  // may be null (writes nobody waits for).
  void Run(size_t index, const std::string& key, bool announce, std::vector<std::string> args,
           RedisConnection::Callback done) const;
  void SendAdd(const std::string& key, const v1::ClientInfo& info, bool announce) const;

  const RedisPresenceStoreOptions options_;
  // kPresenceAddScript, kPresenceRemoveScript, kPresenceReadScript, each
  // behind kPresencePrelude.
  mutable RedisScriptSet scripts_;
  std::unique_ptr<RedisConnection> connection_;

  mutable absl::Mutex mu_;
  PresenceTable owned_ ABSL_GUARDED_BY(mu_);
  absl::Time next_refresh_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REDIS_PRESENCE_STORE_H_
