#include "edge/edge_server.h"

#include <algorithm>
#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/logging.h"
#include "edge/client_codec.h"

namespace wirehub::edge {
namespace {

// The answer to a refused subscribe or sub_refresh (ChannelAuthorizer).
std::string RefusalReply(WireFormat format, uint32_t id, const absl::Status& status) {
  if (absl::IsDeadlineExceeded(status)) {
    return EncodeErrorReply(format, id, kErrorTokenExpired, "token expired", false);
  }
  return EncodeErrorReply(format, id, kErrorPermissionDenied, "permission denied", false);
}

// CheckWireFormat()
//
// Why `session` may not receive the channel `channel` of a namespace with
// `options` (subscribe, history, presence), or OK. A binary_data
// namespace's publications need not be JSON, so only connections that use
// the centrifuge-protobuf subprotocol may have them.
absl::Status CheckWireFormat(const ClientSession& session, std::string_view channel,
                             const config::v1::NamespaceOptions& options) {
  if (!options.binary_data() || session.format == WireFormat::kProtobuf) return absl::OkStatus();
  absl::StatusOr<std::string_view> name = NamespaceRegistry::NamespaceOf(channel);
  const std::string what = name.ok() && !name->empty()
                               ? absl::StrCat("namespace \"", AsAbsl(*name), "\"")
                               : std::string("the default namespace");
  return absl::FailedPreconditionError(
      absl::StrCat(what, " carries binary data; it needs the centrifuge-protobuf subprotocol"));
}

// The error reply to a command refused by CheckWireFormat().
std::string WireFormatReply(WireFormat format, uint32_t id, const absl::Status& status) {
  return EncodeErrorReply(format, id, kErrorBadRequest,
                          absl::StrCat("bad request: ", status.message()), false);
}

SubscriptionOptions SubscriptionOptionsOf(const EdgeServerOptions& options) {
  SubscriptionOptions out;
  out.recovery_max_publications = options.recovery_max_publications;
  out.client_queue_max_bytes = options.client_queue_max_bytes;
  out.subscribe_timeout = options.subscribe_timeout;
  out.history_timeout = options.history_timeout;
  out.metrics = options.metrics;
  return out;
}

// The `method` label of `command`'s count (a pong is not a command).
CommandMethod MethodOf(const Command& command) {
  switch (command.kind) {
    case Command::Kind::kConnect:
      return CommandMethod::kConnect;
    case Command::Kind::kSubscribe:
      return CommandMethod::kSubscribe;
    case Command::Kind::kUnsubscribe:
      return CommandMethod::kUnsubscribe;
    case Command::Kind::kPong:
    case Command::Kind::kPing:
      return CommandMethod::kPing;
    case Command::Kind::kHistory:
      return CommandMethod::kHistory;
    case Command::Kind::kPublish:
      return CommandMethod::kPublish;
    case Command::Kind::kPresence:
      return CommandMethod::kPresence;
    case Command::Kind::kPresenceStats:
      return CommandMethod::kPresenceStats;
    case Command::Kind::kRefresh:
      return CommandMethod::kRefresh;
    case Command::Kind::kSubRefresh:
      return CommandMethod::kSubRefresh;
    case Command::Kind::kUnknown:
      return CommandMethod::kUnknown;
    case Command::Kind::kNotAvailable:
    case Command::Kind::kInvalidParams:
      break;
  }
  return CommandMethodNamed(command.method);
}

// A connect refused: both the command and the connection count.
void CountConnectRefused(EdgeMetrics& metrics, RefusalReason reason) {
  metrics.CountCommand(CommandMethod::kConnect, CommandOutcome::kError);
  metrics.CountRefusal(reason);
}

ClientCallOptions ClientCallOptionsOf(const EdgeServerOptions& options) {
  ClientCallOptions out;
  out.client_queue_max_bytes = options.client_queue_max_bytes;
  out.history_timeout = options.history_timeout;
  out.control_call_timeout = options.control_call_timeout;
  out.client_publish_rate = options.client_publish_rate;
  out.client_publish_burst = options.client_publish_burst;
  out.metrics = options.metrics;
  return out;
}

}  // namespace

EdgeServer::EdgeServer(EdgeServerOptions options, std::shared_ptr<const TokenKeySet> token_keys,
                       Transport* transport)
    : options_(std::move(options)),
      verifier_(std::move(token_keys)),
      authorizer_(&verifier_, options_.token_audience, options_.token_issuer),
      connection_tokens_{TokenKind::kConnection, options_.token_audience, options_.token_issuer},
      transport_(transport),
      metrics_(options_.metrics != nullptr ? options_.metrics : &EdgeMetrics::Discard()),
      sessions_(transport,
                SessionLimits{options_.client_queue_max_bytes, options_.max_calls_per_connection,
                              options_.max_calls_per_edge}),
      subscriptions_(SubscriptionOptionsOf(options_), &sessions_, transport),
      client_calls_(ClientCallOptionsOf(options_), &options_.namespaces, &sessions_, transport),
      server_commands_(
          NodeIdentity{options_.edge_id, options_.version, options_.listen_address, absl::Now()},
          &sessions_, &subscriptions_,
          [this](ClientSession* session, const std::string& channel) {
            return ServerSubscribe(session, channel, nullptr);
          }),
      rng_(std::random_device{}()) {}

EdgeServer::~EdgeServer() = default;

void EdgeServer::SetControlLink(ControlApi* link) {
  link_ = link;
  subscriptions_.set_link(link);
  client_calls_.set_link(link);
}

void EdgeServer::SetTokenKeys(std::shared_ptr<const TokenKeySet> keys) {
  assert(transport_->OnLoopThread());
  verifier_ = JwtVerifier(std::move(keys));
}

void EdgeServer::Start() {
  absl::Duration shortest =
      std::min({options_.pong_timeout, options_.connect_timeout, options_.ping_interval});
  absl::Duration sweep_period = std::clamp(shortest / 4, absl::Milliseconds(50), absl::Seconds(1));
  timers_.push_back(transport_->StartTimer(sweep_period, [this] { Sweep(); }));
  timers_.push_back(transport_->StartTimer(options_.stats_interval, [this] { ReportStats(); }));
  timers_.push_back(
      transport_->StartTimer(options_.refusal_log_interval, [this] { LogRefusals(); }));
}

void EdgeServer::LogRefusals() {
  if (commands_refused_ > commands_refused_logged_) {
    WH_LOG(WARNING) << "refused " << commands_refused_ - commands_refused_logged_
                    << " commands over command_rate in the last "
                    << absl::FormatDuration(options_.refusal_log_interval) << " (111, or 3013 "
                    << "after command_burst refusals in a row)";
    commands_refused_logged_ = commands_refused_;
  }
  if (user_limit_refused_ > user_limit_refused_logged_) {
    WH_LOG(WARNING) << "refused " << user_limit_refused_ - user_limit_refused_logged_
                    << " connections over max_connections_per_user in the last "
                    << absl::FormatDuration(options_.refusal_log_interval) << " (3504)";
    user_limit_refused_logged_ = user_limit_refused_;
  }
}

void EdgeServer::RequestStop() {
  transport_->Post([this] { BeginDrain(); });
}

void EdgeServer::RequestStopNow() {
  transport_->Post([this] {
    BeginDrain();
    CloseAllNow();
  });
}

void EdgeServer::OnOpen(Connection* connection) {
  ClientSession* session = sessions_.Open(connection);
  session->reply_deadline = absl::Now() + options_.connect_timeout;
  session->command_bucket.Fill(options_.command_burst, absl::Now());
  // A handshake that was under way when accepting stopped.
  if (accepting_stopped_) {
    ++drain_closed_;
    Disconnect(session, kCloseShutdown, "shutdown");
  }
}

void EdgeServer::OnClose(Connection* connection) {
  auto* session = static_cast<ClientSession*>(connection->user);
  if (session == nullptr) return;
  subscriptions_.RemoveAll(session);
  if (session->connected) {
    std::string user = MakeChannelKey(session->tenant, session->user);
    auto it = users_.find(user);
    if (it != users_.end() && --it->second == 0) {
      users_.erase(it);
      if (link_ != nullptr && !session->user.empty()) link_->RemoveUser(user);
    }
  }
  sessions_.Remove(session);
  if (accepting_stopped_ && sessions_.size() == 0) FinishDrain();
}

void EdgeServer::OnMessage(Connection* connection, std::string_view message, bool binary) {
  assert(transport_->OnLoopThread());
  auto* session = static_cast<ClientSession*>(connection->user);
  if (session == nullptr || session->close_code != 0) return;
  // Each subprotocol has its frame type: a text frame on a protobuf
  // connection, or a binary one on a JSON connection, is a bad request.
  bool protobuf = session->format == WireFormat::kProtobuf;
  if (binary != protobuf) {
    Disconnect(session, kCloseBadRequest, "bad request");
    return;
  }
  absl::Status status =
      protobuf ? protobuf_parser_.Parse(message, &commands_) : parser_.Parse(message, &commands_);
  if (!status.ok()) {
    Disconnect(session, kCloseBadRequest, "bad request");
    return;
  }
  for (const Command& command : commands_) {
    if (session->close_code != 0) break;
    HandleCommand(session, command);
  }
  // A message of thousands of tiny commands must not leave its peak behind.
  constexpr size_t kKeptCommands = 64;
  if (commands_.capacity() > kKeptCommands) std::vector<Command>().swap(commands_);
}

bool EdgeServer::AdmitCommand(ClientSession* session, const Command& command) {
  if (session->command_bucket.Take(options_.command_rate, options_.command_burst, absl::Now())) {
    session->command_strikes = 0;
    return true;
  }
  ++commands_refused_;
  metrics_->CountCommand(MethodOf(command), CommandOutcome::kRefused);
  if (++session->command_strikes > options_.command_burst) {
    Disconnect(session, kCloseTooManyRequests, "too many requests");
  } else if (command.id != 0) {
    SendText(session, EncodeErrorReply(session->format, command.id, kErrorTooManyRequests,
                                       "too many requests", true));
  }
  return false;
}

void EdgeServer::HandleCommand(ClientSession* session, const Command& command) {
  if (command.kind != Command::Kind::kPong && !AdmitCommand(session, command)) return;
  if (!session->connected && command.kind != Command::Kind::kConnect) {
    if (command.kind != Command::Kind::kPong) {
      metrics_->CountCommand(MethodOf(command), CommandOutcome::kError);
    }
    Disconnect(session, kCloseBadRequest, "bad request");
    return;
  }
  if (command.kind == Command::Kind::kHistory || command.kind == Command::Kind::kPresence ||
      command.kind == Command::Kind::kPresenceStats) {
    // History and presence of a channel one may not subscribe to: its
    // history may hold bytes this connection cannot carry.
    const config::v1::NamespaceOptions* namespace_options =
        options_.namespaces.Find(command.channel);
    absl::Status receivable = namespace_options != nullptr
                                  ? CheckWireFormat(*session, command.channel, *namespace_options)
                                  : absl::OkStatus();
    if (!receivable.ok()) {
      metrics_->CountCommand(MethodOf(command), CommandOutcome::kError);
      SendText(session, WireFormatReply(session->format, command.id, receivable));
      return;
    }
  }
  switch (command.kind) {
    case Command::Kind::kPong:
      session->reply_deadline = absl::InfiniteFuture();
      return;
    case Command::Kind::kConnect:
      HandleConnect(session, command);
      return;
    case Command::Kind::kSubscribe:
      HandleSubscribe(session, command);
      return;
    case Command::Kind::kUnsubscribe:
      HandleUnsubscribe(session, command);
      return;
    case Command::Kind::kHistory:
      client_calls_.HandleHistory(session, command);
      return;
    case Command::Kind::kRefresh:
      HandleRefresh(session, command);
      return;
    case Command::Kind::kSubRefresh:
      HandleSubRefresh(session, command);
      return;
    case Command::Kind::kPublish:
      client_calls_.HandlePublish(session, command);
      return;
    case Command::Kind::kPresence:
    case Command::Kind::kPresenceStats:
      client_calls_.HandlePresence(session, command);
      return;
    case Command::Kind::kPing:
      // A client ping also proves the client alive.
      session->reply_deadline = absl::InfiniteFuture();
      metrics_->CountCommand(CommandMethod::kPing, CommandOutcome::kOk);
      SendText(session, EncodeEmptyResult(session->format, command.id, "ping"));
      return;
    case Command::Kind::kNotAvailable:
      metrics_->CountCommand(MethodOf(command), CommandOutcome::kError);
      if (command.id != 0) {
        SendText(session, EncodeErrorReply(session->format, command.id, kErrorNotAvailable,
                                           "not available", false));
      }
      return;
    case Command::Kind::kUnknown:
      metrics_->CountCommand(CommandMethod::kUnknown, CommandOutcome::kError);
      SendText(session, EncodeErrorReply(session->format, command.id, kErrorMethodNotFound,
                                         "method not found", false));
      return;
    case Command::Kind::kInvalidParams:
      metrics_->CountCommand(MethodOf(command), CommandOutcome::kError);
      SendText(session, EncodeErrorReply(session->format, command.id, kErrorBadRequest,
                                         absl::StrCat("bad request: ", command.problem), false));
      return;
  }
}

void EdgeServer::HandleConnect(ClientSession* session, const Command& command) {
  if (session->connected) {
    metrics_->CountCommand(CommandMethod::kConnect, CommandOutcome::kError);
    Disconnect(session, kCloseBadRequest, "bad request");
    return;
  }
  if (!command.has_token) {
    CountConnectRefused(*metrics_, RefusalReason::kToken);
    Disconnect(session, kCloseInvalidToken, "invalid token");
    return;
  }
  absl::Time now = absl::Now();
  absl::StatusOr<TokenClaims> claims = verifier_.Verify(command.token, now, connection_tokens_);
  if (!claims.ok()) {
    CountConnectRefused(*metrics_, RefusalReason::kToken);
    if (absl::IsDeadlineExceeded(claims.status())) {
      // The SDK answers 109 by fetching a fresh token and connecting again;
      // one that cannot is still bound by the connect deadline.
      SendText(session, EncodeErrorReply(session->format, command.id, kErrorTokenExpired,
                                         "token expired", false));
      return;
    }
    Disconnect(session, kCloseInvalidToken, "invalid token");
    return;
  }
  if (options_.max_connections_per_user > 0 && !claims->subject.empty()) {
    auto held = users_.find(MakeChannelKey(claims->tenant, claims->subject));
    if (held != users_.end() && held->second >= options_.max_connections_per_user) {
      ++user_limit_refused_;
      CountConnectRefused(*metrics_, RefusalReason::kUserLimit);
      Disconnect(session, kCloseConnectionLimit, "connection limit");
      return;
    }
  }
  session->connected = true;
  metrics_->CountCommand(CommandMethod::kConnect, CommandOutcome::kOk);
  metrics_->connects.Increment();
  session->user = std::move(claims->subject);
  session->tenant = std::move(claims->tenant);
  session->conn_info = std::move(claims->info_json);
  if (!claims->channels.empty()) {
    session->token_channels = std::make_unique<absl::flat_hash_set<std::string>>(
        claims->channels.begin(), claims->channels.end());
  }
  session->expires_at = claims->expires_at;
  session->connected_at = now;
  session->client_id = NewClientId();
  session->reply_deadline = absl::InfiniteFuture();
  session->next_ping = now + options_.ping_interval;
  std::string user = MakeChannelKey(session->tenant, session->user);
  if (++users_[user] == 1 && link_ != nullptr && !session->user.empty()) link_->AddUser(user);
  int ping_seconds = static_cast<int>(absl::ToInt64Seconds(options_.ping_interval));
  ConnectResult result;
  result.client = session->client_id;
  result.version = options_.version;
  result.ping_seconds = std::max(ping_seconds, 1);
  result.pong = true;
  if (session->expires_at != absl::InfiniteFuture()) {
    result.expires = true;
    result.ttl = TtlSeconds(session->expires_at, now);
  }
  SendText(session, EncodeConnectReply(session->format, command.id, result));
  // Channels of the token are server-side subscriptions: each is announced
  // by a subscribe push once it is live. A reconnecting SDK sends its last
  // position of each in connect.subs; it recovers from there.
  std::vector<std::string> token_channels(claims->channels.begin(), claims->channels.end());
  for (const std::string& channel : token_channels) {
    const SubscribeSpec* recovery = nullptr;
    for (const SubscribeSpec& spec : command.subs) {
      if (spec.channel == channel) recovery = &spec;
    }
    ServerSubscribe(session, channel, recovery);
  }
}

void EdgeServer::HandleSubscribe(ClientSession* session, const Command& command) {
  const std::string& channel = command.channel;
  absl::Status valid = ValidateChannelName(channel);
  if (!valid.ok()) {
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kError);
    SendText(session, EncodeErrorReply(session->format, command.id, kErrorBadRequest,
                                       absl::StrCat("bad request: ", valid.message()), false));
    return;
  }
  std::shared_ptr<const config::v1::NamespaceOptions> namespace_options =
      options_.namespaces.FindShared(channel);
  if (namespace_options == nullptr) {
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kError);
    SendText(session, EncodeErrorReply(session->format, command.id, kErrorUnknownChannel,
                                       "unknown channel", false));
    return;
  }
  absl::Status receivable = CheckWireFormat(*session, channel, *namespace_options);
  if (!receivable.ok()) {
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kError);
    SendText(session, WireFormatReply(session->format, command.id, receivable));
    return;
  }
  if (session->channels.contains(channel)) {
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kError);
    SendText(session, EncodeErrorReply(session->format, command.id, kErrorAlreadySubscribed,
                                       "already subscribed", false));
    return;
  }
  if (session->channels.size() >= options_.max_subscriptions_per_client) {
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kError);
    SendText(session, EncodeErrorReply(session->format, command.id, kErrorLimitExceeded,
                                       "limit exceeded", false));
    return;
  }
  ConnectionIdentity who{session->user, session->tenant, session->token_channels.get()};
  absl::StatusOr<SubscribeGrant> grant = authorizer_.AuthorizeSubscribe(
      who, channel, *namespace_options, command.has_token ? command.token : "", absl::Now());
  if (!grant.ok()) {
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kError);
    SendText(session, RefusalReply(session->format, command.id, grant.status()));
    return;
  }
  PendingSubscribe request;
  request.command_id = command.id;
  request.position = PositionRequest{command.recover, command.epoch, command.offset};
  // force_recovery: a client that knows a position recovers from it even
  // without asking; one that knows none has nothing to recover.
  if (namespace_options->force_recovery() && !command.epoch.empty()) {
    request.position.recover = true;
  }
  Subscription subscription;
  if (!grant->chan_info.empty()) {
    subscription.chan_info = std::make_unique<const std::string>(std::move(grant->chan_info));
  }
  subscription.expires_at = grant->expires_at;
  if (!subscriptions_.Subscribe(session, channel, std::move(namespace_options), std::move(request),
                                std::move(subscription))) {
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kRefused);
    SendText(session, EncodeErrorReply(session->format, command.id, kErrorTooManyRequests,
                                       "too many requests", true));
  }
}

