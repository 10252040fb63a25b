// The apikey subcommand: mints a key for wirehub-control's API and prints it
// with the entry that admits it in the configuration's `api_keys`.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_APIKEY_COMMANDS_H_
#define WIREHUB_TOOLS_WIREHUBCTL_APIKEY_COMMANDS_H_

#include <string>
#include <string_view>

#include "tools/wirehubctl/cli_context.h"
#include "tools/wirehubctl/command_line.h"

namespace wirehub::ctl {

// RunApiKey()
//
// Returns the exit code; see subcommand_help.cc for the usage.
int RunApiKey(const CommandLine& line, const CliContext& context);

// Sha256Hex()
//
// The lower-case hex SHA-256 of `key`, as `api_keys[].sha256` wants it.
std::string Sha256Hex(std::string_view key);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_APIKEY_COMMANDS_H_
