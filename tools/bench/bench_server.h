// BenchServer: a server under test as the scenarios start it (wirehub:
// one wirehub-control and its edges; a peer: nginx + Nchan or nats-server),
// with what the generator needs to reach it and to watch its processes.
#ifndef WIREHUB_TOOLS_BENCH_BENCH_SERVER_H_
#define WIREHUB_TOOLS_BENCH_BENCH_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/bench/case_result.h"
#include "tools/bench/client_group.h"
#include "tools/bench/client_pool.h"
#include "tools/bench/peer_server.h"
#include "tools/bench/proc_stats.h"
#include "tools/bench/rate_publisher.h"
#include "tools/bench/redis_server.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/server_process.h"

namespace wirehub::bench {

// Every server listens here; clients and publishers connect here.
inline constexpr char kBenchHost[] = "127.0.0.1";

// A process whose CPU and memory a case reports.
struct WatchedPid {
  std::string name;
  pid_t pid = 0;
  // Whether its CPU and memory count as the server's (the edge, a peer's
  // processes) rather than as a helper's (wirehub-control).
  bool server = true;
};

// EngineSetup is how wirehub's control runs (wirehub-bench --engines,
// --control_replicas): an empty engine is the memory engine without a
// control config file, as before the engines existed.
struct EngineSetup {
  std::string engine;  // "", "memory" or "redis"
  size_t control_replicas = 1;
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
  // Every control replica's gRPC target (wirehub; publish_target first).
  std::vector<std::string> publish_targets;
  // The engine dimension, as the results carry it (empty engine: not set).
  std::string engine;
  size_t control_replicas = 1;
  std::string redis_persistence;
  std::string secret;       // wirehub's token secret
  std::string tls_ca_file;  // wirehub over wss: the CA its clients verify against
  std::vector<WatchedPid> pids;
  // Declared first, so destroyed last: the controls stop before it.
  std::unique_ptr<RedisServer> redis;
  std::unique_ptr<ServerProcess> control;
  // Replicas 2..N (the Redis engine).
  std::vector<std::unique_ptr<ServerProcess>> more_controls;
  std::vector<std::unique_ptr<ServerProcess>> edges;
  std::unique_ptr<PeerServer> peer;
  std::string Resource(const std::string& channel) const {
    if (protocol == ClientProtocol::kWirehub) return "/connection/websocket";
    return peer->WsResource(channel);
  }
};

// StartServer()
//
// Starts server `name` (wirehub, nchan or nats) in a directory under
// options.work_dir: for wirehub one control and options.edges edges with
// `edge_flags`, over wss when `tls`; with `engine` set, control gets a
// config file naming it (history per options.history_size) and, for redis,
// a redis-server is started first and engine.control_replicas controls
// share it, edge e attaching to control e % replicas. A missing peer
// package is FailedPrecondition naming the packages.
absl::StatusOr<std::unique_ptr<BenchServer>> StartServer(const std::string& name,
                                                         const BenchOptions& options,
                                                         const std::vector<std::string>& edge_flags,
                                                         bool tls, const EngineSetup& engine = {});

// ServerSamples is one reading of every process in BenchServer::pids, in
// that order.
struct ServerSamples {
  std::vector<ProcSample> samples;
};

// SampleAll()
//
// Reads every watched process; one that cannot be read reads as zeros.
ServerSamples SampleAll(const BenchServer& server);

// ServerRss()
//
// The RSS of the processes that count as the server's.
uint64_t ServerRss(const BenchServer& server, const ServerSamples& samples);

// FillProcesses()
//
// Fills result->processes, server_cpu_s and server_rss_bytes from two
// samples; returns the server's CPU seconds between them.
double FillProcesses(const BenchServer& server, const ServerSamples& before,
                     const ServerSamples& after, CaseResult* result);

// ClientsOf()
//
// A ClientGroupSpec that reaches `server` (protocol, ports, resource,
// tokens valid for two hours, TLS) from options.source_addresses; the
// caller fills in the clients, their channels and their layout.
ClientGroupSpec ClientsOf(const BenchServer& server, const BenchOptions& options);

// WaitSubscribed()
//
// Waits until `count` clients subscribed or failed, at most 30 s plus 5 ms
// per client; DeadlineExceeded naming `server_name`, how many subscribed
// and the first client error otherwise.
absl::Status WaitSubscribed(const std::string& server_name, const ClientGroup& clients,
                            size_t count);

// DrainDeliveries()
//
// Waits until the clients received `expected`, or nothing arrived for 3 s,
// or 30 s passed; returns when the last delivery arrived (MonotonicNowNs()).
int64_t DrainDeliveries(const ClientGroup& clients, uint64_t expected);

// AppendResult()
//
// Prints the summary of `result` and appends its JSON line to
// options.results_path (when set).
absl::Status AppendResult(const BenchOptions& options, const CaseResult& result);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_BENCH_SERVER_H_