bool EdgeServer::ServerSubscribe(ClientSession* session, const std::string& channel,
                                 const SubscribeSpec* recovery) {
  if (session->close_code != 0 || !session->connected) return false;
  if (!ValidateChannelName(channel).ok()) return false;
  std::shared_ptr<const config::v1::NamespaceOptions> namespace_options =
      options_.namespaces.FindShared(channel);
  // Refusals are silent, as the protocol has no answer to a subscription
  // the client did not ask for: the connection is just not subscribed.
  if (namespace_options == nullptr || session->channels.contains(channel) ||
      session->channels.size() >= options_.max_subscriptions_per_client ||
      !CheckWireFormat(*session, channel, *namespace_options).ok()) {
    return false;
  }
  PendingSubscribe request;
  request.server_side = true;
  if (recovery != nullptr) {
    request.position.recover =
        recovery->recover || (namespace_options->force_recovery() && !recovery->epoch.empty());
    request.position.epoch = recovery->epoch;
    request.position.offset = recovery->offset;
  }
  return subscriptions_.Subscribe(session, channel, std::move(namespace_options),
                                  std::move(request), Subscription{});
}

void EdgeServer::HandleUnsubscribe(ClientSession* session, const Command& command) {
  subscriptions_.Unsubscribe(session, command.channel);
  // Unsubscribing from a channel one is not subscribed to succeeds.
  metrics_->CountCommand(CommandMethod::kUnsubscribe, CommandOutcome::kOk);
  SendText(session, EncodeEmptyResult(session->format, command.id, "unsubscribe"));
}

