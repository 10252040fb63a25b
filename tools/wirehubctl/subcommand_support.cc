#include "tools/wirehubctl/subcommand_support.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/token_secret.h"
#include "tools/wirehubctl/output.h"

namespace wirehub::ctl {
namespace {

constexpr absl::string_view kProgram = "wirehubctl";

}  // namespace

int UsageError(const CliContext& context, absl::string_view subcommand, absl::string_view message) {
  *context.err << kProgram << ": " << message << "\n";
  if (subcommand.empty()) {
    *context.err << "Run 'wirehubctl --help' for usage.\n";
  } else {
    *context.err << "Run 'wirehubctl " << subcommand << " --help' for usage.\n";
  }
  return kExitUsage;
}

int RpcError(const CliContext& context, const grpc::Status& status) {
  *context.err << "error: " << GrpcCodeName(status.error_code());
  if (!status.error_message().empty()) *context.err << ": " << status.error_message();
  *context.err << "\n";
  return kExitFailure;
}

// Resolves the control target and connects. Returns nullptr after reporting
// a usage error; `exit_code` is then set.
std::unique_ptr<ControlClient> Connect(const CommandLine& line, const CliContext& context,
                                       int* exit_code) {
  absl::StatusOr<ControlTarget> target = ResolveControlTarget(line, context);
  if (!target.ok()) {
    *exit_code = UsageError(context, line.subcommand, target.status().message());
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<ControlClient>> client = context.connect(*target);
  if (!client.ok()) {
    *context.err << "error: cannot connect to " << target->address << ": "
                 << client.status().message() << "\n";
    *exit_code = kExitFailure;
    return nullptr;
  }
  return *std::move(client);
}

std::optional<std::string> LoadSecret(const CommandLine& line, const CliContext& context) {
  absl::StatusOr<std::string> secret = LoadTokenSecret(StringFlag(line, "token_hmac_secret_file"));
  if (!secret.ok()) {
    *context.err << "error: " << secret.status().message() << "\n";
    return std::nullopt;
  }
  return *std::move(secret);
}

// Checks that a subcommand got exactly one positional, CHANNEL.
bool OneChannel(const CommandLine& line, const CliContext& context, int* exit_code) {
  if (line.positionals.size() == 1) return true;
  *exit_code = UsageError(context, line.subcommand,
                          absl::StrCat(line.subcommand, " takes CHANNEL, got ",
                                       line.positionals.size(), " argument(s)"));
  return false;
}

bool NoPositionals(const CommandLine& line, const CliContext& context, int* exit_code) {
  if (line.positionals.empty()) return true;
  *exit_code = UsageError(context, line.subcommand,
                          absl::StrCat("unexpected argument '", line.positionals[0], "'"));
  return false;
}

}  // namespace wirehub::ctl
