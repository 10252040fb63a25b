#include "edge/edge_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/json_validator.h"
#include "common/logging.h"
#include "common/process_memory.h"
#include "edge/control_link.h"

namespace wirehub::edge {
namespace {

constexpr char kWebSocketPath[] = "/connection/websocket";

lws_usec_t ToLwsUsec(absl::Duration d) { return absl::ToInt64Microseconds(d); }

// lws's own opcode for a close frame (LWS_WRITE_CLOSE, 4), which 4.1.6's
// public header leaves out of the enum; its POLLOUT handler writes close
// frames with it.
constexpr auto kLwsWriteClose = static_cast<enum lws_write_protocol>(4);

// Control frames carry at most 125 bytes: the close code and the reason.
constexpr size_t kMaxCloseReasonBytes = 123;

}  // namespace

EdgeServer::EdgeServer(EdgeServerOptions options, std::string token_secret)
    : options_(std::move(options)),
      verifier_(std::move(token_secret)),
      authorizer_(&verifier_, options_.token_audience, options_.token_issuer),
      connection_tokens_{TokenKind::kConnection, options_.token_audience, options_.token_issuer},
      started_at_(absl::Now()),
      inbox_([this] {
        // context_ is set before any thread can Post and cleared only after
        // every poster has stopped.
        if (context_ != nullptr) lws_cancel_service(context_);
      }),
      rng_(std::random_device{}()),
      ping_frame_(std::make_shared<const std::string>("{}")) {
  absl::Duration shortest =
      std::min({options_.pong_timeout, options_.connect_timeout, options_.ping_interval});
  sweep_period_ = std::clamp(shortest / 4, absl::Milliseconds(50), absl::Seconds(1));
}

EdgeServer::~EdgeServer() {
  if (context_ != nullptr) {
    lws_context_destroy(context_);
    context_ = nullptr;
  }
  if (loop_initialized_) {
    uv_prepare_stop(&flush_prepare_);
    uv_close(reinterpret_cast<uv_handle_t*>(&flush_prepare_), nullptr);
    // Let lws close its libuv handles, then release the loop.
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  for (ClientSession* session : sessions_) delete session;
}

absl::StatusOr<int> EdgeServer::Init() {
  if (uv_loop_init(&loop_) != 0) return absl::InternalError("uv_loop_init failed");
  loop_initialized_ = true;
  uv_prepare_init(&loop_, &flush_prepare_);
  flush_prepare_.data = this;
  uv_prepare_start(&flush_prepare_, &EdgeServer::OnPrepare);
  // The flush alone must not keep the loop running.
  uv_unref(reinterpret_cast<uv_handle_t*>(&flush_prepare_));

  protocols_.push_back(lws_protocols{
      "wirehub-json",
      &EdgeServer::Callback,
      sizeof(ClientSession*),
      // Small receive buffer per connection; larger messages arrive in
      // fragments that OnReceive joins.
      512,
      0,
      nullptr,
      // Let one lws_write carry a whole coalesced batch.
      options_.max_write_batch_bytes + 64,
  });
  protocols_.push_back(lws_protocols{nullptr, nullptr, 0, 0, 0, nullptr, 0});

  void* foreign_loops[] = {&loop_};
  struct lws_context_creation_info info;
  std::memset(&info, 0, sizeof(info));
  info.port = options_.listen_port;
  std::string iface = options_.listen_host;
  info.iface = (iface.empty() || iface == "0.0.0.0") ? nullptr : iface.c_str();
  info.protocols = protocols_.data();
  info.user = this;
  info.foreign_loops = foreign_loops;
  info.timeout_secs = 10;
  // No lws "validity" pings: the client protocol has its own. lws's default
  // policy (ping at 300 s) keeps a timer per connection in one sorted list
  // and re-inserts it, walking the list, on every message a client sends:
  // at 15k connections that was 64% of the edge's CPU while clients
  // connected (perf: lws_dll2_add_sorted).
  static const lws_retry_bo_t kNoValidityChecks = {};
  info.retry_and_idle_policy = &kNoValidityChecks;
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                 LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
  if (iface.find(':') == std::string::npos) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  lws_set_log_level(LLL_ERR | LLL_WARN, nullptr);
  context_ = lws_create_context(&info);
  if (context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.listen_host, ":", options_.listen_port));
  }
  struct lws_vhost* vhost = lws_get_vhost_by_name(context_, "default");
  int port = vhost != nullptr ? lws_get_vhost_listen_port(vhost) : -1;
  if (port <= 0) return absl::UnavailableError("listener did not bind");
  bound_port_ = port;

  lws_sul_schedule(context_, 0, &sweep_timer_.sul, &EdgeServer::SweepTimer,
                   ToLwsUsec(sweep_period_));
  lws_sul_schedule(context_, 0, &stats_timer_.sul, &EdgeServer::StatsTimer,
                   ToLwsUsec(options_.stats_interval));
  return port;
}

void EdgeServer::Run() { uv_run(&loop_, UV_RUN_DEFAULT); }

void EdgeServer::RequestStop() {
  stop_requested_.store(true);
  if (context_ != nullptr) lws_cancel_service(context_);
}

int EdgeServer::Callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in,
                         size_t len) {
  auto* server = static_cast<EdgeServer*>(lws_context_user(lws_get_context(wsi)));
  return server->HandleCallback(wsi, reason, static_cast<void**>(user), in, len);
}

int EdgeServer::HandleCallback(struct lws* wsi, enum lws_callback_reasons reason, void** slot,
                               void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      // The only cross-thread entry: lws_cancel_service() from Post().
      inbox_.Drain();
      if (stop_requested_.load() && !shutting_down_) BeginShutdown();
      return 0;

    case LWS_CALLBACK_HTTP:
      // Plain HTTP is not served; only the WebSocket upgrade below is.
      if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, nullptr)) return -1;
      return lws_http_transaction_completed(wsi) ? -1 : 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
      char uri[256];
      int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
      if (n <= 0 || std::strcmp(uri, kWebSocketPath) != 0) return 1;
      return 0;
    }

    case LWS_CALLBACK_ESTABLISHED:
      if (options_.client_send_buffer_bytes > 0) {
        int size = options_.client_send_buffer_bytes;
        setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
      }
      OnEstablished(wsi, slot);
      return 0;

    case LWS_CALLBACK_RECEIVE: {
      auto* session = static_cast<ClientSession*>(*slot);
      if (session == nullptr) return -1;
      return OnReceive(session, static_cast<const char*>(in), len);
    }

    case LWS_CALLBACK_SERVER_WRITEABLE: {
      auto* session = static_cast<ClientSession*>(*slot);
      if (session == nullptr) return -1;
      return OnWritable(session);
    }

    case LWS_CALLBACK_CLOSED: {
      auto* session = static_cast<ClientSession*>(*slot);
      if (session != nullptr) {
        *slot = nullptr;
        OnClosed(session);
      }
      return 0;
    }

    default:
      return 0;
  }
}

void EdgeServer::OnEstablished(struct lws* wsi, void** slot) {
  auto* session = new ClientSession(next_session_id_++, wsi, options_.client_queue_max_bytes);
  *slot = session;
  sessions_.insert(session);
  sessions_by_id_[session->id] = session;
  session->connect_deadline = absl::Now() + options_.connect_timeout;
  if (shutting_down_) Disconnect(session, kCloseShutdown, "shutdown");
}

