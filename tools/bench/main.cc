// wirehub-bench: the load generator of docs/benchmarks.md.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/absl_compat.h"
#include "tools/bench/client_pool.h"
#include "tools/bench/client_worker.h"
#include "tools/bench/drain_scenario.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/selftest.h"

namespace {

constexpr char kUsage[] = R"(usage: wirehub-bench <command> [--flag=value ...]

Scenarios (docs/benchmarks.md), each a single command that starts the
servers on 127.0.0.1, measures, stops them and prints a summary; with
--results=FILE each case appends one JSON line per server:
  idle        a. N connected, subscribed clients (15000): server RSS per
                 client, connects/s including JWT verification.
  fanout      b/c. one channel -> N subscribers (10000) at --rates (10):
                 server CPU us per delivery, deliveries/s, latency, loss.
  latency     d. 1 -> 100 at 200/s and 1 -> 1 at 1000/s: publish -> receive
                 latency through gRPC, control and edge; wirehub publishes
                 through the first of --apis (unary; stream: one paced
                 PublishStream).
  channels    e. N clients (10000) each on its own channel, publications
                 round-robin at --rates (20000,50000,100000) through --apis
                 (stream,broadcast): accepted and delivered per second.
                 wirehub only.
  slow        f. --slow_percent (1) of N subscribers (10000) stop reading:
                 baseline first, then with slow clients: how many the edge
                 disconnects, its RSS peak, the others' latency. wirehub only.
  scale       g. past one process's open-files limit: N clients (30000)
                 from --client_processes (2) generator processes over
                 --edges (2) edges, idle and then 1 -> N at 10/s. wirehub only.
  tokens      LLM replies streamed token by token: --conversations (1000)
                 channels, conversation i with 1 + i % 3 subscribers, each
                 fed --token_rate (30) tokens/s in replies of --reply_tokens
                 (100), the conversations staggered over the first token
                 interval, for --duration (10), through each of --apis
                 (stream,multiplexed,unary): a PublishStream per
                 conversation, every conversation on --streams (4) streams
                 with one batch request per write, or a Publish call per
                 token. Reports tokens published, accepted, failed,
                 delivered, missing, duplicated and out of order; control
                 and edge CPU and context switches per publication; time to
                 first token; token latency; the jitter between tokens.
                 Past one process's open files (10000 conversations are
                 19999 clients) it adds generator processes and edges by
                 itself (as --client_processes=2 --edges=2). wirehub only.
  drain       An edge holding N subscribers (10000) drains on SIGTERM while
                 its clients reconnect to a second edge at once: peak and
                 mean reconnects per second, closing all at once and in
                 waves over --duration (10). wirehub only.
  redis_script  What Redis itself does with control's publish script
                 (control/redis_scripts.h): a redis-server, SCRIPT LOAD, then
                 redis-benchmark -c 50 -P each of --pipelines (1,16) with
                 EVALSHA shaped like a real publish (--history_size,
                 --payload_bytes) on one channel, without and with a
                 subscriber on it: calls/s and redis-server CPU per call.
  wire        wirehub's JSON against its protobuf subscribers (the
                 centrifuge-protobuf subprotocol, issue 18) on one edge: N
                 clients (2000) on each of --channels (1), publications at
                 --rates (200) with payloads of 100 and 1000 bytes (or
                 --payload_bytes), each case once per --wire (json,protobuf):
                 deliveries/s, edge CPU and WebSocket bytes per delivery,
                 latency. wirehub only.
  smoke       Every path above once with small numbers, in a few seconds.
  selftest    The receive path on a synthetic in-memory stream: no network.
                --messages=N (200000) --payload_bytes=N (100)
                --lines_per_frame=N (4)

