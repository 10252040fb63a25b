#include "common/log_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, log_format, "text",
          "Shape of the log lines on stderr: text (\"I 2026-01-02T03:04:05.678Z file.cc:12] "
          "message key=value\") or json (one JSON object per line: ts, level, src, msg, then "
          "the event's fields)");
ABSL_FLAG(std::string, log_level, "info",
          "Least severe log lines written: debug, info, warning or error");

namespace wirehub {

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError("must be text or json");
}

absl::StatusOr<LogSeverity> ParseLogSeverity(std::string_view name) {
  if (name == "debug") return LogSeverity::kDebug;
  if (name == "info") return LogSeverity::kInfo;
  if (name == "warning") return LogSeverity::kWarning;
  if (name == "error") return LogSeverity::kError;
  return absl::InvalidArgumentError("must be one of debug, info, warning, error");
}

absl::Status ApplyLogFlags() {
  const std::string format_flag = absl::GetFlag(FLAGS_log_format);
  const std::string level_flag = absl::GetFlag(FLAGS_log_level);
  absl::StatusOr<LogFormat> format = ParseLogFormat(format_flag);
  if (!format.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format=", format_flag, ": ", format.status().message()));
  }
  absl::StatusOr<LogSeverity> level = ParseLogSeverity(level_flag);
  if (!level.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_level=", level_flag, ": ", level.status().message()));
  }
  SetLogFormat(*format);
  SetMinLogSeverity(*level);
  return absl::OkStatus();
}

}  // namespace wirehub