void EdgeServer::HandleRefresh(ClientSession* session, const Command& command) {
  absl::Time now = absl::Now();
  absl::StatusOr<TokenClaims> claims = verifier_.Verify(command.token, now, connection_tokens_);
  if (!claims.ok()) {
    metrics_->CountCommand(CommandMethod::kRefresh, CommandOutcome::kError);
    // Reconnecting makes the SDK fetch a token again.
    if (absl::IsDeadlineExceeded(claims.status())) {
      Disconnect(session, kCloseConnectionExpired, "connection expired");
    } else {
      Disconnect(session, kCloseInvalidToken, "invalid token");
    }
    return;
  }
  // A refresh extends this identity; it cannot become someone else.
  if (claims->subject != session->user || claims->tenant != session->tenant) {
    metrics_->CountCommand(CommandMethod::kRefresh, CommandOutcome::kError);
    Disconnect(session, kCloseInvalidToken, "invalid token");
    return;
  }
  session->expires_at = claims->expires_at;
  session->conn_info = std::move(claims->info_json);
  metrics_->CountCommand(CommandMethod::kRefresh, CommandOutcome::kOk);
  SendText(session,
           EncodeRefreshReply(session->format, command.id, session->client_id, options_.version,
                              true, TtlSeconds(session->expires_at, now)));
}

