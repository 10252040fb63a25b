// CliContext: what a wirehubctl invocation reads and writes besides its
// arguments, and its exit codes. Every subcommand takes one, so tests can run
// them with captured streams, a fixed clock and a fake ControlClient.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_CLI_CONTEXT_H_
#define WIREHUB_TOOLS_WIREHUBCTL_CLI_CONTEXT_H_

#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "tools/wirehubctl/control_client.h"

namespace wirehub::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

inline constexpr char kDefaultControlTarget[] = "127.0.0.1:7100";

// CliContext is everything RunCli() touches besides its arguments.
// Thread-compatible: one invocation uses it at a time.
struct CliContext {
  // Results (offsets, tables, JSON, tokens) go to `out`; usage errors and
  // failures to `err`. Help requested with --help goes to `out`.
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // Input of publish-stream, read line by line; what its streambuf's
  // in_avail() reports as ready is sent in batches (line_reader.h).
  std::istream* in = nullptr;
  // Environment lookup, used for WIREHUB_CONTROL. (The token secret is read
  // by LoadTokenSecret(), which consults the process environment itself.)
  std::function<std::optional<std::string>(std::string_view name)> get_env;
  // Clock for token `iat` / `exp`.
  std::function<absl::Time()> now;
  // Opens the control connection; called only by subcommands that need it.
  ControlClientFactory connect;
};

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_CLI_CONTEXT_H_
