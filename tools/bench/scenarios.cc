#include "tools/bench/scenarios.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/bench_server.h"
#include "tools/bench/case_result.h"
#include "tools/bench/client_group.h"
#include "tools/bench/client_pool.h"
#include "tools/bench/proc_stats.h"
#include "tools/bench/rate_publisher.h"
#include "tools/bench/redis_script.h"
#include "tools/bench/token_scenario.h"

namespace wirehub::bench {
namespace {

// CaseSpec is one measured case.
struct CaseSpec {
  std::string scenario;
  std::string name;
  size_t clients = 0;
  // Client i subscribes channel (i % channels).
  size_t channels = 1;
  double rate = 0;                // 0: connect only (idle)
  std::optional<PublishApi> api;  // default: the server's
  // Set: how wirehub gets the publications (the peers keep theirs).
  std::optional<PublishApi> wirehub_api;
  absl::Duration duration = absl::Seconds(10);
  size_t slow_every = 0;
  size_t payload_bytes = 100;
  absl::Duration settle = absl::Seconds(2);
  // Generator layout for this case (0: the options').
  size_t client_processes = 0;
  size_t client_threads = 0;
  // A delivery missing, duplicated or failed clients fail the case (smoke).
  bool strict = false;
  // How wirehub's clients encode the client protocol; reported when
  // report_wire (the wire scenario).
  WireFormat wire = WireFormat::kJson;
  bool report_wire = false;
};

std::string ChannelName(size_t i) { return BenchChannelName(i); }

absl::StatusOr<std::unique_ptr<ClientGroup>> StartClients(const BenchServer& server,
                                                          const BenchOptions& options,
                                                          const CaseSpec& spec) {
  ClientGroupSpec group = ClientsOf(server, options);
  group.clients = spec.clients;
  group.channels = spec.channels;
  group.slow_every = spec.slow_every;
  group.wire = spec.wire;
  group.threads = spec.client_threads != 0 ? spec.client_threads : options.client_threads;
  group.processes = spec.client_processes != 0 ? spec.client_processes : options.client_processes;
  // Fewer clients than edges (1 -> 1 over several control replicas): the
  // clients take the first edges only.
  if (spec.clients > 0 && group.ports.size() > spec.clients) group.ports.resize(spec.clients);
  return ClientGroup::Start(group, options.self_binary);
}

// RunCase() connects spec.clients to `server`, then publishes (unless
// rate is 0) and accounts every delivery.
absl::StatusOr<CaseResult> RunCase(BenchServer& server, const BenchOptions& options,
                                   const CaseSpec& spec) {
  CaseResult result;
  result.scenario = spec.scenario;
  result.case_name = spec.name;
  result.server = server.name;
  result.transport = server.tls_ca_file.empty() ? "ws" : "wss";
  result.clients = spec.clients;
  result.channels = spec.channels;
  if (spec.report_wire) result.wire = std::string(WireFormatName(spec.wire));
  if (!server.engine.empty()) {
    result.engine = server.engine;
    result.control_replicas = server.control_replicas;
    result.redis_persistence = server.redis_persistence;
    result.history_size = options.history_size;
  }

  ServerSamples idle_before = SampleAll(server);
  absl::StatusOr<std::unique_ptr<ClientGroup>> started = StartClients(server, options, spec);
  if (!started.ok()) return started.status();
  ClientGroup& clients = **started;
  if (absl::Status subscribed = WaitSubscribed(server.name, clients, spec.clients);
      !subscribed.ok()) {
    return subscribed;
  }
  result.failed_clients = clients.failed();
  if (!server.tls_ca_file.empty()) {
    result.tls = clients.tls_description();
    if (!result.tls.empty()) absl::StrAppend(&result.tls, ", ECDSA P-256 server certificate");
  }
  if (result.failed_clients > 0) {
    result.notes = absl::StrCat(result.failed_clients, " clients failed: ", clients.first_error());
    if (result.failed_clients * 100 > spec.clients) {
      return absl::UnavailableError(absl::StrCat(server.name, ": ", result.notes));
    }
  }
  // Children report every 50 ms: wait for their phases to arrive.
  absl::Time phases_deadline = absl::Now() + absl::Seconds(1);
  while (clients.subscribe_phase() == absl::ZeroDuration() && result.failed_clients == 0 &&
         absl::Now() < phases_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::Duration connect_phase = clients.connect_phase();
  absl::Duration subscribe_phase = clients.subscribe_phase();
  if (connect_phase > absl::ZeroDuration()) {
    result.connects_per_s =
        static_cast<double>(spec.clients) / absl::ToDoubleSeconds(connect_phase);
  }
  if (subscribe_phase > absl::ZeroDuration()) {
    result.subscribes_per_s =
        static_cast<double>(spec.clients) / absl::ToDoubleSeconds(subscribe_phase);
  }
  absl::SleepFor(spec.settle);

  if (spec.rate <= 0) {
    ServerSamples idle_after = SampleAll(server);
    FillProcesses(server, idle_before, idle_after, &result);
    double grown = static_cast<double>(ServerRss(server, idle_after)) -
                   static_cast<double>(ServerRss(server, idle_before));
    result.rss_per_client_bytes = grown / static_cast<double>(spec.clients);
    result.duration_s = absl::ToDoubleSeconds(subscribe_phase + spec.settle);
    clients.Stop();
    return result;
  }

  PublishPlan plan;
  plan.api = spec.api.value_or(server.protocol == ClientProtocol::kWirehub
                                   ? spec.wirehub_api.value_or(server.publish_api)
                                   : server.publish_api);
  plan.target = server.publish_target;
  if (server.publish_targets.size() > 1) plan.targets = server.publish_targets;
  for (size_t i = 0; i < spec.channels; ++i) plan.channels.push_back(ChannelName(i));
  plan.rate = spec.rate;
  plan.duration = spec.duration;
  plan.payload_bytes = spec.payload_bytes;
  plan.broadcast_batch = options.broadcast_batch;
  result.publish_rate = spec.rate;
  result.publish_api = std::string(PublishApiName(plan.api));
  result.payload_bytes = spec.payload_bytes;

  // The edge's RSS is watched through the run for its peak.
  std::atomic<bool> sampling{true};
  std::atomic<uint64_t> rss_max{0};
  std::thread sampler([&] {
    while (sampling.load()) {
      uint64_t rss = ServerRss(server, SampleAll(server));
      uint64_t seen = rss_max.load();
      while (rss > seen && !rss_max.compare_exchange_weak(seen, rss)) {
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  });

  ServerSamples before = SampleAll(server);
  int64_t publish_start = MonotonicNowNs();
  absl::StatusOr<PublishOutcome> outcome = RunPublisher(plan);
  if (!outcome.ok()) {
    sampling = false;
    sampler.join();
    return outcome.status();
  }
  // Deliveries each subscriber should see.
  const uint64_t expected = clients.Expected(outcome->last_seq);
  const int64_t last_progress = DrainDeliveries(clients, expected);
  // Children report every 50 ms: the figure of their last report.
  absl::SleepFor(absl::Milliseconds(100));
  const uint64_t received_bytes = clients.received_bytes();
  int64_t window_ns =
      std::max<int64_t>(last_progress - publish_start, absl::ToInt64Nanoseconds(outcome->elapsed));
  ServerSamples after = SampleAll(server);
  sampling = false;
  sampler.join();
  if (spec.slow_every > 0) {
    // Slow clients read what is left, so their closes become visible.
    clients.ResumeSlow();
    absl::SleepFor(absl::Seconds(2));
  }
  result.disconnected = clients.closed();
  size_t slow_closed = clients.slow_closed();
  absl::StatusOr<ClientGroupTotals> totals_or = clients.Finish(outcome->last_seq);
  if (!totals_or.ok()) return totals_or.status();
  const SequenceTracker::Counts& totals = totals_or->counts;
  const LatencyHistogram& latency = totals_or->latency;
  result.duration_s = static_cast<double>(window_ns) / 1e9;
  result.published = outcome->sent;
  result.accepted = outcome->accepted;
  result.expected = expected;
  result.delivered = totals.received - totals.duplicated;
  result.missing = totals.missing;
  result.duplicated = totals.duplicated;
  result.late = totals.late;
  result.deliveries_per_s = static_cast<double>(*result.delivered) / result.duration_s;
  result.publishes_per_s =
      static_cast<double>(outcome->accepted) / absl::ToDoubleSeconds(outcome->elapsed);
  result.max_publisher_lag_ms = absl::ToDoubleMilliseconds(outcome->max_lag);
  result.latency = latency;
  double cpu = FillProcesses(server, before, after, &result);
  if (*result.delivered > 0) {
    result.server_cpu_us_per_delivery = cpu * 1e6 / static_cast<double>(*result.delivered);
    result.bytes_per_delivery =
        static_cast<double>(received_bytes) / static_cast<double>(*result.delivered);
  }
  if (!server.engine.empty() && outcome->accepted > 0) {
    // Every control replica's CPU and redis-server's, per publication.
    double control_cpu = 0;
    double redis_cpu = 0;
    for (const ProcessFigures& p : result.processes) {
      if (p.name.rfind("control", 0) == 0) control_cpu += p.cpu_s;
      if (p.name == "redis") redis_cpu += p.cpu_s;
    }
    const double accepted = static_cast<double>(outcome->accepted);
    result.control_cpu_us_per_publication = control_cpu * 1e6 / accepted;
    if (server.redis != nullptr) result.redis_cpu_us_per_publication = redis_cpu * 1e6 / accepted;
  }
  result.edge_rss_max_bytes = rss_max.load();
  if (spec.slow_every > 0) {
    result.slow_clients = spec.clients / spec.slow_every;
    result.slow_disconnected = slow_closed;
  }
  if (!outcome->first_error.empty()) {
    absl::StrAppend(&result.notes, result.notes.empty() ? "" : "; ", outcome->failed,
                    " publications failed: ", outcome->first_error);
  }
  return result;
}

// Runs `cases` against every server in options.servers (peers only when
// `with_peers`), one server at a time, each started afresh per scenario.
absl::Status RunCases(const BenchOptions& options, const std::vector<CaseSpec>& cases,
                      bool with_peers, const std::vector<std::string>& edge_flags) {
  absl::Status first_failure;
  // wirehub once per transport, engine and replica count asked for; a peer
  // once, over ws.
  struct Run {
    std::string name;
    bool tls = false;
    EngineSetup engine;
  };
  std::vector<Run> runs;
  const bool any_tls = std::find(options.wirehub_tls.begin(), options.wirehub_tls.end(), true) !=
                       options.wirehub_tls.end();
  for (const std::string& name : options.servers) {
    if (name != "wirehub") {
      runs.push_back({name, false, {}});
      continue;
    }
    for (bool tls : options.wirehub_tls) {
      if (options.engines.empty()) {
        runs.push_back({name, tls, {}});
        continue;
      }
      for (const std::string& engine : options.engines) {
        for (size_t replicas : options.control_replicas) {
          if (engine == "memory" && replicas > 1) {
            std::printf("(the memory engine runs one control replica: no memory x%zu)\n", replicas);
            continue;
          }
          runs.push_back({name, tls, {engine, replicas}});
        }
      }
    }
  }
  for (const auto& [name, tls, engine] : runs) {
    // N control replicas need N edges at least, each on its own client
    // loop; one replica keeps the options' layout.
    BenchOptions layout = options;
    if (engine.control_replicas > 1) {
      layout.edges = std::max(options.edges, engine.control_replicas);
      layout.client_threads = std::max(options.client_threads, layout.edges);
    }
    if (name != "wirehub" && !with_peers) {
      std::printf("(%s is not measured in this scenario)\n", name.c_str());
      continue;
    }
    if (name != "wirehub" && any_tls) {
      std::printf("(%s is measured over plain ws: --tls applies to wirehub only)\n", name.c_str());
    }
    absl::StatusOr<std::unique_ptr<BenchServer>> server =
        StartServer(name, layout, edge_flags, tls, engine);
    if (!server.ok()) {
      if (options.skip_missing_peers && absl::IsFailedPrecondition(server.status())) {
        std::printf("skipping %s: %s\n", name.c_str(),
                    std::string(server.status().message()).c_str());
        continue;
      }
      return server.status();
    }
    // The generator's own CPU (this process; children with
    // --client_processes are not in it): it shares the cores, and TLS
    // costs it too.
    (*server)->pids.push_back({"generator", getpid(), false});
    for (CaseSpec spec : cases) {
      if (options.payload_bytes != 0) spec.payload_bytes = options.payload_bytes;
      bool grpc_api = spec.api.has_value() &&
                      (*spec.api == PublishApi::kUnary || *spec.api == PublishApi::kBroadcast ||
                       *spec.api == PublishApi::kStream);
      if (grpc_api && name != "wirehub") continue;
      // Only wirehub speaks the protobuf form.
      if (spec.wire != WireFormat::kJson && name != "wirehub") continue;
      absl::StatusOr<CaseResult> result = RunCase(**server, layout, spec);
      if (!result.ok()) {
        std::fprintf(stderr, "[%s] %s on %s failed: %s\n", spec.scenario.c_str(), spec.name.c_str(),
                     (*server)->name.c_str(), result.status().ToString().c_str());
        if (first_failure.ok()) first_failure = result.status();
        continue;
      }
      if (absl::Status s = AppendResult(options, *result); !s.ok()) return s;
      if (spec.strict && (result->failed_clients > 0 || result->missing.value_or(0) > 0 ||
                          result->duplicated.value_or(0) > 0 ||
                          result->delivered.value_or(0) != result->expected.value_or(0))) {
        absl::Status lost = absl::DataLossError(
            absl::StrCat(spec.name, " on ", (*server)->name, ": ", result->failed_clients,
                         " clients failed, delivered ", result->delivered.value_or(0), " of ",
                         result->expected.value_or(0), ", missing ", result->missing.value_or(0),
                         ", duplicated ", result->duplicated.value_or(0)));
        std::fprintf(stderr, "[%s] %s\n", spec.scenario.c_str(), lost.ToString().c_str());
        if (first_failure.ok()) first_failure = lost;
      }
      // Let TIME_WAIT and the server's closes settle between cases.
      absl::SleepFor(absl::Seconds(1));
    }
  }
  return first_failure;
}

size_t Or(size_t value, size_t fallback) { return value != 0 ? value : fallback; }
absl::Duration Or(absl::Duration value, absl::Duration fallback) {
  return value != absl::ZeroDuration() ? value : fallback;
}
std::vector<double> Or(const std::vector<double>& value, std::vector<double> fallback) {
  return value.empty() ? fallback : value;
}

std::string ClientsName(size_t clients) {
  return clients % 1000 == 0 ? absl::StrCat(clients / 1000, "k") : absl::StrCat(clients);
}

std::string FanoutName(size_t clients, double rate) {
  return absl::StrFormat("1->%s @ %g/s", ClientsName(clients), rate);
}

}  // namespace

absl::Status RunScenario(const std::string& name, const BenchOptions& options) {
  std::vector<CaseSpec> cases;
  if (name == "idle") {
    CaseSpec spec;
    spec.scenario = "idle";
    spec.clients = Or(options.clients, 15000);
    spec.name = absl::StrCat(spec.clients, " idle subscribers");
    spec.settle = absl::Seconds(3);
    return RunCases(options, {spec}, true, options.edge_flags);
  }
  if (name == "fanout") {
    size_t clients = Or(options.clients, 10000);
    for (double rate : Or(options.rates, {10})) {
      CaseSpec spec;
      spec.scenario = "fanout";
      spec.clients = clients;
      spec.rate = rate;
      spec.duration = Or(options.duration, absl::Seconds(15));
      spec.name = FanoutName(clients, rate);
      cases.push_back(spec);
    }
    return RunCases(options, cases, true, options.edge_flags);
  }
  if (name == "latency") {
    CaseSpec wide;
    wide.scenario = "latency";
    wide.clients = Or(options.clients, 100);
    wide.rate = 200;
    wide.duration = Or(options.duration, absl::Seconds(15));
    wide.name = FanoutName(wide.clients, wide.rate);
    CaseSpec one = wide;
    one.clients = 1;
    one.rate = 1000;
    one.name = FanoutName(1, 1000);
    // --apis: how wirehub gets the publications (its first entry; unary by
    // default), e.g. stream: one paced PublishStream.
    if (!options.apis.empty()) {
      absl::StatusOr<PublishApi> api = ParsePublishApi(options.apis.front());
      if (!api.ok()) return api.status();
      for (CaseSpec* spec : {&wide, &one}) {
        spec->wirehub_api = *api;
        if (*api != PublishApi::kUnary) absl::StrAppend(&spec->name, " via ", options.apis.front());
      }
    }
    return RunCases(options, {wide, one}, true, options.edge_flags);
  }
  if (name == "channels") {
    size_t clients = Or(options.clients, 10000);
    std::vector<std::string> apis =
        options.apis.empty() ? std::vector<std::string>{"stream", "broadcast"} : options.apis;
    for (const std::string& api_name : apis) {
      absl::StatusOr<PublishApi> api = ParsePublishApi(api_name);
      if (!api.ok()) return api.status();
      for (double rate : Or(options.rates, {20000, 50000, 100000})) {
        CaseSpec spec;
        spec.scenario = "channels";
        spec.clients = clients;
        spec.channels = clients;
        spec.rate = rate;
        spec.api = *api;
        spec.duration = Or(options.duration, absl::Seconds(10));
        spec.name = absl::StrFormat("%d channels @ %g/s via %s", clients, rate, api_name);
        cases.push_back(spec);
      }
    }
    return RunCases(options, cases, false, options.edge_flags);
  }
  if (name == "slow") {
    size_t clients = Or(options.clients, 10000);
    double percent = options.slow_percent > 0 ? options.slow_percent : 1;
    CaseSpec baseline;
    baseline.scenario = "slow";
    baseline.name = "baseline";
    baseline.clients = clients;
    baseline.rate = Or(options.rates, {20}).front();
    baseline.duration = Or(options.duration, absl::Seconds(20));
    // 1 KB at 20/s fills a stalled client's 64 KiB queue plus its socket
    // buffers within seconds, well inside the run.
    baseline.payload_bytes = 1000;
    CaseSpec slow = baseline;
    slow.slow_every = std::max<size_t>(1, static_cast<size_t>(100.0 / percent));
    slow.name = absl::StrFormat("%g%% slow of %d", percent, clients);
    std::vector<std::string> edge_flags = options.edge_flags;
    if (edge_flags.empty()) {
      // Bounded kernel buffers too, or a stalled reader's ~4 MiB of
      // autotuned socket buffer hides the edge's queue bound for minutes.
      edge_flags = {"--client_queue_max_bytes=65536", "--client_send_buffer_bytes=65536"};
    }
    return RunCases(options, {baseline, slow}, false, edge_flags);
  }
  if (name == "scale") {
    // Past what one process may hold open (20000 files): the clients over
    // several generator processes, the server side over several edges.
    BenchOptions wide = options;
    wide.edges = std::max<size_t>(options.edges, 2);
    wide.client_processes = std::max<size_t>(options.client_processes, 2);
    size_t clients = Or(options.clients, 30000);
    CaseSpec idle;
    idle.scenario = "scale";
    idle.clients = clients;
    idle.name = absl::StrFormat("%s idle over %d edges", ClientsName(clients), wide.edges);
    CaseSpec fan = idle;
    fan.rate = 10;
    fan.duration = Or(options.duration, absl::Seconds(20));
    fan.name = absl::StrFormat("%s over %d edges", FanoutName(clients, fan.rate), wide.edges);
    return RunCases(wide, {idle, fan}, false, options.edge_flags);
  }
  if (name == "smoke") {
    // A few seconds with small numbers: every path of the generator once.
    CaseSpec idle;
    idle.scenario = "smoke";
    idle.name = "idle";
    idle.clients = Or(options.clients, 50);
    idle.settle = absl::Milliseconds(200);
    idle.strict = true;
    CaseSpec fan = idle;
    fan.name = "fanout";
    fan.rate = 50;
    fan.duration = Or(options.duration, absl::Seconds(1));
    CaseSpec stream = fan;
    stream.name = "channels via stream";
    stream.channels = stream.clients;
    stream.rate = 2000;
    stream.api = PublishApi::kStream;
    CaseSpec broadcast = stream;
    broadcast.name = "channels via broadcast";
    broadcast.api = PublishApi::kBroadcast;
    // The clients spread over two generator processes of two loops each.
    CaseSpec spread = fan;
    spread.name = "fanout from 2 generator processes";
    spread.client_processes = 2;
    spread.client_threads = 2;
    // wirehub's clients once over the centrifuge-protobuf subprotocol.
    CaseSpec protobuf = fan;
    protobuf.name = "fanout over protobuf";
    protobuf.wire = WireFormat::kProtobuf;
    protobuf.report_wire = true;
    absl::Status status = RunCases(options, {idle, fan, protobuf, spread, stream, broadcast}, true,
                                   options.edge_flags);
    // The Redis engine once: two controls on one redis-server, publications
    // crossing replicas (wirehub only; skipped without redis-server).
    if (access("/usr/bin/redis-server", X_OK) == 0 && options.engines.empty()) {
      BenchOptions redis = options;
      redis.servers = {"wirehub"};
      redis.engines = {"redis"};
      redis.control_replicas = {2};
      redis.history_size = 10;
      CaseSpec redis_stream = stream;
      redis_stream.name = "channels via stream, redis engine, 2 controls";
      redis_stream.settle = absl::Milliseconds(100);
      redis_stream.duration = absl::Milliseconds(500);
      absl::Status redis_status = RunCases(redis, {redis_stream}, false, options.edge_flags);
      if (status.ok()) status = redis_status;
    } else {
      std::printf("(smoke: redis-server is not installed: no redis engine case)\n");
    }
    // Token streams, every publishing api once (wirehub only).
    absl::StatusOr<std::vector<TokenCaseSpec>> tokens = TokenCases(options, /*smoke=*/true);
    if (!tokens.ok()) return tokens.status();
    BenchOptions wirehub_only = options;
    wirehub_only.servers = {"wirehub"};
    absl::Status token_status = RunTokenScenario(wirehub_only, *tokens);
    return status.ok() ? token_status : status;
  }
  if (name == "wire") {
    // JSON against protobuf subscribers (issue 18): the same edge, the
    // same publications, the encodings taking turns case by case.
    std::vector<std::string> wires =
        options.wires.empty() ? std::vector<std::string>{"json", "protobuf"} : options.wires;
    std::vector<size_t> payloads = {100, 1000};
    if (options.payload_bytes != 0) payloads = {options.payload_bytes};
    std::vector<size_t> channel_counts =
        options.channel_counts.empty() ? std::vector<size_t>{1} : options.channel_counts;
    const size_t clients = Or(options.clients, 2000);
    for (size_t channels : channel_counts) {
      for (double rate : Or(options.rates, {200})) {
        for (size_t payload : payloads) {
          for (const std::string& wire_name : wires) {
            CaseSpec spec;
            spec.scenario = "wire";
            spec.clients = clients;
            spec.channels = std::max<size_t>(1, channels);
            spec.rate = rate;
            spec.payload_bytes = payload;
            spec.duration = Or(options.duration, absl::Seconds(10));
            spec.report_wire = true;
            if (!ParseWireFormat(wire_name, &spec.wire)) {
              return absl::InvalidArgumentError(
                  absl::StrCat("unknown wire '", wire_name, "' (json, protobuf)"));
            }
            const std::string subscribers =
                spec.channels == 1
                    ? absl::StrCat("1->", ClientsName(clients))
                    : absl::StrFormat("%s on %d channels", ClientsName(clients), spec.channels);
            spec.name =
                absl::StrFormat("%s @ %g/s, %d B, %s", subscribers, rate, payload, wire_name);
            cases.push_back(spec);
          }
        }
      }
    }
    return RunCases(options, cases, false, options.edge_flags);
  }
  if (name == "redis_script") return RunRedisScriptScenario(options, /*smoke=*/false);
  if (name == "tokens") {
    absl::StatusOr<std::vector<TokenCaseSpec>> tokens = TokenCases(options, /*smoke=*/false);
    if (!tokens.ok()) return tokens.status();
    return RunTokenScenario(options, *tokens);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown scenario '", name, "'"));
}

}  // namespace wirehub::bench
