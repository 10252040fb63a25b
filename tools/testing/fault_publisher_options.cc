#include "tools/testing/fault_publisher_options.h"

#include <cmath>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace wirehub::faults {

const char kFaultPublisherUsage[] =
    "usage: wirehub-fault-publisher --controls=HOST:PORT[,HOST:PORT...] "
    "--channels=CH[,CH...] --rate=N --duration=SECONDS [--deadline=SECONDS] "
    "[--key_prefix=STR] [--max_in_flight=N] [--batch=N] [--answer_timeout=SECONDS]";

namespace {

// Bounds that keep the run and its timers far from overflow and from sizes
// no test needs.
constexpr double kMaxRate = 1e6;
constexpr double kMaxSeconds = 24 * 60 * 60;
constexpr int kMaxBatch = 1024;  // PublishStreamRequest.items allows this many.
constexpr int kMaxInFlight = 1 << 20;

absl::StatusOr<std::vector<std::string>> List(absl::string_view flag, absl::string_view value) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    if (part.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": empty entry"));
    out.emplace_back(part);
  }
  return out;
}

absl::StatusOr<absl::Duration> Seconds(absl::string_view flag, absl::string_view value) {
  double seconds = 0;
  absl::Duration duration;
  if (absl::SimpleAtod(value, &seconds) && std::isfinite(seconds)) {
    duration = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(value, &duration)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": not a duration in seconds: '", value, "'"));
  }
  if (duration <= absl::ZeroDuration() || duration > absl::Seconds(kMaxSeconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": must be above 0 and at most ", kMaxSeconds, " s"));
  }
  return duration;
}

absl::StatusOr<int> Count(absl::string_view flag, absl::string_view value, int max) {
  int n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 1 || n > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": must be a whole number from 1 to ", max, ", got '", value, "'"));
  }
  return n;
}

}  // namespace

int64_t FaultPublisherOptions::Total() const {
  return static_cast<int64_t>(std::llround(rate * absl::ToDoubleSeconds(duration)));
}

absl::StatusOr<FaultPublisherOptions> ParseFaultPublisherArgs(
    const std::vector<std::string>& args) {
  std::map<std::string, std::string, std::less<>> flags;
  for (const std::string& arg : args) {
    absl::string_view rest = arg;
    if (!absl::ConsumePrefix(&rest, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(rest, absl::MaxSplits('=', 1));
    if (rest.find('=') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", kv.first, " needs a value (--name=value)"));
    }
    flags[std::string(kv.first)] = std::string(kv.second);
  }

  FaultPublisherOptions options;
  options.key_prefix = "fault";
  for (const auto& [name, value] : flags) {
    absl::Status status;
    if (name == "controls") {
      absl::StatusOr<std::vector<std::string>> list = List(name, value);
      if (!list.ok()) return list.status();
      options.controls = *std::move(list);
    } else if (name == "channels") {
      absl::StatusOr<std::vector<std::string>> list = List(name, value);
      if (!list.ok()) return list.status();
      options.channels = *std::move(list);
    } else if (name == "rate") {
      if (!absl::SimpleAtod(value, &options.rate) || !std::isfinite(options.rate) ||
          options.rate <= 0 || options.rate > kMaxRate) {
        return absl::InvalidArgumentError(
            absl::StrCat("--rate: must be above 0 and at most ", kMaxRate, ", got '", value, "'"));
      }
    } else if (name == "duration" || name == "deadline" || name == "answer_timeout") {
      absl::StatusOr<absl::Duration> d = Seconds(name, value);
      if (!d.ok()) return d.status();
      (name == "duration"   ? options.duration
       : name == "deadline" ? options.deadline
                            : options.answer_timeout) = *d;
    } else if (name == "key_prefix") {
      if (value.empty()) return absl::InvalidArgumentError("--key_prefix: must not be empty");
      options.key_prefix = value;
    } else if (name == "max_in_flight" || name == "batch") {
      absl::StatusOr<int> n = Count(name, value, name == "batch" ? kMaxBatch : kMaxInFlight);
      if (!n.ok()) return n.status();
      (name == "batch" ? options.batch : options.max_in_flight) = *n;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  for (absl::string_view required : {"controls", "channels", "rate", "duration"}) {
    if (!flags.contains(required)) {
      return absl::InvalidArgumentError(absl::StrCat("--", required, " is required"));
    }
  }
  if (options.Total() < 1) {
    return absl::InvalidArgumentError("--rate × --duration must make at least one publication");
  }
  return options;
}

}  // namespace wirehub::faults
