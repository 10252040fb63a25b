// ControlLink: the edge's end of the Attach stream to wirehub-control, and
// the unary calls the edge makes to control on behalf of its clients, all on
// control's EdgeLinkService (the edge link), never its public API.
#ifndef WIREHUB_EDGE_CONTROL_LINK_H_
#define WIREHUB_EDGE_CONTROL_LINK_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "edge/control_api.h"
#include "edge/control_link_tls.h"
#include "edge/control_targets.h"
#include "edge/edge_metrics.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::edge {

struct ControlLinkOptions {
  // Control's edge link listeners (EdgeLinkService): a comma-separated
  // HOST:PORT list, one per replica, where a HOST may be a DNS name with
  // several addresses. Check it with ParseControlTargets() first.
  std::string control_address;
  // TLS on the link; plaintext when tls.ca_file is empty. Check it with
  // CheckControlLinkTls() first.
  ControlLinkTlsOptions tls;
  std::string edge_id;
  std::string version;
  std::string public_address;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // An attempt is cancelled, and the next replica tried, when writing the
  // Hello and the snapshot's pages makes no progress for `attach_timeout`
  // (a blackholed address, a replica that stopped reading: each message
  // written is progress, so a large snapshot is not cut short), or when
  // control has them all but does not acknowledge the snapshot within
  // `snapshot_ack_timeout` (a wedged replica; the Redis engine follows
  // every channel before it acknowledges).
  absl::Duration attach_timeout = absl::Seconds(1);
  absl::Duration snapshot_ack_timeout = absl::Seconds(30);
  // A failed attach is logged with gRPC's reason (a refused TLS handshake,
  // control unreachable), at most once per this interval; the next line
  // counts the attempts that failed meanwhile.
  absl::Duration failure_log_interval = absl::Seconds(5);
  // Upper bound of one serialized EdgeMessage carrying interest or stats.
  // Must stay well under control's receive limit (1,179,648 bytes with
  // default flags). A single presence entry larger than this still goes, in
  // a page of its own.
  size_t max_message_bytes = 256 << 10;
  // control_link_up and control_link_attaches_total, set by the reader
  // thread. Borrowed; null counts into EdgeMetrics::Discard().
  EdgeMetrics* metrics = nullptr;
};

// ControlLink
//
// Thread-safe, except Start() and Stop(), which belong to the owner's
// thread. It runs a reader thread, and a writer and a watchdog thread per
// stream; `on_message` and `on_state` run on the reader thread and must
// only post to the event loop. Interest and presence are mirrored here, so
// a re-attach needs nothing from the loop.
//
// The stream: ControlLink keeps one Attach stream alive, to one of the
// control replicas. When it ends, or stalls before control acknowledged
// its snapshot (`attach_timeout`, `snapshot_ack_timeout`), the next replica
// is tried at once; only a round in which every replica failed backs off
// (ControlTargets). The unary calls
// go to the replica the stream attached to last. Each stream opens with a
// Hello carrying the edge's identity, followed by a snapshot of the mirror
// as InterestChange pages (channels, then users, then presence), each page
// at most `max_message_bytes`. Every snapshot takes a fresh interest
// sequence number, greater than any AddChannel()/RemoveChannel() returned
// before it, and only the snapshot's last page carries it (the Hello does
// when the snapshot is empty). Changes made while a snapshot is written follow it,
// paged the same way, so nothing is lost or reordered.
//
// on_state(true) means attached and positioned: control acknowledged the
// snapshot's sequence number, so it holds the whole interest and presence
// of the edge. It runs right after the ControlMessage carrying that
// acknowledgement went to `on_message`. on_state(false) runs when a stream
// that had reported true ended.
//
// Example:
//   ControlLink link(options, on_message, on_state);
//   link.Start();
//   uint64_t seq = link.AddChannel("news");  // Confirmed by interest_ack >= seq.
//   ...
//   link.Stop();  // Every unary callback has run once it returns.
class ControlLink final : public ControlApi {
 public:
  using MessageCallback = std::function<void(edge::v1::ControlMessage&&)>;
  // True once control acknowledged a stream's snapshot, false when that
  // stream ended.
  using StateCallback = std::function<void(bool attached)>;

  ControlLink(ControlLinkOptions options, MessageCallback on_message, StateCallback on_state);
  // Calls Stop().
  ~ControlLink() override;
  ControlLink(const ControlLink&) = delete;
  ControlLink& operator=(const ControlLink&) = delete;

  // Start() starts the reader thread, which attaches.
  void Start();
  // Stop() ends the stream, joins the threads (a DNS lookup of a --control
  // name in progress finishes first), cancels the unary calls in flight and
  // waits until each of their callbacks has run. Calls made after it
  // started call back at once with UNAVAILABLE. Idempotent.
  void Stop();

  uint64_t AddChannel(const std::string& channel_key) override;
  uint64_t RemoveChannel(const std::string& channel_key) override;
  void AddUser(const std::string& user_key) override;
  void RemoveUser(const std::string& user_key) override;
  void AddPresence(const std::string& channel_key, const control::v1::ClientInfo& info) override;
  void RemovePresence(const std::string& channel_key, const std::string& client) override;

  // The report's per-channel counts are trimmed to the busiest channels
  // when the report would exceed `max_message_bytes`.
  void SendStats(edge::v1::EdgeStats stats) override;
  // Results not written when the stream ends are dropped: control counts
  // that edge as missing for those commands anyway.
  void SendResult(edge::v1::CommandResult result) override;

