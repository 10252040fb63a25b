// EdgeServer: the libwebsockets event loop that holds client connections.
#ifndef WIREHUB_EDGE_EDGE_SERVER_H_
#define WIREHUB_EDGE_EDGE_SERVER_H_

#include <uv.h>  // Before libwebsockets.h: enables its libuv declarations.

#include <libwebsockets.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/jwt.h"
#include "common/namespace_registry.h"
#include "edge/channel_authorizer.h"
#include "edge/client_protocol.h"
#include "edge/client_session.h"
#include "edge/loop_inbox.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.pb.h"

#include <grpcpp/grpcpp.h>

namespace wirehub::edge {

class ControlLink;

struct EdgeServerOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8000;  // 0 picks a free port.
  std::string version = "0.1.0";
  absl::Duration ping_interval = absl::Seconds(25);
  absl::Duration pong_timeout = absl::Seconds(8);
  absl::Duration connect_timeout = absl::Seconds(10);
  // How long a subscribe may wait for control to acknowledge the interest.
  absl::Duration subscribe_timeout = absl::Seconds(10);
  absl::Duration stats_interval = absl::Seconds(5);
  size_t max_message_bytes = 64 * 1024;
  size_t client_queue_max_bytes = 1 << 20;
  // SO_SNDBUF of each client socket; 0 keeps the kernel's autotuning, which
  // lets a stalled reader hold up to net.ipv4.tcp_wmem's maximum (4 MiB by
  // default) of kernel memory before client_queue_max_bytes even starts to
  // fill.
  int client_send_buffer_bytes = 0;
  size_t max_subscriptions_per_client = 128;
  // Upper bound of one coalesced WebSocket frame.
  size_t max_write_batch_bytes = 256 * 1024;
  // Channel namespaces; a subscribe outside them answers 102.
  NamespaceRegistry namespaces = NamespaceRegistry::Default();
  // Most publications one recovery may return (config
  // recovery_max_publications).
  uint64_t recovery_max_publications = 1000;
  // How long a subscribe waits for control's History answer.
  absl::Duration history_timeout = absl::Seconds(5);
  // Token checks (config token_audience / token_issuer).
  std::string token_audience;
  std::string token_issuer;
  // How long after its token's expiry a connection (or a subscription) that
  // did not refresh is closed with 3005 (or unsubscribed with 2501). The SDK
  // refreshes when the ttl of the reply runs out, so this is its time to
  // fetch a token and send it.
  absl::Duration expired_close_delay = absl::Seconds(25);
  // Client publish rate limit per connection: sustained per second and
  // burst. Beyond it a publish answers 111 (too many requests).
  double client_publish_rate = 20;
  double client_publish_burst = 40;
  // Bound of the edge's calls to control for a client (publish, presence).
  absl::Duration control_call_timeout = absl::Seconds(5);
  // Reported in Info and Connections.
  std::string edge_id;
};

// EdgeServer runs one lws context on a libuv loop it owns. Client traffic,
// fan-out, timers and everything lws happen on the loop thread; other
// threads reach it only through Post().
// Thread: edge loop only, except Post(), RequestStop() and the constructor.
class EdgeServer {
 public:
  EdgeServer(EdgeServerOptions options, std::string token_secret);
  ~EdgeServer();
  EdgeServer(const EdgeServer&) = delete;
  EdgeServer& operator=(const EdgeServer&) = delete;

  // Init() creates the loop, context and listener; returns the bound port.
  absl::StatusOr<int> Init();
  // Borrowed; must outlive Run(). Set before Run().
  void SetControlLink(ControlLink* link) { link_ = link; }
  // Run() serves until RequestStop(); then closes clients with 3001.
  void Run();

  // Thread-safe.
  void Post(std::function<void()> task) { inbox_.Post(std::move(task)); }
  void RequestStop();

  // Entry points for the control link (posted to the loop).
  void OnControlMessage(const edge::v1::ControlMessage& message);
  void OnLinkState(bool attached);

