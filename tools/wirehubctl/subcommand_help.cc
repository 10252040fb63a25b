#include "tools/wirehubctl/subcommand_help.h"

#include <algorithm>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace wirehub::ctl {
namespace {

constexpr absl::string_view kGlobalFlagsHelp =
    "Global flags:\n"
    "  --control=HOST:PORT  ControlService address (default: $WIREHUB_CONTROL,\n"
    "                       else 127.0.0.1:7100)\n"
    "  --timeout=SECONDS    Deadline for each RPC (default 5; tail gives it its own\n"
    "                       meaning)\n"
    "  --api_key=KEY        API key sent as \"authorization: apikey KEY\" (default:\n"
    "                       $WIREHUB_API_KEY; the flag wins). Needed when control\n"
    "                       has api_keys; `wirehubctl apikey` mints one\n"
    "  --tls_ca_file=FILE   Talk TLS to control, verifying its certificate with the\n"
    "                       CAs in FILE (PEM); default: plaintext (for tail: the\n"
    "                       edge's CAs, see 'wirehubctl tail --help')\n"
    "  --tls_server_name=N  With --tls_ca_file: the name control's certificate must\n"
    "                       hold (default: the host of --control)\n"
    "  --help               Show this help\n";

constexpr SubcommandHelp kSubcommandHelp[] = {
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
     true},
    {"publish-stream", "Publish \"CHANNEL JSON\" lines from stdin over one stream",
     "Usage: wirehubctl [--control=HOST:PORT] publish-stream [--tenant=T]\n"
     "                  [--max_batch=N] < LINES\n"
     "\n"
     "Publishes each line of standard input over one PublishStream. A line is\n"
     "  CHANNEL JSON\n"
     "with one space or tab after CHANNEL; the JSON is the rest of the line, sent\n"
     "as-is. Blank lines are skipped; the others are numbered from 1 and the number\n"
     "is the publication's request_id. Each answer is printed as soon as it arrives,\n"
     "in input order:\n"
     "  N offset=OFFSET epoch=E\n"
     "  N error=CODE_NAME message\n"
     "A line without CHANNEL and JSON is reported on stderr as\n"
     "  line N: expected CHANNEL JSON\n"
     "and not sent. At the end of the input the stream is closed once every answer\n"
     "has arrived. Exits 1 if any line failed or the stream failed.\n"
     "\n"
     "Lines that are already waiting when one is read (a pipe or file, or a burst\n"
     "of output from the producer) go to control together as one batch request\n"
     "of at most N lines and about 256 KiB; a line that arrives alone is sent at\n"
     "once, alone. Batching changes neither the numbering nor the output.\n"
     "\n"
     "--timeout does not apply: the stream lasts as long as its input. If the\n"
     "stream fails, that is noticed at the next input line or at end of input.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T     The tenant of every line's channel (default: none)\n"
     "  --max_batch=N  Most lines in one request, 1 to 1024 (default 1024; 1 sends\n"
     "                 each line as its own request)\n",
     true},
    {"broadcast", "Publish one JSON document to several channels",
     "Usage: wirehubctl [--control=HOST:PORT] broadcast CHANNEL... JSON [--tenant=T]\n"
     "\n"
     "Publishes JSON (the last argument, as in publish CHANNEL JSON) to each\n"
     "CHANNEL and prints one line per channel:\n"
     "  CHANNEL offset=N epoch=E\n"
     "  CHANNEL error=CODE_NAME message\n"
     "Exits 1 if any channel failed.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T  The tenant all CHANNELs belong to (default: none)\n",
     true},
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
     true},
    {"history-remove", "Drop the publications kept for a channel",
     "Usage: wirehubctl [--control=HOST:PORT] history-remove CHANNEL [--tenant=T]\n"
     "\n"
     "Drops the publications kept in CHANNEL's history and prints \"ok\". The\n"
     "channel's position (epoch and offset) stays, so later publications go on\n"
     "from it.\n"
     "\n"
     "Flags:\n"
     "  --tenant=T  The tenant whose channel this is (default: none)\n",
     true},
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
     true},
    {"presence-stats", "Count the clients and users subscribed to a channel",
     "Usage: wirehubctl [--control=HOST:PORT] presence-stats CHANNEL [--tenant=T]\n"
     "\n"
     "Prints how many client connections are subscribed to CHANNEL and how many\n"
     "distinct users they belong to:\n"
     "  clients=N users=M\n"
     "\n"
     "Flags:\n"
     "  --tenant=T  The channel's tenant (default: none)\n",
     true},
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
     true},
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
     true},
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
     true},
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
     true},
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
     true},
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
     true},
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
     true},
    {"stats", "Show edges, connections, subscriptions and counters",
     "Usage: wirehubctl [--control=HOST:PORT] stats [--top=N] [--json]\n"
     "\n"
     "Shows the attached edges, connection and subscription totals, counters and\n"
     "the busiest channels.\n"
     "\n"
     "Flags:\n"
     "  --top=N  How many channels to list (0: server default of 10; max 1000)\n"
     "  --json   Print the StatsResponse as JSON (proto field names, all fields)\n",
     true},
    {"token", "Mint a connection or subscription token (no network)",
     "Usage: wirehubctl token --user=ID [--ttl=SECONDS] [--tenant=T] [--info=JSON]\n"
     "                  [--channels=A,B,...] [--channel=C] [--audience=AUD] [--issuer=ISS]\n"
     "                  [--token_hmac_secret_file=FILE | --private_key_file=PEM\n"
     "                   --algorithm=ALG] [--kid=KID]\n"
     "\n"
     "Prints a connection token (JWT) with claims sub, iat and exp, and the\n"
     "optional ones below. With --channel it prints a subscription token for\n"
     "that channel instead. Signed with HS256 and the HMAC secret, or with\n"
     "--private_key_file and --algorithm. Needs no network.\n"
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
     "                                 environment variable WIREHUB_TOKEN_HMAC_SECRET)\n"
     "  --private_key_file=PEM         Sign with this unencrypted PEM private key\n"
     "                                 (PKCS #8, or traditional RSA / EC) instead\n"
     "  --algorithm=ALG                With --private_key_file: RS256, RS384, RS512,\n"
     "                                 PS256, ES256, ES384 or EdDSA (must fit the key)\n"
     "  --kid=KID                      The header's `kid`: the key id the edge selects\n"
     "                                 the verification key by (token_keys, JWKS)\n",
     false},
    {"apikey", "Mint an API key for wirehub-control (no network)",
     "Usage: wirehubctl apikey [--name=N] [--tenant=T] [--scope=publish|full]\n"
     "\n"
     "Mints a random 256-bit API key and prints it, its SHA-256 and the entry that\n"
     "admits it in the `api_keys` of control's configuration file:\n"
     "  key: wh_...\n"
     "  sha256: HEX\n"
     "  api_keys entry: {\"name\":\"N\",\"sha256\":\"HEX\",\"scope\":\"full\"}\n"
     "Give the key to the backend (it sends it as \"authorization: apikey KEY\";\n"
     "wirehubctl takes it with --api_key or $WIREHUB_API_KEY) and put only the\n"
     "entry in the configuration: control keeps the hash, never the key. Needs no\n"
     "network.\n"
     "\n"
     "Flags:\n"
     "  --name=N                Shown in control's logs and errors (default: key-\n"
     "                          and the first 8 hex digits of the hash)\n"
     "  --tenant=T              Confine the key to tenant T: its requests may only\n"
     "                          name T, and Stats and Info are refused\n"
     "  --scope=publish|full    publish: Publish, Broadcast and PublishStream only;\n"
     "                          full (default): every call of the API\n",
     false},
    {"tail", "Follow a channel over WebSocket and print its publications",
     "Usage: wirehubctl tail CHANNEL [--url=ws[s]://HOST[:PORT]/PATH]\n"
     "                  [--tls_ca_file=FILE] [--tls_server_name=N]\n"
     "                  (--token=JWT | --user=ID [--tenant=T] [--token_hmac_secret_file=FILE])\n"
     "                  [--sub_token=JWT] [--count=N] [--timeout=DURATION] [--offsets]\n"
     "                  [--recover --epoch=E --offset=N]\n"
     "\n"
     "Connects to wirehub-edge as a WebSocket client (Centrifugo client protocol,\n"
     "JSON), subscribes to CHANNEL and prints each publication on its own line as\n"
     "it arrives: its data, as received, except that line breaks in it (JSON\n"
     "whitespace) are printed as spaces. Server pings are answered.\n"
     "HOST is an IP address ([...] for IPv6) or a name, resolved with getaddrinfo;\n"
     "each address is tried in turn. wss:// speaks TLS 1.2 or later and verifies\n"
     "the edge's certificate chain and that it holds HOST (name or IP address);\n"
     "HOST is also sent as SNI.\n"
     "\n"
     "Ends with exit 1 and, on stderr,\n"
     "  error: connect: cannot resolve 'HOST': why\n"
     "  error: connect to HOST:PORT: why             (no address accepted)\n"
     "  error: connect: TLS handshake with HOST:PORT failed: certificate verify\n"
     "         failed (why)\n"
     "when the edge cannot be reached or trusted,\n"
     "  error: connect: CODE message    or  error: subscribe: CODE message\n"
     "when the server refuses, and\n"
     "  closed: CODE reason             or  unsubscribed: CODE reason\n"
     "when it closes the connection or ends the subscription.\n"
     "\n"
     "Flags:\n"
     "  --url=URL                      Edge endpoint, ws:// or wss:// (default\n"
     "                                 ws://127.0.0.1:8000/connection/websocket;\n"
     "                                 default port 80 for ws://, 443 for wss://)\n"
     "  --tls_ca_file=FILE             With wss://: trust the CAs in FILE (PEM)\n"
     "                                 instead of the system's trust store. The\n"
     "                                 global flag: tail never talks to control, so\n"
     "                                 here it is about the edge\n"
     "  --tls_server_name=N            With wss://: the name (or IP address) the\n"
     "                                 edge's certificate must hold, also sent as\n"
     "                                 SNI (default: HOST)\n"
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
     false},
};

}  // namespace

absl::Span<const SubcommandHelp> AllSubcommandHelp() { return kSubcommandHelp; }

const SubcommandHelp* FindSubcommandHelp(absl::string_view name) {
  for (const SubcommandHelp& subcommand : kSubcommandHelp) {
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
  for (const SubcommandHelp& subcommand : kSubcommandHelp) {
    width = std::max(width, subcommand.name.size());
  }
  auto print_row = [&out, width](absl::string_view name, absl::string_view summary) {
    out << "  " << name << std::string(width + 2 - name.size(), ' ') << summary << "\n";
  };
  for (const SubcommandHelp& subcommand : kSubcommandHelp) {
    print_row(subcommand.name, subcommand.summary);
  }
  print_row(kHelp, "Show help for a subcommand");
  out << "\n"
      << kGlobalFlagsHelp
      << "\n"
         "Flags may appear before or after the subcommand. Run\n"
         "'wirehubctl SUBCOMMAND --help' for the usage of one subcommand.\n";
}

void PrintSubcommandHelp(const SubcommandHelp& subcommand, std::ostream& out) {
  out << subcommand.help;
  if (subcommand.uses_control) out << "\n" << kGlobalFlagsHelp;
}

}  // namespace wirehub::ctl
