// ControlServer: wires EdgeHub and the gRPC services into control's two
// listeners, the public API for backends and the edge link for edges.
#ifndef WIREHUB_CONTROL_CONTROL_SERVER_H_
#define WIREHUB_CONTROL_CONTROL_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/admin_http_server.h"
#include "common/metrics.h"
#include "common/namespace_registry.h"
#include "control/api_call_tracker.h"
#include "control/api_key_set.h"
#include "control/authenticated_control_service.h"
#include "control/callback_thread_parker.h"
#include "control/certificate_reloader.h"
#include "control/control_metrics.h"
#include "control/control_service.h"
#include "control/edge_hub.h"
#include "control/edge_link_service.h"
#include "control/edge_session.h"
#include "control/engine_config.h"

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
  // gRPC callback threads left at work (control/callback_thread_parker.h);
  // 0: gRPC's own pool, clamp(cores / 2, 2, 16) threads.
  int callback_threads = 0;
  // Channel namespaces and their options; the default accepts every
  // namespace and keeps no history.
  NamespaceRegistry namespaces = NamespaceRegistry::Default();
  // The names of the configured namespaces (labels of the per-namespace
  // metrics; a namespace missing here is still served).
  std::vector<std::string> namespace_names;
  // The --config file ReloadConfig() re-reads; empty: nothing to reload.
  std::string config_file;
  // A reload that leaves no api_keys is refused (the API listens beyond
  // loopback without --insecure_api, which start-up refused too).
  bool api_keys_required = false;
  // The admin HTTP listener (/metrics, /healthz, /readyz): HOST:PORT, port
  // 0 picks a free one (admin_port()); empty: none.
  std::string admin_listen;
  // The stream engine (the config file's `engine`; not reloaded).
  EngineConfig engine;
  EdgeHubOptions hub;
  ControlServiceOptions service;
  EdgeSessionOptions edge_session;
};

// ControlServer owns the whole control process except flag parsing.
// Thread-compatible: Start, BeginDrain, FinishDrain and Shutdown from one
// thread; ReloadCertificates(), ReloadConfig(), Hurry() and the services
// inside are thread-safe.
//
// Health: grpc.health.v1 answers for "" and for each service on its
// listener (wirehub.control.v1.ControlService on the API,
// wirehub.edge.v1.EdgeLinkService on the edge link), SERVING once started
// and NOT_SERVING from BeginDrain() on. /healthz is 200 while the
// maintenance pass (expiry, silent edges; it takes the stores' and the
// registry's locks) completed within kHealthyMaintenanceAge: a wedged lock
// or thread fails it. /readyz is 200 when started, not draining and the
// engine is ready, else 503 with one reason per line.
//
// Drain (SIGTERM): BeginDrain() turns readiness and health off at once;
// the caller waits --drain_delay (load balancers take control out), then
// FinishDrain() answers new API calls UNAVAILABLE "draining", waits for the
// unary calls in flight (at most `grace`, cut short by Hurry()), stops the
// API listener (PublishStreams still open are cancelled), closes every edge
// stream with UNAVAILABLE so edges re-attach elsewhere, and stops.
class ControlServer {
 public:
  explicit ControlServer(ControlServerOptions options);
  ~ControlServer();

  // Start() loads the TLS files, binds both listeners and serves; returns
  // the API's bound port (the edge link's is edge_link_port()).
  absl::StatusOr<int> Start();
  // Shutdown() stops accepting, cancels streams and waits up to `grace`:
  // BeginDrain() and FinishDrain(grace) without a delay between. Idempotent.
  void Shutdown(absl::Duration grace);

  // See the class comment. BeginDrain() returns at once; FinishDrain()
  // returns when everything stopped (the admin listener last).
  void BeginDrain();
  void FinishDrain(absl::Duration grace);
  // A second signal: the in-flight wait of FinishDrain() ends now.
  void Hurry();

  // ReloadConfig() re-reads and validates --config (SIGHUP). A valid file
  // becomes the next version: new calls see its namespaces, API keys and
  // idempotency window (EdgeHub::SetConfig() says what happens to streams
  // whose namespace changed). An invalid one is logged as an ERROR naming
  // the problem, counted, and the version in force stays. OK when there is
  // no file.
  absl::Status ReloadConfig();
  // The configuration version in force: 1 at start, +1 per applied reload.
  uint64_t config_version() const;

  // The admin listener's bound port, once Start() succeeded (0: none).
  int admin_port() const { return admin_ != nullptr ? admin_->port() : 0; }

  // The admin endpoints' answers, also for tests.
  AdminResponse Healthz() const;
  AdminResponse Readyz() const;
  std::string RenderMetrics();

  metrics::Registry& metrics_registry() { return registry_; }

  // The edge link's bound port, once Start() succeeded.
  int edge_link_port() const { return edge_link_port_; }

  // ReloadCertificates() re-reads both listeners' TLS files now (SIGHUP);
  // the maintenance loop also does it every second. A bad pair is logged
  // and the current one kept.
  void ReloadCertificates();

  EdgeHub& hub() { return hub_; }

  // /healthz fails when the maintenance pass has not completed for longer.
  static constexpr absl::Duration kHealthyMaintenanceAge = absl::Seconds(10);

 private:
  void RunMaintenance();
  void StopMaintenance();
  void SetServing(bool serving);
  // Why /readyz fails; empty when ready.
  std::vector<std::string> NotReadyReasons() const;
  // Builds the hub's version of `config`.
  std::shared_ptr<const HubConfig> HubConfigOf(NamespaceRegistry namespaces,
                                               const std::vector<std::string>& names,
                                               absl::Duration idempotency_window);
  // Builds and starts one listener; `port` receives the bound port.
  absl::StatusOr<std::unique_ptr<grpc::Server>> StartListener(const std::string& address,
                                                              const char* what,
                                                              CertificateReloader* tls,
                                                              bool with_reflection,
                                                              grpc::Service* service, int* port);

  const ControlServerOptions options_;
  // Declared before everything that counts into them.
  metrics::Registry registry_;
  ControlMetrics metrics_;
  ApiCallTracker api_calls_;
  EdgeHub hub_;
  absl::Mutex maintenance_mu_;
  bool stopping_ ABSL_GUARDED_BY(maintenance_mu_) = false;
  std::thread maintenance_;
  // When the maintenance pass last completed (Unix nanoseconds).
  std::atomic<int64_t> last_maintenance_nanos_;
  ControlServiceImpl control_service_;
  AuthenticatedControlService authenticated_service_;
  EdgeLinkServiceImpl edge_link_service_;
  std::atomic<bool> started_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> hurry_{false};
  bool finished_ = false;
  // Serializes reloads (SIGHUP and tests) so versions count up one by one.
  mutable absl::Mutex reload_mu_;
  uint64_t config_version_ ABSL_GUARDED_BY(reload_mu_) = 1;
  std::unique_ptr<AdminHttpServer> admin_;
  std::unique_ptr<CertificateReloader> api_tls_;
  std::unique_ptr<CertificateReloader> edge_tls_;
  std::unique_ptr<grpc::Server> api_server_;
  std::unique_ptr<grpc::Server> edge_server_;
  std::unique_ptr<CallbackThreadParker> parker_;
  int edge_link_port_ = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CONTROL_SERVER_H_