int EdgeServer::OnReceive(ClientSession* session, const char* data, size_t len) {
  if (session->close_code != 0) return 0;  // Closing: ignore what still arrives.
  if (lws_frame_is_binary(session->wsi)) {
    // Binary frames belong to the protobuf subprotocol, not offered here.
    Disconnect(session, kCloseBadRequest, "bad request");
    return 0;
  }
  if (session->rx.size() + len > options_.max_message_bytes) {
    // Refuse before buffering: a client cannot make us hold more than the
    // limit for it.
    static constexpr char kReason[] = "message too big";
    lws_close_reason(session->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                     reinterpret_cast<unsigned char*>(const_cast<char*>(kReason)),
                     sizeof(kReason) - 1);
    session->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
    return -1;
  }
  bool final_fragment =
      lws_is_final_fragment(session->wsi) && lws_remaining_packet_payload(session->wsi) == 0;
  if (final_fragment && session->rx.empty()) {
    HandleMessage(session, std::string_view(data, len));
    return 0;
  }
  session->rx.append(data, len);
  if (final_fragment) {
    std::string message = std::move(session->rx);
    session->rx = std::string();
    HandleMessage(session, message);
  }
  return 0;
}

int EdgeServer::OnWritable(ClientSession* session) {
  session->writable_requested = false;
  if (session->close_code != 0) {
    // Returning -1 from WRITEABLE makes lws 4.1.6 drop the socket without
    // the close frame prepared by lws_close_reason(), so the client would
    // see 1006 and the SDK would reconnect. Write the close frame (RFC 6455
    // 5.5.1: 2-byte code, then the reason) ourselves, then hang up.
    write_buffer_.assign(LWS_PRE, '\0');
    write_buffer_.push_back(static_cast<char>((session->close_code >> 8) & 0xff));
    write_buffer_.push_back(static_cast<char>(session->close_code & 0xff));
    write_buffer_.append(session->close_reason);  // Disconnect() keeps it <= 123 bytes.
    lws_write(session->wsi, reinterpret_cast<unsigned char*>(write_buffer_.data()) + LWS_PRE,
              write_buffer_.size() - LWS_PRE, kLwsWriteClose);
    return -1;
  }
  if (session->queue.empty()) return 0;
  return WriteQueued(session) ? 0 : -1;
}

bool EdgeServer::WriteQueued(ClientSession* session) {
  // Everything queued goes out in one frame (newline-joined): one send()
  // per connection per turn instead of one per message.
  write_buffer_.assign(LWS_PRE, '\0');
  session->queue.DrainInto(options_.max_write_batch_bytes, &write_buffer_);
  size_t payload = write_buffer_.size() - LWS_PRE;
  // lws_write() sends what the socket takes and keeps the rest, asking for
  // a writable callback itself; lws_partial_buffered() then says so.
  int written =
      lws_write(session->wsi, reinterpret_cast<unsigned char*>(write_buffer_.data()) + LWS_PRE,
                payload, LWS_WRITE_TEXT);
  if (written < 0) return false;
  if (!session->queue.empty() || lws_partial_buffered(session->wsi)) RequestWritable(session);
  return true;
}

void EdgeServer::MarkDirty(ClientSession* session) {
  if (session->writable_requested || session->dirty) return;
  session->dirty = true;
  dirty_.push_back(session);
}

void EdgeServer::OnPrepare(uv_prepare_t* handle) {
  static_cast<EdgeServer*>(handle->data)->FlushDirty();
}

void EdgeServer::FlushDirty() {
  // Swap out first: a failing write may close a session, and nothing here
  // adds to dirty_ but the closes' own sends, which wait for the next turn.
  std::vector<ClientSession*> dirty;
  dirty.swap(dirty_);
  for (ClientSession* session : dirty) {
    if (!sessions_.contains(session) || !session->dirty) continue;
    session->dirty = false;
    if (session->writable_requested || session->close_code != 0 || session->queue.empty()) {
      continue;
    }
    if (lws_partial_buffered(session->wsi)) {
      RequestWritable(session);
      continue;
    }
    if (!WriteQueued(session)) {
      // Outside a callback lws cannot be told to close by a return value.
      lws_set_timeout(session->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    }
  }
  if (dirty_.empty()) {
    dirty.clear();
    dirty_.swap(dirty);  // Keep the capacity for the next turn.
  }
}

void EdgeServer::OnClosed(ClientSession* session) {
  std::vector<std::string> channels;
  channels.reserve(session->channels.size());
  for (const auto& [channel, subscription] : session->channels) channels.push_back(channel);
  for (const std::string& channel : channels) RemoveSubscription(session, channel);
  if (session->connected) {
    std::string user = MakeChannelKey(session->tenant, session->user);
    auto it = users_.find(user);
    if (it != users_.end() && --it->second == 0) {
      users_.erase(it);
      if (link_ != nullptr && !session->user.empty()) link_->RemoveUser(user);
    }
  }
  sessions_.erase(session);
  sessions_by_id_.erase(session->id);
  delete session;
  if (shutting_down_ && sessions_.empty()) uv_stop(&loop_);
}

void EdgeServer::HandleMessage(ClientSession* session, std::string_view message) {
  absl::Status status = parser_.Parse(message, &commands_);
  if (!status.ok()) {
    Disconnect(session, kCloseBadRequest, "bad request");
    return;
  }
  for (const Command& command : commands_) {
    if (session->close_code != 0) break;
    HandleCommand(session, command);
  }
}

void EdgeServer::HandleCommand(ClientSession* session, const Command& command) {
  if (!session->connected && command.kind != Command::Kind::kConnect) {
    Disconnect(session, kCloseBadRequest, "bad request");
    return;
  }
  switch (command.kind) {
    case Command::Kind::kPong:
      session->pong_deadline = absl::InfiniteFuture();
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
      HandleHistory(session, command);
      return;
    case Command::Kind::kRefresh:
      HandleRefresh(session, command);
      return;
    case Command::Kind::kSubRefresh:
      HandleSubRefresh(session, command);
      return;
    case Command::Kind::kPublish:
      HandlePublish(session, command);
      return;
    case Command::Kind::kPresence:
    case Command::Kind::kPresenceStats:
      HandlePresence(session, command);
      return;
    case Command::Kind::kPing:
      // A client ping also proves the client alive.
      session->pong_deadline = absl::InfiniteFuture();
      SendText(session, EncodeEmptyResult(command.id, "ping"));
      return;
    case Command::Kind::kNotAvailable:
      if (command.id != 0) {
        SendText(session, EncodeErrorReply(command.id, kErrorNotAvailable, "not available", false));
      }
      return;
    case Command::Kind::kUnknown:
      SendText(session,
               EncodeErrorReply(command.id, kErrorMethodNotFound, "method not found", false));
      return;
    case Command::Kind::kInvalidParams:
      SendText(session, EncodeErrorReply(command.id, kErrorBadRequest,
                                         absl::StrCat("bad request: ", command.problem), false));
      return;
  }
}

namespace {

// Whole seconds left until `at`, at least 1: the SDK refreshes when they
// run out.
uint32_t TtlSeconds(absl::Time at, absl::Time now) {
  int64_t seconds = absl::ToInt64Seconds(at - now);
  return static_cast<uint32_t>(std::clamp<int64_t>(seconds, 1, UINT32_MAX));
}

// A subscribe result carrying the expiry of `session`'s subscription to
// `name` (none without a subscription token).
SubscribeResult ResultWithExpiry(const ClientSession& session, std::string_view name,
                                 absl::Time now) {
  SubscribeResult result;
  auto it = session.channels.find(AsAbsl(name));
  if (it != session.channels.end() && it->second.expires_at != absl::InfiniteFuture()) {
    result.expires = true;
    result.ttl = TtlSeconds(it->second.expires_at, now);
  }
  return result;
}

// The answer to a refused subscribe or sub_refresh (ChannelAuthorizer).
std::string RefusalReply(uint32_t id, const absl::Status& status) {
  if (absl::IsDeadlineExceeded(status)) {
    return EncodeErrorReply(id, kErrorTokenExpired, "token expired", false);
  }
  return EncodeErrorReply(id, kErrorPermissionDenied, "permission denied", false);
}

// The longest prefix of `text` of at most `max_bytes` that does not end
// inside a UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t length = max_bytes;
  while (length > 0 && (static_cast<unsigned char>(text[length]) & 0xC0) == 0x80) --length;
  return text.substr(0, length);
}

}  // namespace

