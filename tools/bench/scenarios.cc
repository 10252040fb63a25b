#include "tools/bench/scenarios.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/jwt.h"
#include "tools/bench/bench_certificates.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/case_result.h"
#include "tools/bench/child_process.h"
#include "tools/bench/client_group.h"
#include "tools/bench/client_pool.h"
#include "tools/bench/peer_server.h"
#include "tools/bench/proc_stats.h"
#include "tools/bench/rate_publisher.h"
#include "tools/bench/server_process.h"

namespace wirehub::bench {
namespace {

constexpr char kHost[] = "127.0.0.1";

struct WatchedPid {
  std::string name;
  pid_t pid = 0;
  // Whether its CPU and memory count as the server's (the edge, a peer's
  // processes) rather than as a helper's (wirehub-control).
  bool server = true;
};

// BenchServer is one server under test with everything needed to connect
// to it, subscribe and publish. Main thread only.
struct BenchServer {
  std::string name;
  ClientProtocol protocol = ClientProtocol::kWirehub;
  // Client i connects to ws_ports[i % size]: one per wirehub edge.
  std::vector<int> ws_ports;
  PublishApi publish_api = PublishApi::kUnary;
  std::string publish_target;
  std::string secret;       // wirehub's token secret
  std::string tls_ca_file;  // wirehub over wss: the CA its clients verify against
  std::vector<WatchedPid> pids;
  std::unique_ptr<ServerProcess> control;
  std::vector<std::unique_ptr<ServerProcess>> edges;
  std::unique_ptr<PeerServer> peer;
  std::string Resource(const std::string& channel) const {
    if (protocol == ClientProtocol::kWirehub) return "/connection/websocket";
    return peer->WsResource(channel);
  }
};

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string RandomHex(size_t bytes) {
  std::random_device device;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) absl::StrAppendFormat(&out, "%02x", device() & 0xff);
  return out;
}

absl::StatusOr<std::unique_ptr<BenchServer>> StartWirehub(
    const BenchOptions& options, const std::vector<std::string>& edge_flags, bool tls) {
  auto server = std::make_unique<BenchServer>();
  server->name = tls ? "wirehub-wss" : "wirehub";
  std::string dir = absl::StrCat(options.work_dir, "/", server->name);
  if (absl::Status s = MakeDir(dir); !s.ok()) return s;
  server->secret = RandomHex(32);
  std::string secret_file = dir + "/token-secret";
  std::string config_file = dir + "/config.json";
  if (absl::Status s = WriteFile(secret_file, server->secret + "\n"); !s.ok()) return s;
  // Bench channels live in the default namespace, open to every connected
  // client, as a public channel would be.
  if (absl::Status s =
          WriteFile(config_file, R"({"defaults":{"allow_subscribe_for_client":true}})");
      !s.ok()) {
    return s;
  }
  // A control with a separate edge link (--edge_listen) prints its port on
  // a second line; the edges attach there. An older one serves both on
  // its gRPC port.
  const std::string control_binary = options.bin_dir + "/wirehub-control";
  absl::StatusOr<bool> edge_link = HelpMentions(control_binary, "--edge_listen");
  if (!edge_link.ok()) return edge_link.status();
  std::vector<std::string> control_args = {absl::StrCat("--grpc_listen=", kHost, ":0")};
  if (*edge_link) control_args.push_back(absl::StrCat("--edge_listen=", kHost, ":0"));
  // Servers with an admin listener take a free port for it (several edges
  // run at once) and stop without a drain delay (nothing balances them).
  absl::StatusOr<bool> admin = HelpMentions(control_binary, "--admin_listen");
  if (!admin.ok()) return admin.status();
  std::vector<std::string> admin_args;
  if (*admin) {
    admin_args = {absl::StrCat("--admin_listen=", kHost, ":0"), "--drain_delay=0s"};
    control_args.insert(control_args.end(), admin_args.begin(), admin_args.end());
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> control = ServerProcess::Start(
      "wirehub-control", control_binary, control_args, "wirehub-control: grpc listening on",
      dir + "/control.log", absl::Seconds(15));
  if (!control.ok()) return control.status();
  server->control = *std::move(control);
  server->publish_target = absl::StrCat(kHost, ":", server->control->port());
  int edge_link_port = server->control->port();
  if (*edge_link) {
    absl::StatusOr<int> port =
        server->control->WaitForLine("wirehub-control: edge link listening on", absl::Seconds(15));
    if (!port.ok()) return port.status();
    edge_link_port = *port;
  }
  std::vector<std::string> args = {absl::StrCat("--listen=", kHost, ":0"),
                                   absl::StrCat("--control=", kHost, ":", edge_link_port),
                                   "--token_hmac_secret_file=" + secret_file,
                                   "--config=" + config_file};
  args.insert(args.end(), admin_args.begin(), admin_args.end());
  if (*admin) args.push_back("--drain_duration=0s");
  if (tls) {
    // A fresh CA per run: nothing to keep, nothing committed.
    std::string tls_dir = dir + "/tls";
    if (absl::Status s = MakeDir(tls_dir); !s.ok()) return s;
    absl::StatusOr<BenchCertificates> certificates = GenerateBenchCertificates(tls_dir);
    if (!certificates.ok()) return certificates.status();
    server->tls_ca_file = certificates->ca_file;
    args.push_back("--tls_cert_file=" + certificates->cert_file);
    args.push_back("--tls_key_file=" + certificates->key_file);
  }
  args.insert(args.end(), edge_flags.begin(), edge_flags.end());
  server->pids = {{"control", server->control->pid(), false}};
  // Past one process's open-files limit (~20k clients) a case needs
  // several edges; they share the control.
  for (size_t e = 0; e < std::max<size_t>(1, options.edges); ++e) {
    std::string log = e == 0 ? dir + "/edge.log" : absl::StrCat(dir, "/edge", e, ".log");
    absl::StatusOr<std::unique_ptr<ServerProcess>> edge =
        ServerProcess::Start("wirehub-edge", options.bin_dir + "/wirehub-edge", args,
                             "wirehub-edge: websocket listening on", log, absl::Seconds(15));
    if (!edge.ok()) return edge.status();
    if (tls && (*edge)->ready_line().find("wss://") == std::string::npos) {
      return absl::FailedPreconditionError(absl::StrCat(
          "wirehub-edge was given a certificate but does not serve wss: ", (*edge)->ready_line()));
    }
    server->ws_ports.push_back((*edge)->port());
    server->pids.push_back({e == 0 ? "edge" : absl::StrCat("edge", e), (*edge)->pid(), true});
    server->edges.push_back(*std::move(edge));
  }
  return server;
}

int RandomBenchPort() {
  // 65001-65535: above the ephemeral range's busiest part, as
  // performance-notes.md advises for listeners that need a fixed port.
  static std::mt19937 rng(std::random_device{}());
  return 65001 + static_cast<int>(rng() % 500);
}

absl::StatusOr<std::unique_ptr<BenchServer>> StartPeer(const BenchOptions& options, PeerKind kind) {
  auto server = std::make_unique<BenchServer>();
  server->name = std::string(PeerName(kind));
  std::string dir = absl::StrCat(options.work_dir, "/", server->name);
  if (absl::Status s = MakeDir(dir); !s.ok()) return s;
  absl::Status last;
  for (int attempt = 0; attempt < 4; ++attempt) {
    PeerOptions peer_options;
    peer_options.work_dir = dir;
    peer_options.ws_port = RandomBenchPort();
    peer_options.publish_port =
        kind == PeerKind::kNchan ? peer_options.ws_port : peer_options.ws_port + 1;
    absl::StatusOr<std::unique_ptr<PeerServer>> peer = PeerServer::Start(kind, peer_options);
    if (!peer.ok()) {
      // Only a taken port is worth another try with other ports.
      last = peer.status();
      if (absl::IsAlreadyExists(last)) continue;
      return last;
    }
    server->peer = *std::move(peer);
    break;
  }
  if (server->peer == nullptr) return last;
  server->protocol = kind == PeerKind::kNchan ? ClientProtocol::kNchan : ClientProtocol::kNats;
  server->publish_api = kind == PeerKind::kNchan ? PublishApi::kNchan : PublishApi::kNats;
  server->ws_ports = {server->peer->ws_port()};
  server->publish_target = absl::StrCat(kHost, ":", server->peer->publish_port());
  for (pid_t pid : server->peer->pids()) server->pids.push_back({server->name, pid, true});
  return server;
}

// StartServer() starts `name`; a missing peer package is FailedPrecondition
// naming the packages.
absl::StatusOr<std::unique_ptr<BenchServer>> StartServer(const std::string& name,
                                                         const BenchOptions& options,
                                                         const std::vector<std::string>& edge_flags,
                                                         bool tls) {
  if (name == "wirehub") return StartWirehub(options, edge_flags, tls);
  PeerKind kind;
  if (name == "nchan") {
    kind = PeerKind::kNchan;
  } else if (name == "nats") {
    kind = PeerKind::kNats;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown server '", name, "' (wirehub, nchan, nats)"));
  }
  std::vector<std::string> missing = MissingPeerPackages(kind);
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " needs Debian packages that are not installed: ", absl::StrJoin(missing, " "),
        " (apt-get install ", absl::StrJoin(missing, " "), ")"));
  }
  return StartPeer(options, kind);
}

