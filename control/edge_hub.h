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
#include "control/command_router.h"
#include "control/presence_table.h"
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
  // An attached edge that sends nothing (stats, interest, results) for
  // longer than this is detached by Maintain(): its stream is finished with
  // UNAVAILABLE and its interest and presence are dropped.
  absl::Duration edge_timeout = absl::Seconds(15);
};

// Counts for the Info RPC.
struct HubCounts {
  uint64_t edges = 0;
  uint64_t channels_tracked = 0;
};

// Thread-safe (one lock; see the lock order below).
//
// EdgeHub sequences publications per channel and hands each one to every
// attached edge that has interest in its channel, once per edge. It also
// keeps presence over all edges (emitting join/leave events into the same
// per-edge queues, in the same order as publications) and sends server API
// commands to every edge through its CommandRouter.
//
// Channels are keys (common/channel_name.h: "TENANT|CHANNEL" or "CHANNEL")
// everywhere in the hub; options come from the namespace of the channel
// part of the key.
//
// Lock order: EdgeHub::mu_, then CommandRouter's lock, then
// EdgeSession::mu_; sessions never call into the hub while holding their own
// lock. Nothing that may re-enter (StartWrite, Finish, command callbacks)
// runs under mu_: such work is collected while locked and done after.
class EdgeHub {
 public:
  // `namespaces` is borrowed and must outlive the hub; null means the
  // default registry (every namespace, no history).
  explicit EdgeHub(const NamespaceRegistry* namespaces = nullptr, EdgeHubOptions options = {});
  EdgeHub(const EdgeHub&) = delete;
  EdgeHub& operator=(const EdgeHub&) = delete;

  // Publish()
  //
  // Assigns the next offset of channel `key`, keeps the publication in
  // history when its namespace has history, and enqueues it for every
  // interested edge. Sequencing and enqueueing happen under one lock, so
  // every edge receives a channel's publications in offset order. With a
  // non-empty `idempotency_key` already used on the channel within the
  // window, returns that publish's position (replayed) and publishes
  // nothing. `info`, when given, is the publishing client (client publish);
  // it travels with the publication to the edges and into history.
  // `key` and `data` must already be validated; a channel in an unknown
  // namespace is InvalidArgument.
  absl::StatusOr<StreamPosition> Publish(const std::string& key, std::string data,
                                         const std::string& idempotency_key = "",
                                         const v1::ClientInfo* info = nullptr);

  // History()
  //
  // Publications of `key` after `since` (when given; its epoch must
  // match: FailedPrecondition "unrecoverable position" otherwise). See
  // HistoryRequest for `limit` and `reverse`. FailedPrecondition when the
  // namespace keeps no history.
  absl::StatusOr<HistoryRead> History(const std::string& key,
                                      const std::optional<StreamPosition>& since, int64_t limit,
                                      bool reverse);
  // HistoryRemove() drops the kept publications; the position stays.
  absl::Status HistoryRemove(const std::string& key);

  // CheckNamespace() is InvalidArgument when `key`'s namespace is not
  // configured.
  absl::Status CheckNamespace(const std::string& key) const;

  // Presence()
  //
  // One page of `key`'s presence (see PresenceTable::List; `page_size` > 0).
  // FailedPrecondition when the namespace does not have `presence`.
  absl::StatusOr<PresenceTable::Page> Presence(const std::string& key, size_t page_size,
                                               const std::string& page_token) const;
  // PresenceStats() counts `key`'s clients and users; errors as Presence().
  absl::StatusOr<PresenceTable::Counts> PresenceStats(const std::string& key) const;

  // SendCommand()
  //
  // Gives `command` a fresh id, enqueues it to every attached edge and has
  // `done` called exactly once (never under the hub lock, see CommandRouter)
  // when every edge answered, detached or `deadline` passed. With no edge
  // attached `done` gets an empty outcome at once.
  void SendCommand(edge::v1::EdgeCommand command, absl::Time deadline, CommandCallback done);

