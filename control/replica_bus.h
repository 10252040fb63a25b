// ReplicaBus: control replicas forward server API calls to each other
// through Redis pub/sub (engine redis), so a call made to any replica
// reaches the edges attached to every replica.
#ifndef WIREHUB_CONTROL_REPLICA_BUS_H_
#define WIREHUB_CONTROL_REPLICA_BUS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/redis_connection.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::control {

struct ReplicaBusOptions {
  // Host, port, credentials and timeouts (`name`, `subscriber` set here).
  RedisConnectionOptions connection;
  std::string key_prefix = "wirehub";
  // This replica's id: unique among the replicas (random by default).
  std::string replica_id;
  // Forwarded calls in flight at once; more are answered at once with
  // every other replica missing.
  size_t max_in_flight = 1024;
};

// ReplicaBus publishes a ReplicaRequest on one sharded channel every
// replica subscribes to ("PREFIX:{replicas}:c"); SPUBLISH answers how many
// subscribers received it, which tells the origin how many replies to wait
// for. Each other replica runs the request against its own edges and
// publishes a ReplicaReply on the origin's reply channel
// ("PREFIX:{replicas}:r:ID"). No replica-to-replica connections.
//
// A replica that does not answer by the deadline (it died, or its edges
// are slow) counts as missing; the caller decides what that means.
//
// Thread-safe. The handler and `done`s run on the bus's connection and
// timer threads, never under its lock.
class ReplicaBus {
 public:
  // Runs a request of another replica; must call `reply` exactly once
  // (from any thread).
  using Reply = std::function<void(edge::v1::ReplicaReply)>;
  using Handler = std::function<void(const edge::v1::ReplicaRequest&, Reply reply)>;
  struct Gathered {
    std::vector<edge::v1::ReplicaReply> replies;
    // Replicas that received the request and did not answer in time.
    uint32_t replicas_missing = 0;
  };

  explicit ReplicaBus(ReplicaBusOptions options);
  ~ReplicaBus();
  ReplicaBus(const ReplicaBus&) = delete;
  ReplicaBus& operator=(const ReplicaBus&) = delete;

  void Start(Handler handler);
  // Completes every forwarded call (unanswered replicas missing).
  void Stop();

  // Forward() sends `request` (origin, id and deadline are filled in here)
  // to every other replica; `done` runs once with their replies when all
  // answered or `deadline` passed. Without Redis (or with no other
  // replica) it runs at once, with nothing.
  void Forward(edge::v1::ReplicaRequest request, absl::Time deadline,
               std::function<void(Gathered)> done);

  const std::string& replica_id() const { return options_.replica_id; }
  // OK once both connections are up and subscribed.
  absl::Status Ready() const;

 private:
  struct Pending {
    absl::Time deadline;
    std::function<void(Gathered)> done;
    // -1 until SPUBLISH answered.
    int64_t expected = -1;
    Gathered gathered;
  };

  void OnSubscriberState(bool up);
  void OnPush(RedisReply&& reply);
  void OnRequest(edge::v1::ReplicaRequest request);
  void OnReply(edge::v1::ReplicaReply reply);
  // Removes `id` and returns its pending call when it is complete (or
  // `force`), counting the replicas that did not answer.
  std::unique_ptr<Pending> TakeIfDone(uint64_t id, bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunTimer();

  const ReplicaBusOptions options_;
  const std::string request_channel_;
  const std::string reply_channel_;
  Handler handler_;
  std::unique_ptr<RedisConnection> publisher_;
  std::unique_ptr<RedisConnection> subscriber_;

  mutable absl::Mutex mu_;
  bool subscribed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Pending>> pending_ ABSL_GUARDED_BY(mu_);
  std::thread timer_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REPLICA_BUS_H_
