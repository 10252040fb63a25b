#include "tools/wirehubctl/cli.h"

#include <algorithm>
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
#include <set>
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
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/json_validator.h"
#include "common/json_writer.h"
#include "common/jwt.h"
#include "common/token_secret.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/sync_stream.h"
#include "tools/wirehubctl/tail.h"
#include "tools/wirehubctl/ws_url.h"
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
// Close codes and reason length DisconnectRequest accepts.
constexpr int64_t kMinDisconnectCode = 3000;
constexpr int64_t kMaxDisconnectCode = 4999;
constexpr size_t kMaxDisconnectReasonBytes = 100;
constexpr char kDefaultEdgeUrl[] = "ws://127.0.0.1:8000/connection/websocket";

// ---------------------------------------------------------------------------
// Flags and subcommands.

struct FlagSpec {
  absl::string_view name;
  // The subcommands that accept this flag, separated by spaces; empty means
  // every subcommand.
  absl::string_view owners;
  // Boolean flags take no value ("--json") or an explicit "=true"/"=false".
  bool is_bool;

  bool AppliesTo(absl::string_view subcommand) const {
    if (owners.empty()) return true;
    for (absl::string_view owner : absl::StrSplit(owners, ' ')) {
      if (owner == subcommand) return true;
    }
    return false;
  }
};

// Subcommands that act on a tenant's channels or users.
constexpr absl::string_view kTenantOwners =
    "publish publish-stream broadcast history history-remove presence presence-stats "
    "subscribe unsubscribe disconnect refresh connections channels token tail";

