// The subcommands that mint tokens: token, and tail, which mints one (or
// takes --token) to follow a channel over WebSocket.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_TOKEN_COMMANDS_H_
#define WIREHUB_TOOLS_WIREHUBCTL_TOKEN_COMMANDS_H_

#include <string>
#include <string_view>

#include "tools/wirehubctl/cli_context.h"
#include "tools/wirehubctl/command_line.h"

namespace wirehub::ctl {

// Each returns the exit code; see subcommand_help.cc for the usage.
int RunToken(const CommandLine& line, const CliContext& context);
int RunTail(const CommandLine& line, const CliContext& context);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_TOKEN_COMMANDS_H_
