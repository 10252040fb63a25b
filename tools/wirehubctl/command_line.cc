#include "tools/wirehubctl/command_line.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wirehub::ctl {
namespace {

constexpr char kControlEnv[] = "WIREHUB_CONTROL";
constexpr char kApiKeyEnv[] = "WIREHUB_API_KEY";

std::optional<bool> ParseBool(absl::string_view text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return std::nullopt;
}

// Parses a positive duration: a number of seconds ("1.5") or an abseil
// duration ("500ms", "2h30m"). Nullopt for anything else, zero or less, or
// an infinite duration.
std::optional<absl::Duration> ParsePositiveDuration(absl::string_view text) {
  absl::Duration duration;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    if (!std::isfinite(seconds) || seconds > static_cast<double>(kMaxTtlSeconds)) {
      return std::nullopt;
    }
    duration = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &duration)) {
    return std::nullopt;
  }
  if (duration <= absl::ZeroDuration() || duration == absl::InfiniteDuration()) return std::nullopt;
  return duration;
}

}  // namespace

bool FlagSpec::AppliesTo(absl::string_view subcommand) const {
  if (owners.empty()) return true;
  for (absl::string_view owner : absl::StrSplit(owners, ' ')) {
    if (owner == subcommand) return true;
  }
  return false;
}

// Subcommands that act on a tenant's channels or users.
constexpr absl::string_view kTenantOwners =
    "publish publish-stream broadcast history history-remove presence presence-stats "
    "subscribe unsubscribe disconnect refresh connections channels token tail apikey";

constexpr FlagSpec kFlags[] = {
    {"control", "", false},
    {"timeout", "", false},
    {"api_key", "", false},
    {"tls_ca_file", "", false},
    {"tls_server_name", "", false},
    {"help", "", true},
    {"tenant", kTenantOwners, false},
    {"idempotency_key", "publish", false},
    {"repeat", "publish", false},
    {"max_batch", "publish-stream", false},
    {"top", "stats", false},
    {"json", "stats history presence connections channels info", true},
    {"limit", "history", false},
    {"since_offset", "history", false},
    {"since_epoch", "history", false},
    {"reverse", "history", true},
    {"page_size", "presence connections channels", false},
    {"page_token", "presence connections channels", false},
    {"all", "presence connections channels", true},
    {"user", "token subscribe unsubscribe disconnect refresh connections tail", false},
    {"client", "subscribe unsubscribe disconnect refresh", false},
    {"channel", "connections token", false},
    {"prefix", "channels", false},
    {"code", "disconnect", false},
    {"reason", "disconnect", false},
    {"reconnect", "disconnect", true},
    {"expire_at", "refresh", false},
    {"expired", "refresh", true},
    {"ttl", "token refresh", false},
    {"token_hmac_secret_file", "token tail", false},
    {"info", "token", false},
    {"channels", "token", false},
    {"audience", "token", false},
    {"issuer", "token", false},
    {"private_key_file", "token", false},
    {"algorithm", "token", false},
    {"kid", "token", false},
    {"name", "apikey", false},
    {"scope", "apikey", false},
    {"url", "tail", false},
    {"token", "tail", false},
    {"sub_token", "tail", false},
    {"count", "tail", false},
    {"offsets", "tail", true},
    {"recover", "tail", true},
    {"epoch", "tail", false},
    {"offset", "tail", false},
};

const FlagSpec* FindFlag(absl::string_view name) {
  for (const FlagSpec& flag : kFlags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

// Splits `args` into flags and positionals. The first positional is the
// subcommand. "--" ends flag parsing, so later words are positionals even
// when they start with "--".
absl::StatusOr<CommandLine> SplitArgs(const std::vector<std::string>& args) {
  CommandLine line;
  bool flags_done = false;
  std::vector<std::string> words;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg.compare(0, 2, "--") != 0) {
      if (!flags_done && arg == "-h") {
        line.help = true;
      } else {
        words.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    absl::string_view body = absl::string_view(arg).substr(2);
    std::optional<std::string> value;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      value = std::string(body.substr(eq + 1));
      body = body.substr(0, eq);
    }
    const FlagSpec* spec = FindFlag(body);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", body));
    }
    if (spec->is_bool) {
      std::optional<bool> parsed = value.has_value() ? ParseBool(*value) : true;
      if (!parsed.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", body, " takes true or false, not '", *value, "'"));
      }
      if (spec->name == "help") {
        line.help = *parsed;
      } else {
        line.flags[std::string(spec->name)] = *parsed ? "true" : "false";
      }
      continue;
    }
    if (!value.has_value()) {
      // "--flag VALUE" form; a following flag is never taken as the value.
      if (i + 1 >= args.size() || args[i + 1].compare(0, 2, "--") == 0) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", body, " needs a value"));
      }
      value = args[++i];
    }
    line.flags[std::string(spec->name)] = std::move(*value);
  }
  if (!words.empty()) {
    line.subcommand = std::move(words.front());
    line.positionals.assign(std::make_move_iterator(words.begin() + 1),
                            std::make_move_iterator(words.end()));
  }
  return line;
}