constexpr FlagSpec kFlags[] = {
    {"control", "", false},
    {"timeout", "", false},
    {"help", "", true},
    {"tenant", kTenantOwners, false},
    {"idempotency_key", "publish", false},
    {"repeat", "publish", false},
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
int RunPresence(const CommandLine& line, const CliContext& context);
int RunPresenceStats(const CommandLine& line, const CliContext& context);
int RunSubscribe(const CommandLine& line, const CliContext& context);
int RunUnsubscribe(const CommandLine& line, const CliContext& context);
int RunDisconnect(const CommandLine& line, const CliContext& context);
int RunRefresh(const CommandLine& line, const CliContext& context);
int RunConnections(const CommandLine& line, const CliContext& context);
int RunChannels(const CommandLine& line, const CliContext& context);
int RunInfo(const CommandLine& line, const CliContext& context);
int RunTail(const CommandLine& line, const CliContext& context);

constexpr absl::string_view kGlobalFlagsHelp =
    "Global flags:\n"
    "  --control=HOST:PORT  ControlService address (default: $WIREHUB_CONTROL,\n"
    "                       else 127.0.0.1:7100)\n"
    "  --timeout=SECONDS    Deadline for each RPC (default 5; tail gives it its own\n"
    "                       meaning)\n"
    "  --help               Show this help\n";

constexpr Subcommand kSubcommands[] = {
    {"publish", "Publish a JSON document to one channel",
     "Usage: wirehubctl [--control=HOST:PORT] publish CHANNEL JSON [--tenant=T]\n"
     "                  [--idempotency_key=K] [--repeat=N]\n"
     "\n"
     "Publishes JSON to every subscriber of CHANNEL and prints the position it got:\n"
     "  offset=N epoch=E\n"
     "The JSON is sent as-is; wirehub-control validates it.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T           The tenant whose channel this is (default: none)\n"
     "  --idempotency_key=K  Makes retries of the same publish safe\n"
     "  --repeat=N           Publish N times, one unary call after another, and report\n"
     "                       the rate on stderr (a quick throughput probe)\n",
     true, &RunPublish},
    {"publish-stream", "Publish \"CHANNEL JSON\" lines from stdin over one stream",
     "Usage: wirehubctl [--control=HOST:PORT] publish-stream [--tenant=T] < LINES\n"
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
     "stream fails, that is noticed at the next input line or at end of input.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T  The tenant of every line's channel (default: none)\n",
     true, &RunPublishStream},
    {"broadcast", "Publish one JSON document to several channels",
     "Usage: wirehubctl [--control=HOST:PORT] broadcast JSON CHANNEL... [--tenant=T]\n"
     "\n"
     "Publishes JSON to each CHANNEL and prints one line per channel:\n"
     "  CHANNEL offset=N epoch=E\n"
     "  CHANNEL error=CODE_NAME message\n"
     "Exits 1 if any channel failed.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T  The tenant all CHANNELs belong to (default: none)\n",
     true, &RunBroadcast},
    {"history", "Show the publications kept for a channel",
     "Usage: wirehubctl [--control=HOST:PORT] history CHANNEL [--limit=N] [--reverse] [--json]\n"
     "                  [--since_offset=N --since_epoch=E] [--tenant=T]\n"
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
     "  --tenant=T        The tenant whose channel this is (default: none)\n"
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
     "Usage: wirehubctl [--control=HOST:PORT] history-remove CHANNEL [--tenant=T]\n"
     "\n"
     "Drops the publications kept in CHANNEL's history and prints \"ok\". The\n"
     "channel's position (epoch and offset) stays, so later publications go on\n"
     "from it.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T  The tenant whose channel this is (default: none)\n",
     true, &RunHistoryRemove},
    {"presence", "List the clients subscribed to a channel",
     "Usage: wirehubctl [--control=HOST:PORT] presence CHANNEL [--tenant=T]\n"
     "                  [--page_size=N] [--page_token=TOKEN] [--all] [--json]\n"
     "\n"
     "Lists the clients subscribed to CHANNEL on every edge (the channel's\n"
     "namespace must have presence), ordered by client id, as a table:\n"
     "  CLIENT  USER  CONN_INFO  CHAN_INFO\n"
     "When there are more pages, the last line is\n"
     "  next page: --page_token=TOKEN\n"
     "\n"
     "Flags:\n"
     "  --tenant=T          The channel's tenant (default: none)\n"
     "  --page_size=N       Most clients per page (default: the server's, 1000)\n"
     "  --page_token=TOKEN  Continue where an earlier page ended\n"
     "  --all               Follow the pages to the end and print them as one\n"
     "  --json              Print the PresenceResponse as JSON (protobuf JSON mapping:\n"
     "                      conn_info and chan_info are base64)\n",
     true, &RunPresence},
    {"presence-stats", "Count the clients and users subscribed to a channel",
     "Usage: wirehubctl [--control=HOST:PORT] presence-stats CHANNEL [--tenant=T]\n"
     "\n"
     "Prints how many client connections are subscribed to CHANNEL and how many\n"
     "distinct users they belong to:\n"
     "  clients=N users=M\n"
     "\n"
     "Flags:\n"
     "  --tenant=T  The channel's tenant (default: none)\n",
     true, &RunPresenceStats},
    {"subscribe", "Subscribe a user's connections to a channel",
     "Usage: wirehubctl [--control=HOST:PORT] subscribe (--user=U | --client=C) CHANNEL\n"
     "                  [--tenant=T]\n"
     "\n"
     "Subscribes every connection of user U (or only connection C) to CHANNEL on\n"
     "every edge; the clients get a subscribe push. Prints the connections newly\n"
     "subscribed, and the edges that did not answer in time when there are any:\n"
     "  connections=N [edges_missing=M]\n"
     "\n"
     "Flags:\n"
     "  --user=U    The user whose connections to subscribe\n"
     "  --client=C  Only this connection (client id); with --user it must be U's\n"
     "  --tenant=T  The tenant of the user and the channel (default: none)\n",
     true, &RunSubscribe},
    {"unsubscribe", "Unsubscribe a user's connections from a channel",
     "Usage: wirehubctl [--control=HOST:PORT] unsubscribe (--user=U | --client=C) CHANNEL\n"
     "                  [--tenant=T]\n"
     "\n"
     "Ends the subscription of every connection of user U (or only connection C)\n"
     "to CHANNEL; the clients get an unsubscribe push with code 2000. Prints\n"
     "  connections=N [edges_missing=M]\n"
     "\n"
     "Flags:\n"
     "  --user=U    The user whose subscriptions to end\n"
     "  --client=C  Only this connection (client id); with --user it must be U's\n"
     "  --tenant=T  The tenant of the user and the channel (default: none)\n",
     true, &RunUnsubscribe},
    {"disconnect", "Close a user's connections",
     "Usage: wirehubctl [--control=HOST:PORT] disconnect (--user=U | --client=C) [--tenant=T]\n"
     "                  [--code=N] [--reason=TEXT] [--reconnect]\n"
     "\n"
     "Closes every connection of user U (or only connection C) on every edge.\n"
     "Prints\n"
     "  connections=N [edges_missing=M]\n"
     "\n"
     "Flags:\n"
     "  --user=U       The user whose connections to close\n"
     "  --client=C     Only this connection (client id)\n"
     "  --tenant=T     The user's tenant (default: none)\n"
     "  --code=N       WebSocket close code, 3000-4999 (default: 3011 with\n"
     "                 --reconnect, else 3503)\n"
     "  --reason=TEXT  Close reason shown to the client, at most 100 bytes\n"
     "  --reconnect    Tell the clients to reconnect\n",
     true, &RunDisconnect},
    {"refresh", "Move or end the expiry of a user's connections",
     "Usage: wirehubctl [--control=HOST:PORT] refresh (--user=U | --client=C) [--tenant=T]\n"
     "                  (--expire_at=UNIX_SECONDS | --ttl=DURATION | --expired)\n"
     "\n"
     "Changes when the connections of user U (or only connection C) expire.\n"
     "Prints\n"
     "  connections=N [edges_missing=M]\n"
     "\n"
     "Flags (exactly one of the last three):\n"
     "  --user=U                  The user whose connections to refresh\n"
     "  --client=C                Only this connection (client id)\n"
     "  --tenant=T                The user's tenant (default: none)\n"
     "  --expire_at=UNIX_SECONDS  New expiry, seconds since the Unix epoch (0: never)\n"
     "  --ttl=DURATION            New expiry this long from now: seconds or a\n"
     "                            duration such as 90s, 15m or 2h\n"
     "  --expired                 Expire them now: they are closed with 3005 and\n"
     "                            the clients reconnect with a fresh token\n",
     true, &RunRefresh},
    {"connections", "List live connections",
     "Usage: wirehubctl [--control=HOST:PORT] connections [--tenant=T] [--user=U]\n"
     "                  [--channel=C] [--page_size=N] [--page_token=TOKEN] [--all] [--json]\n"
     "\n"
     "Lists the live connections on every edge, ordered by client id, as a table:\n"
     "  CLIENT  USER  EDGE  CONNECTED  EXPIRES  CHANNELS  INFO\n"
     "When there are more pages, the last line is\n"
     "  next page: --page_token=TOKEN\n"
     "Edges that did not answer in time are reported on stderr.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T          The tenant to list (default: none)\n"
     "  --user=U            Only connections of this user\n"
     "  --channel=C         Only connections subscribed to this channel\n"
     "  --page_size=N       Most connections per page (default: the server's, 100)\n"
     "  --page_token=TOKEN  Continue where an earlier page ended\n"
     "  --all               Follow the pages to the end and print them as one\n"
     "  --json              Print the ConnectionsResponse as JSON (protobuf JSON\n"
     "                      mapping: conn_info is base64)\n",
     true, &RunConnections},
    {"channels", "List channels with subscribers",
     "Usage: wirehubctl [--control=HOST:PORT] channels [--tenant=T] [--prefix=P]\n"
     "                  [--page_size=N] [--page_token=TOKEN] [--all] [--json]\n"
     "\n"
     "Lists the channels that have subscribers on some edge, ordered by name, with\n"
     "their subscriber counts:\n"
     "  CHANNEL  SUBSCRIBERS\n"
     "When there are more pages, the last line is\n"
     "  next page: --page_token=TOKEN\n"
     "Edges that did not answer in time are reported on stderr.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T          The tenant to list (default: none)\n"
     "  --prefix=P          Only channels whose name starts with P\n"
     "  --page_size=N       Most channels per page (default: the server's, 1000)\n"
     "  --page_token=TOKEN  Continue where an earlier page ended\n"
     "  --all               Follow the pages to the end and print them as one\n"
     "  --json              Print the ChannelsResponse as JSON (protobuf JSON mapping)\n",
     true, &RunChannels},
    {"info", "Describe control and every attached edge",
     "Usage: wirehubctl [--control=HOST:PORT] info [--json]\n"
     "\n"
     "Prints one row per process, control first:\n"
     "  ID  KIND  VERSION  UPTIME  CONNECTIONS  SUBSCRIPTIONS  RSS  ADDRESS\n"
     "For control, CONNECTIONS counts attached edges and SUBSCRIPTIONS the\n"
     "channels it tracks. Edges that did not answer in time are reported on stderr.\n"
     "\n"
     "Flags:\n"
     "  --json  Print the InfoResponse as JSON (protobuf JSON mapping)\n",
     true, &RunInfo},
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
    {"token", "Mint an HS256 connection or subscription token (no network)",
     "Usage: wirehubctl token --user=ID [--ttl=SECONDS] [--tenant=T] [--info=JSON]\n"
     "                  [--channels=A,B,...] [--channel=C] [--audience=AUD] [--issuer=ISS]\n"
     "                  [--token_hmac_secret_file=FILE]\n"
     "\n"
     "Prints an HS256 connection token (JWT) with claims sub, iat and exp, and the\n"
     "optional ones below. With --channel it prints a subscription token for\n"
     "that channel instead. Needs no network.\n"
     "\n"
     "Flags:\n"
     "  --user=ID                      User id (the `sub` claim); required\n"
     "  --ttl=SECONDS                  Lifetime of the token (default 3600)\n"
     "  --tenant=T                     The user's tenant (`tenant` claim)\n"
     "  --info=JSON                    One JSON document, shown to other clients as\n"
     "                                 the connection's (or subscription's) info\n"
     "  --channels=A,B,...             Channels the connection is subscribed to on\n"
     "                                 connect (comma-separated, so a channel name\n"
     "                                 containing ',' cannot be given here)\n"
     "  --channel=C                    Mint a subscription token for channel C\n"
     "  --audience=AUD                 The `aud` claim\n"
     "  --issuer=ISS                   The `iss` claim\n"
     "  --token_hmac_secret_file=FILE  File holding the HMAC secret (default: the\n"
     "                                 environment variable WIREHUB_TOKEN_HMAC_SECRET)\n",
     false, &RunToken},
    {"tail", "Follow a channel over WebSocket and print its publications",
     "Usage: wirehubctl tail CHANNEL [--url=ws://HOST:PORT/PATH]\n"
     "                  (--token=JWT | --user=ID [--tenant=T] [--token_hmac_secret_file=FILE])\n"
     "                  [--sub_token=JWT] [--count=N] [--timeout=DURATION] [--offsets]\n"
     "                  [--recover --epoch=E --offset=N]\n"
     "\n"
     "Connects to wirehub-edge as a WebSocket client (Centrifugo client protocol,\n"
     "JSON), subscribes to CHANNEL and prints each publication on its own line as\n"
     "it arrives: its data, as received, except that line breaks in it (JSON\n"
     "whitespace) are printed as spaces. Server pings are answered.\n"
     "Only ws:// is supported (no TLS), and the host must be a numeric IP address\n"
     "or localhost.\n"
     "\n"
     "Ends with exit 1 and, on stderr,\n"
     "  error: connect: CODE message    or  error: subscribe: CODE message\n"
     "when the server refuses, and\n"
     "  closed: CODE reason             or  unsubscribed: CODE reason\n"
     "when it closes the connection or ends the subscription.\n"
     "\n"
     "Flags:\n"
     "  --url=URL                      Edge endpoint (default\n"
     "                                 ws://127.0.0.1:8000/connection/websocket)\n"
     "  --token=JWT                    Connection token to connect with\n"
     "  --user=ID                      Mint a one-hour connection token for ID instead\n"
     "                                 (needs the secret, as `token` does)\n"
     "  --tenant=T                     With --user: the token's tenant\n"
     "  --token_hmac_secret_file=FILE  With --user: the HMAC secret's file (default:\n"
     "                                 $WIREHUB_TOKEN_HMAC_SECRET)\n"
     "  --sub_token=JWT                Subscription token for CHANNEL\n"
     "  --count=N                      Exit 0 after N publications\n"
     "  --timeout=DURATION             Give up after this long (seconds or a duration\n"
     "                                 such as 500ms or 2m): exit 1 unless --count\n"
     "                                 publications, or without --count at least one,\n"
     "                                 arrived. Default: no limit\n"
     "  --offsets                      Start each line with the publication's offset\n"
     "                                 and a space (\"-\" when it has none)\n"
     "  --recover                      Recover from --epoch and --offset: publications\n"
     "                                 after that position come first\n"
     "  --epoch=E, --offset=N          The position to recover from\n",
     false, &RunTail},
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
         "Command line for wirehub-control's ControlService, and a WebSocket\n"
         "subscriber for wirehub-edge (tail).\n"
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

// The connections a subscribe, unsubscribe, disconnect or refresh acts on.
struct ConnectionTarget {
  std::string user;
  std::string client;
};

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

// Prints `message` in the protobuf JSON mapping (proto field names, every
// field). Returns kExitOk, or kExitFailure when it cannot be encoded.
int PrintJson(const google::protobuf::Message& message, absl::string_view what,
              const CliContext& context) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto json_status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!json_status.ok()) {
    *context.err << "error: cannot encode " << what << " as JSON: " << json_status.ToString()
                 << "\n";
    return kExitFailure;
  }
  *context.out << json << "\n";
  return kExitOk;
}