void EdgeServer::HandleSubRefresh(ClientSession* session, const Command& command) {
  auto it = session->channels.find(command.channel);
  if (it == session->channels.end()) {
    metrics_->CountCommand(CommandMethod::kSubRefresh, CommandOutcome::kError);
    SendText(session, EncodeErrorReply(session->format, command.id, kErrorPermissionDenied,
                                       "permission denied", false));
    return;
  }
  absl::Time now = absl::Now();
  ConnectionIdentity who{session->user, session->tenant, session->token_channels.get()};
  absl::StatusOr<SubscribeGrant> grant =
      authorizer_.VerifySubscriptionToken(who, command.channel, command.token, now);
  if (!grant.ok()) {
    metrics_->CountCommand(CommandMethod::kSubRefresh, CommandOutcome::kError);
    SendText(session, RefusalReply(session->format, command.id, grant.status()));
    return;
  }
  it->second.expires_at = grant->expires_at;
  bool expiring = grant->expires_at != absl::InfiniteFuture();
  metrics_->CountCommand(CommandMethod::kSubRefresh, CommandOutcome::kOk);
  SendText(session, EncodeSubRefreshReply(session->format, command.id, expiring,
                                          expiring ? TtlSeconds(grant->expires_at, now) : 0));
}

void EdgeServer::OnControlMessage(const edge::v1::ControlMessage& message) {
  subscriptions_.OnControlMessage(message);
  for (const edge::v1::EdgeCommand& command : message.commands()) {
    edge::v1::CommandResult result = server_commands_.Handle(command);
    if (link_ != nullptr) link_->SendResult(std::move(result));
  }
}

