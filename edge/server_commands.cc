#include "edge/server_commands.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/json_writer.h"
#include "common/process_memory.h"
#include "edge/client_codec.h"
#include "edge/client_protocol.h"

namespace wirehub::edge {

edge::v1::CommandResult ServerCommands::Handle(const edge::v1::EdgeCommand& command) {
  edge::v1::CommandResult result;
  result.set_id(command.id());
  uint64_t affected = 0;
  switch (command.kind_case()) {
    case edge::v1::EdgeCommand::kSubscribe:
      affected = Subscribe(command.subscribe());
      break;
    case edge::v1::EdgeCommand::kUnsubscribe:
      affected = Unsubscribe(command.unsubscribe());
      break;
    case edge::v1::EdgeCommand::kDisconnect:
      affected = Disconnect(command.disconnect());
      break;
    case edge::v1::EdgeCommand::kRefresh:
      affected = Refresh(command.refresh());
      break;
    case edge::v1::EdgeCommand::kConnections:
      Connections(command.connections(), &result);
      break;
    case edge::v1::EdgeCommand::kChannels:
      Channels(command.channels(), &result);
      break;
    case edge::v1::EdgeCommand::kInfo:
      Info(&result);
      break;
    case edge::v1::EdgeCommand::KIND_NOT_SET:
      result.set_error_code(static_cast<int>(absl::StatusCode::kUnimplemented));
      result.set_error_message("command not understood by this edge");
      break;
  }
  result.set_connections(affected);
  return result;
}

std::vector<ClientSession*> ServerCommands::Match(std::string_view tenant, std::string_view user,
                                                  std::string_view client) const {
  std::vector<ClientSession*> matched;
  if (user.empty() && client.empty()) return matched;
  for (ClientSession* session : sessions_->all()) {
    if (!session->connected || session->close_code != 0 || session->tenant != tenant) continue;
    if (!user.empty() && session->user != user) continue;
    if (!client.empty() && session->client_id != client) continue;
    matched.push_back(session);
  }
  return matched;
}

uint64_t ServerCommands::Subscribe(const control::v1::SubscribeRequest& request) {
  uint64_t affected = 0;
  for (ClientSession* session : Match(request.tenant(), request.user(), request.client())) {
    if (server_subscribe_(session, request.channel())) ++affected;
  }
  return affected;
}

uint64_t ServerCommands::Unsubscribe(const control::v1::UnsubscribeRequest& request) {
  uint64_t affected = 0;
  for (ClientSession* session : Match(request.tenant(), request.user(), request.client())) {
    if (!session->channels.contains(request.channel())) continue;
    subscriptions_->Unsubscribe(session, request.channel());
    sessions_->SendText(session, EncodeUnsubscribePush(session->format, request.channel(),
                                                       kUnsubscribeServer, "server unsubscribe"));
    ++affected;
  }
  return affected;
}

uint64_t ServerCommands::Disconnect(const control::v1::DisconnectRequest& request) {
  int code = static_cast<int>(request.code());
  std::string reason = request.reason();
  if (code == 0) code = request.reconnect() ? kCloseForceReconnect : kCloseForceDisconnect;
  if (reason.empty())
    reason = code == kCloseForceReconnect ? "force reconnect" : "force disconnect";
  // The SDK reconnects for codes below 3500; a JSON reason overrides the
  // code's meaning when the caller asked for the other behaviour.
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
  uint64_t affected = 0;
  for (ClientSession* session : Match(request.tenant(), request.user(), request.client())) {
    sessions_->Disconnect(session, code, reason);
    ++affected;
  }
  return affected;
}

uint64_t ServerCommands::Refresh(const control::v1::RefreshRequest& request) {
  uint64_t affected = 0;
  for (ClientSession* session : Match(request.tenant(), request.user(), request.client())) {
    if (request.expired()) {
      sessions_->Disconnect(session, kCloseConnectionExpired, "connection expired");
    } else {
      session->expires_at = request.expire_at_unix() == 0
                                ? absl::InfiniteFuture()
                                : absl::FromUnixSeconds(request.expire_at_unix());
    }
    ++affected;
  }
  return affected;
}

void ServerCommands::Connections(const control::v1::ConnectionsRequest& request,
                                 edge::v1::CommandResult* result) const {
  std::vector<ClientSession*> matched;
  for (ClientSession* session : sessions_->all()) {
    if (!session->connected || session->close_code != 0 || session->tenant != request.tenant()) {
      continue;
    }
    if (!request.user().empty() && session->user != request.user()) continue;
    if (!request.channel().empty() && !session->channels.contains(request.channel())) continue;
    if (!request.page_token().empty() && session->client_id <= request.page_token()) continue;
    matched.push_back(session);
  }
  size_t limit = request.page_size() > 0 ? static_cast<size_t>(request.page_size()) : 100;
  std::sort(matched.begin(), matched.end(),
            [](ClientSession* a, ClientSession* b) { return a->client_id < b->client_id; });
  if (matched.size() > limit) matched.resize(limit);
  for (ClientSession* session : matched) {
    control::v1::ConnectionInfo* info = result->add_connection_list();
    info->set_client(session->client_id);
    info->set_user(session->user);
    info->set_tenant(session->tenant);
    info->set_edge_id(identity_.edge_id);
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
}

void ServerCommands::Channels(const control::v1::ChannelsRequest& request,
                              edge::v1::CommandResult* result) const {
  std::vector<std::pair<std::string_view, uint64_t>> matched;
  for (const auto& [key, entry] : subscriptions_->channels()) {
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
    control::v1::ChannelSubscribers* channel = result->add_channels();
    channel->set_channel(std::string(name));
    channel->set_subscribers(count);
    channel->set_tenant(request.tenant());
  }
}

void ServerCommands::Info(edge::v1::CommandResult* result) const {
  control::v1::NodeInfo* info = result->mutable_info();
  info->set_id(identity_.edge_id);
  info->set_kind("edge");
  info->set_version(identity_.version);
  info->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - identity_.started_at));
  info->set_connections(sessions_->size());
  info->set_subscriptions(subscriptions_->subscriptions());
  info->set_rss_bytes(ResidentMemoryBytes());
  info->set_address(identity_.address);
}

}  // namespace wirehub::edge
