// wirehubctl's help: the one-line summary and full usage text of every
// subcommand, and the main help that lists them.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_SUBCOMMAND_HELP_H_
#define WIREHUB_TOOLS_WIREHUBCTL_SUBCOMMAND_HELP_H_

#include <ostream>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace wirehub::ctl {

// SubcommandHelp is the help of one subcommand.
struct SubcommandHelp {
  absl::string_view name;
  absl::string_view summary;
  absl::string_view help;
  // Whether it calls ControlService (its help then lists the global flags).
  bool uses_control;
};

// AllSubcommandHelp()
//
// Every subcommand, in the order the main help lists them.
absl::Span<const SubcommandHelp> AllSubcommandHelp();

// FindSubcommandHelp()
//
// The help of subcommand `name`, or nullptr when there is no such
// subcommand.
const SubcommandHelp* FindSubcommandHelp(absl::string_view name);

// PrintMainHelp()
//
// The usage of wirehubctl and the list of subcommands.
void PrintMainHelp(std::ostream& out);

// PrintSubcommandHelp()
//
// The usage of one subcommand.
void PrintSubcommandHelp(const SubcommandHelp& subcommand, std::ostream& out);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_SUBCOMMAND_HELP_H_
