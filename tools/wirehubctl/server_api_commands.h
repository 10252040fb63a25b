// The server-API subcommands that act on connections or report on the
// cluster: subscribe, unsubscribe, disconnect, refresh, connections,
// channels, info and stats.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_SERVER_API_COMMANDS_H_
#define WIREHUB_TOOLS_WIREHUBCTL_SERVER_API_COMMANDS_H_

#include <string>
#include <string_view>

#include "tools/wirehubctl/cli_context.h"
#include "tools/wirehubctl/command_line.h"

namespace wirehub::ctl {

// Each returns the exit code; see subcommand_help.cc for the usage.
int RunSubscribe(const CommandLine& line, const CliContext& context);
int RunUnsubscribe(const CommandLine& line, const CliContext& context);
int RunDisconnect(const CommandLine& line, const CliContext& context);
int RunRefresh(const CommandLine& line, const CliContext& context);
int RunConnections(const CommandLine& line, const CliContext& context);
int RunChannels(const CommandLine& line, const CliContext& context);
int RunInfo(const CommandLine& line, const CliContext& context);
int RunStats(const CommandLine& line, const CliContext& context);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_SERVER_API_COMMANDS_H_