void EdgeServer::HandleConnect(ClientSession* session, const Command& command) {
  if (session->connected) {
    Disconnect(session, kCloseBadRequest, "bad request");
    return;
  }
  if (!command.has_token) {
    Disconnect(session, kCloseInvalidToken, "invalid token");
    return;
  }
  absl::Time now = absl::Now();
  absl::StatusOr<TokenClaims> claims = verifier_.Verify(command.token, now, connection_tokens_);
  if (!claims.ok()) {
    if (absl::IsDeadlineExceeded(claims.status())) {
      // The SDK answers 109 by fetching a fresh token and connecting again;
      // one that cannot is still bound by the connect deadline.
      SendText(session, EncodeErrorReply(command.id, kErrorTokenExpired, "token expired", false));
      return;
    }
    Disconnect(session, kCloseInvalidToken, "invalid token");
    return;
  }
  session->connected = true;
  session->user = std::move(claims->subject);
  session->tenant = std::move(claims->tenant);
  session->conn_info = std::move(claims->info_json);
  session->token_channels.insert(claims->channels.begin(), claims->channels.end());
  session->expires_at = claims->expires_at;
  session->connected_at = now;
  session->client_id = NewClientId();
  session->connect_deadline = absl::InfiniteFuture();
  session->next_ping = now + options_.ping_interval;
  session->publish_tokens = options_.client_publish_burst;
  session->publish_refilled_at = now;
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
  SendText(session, EncodeConnectReply(command.id, result));
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
    SendText(session, EncodeErrorReply(command.id, kErrorBadRequest,
                                       absl::StrCat("bad request: ", valid.message()), false));
    return;
  }
  const config::v1::NamespaceOptions* namespace_options = options_.namespaces.Find(channel);
  if (namespace_options == nullptr) {
    SendText(session, EncodeErrorReply(command.id, kErrorUnknownChannel, "unknown channel", false));
    return;
  }
  if (session->channels.contains(channel)) {
    SendText(session,
             EncodeErrorReply(command.id, kErrorAlreadySubscribed, "already subscribed", false));
    return;
  }
  if (session->channels.size() >= options_.max_subscriptions_per_client) {
    SendText(session, EncodeErrorReply(command.id, kErrorLimitExceeded, "limit exceeded", false));
    return;
  }
  ConnectionIdentity who{session->user, session->tenant, &session->token_channels};
  absl::StatusOr<SubscribeGrant> grant = authorizer_.AuthorizeSubscribe(
      who, channel, *namespace_options, command.has_token ? command.token : "", absl::Now());
  if (!grant.ok()) {
    SendText(session, RefusalReply(command.id, grant.status()));
    return;
  }
  PendingSubscribe request{session,         command.id,    absl::Now(),
                           command.recover, command.epoch, command.offset};
  // force_recovery: a client that knows a position recovers from it even
  // without asking; one that knows none has nothing to recover.
  if (namespace_options->force_recovery() && !command.epoch.empty()) request.recover = true;
  Subscription subscription;
  subscription.chan_info = std::move(grant->chan_info);
  subscription.expires_at = grant->expires_at;
  BeginSubscribe(session, channel, namespace_options, std::move(request), std::move(subscription));
}

bool EdgeServer::ServerSubscribe(ClientSession* session, const std::string& channel,
                                 const SubscribeSpec* recovery) {
  if (session->close_code != 0 || !session->connected) return false;
  if (!ValidateChannelName(channel).ok()) return false;
  const config::v1::NamespaceOptions* namespace_options = options_.namespaces.Find(channel);
  if (namespace_options == nullptr || session->channels.contains(channel) ||
      session->channels.size() >= options_.max_subscriptions_per_client) {
    return false;
  }
  PendingSubscribe request{session, 0, absl::Now()};
  request.server_side = true;
  if (recovery != nullptr) {
    request.recover =
        recovery->recover || (namespace_options->force_recovery() && !recovery->epoch.empty());
    request.epoch = recovery->epoch;
    request.offset = recovery->offset;
  }
  BeginSubscribe(session, channel, namespace_options, std::move(request), Subscription{});
  return true;
}

void EdgeServer::BeginSubscribe(ClientSession* session, const std::string& channel,
                                const config::v1::NamespaceOptions* namespace_options,
                                PendingSubscribe request, Subscription subscription) {
  session->channels.emplace(channel, std::move(subscription));
  ++subscriptions_;
  std::string key = KeyOf(session, channel);
  auto [it, created] = channels_.try_emplace(key);
  ChannelEntry& entry = it->second;
  if (created) {
    entry.options = namespace_options;
    // First local subscriber: control must learn of the interest before the
    // client is told it is subscribed, or a publish made right after the
    // reply could miss this edge.
    entry.interest_seq = link_ != nullptr ? link_->AddChannel(key) : 0;
    entry.confirmed = link_ == nullptr;
  }
  if (entry.confirmed) {
    CompleteSubscribe(it->first, entry, std::move(request));
    return;
  }
  entry.pending.push_back(std::move(request));
  pending_channels_.try_emplace(entry.interest_seq, it->first);
}

std::string EdgeServer::KeyOf(const ClientSession* session, std::string_view channel) {
  return MakeChannelKey(session->tenant, channel);
}

control::v1::ClientInfo EdgeServer::InfoOf(const ClientSession* session,
                                           std::string_view channel) const {
  control::v1::ClientInfo info;
  info.set_user(session->user);
  info.set_client(session->client_id);
  info.set_conn_info(session->conn_info);
  auto it = session->channels.find(AsAbsl(channel));
  if (it != session->channels.end()) info.set_chan_info(it->second.chan_info);
  return info;
}

void EdgeServer::AddSubscriber(ClientSession* session, const std::string& key, ChannelEntry& entry,
                               uint64_t delivered) {
  entry.subscribers[session] = delivered;
  const config::v1::NamespaceOptions* options = entry.options;
  if (link_ == nullptr || options == nullptr || !(options->presence() || options->join_leave())) {
    return;
  }
  std::string_view name = SplitChannelKey(key).channel;
  auto it = session->channels.find(AsAbsl(name));
  if (it == session->channels.end() || it->second.in_presence) return;
  it->second.in_presence = true;
  link_->AddPresence(key, InfoOf(session, name));
}

