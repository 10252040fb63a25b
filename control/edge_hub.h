// EdgeHub: the meeting point of publishers and attached edges inside
// wirehub-control.
#ifndef WIREHUB_CONTROL_EDGE_HUB_H_
#define WIREHUB_CONTROL_EDGE_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/namespace_registry.h"
#include "control/command_router.h"
#include "control/control_metrics.h"
#include "control/edge_registry.h"
#include "control/namespace_table.h"
#include "control/presence_store.h"
#include "control/replica_bus.h"
#include "control/stream_store.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::control {

class EdgeSession;

struct EdgeHubOptions {
  // How long Publish remembers an idempotency key (until SetConfig()).
  absl::Duration idempotency_window = absl::Minutes(5);
  // Where the hub counts; must outlive it. Null: the hub keeps its own
  // (tests).
  ControlMetrics* metrics = nullptr;
  // An attached edge that sends nothing (stats, interest, results) for
  // longer than this is detached by Maintain(): its stream is finished with
  // UNAVAILABLE and its interest and presence are dropped.
  absl::Duration edge_timeout = absl::Seconds(15);
};

// One version of what the hub takes from the configuration file. Immutable;
// the hub swaps whole versions (SetConfig), and each operation works with
// the version it loaded when it began.
struct HubConfig {
  std::shared_ptr<const NamespaceTable> namespaces;
  absl::Duration idempotency_window = absl::Minutes(5);
};

// Counts for the Info RPC.
struct HubCounts {
  uint64_t edges = 0;
  uint64_t channels_tracked = 0;
};

// Thread-safe.
//
// EdgeHub sequences publications per channel through its StreamStore and
// hands each one to every attached edge that has interest in its channel
// (EdgeRegistry), once per edge and in offset order. It keeps presence over
// all edges in its PresenceStore (emitting join/leave events into the same
// per-edge queues) and sends server API commands to every edge through its
// CommandRouter.
//
// Channels are keys (common/channel_name.h: "TENANT|CHANNEL" or "CHANNEL")
// everywhere in the hub; options come from the namespace of the channel
// part of the key.
//
// There is no hub-wide lock. Lock order: a stream store's channel lock,
// then the registry's lock (shared while fanning out), then
// EdgeSession::mu_; the router's and the presence store's locks are taken
// alone. Nothing that may re-enter (StartWrite, Finish, command callbacks)
// runs under any of them: such work is collected and done after.
class EdgeHub {
 public:
  // `namespaces` is copied; null means the default registry (every
  // namespace, no history). Null stores mean the in-memory ones.
  // A `bus` (engine redis) takes server API calls to the edges of the other
  // control replicas and answers theirs.
  explicit EdgeHub(const NamespaceRegistry* namespaces = nullptr, EdgeHubOptions options = {},
                   std::unique_ptr<StreamStore> streams = nullptr,
                   std::unique_ptr<PresenceStore> presence = nullptr,
                   std::unique_ptr<ReplicaBus> bus = nullptr);
  ~EdgeHub();
  EdgeHub(const EdgeHub&) = delete;
  EdgeHub& operator=(const EdgeHub&) = delete;

  // Start() starts the stream store (a networked one connects) and the
  // router's thread; Stop() ends both, completing the commands still in
  // flight. Stop() is idempotent.
  void Start();
  void Stop();

  // Publish()
  //
  // Assigns the next offset of channel `key`, keeps the publication in
  // history when its namespace has history, enqueues it for every
  // interested edge, then calls `done` (on the caller's thread with the
  // in-memory store, later on the store's thread otherwise) with its
  // position. With a non-empty `idempotency_key` already used on the
  // channel within the window, `done` gets that publish's position
  // (replayed) and nothing is published. `info`, when given, is the
  // publishing client (client publish). `key` and `data` must already be
  // validated; a channel in an unknown namespace is InvalidArgument.
  using PublishDone = std::function<void(absl::StatusOr<StreamPosition>)>;
  void Publish(const std::string& key, std::string data, const std::string& idempotency_key,
               const v1::ClientInfo* info, PublishDone done);
  // The same, waiting for `done` (tests and tools; never on a gRPC thread).
  absl::StatusOr<StreamPosition> PublishAndWait(const std::string& key, std::string data,
                                                const std::string& idempotency_key = "",
                                                const v1::ClientInfo* info = nullptr);

