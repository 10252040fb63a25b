// The command line of wirehubctl: the table of flags (which subcommands take
// each), the split of argv into subcommand, positionals and flags, and the
// typed readers of flag values every subcommand uses.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_COMMAND_LINE_H_
#define WIREHUB_TOOLS_WIREHUBCTL_COMMAND_LINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/wirehubctl/cli_context.h"

namespace wirehub::ctl {

inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(5);
// Upper bounds that keep deadlines and `exp` far from time overflow.
inline constexpr double kMaxTimeoutSeconds = 24 * 60 * 60;
inline constexpr int64_t kMaxTtlSeconds = int64_t{10} * 366 * 24 * 60 * 60;

// FlagSpec is one known flag.
struct FlagSpec {
  absl::string_view name;
  // The subcommands that accept this flag, separated by spaces; empty means
  // every subcommand.
  absl::string_view owners;
  // Boolean flags take no value ("--json") or an explicit "=true"/"=false".
  bool is_bool;

  bool AppliesTo(absl::string_view subcommand) const;
};

// FindFlag()
//
// The flag called `name` (without "--"), or nullptr.
const FlagSpec* FindFlag(absl::string_view name);

// CommandLine is argv split into a subcommand, positionals and flags.
// Thread-compatible.
struct CommandLine {
  std::string subcommand;  // Empty when none was given.
  std::vector<std::string> positionals;
  std::map<std::string, std::string, std::less<>> flags;  // Last one wins.
  bool help = false;

  const std::string* Flag(absl::string_view name) const {
    auto it = flags.find(name);
    return it == flags.end() ? nullptr : &it->second;
  }
};

// SplitArgs()
//
// Splits `args` into flags and positionals. The first positional is the
// subcommand. "--" ends flag parsing, so later words are positionals even
// when they start with "--". InvalidArgument for an unknown flag, a bad
// boolean or a value flag without a value; whether a flag applies to the
// subcommand is checked by RunCli().
absl::StatusOr<CommandLine> SplitArgs(const std::vector<std::string>& args);

// ResolveControlTarget()
//
// --control (else $WIREHUB_CONTROL, else kDefaultControlTarget), --timeout
// (default kDefaultTimeout), --api_key (else $WIREHUB_API_KEY),
// --tls_ca_file and --tls_server_name (which needs --tls_ca_file).
absl::StatusOr<ControlTarget> ResolveControlTarget(const CommandLine& line,
                                                   const CliContext& context);

// IntFlag()
//
// Parses an integer flag in [min, max]; nullopt when absent.
absl::StatusOr<std::optional<int64_t>> IntFlag(const CommandLine& line, absl::string_view name,
                                               int64_t min, int64_t max);

// Uint64Flag()
//
// Parses an unsigned 64-bit integer flag (digits only); nullopt when absent.
absl::StatusOr<std::optional<uint64_t>> Uint64Flag(const CommandLine& line, absl::string_view name);

// BoolFlag()
//
// Whether the boolean flag `name` is set to true.
bool BoolFlag(const CommandLine& line, absl::string_view name);

// StringFlag()
//
// The value of a string flag, or "" when absent.
std::string StringFlag(const CommandLine& line, absl::string_view name);

// NonEmptyFlag()
//
// A string flag that must not be empty when given; nullopt when absent.
absl::StatusOr<std::optional<std::string>> NonEmptyFlag(const CommandLine& line,
                                                        absl::string_view name);

// DurationFlag()
//
// Parses a duration flag in (0, max]: a number of seconds ("1.5") or an
// abseil duration ("500ms", "2h30m"); nullopt when absent.
absl::StatusOr<std::optional<absl::Duration>> DurationFlag(const CommandLine& line,
                                                           absl::string_view name,
                                                           absl::Duration max);

// ConnectionTarget is the connections a subscribe, unsubscribe, disconnect
// or refresh acts on.
struct ConnectionTarget {
  std::string user;
  std::string client;
};

// ConnectionTargetFlags()
//
// --user and/or --client; at least one of them.
absl::StatusOr<ConnectionTarget> ConnectionTargetFlags(const CommandLine& line);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_COMMAND_LINE_H_