// Raw JSON for a table cell: on one line, "-" when empty.
std::string JsonCell(absl::string_view json) {
  return json.empty() ? std::string("-") : JsonOnOneLine(json);
}

std::string OrDash(absl::string_view text) {
  return text.empty() ? std::string("-") : std::string(text);
}

// 1536 -> "1.5 KiB".
std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr absl::string_view kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

// Prints `rows` under `header`, or "(none)" when there are no rows.
void PrintListTable(std::ostream& out, std::vector<std::string> header,
                    std::vector<std::vector<std::string>> rows) {
  if (rows.empty()) {
    out << "(none)\n";
    return;
  }
  rows.insert(rows.begin(), std::move(header));
  PrintTable(out, rows, "");
}

// What every list subcommand prints after its table.
void PrintListFooter(const CommandLine& line, const CliContext& context,
                     absl::string_view next_page_token, uint32_t edges_missing) {
  if (!next_page_token.empty() && !BoolFlag(line, "all")) {
    *context.out << "next page: --page_token=" << next_page_token << "\n";
  }
  if (edges_missing > 0) {
    *context.err << "warning: " << edges_missing
                 << " edge(s) did not answer in time; the list may be incomplete\n";
  }
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
  request.set_tenant(StringFlag(line, "tenant"));
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
  const std::string tenant = StringFlag(line, "tenant");
  auto next_request = [&context, &state, &tenant]() -> std::optional<v1::PublishStreamRequest> {
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
      request.set_tenant(tenant);
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
  request.set_tenant(StringFlag(line, "tenant"));
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
  request.set_tenant(StringFlag(line, "tenant"));
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
  request.set_tenant(StringFlag(line, "tenant"));
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

  if (BoolFlag(line, "json")) return PrintJson(response, "stats", context);
  PrintStatsTable(response, *context.out);
  return kExitOk;
}

// Loads the token secret as `token` and `tail --user` do. Reports a failure
// and returns nullopt.
std::optional<std::string> LoadSecret(const CommandLine& line, const CliContext& context) {
  absl::StatusOr<std::string> secret = LoadTokenSecret(StringFlag(line, "token_hmac_secret_file"));
  if (!secret.ok()) {
    *context.err << "error: " << secret.status().message() << "\n";
    return std::nullopt;
  }
  return *std::move(secret);
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

  TokenSpec spec;
  spec.subject = *user;
  if (const std::string* tenant = line.Flag("tenant")) {
    if (absl::Status valid = ValidateTenant(*tenant); !valid.ok()) {
      return UsageError(context, line.subcommand, absl::StrCat("--tenant: ", valid.message()));
    }
    spec.tenant = *tenant;
  }
  if (const std::string* info = line.Flag("info")) {
    JsonValidator validator;
    if (absl::Status valid = validator.Validate(*info); !valid.ok()) {
      return UsageError(context, line.subcommand,
                        absl::StrCat("--info must be one JSON document: ", valid.message()));
    }
    spec.info_json = *info;
  }
  if (const std::string* channels = line.Flag("channels")) {
    std::vector<absl::string_view> names = absl::StrSplit(*channels, ',');
    if (names.size() > kMaxTokenChannels) {
      return UsageError(context, line.subcommand,
                        absl::StrCat("--channels names ", names.size(), " channels; at most ",
                                     kMaxTokenChannels, " fit in a token"));
    }
    for (absl::string_view channel : names) {
      if (absl::Status valid = ValidateChannelName(AsStd(channel)); !valid.ok()) {
        return UsageError(context, line.subcommand,
                          absl::StrCat("--channels: '", channel, "': ", valid.message()));
      }
      spec.channels.emplace_back(channel);
    }
  }
  if (const std::string* channel = line.Flag("channel")) {
    if (absl::Status valid = ValidateChannelName(*channel); !valid.ok()) {
      return UsageError(context, line.subcommand, absl::StrCat("--channel: ", valid.message()));
    }
    if (line.Flag("channels") != nullptr) {
      return UsageError(context, line.subcommand,
                        "--channels is for connection tokens; --channel mints a subscription "
                        "token");
    }
    spec.channel = *channel;
  }
  for (absl::string_view name : {"audience", "issuer"}) {
    absl::StatusOr<std::optional<std::string>> value = NonEmptyFlag(line, name);
    if (!value.ok()) return UsageError(context, line.subcommand, value.status().message());
    if (value->has_value()) (name == "audience" ? spec.audience : spec.issuer) = **value;
  }

  std::optional<std::string> secret = LoadSecret(line, context);
  if (!secret.has_value()) return kExitFailure;
  // Whole seconds: `iat` and `exp` are NumericDate seconds anyway.
  spec.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(context.now()));
  spec.expires_at = spec.issued_at + absl::Seconds(ttl->value_or(kDefaultTtlSeconds));
  *context.out << MintToken(*secret, spec) << "\n";
  return kExitOk;
}