  // History()
  //
  // Publications of `key` after `since` (when given; its epoch must
  // match: FailedPrecondition "unrecoverable position" otherwise). See
  // HistoryRequest for `limit` and `reverse`. FailedPrecondition when the
  // namespace keeps no history. `done` runs once, with no hub lock held:
  // before History returns with the memory engine, later on the engine's
  // thread with Redis.
  using HistoryDone = std::function<void(absl::StatusOr<HistoryRead>)>;
  void History(const std::string& key, const std::optional<StreamPosition>& since, int64_t limit,
               bool reverse, HistoryDone done);
  // The same, waiting for `done` (tests and tools; never on a gRPC thread).
  absl::StatusOr<HistoryRead> HistoryAndWait(const std::string& key,
                                             const std::optional<StreamPosition>& since,
                                             int64_t limit, bool reverse);
  // HistoryRemove() drops the kept publications; the position stays.
  // `done` as in History.
  void HistoryRemove(const std::string& key, std::function<void(absl::Status)> done);

  // CheckNamespace() is InvalidArgument when `key`'s namespace is not
  // configured.
  absl::Status CheckNamespace(const std::string& key) const;

  // SetConfig() puts a new configuration version in force (SIGHUP reload):
  // calls that begin afterwards use it, calls in progress finish with the
  // one they began with (each holds its version).
  //
  // A stream whose namespace changed keeps its epoch, offset and kept
  // publications; the new history_size and history_ttl apply from its next
  // publish and from the next maintenance pass (within a second), which
  // trims what the new policy no longer keeps. When its namespace lost
  // history or vanished, History answers FailedPrecondition (or
  // InvalidArgument, unknown namespace) at once and the kept publications
  // are dropped by that pass; the stream itself is forgotten once idle for
  // the idempotency window, so a namespace that comes back before then
  // continues the same epoch.
  void SetConfig(std::shared_ptr<const HubConfig> config);
  std::shared_ptr<const HubConfig> config() const;

  // CountRefusal() counts a publication to `key` (a key or a channel name,
  // possibly invalid) refused before it reached the hub.
  void CountRefusal(std::string_view key, const absl::Status& status) const;

  // CloseEdges() ends every attached edge's stream with `status` and
  // refuses edges that attach afterwards (a drain: edges re-attach to
  // another control). Returns the number of edges closed.
  size_t CloseEdges(const grpc::Status& status);

  // EngineReady() is OK when the stream and presence engine can serve; the
  // memory engine always can (a networked one reports its link).
  absl::Status EngineReady() const;

  // CollectMetrics() sets the gauges computed at scrape time (edges, queue
  // depths, streams, history, presence, engine_up); O(edges) under the
  // registry's shared lock plus the stores' counters.
  void CollectMetrics();

  ControlMetrics& metrics() { return *metrics_; }

  // Presence()
  //
  // One page of `key`'s presence (see PresenceTable::List; `page_size` > 0).
  // FailedPrecondition when the namespace does not have `presence`.
  // `done` runs once, as History's.
  void Presence(const std::string& key, size_t page_size, const std::string& page_token,
                PresenceStore::PageDone done) const;
  // PresenceStats() counts `key`'s clients and users; errors as Presence().
  void PresenceStats(const std::string& key, PresenceStore::CountsDone done) const;
  // The same, waiting (tests and tools; never on a gRPC thread).
  absl::StatusOr<PresenceTable::Page> PresenceAndWait(const std::string& key, size_t page_size,
                                                      const std::string& page_token) const;
  absl::StatusOr<PresenceTable::Counts> PresenceStatsAndWait(const std::string& key) const;

  // SendCommand()
  //
  // Gives `command` a fresh id, enqueues it to every attached edge and has
  // `done` called exactly once (never under a hub lock, see CommandRouter)
  // when every edge answered, detached or `deadline` passed. With no edge
  // attached `done` gets an empty outcome at once. With a replica bus the
  // edges of every other replica are asked too, and their answers merged;
  // a replica that does not answer in time counts as one missing edge.
  void SendCommand(edge::v1::EdgeCommand command, absl::Time deadline, CommandCallback done);

  // Stats() is FillStats() over every replica (see the bus): edges listed
  // once each, counts summed, top channels merged. unique_users and
  // channels_with_subscribers are summed per replica, so a user or channel
  // on edges of two replicas counts twice.
  void Stats(int top_channels, absl::Time deadline, std::function<void(v1::StatsResponse)> done);

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

  // Snapshot for the Stats RPC: O(edges) under the registry lock, the
  // ranking outside any lock.
  void FillStats(int top_channels, v1::StatsResponse* out) const;
  // Counts for the Info RPC.
  HubCounts Counts() const;

  // Receives the edges' CommandResults.
  CommandRouter* router() { return &router_; }

  // Merges `from` (another replica's stats) into `into`, top channels
  // summed and cut to `top_channels`.
  static void MergeStats(const v1::StatsResponse& from, int top_channels, v1::StatsResponse* into);