// Samples the server's processes.
struct Samples {
  std::vector<ProcSample> samples;
};

Samples SampleAll(const BenchServer& server) {
  Samples out;
  for (const WatchedPid& watched : server.pids) {
    absl::StatusOr<ProcSample> sample = ReadProcSample(watched.pid);
    out.samples.push_back(sample.ok() ? *sample : ProcSample{});
  }
  return out;
}

uint64_t ServerRss(const BenchServer& server, const Samples& samples) {
  uint64_t rss = 0;
  for (size_t i = 0; i < server.pids.size(); ++i) {
    if (server.pids[i].server) rss += samples.samples[i].rss_bytes;
  }
  return rss;
}

// Fills processes and server CPU from two samples.
double FillProcesses(const BenchServer& server, const Samples& before, const Samples& after,
                     CaseResult* result) {
  double server_cpu = 0;
  result->processes.clear();
  for (size_t i = 0; i < server.pids.size(); ++i) {
    ProcDelta delta = Diff(before.samples[i], after.samples[i]);
    result->processes.push_back(
        {server.pids[i].name, server.pids[i].pid, delta.cpu_seconds, after.samples[i].rss_bytes});
    if (server.pids[i].server) server_cpu += delta.cpu_seconds;
  }
  result->server_cpu_s = server_cpu;
  result->server_rss_bytes = ServerRss(server, after);
  return server_cpu;
}

