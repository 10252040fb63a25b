// --log_format and --log_level, defined once for wirehub-edge and
// wirehub-control (the targets that link wirehub::log_flags).
//
// Example (main, right after absl::ParseCommandLine):
//   if (absl::Status logs = wirehub::ApplyLogFlags(); !logs.ok()) {
//     WH_LOG(ERROR) << logs.message();
//     return 2;
//   }
#ifndef WIREHUB_COMMON_LOG_FLAGS_H_
#define WIREHUB_COMMON_LOG_FLAGS_H_

#include <string>
#include <string_view>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/logging.h"

ABSL_DECLARE_FLAG(std::string, log_format);
ABSL_DECLARE_FLAG(std::string, log_level);

namespace wirehub {

// ParseLogFormat()
//
// "text" or "json"; anything else is InvalidArgument("must be text or json").
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name);

// ParseLogSeverity()
//
// "debug", "info", "warning" or "error"; anything else is InvalidArgument
// naming them.
absl::StatusOr<LogSeverity> ParseLogSeverity(std::string_view name);

// ApplyLogFlags()
//
// Validates --log_format and --log_level and, when both are valid, applies
// them (SetLogFormat, SetMinLogSeverity). An invalid value is
// InvalidArgument naming the flag, e.g.
// "--log_level=verbose: must be one of debug, info, warning, error".
absl::Status ApplyLogFlags();

}  // namespace wirehub

#endif  // WIREHUB_COMMON_LOG_FLAGS_H_