namespace {

// Reads a ClientInfo proto as the encoders' view (valid while `info` is).
ClientInfoView ViewOf(const control::v1::ClientInfo& info) {
  return ClientInfoView{info.user(), info.client(), info.conn_info(), info.chan_info()};
}

// A kept publication as the encoders take it; its info view goes into
// `infos`, which the caller reserved for every publication so the pointer
// stays valid.
RecoveredPublication Recovered(const control::v1::HistoryPublication& publication,
                               std::vector<ClientInfoView>* infos) {
  RecoveredPublication recovered{publication.offset(), publication.data()};
  if (publication.has_info()) {
    infos->push_back(ViewOf(publication.info()));
    recovered.info = &infos->back();
  }
  return recovered;
}

}  // namespace

void EdgeServer::CompleteSubscribe(const std::string& channel, ChannelEntry& entry,
                                   PendingSubscribe request) {
  ClientSession* session = request.session;
  std::string_view name = SplitChannelKey(channel).channel;
  if (entry.options == nullptr || entry.options->history_size() == 0) {
    AddSubscriber(session, channel, entry, 0);
    SubscribeResult result = ResultWithExpiry(*session, name, absl::Now());
    SendText(session, request.server_side ? EncodeSubscribePush(name, result)
                                          : EncodeSubscribeReply(request.command_id, result));
    return;
  }
  if (link_ == nullptr) {
    if (!request.server_side) {
      SendText(session,
               EncodeErrorReply(request.command_id, kErrorInternal, "internal server error", true));
    }
    RemoveSubscription(session, std::string(name));
    return;
  }
  // From here on live publications for this session are held, so whatever
  // is newer than the position History reports reaches it exactly once.
  uint64_t session_id = session->id;
  entry.positioning[session] = Positioning{std::move(request), {}, 0};
  control::v1::HistoryRequest history;
  ChannelKeyParts parts = SplitChannelKey(channel);
  history.set_tenant(std::string(parts.tenant));
  history.set_channel(std::string(parts.channel));
  history.set_limit(-1);
  FetchHistoryToLoop(history,
                     [this, session_id, channel](const grpc::Status& status,
                                                 const control::v1::HistoryResponse& response) {
                       OnHistory(session_id, channel, status, response);
                     });
}

void EdgeServer::FetchHistoryToLoop(const control::v1::HistoryRequest& request,
                                    HistoryHandler on_loop) {
  link_->FetchHistory(
      request, options_.history_timeout,
      [this, on_loop = std::move(on_loop)](const grpc::Status& status,
                                           const control::v1::HistoryResponse& response) {
        auto shared = std::make_shared<control::v1::HistoryResponse>(response);
        Post([on_loop, status, shared] { on_loop(status, *shared); });
      });
}

void EdgeServer::OnHistory(uint64_t session_id, const std::string& channel,
                           const grpc::Status& status,
                           const control::v1::HistoryResponse& response) {
  auto session_it = sessions_by_id_.find(session_id);
  if (session_it == sessions_by_id_.end()) return;  // Closed meanwhile.
  ClientSession* session = session_it->second;
  auto entry_it = channels_.find(channel);
  if (entry_it == channels_.end()) return;
  ChannelEntry& entry = entry_it->second;
  auto positioning_it = entry.positioning.find(session);
  if (positioning_it == entry.positioning.end()) return;  // Unsubscribed meanwhile.
  Positioning positioning = std::move(positioning_it->second);
  entry.positioning.erase(positioning_it);
  const PendingSubscribe& request = positioning.request;
  std::string name(SplitChannelKey(channel).channel);

  if (!status.ok()) {
    WH_LOG(WARNING) << "history for " << channel << " failed: " << status.error_message();
    if (!request.server_side) {
      SendText(session,
               EncodeErrorReply(request.command_id, kErrorInternal, "internal server error", true));
    }
    RemoveSubscription(session, name);
    return;
  }

  bool allow_recovery = entry.options != nullptr && entry.options->allow_recovery();
  SubscribeResult result = ResultWithExpiry(*session, name, absl::Now());
  std::vector<ClientInfoView> infos;
  infos.reserve(response.publications_size());
  result.recoverable = allow_recovery;
  result.epoch = response.epoch();
  result.offset = response.offset();
  if (request.recover && allow_recovery) {
    result.was_recovering = true;
    uint64_t top = response.offset();
    // Recovered only when every publication after the client's offset is
    // still kept: same epoch, not from the future, within the cap, and the
    // kept (consecutive) offsets reach back to the client's next one.
    if (request.epoch == response.epoch() && request.offset <= top) {
      uint64_t missed = top - request.offset;
      if (missed == 0) {
        result.recovered = true;
      } else if (missed <= options_.recovery_max_publications && response.publications_size() > 0 &&
                 response.publications(0).offset() <= request.offset + 1) {
        size_t bytes = 0;
        for (const auto& publication : response.publications()) {
          if (publication.offset() <= request.offset) continue;
          bytes += publication.data().size() + 32;
          result.publications.push_back(Recovered(publication, &infos));
        }
        // A reply larger than the client's queue bound could never be sent.
        result.recovered = bytes <= options_.client_queue_max_bytes / 2;
        if (!result.recovered) result.publications.clear();
      }
    }
  }
  if (request.server_side) {
    // SDKs take no publications from a push: recovered ones follow it as
    // pushes of their own.
    std::vector<RecoveredPublication> recovered = std::move(result.publications);
    result.publications.clear();
    SendText(session, EncodeSubscribePush(name, result));
    for (const RecoveredPublication& publication : recovered) {
      SendText(session, EncodePublicationPush(name, publication.data_json, publication.offset,
                                              publication.info));
    }
  } else {
    SendText(session, EncodeSubscribeReply(request.command_id, result));
  }
  uint64_t delivered = response.offset();
  for (auto& [offset, frame] : positioning.held) {
    if (offset > delivered) {
      Send(session, std::move(frame));
      delivered = offset;
    }
  }
  AddSubscriber(session, channel, entry, delivered);
  if (entry.epoch.empty()) {
    entry.epoch = response.epoch();
    entry.last_offset = delivered;
  }
}

void EdgeServer::DeliverTracked(ChannelEntry& entry, uint64_t offset, const Frame& frame) {
  if (offset > entry.last_offset) entry.last_offset = offset;
  for (auto& [session, delivered] : entry.subscribers) {
    // Never twice, never backwards: a subscriber may already hold this
    // offset from its own recovery or from before a repair.
    if (offset <= delivered) continue;
    delivered = offset;
    Send(session, frame);
  }
}

void EdgeServer::StartRepair(const std::string& channel, ChannelEntry& entry) {
  if (entry.repairing || link_ == nullptr || entry.epoch.empty()) return;
  entry.repairing = true;
  control::v1::HistoryRequest request;
  ChannelKeyParts parts = SplitChannelKey(channel);
  request.set_tenant(std::string(parts.tenant));
  request.set_channel(std::string(parts.channel));
  request.set_limit(-1);
  request.mutable_since()->set_offset(entry.last_offset);
  request.mutable_since()->set_epoch(entry.epoch);
  FetchHistoryToLoop(request, [this, channel](const grpc::Status& status,
                                              const control::v1::HistoryResponse& response) {
    OnRepairHistory(channel, status, response);
  });
}