// CaseSpec is one measured case.
struct CaseSpec {
  std::string scenario;
  std::string name;
  size_t clients = 0;
  // Client i subscribes channel (i % channels).
  size_t channels = 1;
  double rate = 0;                // 0: connect only (idle)
  std::optional<PublishApi> api;  // default: the server's
  absl::Duration duration = absl::Seconds(10);
  size_t slow_every = 0;
  size_t payload_bytes = 100;
  absl::Duration settle = absl::Seconds(2);
  // Generator layout for this case (0: the options').
  size_t client_processes = 0;
  size_t client_threads = 0;
  // A delivery missing, duplicated or failed clients fail the case (smoke).
  bool strict = false;
};

std::string ChannelName(size_t i) { return BenchChannelName(i); }

absl::StatusOr<std::unique_ptr<ClientGroup>> StartClients(const BenchServer& server,
                                                          const BenchOptions& options,
                                                          const CaseSpec& spec) {
  ClientGroupSpec group;
  group.protocol = server.protocol;
  group.host = kHost;
  group.ports = server.ws_ports;
  group.source_addresses = options.source_addresses;
  group.resource = server.Resource("{channel}");
  group.token_secret = server.secret;
  group.tls_ca_file = server.tls_ca_file;
  group.token_issued_at = absl::Now();
  group.token_expires_at = group.token_issued_at + absl::Hours(2);
  group.clients = spec.clients;
  group.channels = spec.channels;
  group.slow_every = spec.slow_every;
  group.threads = spec.client_threads != 0 ? spec.client_threads : options.client_threads;
  group.processes = spec.client_processes != 0 ? spec.client_processes : options.client_processes;
  return ClientGroup::Start(group, options.self_binary);
}

