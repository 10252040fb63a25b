// The peers wirehub is compared with (docs/benchmarks.md): nginx with the
// Nchan module and nats-server, as Debian packages them. The bench writes
// their configuration, starts them on 127.0.0.1, publishes to them with
// peer_publisher.h and subscribes over WebSocket, then stops them.
#ifndef WIREHUB_TOOLS_BENCH_PEER_SERVER_H_
#define WIREHUB_TOOLS_BENCH_PEER_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wirehub::bench {

enum class PeerKind { kNchan, kNats };

// PeerName()
//
// "nchan" or "nats".
std::string_view PeerName(PeerKind kind);

// MissingPeerPackages()
//
// The Debian packages `kind` needs that are missing, empty when the peer can
// run: for kNchan "nginx-light" unless /usr/sbin/nginx exists and dpkg
// reports an nginx package installed (nginx, nginx-light, nginx-core,
// nginx-full or nginx-extras), and "libnginx-mod-nchan" unless it is
// installed and its module file exists; for kNats "nats-server" unless it
// is installed and /usr/sbin/nats-server or /usr/bin/nats-server exists.
// Without a readable dpkg database only the files are checked.
std::vector<std::string> MissingPeerPackages(PeerKind kind);

struct PeerOptions {
  // An existing directory for the configuration, pid file, logs and nginx's
  // temporary files; the caller creates it (e.g. with mkdtemp) and removes
  // it.
  std::string work_dir;
  // The WebSocket listener on 127.0.0.1. Pick it from 65001-65535: lower
  // ports can be taken by the kernel for client sockets.
  int ws_port = 0;
  // nchan: the HTTP publish listener, which may equal ws_port (one server
  // block serves both). nats: the NATS client (TCP) port, which must differ.
  int publish_port = 0;
  // Connections the peer may hold: nginx's worker_connections and
  // worker_rlimit_nofile, nats-server's max_connections. The hard limit on
  // open files per process here is 20000.
  int max_connections = 19500;
};

// NchanConfig(), NatsConfig()
//
// The configuration file PeerServer::Start() writes, exposed for tests.
//
// nchan: one worker in the foreground (`daemon off; master_process on;`),
// error log, pid file and temporary paths in work_dir, no access log,
// keep-alive publishers that nginx never closes for request count
// (keepalive_requests) or age, and two locations:
//   /sub/<channel>  WebSocket subscriber; each message arrives as the raw
//                   published body in one text frame; a new subscriber
//                   waits for the next message (no backlog);
//   /pub/<channel>  HTTP publisher (POST the message as the body).
// A channel name is letters, digits, '_', ':' and '-' (e.g. "bench0",
// "b_12", "run:1-a"); other names get 404. Each channel keeps its last 5
// messages for 10 s, so memory does not grow with a run's length.
//
// nats: the client port and a `websocket { no_tls: true }` listener on
// 127.0.0.1, pid file and log in work_dir, max_connections, and a generous
// write_deadline so a slow subscriber under a fan-out burst is not cut off.
std::string NchanConfig(const PeerOptions& options);
std::string NatsConfig(const PeerOptions& options);

// PeerServer is one running peer process (nginx's master with its worker,
// or nats-server), a child of this process.
// Thread: main thread only (the child is asked to get SIGTERM when the
// thread that started it exits, so a crashed bench leaves no peer behind).
//
// Example:
//   PeerOptions options{.work_dir = dir, .ws_port = 65101, .publish_port = 65101};
//   ASSIGN_OR_RETURN(std::unique_ptr<PeerServer> peer, PeerServer::Start(PeerKind::kNchan,
//   options));
//   // Subscribers: ws://127.0.0.1:<peer->ws_port()><peer->WsResource("bench0")>
//   // Publisher:   ConnectNchanPublisher("127.0.0.1", peer->publish_port(), ...)
//   ReadProcSample(pid) for pid in peer->pids() before and after the run.
class PeerServer {
 public:
  // Start()
  //
  // Writes the configuration into options.work_dir, starts the peer in the
  // foreground (its stdout and stderr go to work_dir/<binary>.out) and waits
  // up to 5 s until both ports accept TCP connections (and, for nginx, its
  // worker runs).
  //
  // Errors: FailedPrecondition when packages are missing
  // (MissingPeerPackages()); InvalidArgument for bad options; AlreadyExists
  // when a port is in use (something accepts on it, or the peer failed to
  // bind it), so the caller can retry with other ports; Unavailable when the
  // peer exits, DeadlineExceeded when it is not ready in time, both with the
  // tail of its logs; Internal when files or the process cannot be created.
  static absl::StatusOr<std::unique_ptr<PeerServer>> Start(PeerKind kind,
                                                           const PeerOptions& options);

  // Sends SIGTERM (nginx and nats-server both shut down fast on it), waits
  // up to 3 s, then SIGKILLs the process (and nginx's workers); reaps it.
  ~PeerServer();

  PeerServer(const PeerServer&) = delete;
  PeerServer& operator=(const PeerServer&) = delete;

  PeerKind kind() const { return kind_; }

  // pids()
  //
  // The processes whose CPU time and memory are the peer's cost: nginx's
  // master and its worker (read from /proc at each call), or nats-server.
  // Empty once the process has exited.
  std::vector<pid_t> pids() const;

  int ws_port() const { return options_.ws_port; }
  int publish_port() const { return options_.publish_port; }

  // WsResource()
  //
  // The WebSocket request path for subscribing to `channel`: nchan
  // "/sub/<channel>"; nats "/" (the subscription is a SUB sent inside the
  // connection).
  std::string WsResource(std::string_view channel) const;

  // CheckRunning()
  //
  // OK while the peer runs; Unavailable with the tail of its logs once it
  // has exited (e.g. to explain a run whose subscribers were all cut off).
  absl::Status CheckRunning();

  // RecentLog()
  //
  // The last `bytes` of each of the peer's log files, labelled.
  std::string RecentLog(size_t bytes = 2000) const;

 private:
  PeerServer(PeerKind kind, const PeerOptions& options) : kind_(kind), options_(options) {}

  // Waits until the peer is ready, exited or `timeout_ms` passed.
  absl::Status WaitReady(int timeout_ms);
  // Reaps the process if it has exited; returns whether it has.
  bool Reap();
  std::vector<std::string> LogPaths() const;

  PeerKind kind_;
  PeerOptions options_;
  pid_t pid_ = -1;
  // Set once the process has been reaped: pid_ may belong to another
  // process by then.
  bool exited_ = false;
  int exit_status_ = 0;
};

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_PEER_SERVER_H_