void EdgeServer::OnRepairHistory(const std::string& channel, const grpc::Status& status,
                                 const control::v1::HistoryResponse& response) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  ChannelEntry& entry = it->second;
  entry.repairing = false;
  std::vector<std::pair<uint64_t, Frame>> held = std::move(entry.repair_held);
  entry.repair_held.clear();
  entry.repair_held_bytes = 0;
  bool repaired = status.ok() && response.epoch() == entry.epoch;
  if (repaired && response.offset() > entry.last_offset) {
    // Kept offsets are consecutive: the hole is filled only if history
    // still starts right after what was delivered.
    repaired = response.publications_size() > 0 &&
               response.publications(0).offset() == entry.last_offset + 1;
  }
  if (!repaired) {
    if (!status.ok() && status.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
      // Control unreachable or slow: try again on the next publication or
      // re-attach rather than dropping every subscriber at once.
      WH_LOG(WARNING) << "gap repair of " << channel << " failed: " << status.error_message();
      for (auto& [offset, frame] : held) DeliverTracked(entry, offset, frame);
      return;
    }
    WH_LOG(INFO) << "cannot repair " << channel << " (stream now at epoch " << response.epoch()
                 << "); subscribers resubscribe with recovery";
    ResetChannel(channel, entry);
    return;
  }
  std::string_view name = SplitChannelKey(channel).channel;
  for (const auto& publication : response.publications()) {
    ClientInfoView info = ViewOf(publication.info());
    Frame frame = std::make_shared<const std::string>(EncodePublicationPush(
        name, publication.data(), publication.offset(), publication.has_info() ? &info : nullptr));
    DeliverTracked(entry, publication.offset(), frame);
  }
  for (size_t i = 0; i < held.size(); ++i) {
    if (held[i].first > entry.last_offset + 1) {
      // Another hole (the link dropped again meanwhile): repair from here.
      entry.repair_held.assign(held.begin() + i, held.end());
      for (const auto& [offset, frame] : entry.repair_held)
        entry.repair_held_bytes += frame->size();
      StartRepair(channel, entry);
      return;
    }
    DeliverTracked(entry, held[i].first, held[i].second);
  }
}

void EdgeServer::ResetChannel(const std::string& channel_name, ChannelEntry& entry) {
  std::string channel = channel_name;  // The entry (and its key) may go away below.
  std::string name(SplitChannelKey(channel).channel);
  std::vector<ClientSession*> subscribers;
  subscribers.reserve(entry.subscribers.size());
  for (const auto& [session, delivered] : entry.subscribers) subscribers.push_back(session);
  Frame push = std::make_shared<const std::string>(
      EncodeUnsubscribePush(name, kUnsubscribeInsufficientState, "insufficient state"));
  for (ClientSession* session : subscribers) {
    Send(session, push);
    RemoveSubscription(session, name);
  }
  auto it = channels_.find(channel);
  if (it != channels_.end()) {
    // Sessions still positioning keep the entry; they learn the new
    // position from their own History answer.
    it->second.epoch.clear();
    it->second.last_offset = 0;
  }
}

void EdgeServer::HandleHistory(ClientSession* session, const Command& command) {
  const config::v1::NamespaceOptions* options = options_.namespaces.Find(command.channel);
  bool subscribed = session->channels.contains(command.channel);
  if (options == nullptr || !ChannelAuthorizer::CanReadHistory(*options, subscribed)) {
    // Subscribers of a namespace with history but without the permission
    // are told "not available" only when there is no history at all; any
    // other refusal is 103 and says nothing about the channel.
    bool no_history = options != nullptr && subscribed && options->history_size() == 0;
    SendText(session, no_history
                          ? EncodeErrorReply(command.id, kErrorNotAvailable, "not available", false)
                          : EncodeErrorReply(command.id, kErrorPermissionDenied,
                                             "permission denied", false));
    return;
  }
  if (link_ == nullptr) {
    SendText(session, EncodeErrorReply(command.id, kErrorNotAvailable, "not available", false));
    return;
  }
  control::v1::HistoryRequest request;
  request.set_tenant(session->tenant);
  request.set_channel(command.channel);
  request.set_limit(static_cast<int32_t>(std::clamp<int64_t>(command.limit, -1, INT32_MAX)));
  request.set_reverse(command.reverse);
  if (command.has_since) {
    request.mutable_since()->set_offset(command.offset);
    request.mutable_since()->set_epoch(command.epoch);
  }
  uint64_t session_id = session->id;
  uint32_t command_id = command.id;
  FetchHistoryToLoop(request, [this, session_id, command_id](
                                  const grpc::Status& status,
                                  const control::v1::HistoryResponse& response) {
    auto it = sessions_by_id_.find(session_id);
    if (it == sessions_by_id_.end()) return;
    ClientSession* target = it->second;
    if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      SendText(target, EncodeErrorReply(command_id, kErrorUnrecoverablePosition,
                                        "unrecoverable position", false));
      return;
    }
    if (!status.ok()) {
      SendText(target, EncodeErrorReply(command_id, kErrorInternal, "internal server error", true));
      return;
    }
    std::vector<ClientInfoView> infos;
    infos.reserve(response.publications_size());
    std::vector<RecoveredPublication> publications;
    publications.reserve(response.publications_size());
    for (const auto& publication : response.publications()) {
      publications.push_back(Recovered(publication, &infos));
    }
    SendText(target,
             EncodeHistoryReply(command_id, publications, response.epoch(), response.offset()));
  });
}

void EdgeServer::HandleUnsubscribe(ClientSession* session, const Command& command) {
  if (session->channels.contains(command.channel)) {
    RemoveSubscription(session, command.channel);
  }
  // Unsubscribing from a channel one is not subscribed to succeeds.
  SendText(session, EncodeEmptyResult(command.id, "unsubscribe"));
}

void EdgeServer::RemoveSubscription(ClientSession* session, std::string channel) {
  auto subscription = session->channels.find(channel);
  if (subscription == session->channels.end()) return;
  std::string key = KeyOf(session, channel);
  if (subscription->second.in_presence && link_ != nullptr) {
    link_->RemovePresence(key, session->client_id);
  }
  session->channels.erase(subscription);
  --subscriptions_;
  auto it = channels_.find(key);
  if (it == channels_.end()) return;
  ChannelEntry& entry = it->second;
  entry.subscribers.erase(session);
  entry.positioning.erase(session);
  std::erase_if(entry.pending,
                [session](const PendingSubscribe& p) { return p.session == session; });
  if (entry.subscribers.empty() && entry.pending.empty() && entry.positioning.empty()) {
    if (!entry.confirmed) pending_channels_.erase(entry.interest_seq);
    channels_.erase(it);
    if (link_ != nullptr) link_->RemoveChannel(key);
  }
}

void EdgeServer::ConfirmChannels(uint64_t acked_seq) {
  while (!pending_channels_.empty() && pending_channels_.begin()->first <= acked_seq) {
    auto node = pending_channels_.begin();
    auto it = channels_.find(node->second);
    pending_channels_.erase(node);
    if (it == channels_.end()) continue;
    ChannelEntry& entry = it->second;
    entry.confirmed = true;
    std::vector<PendingSubscribe> pending = std::move(entry.pending);
    entry.pending.clear();
    for (PendingSubscribe& request : pending) {
      CompleteSubscribe(it->first, entry, std::move(request));
    }
  }
}

