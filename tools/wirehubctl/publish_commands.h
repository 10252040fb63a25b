// The publishing subcommands: publish, publish-stream and broadcast.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_PUBLISH_COMMANDS_H_
#define WIREHUB_TOOLS_WIREHUBCTL_PUBLISH_COMMANDS_H_

#include <string>
#include <string_view>

#include "tools/wirehubctl/cli_context.h"
#include "tools/wirehubctl/command_line.h"

namespace wirehub::ctl {

// Each returns the exit code; see subcommand_help.cc for the usage.
int RunPublish(const CommandLine& line, const CliContext& context);
int RunPublishStream(const CommandLine& line, const CliContext& context);
int RunBroadcast(const CommandLine& line, const CliContext& context);

// PublishStreamLine is one parsed line of publish-stream input.
struct PublishStreamLine {
  enum class Kind {
    kBlank,        // Empty or only whitespace: skipped, not numbered.
    kPublication,  // `channel` and `data` are set.
    kMalformed,    // Not "CHANNEL JSON": numbered and counted as failed.
  };
  Kind kind = Kind::kBlank;
  std::string channel;
  std::string data;
};

// ParsePublishStreamLine()
//
// Parses one line (without its "\n") of publish-stream input: CHANNEL, then
// one space or tab, then the JSON document, which is the rest of the line,
// unchanged except that a trailing "\r" is dropped. The JSON is not checked
// here; wirehub-control validates it. A line with no space or tab, nothing
// before the first one, or only whitespace after it is malformed.
PublishStreamLine ParsePublishStreamLine(std::string_view line);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_PUBLISH_COMMANDS_H_
