// EdgeServer: the Centrifugo client protocol over the edge's transport.
#ifndef WIREHUB_EDGE_EDGE_SERVER_H_
#define WIREHUB_EDGE_EDGE_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/jwt.h"
#include "common/namespace_registry.h"
#include "common/token_keys.h"
#include "edge/channel_authorizer.h"
#include "edge/client_calls.h"
#include "edge/client_protocol.h"
#include "edge/client_session.h"
#include "edge/control_api.h"
#include "edge/drain_plan.h"
#include "edge/edge_metrics.h"
#include "edge/protobuf_codec.h"
#include "edge/server_commands.h"
#include "edge/session_registry.h"
#include "edge/subscriptions.h"
#include "edge/transport.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::edge {

struct EdgeServerOptions {
  // Reported in Info; the transport owns the listener itself.
  std::string listen_address = "127.0.0.1:8000";
  std::string version = "0.1.0";
  absl::Duration ping_interval = absl::Seconds(25);
  absl::Duration pong_timeout = absl::Seconds(8);
  absl::Duration connect_timeout = absl::Seconds(10);
  // How long a subscribe may wait for control to acknowledge the interest.
  absl::Duration subscribe_timeout = absl::Seconds(10);
  absl::Duration stats_interval = absl::Seconds(5);
  size_t client_queue_max_bytes = 1 << 20;
  size_t max_subscriptions_per_client = 128;
  // Control calls in flight per connection and per edge; past either a
  // command answers 111 (too many requests).
  uint32_t max_calls_per_connection = 16;
  uint32_t max_calls_per_edge = 8192;
  // Channel namespaces; a subscribe outside them answers 102.
  NamespaceRegistry namespaces = NamespaceRegistry::Default();
  // Most publications one recovery may return (config
  // recovery_max_publications).
  uint64_t recovery_max_publications = 1000;
  // How long one history call (position, recovery or repair page) may take.
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
  // Commands of every kind (pongs aside) per second per connection, and the
  // burst (config limits.command_rate/command_burst). Beyond it a command
  // answers 111; a connection refused more than `command_burst` times in a
  // row is closed with 3013.
  double command_rate = 100;
  double command_burst = 200;
  // Connections one user (tenant-scoped, anonymous aside) may hold on this
  // edge; the next connect is closed with 3504. 0: unlimited.
  uint32_t max_connections_per_user = 0;
  // Refusals above are logged once per interval, with counts.
  absl::Duration refusal_log_interval = absl::Seconds(10);
  // Bound of the edge's calls to control for a client (publish, presence).
  absl::Duration control_call_timeout = absl::Seconds(5);
  // How long clients get to complete the close handshake on shutdown.
  absl::Duration shutdown_grace = absl::Seconds(2);
  // The drain RequestStop() starts: accepting goes on for `drain_delay`
  // (load balancers take the edge out meanwhile), then stops
  // (`stop_accepting`), and the clients are closed with 3001 in waves spread
  // over `drain_duration` (DrainPlan). Zero: at once.
  absl::Duration drain_delay = absl::ZeroDuration();
  absl::Duration drain_duration = absl::ZeroDuration();
  // Loop thread: stops taking new connections (LwsTransport::StopAccepting).
  std::function<void()> stop_accepting;
  // Reported in Info and Connections.
  std::string edge_id;
  // Borrowed; must outlive the server. Null counts into
  // EdgeMetrics::Discard().
  EdgeMetrics* metrics = nullptr;
};

// EdgeServer speaks the client protocol: it authenticates connections,
// answers their commands (in the order they came, each once), and passes
// control's publications and server API calls to them.
// Thread: edge loop only, except the constructor and RequestStop().
class EdgeServer final : public TransportHandler {
 public:
  // `token_keys` verifies connection and subscription tokens; an empty set
  // refuses every token.
  EdgeServer(EdgeServerOptions options, std::shared_ptr<const TokenKeySet> token_keys,
             Transport* transport);
  ~EdgeServer() override;
  EdgeServer(const EdgeServer&) = delete;
  EdgeServer& operator=(const EdgeServer&) = delete;