// Calls a paged list RPC: one page, or with --all every page from
// --page_token on, merged into `merged` (items in order, no next page token,
// the largest edges_missing). Returns kExitOk or reports the failure.
template <typename Request, typename Response, typename Fetch>
int FetchPages(const CommandLine& line, const CliContext& context, Request request,
               const Fetch& fetch, Response* merged) {
  const bool all = BoolFlag(line, "all");
  // A server that hands out a token twice would keep --all going forever.
  std::set<std::string> seen_tokens = {request.page_token()};
  while (true) {
    Response page;
    grpc::Status status = fetch(request, &page);
    if (!status.ok()) return RpcError(context, status);
    if constexpr (requires { page.edges_missing(); }) {
      const uint32_t missing = std::max(merged->edges_missing(), page.edges_missing());
      merged->MergeFrom(page);
      merged->set_edges_missing(missing);
    } else {
      merged->MergeFrom(page);
    }
    merged->set_next_page_token(page.next_page_token());
    if (!all || page.next_page_token().empty()) return kExitOk;
    if (!seen_tokens.insert(page.next_page_token()).second) {
      *context.err << "error: the server returned page token '" << page.next_page_token()
                   << "' twice\n";
      return kExitFailure;
    }
    request.set_page_token(page.next_page_token());
  }
}

