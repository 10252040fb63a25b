// ControlServer: wires EdgeHub and the gRPC services into one server.
#ifndef WIREHUB_CONTROL_CONTROL_SERVER_H_
#define WIREHUB_CONTROL_CONTROL_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/namespace_registry.h"
#include "control/control_service.h"
#include "control/edge_hub.h"
#include "control/edge_link_service.h"
#include "control/edge_session.h"

namespace wirehub::control {

struct ControlServerOptions {
  // HOST:PORT; port 0 picks a free port (read it back from Start()).
  std::string grpc_listen = "127.0.0.1:7100";
  // Channel namespaces and their options; the default accepts every
  // namespace and keeps no history.
  NamespaceRegistry namespaces = NamespaceRegistry::Default();
  EdgeHubOptions hub;
  ControlServiceOptions service;
  EdgeSessionOptions edge_session;
};

// ControlServer owns the whole control process except flag parsing.
// Thread-compatible: Start/Shutdown from one thread; the services inside
// are thread-safe.
class ControlServer {
 public:
  explicit ControlServer(ControlServerOptions options);
  ~ControlServer();

  // Start() binds and serves; returns the bound port.
  absl::StatusOr<int> Start();
  // Shutdown() stops accepting, cancels streams and waits up to `grace`.
  void Shutdown(absl::Duration grace);

  EdgeHub& hub() { return hub_; }

 private:
  void RunMaintenance();

  const ControlServerOptions options_;
  EdgeHub hub_;
  absl::Mutex maintenance_mu_;
  bool stopping_ ABSL_GUARDED_BY(maintenance_mu_) = false;
  std::thread maintenance_;
  ControlServiceImpl control_service_;
  EdgeLinkServiceImpl edge_link_service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CONTROL_SERVER_H_
