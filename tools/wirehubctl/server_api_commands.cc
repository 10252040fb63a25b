#include "tools/wirehubctl/server_api_commands.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/wirehubctl/output.h"
#include "tools/wirehubctl/subcommand_support.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::ctl {

namespace v1 = ::wirehub::control::v1;

namespace {

// Close codes and reason length DisconnectRequest accepts.
constexpr int64_t kMinDisconnectCode = 3000;
constexpr int64_t kMaxDisconnectCode = 4999;
constexpr size_t kMaxDisconnectReasonBytes = 100;

}  // namespace

namespace {

// subscribe and unsubscribe: same flags, same answer.
template <typename Request, typename Response, typename Call>
int RunSubscription(const CommandLine& line, const CliContext& context, const Call& call) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  absl::StatusOr<ConnectionTarget> target = ConnectionTargetFlags(line);
  if (!target.ok()) return UsageError(context, line.subcommand, target.status().message());
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  Request request;
  request.set_user(target->user);
  request.set_client(target->client);
  request.set_channel(line.positionals[0]);
  request.set_tenant(StringFlag(line, "tenant"));
  Response response;
  grpc::Status status = call(*client, request, &response);
  if (!status.ok()) return RpcError(context, status);
  PrintReached(context, response.connections(), response.edges_missing());
  return kExitOk;
}

}  // namespace

int RunSubscribe(const CommandLine& line, const CliContext& context) {
  return RunSubscription<v1::SubscribeRequest, v1::SubscribeResponse>(
      line, context,
      [](ControlClient& client, const v1::SubscribeRequest& request,
         v1::SubscribeResponse* response) { return client.Subscribe(request, response); });
}

int RunUnsubscribe(const CommandLine& line, const CliContext& context) {
  return RunSubscription<v1::UnsubscribeRequest, v1::UnsubscribeResponse>(
      line, context,
      [](ControlClient& client, const v1::UnsubscribeRequest& request,
         v1::UnsubscribeResponse* response) { return client.Unsubscribe(request, response); });
}

int RunDisconnect(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  absl::StatusOr<ConnectionTarget> target = ConnectionTargetFlags(line);
  if (!target.ok()) return UsageError(context, line.subcommand, target.status().message());
  absl::StatusOr<std::optional<int64_t>> code =
      IntFlag(line, "code", kMinDisconnectCode, kMaxDisconnectCode);
  if (!code.ok()) return UsageError(context, line.subcommand, code.status().message());
  std::string reason = StringFlag(line, "reason");
  if (reason.size() > kMaxDisconnectReasonBytes) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("--reason is ", reason.size(), " bytes; at most ",
                                   kMaxDisconnectReasonBytes, " fit in a close frame"));
  }
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::DisconnectRequest request;
  request.set_user(target->user);
  request.set_client(target->client);
  request.set_tenant(StringFlag(line, "tenant"));
  request.set_code(static_cast<uint32_t>(code->value_or(0)));
  request.set_reason(reason);
  request.set_reconnect(BoolFlag(line, "reconnect"));
  v1::DisconnectResponse response;
  grpc::Status status = client->Disconnect(request, &response);
  if (!status.ok()) return RpcError(context, status);
  PrintReached(context, response.connections(), response.edges_missing());
  return kExitOk;
}

int RunRefresh(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  absl::StatusOr<ConnectionTarget> target = ConnectionTargetFlags(line);
  if (!target.ok()) return UsageError(context, line.subcommand, target.status().message());
  absl::StatusOr<std::optional<int64_t>> expire_at =
      IntFlag(line, "expire_at", 0, std::numeric_limits<int64_t>::max());
  if (!expire_at.ok()) return UsageError(context, line.subcommand, expire_at.status().message());
  absl::StatusOr<std::optional<absl::Duration>> ttl =
      DurationFlag(line, "ttl", absl::Seconds(kMaxTtlSeconds));
  if (!ttl.ok()) return UsageError(context, line.subcommand, ttl.status().message());
  const bool expired = BoolFlag(line, "expired");
  if (int{expire_at->has_value()} + int{ttl->has_value()} + int{expired} != 1) {
    return UsageError(context, line.subcommand,
                      "refresh needs exactly one of --expire_at, --ttl and --expired");
  }
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::RefreshRequest request;
  request.set_user(target->user);
  request.set_client(target->client);
  request.set_tenant(StringFlag(line, "tenant"));
  if (expire_at->has_value()) request.set_expire_at_unix(**expire_at);
  if (ttl->has_value()) {
    // Rounded up to the next whole second: never earlier than asked.
    const absl::Time at = context.now() + **ttl;
    int64_t seconds = absl::ToUnixSeconds(at);
    if (absl::FromUnixSeconds(seconds) < at) ++seconds;
    request.set_expire_at_unix(seconds);
  }
  request.set_expired(expired);
  v1::RefreshResponse response;
  grpc::Status status = client->Refresh(request, &response);
  if (!status.ok()) return RpcError(context, status);
  PrintReached(context, response.connections(), response.edges_missing());
  return kExitOk;
}

