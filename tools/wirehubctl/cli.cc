#include "tools/wirehubctl/cli.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <istream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json_writer.h"
#include "common/jwt.h"
#include "common/token_secret.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/sync_stream.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

constexpr absl::string_view kProgram = "wirehubctl";
constexpr char kControlEnv[] = "WIREHUB_CONTROL";
constexpr absl::Duration kDefaultTimeout = absl::Seconds(5);
// Upper bounds that keep deadlines and `exp` far from time overflow.
constexpr double kMaxTimeoutSeconds = 24 * 60 * 60;
constexpr int64_t kDefaultTtlSeconds = 3600;
constexpr int64_t kMaxTtlSeconds = int64_t{10} * 366 * 24 * 60 * 60;
constexpr int64_t kDefaultHistoryLimit = 100;

// ---------------------------------------------------------------------------
// Flags and subcommands.

struct FlagSpec {
  absl::string_view name;
  // The subcommands that accept this flag (unused slots empty); none means
  // every subcommand.
  std::array<absl::string_view, 2> owners;
  // Boolean flags take no value ("--json") or an explicit "=true"/"=false".
  bool is_bool;

  bool AppliesTo(absl::string_view subcommand) const {
    if (owners[0].empty()) return true;
    return std::find(owners.begin(), owners.end(), subcommand) != owners.end();
  }
};

constexpr FlagSpec kFlags[] = {
    {"control", {}, false},
    {"timeout", {}, false},
    {"help", {}, true},
    {"idempotency_key", {"publish"}, false},
    {"repeat", {"publish"}, false},
    {"top", {"stats"}, false},
    {"json", {"stats", "history"}, true},
    {"limit", {"history"}, false},
    {"since_offset", {"history"}, false},
    {"since_epoch", {"history"}, false},
    {"reverse", {"history"}, true},
    {"user", {"token"}, false},
    {"ttl", {"token"}, false},
    {"token_hmac_secret_file", {"token"}, false},
};

