// LwsTransport: the Transport over libwebsockets 4.1.6 on a libuv loop.
#ifndef WIREHUB_EDGE_LWS_TRANSPORT_H_
#define WIREHUB_EDGE_LWS_TRANSPORT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tls_key_pair.h"
#include "edge/client_address.h"
#include "edge/connection_limiter.h"
#include "edge/edge_metrics.h"
#include "edge/handshake_check.h"
#include "edge/loop_inbox.h"
#include "edge/origin_policy.h"
#include "edge/transport.h"

struct lws;

namespace wirehub::edge {

struct LwsTransportOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8000;  // 0 picks a free port.
  // The only path that upgrades to a WebSocket.
  std::string path = "/connection/websocket";
  // Largest client message (after joining fragments); larger closes 1009.
  size_t max_message_bytes = 64 * 1024;
  // Bound of what may wait for one client's socket.
  size_t queue_max_bytes = 1 << 20;
  // SO_SNDBUF of each client socket; 0 keeps the kernel's autotuning.
  int send_buffer_bytes = 0;
  // Upper bound of one coalesced WebSocket frame.
  size_t max_write_batch_bytes = 256 * 1024;
  // How long accepting pauses when the process is out of descriptors.
  absl::Duration accept_pause = absl::Milliseconds(100);

  // wss when both are set: PEM certificate chain and private key, re-read
  // by ReloadCertificate().
  std::string tls_cert_file;
  std::string tls_key_file;
  // Who may complete a handshake (config allowed_origins, trusted_proxies,
  // limits).
  OriginPolicy origins;
  TrustedProxies trusted_proxies;
  ConnectionLimiterOptions per_address;
  // Sockets held at once, handshakes included; at the bound accepting
  // stops until one closes. 0: the open-files limit minus 128.
  size_t max_connections = 0;
  // From accept to a completed WebSocket handshake (TLS included).
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Refusals are logged once per interval per reason, with a count.
  absl::Duration refusal_log_interval = absl::Seconds(10);
  // Borrowed; must outlive the transport. Null counts into
  // EdgeMetrics::Discard().
  EdgeMetrics* metrics = nullptr;
};

// Why the transport turned a connection away (counted and logged).
enum class Refusal {
  kBadRequest,        // 400: not a valid WebSocket handshake.
  kSubprotocol,       // 400: Sec-WebSocket-Protocol offers no format we speak.
  kWrongPath,         // 404.
  kVersion,           // 426.
  kOrigin,            // 403.
  kAddressLimit,      // 429: max_connections_per_ip.
  kAddressRate,       // 429: connection_rate_per_ip.
  kHandshakeTimeout,  // No complete handshake in time.
  kEdgeFull,          // max_connections reached: accepting paused.
  kDraining,          // 503: a handshake after accepting stopped.
  kCount,
};

struct LwsConnection;
struct LwsTimer;

// LwsTransport owns the libuv loop, the lws context, the listening socket
// and every client connection.
//
// Thread: edge loop only, except Post(), RequestStop()-style posting and
// construction. The handler must outlive Shutdown().
class LwsTransport final : public Transport {
 public:
  explicit LwsTransport(LwsTransportOptions options);
  ~LwsTransport() override;
  LwsTransport(const LwsTransport&) = delete;
  LwsTransport& operator=(const LwsTransport&) = delete;

  // Binds the listener and creates the loop and the lws context; returns
  // the bound port. A taken or invalid address is an error naming it.
  absl::StatusOr<int> Init(TransportHandler* handler);
  // Serves until StopLoop().
  void Run();
  // Closes what is left (OnClose for each connection still open), the lws
  // context and the loop. Idempotent; the destructor calls it.
  void Shutdown();

  bool Send(Connection* connection, Frame frame) override;
  void Close(Connection* connection, int code, std::string_view reason) override;
  size_t QueuedBytes(const Connection* connection) const override;
  TimerId StartTimer(absl::Duration period, std::function<void()> task) override;
  void CancelTimer(TimerId id) override;
  void Post(std::function<void()> task) override { inbox_.Post(std::move(task)); }
  void StopLoop() override;
  bool OnLoopThread() const override;

  int bound_port() const { return bound_port_; }
  bool tls() const { return !options_.tls_cert_file.empty(); }
  size_t max_connections() const { return max_connections_; }
  // Sockets held now, handshakes included.
  size_t open_sockets() const { return open_sockets_; }
  uint64_t refusals(Refusal reason) const { return refusals_[static_cast<int>(reason)]; }
  EdgeMetrics& metrics() const { return *metrics_; }

