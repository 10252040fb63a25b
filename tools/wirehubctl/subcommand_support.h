// What the subcommands share: the signature they all have, reporting usage
// and RPC errors, connecting to control, the checks of positionals, and
// paging through list RPCs.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_SUBCOMMAND_SUPPORT_H_
#define WIREHUB_TOOLS_WIREHUBCTL_SUBCOMMAND_SUPPORT_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"
#include "tools/wirehubctl/cli_context.h"
#include "tools/wirehubctl/command_line.h"
#include "tools/wirehubctl/control_client.h"

namespace wirehub::ctl {

// A subcommand: runs with its parsed command line and returns the exit code.
using SubcommandFn = int (*)(const CommandLine& line, const CliContext& context);

// UsageError()
//
// Reports a usage error and returns kExitUsage. `subcommand` may be empty.
int UsageError(const CliContext& context, absl::string_view subcommand, absl::string_view message);

// RpcError()
//
// Reports a failed RPC ("error: CODE: message") and returns kExitFailure.
int RpcError(const CliContext& context, const grpc::Status& status);

// Connect()
//
// Resolves --control, --timeout, the API key and TLS (ResolveControlTarget())
// and connects. Returns nullptr after reporting the error; `exit_code` is
// then set.
std::unique_ptr<ControlClient> Connect(const CommandLine& line, const CliContext& context,
                                       int* exit_code);

// OneChannel()
//
// Checks that a subcommand got exactly one positional, CHANNEL; otherwise
// reports a usage error into `exit_code` and returns false.
bool OneChannel(const CommandLine& line, const CliContext& context, int* exit_code);

// NoPositionals()
//
// Checks that a subcommand got no positionals, as OneChannel().
bool NoPositionals(const CommandLine& line, const CliContext& context, int* exit_code);

// LoadSecret()
//
// Loads the token secret as `token` and `tail --user` do. Reports a failure
// and returns nullopt.
std::optional<std::string> LoadSecret(const CommandLine& line, const CliContext& context);

// FetchPages()
//
// Calls a paged list RPC: one page, or with --all every page from
// --page_token on, merged into `merged` (items in order, no next page token,
// the largest edges_missing). Returns kExitOk or reports the failure.
template <typename Request, typename Response, typename Fetch>
int FetchPages(const CommandLine& line, const CliContext& context, Request request,
               const Fetch& fetch, Response* merged) {
  const bool all = BoolFlag(line, "all");
  // A server that hands out a token twice would keep --all going forever.
  std::set<std::string> seen_tokens = {request.page_token()};
  while (true) {
    Response page;
    grpc::Status status = fetch(request, &page);
    if (!status.ok()) return RpcError(context, status);
    if constexpr (requires { page.edges_missing(); }) {
      const uint32_t missing = std::max(merged->edges_missing(), page.edges_missing());
      merged->MergeFrom(page);
      merged->set_edges_missing(missing);
    } else {
      merged->MergeFrom(page);
    }
    merged->set_next_page_token(page.next_page_token());
    if (!all || page.next_page_token().empty()) return kExitOk;
    if (!seen_tokens.insert(page.next_page_token()).second) {
      *context.err << "error: the server returned page token '" << page.next_page_token()
                   << "' twice\n";
      return kExitFailure;
    }
    request.set_page_token(page.next_page_token());
  }
}

// PageFlags()
//
// Reads --page_size and --page_token into `request`. Returns kExitOk or
// reports a usage error.
template <typename Request>
int PageFlags(const CommandLine& line, const CliContext& context, Request* request) {
  absl::StatusOr<std::optional<int64_t>> page_size =
      IntFlag(line, "page_size", 1, std::numeric_limits<int32_t>::max());
  if (!page_size.ok()) return UsageError(context, line.subcommand, page_size.status().message());
  request->set_page_size(static_cast<int32_t>(page_size->value_or(0)));
  request->set_page_token(StringFlag(line, "page_token"));
  return kExitOk;
}

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_SUBCOMMAND_SUPPORT_H_