const FlagSpec* FindFlag(absl::string_view name) {
  for (const FlagSpec& flag : kFlags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

// The result of splitting argv into a subcommand, positionals and flags.
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

struct Subcommand {
  absl::string_view name;
  absl::string_view summary;
  absl::string_view help;
  bool uses_control;
  int (*run)(const CommandLine&, const CliContext&);
};

int RunPublish(const CommandLine& line, const CliContext& context);
int RunPublishStream(const CommandLine& line, const CliContext& context);
int RunBroadcast(const CommandLine& line, const CliContext& context);
int RunHistory(const CommandLine& line, const CliContext& context);
int RunHistoryRemove(const CommandLine& line, const CliContext& context);
int RunStats(const CommandLine& line, const CliContext& context);
int RunToken(const CommandLine& line, const CliContext& context);

constexpr absl::string_view kGlobalFlagsHelp =
    "Global flags:\n"
    "  --control=HOST:PORT  ControlService address (default: $WIREHUB_CONTROL,\n"
    "                       else 127.0.0.1:7100)\n"
    "  --timeout=SECONDS    Deadline for each RPC (default 5)\n"
    "  --help               Show this help\n";

constexpr Subcommand kSubcommands[] = {
    {"publish", "Publish a JSON document to one channel",
     "Usage: wirehubctl [--control=HOST:PORT] publish CHANNEL JSON [--idempotency_key=K]\n"
     "                  [--repeat=N]\n"
     "\n"
     "Publishes JSON to every subscriber of CHANNEL and prints the position it got:\n"
     "  offset=N epoch=E\n"
     "The JSON is sent as-is; wirehub-control validates it.\n"
     "\n"
     "Flags:\n"
     "  --idempotency_key=K  Makes retries of the same publish safe\n"
     "  --repeat=N           Publish N times, one unary call after another, and report\n"
     "                       the rate on stderr (a quick throughput probe)\n",
     true, &RunPublish},
    {"publish-stream", "Publish \"CHANNEL JSON\" lines from stdin over one stream",
     "Usage: wirehubctl [--control=HOST:PORT] publish-stream < LINES\n"
     "\n"
     "Publishes each line of standard input over one PublishStream. A line is\n"
     "  CHANNEL JSON\n"
     "with one space or tab after CHANNEL; the JSON is the rest of the line, sent\n"
     "as-is. Blank lines are skipped; the others are numbered from 1 and the number\n"
     "is the publication's request_id. Each answer is printed as soon as it arrives:\n"
     "  N offset=OFFSET epoch=E\n"
     "  N error=CODE_NAME message\n"
     "A line without CHANNEL and JSON is reported on stderr as\n"
     "  line N: expected CHANNEL JSON\n"
     "and not sent. At the end of the input the stream is closed once every answer\n"
     "has arrived. Exits 1 if any line failed or the stream failed.\n"
     "\n"
     "--timeout does not apply: the stream lasts as long as its input. If the\n"
     "stream fails, that is noticed at the next input line or at end of input.\n",
     true, &RunPublishStream},
    {"broadcast", "Publish one JSON document to several channels",
     "Usage: wirehubctl [--control=HOST:PORT] broadcast JSON CHANNEL...\n"
     "\n"
     "Publishes JSON to each CHANNEL and prints one line per channel:\n"
     "  CHANNEL offset=N epoch=E\n"
     "  CHANNEL error=CODE_NAME message\n"
     "Exits 1 if any channel failed.\n",
     true, &RunBroadcast},
    {"history", "Show the publications kept for a channel",
     "Usage: wirehubctl [--control=HOST:PORT] history CHANNEL [--limit=N] [--reverse] [--json]\n"
     "                  [--since_offset=N --since_epoch=E]\n"
     "\n"
     "Prints the channel's stream position, then the publications its history\n"
     "keeps (the channel's namespace must have history), one per line:\n"
     "  epoch=E offset=N\n"
     "  OFFSET DATA\n"
     "The position's offset is that of the newest publication ever made in the\n"
     "channel. Line breaks in DATA are printed as spaces (they can only be JSON\n"
     "whitespace), so each publication takes one line.\n"
     "\n"
     "Flags:\n"
     "  --limit=N         Most publications to print (default 100; -1: every kept\n"
     "                    one; 0: only the position)\n"
     "  --since_offset=N  Only publications after offset N; needs --since_epoch\n"
     "  --since_epoch=E   Epoch of --since_offset; must be the stream's current one\n"
     "  --reverse         Newest first\n"
     "  --json            Print {\"epoch\":\"E\",\"offset\":N,\"publications\":\n"
     "                    [{\"offset\":N,\"data\":DATA},...]} with each DATA embedded\n"
     "                    as JSON\n",
     true, &RunHistory},
    {"history-remove", "Drop the publications kept for a channel",
     "Usage: wirehubctl [--control=HOST:PORT] history-remove CHANNEL\n"
     "\n"
     "Drops the publications kept in CHANNEL's history and prints \"ok\". The\n"
     "channel's position (epoch and offset) stays, so later publications go on\n"
     "from it.\n",
     true, &RunHistoryRemove},
    {"stats", "Show edges, connections, subscriptions and counters",
     "Usage: wirehubctl [--control=HOST:PORT] stats [--top=N] [--json]\n"
     "\n"
     "Shows the attached edges, connection and subscription totals, counters and\n"
     "the busiest channels.\n"
     "\n"
     "Flags:\n"
     "  --top=N  How many channels to list (0: server default of 10; max 1000)\n"
     "  --json   Print the StatsResponse as JSON (proto field names, all fields)\n",
     true, &RunStats},
    {"token", "Mint an HS256 connection token (no network)",
     "Usage: wirehubctl token --user=ID [--ttl=SECONDS] [--token_hmac_secret_file=FILE]\n"
     "\n"
     "Prints an HS256 connection token (JWT) with claims sub, iat and exp.\n"
     "Needs no network.\n"
     "\n"
     "Flags:\n"
     "  --user=ID                      User id (the `sub` claim); required\n"
     "  --ttl=SECONDS                  Lifetime of the token (default 3600)\n"
     "  --token_hmac_secret_file=FILE  File holding the HMAC secret (default: the\n"
     "                                 environment variable WIREHUB_TOKEN_HMAC_SECRET)\n",
     false, &RunToken},
};

const Subcommand* FindSubcommand(absl::string_view name) {
  for (const Subcommand& subcommand : kSubcommands) {
    if (subcommand.name == name) return &subcommand;
  }
  return nullptr;
}

void PrintMainHelp(std::ostream& out) {
  out << "Usage: wirehubctl [--control=HOST:PORT] [--timeout=SECONDS] SUBCOMMAND [ARGS...]\n"
         "\n"
         "Command line for wirehub-control's ControlService.\n"
         "\n"
         "Subcommands:\n";
  constexpr absl::string_view kHelp = "help";
  size_t width = kHelp.size();
  for (const Subcommand& subcommand : kSubcommands) {
    width = std::max(width, subcommand.name.size());
  }
  auto print_row = [&out, width](absl::string_view name, absl::string_view summary) {
    out << "  " << name << std::string(width + 2 - name.size(), ' ') << summary << "\n";
  };
  for (const Subcommand& subcommand : kSubcommands) {
    print_row(subcommand.name, subcommand.summary);
  }
  print_row(kHelp, "Show help for a subcommand");
  out << "\n"
      << kGlobalFlagsHelp
      << "\n"
         "Flags may appear before or after the subcommand. Run\n"
         "'wirehubctl SUBCOMMAND --help' for the usage of one subcommand.\n";
}

void PrintSubcommandHelp(const Subcommand& subcommand, std::ostream& out) {
  out << subcommand.help;
  if (subcommand.uses_control) out << "\n" << kGlobalFlagsHelp;
}

// Reports a usage error and returns kExitUsage. `subcommand` may be empty.
int UsageError(const CliContext& context, absl::string_view subcommand, absl::string_view message) {
  *context.err << kProgram << ": " << message << "\n";
  if (subcommand.empty()) {
    *context.err << "Run 'wirehubctl --help' for usage.\n";
  } else {
    *context.err << "Run 'wirehubctl " << subcommand << " --help' for usage.\n";
  }
  return kExitUsage;
}

int RpcError(const CliContext& context, const grpc::Status& status) {
  *context.err << "error: " << GrpcCodeName(status.error_code());
  if (!status.error_message().empty()) *context.err << ": " << status.error_message();
  *context.err << "\n";
  return kExitFailure;
}

std::optional<bool> ParseBool(absl::string_view text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return std::nullopt;
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

// ---------------------------------------------------------------------------
// Flag values.

struct RpcOptions {
  std::string target;
  absl::Duration timeout;
};

absl::StatusOr<RpcOptions> ResolveRpcOptions(const CommandLine& line, const CliContext& context) {
  RpcOptions options{std::string(kDefaultControlTarget), kDefaultTimeout};
  if (const std::string* control = line.Flag("control")) {
    if (control->empty()) return absl::InvalidArgumentError("--control must not be empty");
    options.target = *control;
  } else if (context.get_env) {
    std::optional<std::string> env = context.get_env(kControlEnv);
    if (env.has_value() && !env->empty()) options.target = *std::move(env);
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

// ---------------------------------------------------------------------------
// Output helpers.

// Prints rows as left-aligned columns separated by two spaces, each line
// prefixed by `indent`. The last column is not padded.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                absl::string_view indent) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    out << indent;
    for (size_t c = 0; c < row.size(); ++c) {
      out << row[c];
      if (c + 1 < row.size()) out << std::string(widths[c] - row[c].size() + 2, ' ');
    }
    out << "\n";
  }
}

// A JSON document on one line. Valid JSON has no raw line breaks inside
// strings, so every "\n" and "\r" is insignificant whitespace and a space
// means the same.
std::string JsonOnOneLine(absl::string_view json) {
  std::string line(json);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return line;
}

// {"epoch":"E","offset":N,"publications":[{"offset":N,"data":DATA},...]}
// with each DATA embedded as it is: control accepts only valid JSON.
std::string HistoryJson(const v1::HistoryResponse& history) {
  std::string json = "{\"epoch\":";
  AppendJsonString(history.epoch(), &json);
  absl::StrAppend(&json, ",\"offset\":", history.offset(), ",\"publications\":[");
  for (int i = 0; i < history.publications_size(); ++i) {
    const v1::HistoryPublication& publication = history.publications(i);
    absl::StrAppend(&json, i == 0 ? "" : ",", "{\"offset\":", publication.offset(),
                    ",\"data\":", JsonOnOneLine(publication.data()), "}");
  }
  json.append("]}");
  return json;
}

std::string FormatUnixMillis(int64_t millis) {
  if (millis <= 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(millis), absl::UTCTimeZone());
}

void PrintStatsTable(const v1::StatsResponse& stats, std::ostream& out) {
  out << "Totals\n";
  PrintTable(out,
             {
                 {"connections", absl::StrCat(stats.total_connections())},
                 {"unique users", absl::StrCat(stats.unique_users())},
                 {"subscriptions", absl::StrCat(stats.subscriptions())},
                 {"channels with subscribers", absl::StrCat(stats.channels_with_subscribers())},
                 {"publications accepted", absl::StrCat(stats.publications_accepted())},
                 {"deliveries", absl::StrCat(stats.deliveries())},
                 {"slow edge detaches", absl::StrCat(stats.slow_edge_detaches())},
             },
             "  ");

  out << "\nEdges (" << stats.edges_size() << ")\n";
  if (stats.edges().empty()) {
    out << "  (none)\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"ID", "ADDRESS", "PUBLIC ADDRESS", "VERSION",
                                                   "CONNECTED SINCE", "CONNECTIONS",
                                                   "SUBSCRIPTIONS"}};
    for (const v1::EdgeInfo& edge : stats.edges()) {
      rows.push_back({edge.id(), edge.address(), edge.public_address(), edge.version(),
                      FormatUnixMillis(edge.connected_since_unix_ms()),
                      absl::StrCat(edge.connections()), absl::StrCat(edge.subscriptions())});
    }
    PrintTable(out, rows, "  ");
  }

  out << "\nTop channels (" << stats.top_channels_size() << ")\n";
  if (stats.top_channels().empty()) {
    out << "  (none)\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"CHANNEL", "SUBSCRIBERS"}};
    for (const v1::ChannelSubscribers& channel : stats.top_channels()) {
      rows.push_back({channel.channel(), absl::StrCat(channel.subscribers())});
    }
    PrintTable(out, rows, "  ");
  }
}

// ---------------------------------------------------------------------------
// Subcommands.

// Resolves --control/--timeout and connects. Returns nullptr after reporting
// a usage error; `exit_code` is then set.
std::unique_ptr<ControlClient> Connect(const CommandLine& line, const CliContext& context,
                                       int* exit_code) {
  absl::StatusOr<RpcOptions> options = ResolveRpcOptions(line, context);
  if (!options.ok()) {
    *exit_code = UsageError(context, line.subcommand, options.status().message());
    return nullptr;
  }
  std::unique_ptr<ControlClient> client = context.connect(options->target, options->timeout);
  if (client == nullptr) {
    *context.err << "error: cannot create a client for " << options->target << "\n";
    *exit_code = kExitFailure;
  }
  return client;
}

int RunPublish(const CommandLine& line, const CliContext& context) {
  if (line.positionals.size() != 2) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("publish takes CHANNEL and JSON, got ", line.positionals.size(),
                                   " argument(s)"));
  }
  absl::StatusOr<std::optional<int64_t>> repeat_flag = IntFlag(line, "repeat", 1, 100'000'000);
  if (!repeat_flag.ok()) {
    return UsageError(context, line.subcommand, std::string(repeat_flag.status().message()));
  }
  int64_t repeat = repeat_flag->value_or(1);
  if (repeat > 1 && line.Flag("idempotency_key") != nullptr) {
    return UsageError(context, line.subcommand,
                      "--repeat with --idempotency_key would publish only once");
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::PublishRequest request;
  request.set_channel(line.positionals[0]);
  request.set_data(line.positionals[1]);
  if (const std::string* key = line.Flag("idempotency_key")) request.set_idempotency_key(*key);
  v1::PublishResponse response;
  absl::Time start = context.now();
  for (int64_t i = 0; i < repeat; ++i) {
    grpc::Status status = client->Publish(request, &response);
    if (!status.ok()) return RpcError(context, status);
  }
  absl::Duration elapsed = context.now() - start;
  *context.out << "offset=" << response.offset() << " epoch=" << response.epoch() << "\n";
  if (repeat > 1) {
    double seconds = absl::ToDoubleSeconds(elapsed);
    *context.err << repeat << " publishes in " << absl::StrFormat("%.3f", seconds) << " s ("
                 << absl::StrFormat("%.0f", seconds > 0 ? repeat / seconds : 0.0) << "/s)\n";
  }
  return kExitOk;
}