// Reads --page_size and --page_token into `request`. Returns kExitOk or
// reports a usage error.
template <typename Request>
int PageFlags(const CommandLine& line, const CliContext& context, Request* request) {
  absl::StatusOr<std::optional<int64_t>> page_size =
      IntFlag(line, "page_size", 1, std::numeric_limits<int32_t>::max());
  if (!page_size.ok()) return UsageError(context, line.subcommand, page_size.status().message());
  request->set_page_size(static_cast<int32_t>(page_size->value_or(0)));
  request->set_page_token(StringFlag(line, "page_token"));
  return kExitOk;
}

// Checks that a subcommand got exactly one positional, CHANNEL.
bool OneChannel(const CommandLine& line, const CliContext& context, int* exit_code) {
  if (line.positionals.size() == 1) return true;
  *exit_code = UsageError(context, line.subcommand,
                          absl::StrCat(line.subcommand, " takes CHANNEL, got ",
                                       line.positionals.size(), " argument(s)"));
  return false;
}

bool NoPositionals(const CommandLine& line, const CliContext& context, int* exit_code) {
  if (line.positionals.empty()) return true;
  *exit_code = UsageError(context, line.subcommand,
                          absl::StrCat("unexpected argument '", line.positionals[0], "'"));
  return false;
}

int RunPresence(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  v1::PresenceRequest request;
  request.set_channel(line.positionals[0]);
  request.set_tenant(StringFlag(line, "tenant"));
  if (int code = PageFlags(line, context, &request); code != kExitOk) return code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::PresenceResponse response;
  exit_code = FetchPages(
      line, context, request,
      [&client](const v1::PresenceRequest& page_request, v1::PresenceResponse* page) {
        return client->Presence(page_request, page);
      },
      &response);
  if (exit_code != kExitOk) return exit_code;
  if (BoolFlag(line, "json")) return PrintJson(response, "presence", context);
  std::vector<std::vector<std::string>> rows;
  for (const v1::ClientInfo& info : response.clients()) {
    rows.push_back({info.client(), OrDash(info.user()), JsonCell(info.conn_info()),
                    JsonCell(info.chan_info())});
  }
  PrintListTable(*context.out, {"CLIENT", "USER", "CONN_INFO", "CHAN_INFO"}, std::move(rows));
  PrintListFooter(line, context, response.next_page_token(), 0);
  return kExitOk;
}

