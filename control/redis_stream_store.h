// RedisStreamStore: channel streams kept in Redis and shared by every
// control replica that uses the same Redis and key prefix.
#ifndef WIREHUB_CONTROL_REDIS_STREAM_STORE_H_
#define WIREHUB_CONTROL_REDIS_STREAM_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/redis_connection.h"
#include "control/redis_script_set.h"
#include "control/stream_store.h"

namespace wirehub::control {

struct RedisStreamStoreOptions {
  // Host, port, credentials and timeouts; `name` and `subscriber` are set
  // per connection by the store.
  RedisConnectionOptions connection;
  // Prefix of every key and pub/sub channel ("PREFIX:{CHANNEL}:m").
  std::string key_prefix = "wirehub";
  // How long a stream's position outlives its last publication (raised to
  // the history ttl and idempotency window of each publish).
  absl::Duration stream_ttl = absl::Hours(24);
  // Channels per SSUBSCRIBE / SUNSUBSCRIBE command.
  size_t subscribe_batch = 512;
};

// RedisStreamStore sequences publications with one Lua script per publish
// (redis_scripts.h: idempotency, epoch, offset, history and the pub/sub
// message in one atomic step) and hands back every publication of the
// channels this process watches through a sharded pub/sub subscription
// (fans_out()): the publishing replica receives its own like the others, so
// every replica sees a channel's publications in offset order.
//
// Two connections: `commands_` (scripts, pipelined) and `subscriber_`.
// Interest is counted per channel (Watch/Unwatch); a channel is subscribed
// while its count is positive. A Watch's `done` runs when Redis confirmed
// the subscriptions it needed, or, when it needed none, when a PING sent
// after them came back: confirmations arrive in order, so every earlier
// subscription is in force by then.
//
// The epoch of a stream belongs to one Redis run_id (see
// redis_scripts.h), and every script carries the run_id of the connection
// it is sent on (checked by RedisConnection at send time), so a script can
// never be applied under a run_id other than the one it was built for.
//
// Thread-safe. Callbacks (`done`s, the feed, `lost`) run on the
// connections' threads.
class RedisStreamStore final : public StreamStore {
 public:
  explicit RedisStreamStore(RedisStreamStoreOptions options);
  ~RedisStreamStore() override;

  bool fans_out() const override { return true; }
  void Start(Feed feed, Lost lost) override;
  void Stop() override;
  void Watch(const std::vector<std::string>& keys, StatusDone done) override;
  void Unwatch(const std::vector<std::string>& keys) override;

  void Publish(PublishItem item, OnSequenced on_sequenced, Done done) override;
  void History(const std::string& key, const std::optional<StreamPosition>& since, int64_t limit,
               bool reverse, const HistoryPolicy& policy, absl::Duration idempotency_window,
               HistoryDone done) override;
  void RemoveHistory(const std::string& key, absl::Duration idempotency_window,
                     StatusDone done) override;
  // Redis expires what the scripts leave (PEXPIRE on every key); this only
  // retries a failed script load.
  void Maintain(absl::Time now, absl::Duration idempotency_window, const PolicyFor& policy_for,
                const Wanted& wanted) override {
    (void)scripts_.Get();
  }
  // streams: channels watched; history counts are not known here (Redis
  // holds them).
  StreamCounts Counts() const override;
  absl::Status Ready() const override;

  // Key names (tests and tools).
  std::string MetaKey(std::string_view key) const;
  std::string HistoryKey(std::string_view key) const;
  std::string IdempotencyKey(std::string_view key, std::string_view idempotency_key) const;
  std::string PubSubChannel(std::string_view key) const;

 private:
  void OnSubscriberState(bool up);
  void OnPush(RedisReply&& reply);
  // Sends (S)SUBSCRIBE or SUNSUBSCRIBE for `channels` in batches; `done`
  // (may be null) gets the outcome of the last batch. Called under mu_ so
  // that the order on the wire is the order of count changes.
  void SendSubscriptions(const char* command, const std::vector<std::string>& channels,
                         StatusDone done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewEpoch();

  const RedisStreamStoreOptions options_;
  Feed feed_;
  Lost lost_;
  // kPublishScript, kReadScript.
  RedisScriptSet scripts_;
  std::unique_ptr<RedisConnection> commands_;
  std::unique_ptr<RedisConnection> subscriber_;

  mutable absl::Mutex mu_;
  // Channel key -> interest count (may be negative for a moment: an
  // Unwatch may overtake its Watch). Subscribed while positive.
  absl::flat_hash_map<std::string, int64_t> watched_ ABSL_GUARDED_BY(mu_);
  bool subscriber_up_ ABSL_GUARDED_BY(mu_) = false;
  // The subscriber had been up: its loss may have dropped publications.
  bool subscriber_was_up_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> idempotent_replays_{0};
  std::atomic<uint64_t> malformed_messages_{0};
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REDIS_STREAM_STORE_H_