void EdgeServer::OnLinkState(bool attached) { subscriptions_.OnLinkState(attached); }

void EdgeServer::Sweep() {
  absl::Time now = absl::Now();
  std::vector<ClientSession*> sessions(sessions_.all().begin(), sessions_.all().end());
  for (ClientSession* session : sessions) {
    if (session->close_code != 0) continue;
    if (!session->connected) {
      if (now >= session->reply_deadline) {
        metrics_->CountRefusal(RefusalReason::kConnectTimeout);
        Disconnect(session, kCloseStale, "stale");
      }
      continue;
    }
    if (now >= session->reply_deadline) {
      Disconnect(session, kCloseNoPong, "no pong");
      continue;
    }
    if (now >= session->expires_at + options_.expired_close_delay) {
      // The SDK reconnects on 3005 and fetches a fresh token first.
      Disconnect(session, kCloseConnectionExpired, "connection expired");
      continue;
    }
    std::vector<std::string> expired_channels;
    for (const auto& [channel, subscription] : session->channels) {
      if (now >= subscription.expires_at + options_.expired_close_delay) {
        expired_channels.push_back(channel);
      }
    }
    for (const std::string& channel : expired_channels) {
      // 2501: the SDK resubscribes, with a fresh subscription token.
      subscriptions_.Unsubscribe(session, channel);
      SendText(session, EncodeUnsubscribePush(session->format, channel, kUnsubscribeExpired,
                                              "subscription expired"));
    }
    if (now >= session->next_ping) {
      session->next_ping = now + options_.ping_interval;
      if (session->reply_deadline == absl::InfiniteFuture()) {
        session->reply_deadline = now + options_.pong_timeout;
      }
      sessions_.Send(session, PingFrame(session->format));
    }
  }
  subscriptions_.ExpirePending(now);
}