int RunPresenceStats(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::PresenceStatsRequest request;
  request.set_channel(line.positionals[0]);
  request.set_tenant(StringFlag(line, "tenant"));
  v1::PresenceStatsResponse response;
  grpc::Status status = client->PresenceStats(request, &response);
  if (!status.ok()) return RpcError(context, status);
  *context.out << "clients=" << response.num_clients() << " users=" << response.num_users() << "\n";
  return kExitOk;
}

// "connections=N", plus " edges_missing=M" when some edge did not answer.
void PrintReached(const CliContext& context, uint64_t connections, uint32_t edges_missing) {
  *context.out << "connections=" << connections;
  if (edges_missing > 0) *context.out << " edges_missing=" << edges_missing;
  *context.out << "\n";
}

// subscribe and unsubscribe: same flags, same answer.
template <typename Request, typename Response, typename Call>
int RunSubscription(const CommandLine& line, const CliContext& context, const Call& call) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  absl::StatusOr<ConnectionTarget> target = ConnectionTargetFlags(line);
  if (!target.ok()) return UsageError(context, line.subcommand, target.status().message());
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  Request request;
  request.set_user(target->user);
  request.set_client(target->client);
  request.set_channel(line.positionals[0]);
  request.set_tenant(StringFlag(line, "tenant"));
  Response response;
  grpc::Status status = call(*client, request, &response);
  if (!status.ok()) return RpcError(context, status);
  PrintReached(context, response.connections(), response.edges_missing());
  return kExitOk;
}

int RunSubscribe(const CommandLine& line, const CliContext& context) {
  return RunSubscription<v1::SubscribeRequest, v1::SubscribeResponse>(
      line, context,
      [](ControlClient& client, const v1::SubscribeRequest& request,
         v1::SubscribeResponse* response) { return client.Subscribe(request, response); });
}

int RunUnsubscribe(const CommandLine& line, const CliContext& context) {
  return RunSubscription<v1::UnsubscribeRequest, v1::UnsubscribeResponse>(
      line, context,
      [](ControlClient& client, const v1::UnsubscribeRequest& request,
         v1::UnsubscribeResponse* response) { return client.Unsubscribe(request, response); });
}

int RunDisconnect(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  absl::StatusOr<ConnectionTarget> target = ConnectionTargetFlags(line);
  if (!target.ok()) return UsageError(context, line.subcommand, target.status().message());
  absl::StatusOr<std::optional<int64_t>> code =
      IntFlag(line, "code", kMinDisconnectCode, kMaxDisconnectCode);
  if (!code.ok()) return UsageError(context, line.subcommand, code.status().message());
  std::string reason = StringFlag(line, "reason");
  if (reason.size() > kMaxDisconnectReasonBytes) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("--reason is ", reason.size(), " bytes; at most ",
                                   kMaxDisconnectReasonBytes, " fit in a close frame"));
  }
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::DisconnectRequest request;
  request.set_user(target->user);
  request.set_client(target->client);
  request.set_tenant(StringFlag(line, "tenant"));
  request.set_code(static_cast<uint32_t>(code->value_or(0)));
  request.set_reason(reason);
  request.set_reconnect(BoolFlag(line, "reconnect"));
  v1::DisconnectResponse response;
  grpc::Status status = client->Disconnect(request, &response);
  if (!status.ok()) return RpcError(context, status);
  PrintReached(context, response.connections(), response.edges_missing());
  return kExitOk;
}

int RunRefresh(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  absl::StatusOr<ConnectionTarget> target = ConnectionTargetFlags(line);
  if (!target.ok()) return UsageError(context, line.subcommand, target.status().message());
  absl::StatusOr<std::optional<int64_t>> expire_at =
      IntFlag(line, "expire_at", 0, std::numeric_limits<int64_t>::max());
  if (!expire_at.ok()) return UsageError(context, line.subcommand, expire_at.status().message());
  absl::StatusOr<std::optional<absl::Duration>> ttl =
      DurationFlag(line, "ttl", absl::Seconds(kMaxTtlSeconds));
  if (!ttl.ok()) return UsageError(context, line.subcommand, ttl.status().message());
  const bool expired = BoolFlag(line, "expired");
  if (int{expire_at->has_value()} + int{ttl->has_value()} + int{expired} != 1) {
    return UsageError(context, line.subcommand,
                      "refresh needs exactly one of --expire_at, --ttl and --expired");
  }
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::RefreshRequest request;
  request.set_user(target->user);
  request.set_client(target->client);
  request.set_tenant(StringFlag(line, "tenant"));
  if (expire_at->has_value()) request.set_expire_at_unix(**expire_at);
  if (ttl->has_value()) {
    // Rounded up to the next whole second: never earlier than asked.
    const absl::Time at = context.now() + **ttl;
    int64_t seconds = absl::ToUnixSeconds(at);
    if (absl::FromUnixSeconds(seconds) < at) ++seconds;
    request.set_expire_at_unix(seconds);
  }
  request.set_expired(expired);
  v1::RefreshResponse response;
  grpc::Status status = client->Refresh(request, &response);
  if (!status.ok()) return RpcError(context, status);
  PrintReached(context, response.connections(), response.edges_missing());
  return kExitOk;
}

