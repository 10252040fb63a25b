#include "tools/bench/bench_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tools/bench/bench_certificates.h"
#include "tools/bench/child_process.h"

namespace wirehub::bench {
namespace {

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

// The config file of the bench's wirehub: channels in the default
// namespace, open to every connected client as a public channel would be,
// with `history_size` publications kept for 600 s; `engine` names control's
// stream engine (the edges' copy has none).
std::string WirehubConfig(size_t history_size, const std::string& engine,
                          const std::string& redis_address) {
  std::string defaults = R"("allow_subscribe_for_client":true)";
  if (history_size > 0) {
    absl::StrAppend(&defaults, R"(,"history_size":)", history_size, R"(,"history_ttl":"600s")");
  }
  std::string config = absl::StrCat(R"({"defaults":{)", defaults, "}");
  if (engine == "redis") {
    absl::StrAppend(&config, R"(,"engine":{"type":"redis","redis":{"address":")", redis_address,
                    R"(","key_prefix":"wirehub","command_timeout":"1s"}})");
  } else if (!engine.empty()) {
    absl::StrAppend(&config, R"(,"engine":{"type":")", engine, R"("})");
  }
  return config + "}";
}

absl::StatusOr<std::unique_ptr<BenchServer>> StartWirehub(
    const BenchOptions& options, const std::vector<std::string>& edge_flags, bool tls,
    const EngineSetup& engine) {
  auto server = std::make_unique<BenchServer>();
  server->name = tls ? "wirehub-wss" : "wirehub";
  server->engine = engine.engine;
  server->control_replicas = std::max<size_t>(1, engine.control_replicas);
  std::string dir = absl::StrCat(options.work_dir, "/", server->name);
  if (!engine.engine.empty()) {
    absl::StrAppend(&dir, "-", engine.engine, "-x", server->control_replicas);
  }
  if (absl::Status s = MakeDir(dir); !s.ok()) return s;
  server->secret = RandomHex(32);
  std::string secret_file = dir + "/token-secret";
  std::string config_file = dir + "/config.json";
  if (absl::Status s = WriteFile(secret_file, server->secret + "\n"); !s.ok()) return s;
  const size_t history_size = engine.engine.empty() ? 0 : options.history_size;
  if (absl::Status s = WriteFile(config_file, WirehubConfig(history_size, "", "")); !s.ok()) {
    return s;
  }
  if (engine.engine == "redis") {
    RedisServerOptions redis_options;
    redis_options.work_dir = dir;
    redis_options.appendfsync = options.redis_appendfsync;
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start(redis_options);
    if (!redis.ok()) return redis.status();
    server->redis = *std::move(redis);
    server->redis_persistence = server->redis->persistence();
  } else if (engine.engine != "" && engine.engine != "memory") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown engine '", engine.engine, "' (memory, redis)"));
  }
  if (engine.engine == "memory" && server->control_replicas > 1) {
    return absl::InvalidArgumentError("the memory engine runs one control replica only");
  }
  std::vector<std::string> control_config_args;
  if (!engine.engine.empty()) {
    std::string control_config = dir + "/control.json";
    if (absl::Status s =
            WriteFile(control_config,
                      WirehubConfig(history_size, engine.engine,
                                    server->redis != nullptr ? server->redis->address() : ""));
        !s.ok()) {
      return s;
    }
    control_config_args.push_back("--config=" + control_config);
  }
  // A control with a separate edge link (--edge_listen) prints its port on
  // a second line; the edges attach there. An older one serves both on
  // its gRPC port.
  const std::string control_binary = options.bin_dir + "/wirehub-control";
  absl::StatusOr<bool> edge_link = HelpMentions(control_binary, "--edge_listen");
  if (!edge_link.ok()) return edge_link.status();
  std::vector<std::string> control_args = {absl::StrCat("--grpc_listen=", kBenchHost, ":0")};
  if (*edge_link) control_args.push_back(absl::StrCat("--edge_listen=", kBenchHost, ":0"));
  // Servers with an admin listener take a free port for it (several edges
  // run at once) and stop without a drain delay (nothing balances them).
  absl::StatusOr<bool> admin = HelpMentions(control_binary, "--admin_listen");
  if (!admin.ok()) return admin.status();
  std::vector<std::string> admin_args;
  if (*admin) {
    admin_args = {absl::StrCat("--admin_listen=", kBenchHost, ":0"), "--drain_delay=0s"};
    control_args.insert(control_args.end(), admin_args.begin(), admin_args.end());
  }
  control_args.insert(control_args.end(), control_config_args.begin(), control_config_args.end());
  // Replica r's edge link port; the edges attach to them in turn.
  std::vector<int> edge_link_ports;
  for (size_t r = 0; r < server->control_replicas; ++r) {
    std::string log = r == 0 ? dir + "/control.log" : absl::StrCat(dir, "/control", r, ".log");
    absl::StatusOr<std::unique_ptr<ServerProcess>> control =
        ServerProcess::Start("wirehub-control", control_binary, control_args,
                             "wirehub-control: grpc listening on", log, absl::Seconds(15));
    if (!control.ok()) return control.status();
    ServerProcess& process = **control;
    server->publish_targets.push_back(absl::StrCat(kBenchHost, ":", process.port()));
    int edge_link_port = process.port();
    if (*edge_link) {
      absl::StatusOr<int> port =
          process.WaitForLine("wirehub-control: edge link listening on", absl::Seconds(15));
      if (!port.ok()) return port.status();
      edge_link_port = *port;
    }
    edge_link_ports.push_back(edge_link_port);
    server->pids.push_back({r == 0 ? "control" : absl::StrCat("control", r), process.pid(), false});
    if (r == 0) {
      server->control = *std::move(control);
    } else {
      server->more_controls.push_back(*std::move(control));
    }
  }
  server->publish_target = server->publish_targets.front();
  if (server->redis != nullptr) server->pids.push_back({"redis", server->redis->pid(), false});
  std::vector<std::string> args = {absl::StrCat("--listen=", kBenchHost, ":0"),
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
  // Past one process's open-files limit (~20k clients) a case needs
  // several edges; they share the control, or take the replicas in turn.
  const size_t edges = std::max({size_t{1}, options.edges, server->control_replicas});
  for (size_t e = 0; e < edges; ++e) {
    std::string log = e == 0 ? dir + "/edge.log" : absl::StrCat(dir, "/edge", e, ".log");
    std::vector<std::string> edge_args = args;
    edge_args.push_back(
        absl::StrCat("--control=", kBenchHost, ":", edge_link_ports[e % edge_link_ports.size()]));
    absl::StatusOr<std::unique_ptr<ServerProcess>> edge =
        ServerProcess::Start("wirehub-edge", options.bin_dir + "/wirehub-edge", edge_args,
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
  server->publish_target = absl::StrCat(kBenchHost, ":", server->peer->publish_port());
  server->publish_targets = {server->publish_target};
  for (pid_t pid : server->peer->pids()) server->pids.push_back({server->name, pid, true});
  return server;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BenchServer>> StartServer(const std::string& name,
                                                         const BenchOptions& options,
                                                         const std::vector<std::string>& edge_flags,
                                                         bool tls, const EngineSetup& engine) {
  if (name == "wirehub") return StartWirehub(options, edge_flags, tls, engine);
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

ServerSamples SampleAll(const BenchServer& server) {
  ServerSamples out;
  for (const WatchedPid& watched : server.pids) {
    absl::StatusOr<ProcSample> sample = ReadProcSample(watched.pid);
    out.samples.push_back(sample.ok() ? *sample : ProcSample{});
  }
  return out;
}

uint64_t ServerRss(const BenchServer& server, const ServerSamples& samples) {
  uint64_t rss = 0;
  for (size_t i = 0; i < server.pids.size(); ++i) {
    if (server.pids[i].server) rss += samples.samples[i].rss_bytes;
  }
  return rss;
}

double FillProcesses(const BenchServer& server, const ServerSamples& before,
                     const ServerSamples& after, CaseResult* result) {
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

ClientGroupSpec ClientsOf(const BenchServer& server, const BenchOptions& options) {
  ClientGroupSpec group;
  group.protocol = server.protocol;
  group.host = kBenchHost;
  group.ports = server.ws_ports;
  group.source_addresses = options.source_addresses;
  group.resource = server.Resource("{channel}");
  group.token_secret = server.secret;
  group.tls_ca_file = server.tls_ca_file;
  group.token_issued_at = absl::Now();
  group.token_expires_at = group.token_issued_at + absl::Hours(2);
  group.threads = options.client_threads;
  group.processes = options.client_processes;
  return group;
}

absl::Status WaitSubscribed(const std::string& server_name, const ClientGroup& clients,
                            size_t count) {
  const absl::Duration timeout =
      absl::Seconds(30) + absl::Milliseconds(static_cast<int64_t>(count) * 5);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (clients.subscribed() + clients.failed() >= count) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      server_name, ": only ", clients.subscribed(), " of ", count, " clients subscribed within ",
      absl::FormatDuration(timeout), "; first error: ", clients.first_error()));
}

int64_t DrainDeliveries(const ClientGroup& clients, uint64_t expected) {
  uint64_t received = clients.received();
  int64_t last_progress = MonotonicNowNs();
  const int64_t deadline = last_progress + 30'000'000'000;
  while (received < expected && MonotonicNowNs() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    uint64_t now_received = clients.received();
    if (now_received != received) {
      received = now_received;
      last_progress = MonotonicNowNs();
    } else if (MonotonicNowNs() - last_progress > 3'000'000'000) {
      break;
    }
  }
  return last_progress;
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

}  // namespace wirehub::bench