// What publish-stream's two callbacks share. They may run on different
// threads, so everything here, and writing to the output streams, is
// guarded by `mu`.
struct PublishStreamState {
  std::mutex mu;
  uint64_t lines = 0;      // Non-blank input lines so far.
  uint64_t malformed = 0;  // Lines reported and not sent.
  uint64_t sent = 0;       // Requests handed to the stream.
  uint64_t answered = 0;   // Responses received.
  uint64_t failed = 0;     // Responses with an error.
};

// Untie `in` from its output stream for the life of this object, so reading
// it on one thread does not flush that stream while another writes to it.
class ScopedUntie {
 public:
  explicit ScopedUntie(std::istream& in) : in_(in), tie_(in.tie(nullptr)) {}
  ScopedUntie(const ScopedUntie&) = delete;
  ScopedUntie& operator=(const ScopedUntie&) = delete;
  ~ScopedUntie() { in_.tie(tie_); }

 private:
  std::istream& in_;
  std::ostream* tie_;
};

int RunPublishStream(const CommandLine& line, const CliContext& context) {
  if (!line.positionals.empty()) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("unexpected argument '", line.positionals[0],
                                   "' (publish-stream reads CHANNEL JSON lines from stdin)"));
  }
  if (context.in == nullptr) {
    *context.err << "error: no input to read\n";
    return kExitFailure;
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  PublishStreamState state;
  ScopedUntie untie(*context.in);
  auto next_request = [&context, &state]() -> std::optional<v1::PublishStreamRequest> {
    std::string text;
    while (std::getline(*context.in, text)) {
      PublishStreamLine parsed = ParsePublishStreamLine(text);
      if (parsed.kind == PublishStreamLine::Kind::kBlank) continue;
      std::lock_guard<std::mutex> lock(state.mu);
      uint64_t number = ++state.lines;
      if (parsed.kind == PublishStreamLine::Kind::kMalformed) {
        ++state.malformed;
        *context.err << "line " << number << ": expected CHANNEL JSON" << std::endl;
        continue;
      }
      v1::PublishStreamRequest request;
      request.set_channel(std::move(parsed.channel));
      request.set_data(std::move(parsed.data));
      request.set_request_id(number);
      ++state.sent;
      return request;
    }
    return std::nullopt;
  };
  auto on_response = [&context, &state](const v1::PublishStreamResponse& response) {
    std::lock_guard<std::mutex> lock(state.mu);
    ++state.answered;
    std::ostream& out = *context.out;
    out << response.request_id();
    if (response.error_code() == 0) {
      out << " offset=" << response.offset() << " epoch=" << response.epoch();
    } else {
      ++state.failed;
      out << " error=" << GrpcCodeName(response.error_code());
      if (!response.error_message().empty()) out << " " << response.error_message();
    }
    // Flushed per line: whoever reads our output sees each answer at once.
    out << std::endl;
  };
  grpc::Status status = client->PublishStream(next_request, on_response);

  // PublishStream has returned, so neither callback runs any more.
  if (!status.ok()) return RpcError(context, status);
  if (state.answered < state.sent) {
    *context.err << "error: server answered " << state.answered << " of " << state.sent
                 << " publication(s)\n";
    return kExitFailure;
  }
  return state.malformed == 0 && state.failed == 0 ? kExitOk : kExitFailure;
}