void EdgeServer::OnControlMessage(const edge::v1::ControlMessage& message) {
  for (const edge::v1::Publication& publication : message.publications()) {
    auto it = channels_.find(publication.channel());
    if (it == channels_.end() ||
        (it->second.subscribers.empty() && it->second.positioning.empty())) {
      continue;
    }
    std::string_view name = SplitChannelKey(publication.channel()).channel;
    if (publication.has_join() || publication.has_leave()) {
      // Presence events are not part of the stream: no offset, no history,
      // only for subscribers already live.
      Frame event = std::make_shared<const std::string>(
          publication.has_join() ? EncodeJoinPush(name, ViewOf(publication.join()))
                                 : EncodeLeavePush(name, ViewOf(publication.leave())));
      for (const auto& [session, unused] : it->second.subscribers) Send(session, event);
      continue;
    }
    // Encoded once; every subscriber's queue shares these bytes.
    ClientInfoView info = ViewOf(publication.info());
    Frame frame = std::make_shared<const std::string>(EncodePublicationPush(
        name, publication.data(), publication.offset(), publication.has_info() ? &info : nullptr));
    ChannelEntry& entry = it->second;
    bool tracked = entry.options != nullptr && entry.options->history_size() > 0;
    if (!tracked || entry.epoch.empty()) {
      // No history, or no subscriber positioned yet: nothing to track.
      for (const auto& [session, unused] : entry.subscribers) Send(session, frame);
    } else if (publication.epoch() != entry.epoch) {
      ResetChannel(it->first, entry);
      it = channels_.find(publication.channel());
      if (it == channels_.end()) continue;
    } else if (entry.repairing) {
      entry.repair_held_bytes += frame->size();
      if (entry.repair_held_bytes <= options_.client_queue_max_bytes) {
        entry.repair_held.emplace_back(publication.offset(), frame);
      }
      // Past the bound the held tail is dropped; the repair's History
      // answer will not reach it, so the next publication starts another.
    } else if (publication.offset() > entry.last_offset + 1) {
      entry.repair_held.emplace_back(publication.offset(), frame);
      entry.repair_held_bytes = frame->size();
      StartRepair(it->first, entry);
    } else {
      DeliverTracked(entry, publication.offset(), frame);
    }
    for (auto& [session, positioning] : it->second.positioning) {
      // Positioning sessions merge by offset themselves.
      positioning.held_bytes += frame->size();
      if (positioning.held_bytes > options_.client_queue_max_bytes) {
        Disconnect(session, kCloseSlow, "slow");
        continue;
      }
      positioning.held.emplace_back(publication.offset(), frame);
    }
  }
  if (message.interest_ack() != 0) ConfirmChannels(message.interest_ack());
  for (const edge::v1::EdgeCommand& command : message.commands()) HandleEdgeCommand(command);
}

void EdgeServer::OnLinkState(bool attached) {
  if (!attached) return;
  // Whatever was published while the link was down is missing: repair
  // every positioned channel from control's history.
  for (auto& [channel, entry] : channels_) {
    if (!entry.epoch.empty() && !entry.subscribers.empty()) StartRepair(channel, entry);
  }
}

void EdgeServer::Send(ClientSession* session, Frame frame) {
  if (session->close_code != 0) return;
  if (!session->queue.Push(std::move(frame))) {
    Disconnect(session, kCloseSlow, "slow");
    return;
  }
  ++deliveries_since_report_;
  MarkDirty(session);
}

void EdgeServer::SendText(ClientSession* session, std::string text) {
  if (session->close_code != 0) return;
  if (!session->queue.Push(std::make_shared<const std::string>(std::move(text)))) {
    Disconnect(session, kCloseSlow, "slow");
    return;
  }
  MarkDirty(session);
}

void EdgeServer::Disconnect(ClientSession* session, int code, std::string_view reason) {
  if (session->close_code != 0) return;
  session->close_code = code;
  // A close frame carries at most 123 bytes of reason (RFC 6455 5.5), and
  // it must stay valid UTF-8.
  session->close_reason.assign(Utf8Prefix(reason, kMaxCloseReasonBytes));
  session->queue.Clear();
  RequestWritable(session);
}

void EdgeServer::RequestWritable(ClientSession* session) {
  if (session->writable_requested) return;
  session->writable_requested = true;
  lws_callback_on_writable(session->wsi);
}

void EdgeServer::SweepTimer(lws_sorted_usec_list_t* sul) {
  EdgeServer* server = reinterpret_cast<TimerSlot*>(sul)->server;
  server->Sweep();
  lws_sul_schedule(server->context_, 0, &server->sweep_timer_.sul, &EdgeServer::SweepTimer,
                   ToLwsUsec(server->sweep_period_));
}

void EdgeServer::Sweep() {
  absl::Time now = absl::Now();
  for (ClientSession* session : sessions_) {
    if (session->close_code != 0) continue;
    if (!session->connected) {
      if (now >= session->connect_deadline) Disconnect(session, kCloseStale, "stale");
      continue;
    }
    if (now >= session->pong_deadline) {
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
      SendText(session,
               EncodeUnsubscribePush(channel, kUnsubscribeExpired, "subscription expired"));
      RemoveSubscription(session, channel);
    }
    if (now >= session->next_ping) {
      session->next_ping = now + options_.ping_interval;
      if (session->pong_deadline == absl::InfiniteFuture()) {
        session->pong_deadline = now + options_.pong_timeout;
      }
      Send(session, ping_frame_);
    }
  }
  // Subscribes that control never acknowledged (link down too long).
  std::vector<std::pair<ClientSession*, std::string>> expired;
  for (const auto& [seq, channel] : pending_channels_) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) continue;
    for (const PendingSubscribe& pending : it->second.pending) {
      if (now - pending.since >= options_.subscribe_timeout) {
        if (!pending.server_side) {
          SendText(pending.session, EncodeErrorReply(pending.command_id, kErrorInternal,
                                                     "internal server error", true));
        }
        expired.emplace_back(pending.session, std::string(SplitChannelKey(channel).channel));
      }
    }
  }
  for (auto& [session, channel] : expired) RemoveSubscription(session, channel);
}

void EdgeServer::StatsTimer(lws_sorted_usec_list_t* sul) {
  EdgeServer* server = reinterpret_cast<TimerSlot*>(sul)->server;
  server->ReportStats();
  lws_sul_schedule(server->context_, 0, &server->stats_timer_.sul, &EdgeServer::StatsTimer,
                   ToLwsUsec(server->options_.stats_interval));
}

void EdgeServer::ReportStats() {
  if (link_ == nullptr) return;
  edge::v1::EdgeStats stats;
  stats.set_connections(sessions_.size());
  stats.set_subscriptions(subscriptions_);
  stats.set_deliveries(deliveries_since_report_);
  deliveries_since_report_ = 0;
  for (const auto& [channel, entry] : channels_) {
    if (entry.subscribers.empty()) continue;
    edge::v1::ChannelCount* count = stats.add_channels();
    count->set_channel(channel);
    count->set_subscribers(entry.subscribers.size());
  }
  link_->SendStats(std::move(stats));
}

void EdgeServer::BeginShutdown() {
  shutting_down_ = true;
  lws_sul_cancel(&sweep_timer_.sul);
  lws_sul_cancel(&stats_timer_.sul);
  for (ClientSession* session : sessions_) Disconnect(session, kCloseShutdown, "shutdown");
  if (sessions_.empty()) {
    uv_stop(&loop_);
    return;
  }
  // Clients that do not complete the close handshake in time are dropped.
  lws_sul_schedule(context_, 0, &shutdown_timer_.sul, &EdgeServer::ShutdownTimer,
                   ToLwsUsec(absl::Seconds(2)));
}

