#include "tools/wirehubctl/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "common/logging.h"
#include "tools/wirehubctl/apikey_commands.h"
#include "tools/wirehubctl/fd_read_buffer.h"
#include "tools/wirehubctl/history_commands.h"
#include "tools/wirehubctl/presence_commands.h"
#include "tools/wirehubctl/publish_commands.h"
#include "tools/wirehubctl/server_api_commands.h"
#include "tools/wirehubctl/subcommand_help.h"
#include "tools/wirehubctl/subcommand_support.h"
#include "tools/wirehubctl/token_commands.h"

namespace wirehub::ctl {
namespace {

struct Runner {
  absl::string_view name;
  SubcommandFn run;
};

// Every subcommand's implementation; its help is in subcommand_help.cc.
constexpr Runner kRunners[] = {
    {"publish", &RunPublish},
    {"publish-stream", &RunPublishStream},
    {"broadcast", &RunBroadcast},
    {"history", &RunHistory},
    {"history-remove", &RunHistoryRemove},
    {"presence", &RunPresence},
    {"presence-stats", &RunPresenceStats},
    {"subscribe", &RunSubscribe},
    {"unsubscribe", &RunUnsubscribe},
    {"disconnect", &RunDisconnect},
    {"refresh", &RunRefresh},
    {"connections", &RunConnections},
    {"channels", &RunChannels},
    {"info", &RunInfo},
    {"stats", &RunStats},
    {"token", &RunToken},
    {"apikey", &RunApiKey},
    {"tail", &RunTail},
};

}  // namespace

SubcommandFn FindRunner(absl::string_view name) {
  for (const Runner& runner : kRunners) {
    if (runner.name == name) return runner.run;
  }
  return nullptr;
}

CliContext DefaultCliContext(std::ostream& out, std::ostream& err) {
  CliContext context;
  context.out = &out;
  context.err = &err;
  // One for the process, never destroyed: nothing else reads stdin.
  static std::istream* const stdin_stream = new std::istream(new FdReadBuffer(STDIN_FILENO));
  context.in = stdin_stream;
  context.get_env = [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  context.now = [] { return absl::Now(); };
  context.connect = &NewGrpcControlClient;
  return context;
}

int RunCli(const std::vector<std::string>& args, const CliContext& context) {
  absl::StatusOr<CommandLine> parsed = SplitArgs(args);
  if (!parsed.ok()) return UsageError(context, "", parsed.status().message());
  const CommandLine& line = *parsed;

  if (line.subcommand.empty()) {
    if (line.help) {
      PrintMainHelp(*context.out);
      return kExitOk;
    }
    *context.err << "wirehubctl: missing subcommand\n\n";
    PrintMainHelp(*context.err);
    return kExitUsage;
  }

  if (line.subcommand == "help") {
    if (line.positionals.empty()) {
      PrintMainHelp(*context.out);
      return kExitOk;
    }
    const SubcommandHelp* topic = FindSubcommandHelp(line.positionals[0]);
    if (line.positionals.size() > 1 || topic == nullptr) {
      return UsageError(context, "", absl::StrCat("no help for '", line.positionals.back(), "'"));
    }
    PrintSubcommandHelp(*topic, *context.out);
    return kExitOk;
  }

  const SubcommandHelp* subcommand = FindSubcommandHelp(line.subcommand);
  if (subcommand == nullptr) {
    absl::Span<const SubcommandHelp> all = AllSubcommandHelp();
    std::string expected;
    for (size_t i = 0; i < all.size(); ++i) {
      if (i > 0) expected += i + 1 == all.size() ? " or " : ", ";
      absl::StrAppend(&expected, all[i].name);
    }
    return UsageError(
        context, "",
        absl::StrCat("unknown subcommand '", line.subcommand, "' (expected ", expected, ")"));
  }
  if (line.help) {
    PrintSubcommandHelp(*subcommand, *context.out);
    return kExitOk;
  }
  for (const auto& [name, value] : line.flags) {
    const FlagSpec* spec = FindFlag(name);
    // SplitArgs only stores known flags.
    if (!spec->AppliesTo(subcommand->name)) {
      std::vector<absl::string_view> names = absl::StrSplit(spec->owners, ' ');
      std::string owners;
      for (size_t i = 0; i < names.size(); ++i) {
        if (i > 0) owners += i + 1 == names.size() ? " and " : ", ";
        absl::StrAppend(&owners, "'", names[i], "'");
      }
      return UsageError(context, subcommand->name,
                        absl::StrCat("flag --", name, " does not apply to '", subcommand->name,
                                     "' (it belongs to ", owners, ")"));
    }
  }
  SubcommandFn run = FindRunner(subcommand->name);
  // SubcommandRunnerTest checks that every subcommand with help has a runner.
  WH_CHECK(run != nullptr) << "no runner for " << subcommand->name;
  return run(line, context);
}

}  // namespace wirehub::ctl