int RunBroadcast(const CommandLine& line, const CliContext& context) {
  if (line.positionals.size() < 2) {
    return UsageError(context, line.subcommand, "broadcast takes JSON and at least one CHANNEL");
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::BroadcastRequest request;
  request.set_data(line.positionals[0]);
  for (size_t i = 1; i < line.positionals.size(); ++i) {
    request.add_channels(line.positionals[i]);
  }
  v1::BroadcastResponse response;
  grpc::Status status = client->Broadcast(request, &response);
  if (!status.ok()) return RpcError(context, status);

  for (const v1::BroadcastResult& result : response.results()) {
    *context.out << result.channel();
    if (result.error_code() == 0) {
      *context.out << " offset=" << result.offset() << " epoch=" << result.epoch() << "\n";
    } else {
      *context.out << " error=" << GrpcCodeName(result.error_code());
      if (!result.error_message().empty()) *context.out << " " << result.error_message();
      *context.out << "\n";
      exit_code = kExitFailure;
    }
  }
  // The API promises one result per channel; anything else means some
  // channels have no known outcome, which must not pass as success.
  if (response.results_size() != request.channels_size()) {
    *context.err << "error: server returned " << response.results_size() << " result(s) for "
                 << request.channels_size() << " channel(s)\n";
    exit_code = kExitFailure;
  }
  return exit_code;
}

int RunHistory(const CommandLine& line, const CliContext& context) {
  if (line.positionals.size() != 1) {
    return UsageError(
        context, line.subcommand,
        absl::StrCat("history takes CHANNEL, got ", line.positionals.size(), " argument(s)"));
  }
  absl::StatusOr<std::optional<int64_t>> limit =
      IntFlag(line, "limit", -1, std::numeric_limits<int32_t>::max());
  if (!limit.ok()) return UsageError(context, line.subcommand, limit.status().message());
  absl::StatusOr<std::optional<uint64_t>> since_offset = Uint64Flag(line, "since_offset");
  if (!since_offset.ok()) {
    return UsageError(context, line.subcommand, since_offset.status().message());
  }
  const std::string* since_epoch = line.Flag("since_epoch");
  if (since_offset->has_value() != (since_epoch != nullptr)) {
    return UsageError(context, line.subcommand,
                      "--since_offset and --since_epoch must be given together");
  }
  if (since_epoch != nullptr && since_epoch->empty()) {
    return UsageError(context, line.subcommand, "--since_epoch must not be empty");
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::HistoryRequest request;
  request.set_channel(line.positionals[0]);
  request.set_limit(static_cast<int32_t>(limit->value_or(kDefaultHistoryLimit)));
  request.set_reverse(BoolFlag(line, "reverse"));
  if (since_epoch != nullptr) {
    request.mutable_since()->set_offset(**since_offset);
    request.mutable_since()->set_epoch(*since_epoch);
  }
  v1::HistoryResponse response;
  grpc::Status status = client->History(request, &response);
  if (!status.ok()) return RpcError(context, status);

  if (BoolFlag(line, "json")) {
    *context.out << HistoryJson(response) << "\n";
    return kExitOk;
  }
  *context.out << "epoch=" << response.epoch() << " offset=" << response.offset() << "\n";
  for (const v1::HistoryPublication& publication : response.publications()) {
    *context.out << publication.offset() << " " << JsonOnOneLine(publication.data()) << "\n";
  }
  return kExitOk;
}

int RunHistoryRemove(const CommandLine& line, const CliContext& context) {
  if (line.positionals.size() != 1) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("history-remove takes CHANNEL, got ", line.positionals.size(),
                                   " argument(s)"));
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::HistoryRemoveRequest request;
  request.set_channel(line.positionals[0]);
  v1::HistoryRemoveResponse response;
  grpc::Status status = client->HistoryRemove(request, &response);
  if (!status.ok()) return RpcError(context, status);
  *context.out << "ok\n";
  return kExitOk;
}

int RunStats(const CommandLine& line, const CliContext& context) {
  if (!line.positionals.empty()) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("unexpected argument '", line.positionals[0], "'"));
  }
  absl::StatusOr<std::optional<int64_t>> top =
      IntFlag(line, "top", 0, std::numeric_limits<int32_t>::max());
  if (!top.ok()) return UsageError(context, line.subcommand, top.status().message());
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::StatsRequest request;
  request.set_top_channels(static_cast<int32_t>(top->value_or(0)));
  v1::StatsResponse response;
  grpc::Status status = client->Stats(request, &response);
  if (!status.ok()) return RpcError(context, status);

  if (BoolFlag(line, "json")) {
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    std::string json;
    auto json_status = google::protobuf::util::MessageToJsonString(response, &json, options);
    if (!json_status.ok()) {
      *context.err << "error: cannot encode stats as JSON: " << json_status.ToString() << "\n";
      return kExitFailure;
    }
    *context.out << json << "\n";
  } else {
    PrintStatsTable(response, *context.out);
  }
  return kExitOk;
}