void EdgeServer::ShutdownTimer(lws_sorted_usec_list_t* sul) {
  EdgeServer* server = reinterpret_cast<TimerSlot*>(sul)->server;
  uv_stop(&server->loop_);
}

void EdgeServer::HandleRefresh(ClientSession* session, const Command& command) {
  absl::Time now = absl::Now();
  absl::StatusOr<TokenClaims> claims = verifier_.Verify(command.token, now, connection_tokens_);
  if (!claims.ok()) {
    if (absl::IsDeadlineExceeded(claims.status())) {
      // Reconnecting makes the SDK fetch a token again.
      Disconnect(session, kCloseConnectionExpired, "connection expired");
    } else {
      Disconnect(session, kCloseInvalidToken, "invalid token");
    }
    return;
  }
  // A refresh extends this identity; it cannot become someone else.
  if (claims->subject != session->user || claims->tenant != session->tenant) {
    Disconnect(session, kCloseInvalidToken, "invalid token");
    return;
  }
  session->expires_at = claims->expires_at;
  session->conn_info = std::move(claims->info_json);
  SendText(session, EncodeRefreshReply(command.id, session->client_id, options_.version, true,
                                       TtlSeconds(session->expires_at, now)));
}

void EdgeServer::HandleSubRefresh(ClientSession* session, const Command& command) {
  auto it = session->channels.find(command.channel);
  if (it == session->channels.end()) {
    SendText(session,
             EncodeErrorReply(command.id, kErrorPermissionDenied, "permission denied", false));
    return;
  }
  absl::Time now = absl::Now();
  ConnectionIdentity who{session->user, session->tenant, &session->token_channels};
  absl::StatusOr<SubscribeGrant> grant =
      authorizer_.VerifySubscriptionToken(who, command.channel, command.token, now);
  if (!grant.ok()) {
    SendText(session, RefusalReply(command.id, grant.status()));
    return;
  }
  it->second.expires_at = grant->expires_at;
  bool expiring = grant->expires_at != absl::InfiniteFuture();
  SendText(session, EncodeSubRefreshReply(command.id, expiring,
                                          expiring ? TtlSeconds(grant->expires_at, now) : 0));
}

void EdgeServer::HandlePublish(ClientSession* session, const Command& command) {
  absl::Status valid = ValidateChannelName(command.channel);
  if (!valid.ok()) {
    SendText(session, EncodeErrorReply(command.id, kErrorBadRequest,
                                       absl::StrCat("bad request: ", valid.message()), false));
    return;
  }
  const config::v1::NamespaceOptions* options = options_.namespaces.Find(command.channel);
  bool subscribed = session->channels.contains(command.channel);
  if (options == nullptr || !ChannelAuthorizer::CanPublish(*options, subscribed)) {
    SendText(session,
             EncodeErrorReply(command.id, kErrorPermissionDenied, "permission denied", false));
    return;
  }
  // Token bucket: client_publish_rate per second, up to the burst.
  absl::Time now = absl::Now();
  session->publish_tokens =
      std::min(options_.client_publish_burst,
               session->publish_tokens + absl::ToDoubleSeconds(now - session->publish_refilled_at) *
                                             options_.client_publish_rate);
  session->publish_refilled_at = now;
  if (session->publish_tokens < 1) {
    SendText(session,
             EncodeErrorReply(command.id, kErrorTooManyRequests, "too many requests", true));
    return;
  }
  session->publish_tokens -= 1;
  if (link_ == nullptr) {
    SendText(session, EncodeErrorReply(command.id, kErrorNotAvailable, "not available", false));
    return;
  }
  auto request = std::make_shared<edge::v1::ClientPublishRequest>();
  request->set_channel(KeyOf(session, command.channel));
  request->set_data(command.data_json);
  *request->mutable_info() = InfoOf(session, command.channel);
  session->publishes.emplace_back(command.id, std::move(request));
  SendNextPublish(session);
}

void EdgeServer::SendNextPublish(ClientSession* session) {
  if (session->publish_in_flight || session->publishes.empty()) return;
  session->publish_in_flight = true;
  uint64_t session_id = session->id;
  uint32_t command_id = session->publishes.front().first;
  link_->Publish(
      *session->publishes.front().second, options_.control_call_timeout,
      [this, session_id, command_id](const grpc::Status& status,
                                     const control::v1::PublishResponse&) {
        Post([this, session_id, command_id, status] {
          auto it = sessions_by_id_.find(session_id);
          if (it == sessions_by_id_.end()) return;
          ClientSession* target = it->second;
          target->publish_in_flight = false;
          if (!target->publishes.empty()) target->publishes.pop_front();
          if (status.ok()) {
            SendText(target, EncodeEmptyResult(command_id, "publish"));
          } else if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
            SendText(target, EncodeErrorReply(command_id, kErrorBadRequest,
                                              absl::StrCat("bad request: ", status.error_message()),
                                              false));
          } else {
            SendText(target,
                     EncodeErrorReply(command_id, kErrorInternal, "internal server error", true));
          }
          SendNextPublish(target);
        });
      });
}

void EdgeServer::HandlePresence(ClientSession* session, const Command& command) {
  const config::v1::NamespaceOptions* options = options_.namespaces.Find(command.channel);
  bool subscribed = session->channels.contains(command.channel);
  if (options == nullptr || !ChannelAuthorizer::CanReadPresence(*options, subscribed)) {
    SendText(session,
             EncodeErrorReply(command.id, kErrorPermissionDenied, "permission denied", false));
    return;
  }
  if (link_ == nullptr) {
    SendText(session, EncodeErrorReply(command.id, kErrorNotAvailable, "not available", false));
    return;
  }
  uint64_t session_id = session->id;
  uint32_t command_id = command.id;
  auto reply = [this, session_id](std::function<std::string()> encode) {
    Post([this, session_id, encode = std::move(encode)] {
      auto it = sessions_by_id_.find(session_id);
      if (it != sessions_by_id_.end()) SendText(it->second, encode());
    });
  };
  auto failure = [command_id] {
    return EncodeErrorReply(command_id, kErrorInternal, "internal server error", true);
  };
  if (command.kind == Command::Kind::kPresenceStats) {
    control::v1::PresenceStatsRequest request;
    request.set_tenant(session->tenant);
    request.set_channel(command.channel);
    link_->FetchPresenceStats(
        request, options_.control_call_timeout,
        [reply, failure, command_id](const grpc::Status& status,
                                     const control::v1::PresenceStatsResponse& response) {
          if (!status.ok()) return reply(failure);
          uint64_t clients = response.num_clients();
          uint64_t users = response.num_users();
          reply([=] { return EncodePresenceStatsReply(command_id, clients, users); });
        });
    return;
  }
  control::v1::PresenceRequest request;
  request.set_tenant(session->tenant);
  request.set_channel(command.channel);
  request.set_page_size(10000);  // One page: the most control returns at once.
  link_->FetchPresence(request, options_.control_call_timeout,
                       [reply, failure, command_id](const grpc::Status& status,
                                                    const control::v1::PresenceResponse& response) {
                         if (!status.ok()) return reply(failure);
                         auto clients = std::make_shared<control::v1::PresenceResponse>(response);
                         reply([clients, command_id] {
                           std::vector<ClientInfoView> views;
                           views.reserve(clients->clients_size());
                           for (const control::v1::ClientInfo& info : clients->clients()) {
                             views.push_back(ViewOf(info));
                           }
                           return EncodePresenceReply(command_id, views);
                         });
                       });
}