// Waits until every client subscribed or failed; false on timeout.
bool WaitSubscribed(const ClientGroup& clients, size_t count, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (clients.subscribed() + clients.failed() >= count) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

absl::Status AppendResult(const BenchOptions& options, const CaseResult& result) {
  std::fputs(ToSummary(result).c_str(), stdout);
  std::fflush(stdout);
  if (options.results_path.empty()) return absl::OkStatus();
  std::ofstream out(options.results_path, std::ios::app);
  out << ToJsonLine(result) << "\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot append to ", options.results_path));
  return absl::OkStatus();
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

  Samples idle_before = SampleAll(server);
  absl::StatusOr<std::unique_ptr<ClientGroup>> started = StartClients(server, options, spec);
  if (!started.ok()) return started.status();
  ClientGroup& clients = **started;
  absl::Duration connect_timeout = absl::Seconds(30) + absl::Milliseconds(spec.clients * 5);
  if (!WaitSubscribed(clients, spec.clients, connect_timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat(server.name, ": only ", clients.subscribed(), " of ", spec.clients,
                     " clients subscribed within ", absl::FormatDuration(connect_timeout),
                     "; first error: ", clients.first_error()));
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
    Samples idle_after = SampleAll(server);
    FillProcesses(server, idle_before, idle_after, &result);
    double grown = static_cast<double>(ServerRss(server, idle_after)) -
                   static_cast<double>(ServerRss(server, idle_before));
    result.rss_per_client_bytes = grown / static_cast<double>(spec.clients);
    result.duration_s = absl::ToDoubleSeconds(subscribe_phase + spec.settle);
    clients.Stop();
    return result;
  }

  PublishPlan plan;
  plan.api = spec.api.value_or(server.publish_api);
  plan.target = server.publish_target;
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

  Samples before = SampleAll(server);
  int64_t publish_start = MonotonicNowNs();
  absl::StatusOr<PublishOutcome> outcome = RunPublisher(plan);
  if (!outcome.ok()) {
    sampling = false;
    sampler.join();
    return outcome.status();
  }
  // Deliveries each subscriber should see.
  const uint64_t expected = clients.Expected(outcome->last_seq);
  // Drain: wait until everything arrived or nothing moved for 3 s.
  uint64_t received = clients.received();
  int64_t last_progress = MonotonicNowNs();
  int64_t drain_deadline = last_progress + 30'000'000'000;
  while (received < expected && MonotonicNowNs() < drain_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    uint64_t now_received = clients.received();
    if (now_received != received) {
      received = now_received;
      last_progress = MonotonicNowNs();
    } else if (MonotonicNowNs() - last_progress > 3'000'000'000) {
      break;
    }
  }
  int64_t window_ns =
      std::max<int64_t>(last_progress - publish_start, absl::ToInt64Nanoseconds(outcome->elapsed));
  Samples after = SampleAll(server);
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
  // wirehub once per transport asked for; a peer once, over ws.
  std::vector<std::pair<std::string, bool>> runs;
  const bool any_tls = std::find(options.wirehub_tls.begin(), options.wirehub_tls.end(), true) !=
                       options.wirehub_tls.end();
  for (const std::string& name : options.servers) {
    if (name != "wirehub") {
      runs.emplace_back(name, false);
      continue;
    }
    for (bool tls : options.wirehub_tls) runs.emplace_back(name, tls);
  }
  for (const auto& [name, tls] : runs) {
    if (name != "wirehub" && !with_peers) {
      std::printf("(%s is not measured in this scenario)\n", name.c_str());
      continue;
    }
    if (name != "wirehub" && any_tls) {
      std::printf("(%s is measured over plain ws: --tls applies to wirehub only)\n", name.c_str());
    }
    absl::StatusOr<std::unique_ptr<BenchServer>> server =
        StartServer(name, options, edge_flags, tls);
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
      absl::StatusOr<CaseResult> result = RunCase(**server, options, spec);
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
    return RunCases(options, {idle, fan, spread, stream, broadcast}, true, options.edge_flags);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown scenario '", name, "'"));
}

}  // namespace wirehub::bench