  // StopAccepting()
  //
  // The drain: no new connection from now on. The listener stops listening
  // (connections still in its backlog are reset, new ones refused, so
  // clients try another edge at once) and handshakes under way are refused
  // with 503. Connections already open stay. Idempotent.
  void StopAccepting();
  bool accepting_stopped() const { return accepting_stopped_; }

  // ApplyAdmission()
  //
  // A config reload: takes origins, trusted_proxies, per_address,
  // max_connections and handshake_timeout from `reloaded` for the
  // handshakes to come. Open connections stay, even above a lowered
  // max_connections (accepting pauses until they are below it).
  void ApplyAdmission(const LwsTransportOptions& reloaded);

  // Re-reads the certificate and key files; installs them for new
  // handshakes when they form a valid pair that differs from the one in
  // use, and otherwise keeps that one (logging why). Connections stay.
  void ReloadCertificate();

 private:
  // libuv and lws state; its static callbacks call the methods below.
  struct Impl;
  // `user` is lws's per-session pointer (null: there is no per-session
  // data) or, for the TLS set-up callback, the vhost's SSL_CTX.
  int HandleCallback(struct lws* wsi, int reason, void* user, void* in, size_t len);
  void OnEstablished(struct lws* wsi);
  int OnReceive(LwsConnection* connection, const char* data, size_t len);
  int OnWritable(LwsConnection* connection);
  void OnClosed(LwsConnection* connection);
  // wirehub_edge_connections by wire format.
  void SetConnectionGauges();
  bool WriteQueued(LwsConnection* connection);
  void RequestWritable(LwsConnection* connection);
  void MarkDirty(LwsConnection* connection);
  // Once per loop turn, before the loop waits: each connection's queue
  // leaves in one frame.
  void FlushDirty();
  void AcceptPending();
  void PauseAccepting();
  void ResumeAcceptingIfBelowLimit();
  int ConfirmUpgrade(struct lws* wsi, std::string_view upgrade);
  int RefuseHandshake(struct lws* wsi, Refusal reason, const HandshakeRefusal& answer);
  void OnSocketCreated(struct lws* wsi);
  void OnSocketDestroyed(struct lws* wsi);
  void ExpireHandshakes();
  void CountRefusal(Refusal reason);
  void LogRefusals();
  absl::Status InitTls(void* ssl_ctx);

  // Not const: ApplyAdmission() replaces the admission options.
  LwsTransportOptions options_;
  EdgeMetrics* const metrics_;
  TransportHandler* handler_ = nullptr;
  std::unique_ptr<Impl> impl_;
  LoopInbox inbox_;
  // Set once the wake-up handle exists; Post() before that only queues.
  // Cleared by Shutdown() under wake_mu_, which Post()'s wake-up also
  // holds: a thread that saw it set cannot reach the handle after it was
  // closed (the admin thread's /healthz posts until the very end).
  absl::Mutex wake_mu_;
  std::atomic<bool> wake_ready_{false};
  std::atomic<std::thread::id> loop_thread_{};
  int listen_fd_ = -1;
  int bound_port_ = 0;
  uint64_t next_connection_id_ = 1;
  TimerId next_timer_id_ = 1;
  absl::flat_hash_map<TimerId, LwsTimer*> timers_;
  absl::flat_hash_set<LwsConnection*> connections_;
  // Of connections_, those speaking centrifuge-protobuf.
  size_t protobuf_connections_ = 0;
  // Connections with output queued this turn; may hold connections closed
  // since, which FlushDirty() recognizes by their absence from connections_.
  std::vector<LwsConnection*> dirty_;
  std::string write_buffer_;
  int64_t last_accept_error_log_ms_ = 0;

  // A socket between accept and its WebSocket handshake.
  struct Pending {
    uint64_t serial = 0;
    // Set once ConnectionLimiter counted it.
    std::string limit_key;
  };
  struct Deadline {
    absl::Time at;
    struct lws* wsi;
    uint64_t serial;
  };
  size_t max_connections_ = 0;
  size_t open_sockets_ = 0;
  bool paused_at_limit_ = false;
  bool accepting_stopped_ = false;
  uint64_t next_pending_serial_ = 1;
  absl::flat_hash_map<struct lws*, Pending> pending_;
  // In creation order, so in deadline order.
  std::deque<Deadline> deadlines_;
  ConnectionLimiter limiter_;
  std::optional<TlsKeyPair> certificate_;
  void* ssl_ctx_ = nullptr;
  uint64_t refusals_[static_cast<int>(Refusal::kCount)] = {};
  uint64_t refusals_logged_[static_cast<int>(Refusal::kCount)] = {};
  absl::Time last_limiter_sweep_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_LWS_TRANSPORT_H_