int RunConnections(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  v1::ConnectionsRequest request;
  request.set_tenant(StringFlag(line, "tenant"));
  request.set_user(StringFlag(line, "user"));
  request.set_channel(StringFlag(line, "channel"));
  if (int code = PageFlags(line, context, &request); code != kExitOk) return code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::ConnectionsResponse response;
  exit_code = FetchPages(
      line, context, request,
      [&client](const v1::ConnectionsRequest& page_request, v1::ConnectionsResponse* page) {
        return client->Connections(page_request, page);
      },
      &response);
  if (exit_code != kExitOk) return exit_code;
  if (BoolFlag(line, "json")) {
    if (response.edges_missing() > 0) PrintListFooter(line, context, "", response.edges_missing());
    return PrintJson(response, "connections", context);
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::ConnectionInfo& connection : response.connections()) {
    rows.push_back(
        {connection.client(), OrDash(connection.user()), OrDash(connection.edge_id()),
         FormatUnixMillis(connection.connected_at_unix_ms()),
         connection.expires_at_unix_ms() == 0 ? std::string("never")
                                              : FormatUnixMillis(connection.expires_at_unix_ms()),
         OrDash(absl::StrJoin(connection.channels(), ",")), JsonCell(connection.conn_info())});
  }
  PrintListTable(*context.out,
                 {"CLIENT", "USER", "EDGE", "CONNECTED", "EXPIRES", "CHANNELS", "INFO"},
                 std::move(rows));
  PrintListFooter(line, context, response.next_page_token(), response.edges_missing());
  return kExitOk;
}

int RunChannels(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  v1::ChannelsRequest request;
  request.set_tenant(StringFlag(line, "tenant"));
  request.set_prefix(StringFlag(line, "prefix"));
  if (int code = PageFlags(line, context, &request); code != kExitOk) return code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::ChannelsResponse response;
  exit_code = FetchPages(
      line, context, request,
      [&client](const v1::ChannelsRequest& page_request, v1::ChannelsResponse* page) {
        return client->Channels(page_request, page);
      },
      &response);
  if (exit_code != kExitOk) return exit_code;
  if (BoolFlag(line, "json")) {
    if (response.edges_missing() > 0) PrintListFooter(line, context, "", response.edges_missing());
    return PrintJson(response, "channels", context);
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::ChannelSubscribers& channel : response.channels()) {
    rows.push_back({channel.channel(), absl::StrCat(channel.subscribers())});
  }
  PrintListTable(*context.out, {"CHANNEL", "SUBSCRIBERS"}, std::move(rows));
  PrintListFooter(line, context, response.next_page_token(), response.edges_missing());
  return kExitOk;
}

int RunInfo(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::InfoResponse response;
  grpc::Status status = client->Info(v1::InfoRequest(), &response);
  if (!status.ok()) return RpcError(context, status);
  if (BoolFlag(line, "json")) {
    if (response.edges_missing() > 0) PrintListFooter(line, context, "", response.edges_missing());
    return PrintJson(response, "info", context);
  }
  std::vector<std::vector<std::string>> rows;
  auto add_row = [&rows](const v1::NodeInfo& node) {
    rows.push_back({node.id(), node.kind(), OrDash(node.version()),
                    absl::FormatDuration(absl::Seconds(node.uptime_seconds())),
                    absl::StrCat(node.connections()), absl::StrCat(node.subscriptions()),
                    FormatBytes(node.rss_bytes()), OrDash(node.address())});
  };
  if (response.has_control()) add_row(response.control());
  for (const v1::NodeInfo& edge : response.edges()) add_row(edge);
  PrintListTable(
      *context.out,
      {"ID", "KIND", "VERSION", "UPTIME", "CONNECTIONS", "SUBSCRIPTIONS", "RSS", "ADDRESS"},
      std::move(rows));
  PrintListFooter(line, context, "", response.edges_missing());
  return kExitOk;
}

