// EdgeHub: the meeting point of publishers and attached edges inside
// wirehub-control.
#ifndef WIREHUB_CONTROL_EDGE_HUB_H_
#define WIREHUB_CONTROL_EDGE_HUB_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::control {

class EdgeSession;

// Position assigned to a publication.
struct StreamPosition {
  uint64_t offset = 0;
  std::string epoch;
};

// EdgeHub sequences publications per channel and hands each one to every
// attached edge that has interest in its channel, once per edge.
// Thread-safe. Lock order: EdgeHub::mu_ before EdgeSession::mu_; sessions
// never call into the hub while holding their own lock.
class EdgeHub {
 public:
  EdgeHub();
  EdgeHub(const EdgeHub&) = delete;
  EdgeHub& operator=(const EdgeHub&) = delete;

  // Publish()
  //
  // Assigns the next offset of `channel` and enqueues the publication for
  // every interested edge. Sequencing and enqueueing happen under one lock,
  // so every edge receives a channel's publications in offset order.
  // `data` must already be validated.
  StreamPosition Publish(const std::string& channel, std::string data);

  // Session lifecycle, called by EdgeSession from gRPC threads.
  void AttachSession(EdgeSession* session, const edge::v1::Hello& hello, std::string peer);
  void ApplyInterest(EdgeSession* session, const edge::v1::InterestChange& change);
  void UpdateStats(EdgeSession* session, const edge::v1::EdgeStats& stats);
  // Idempotent; after it returns the hub holds no pointer to `session`.
  void RemoveSession(EdgeSession* session);

  // Snapshot for the Stats RPC.
  void FillStats(int top_channels, v1::StatsResponse* out) const;

 private:
  struct ChannelState {
    std::string epoch;
    uint64_t last_offset = 0;
    // Edges with local subscribers; small, usually a handful.
    std::vector<EdgeSession*> edges;
  };
  struct SessionState {
    std::string edge_id;
    std::string version;
    std::string public_address;
    std::string peer;
    absl::Time attached_at;
    absl::flat_hash_set<std::string> channels;
    absl::flat_hash_set<std::string> users;
    edge::v1::EdgeStats last_stats;
  };

  ChannelState& ChannelFor(const std::string& channel) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddInterest(EdgeSession* session, SessionState& state, const std::string& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveInterest(EdgeSession* session, SessionState& state, const std::string& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddUser(SessionState& state, const std::string& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveUser(SessionState& state, const std::string& user)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops every trace of the session; returns false if it was not attached.
  bool DetachLocked(EdgeSession* session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewEpoch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, ChannelState> channels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<EdgeSession*, SessionState> sessions_ ABSL_GUARDED_BY(mu_);
  // User -> number of attached edges where the user has connections.
  absl::flat_hash_map<std::string, uint32_t> users_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  uint64_t publications_accepted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t deliveries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t slow_edge_detaches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_EDGE_HUB_H_