int RunToken(const CommandLine& line, const CliContext& context) {
  if (!line.positionals.empty()) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("unexpected argument '", line.positionals[0], "'"));
  }
  const std::string* user = line.Flag("user");
  if (user == nullptr || user->empty()) {
    return UsageError(context, line.subcommand, "token needs --user=ID");
  }
  absl::StatusOr<std::optional<int64_t>> ttl = IntFlag(line, "ttl", 1, kMaxTtlSeconds);
  if (!ttl.ok()) return UsageError(context, line.subcommand, ttl.status().message());

  const std::string* secret_file = line.Flag("token_hmac_secret_file");
  absl::StatusOr<std::string> secret =
      LoadTokenSecret(secret_file == nullptr ? std::string() : *secret_file);
  if (!secret.ok()) {
    *context.err << "error: " << secret.status().message() << "\n";
    return kExitFailure;
  }
  // Whole seconds: `iat` and `exp` are NumericDate seconds anyway.
  absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(context.now()));
  absl::Time expires = now + absl::Seconds(ttl->value_or(kDefaultTtlSeconds));
  *context.out << MintHs256Token(*secret, *user, now, expires) << "\n";
  return kExitOk;
}

// ---------------------------------------------------------------------------
// The gRPC client.

class GrpcControlClient final : public ControlClient {
 public:
  GrpcControlClient(const std::string& target, absl::Duration timeout)
      : stub_(v1::ControlService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))),
        timeout_(timeout) {}

  grpc::Status Publish(const v1::PublishRequest& request, v1::PublishResponse* response) override {
    grpc::ClientContext rpc;
    SetDeadline(rpc);
    return stub_->Publish(&rpc, request, response);
  }

  grpc::Status Broadcast(const v1::BroadcastRequest& request,
                         v1::BroadcastResponse* response) override {
    grpc::ClientContext rpc;
    SetDeadline(rpc);
    return stub_->Broadcast(&rpc, request, response);
  }

  grpc::Status Stats(const v1::StatsRequest& request, v1::StatsResponse* response) override {
    grpc::ClientContext rpc;
    SetDeadline(rpc);
    return stub_->Stats(&rpc, request, response);
  }

  grpc::Status History(const v1::HistoryRequest& request, v1::HistoryResponse* response) override {
    grpc::ClientContext rpc;
    SetDeadline(rpc);
    return stub_->History(&rpc, request, response);
  }

  grpc::Status HistoryRemove(const v1::HistoryRemoveRequest& request,
                             v1::HistoryRemoveResponse* response) override {
    grpc::ClientContext rpc;
    SetDeadline(rpc);
    return stub_->HistoryRemove(&rpc, request, response);
  }

  grpc::Status PublishStream(const NextStreamRequest& next_request,
                             const OnStreamResponse& on_response) override {
    grpc::ClientContext rpc;  // No deadline: the stream lasts as long as its input.
    std::unique_ptr<grpc::ClientReaderWriter<v1::PublishStreamRequest, v1::PublishStreamResponse>>
        stream = stub_->PublishStream(&rpc);
    // Set once the writer will neither wait for input nor block in Write().
    std::atomic<bool> writer_done{false};
    // A separate writer, so responses are read (and printed) while the input
    // is still being read and while flow control holds back a Write().
    std::thread writer([&] {
      while (std::optional<v1::PublishStreamRequest> request = next_request()) {
        if (!stream->Write(*request)) break;  // The stream has ended; Finish() says why.
      }
      writer_done = true;
      stream->WritesDone();
    });
    v1::PublishStreamResponse response;
    while (stream->Read(&response)) on_response(response);
    // The server ended the stream before the input did: a Write() blocked by
    // flow control must not wait for a reader that is gone.
    if (!writer_done) rpc.TryCancel();
    writer.join();
    return stream->Finish();
  }

 private:
  void SetDeadline(grpc::ClientContext& rpc) const {
    rpc.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  }

  std::unique_ptr<v1::ControlService::Stub> stub_;
  absl::Duration timeout_;
};

}  // namespace