Flags of the scenarios:
  --servers=wirehub,nchan,nats   servers to measure (default wirehub); the
                                 peers need nginx-light + libnginx-mod-nchan
                                 and nats-server from Debian
  --skip_missing_peers           skip a peer whose packages are missing
  --results=FILE                 append JSON lines here
  --clients=N  --rates=R[,R..]  --duration=SECONDS
  --payload_bytes=N (100; slow 1000; tokens 40, the smallest payload)
  --apis=stream,broadcast,unary  --slow_percent=P  --broadcast_batch=N (100)
  --conversations=N (1000)  --token_rate=R (30)  --reply_tokens=N (100)
  --streams=N (4)                tokens: see above
  --client_threads=N (1)         client epoll loops per generator process
  --client_processes=N (1)       generator processes holding the clients
                                 (each may hold ~19k connections: the
                                 open-files limit)
  --edges=N (1)                  wirehub-edge processes on one control,
                                 each client loop on one of them
  --sources=127.0.0.2,...        client source addresses
  --bin_dir=DIR                  where wirehub-control and wirehub-edge are
                                 (default: this binary's directory)
  --engines=memory,redis         wirehub with each of control's stream
                                 engines in turn (every scenario but tokens
                                 and drain); results carry the engine.
                                 Default: memory without a control config
  --control_replicas=1,2         control replicas per engine (redis: N
                                 controls on one redis-server; the edges,
                                 at least N, take them in turn, and so do
                                 the publishers)
  --redis_appendfsync=no|everysec|always
                                 the bench's redis-server with AOF on and
                                 that policy (default: no persistence)
  --history_size=N (0)           publications kept per channel (history_ttl
                                 600 s) with --engines, and in redis_script
  --redis_requests=N (300000)  --pipelines=1,16   redis_script
  --wire=json,protobuf           wire: the encodings compared, in this order
  --channels=N[,N..] (1)         wire: channel counts the clients spread over
  --work_dir=DIR                 configs and server logs (default: a new
                                 directory under $TMPDIR)
  --edge_flag=--name=value       extra wirehub-edge flag (repeatable)
  --tls[=true|both|false]        wirehub over wss: the bench makes a CA and
                                 an ECDSA P-256 server certificate for
                                 127.0.0.1, the edges serve it and the
                                 clients verify it; "both" measures ws and
                                 then wss ("wirehub-wss") in one run. The
                                 peers (nchan, nats) stay on plain ws.
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

bool SplitFlag(std::string_view arg, std::string_view* name, std::string_view* value) {
  if (arg.substr(0, 2) != "--") return false;
  arg.remove_prefix(2);
  size_t eq = arg.find('=');
  *name = arg.substr(0, eq);
  *value = eq == std::string_view::npos ? std::string_view() : arg.substr(eq + 1);
  return !name->empty();
}

std::vector<std::string> SplitList(std::string_view value) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(wirehub::AsAbsl(value), ',', absl::SkipEmpty())) {
    out.emplace_back(part);
  }
  return out;
}

std::string SelfBinary() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n <= 0 ? std::string() : std::string(path, static_cast<size_t>(n));
}

std::string BinaryDir() {
  std::string exe = SelfBinary();
  if (exe.empty()) return ".";
  // The build puts every binary in build/bin.
  size_t slash = exe.rfind('/');
  if (slash == std::string::npos) return ".";
  exe.resize(slash);
  return exe.empty() ? "/" : exe;
}