  void FetchHistory(const control::v1::HistoryRequest& request, absl::Duration timeout,
                    Callback<control::v1::HistoryResponse> done) override;
  void FetchPresence(const control::v1::PresenceRequest& request, absl::Duration timeout,
                     Callback<control::v1::PresenceResponse> done) override;
  void FetchPresenceStats(const control::v1::PresenceStatsRequest& request, absl::Duration timeout,
                          Callback<control::v1::PresenceStatsResponse> done) override;
  void Publish(const edge::v1::ClientPublishRequest& request, absl::Duration timeout,
               Callback<control::v1::PublishResponse> done) override;

 private:
  class UnaryCalls;
  class FailureLog;
  using Stream = grpc::ClientReaderWriter<edge::v1::EdgeMessage, edge::v1::ControlMessage>;
  using Stub = edge::v1::EdgeLinkService::Stub;
  // (channel key, client id).
  using PresenceKey = std::pair<std::string, std::string>;

  // Interest changes not yet written: per name the state it must end in
  // (true or a ClientInfo: present; false or nullopt: absent).
  struct PendingInterest {
    absl::flat_hash_map<std::string, bool> channels;
    absl::flat_hash_map<std::string, bool> users;
    absl::flat_hash_map<PresenceKey, std::optional<control::v1::ClientInfo>> presence;
    bool empty() const { return channels.empty() && users.empty() && presence.empty(); }
  };
  // A copy of the mirror, taken when a stream opens.
  struct Snapshot {
    std::vector<std::string> channels;
    std::vector<std::string> users;
    std::vector<edge::v1::PresenceEntry> presence;
  };

  template <typename Request, typename Response, typename StartFn>
  void StartUnary(const Request& request, absl::Duration timeout, Callback<Response> done,
                  StartFn start);

  void RunReader();
  // One Attach stream to `endpoint`, until it ends.
  void RunStream(const ControlEndpoint& endpoint, const std::shared_ptr<Stub>& stub,
                 FailureLog& failures);
  // Cancels the stream of `generation` when its opening stalls or its
  // snapshot is not acknowledged in time (see ControlLinkOptions).
  void WatchAttach(uint64_t generation);
  // The stub of `endpoint`'s channel; forgets the channels of endpoints no
  // longer in the round.
  std::shared_ptr<Stub> StubFor(const ControlEndpoint& endpoint);
  std::shared_ptr<Stub> NewStub(const std::string& grpc_target, const std::string& authority) const;
  // Writes `opening` (the Hello and the snapshot pages), then whatever is
  // queued, until the stream of `generation` ends.
  void RunWriter(Stream* stream, uint64_t generation, std::vector<edge::v1::EdgeMessage> opening);
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Snapshot CopyMirrorLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The Hello followed by the snapshot's pages; `seq` is the snapshot's.
  std::vector<edge::v1::EdgeMessage> OpeningMessages(Snapshot snapshot, uint64_t seq) const;
  // `pending` as InterestChange pages, the last one carrying `seq`.
  std::vector<edge::v1::EdgeMessage> ChangeMessages(PendingInterest pending, uint64_t seq) const;

  const ControlLinkOptions options_;
  EdgeMetrics* const metrics_;
  const MessageCallback on_message_;
  const StateCallback on_state_;
  const int64_t started_at_unix_ms_;
  // Shared with every call in flight, so the last callback can finish with
  // it after Stop() returned and the link is gone.
  const std::shared_ptr<UnaryCalls> calls_;
  // What every channel to control shares.
  grpc::ChannelArguments channel_args_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  // Reader thread only: the replicas and the order they are tried in, and
  // a channel per endpoint of the current round.
  ControlTargets targets_;
  absl::flat_hash_map<std::string, std::shared_ptr<Stub>> stubs_;
  // Where unary calls go: the replica of the stream that attached last;
  // before any did, the first target.
  mutable absl::Mutex call_stub_mu_;
  std::shared_ptr<Stub> call_stub_ ABSL_GUARDED_BY(call_stub_mu_);

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Bumped per stream; the writer of an older stream stops.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stream_open_ ABSL_GUARDED_BY(mu_) = false;
  // Of the current stream: the messages of its opening not written yet
  // (all of them until it is open), whether control acknowledged its
  // snapshot, and why WatchAttach() cancelled it (empty: it did not).
  size_t opening_left_ ABSL_GUARDED_BY(mu_) = 0;
  bool positioned_ ABSL_GUARDED_BY(mu_) = false;
  std::string stalled_ ABSL_GUARDED_BY(mu_);

  // Mirror of the loop's interest and presence.
  absl::flat_hash_set<std::string> channels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> users_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<PresenceKey, control::v1::ClientInfo> presence_ ABSL_GUARDED_BY(mu_);
  // Everything the mirror gained or lost since the last snapshot or the
  // last interest write, whichever came later.
  PendingInterest pending_ ABSL_GUARDED_BY(mu_);
  // Last interest sequence number handed out (changes and snapshots).
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<edge::v1::EdgeStats> pending_stats_ ABSL_GUARDED_BY(mu_);
  std::vector<edge::v1::CommandResult> pending_results_ ABSL_GUARDED_BY(mu_);

  std::thread reader_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CONTROL_LINK_H_
