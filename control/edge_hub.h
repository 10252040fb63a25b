// EdgeHub: the meeting point of publishers and attached edges inside
// wirehub-control.
#ifndef WIREHUB_CONTROL_EDGE_HUB_H_
#define WIREHUB_CONTROL_EDGE_HUB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/namespace_registry.h"
#include "control/channel_stream.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::control {

class EdgeSession;

// Position assigned to a publication.
struct StreamPosition {
  uint64_t offset = 0;
  std::string epoch;
  // True when an idempotency key matched: nothing was published again.
  bool replayed = false;
};

struct EdgeHubOptions {
  // How long Publish remembers an idempotency key.
  absl::Duration idempotency_window = absl::Minutes(5);
};

// EdgeHub sequences publications per channel and hands each one to every
// attached edge that has interest in its channel, once per edge.
// Thread-safe. Lock order: EdgeHub::mu_ before EdgeSession::mu_; sessions
// never call into the hub while holding their own lock.
class EdgeHub {
 public:
  // `namespaces` is borrowed and must outlive the hub; null means the
  // default registry (every namespace, no history).
  explicit EdgeHub(const NamespaceRegistry* namespaces = nullptr, EdgeHubOptions options = {});
  EdgeHub(const EdgeHub&) = delete;
  EdgeHub& operator=(const EdgeHub&) = delete;

  // Publish()
  //
  // Assigns the next offset of `channel`, keeps the publication in history
  // when its namespace has history, and enqueues it for every interested
  // edge. Sequencing and enqueueing happen under one lock, so every edge
  // receives a channel's publications in offset order. With a non-empty
  // `idempotency_key` already used on the channel within the window, returns
  // that publish's position (replayed) and publishes nothing.
  // `channel` and `data` must already be validated; a channel in an unknown
  // namespace is InvalidArgument.
  absl::StatusOr<StreamPosition> Publish(const std::string& channel, std::string data,
                                         const std::string& idempotency_key = "");

  // History()
  //
  // Publications of `channel` after `since` (when given; its epoch must
  // match: FailedPrecondition "unrecoverable position" otherwise). See
  // HistoryRequest for `limit` and `reverse`. FailedPrecondition when the
  // namespace keeps no history.
  absl::StatusOr<HistoryRead> History(const std::string& channel,
                                      const std::optional<StreamPosition>& since, int64_t limit,
                                      bool reverse);
  // HistoryRemove() drops the kept publications; the position stays.
  absl::Status HistoryRemove(const std::string& channel);

  // Maintain() expires history and idempotency keys and forgets streams
  // that hold nothing and interest no edge. Called periodically.
  void Maintain(absl::Time now);

  // Session lifecycle, called by EdgeSession from gRPC threads. A true
  // result means the session must Kick() its write (see EdgeSession).
  bool AttachSession(EdgeSession* session, const edge::v1::Hello& hello, std::string peer);
  bool ApplyInterest(EdgeSession* session, const edge::v1::InterestChange& change);
  void UpdateStats(EdgeSession* session, const edge::v1::EdgeStats& stats);
  // Idempotent; after it returns the hub holds no pointer to `session`.
  void RemoveSession(EdgeSession* session);

  // Snapshot for the Stats RPC.
  void FillStats(int top_channels, v1::StatsResponse* out) const;

 private:
  struct ChannelState {
    explicit ChannelState(std::string epoch) : stream(std::move(epoch)) {}
    ChannelStream stream;
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
  // Publish() under the lock; collects sessions whose write must be kicked.
  StreamPosition PublishLocked(const std::string& channel, std::string data,
                               const std::string& idempotency_key, const HistoryPolicy& policy,
                               absl::Time now, std::vector<EdgeSession*>* to_kick)
      ABSL_LOCKS_EXCLUDED(mu_);
  HistoryPolicy PolicyFor(const config::v1::NamespaceOptions& options) const;
  void AddInterest(EdgeSession* session, SessionState& state, const std::string& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveInterest(EdgeSession* session, SessionState& state, const std::string& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddUser(SessionState& state, const std::string& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveUser(SessionState& state, const std::string& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops every trace of the session; returns false if it was not attached.
  bool DetachLocked(EdgeSession* session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewEpoch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const NamespaceRegistry default_namespaces_ = NamespaceRegistry::Default();
  const NamespaceRegistry* const namespaces_;
  const EdgeHubOptions options_;
  mutable absl::Mutex mu_;
  // Node map: ChannelState is not movable (ChannelStream's epoch is const).
  absl::node_hash_map<std::string, ChannelState> channels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<EdgeSession*, SessionState> sessions_ ABSL_GUARDED_BY(mu_);
  // User -> number of attached edges where the user has connections.
  absl::flat_hash_map<std::string, uint32_t> users_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  uint64_t publications_accepted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t deliveries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t slow_edge_detaches_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t idempotent_replays_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t history_publications_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t history_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_EDGE_HUB_H_
