// wirehubctl: the operator's command line for wirehub-control.
//
// Subcommands (those that name channels or users take --tenant=T):
//   publish CHANNEL JSON [--idempotency_key=K]   ControlService.Publish
//   publish-stream [--max_batch=N] < "CHANNEL JSON" lines
//                                                ControlService.PublishStream
//   broadcast CHANNEL... JSON                    ControlService.Broadcast
//   history CHANNEL [--limit=N] [--since_offset=N --since_epoch=E] [--reverse] [--json]
//                                                ControlService.History
//   history-remove CHANNEL                       ControlService.HistoryRemove
//   presence CHANNEL [--page_size=N] [--page_token=T] [--all] [--json]
//                                                ControlService.Presence
//   presence-stats CHANNEL                       ControlService.PresenceStats
//   subscribe|unsubscribe --user=U|--client=C CHANNEL
//                                                ControlService.Subscribe / Unsubscribe
//   disconnect --user=U|--client=C [--code=N] [--reason=S] [--reconnect]
//                                                ControlService.Disconnect
//   refresh --user=U|--client=C (--expire_at=UNIX_SECONDS | --ttl=DURATION | --expired)
//                                                ControlService.Refresh
//   connections [--user=U] [--channel=C] [paging] [--json]
//                                                ControlService.Connections
//   channels [--prefix=P] [paging] [--json]      ControlService.Channels
//   info [--json]                                ControlService.Info
//   stats [--top=N] [--json]                     ControlService.Stats
//   token --user=ID [--ttl=SECONDS] [--channel=C] ...
//                                                mint an HS256 connection or
//                                                subscription token
//   apikey [--name=N] [--tenant=T] [--scope=publish|full]
//                                                mint an API key for control
//   tail CHANNEL [--url=ws://...] (--token=JWT | --user=ID) [--count=N] ...
//                                                follow a channel over WebSocket
//
// Global flags (--control, --timeout, --api_key, --tls_ca_file,
// --tls_server_name, --help) and subcommand flags may appear
// before or after the subcommand. Exit codes: 0 success, 1 failure (RPC
// error, a failed broadcast channel, missing secret, a tail that ended
// early), 2 usage error.
//
// RunCli() parses the command line (command_line.h), prints help
// (subcommand_help.h) and hands the rest to the subcommand's Run function:
// publish_commands.h, history_commands.h, presence_commands.h,
// server_api_commands.h and token_commands.h. They talk to control through
// ControlClient (control_client.h; the real one is grpc_control_client.h) and
// print with output.h. The logic lives here rather than in main.cc so tests
// can run it with a fake ControlClient and captured streams.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_CLI_H_
#define WIREHUB_TOOLS_WIREHUBCTL_CLI_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tools/wirehubctl/cli_context.h"
#include "tools/wirehubctl/control_client.h"
#include "tools/wirehubctl/grpc_control_client.h"
#include "tools/wirehubctl/output.h"
#include "tools/wirehubctl/publish_commands.h"
#include "tools/wirehubctl/subcommand_support.h"

namespace wirehub::ctl {

// DefaultCliContext()
//
// Standard input (read through an FdReadBuffer, not std::cin, so
// publish-stream can tell which lines are already waiting), the process
// environment, absl::Now() and NewGrpcControlClient().
CliContext DefaultCliContext(std::ostream& out, std::ostream& err);

// RunCli()
//
// Runs one wirehubctl invocation. `args` excludes the program name. Returns
// the process exit code (kExitOk, kExitFailure or kExitUsage).
int RunCli(const std::vector<std::string>& args, const CliContext& context);

// FindRunner()
//
// The implementation of subcommand `name`, or nullptr.
SubcommandFn FindRunner(absl::string_view name);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_CLI_H_