  // Maintain() expires history and idempotency keys, forgets streams that
  // hold nothing and interest no edge, and detaches edges silent for longer
  // than `edge_timeout`. Called periodically (every second by
  // ControlServer).
  void Maintain(absl::Time now);

  // Session lifecycle, called by EdgeSession from gRPC threads without any
  // lock held; writes they cause (the ack, join/leave events to other edges)
  // are started before they return.
  void AttachSession(EdgeSession* session, const edge::v1::Hello& hello, std::string peer);
  void ApplyInterest(EdgeSession* session, const edge::v1::InterestChange& change);
  void UpdateStats(EdgeSession* session, const edge::v1::EdgeStats& stats);
  // Idempotent; after it returns the hub holds no pointer to `session`.
  void RemoveSession(EdgeSession* session);

  // Snapshot for the Stats RPC.
  void FillStats(int top_channels, v1::StatsResponse* out) const;
  // Counts for the Info RPC.
  HubCounts Counts() const;

  // Receives the edges' CommandResults.
  CommandRouter* router() { return &router_; }

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
  // Work that must wait until mu_ is released: starting writes (Kick) and
  // finishing streams (FinishPrepared). Sessions in it stay alive until then
  // (see EdgeSession::Enqueue and PrepareFinish).
  struct Deferred {
    std::vector<EdgeSession*> kick;
    std::vector<EdgeSession*> finish;
    void Run();
  };

  const config::v1::NamespaceOptions* OptionsFor(const std::string& key) const;
  absl::Status NotConfigured(const std::string& key) const;
  absl::StatusOr<const config::v1::NamespaceOptions*> PresenceOptionsFor(
      const std::string& key) const;
  ChannelState& ChannelFor(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HistoryPolicy PolicyFor(const config::v1::NamespaceOptions& options) const;
  void AddInterest(EdgeSession* session, SessionState& state, const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveInterest(EdgeSession* session, SessionState& state, const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddUser(SessionState& state, const std::string& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveUser(SessionState& state, const std::string& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Presence changes of `session`; they may detach sessions (including
  // `session`) whose queue overflows.
  void AddPresenceLocked(EdgeSession* session, const edge::v1::PresenceEntry& entry,
                         Deferred* deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemovePresenceLocked(EdgeSession* session, const edge::v1::PresenceEntry& entry,
                            Deferred* deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Enqueues a join (or leave) of `info` on `key` to every interested edge
  // when the namespace has join_leave.
  void EmitJoinLeaveLocked(const std::string& key, const v1::ClientInfo& info, bool join,
                           Deferred* deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Enqueues `publication` on each of `sessions` (a copy: detaching edits
  // the channel lists) and detaches those whose queue overflowed.
  void FanOutLocked(std::vector<EdgeSession*> sessions,
                    const std::shared_ptr<const edge::v1::Publication>& publication,
                    Deferred* deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DetachSlowLocked(EdgeSession* session, Deferred* deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops every trace of the session (interest, users, presence with its
  // leave events, commands awaiting it); false if it was not attached.
  bool DetachLocked(EdgeSession* session, Deferred* deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewEpoch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const NamespaceRegistry default_namespaces_ = NamespaceRegistry::Default();
  const NamespaceRegistry* const namespaces_;
  const EdgeHubOptions options_;
  // Its thread runs command callbacks without the hub lock.
  CommandRouter router_;
  mutable absl::Mutex mu_;
  // Node map: ChannelState is not movable (ChannelStream's epoch is const).
  absl::node_hash_map<std::string, ChannelState> channels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<EdgeSession*, SessionState> sessions_ ABSL_GUARDED_BY(mu_);
  // User -> number of attached edges where the user has connections.
  absl::flat_hash_map<std::string, uint32_t> users_ ABSL_GUARDED_BY(mu_);
  PresenceTable presence_ ABSL_GUARDED_BY(mu_);
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