  static int Callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in,
                      size_t len);

 private:
  // A channel with local subscribers (confirmed) or subscribes waiting for
  // control's interest ack (pending).
  struct PendingSubscribe {
    ClientSession* session;
    uint32_t command_id;
    absl::Time since;
    bool recover = false;
    std::string epoch;
    uint64_t offset = 0;
    // Server-side subscription (token `channels`, the Subscribe API): the
    // client learns of it from a subscribe push, not a reply.
    bool server_side = false;
  };
  // A subscriber of a channel with history, waiting for control's History
  // answer to learn its position (and what it missed). Live publications
  // that arrive meanwhile are held here and merged by offset afterwards.
  struct Positioning {
    PendingSubscribe request;
    std::vector<std::pair<uint64_t, Frame>> held;
    size_t held_bytes = 0;
  };
  struct ChannelEntry {
    // Subscriber -> offset of the last publication delivered to it (0 for
    // channels without history). Sessions join at different positions, so
    // repair and live delivery skip, per subscriber, what it already has.
    absl::flat_hash_map<ClientSession*, uint64_t> subscribers;
    std::vector<PendingSubscribe> pending;
    absl::flat_hash_map<ClientSession*, Positioning> positioning;
    // Namespace options (history, recovery); never null.
    const config::v1::NamespaceOptions* options = nullptr;
    // Channels with history: the stream position delivered to subscribers
    // so far (empty epoch: not known yet).
    std::string epoch;
    uint64_t last_offset = 0;
    // Gap repair in flight: live publications wait here until control's
    // History answer fills the hole before them.
    bool repairing = false;
    std::vector<std::pair<uint64_t, Frame>> repair_held;
    size_t repair_held_bytes = 0;
    uint64_t interest_seq = 0;
    bool confirmed = false;
  };

  int HandleCallback(struct lws* wsi, enum lws_callback_reasons reason, void** slot, void* in,
                     size_t len);
  void OnEstablished(struct lws* wsi, void** slot);
  int OnReceive(ClientSession* session, const char* data, size_t len);
  int OnWritable(ClientSession* session);
  void OnClosed(ClientSession* session);

  void HandleMessage(ClientSession* session, std::string_view message);
  void HandleCommand(ClientSession* session, const Command& command);
  void HandleConnect(ClientSession* session, const Command& command);
  void HandleSubscribe(ClientSession* session, const Command& command);
  void HandleUnsubscribe(ClientSession* session, const Command& command);
  void HandleHistory(ClientSession* session, const Command& command);
  void HandleRefresh(ClientSession* session, const Command& command);
  void HandleSubRefresh(ClientSession* session, const Command& command);
  void HandlePublish(ClientSession* session, const Command& command);
  // Sends the session's oldest waiting publication to control unless one
  // is in flight.
  void SendNextPublish(ClientSession* session);
  void HandlePresence(ClientSession* session, const Command& command);
  // Starts a subscription the caller has authorized: joins or creates the
  // channel entry and completes once control acknowledged the interest.
  void BeginSubscribe(ClientSession* session, const std::string& channel,
                      const config::v1::NamespaceOptions* options, PendingSubscribe request,
                      Subscription subscription);
  // A server-side subscription; false when the session is already
  // subscribed, the channel is invalid, or the session is at its limit.
  bool ServerSubscribe(ClientSession* session, const std::string& channel,
                       const SubscribeSpec* recovery);
  // The channel key of a session's channel name.
  static std::string KeyOf(const ClientSession* session, std::string_view channel);
  control::v1::ClientInfo InfoOf(const ClientSession* session, std::string_view channel) const;
  // Marks a session a subscriber of `key` and reports its presence.
  void AddSubscriber(ClientSession* session, const std::string& key, ChannelEntry& entry,
                     uint64_t delivered);
  void RemoveSubscription(ClientSession* session, std::string channel);
  // Server API commands from control; each answers with one CommandResult.
  void HandleEdgeCommand(const edge::v1::EdgeCommand& command);
  std::vector<ClientSession*> MatchSessions(std::string_view tenant, std::string_view user,
                                            std::string_view client) const;
  void ConfirmChannels(uint64_t acked_seq);
  // Makes a confirmed subscribe a subscriber: at once for channels without
  // history, after control's History answer for channels with history.
  void CompleteSubscribe(const std::string& channel, ChannelEntry& entry, PendingSubscribe request);
  void OnHistory(uint64_t session_id, const std::string& channel, const grpc::Status& status,
                 const control::v1::HistoryResponse& response);
  // Asks control's History and runs `on_loop` with the answer on the loop.
  using HistoryHandler =
      std::function<void(const grpc::Status&, const control::v1::HistoryResponse&)>;
  void FetchHistoryToLoop(const control::v1::HistoryRequest& request, HistoryHandler on_loop);
  // Gap repair: fetch what the channel's subscribers missed after
  // entry.last_offset and deliver it before anything newer.
  void StartRepair(const std::string& channel, ChannelEntry& entry);
  void OnRepairHistory(const std::string& channel, const grpc::Status& status,
                       const control::v1::HistoryResponse& response);
  // Delivers one live publication of a channel with history to its
  // subscribers, advancing the channel's position.
  void DeliverTracked(ChannelEntry& entry, uint64_t offset, const Frame& frame);
  // Repair impossible: every subscriber gets an unsubscribe push 2500 so the
  // SDK resubscribes with recovery, and the subscriptions end here.
  void ResetChannel(const std::string& channel, ChannelEntry& entry);

  void Send(ClientSession* session, Frame frame);
  void SendText(ClientSession* session, std::string text);
  void Disconnect(ClientSession* session, int code, std::string_view reason);
  void RequestWritable(ClientSession* session);
  // Queues `session` for FlushDirty() (unless lws is already to call back
  // when it is writable).
  void MarkDirty(ClientSession* session);
  // Runs once per loop turn, before the loop waits for I/O: writes each
  // dirty session's queue in one frame right away. Only a socket that cannot
  // take it all goes through lws's writable callback (two epoll_ctl calls
  // and a wake-up per write otherwise).
  void FlushDirty();
  static void OnPrepare(uv_prepare_t* handle);
  // Writes one coalesced frame of `session`'s queue; false when the
  // connection failed.
  bool WriteQueued(ClientSession* session);

  void Sweep();
  void ReportStats();
  void BeginShutdown();
  static void SweepTimer(lws_sorted_usec_list_t* sul);
  static void StatsTimer(lws_sorted_usec_list_t* sul);
  static void ShutdownTimer(lws_sorted_usec_list_t* sul);

  std::string NewClientId();

  const EdgeServerOptions options_;
  const JwtVerifier verifier_;
  const ChannelAuthorizer authorizer_;
  const VerifyOptions connection_tokens_;
  const absl::Time started_at_;
  ControlLink* link_ = nullptr;

  uv_loop_t loop_;
  bool loop_initialized_ = false;
  uv_prepare_t flush_prepare_;
  // Sessions with output queued this turn; may hold sessions closed since,
  // which FlushDirty() recognizes by their absence from sessions_.
  std::vector<ClientSession*> dirty_;
  struct lws_context* context_ = nullptr;
  std::vector<struct lws_protocols> protocols_;
  LoopInbox inbox_;
  std::atomic<bool> stop_requested_{false};
  bool shutting_down_ = false;

  // An lws timer that knows its server; `sul` first so the callback can
  // recover the slot from the lws_sorted_usec_list_t pointer.
  struct TimerSlot {
    lws_sorted_usec_list_t sul;
    EdgeServer* server;
  };
  TimerSlot sweep_timer_{{}, this};
  TimerSlot stats_timer_{{}, this};
  TimerSlot shutdown_timer_{{}, this};
  absl::Duration sweep_period_;
  int bound_port_ = 0;

  absl::flat_hash_set<ClientSession*> sessions_;
  // Session ids outlive sessions in callbacks from other threads.
  absl::flat_hash_map<uint64_t, ClientSession*> sessions_by_id_;
  uint64_t next_session_id_ = 1;
  // Node map: ChannelEntry addresses stay valid while others are added.
  absl::node_hash_map<std::string, ChannelEntry> channels_;
  // Channels whose entry has pending subscribes, by interest seq: acks
  // confirm them (and reply to their subscribes) in the order they were
  // asked for.
  absl::btree_map<uint64_t, std::string> pending_channels_;
  // Connected users -> local connection count.
  absl::flat_hash_map<std::string, uint32_t> users_;
  uint64_t subscriptions_ = 0;
  uint64_t deliveries_since_report_ = 0;

  CommandParser parser_;
  std::vector<Command> commands_;
  std::string write_buffer_;
  std::mt19937_64 rng_;
  Frame ping_frame_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_EDGE_SERVER_H_