 private:
  // Work that must wait until no lock is held: starting writes (Kick),
  // detaching edges whose queue overflowed, and finishing streams
  // (FinishPrepared). Sessions in `kick` and `finish` stay alive until then
  // (see EdgeSession::Enqueue and PrepareFinish).
  struct Deferred {
    std::vector<EdgeSession*> kick;
    std::vector<EdgeSession*> overflowed;
    std::vector<EdgeSession*> finish;
  };

  static const config::v1::NamespaceOptions* OptionsFor(const HubConfig& config,
                                                        const std::string& key);
  absl::Status NotConfigured(const std::string& key) const;
  absl::StatusOr<const config::v1::NamespaceOptions*> PresenceOptionsFor(
      const HubConfig& config, const std::string& key) const;
  HistoryPolicy PolicyFor(const config::v1::NamespaceOptions& options) const;
  // SendCommand() to this replica's edges only.
  void SendLocalCommand(edge::v1::EdgeCommand command, absl::Time deadline, CommandCallback done);
  // Runs another replica's request against this replica's edges.
  void OnReplicaRequest(const edge::v1::ReplicaRequest& request, ReplicaBus::Reply reply);
  // Takes a publication or join/leave event from a store that fans out by
  // itself (StreamStore::fans_out()) and queues it to the interested edges.
  void OnFeed(const std::shared_ptr<const edge::v1::Publication>& publication);
  // The store's feed broke: every edge is detached, re-attaches (here or to
  // another replica) and repairs its gaps from history.
  void OnEngineLost(const absl::Status& status);
  // Detaches every session and ends its stream with `status`.
  size_t DetachAll(const grpc::Status& status);
  // Presence changes of one hello or interest change, applied in order.
  struct PresenceChanges {
    std::vector<edge::v1::PresenceEntry> added;
    std::vector<edge::v1::PresenceEntry> removed;
    bool empty() const { return added.empty() && removed.empty(); }
  };
  void ApplyPresence(EdgeSession* session, const PresenceChanges& changes, Deferred* deferred);
  // Has the store watch `keys` for `session` (attach `serial`), then
  // applies `presence` and queues the interest ack `seq` (when not 0) to
  // it; a failed watch detaches it. With a store that announces joins
  // through the channels' pub/sub, the join of an edge's first subscriber
  // of a channel must come after the edge's subscription, so presence
  // waits for the watch; every change goes through it then, which keeps
  // their order.
  void WatchAndAck(EdgeSession* session, uint64_t serial, const std::vector<std::string>& keys,
                   uint64_t seq, PresenceChanges presence);
  // Enqueues `publication` on every edge interested in `key`.
  void FanOut(const std::string& key,
              const std::shared_ptr<const edge::v1::Publication>& publication, Deferred* deferred);
  // Runs what `deferred` collected; detaching may collect more.
  void Run(Deferred* deferred);
  void AddPresence(EdgeSession* session, const edge::v1::PresenceEntry& entry, Deferred* deferred);
  void RemovePresence(EdgeSession* session, const edge::v1::PresenceEntry& entry,
                      Deferred* deferred);
  // Whether `key`'s namespace (in the version in force) has join_leave.
  bool Announces(const std::string& key) const;
  // Enqueues a join (or leave) of `info` on `key` to every interested edge
  // when the namespace has join_leave.
  void EmitJoinLeave(const std::string& key, const v1::ClientInfo& info, bool join,
                     Deferred* deferred);
  // Drops every trace of the session (interest, users, presence with its
  // leave events, commands awaiting it); false if it was not attached.
  bool Detach(EdgeSession* session, Deferred* deferred, std::string* peer);

  // Null unless the hub keeps its own metrics (options.metrics null).
  std::unique_ptr<metrics::Registry> own_registry_;
  std::unique_ptr<ControlMetrics> own_metrics_;
  ControlMetrics* const metrics_;
  const EdgeHubOptions options_;
  // The configuration version in force (SetConfig).
  std::atomic<std::shared_ptr<const HubConfig>> config_;
  // Set by CloseEdges(): edges attaching afterwards are turned away.
  std::atomic<bool> closing_{false};
  const std::unique_ptr<StreamStore> streams_;
  const std::unique_ptr<PresenceStore> presence_;
  const std::unique_ptr<ReplicaBus> bus_;
  EdgeRegistry registry_;
  // Runs command callbacks without any hub lock.
  CommandRouter router_;
  // Serializes the end of a session's life (RemoveSession, from its
  // OnDone before it deletes itself) with Maintain() finishing silent
  // sessions, so Maintain never touches a deleted session. Publishing never
  // takes it.
  absl::Mutex lifecycle_mu_;
  std::atomic<uint64_t> publications_accepted_{0};
  std::atomic<uint64_t> deliveries_{0};
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_EDGE_HUB_H_
