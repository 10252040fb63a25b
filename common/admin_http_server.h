// AdminHttpServer: the operators' HTTP listener (--admin_listen) of edge and
// control: /metrics, /healthz and /readyz for Prometheus and Kubernetes
// probes. It is separate from the client and API ports so that it answers
// while those drain or refuse, and it serves only what its routes give: GET
// and HEAD of exact paths, no request body, one request per connection.
#ifndef WIREHUB_COMMON_ADMIN_HTTP_SERVER_H_
#define WIREHUB_COMMON_ADMIN_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct AdminHttpServerOptions {
  // HOST:PORT; port 0 picks a free port.
  std::string listen = "127.0.0.1:0";
  // Connections held at once. Past it a new connection replaces the
  // oldest one still sending its request; when all are being answered,
  // newcomers wait in the kernel's backlog.
  int max_connections = 64;
  // A request not complete within this time is closed (answered 408).
  absl::Duration read_timeout = absl::Seconds(2);
  // Bytes of request head accepted; a longer one is answered 431.
  size_t max_request_bytes = 8192;
  // Time to write a response before the connection is dropped.
  absl::Duration write_timeout = absl::Seconds(10);
};

// One thread of its own runs accept, read, handler and write with poll();
// handlers run on it one at a time (a handler that waits on another thread,
// like the edge's /healthz asking its loop, must bound the wait).
// Thread: Start() and Stop() from one owner thread; handlers on the server's.
class AdminHttpServer {
 public:
  using Handler = std::function<AdminResponse()>;

  // Binds and starts serving `routes` (exact paths, "/metrics" ...). An
  // address in use or unparsable is an error naming it.
  static absl::StatusOr<std::unique_ptr<AdminHttpServer>> Start(
      AdminHttpServerOptions options, std::map<std::string, Handler> routes);
  ~AdminHttpServer();  // Stop().
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // The bound port.
  int port() const { return port_; }
  // Closes the listener and every connection; joins the thread. Idempotent.
  void Stop();

 private:
  AdminHttpServer(AdminHttpServerOptions options, std::map<std::string, Handler> routes,
                  int listen_fd, int wake_fd, int port);
  void Run();

  const AdminHttpServerOptions options_;
  const std::map<std::string, Handler> routes_;
  const int listen_fd_;
  // eventfd that wakes the poll loop for Stop().
  const int wake_fd_;
  const int port_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace wirehub

#endif  // WIREHUB_COMMON_ADMIN_HTTP_SERVER_H_