absl::StatusOr<ControlTarget> ResolveControlTarget(const CommandLine& line,
                                                   const CliContext& context) {
  ControlTarget options;
  options.address = kDefaultControlTarget;
  options.timeout = kDefaultTimeout;
  if (const std::string* control = line.Flag("control")) {
    if (control->empty()) return absl::InvalidArgumentError("--control must not be empty");
    options.address = *control;
  } else if (context.get_env) {
    std::optional<std::string> env = context.get_env(kControlEnv);
    if (env.has_value() && !env->empty()) options.address = *std::move(env);
  }
  // The flag wins over the environment.
  if (const std::string* key = line.Flag("api_key")) {
    if (key->empty()) return absl::InvalidArgumentError("--api_key must not be empty");
    options.api_key = *key;
  } else if (context.get_env) {
    std::optional<std::string> env = context.get_env(kApiKeyEnv);
    if (env.has_value()) options.api_key = *std::move(env);
  }
  if (options.api_key.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError("the API key must be one line");
  }
  options.tls_ca_file = StringFlag(line, "tls_ca_file");
  options.tls_server_name = StringFlag(line, "tls_server_name");
  if (!options.tls_server_name.empty() && options.tls_ca_file.empty()) {
    return absl::InvalidArgumentError("--tls_server_name needs --tls_ca_file");
  }
  if (const std::string* timeout = line.Flag("timeout")) {
    double seconds = 0;
    if (!absl::SimpleAtod(*timeout, &seconds) || !std::isfinite(seconds) || seconds <= 0 ||
        seconds > kMaxTimeoutSeconds) {
      return absl::InvalidArgumentError(
          absl::StrCat("--timeout must be a number of seconds in (0, ", kMaxTimeoutSeconds,
                       "], not '", *timeout, "'"));
    }
    options.timeout = absl::Seconds(seconds);
  }
  return options;
}

// Parses an integer flag in [min, max]; nullopt when absent.
absl::StatusOr<std::optional<int64_t>> IntFlag(const CommandLine& line, absl::string_view name,
                                               int64_t min, int64_t max) {
  const std::string* text = line.Flag(name);
  if (text == nullptr) return std::optional<int64_t>();
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be an integer in [", min,
                                                   ", ", max, "], not '", *text, "'"));
  }
  return std::optional<int64_t>(value);
}

// Parses an unsigned 64-bit integer flag; nullopt when absent.
absl::StatusOr<std::optional<uint64_t>> Uint64Flag(const CommandLine& line,
                                                   absl::string_view name) {
  const std::string* text = line.Flag(name);
  if (text == nullptr) return std::optional<uint64_t>();
  uint64_t value = 0;
  // SimpleAtoi would take "-0" and leading whitespace; offsets are digits.
  if (text->empty() ||
      !std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(*text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an unsigned 64-bit integer, not '", *text, "'"));
  }
  return std::optional<uint64_t>(value);
}

bool BoolFlag(const CommandLine& line, absl::string_view name) {
  const std::string* value = line.Flag(name);
  return value != nullptr && *value == "true";
}

// The value of a string flag, or "" when absent.
std::string StringFlag(const CommandLine& line, absl::string_view name) {
  const std::string* value = line.Flag(name);
  return value == nullptr ? std::string() : *value;
}

// A string flag that must not be empty when given; nullopt when absent.
absl::StatusOr<std::optional<std::string>> NonEmptyFlag(const CommandLine& line,
                                                        absl::string_view name) {
  const std::string* value = line.Flag(name);
  if (value == nullptr) return std::optional<std::string>();
  if (value->empty()) return absl::InvalidArgumentError(absl::StrCat("--", name, " is empty"));
  return std::optional<std::string>(*value);
}

// Parses a duration flag in (0, max]; nullopt when absent.
absl::StatusOr<std::optional<absl::Duration>> DurationFlag(const CommandLine& line,
                                                           absl::string_view name,
                                                           absl::Duration max) {
  const std::string* text = line.Flag(name);
  if (text == nullptr) return std::optional<absl::Duration>();
  std::optional<absl::Duration> duration = ParsePositiveDuration(*text);
  if (!duration.has_value() || *duration > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name,
                                                   " must be a positive number of seconds or a "
                                                   "duration such as 500ms, 90s or 2h (at most ",
                                                   absl::FormatDuration(max), "), not '", *text,
                                                   "'"));
  }
  return duration;
}

absl::StatusOr<ConnectionTarget> ConnectionTargetFlags(const CommandLine& line) {
  ConnectionTarget target;
  for (absl::string_view name : {"user", "client"}) {
    absl::StatusOr<std::optional<std::string>> value = NonEmptyFlag(line, name);
    if (!value.ok()) return value.status();
    if (value->has_value()) (name == "user" ? target.user : target.client) = **value;
  }
  if (target.user.empty() && target.client.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(line.subcommand, " needs --user=U or --client=C"));
  }
  return target;
}

}  // namespace wirehub::ctl