int RunTail(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  TailOptions options;
  options.channel = line.positionals[0];
  if (absl::Status valid = ValidateChannelName(options.channel); !valid.ok()) {
    return UsageError(context, line.subcommand, valid.message());
  }
  absl::StatusOr<WebSocketUrl> url =
      ParseWebSocketUrl(line.Flag("url") == nullptr ? kDefaultEdgeUrl : *line.Flag("url"));
  if (!url.ok()) return UsageError(context, line.subcommand, url.status().message());
  options.url = *std::move(url);

  absl::StatusOr<std::optional<std::string>> token = NonEmptyFlag(line, "token");
  if (!token.ok()) return UsageError(context, line.subcommand, token.status().message());
  absl::StatusOr<std::optional<std::string>> user = NonEmptyFlag(line, "user");
  if (!user.ok()) return UsageError(context, line.subcommand, user.status().message());
  if (token->has_value() == user->has_value()) {
    return UsageError(context, line.subcommand,
                      "tail needs either --token=JWT or --user=ID (to mint a token)");
  }
  if (token->has_value()) {
    for (absl::string_view mint_only : {"tenant", "token_hmac_secret_file"}) {
      if (line.Flag(mint_only) != nullptr) {
        return UsageError(context, line.subcommand,
                          absl::StrCat("--", mint_only, " only applies with --user"));
      }
    }
  }
  const std::string* tenant = line.Flag("tenant");
  if (tenant != nullptr) {
    if (absl::Status valid = ValidateTenant(*tenant); !valid.ok()) {
      return UsageError(context, line.subcommand, absl::StrCat("--tenant: ", valid.message()));
    }
  }
  absl::StatusOr<std::optional<std::string>> sub_token = NonEmptyFlag(line, "sub_token");
  if (!sub_token.ok()) return UsageError(context, line.subcommand, sub_token.status().message());
  options.sub_token = sub_token->value_or("");

  absl::StatusOr<std::optional<int64_t>> count =
      IntFlag(line, "count", 1, std::numeric_limits<int64_t>::max());
  if (!count.ok()) return UsageError(context, line.subcommand, count.status().message());
  options.count = static_cast<uint64_t>(count->value_or(0));
  absl::StatusOr<std::optional<absl::Duration>> timeout =
      DurationFlag(line, "timeout", absl::Seconds(kMaxTtlSeconds));
  if (!timeout.ok()) return UsageError(context, line.subcommand, timeout.status().message());
  options.timeout = timeout->value_or(absl::InfiniteDuration());
  options.print_offsets = BoolFlag(line, "offsets");

  absl::StatusOr<std::optional<uint64_t>> offset = Uint64Flag(line, "offset");
  if (!offset.ok()) return UsageError(context, line.subcommand, offset.status().message());
  const std::string* epoch = line.Flag("epoch");
  options.recover = BoolFlag(line, "recover");
  if (options.recover != (offset->has_value() && epoch != nullptr) ||
      (!options.recover && (offset->has_value() || epoch != nullptr))) {
    return UsageError(context, line.subcommand,
                      "--recover, --epoch and --offset go together (all three or none)");
  }
  if (options.recover) {
    options.epoch = *epoch;
    options.offset = **offset;
  }

  if (token->has_value()) {
    options.token = **token;
  } else {
    std::optional<std::string> secret = LoadSecret(line, context);
    if (!secret.has_value()) return kExitFailure;
    TokenSpec spec;
    spec.subject = **user;
    spec.tenant = tenant == nullptr ? std::string() : *tenant;
    spec.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(context.now()));
    spec.expires_at = spec.issued_at + absl::Seconds(kDefaultTtlSeconds);
    options.token = MintToken(*secret, spec);
  }

  absl::Status status = TailChannel(options, *context.out, *context.err);
  if (!status.ok()) {
    *context.err << status.message() << "\n";
    return kExitFailure;
  }
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
    return Unary(&v1::ControlService::Stub::Publish, request, response);
  }

  grpc::Status Broadcast(const v1::BroadcastRequest& request,
                         v1::BroadcastResponse* response) override {
    return Unary(&v1::ControlService::Stub::Broadcast, request, response);
  }

  grpc::Status Stats(const v1::StatsRequest& request, v1::StatsResponse* response) override {
    return Unary(&v1::ControlService::Stub::Stats, request, response);
  }

  grpc::Status History(const v1::HistoryRequest& request, v1::HistoryResponse* response) override {
    return Unary(&v1::ControlService::Stub::History, request, response);
  }

  grpc::Status HistoryRemove(const v1::HistoryRemoveRequest& request,
                             v1::HistoryRemoveResponse* response) override {
    return Unary(&v1::ControlService::Stub::HistoryRemove, request, response);
  }

  grpc::Status Presence(const v1::PresenceRequest& request,
                        v1::PresenceResponse* response) override {
    return Unary(&v1::ControlService::Stub::Presence, request, response);
  }

  grpc::Status PresenceStats(const v1::PresenceStatsRequest& request,
                             v1::PresenceStatsResponse* response) override {
    return Unary(&v1::ControlService::Stub::PresenceStats, request, response);
  }

  grpc::Status Subscribe(const v1::SubscribeRequest& request,
                         v1::SubscribeResponse* response) override {
    return Unary(&v1::ControlService::Stub::Subscribe, request, response);
  }

  grpc::Status Unsubscribe(const v1::UnsubscribeRequest& request,
                           v1::UnsubscribeResponse* response) override {
    return Unary(&v1::ControlService::Stub::Unsubscribe, request, response);
  }

  grpc::Status Disconnect(const v1::DisconnectRequest& request,
                          v1::DisconnectResponse* response) override {
    return Unary(&v1::ControlService::Stub::Disconnect, request, response);
  }

  grpc::Status Refresh(const v1::RefreshRequest& request, v1::RefreshResponse* response) override {
    return Unary(&v1::ControlService::Stub::Refresh, request, response);
  }

  grpc::Status Connections(const v1::ConnectionsRequest& request,
                           v1::ConnectionsResponse* response) override {
    return Unary(&v1::ControlService::Stub::Connections, request, response);
  }

  grpc::Status Channels(const v1::ChannelsRequest& request,
                        v1::ChannelsResponse* response) override {
    return Unary(&v1::ControlService::Stub::Channels, request, response);
  }

  grpc::Status Info(const v1::InfoRequest& request, v1::InfoResponse* response) override {
    return Unary(&v1::ControlService::Stub::Info, request, response);
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
  // One blocking call of `method`, bounded by the client's timeout.
  template <typename Request, typename Response>
  grpc::Status Unary(grpc::Status (v1::ControlService::Stub::*method)(grpc::ClientContext*,
                                                                      const Request&, Response*),
                     const Request& request, Response* response) {
    grpc::ClientContext rpc;
    rpc.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    return ((*stub_).*method)(&rpc, request, response);
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
  return subcommand->run(line, context);
}

}  // namespace wirehub::ctl