void EdgeServer::ReportStats() {
  if (link_ == nullptr) return;
  edge::v1::EdgeStats stats;
  stats.set_connections(sessions_.size());
  stats.set_subscriptions(subscriptions_.subscriptions());
  stats.set_deliveries(subscriptions_.TakeDeliveries());
  for (const auto& [channel, entry] : subscriptions_.channels()) {
    if (entry.subscribers.empty()) continue;
    edge::v1::ChannelCount* count = stats.add_channels();
    count->set_channel(channel);
    count->set_subscribers(entry.subscribers.size());
  }
  link_->SendStats(std::move(stats));
}

size_t EdgeServer::ApplyConfig(const EdgeServerOptions& reloaded) {
  assert(transport_->OnLoopThread());
  options_.namespaces = reloaded.namespaces;
  options_.token_audience = reloaded.token_audience;
  options_.token_issuer = reloaded.token_issuer;
  options_.command_rate = reloaded.command_rate;
  options_.command_burst = reloaded.command_burst;
  options_.max_connections_per_user = reloaded.max_connections_per_user;
  authorizer_ = ChannelAuthorizer(&verifier_, options_.token_audience, options_.token_issuer);
  connection_tokens_ =
      VerifyOptions{TokenKind::kConnection, options_.token_audience, options_.token_issuer};
  // A subscription whose namespace changed keeps the options it was made
  // under: its channel entry holds them (shared) until its last subscriber
  // leaves. One whose namespace is gone, or now carries binary data this
  // connection cannot receive, ends here: 2000 tells the SDK to stay
  // unsubscribed, since subscribing again would be refused (102, 107).
  size_t ended = 0;
  std::vector<std::pair<std::string, std::string_view>> ending;  // Channel, reason.
  std::vector<ClientSession*> sessions(sessions_.all().begin(), sessions_.all().end());
  for (ClientSession* session : sessions) {
    if (session->close_code != 0) continue;
    ending.clear();
    for (const auto& [channel, subscription] : session->channels) {
      const config::v1::NamespaceOptions* now = options_.namespaces.Find(channel);
      if (now == nullptr) {
        ending.emplace_back(channel, "namespace removed");
      } else if (!CheckWireFormat(*session, channel, *now).ok()) {
        ending.emplace_back(channel, "namespace carries binary data");
      }
    }
    for (const auto& [channel, reason] : ending) {
      subscriptions_.Unsubscribe(session, channel);
      SendText(session,
               EncodeUnsubscribePush(session->format, channel, kUnsubscribeServer, reason));
      ++ended;
    }
  }
  return ended;
}

