// ControlLink: the edge's end of the Attach stream to wirehub-control.
#ifndef WIREHUB_EDGE_CONTROL_LINK_H_
#define WIREHUB_EDGE_CONTROL_LINK_H_

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
#include "wirehub/control/v1/control.grpc.pb.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::edge {

struct ControlLinkOptions {
  std::string control_address;  // HOST:PORT of wirehub-control.
  std::string edge_id;
  std::string version;
  std::string public_address;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
};

// ControlLink keeps one Attach stream to control alive: it (re)connects
// with jittered exponential backoff, says hello with the edge's complete
// interest, forwards interest changes and stats, and hands every
// ControlMessage to `on_message`.
//
// Thread-safe. It runs two threads of its own (reader and writer); the
// callbacks run on the reader thread and must only post to the event loop.
// Interest is mirrored here, so a reconnect needs nothing from the loop.
class ControlLink {
 public:
  using MessageCallback = std::function<void(edge::v1::ControlMessage&&)>;
  // Called with true after a hello was written, false when the stream ended.
  using StateCallback = std::function<void(bool attached)>;

  ControlLink(ControlLinkOptions options, MessageCallback on_message, StateCallback on_state);
  ~ControlLink();
  ControlLink(const ControlLink&) = delete;
  ControlLink& operator=(const ControlLink&) = delete;

  void Start();
  // Stop() ends the stream and joins the threads; idempotent.
  void Stop();

  // Interest changes. Each returns the sequence number control will
  // acknowledge (ControlMessage.interest_ack) once the change is applied.
  uint64_t AddChannel(const std::string& channel);
  uint64_t RemoveChannel(const std::string& channel);
  void AddUser(const std::string& user);
  void RemoveUser(const std::string& user);

  // Queues a stats report; a report not yet sent is replaced, with its
  // delivery count carried over.
  void SendStats(edge::v1::EdgeStats stats);

  // Presence of one client in one channel (by channel key), mirrored like
  // interest so a re-attach re-sends all of it.
  void AddPresence(const std::string& channel_key, const control::v1::ClientInfo& info);
  void RemovePresence(const std::string& channel_key, const std::string& client);

  // Queues the answer to an EdgeCommand of the current stream. Results not
  // written when the stream ends are dropped: control counts that edge as
  // missing for those commands anyway.
  void SendResult(edge::v1::CommandResult result);

  // Unary calls to control, each bounded by `timeout`; `done` runs on a
  // gRPC thread and must only post to the loop.
  template <typename Response>
  using Callback = std::function<void(const grpc::Status&, const Response&)>;
  using HistoryCallback = Callback<control::v1::HistoryResponse>;
  void FetchHistory(const control::v1::HistoryRequest& request, absl::Duration timeout,
                    HistoryCallback done);
  void FetchPresence(const control::v1::PresenceRequest& request, absl::Duration timeout,
                     Callback<control::v1::PresenceResponse> done);
  void FetchPresenceStats(const control::v1::PresenceStatsRequest& request, absl::Duration timeout,
                          Callback<control::v1::PresenceStatsResponse> done);
  void Publish(const edge::v1::ClientPublishRequest& request, absl::Duration timeout,
               Callback<control::v1::PublishResponse> done);

 private:
  void RunReader();
  void RunWriter(grpc::ClientReaderWriter<edge::v1::EdgeMessage, edge::v1::ControlMessage>* stream,
                 uint64_t generation);
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ControlLinkOptions options_;
  const MessageCallback on_message_;
  const StateCallback on_state_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<edge::v1::EdgeLinkService::Stub> stub_;
  std::unique_ptr<control::v1::ControlService::Stub> control_stub_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Bumped per stream; the writer of an older stream stops.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stream_open_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<edge::v1::EdgeMessage> hello_ ABSL_GUARDED_BY(mu_);

  // Mirror of the loop's interest, and what changed since the last write:
  // per name the state it must end in (true: present).
  absl::flat_hash_set<std::string> channels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> users_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, bool> pending_channels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, bool> pending_users_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<edge::v1::EdgeStats> pending_stats_ ABSL_GUARDED_BY(mu_);
  // (channel key, client id) -> info; pending: the state each must end in
  // (nullopt: removed).
  using PresenceKey = std::pair<std::string, std::string>;
  absl::flat_hash_map<PresenceKey, control::v1::ClientInfo> presence_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<PresenceKey, std::optional<control::v1::ClientInfo>> pending_presence_
      ABSL_GUARDED_BY(mu_);
  std::vector<edge::v1::CommandResult> pending_results_ ABSL_GUARDED_BY(mu_);
  const int64_t started_at_unix_ms_;

  std::thread reader_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CONTROL_LINK_H_
