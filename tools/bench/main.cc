// wirehub-bench: the load generator of issue #5. Only `selftest` runs yet;
// the scenarios listed by --help are planned, not implemented.
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

#include "tools/bench/selftest.h"

namespace {

constexpr char kUsage[] = R"(usage: wirehub-bench <command> [--flag=value ...]

Commands:
  selftest    Run the generator's receive path (WebSocket frame parser, push
              scan, sequence tracker, latency histogram) on a synthetic stream
              in memory: no network, no server. Prints the counts, the known
              synthetic latency percentiles and the parse cost per line.
                --messages=N (200000)  --payload_bytes=N (100)
                --lines_per_frame=N (4)

Planned (not implemented yet), each a single command that stops by itself,
against wirehub and, for a-d, nginx+Nchan and nats-server in the same run:
  idle        a. 15k connected, subscribed clients: edge RSS per connection,
                 connections/s with JWT verification.
  fanout      b/c. one channel -> 10k subscribers at 10, 40, 80 publishes/s:
                 edge CPU us per delivery, deliveries/s, p50/p99, loss.
  latency     d. 1 -> 100 at 200/s and 1 -> 1 at 1k/s: p50/p99/p999
                 publish -> receive through gRPC, control and edge.
  channels    e. 10k clients on their own channels, PublishStream and
                 Broadcast at 20k-100k/s: publishes/s accepted and delivered.
  slow        f. 1% of 10k subscribers stop reading: disconnects at the queue
                 bound, bounded edge memory, the others' p99.
)";

bool ParseSizeFlag(std::string_view arg, std::string_view name, size_t* value) {
  std::string prefix = "--" + std::string(name) + "=";
  if (arg.substr(0, prefix.size()) != prefix) return false;
  std::string_view digits = arg.substr(prefix.size());
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *value);
  return ec == std::errc() && ptr == digits.data() + digits.size();
}

int RunSelftestCommand(int argc, char** argv) {
  wirehub::bench::SelftestOptions options;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!ParseSizeFlag(arg, "messages", &options.messages) &&
        !ParseSizeFlag(arg, "payload_bytes", &options.payload_bytes) &&
        !ParseSizeFlag(arg, "lines_per_frame", &options.lines_per_frame)) {
      std::fprintf(stderr, "wirehub-bench selftest: bad flag %s\n%s", argv[i], kUsage);
      return 2;
    }
  }
  absl::StatusOr<wirehub::bench::SelftestResult> result = wirehub::bench::RunSelftest(options);
  if (!result.ok()) {
    std::fprintf(stderr, "wirehub-bench selftest: %s\n", result.status().ToString().c_str());
    return 1;
  }
  std::fputs(wirehub::bench::FormatSelftestResult(options, *result).c_str(), stdout);
  return result->counts.missing == 0 && result->counts.duplicated == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view command = argc > 1 ? argv[1] : "";
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "selftest") return RunSelftestCommand(argc, argv);
  std::fprintf(stderr, "wirehub-bench: %s\n%s",
               command.empty() ? "no command" : "unknown or not yet implemented command", kUsage);
  return 2;
}