std::vector<ClientSession*> EdgeServer::MatchSessions(std::string_view tenant,
                                                      std::string_view user,
                                                      std::string_view client) const {
  std::vector<ClientSession*> matched;
  if (user.empty() && client.empty()) return matched;
  for (ClientSession* session : sessions_) {
    if (!session->connected || session->close_code != 0 || session->tenant != tenant) continue;
    if (!user.empty() && session->user != user) continue;
    if (!client.empty() && session->client_id != client) continue;
    matched.push_back(session);
  }
  return matched;
}

void EdgeServer::HandleEdgeCommand(const edge::v1::EdgeCommand& command) {
  edge::v1::CommandResult result;
  result.set_id(command.id());
  uint64_t affected = 0;
  switch (command.kind_case()) {
    case edge::v1::EdgeCommand::kSubscribe: {
      const auto& request = command.subscribe();
      for (ClientSession* session :
           MatchSessions(request.tenant(), request.user(), request.client())) {
        if (ServerSubscribe(session, request.channel(), nullptr)) ++affected;
      }
      break;
    }
    case edge::v1::EdgeCommand::kUnsubscribe: {
      const auto& request = command.unsubscribe();
      for (ClientSession* session :
           MatchSessions(request.tenant(), request.user(), request.client())) {
        if (!session->channels.contains(request.channel())) continue;
        RemoveSubscription(session, request.channel());
        SendText(session, EncodeUnsubscribePush(request.channel(), kUnsubscribeServer,
                                                "server unsubscribe"));
        ++affected;
      }
      break;
    }
    case edge::v1::EdgeCommand::kDisconnect: {
      const auto& request = command.disconnect();
      int code = static_cast<int>(request.code());
      std::string reason = request.reason();
      if (code == 0) code = request.reconnect() ? kCloseForceReconnect : kCloseForceDisconnect;
      if (reason.empty()) {
        reason = code == kCloseForceReconnect ? "force reconnect" : "force disconnect";
      }
      // The SDK reconnects for codes below 3500; a JSON reason overrides
      // the code's meaning when the caller asked for the other behaviour.
      bool code_reconnects = (code >= 3000 && code < 3500) || (code >= 4000 && code < 4500);
      if (request.code() != 0 && code_reconnects != request.reconnect()) {
        // The JSON must fit a close frame whole, or the SDK cannot parse it:
        // the reason inside shrinks until it does.
        std::string_view inner = reason;
        std::string json;
        while (true) {
          json = R"({"reason":)";
          AppendJsonString(inner, &json);
          absl::StrAppend(&json, R"(,"reconnect":)", request.reconnect() ? "true" : "false", "}");
          if (json.size() <= kMaxCloseReasonBytes || inner.empty()) break;
          inner = Utf8Prefix(inner, inner.size() - 1);
        }
        reason = std::move(json);
      }
      for (ClientSession* session :
           MatchSessions(request.tenant(), request.user(), request.client())) {
        Disconnect(session, code, reason);
        ++affected;
      }
      break;
    }
    case edge::v1::EdgeCommand::kRefresh: {
      const auto& request = command.refresh();
      for (ClientSession* session :
           MatchSessions(request.tenant(), request.user(), request.client())) {
        if (request.expired()) {
          Disconnect(session, kCloseConnectionExpired, "connection expired");
        } else {
          session->expires_at = request.expire_at_unix() == 0
                                    ? absl::InfiniteFuture()
                                    : absl::FromUnixSeconds(request.expire_at_unix());
        }
        ++affected;
      }
      break;
    }
    case edge::v1::EdgeCommand::kConnections: {
      const auto& request = command.connections();
      std::vector<ClientSession*> matched;
      for (ClientSession* session : sessions_) {
        if (!session->connected || session->close_code != 0 ||
            session->tenant != request.tenant()) {
          continue;
        }
        if (!request.user().empty() && session->user != request.user()) continue;
        if (!request.channel().empty() && !session->channels.contains(request.channel())) {
          continue;
        }
        if (!request.page_token().empty() && session->client_id <= request.page_token()) continue;
        matched.push_back(session);
      }
      size_t limit = request.page_size() > 0 ? static_cast<size_t>(request.page_size()) : 100;
      std::sort(matched.begin(), matched.end(),
                [](ClientSession* a, ClientSession* b) { return a->client_id < b->client_id; });
      if (matched.size() > limit) matched.resize(limit);
      for (ClientSession* session : matched) {
        control::v1::ConnectionInfo* info = result.add_connection_list();
        info->set_client(session->client_id);
        info->set_user(session->user);
        info->set_tenant(session->tenant);
        info->set_edge_id(options_.edge_id);
        info->set_conn_info(session->conn_info);
        std::vector<std::string> names;
        for (const auto& [channel, subscription] : session->channels) names.push_back(channel);
        std::sort(names.begin(), names.end());
        for (std::string& name : names) info->add_channels(std::move(name));
        info->set_connected_at_unix_ms(absl::ToUnixMillis(session->connected_at));
        if (session->expires_at != absl::InfiniteFuture()) {
          info->set_expires_at_unix_ms(absl::ToUnixMillis(session->expires_at));
        }
      }
      break;
    }
    case edge::v1::EdgeCommand::kChannels: {
      const auto& request = command.channels();
      std::vector<std::pair<std::string_view, uint64_t>> matched;
      for (const auto& [key, entry] : channels_) {
        if (entry.subscribers.empty()) continue;
        ChannelKeyParts parts = SplitChannelKey(key);
        if (parts.tenant != request.tenant()) continue;
        if (!absl::StartsWith(AsAbsl(parts.channel), AsAbsl(request.prefix()))) continue;
        if (!request.page_token().empty() && parts.channel <= request.page_token()) continue;
        matched.emplace_back(parts.channel, entry.subscribers.size());
      }
      std::sort(matched.begin(), matched.end());
      size_t limit = request.page_size() > 0 ? static_cast<size_t>(request.page_size()) : 1000;
      if (matched.size() > limit) matched.resize(limit);
      for (const auto& [name, count] : matched) {
        control::v1::ChannelSubscribers* channel = result.add_channels();
        channel->set_channel(std::string(name));
        channel->set_subscribers(count);
        channel->set_tenant(request.tenant());
      }
      break;
    }
    case edge::v1::EdgeCommand::kInfo: {
      control::v1::NodeInfo* info = result.mutable_info();
      info->set_id(options_.edge_id);
      info->set_kind("edge");
      info->set_version(options_.version);
      info->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_at_));
      info->set_connections(sessions_.size());
      info->set_subscriptions(subscriptions_);
      info->set_rss_bytes(ResidentMemoryBytes());
      info->set_address(absl::StrCat(options_.listen_host, ":", bound_port_));
      break;
    }
    case edge::v1::EdgeCommand::KIND_NOT_SET:
      result.set_error_code(static_cast<int>(grpc::StatusCode::UNIMPLEMENTED));
      result.set_error_message("command not understood by this edge");
      break;
  }
  result.set_connections(affected);
  if (link_ != nullptr) link_->SendResult(std::move(result));
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
