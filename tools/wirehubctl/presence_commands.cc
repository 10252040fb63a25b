#include "tools/wirehubctl/presence_commands.h"

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

int RunPresence(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  v1::PresenceRequest request;
  request.set_channel(line.positionals[0]);
  request.set_tenant(StringFlag(line, "tenant"));
  if (int code = PageFlags(line, context, &request); code != kExitOk) return code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::PresenceResponse response;
  exit_code = FetchPages(
      line, context, request,
      [&client](const v1::PresenceRequest& page_request, v1::PresenceResponse* page) {
        return client->Presence(page_request, page);
      },
      &response);
  if (exit_code != kExitOk) return exit_code;
  if (BoolFlag(line, "json")) return PrintJson(response, "presence", context);
  std::vector<std::vector<std::string>> rows;
  for (const v1::ClientInfo& info : response.clients()) {
    rows.push_back({info.client(), OrDash(info.user()), JsonCell(info.conn_info()),
                    JsonCell(info.chan_info())});
  }
  PrintListTable(*context.out, {"CLIENT", "USER", "CONN_INFO", "CHAN_INFO"}, std::move(rows));
  PrintListFooter(line, context, response.next_page_token(), 0);
  return kExitOk;
}

int RunPresenceStats(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::PresenceStatsRequest request;
  request.set_channel(line.positionals[0]);
  request.set_tenant(StringFlag(line, "tenant"));
  v1::PresenceStatsResponse response;
  grpc::Status status = client->PresenceStats(request, &response);
  if (!status.ok()) return RpcError(context, status);
  *context.out << "clients=" << response.num_clients() << " users=" << response.num_users() << "\n";
  return kExitOk;
}

}  // namespace wirehub::ctl