void EdgeServer::BeginDrain() {
  if (draining_) return;
  draining_ = true;
  drain_started_ = absl::Now();
  drain_deadline_ =
      drain_started_ + options_.drain_delay + options_.drain_duration + options_.shutdown_grace;
  WH_EVENT(INFO, "drain_started")
      .Field("clients", sessions_.size())
      .Field("delay", absl::FormatDuration(options_.drain_delay))
      .Field("duration", absl::FormatDuration(options_.drain_duration));
  // One tick drives the whole drain; the sweep, ping and stats timers go on
  // meanwhile, as clients that are still served need their pings.
  absl::Duration tick = options_.drain_duration > absl::ZeroDuration()
                            ? std::clamp(options_.drain_duration / 20, absl::Milliseconds(10),
                                         absl::Milliseconds(100))
                            : absl::Milliseconds(100);
  timers_.push_back(transport_->StartTimer(tick, [this] { DrainTick(); }));
  if (options_.drain_delay <= absl::ZeroDuration()) StopAccepting();
}

void EdgeServer::DrainTick() {
  if (drain_finished_) return;
  absl::Time now = absl::Now();
  if (now >= drain_deadline_) {
    // Clients that did not complete the close handshake in time are dropped.
    FinishDrain();
    return;
  }
  if (!accepting_stopped_) {
    if (now - drain_started_ < options_.drain_delay) return;
    StopAccepting();
    if (drain_finished_) return;
  }
  if (!drain_plan_.has_value()) return;
  size_t open = 0;
  for (ClientSession* session : sessions_.all()) {
    if (session->close_code == 0) ++open;
  }
  size_t wave = drain_plan_->WaveSize(now, open);
  if (wave > 0) CloseForDrain(wave);
  if (open == wave) drain_plan_.reset();
}

