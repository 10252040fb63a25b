// ControlServer: wires EdgeHub and the gRPC services into control's two
// listeners, the public API for backends and the edge link for edges.
#ifndef WIREHUB_CONTROL_CONTROL_SERVER_H_
#define WIREHUB_CONTROL_CONTROL_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/namespace_registry.h"
#include "control/api_key_set.h"
#include "control/authenticated_control_service.h"
#include "control/certificate_reloader.h"
#include "control/control_service.h"
#include "control/edge_hub.h"
#include "control/edge_link_service.h"
#include "control/edge_session.h"

namespace wirehub::control {

struct ControlServerOptions {
  // The public API (ControlService, health, reflection): HOST:PORT; port 0
  // picks a free port (read it back from Start()).
  std::string grpc_listen = "127.0.0.1:7100";
  // The edge link (EdgeLinkService, health): HOST:PORT; port 0 picks a free
  // port (edge_link_port()).
  std::string edge_listen = "127.0.0.1:7101";
  // TLS of each listener; none: plaintext. `edge_tls.client_ca_file` makes
  // the edge link require a client certificate from that CA.
  std::optional<TlsFiles> api_tls;
  std::optional<TlsFiles> edge_tls;
  // Keys backends present to the API; empty: none asked for.
  ApiKeySet api_keys;
  // HTTP/2 streams one connection may have open at once, on each listener
  // (a backend keeps one PublishStream per conversation).
  int max_concurrent_streams = 1000;
  // Unary API calls that bring no deadline are cancelled after this long.
  absl::Duration api_call_timeout = absl::Seconds(30);
  // Channel namespaces and their options; the default accepts every
  // namespace and keeps no history.
  NamespaceRegistry namespaces = NamespaceRegistry::Default();
  EdgeHubOptions hub;
  ControlServiceOptions service;
  EdgeSessionOptions edge_session;
};

// ControlServer owns the whole control process except flag parsing.
// Thread-compatible: Start/Shutdown from one thread; ReloadCertificates()
// and the services inside are thread-safe.
class ControlServer {
 public:
  explicit ControlServer(ControlServerOptions options);
  ~ControlServer();

  // Start() loads the TLS files, binds both listeners and serves; returns
  // the API's bound port (the edge link's is edge_link_port()).
  absl::StatusOr<int> Start();
  // Shutdown() stops accepting, cancels streams and waits up to `grace`.
  void Shutdown(absl::Duration grace);

  // The edge link's bound port, once Start() succeeded.
  int edge_link_port() const { return edge_link_port_; }

  // ReloadCertificates() re-reads both listeners' TLS files now (SIGHUP);
  // the maintenance loop also does it every second. A bad pair is logged
  // and the current one kept.
  void ReloadCertificates();

  EdgeHub& hub() { return hub_; }

 private:
  void RunMaintenance();
  // Builds and starts one listener; `port` receives the bound port.
  absl::StatusOr<std::unique_ptr<grpc::Server>> StartListener(const std::string& address,
                                                              const char* what,
                                                              CertificateReloader* tls,
                                                              bool with_reflection,
                                                              grpc::Service* service, int* port);

  const ControlServerOptions options_;
  EdgeHub hub_;
  absl::Mutex maintenance_mu_;
  bool stopping_ ABSL_GUARDED_BY(maintenance_mu_) = false;
  std::thread maintenance_;
  ControlServiceImpl control_service_;
  AuthenticatedControlService authenticated_service_;
  EdgeLinkServiceImpl edge_link_service_;
  std::unique_ptr<CertificateReloader> api_tls_;
  std::unique_ptr<CertificateReloader> edge_tls_;
  std::unique_ptr<grpc::Server> api_server_;
  std::unique_ptr<grpc::Server> edge_server_;
  int edge_link_port_ = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CONTROL_SERVER_H_