std::unique_ptr<ControlClient> NewGrpcControlClient(const std::string& target,
                                                    absl::Duration timeout) {
  return std::make_unique<GrpcControlClient>(target, timeout);
}

CliContext DefaultCliContext(std::ostream& out, std::ostream& err) {
  CliContext context;
  context.out = &out;
  context.err = &err;
  context.in = &std::cin;
  context.get_env = [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  context.now = [] { return absl::Now(); };
  context.connect = &NewGrpcControlClient;
  return context;
}

PublishStreamLine ParsePublishStreamLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
  };
  PublishStreamLine parsed;
  if (std::all_of(line.begin(), line.end(), is_space)) return parsed;  // kBlank.
  parsed.kind = PublishStreamLine::Kind::kMalformed;
  size_t separator = line.find_first_of(" \t");
  if (separator == std::string_view::npos || separator == 0) return parsed;
  std::string_view data = line.substr(separator + 1);
  if (std::all_of(data.begin(), data.end(), is_space)) return parsed;
  parsed.kind = PublishStreamLine::Kind::kPublication;
  parsed.channel = std::string(line.substr(0, separator));
  parsed.data = std::string(data);
  return parsed;
}

std::string GrpcCodeName(int code) {
  static constexpr absl::string_view kNames[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  if (code >= 0 && static_cast<size_t>(code) < std::size(kNames)) {
    return std::string(kNames[code]);
  }
  return absl::StrCat("CODE_", code);
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
    *context.err << kProgram << ": missing subcommand\n\n";
    PrintMainHelp(*context.err);
    return kExitUsage;
  }

  if (line.subcommand == "help") {
    if (line.positionals.empty()) {
      PrintMainHelp(*context.out);
      return kExitOk;
    }
    const Subcommand* topic = FindSubcommand(line.positionals[0]);
    if (line.positionals.size() > 1 || topic == nullptr) {
      return UsageError(context, "", absl::StrCat("no help for '", line.positionals.back(), "'"));
    }
    PrintSubcommandHelp(*topic, *context.out);
    return kExitOk;
  }

  const Subcommand* subcommand = FindSubcommand(line.subcommand);
  if (subcommand == nullptr) {
    std::string expected;
    for (size_t i = 0; i < std::size(kSubcommands); ++i) {
      if (i > 0) expected += i + 1 == std::size(kSubcommands) ? " or " : ", ";
      absl::StrAppend(&expected, kSubcommands[i].name);
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
      std::string owners = absl::StrCat("'", spec->owners[0], "'");
      if (!spec->owners[1].empty()) absl::StrAppend(&owners, " and '", spec->owners[1], "'");
      return UsageError(context, subcommand->name,
                        absl::StrCat("flag --", name, " does not apply to '", subcommand->name,
                                     "' (it belongs to ", owners, ")"));
    }
  }
  return subcommand->run(line, context);
}

}  // namespace wirehub::ctl