int RunScenarioCommand(const std::string& scenario, int argc, char** argv) {
  wirehub::bench::BenchOptions options;
  options.bin_dir = BinaryDir();
  options.self_binary = SelfBinary();
  for (int i = 2; i < argc; ++i) {
    std::string_view name;
    std::string_view value;
    bool ok = SplitFlag(argv[i], &name, &value);
    double number = 0;
    bool numeric = absl::SimpleAtod(wirehub::AsAbsl(value), &number) && number >= 0;
    if (ok && name == "servers") {
      options.servers = SplitList(value);
    } else if (ok && name == "skip_missing_peers") {
      options.skip_missing_peers = value.empty() || value == "true";
    } else if (ok && name == "results") {
      options.results_path = std::string(value);
    } else if (ok && name == "clients" && numeric) {
      options.clients = static_cast<size_t>(number);
    } else if (ok && name == "rates") {
      for (const std::string& rate : SplitList(value)) {
        double r = 0;
        if (!absl::SimpleAtod(rate, &r) || r <= 0) ok = false;
        options.rates.push_back(r);
      }
    } else if (ok && name == "duration" && numeric && number > 0) {
      options.duration = absl::Seconds(number);
    } else if (ok && name == "payload_bytes" && numeric) {
      options.payload_bytes = static_cast<size_t>(number);
    } else if (ok && name == "apis") {
      options.apis = SplitList(value);
    } else if (ok && name == "slow_percent" && numeric && number > 0 && number <= 100) {
      options.slow_percent = number;
    } else if (ok && name == "conversations" && numeric && number >= 1) {
      options.conversations = static_cast<size_t>(number);
    } else if (ok && name == "token_rate" && numeric && number > 0) {
      options.token_rate = number;
    } else if (ok && name == "reply_tokens" && numeric && number >= 1) {
      options.reply_tokens = static_cast<size_t>(number);
    } else if (ok && name == "streams" && numeric && number >= 1) {
      options.streams = static_cast<size_t>(number);
    } else if (ok && name == "broadcast_batch" && numeric && number >= 1) {
      options.broadcast_batch = static_cast<size_t>(number);
    } else if (ok && name == "client_threads" && numeric && number >= 1) {
      options.client_threads = static_cast<size_t>(number);
    } else if (ok && name == "edges" && numeric && number >= 1) {
      options.edges = static_cast<size_t>(number);
    } else if (ok && name == "client_processes" && numeric && number >= 1) {
      options.client_processes = static_cast<size_t>(number);
    } else if (ok && name == "sources") {
      options.source_addresses = SplitList(value);
    } else if (ok && name == "bin_dir" && !value.empty()) {
      options.bin_dir = std::string(value);
    } else if (ok && name == "work_dir" && !value.empty()) {
      options.work_dir = std::string(value);
    } else if (ok && name == "edge_flag" && !value.empty()) {
      options.edge_flags.emplace_back(value);
    } else if (ok && name == "engines" && !value.empty()) {
      options.engines = SplitList(value);
    } else if (ok && name == "control_replicas" && !value.empty()) {
      options.control_replicas.clear();
      for (const std::string& part : SplitList(value)) {
        size_t replicas = 0;
        if (!absl::SimpleAtoi(part, &replicas) || replicas < 1 || replicas > 8) ok = false;
        options.control_replicas.push_back(replicas);
      }
    } else if (ok && name == "redis_appendfsync" &&
               (value == "no" || value == "everysec" || value == "always")) {
      options.redis_appendfsync = std::string(value);
    } else if (ok && name == "history_size" && numeric) {
      options.history_size = static_cast<size_t>(number);
    } else if (ok && name == "redis_requests" && numeric && number >= 1) {
      options.redis_requests = static_cast<size_t>(number);
    } else if (ok && name == "pipelines" && !value.empty()) {
      for (const std::string& part : SplitList(value)) {
        size_t pipeline = 0;
        if (!absl::SimpleAtoi(part, &pipeline) || pipeline < 1) ok = false;
        options.pipelines.push_back(pipeline);
      }
    } else if (ok && name == "wire" && !value.empty()) {
      for (const std::string& part : SplitList(value)) {
        wirehub::bench::WireFormat wire;
        if (!wirehub::bench::ParseWireFormat(part, &wire)) ok = false;
        options.wires.push_back(part);
      }
    } else if (ok && name == "channels" && !value.empty()) {
      for (const std::string& part : SplitList(value)) {
        size_t channels = 0;
        if (!absl::SimpleAtoi(part, &channels) || channels < 1) ok = false;
        options.channel_counts.push_back(channels);
      }
    } else if (ok && name == "tls" && (value.empty() || value == "true")) {
      options.wirehub_tls = {true};
    } else if (ok && name == "tls" && value == "both") {
      options.wirehub_tls = {false, true};
    } else if (ok && name == "tls" && value == "false") {
      options.wirehub_tls = {false};
    } else {
      std::fprintf(stderr, "wirehub-bench %s: bad flag %s\n%s", scenario.c_str(), argv[i], kUsage);
      return 2;
    }
    if (!ok) {  // a list flag with a bad entry
      std::fprintf(stderr, "wirehub-bench %s: bad flag %s\n%s", scenario.c_str(), argv[i], kUsage);
      return 2;
    }
  }
  if (options.source_addresses.empty()) options.source_addresses = {"127.0.0.1"};
  bool own_work_dir = options.work_dir.empty();
  if (own_work_dir) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/wirehub-bench-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("wirehub-bench: mkdtemp");
      return 1;
    }
    options.work_dir = pattern;
  }
  absl::Status status = scenario == "drain" ? wirehub::bench::RunDrainScenario(options)
                                            : wirehub::bench::RunScenario(scenario, options);
  if (own_work_dir && status.ok()) {
    std::filesystem::remove_all(options.work_dir);
  } else if (!status.ok()) {
    std::fprintf(stderr, "wirehub-bench %s: %s\n(server logs in %s)\n", scenario.c_str(),
                 std::string(status.message()).c_str(), options.work_dir.c_str());
  }
  return status.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds abseil without NDEBUG, which leaves Mutex deadlock
  // detection on: a lock-graph update on every acquisition (1.5 % of
  // control's CPU on the publish path). Unit tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string_view command = argc > 1 ? argv[1] : "";
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  // A client process whose parent is gone must not die writing to it.
  signal(SIGPIPE, SIG_IGN);
  if (command == "selftest") return RunSelftestCommand(argc, argv);
  if (command == "clients") {
    // Started by a scenario with --client_processes; not for direct use.
    return wirehub::bench::RunClientWorkerCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  for (const char* scenario : {"idle", "fanout", "latency", "channels", "slow", "scale", "tokens",
                               "drain", "redis_script", "wire", "smoke"}) {
    if (command == scenario) return RunScenarioCommand(scenario, argc, argv);
  }
  std::fprintf(stderr, "wirehub-bench: %s\n%s", command.empty() ? "no command" : "unknown command",
               kUsage);
  return 2;
}
