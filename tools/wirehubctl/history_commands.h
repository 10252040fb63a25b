// The history subcommands: history and history-remove.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_HISTORY_COMMANDS_H_
#define WIREHUB_TOOLS_WIREHUBCTL_HISTORY_COMMANDS_H_

#include <string>
#include <string_view>

#include "tools/wirehubctl/cli_context.h"
#include "tools/wirehubctl/command_line.h"

namespace wirehub::ctl {

// Each returns the exit code; see subcommand_help.cc for the usage.
int RunHistory(const CommandLine& line, const CliContext& context);
int RunHistoryRemove(const CommandLine& line, const CliContext& context);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_HISTORY_COMMANDS_H_