  // Borrowed; must outlive the loop. Set before Start().
  void SetControlLink(ControlApi* link);
  // Loop thread: verifies tokens with `keys` from now on (a reload). Open
  // connections keep what they were granted; their next refresh or
  // subscribe uses the new keys.
  void SetTokenKeys(std::shared_ptr<const TokenKeySet> keys);
  // ApplyConfig()
  //
  // Loop thread: a config reload. Takes from `reloaded` what a reload may
  // change: the namespaces, token_audience / token_issuer, command_rate /
  // command_burst and max_connections_per_user (the rest of the options
  // need a restart). New rules apply to new commands; established
  // connections stay. A live subscription whose namespace changed keeps
  // the options it was made under until it ends (its channel holds them); one
  // whose namespace is gone, or now has binary_data on a JSON connection, is
  // ended with an unsubscribe push 2000 (the SDK stays unsubscribed, as a
  // resubscribe would be refused with 102 or 107). Returns how many
  // subscriptions it ended.
  size_t ApplyConfig(const EdgeServerOptions& reloaded);
  // Starts the timers; the loop runs afterwards.
  void Start();
  // Thread-safe: drains (see drain_delay / drain_duration): clients are
  // closed with 3001, then the loop ends.
  void RequestStop();
  // Thread-safe: a drain cut short (a second SIGTERM): stops accepting and
  // closes every client now.
  void RequestStopNow();

  // From the control link (posted to the loop).
  void OnControlMessage(const edge::v1::ControlMessage& message);
  void OnLinkState(bool attached);

  // TransportHandler.
  void OnOpen(Connection* connection) override;
  void OnMessage(Connection* connection, std::string_view message, bool binary) override;
  void OnClose(Connection* connection) override;

  size_t connections() const { return sessions_.size(); }
  EdgeMetrics& metrics() const { return *metrics_; }
  // The bound HOST:PORT, reported in Info.
  void set_listen_address(std::string address) { server_commands_.set_address(std::move(address)); }

 private:
  void HandleCommand(ClientSession* session, const Command& command);
  // Takes a token from the session's command bucket; false (having
  // answered 111, or closed the connection) when there is none.
  bool AdmitCommand(ClientSession* session, const Command& command);
  void HandleConnect(ClientSession* session, const Command& command);
  void HandleSubscribe(ClientSession* session, const Command& command);
  void HandleUnsubscribe(ClientSession* session, const Command& command);
  void HandleRefresh(ClientSession* session, const Command& command);
  void HandleSubRefresh(ClientSession* session, const Command& command);
  // A server-side subscription; false when the session is already
  // subscribed, the channel is invalid, or the session is at its limit.
  bool ServerSubscribe(ClientSession* session, const std::string& channel,
                       const SubscribeSpec* recovery);
  void SendText(ClientSession* session, std::string text) {
    sessions_.SendText(session, std::move(text));
  }
  void Disconnect(ClientSession* session, int code, std::string_view reason) {
    sessions_.Disconnect(session, code, reason);
  }

  void Sweep();
  void LogRefusals();
  void ReportStats();
  // The drain: BeginDrain() on RequestStop(); DrainTick() every drain tick
  // stops accepting once drain_delay passed, then closes a wave.
  void BeginDrain();
  void DrainTick();
  void StopAccepting();
  void CloseForDrain(size_t count);
  void CloseAllNow();
  void FinishDrain();
  std::string NewClientId();

  // Not const: ApplyConfig() replaces its reloadable fields. ClientCalls
  // borrows `options_.namespaces`, which is assigned, never moved.
  EdgeServerOptions options_;
  // Not const: SetTokenKeys() swaps its key set; authorizer_ borrows it.
  JwtVerifier verifier_;
  ChannelAuthorizer authorizer_;
  VerifyOptions connection_tokens_;
  Transport* const transport_;
  EdgeMetrics* const metrics_;
  ControlApi* link_ = nullptr;
  SessionRegistry sessions_;
  Subscriptions subscriptions_;
  ClientCalls client_calls_;
  ServerCommands server_commands_;
  // Connected users (tenant-scoped keys) -> local connection count.
  absl::flat_hash_map<std::string, uint32_t> users_;
  std::vector<Transport::TimerId> timers_;
  // The drain: started, past its delay (accepting stopped, closing in
  // waves), and over (the loop is ending).
  bool draining_ = false;
  bool accepting_stopped_ = false;
  bool drain_finished_ = false;
  absl::Time drain_started_;
  // When the loop ends whatever is left: delay + duration + shutdown_grace.
  absl::Time drain_deadline_;
  std::optional<DrainPlan> drain_plan_;
  // Clients closed with 3001 by the drain.
  uint64_t drain_closed_ = 0;
  uint64_t commands_refused_ = 0;
  uint64_t commands_refused_logged_ = 0;
  uint64_t user_limit_refused_ = 0;
  uint64_t user_limit_refused_logged_ = 0;
  CommandParser parser_;
  ProtobufCommandParser protobuf_parser_;
  std::vector<Command> commands_;
  std::mt19937_64 rng_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_EDGE_SERVER_H_