int RunConnections(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  v1::ConnectionsRequest request;
  request.set_tenant(StringFlag(line, "tenant"));
  request.set_user(StringFlag(line, "user"));
  request.set_channel(StringFlag(line, "channel"));
  if (int code = PageFlags(line, context, &request); code != kExitOk) return code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::ConnectionsResponse response;
  exit_code = FetchPages(
      line, context, request,
      [&client](const v1::ConnectionsRequest& page_request, v1::ConnectionsResponse* page) {
        return client->Connections(page_request, page);
      },
      &response);
  if (exit_code != kExitOk) return exit_code;
  if (BoolFlag(line, "json")) {
    if (response.edges_missing() > 0) PrintListFooter(line, context, "", response.edges_missing());
    return PrintJson(response, "connections", context);
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::ConnectionInfo& connection : response.connections()) {
    rows.push_back(
        {connection.client(), OrDash(connection.user()), OrDash(connection.edge_id()),
         FormatUnixMillis(connection.connected_at_unix_ms()),
         connection.expires_at_unix_ms() == 0 ? std::string("never")
                                              : FormatUnixMillis(connection.expires_at_unix_ms()),
         OrDash(absl::StrJoin(connection.channels(), ",")), JsonCell(connection.conn_info())});
  }
  PrintListTable(*context.out,
                 {"CLIENT", "USER", "EDGE", "CONNECTED", "EXPIRES", "CHANNELS", "INFO"},
                 std::move(rows));
  PrintListFooter(line, context, response.next_page_token(), response.edges_missing());
  return kExitOk;
}

int RunChannels(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  v1::ChannelsRequest request;
  request.set_tenant(StringFlag(line, "tenant"));
  request.set_prefix(StringFlag(line, "prefix"));
  if (int code = PageFlags(line, context, &request); code != kExitOk) return code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::ChannelsResponse response;
  exit_code = FetchPages(
      line, context, request,
      [&client](const v1::ChannelsRequest& page_request, v1::ChannelsResponse* page) {
        return client->Channels(page_request, page);
      },
      &response);
  if (exit_code != kExitOk) return exit_code;
  if (BoolFlag(line, "json")) {
    if (response.edges_missing() > 0) PrintListFooter(line, context, "", response.edges_missing());
    return PrintJson(response, "channels", context);
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::ChannelSubscribers& channel : response.channels()) {
    rows.push_back({channel.channel(), absl::StrCat(channel.subscribers())});
  }
  PrintListTable(*context.out, {"CHANNEL", "SUBSCRIBERS"}, std::move(rows));
  PrintListFooter(line, context, response.next_page_token(), response.edges_missing());
  return kExitOk;
}

int RunInfo(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::InfoResponse response;
  grpc::Status status = client->Info(v1::InfoRequest(), &response);
  if (!status.ok()) return RpcError(context, status);
  if (BoolFlag(line, "json")) {
    if (response.edges_missing() > 0) PrintListFooter(line, context, "", response.edges_missing());
    return PrintJson(response, "info", context);
  }
  std::vector<std::vector<std::string>> rows;
  auto add_row = [&rows](const v1::NodeInfo& node) {
    rows.push_back({node.id(), node.kind(), OrDash(node.version()),
                    absl::FormatDuration(absl::Seconds(node.uptime_seconds())),
                    absl::StrCat(node.connections()), absl::StrCat(node.subscriptions()),
                    FormatBytes(node.rss_bytes()), OrDash(node.address())});
  };
  if (response.has_control()) add_row(response.control());
  for (const v1::NodeInfo& edge : response.edges()) add_row(edge);
  PrintListTable(
      *context.out,
      {"ID", "KIND", "VERSION", "UPTIME", "CONNECTIONS", "SUBSCRIPTIONS", "RSS", "ADDRESS"},
      std::move(rows));
  PrintListFooter(line, context, "", response.edges_missing());
  return kExitOk;
}

int RunStats(const CommandLine& line, const CliContext& context) {
  if (!line.positionals.empty()) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("unexpected argument '", line.positionals[0], "'"));
  }
  absl::StatusOr<std::optional<int64_t>> top =
      IntFlag(line, "top", 0, std::numeric_limits<int32_t>::max());
  if (!top.ok()) return UsageError(context, line.subcommand, top.status().message());
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::StatsRequest request;
  request.set_top_channels(static_cast<int32_t>(top->value_or(0)));
  v1::StatsResponse response;
  grpc::Status status = client->Stats(request, &response);
  if (!status.ok()) return RpcError(context, status);

  if (BoolFlag(line, "json")) return PrintJson(response, "stats", context);
  PrintStatsTable(response, *context.out);
  return kExitOk;
}

}  // namespace wirehub::ctl