void EdgeServer::StopAccepting() {
  if (accepting_stopped_) return;
  accepting_stopped_ = true;
  if (options_.stop_accepting) options_.stop_accepting();
  WH_EVENT(INFO, "accepting_stopped").Field("clients", sessions_.size());
  if (options_.drain_duration > absl::ZeroDuration()) {
    drain_plan_.emplace(absl::Now(), options_.drain_duration);
  } else {
    CloseForDrain(sessions_.size());
  }
  if (sessions_.size() == 0) FinishDrain();
}

void EdgeServer::CloseForDrain(size_t count) {
  // Which clients go in a wave is random, so that no group of them (the
  // oldest, one tenant's) always reconnects first.
  std::vector<ClientSession*> open;
  open.reserve(sessions_.size());
  for (ClientSession* session : sessions_.all()) {
    if (session->close_code == 0) open.push_back(session);
  }
  count = std::min(count, open.size());
  for (size_t i = 0; i < count; ++i) {
    std::uniform_int_distribution<size_t> pick(i, open.size() - 1);
    std::swap(open[i], open[pick(rng_)]);
    ++drain_closed_;
    Disconnect(open[i], kCloseShutdown, "shutdown");
  }
}

void EdgeServer::CloseAllNow() {
  if (drain_finished_) return;
  StopAccepting();
  drain_plan_.reset();
  CloseForDrain(sessions_.size());
  drain_deadline_ = std::min(drain_deadline_, absl::Now() + options_.shutdown_grace);
  if (sessions_.size() == 0) FinishDrain();
}

void EdgeServer::FinishDrain() {
  if (drain_finished_) return;
  drain_finished_ = true;
  WH_EVENT(INFO, "drain_finished")
      .Field("closed", drain_closed_)
      .Field("elapsed", absl::FormatDuration(absl::Now() - drain_started_))
      .Field("left", sessions_.size());
  // The timers end with the loop.
  transport_->StopLoop();
}

std::string EdgeServer::NewClientId() {
  // RFC 4122 version 4 UUID.
  uint64_t hi = rng_();
  uint64_t lo = rng_();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff,
                         lo >> 48, lo & 0xffffffffffffULL);
}

}  // namespace wirehub::edge
