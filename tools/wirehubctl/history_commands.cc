#include "tools/wirehubctl/history_commands.h"

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

constexpr int64_t kDefaultHistoryLimit = 100;

}  // namespace

int RunHistory(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  absl::StatusOr<std::optional<int64_t>> limit =
      IntFlag(line, "limit", -1, std::numeric_limits<int32_t>::max());
  if (!limit.ok()) return UsageError(context, line.subcommand, limit.status().message());
  absl::StatusOr<std::optional<uint64_t>> since_offset = Uint64Flag(line, "since_offset");
  if (!since_offset.ok()) {
    return UsageError(context, line.subcommand, since_offset.status().message());
  }
  const std::string* since_epoch = line.Flag("since_epoch");
  if (since_offset->has_value() != (since_epoch != nullptr)) {
    return UsageError(context, line.subcommand,
                      "--since_offset and --since_epoch must be given together");
  }
  if (since_epoch != nullptr && since_epoch->empty()) {
    return UsageError(context, line.subcommand, "--since_epoch must not be empty");
  }
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::HistoryRequest request;
  request.set_channel(line.positionals[0]);
  request.set_tenant(StringFlag(line, "tenant"));
  request.set_limit(static_cast<int32_t>(limit->value_or(kDefaultHistoryLimit)));
  request.set_reverse(BoolFlag(line, "reverse"));
  if (since_epoch != nullptr) {
    request.mutable_since()->set_offset(**since_offset);
    request.mutable_since()->set_epoch(*since_epoch);
  }
  v1::HistoryResponse response;
  grpc::Status status = client->History(request, &response);
  if (!status.ok()) return RpcError(context, status);

  if (BoolFlag(line, "json")) {
    *context.out << HistoryJson(response) << "\n";
    return kExitOk;
  }
  *context.out << "epoch=" << response.epoch() << " offset=" << response.offset() << "\n";
  for (const v1::HistoryPublication& publication : response.publications()) {
    *context.out << publication.offset() << " " << JsonOnOneLine(publication.data()) << "\n";
  }
  return kExitOk;
}

int RunHistoryRemove(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::HistoryRemoveRequest request;
  request.set_channel(line.positionals[0]);
  request.set_tenant(StringFlag(line, "tenant"));
  v1::HistoryRemoveResponse response;
  grpc::Status status = client->HistoryRemove(request, &response);
  if (!status.ok()) return RpcError(context, status);
  *context.out << "ok\n";
  return kExitOk;
}

}  // namespace wirehub::ctl
