#include "control/control_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "control/unary_deadline_interceptor.h"

namespace wirehub::control {
namespace {

// The name ProtoServerReflectionPlugin reports.
constexpr char kReflectionPluginName[] = "proto_server_reflection";

// Keepalive enforcement: a client may ping at most this often without
// calls in flight (edges ping every 10 s); every ping sooner is a strike,
// and more than kMaxPingStrikes strikes close the connection (GOAWAY
// ENHANCE_YOUR_CALM).
constexpr int kMinPingIntervalMs = 5000;
constexpr int kMaxPingStrikes = 2;

// Reflection registers itself into every ServerBuilder made after
// InitProtoReflectionServerBuilderPlugin(); this option takes it out of
// one (the edge link describes nothing to whoever connects).
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
                                    return plugin->name() == kReflectionPluginName;
                                  }),
                   plugins->end());
  }
};

std::string HostOf(const std::string& address) { return address.substr(0, address.rfind(':')); }

}  // namespace

ControlServer::ControlServer(ControlServerOptions options)
    : options_(std::move(options)),
      hub_(&options_.namespaces, options_.hub),
      control_service_(&hub_, options_.service),
      authenticated_service_(&options_.api_keys, &control_service_),
      edge_link_service_(&hub_, EdgeLinkServiceOptions{options_.edge_session,
                                                       options_.service.max_payload_bytes}) {}

ControlServer::~ControlServer() { Shutdown(absl::Seconds(1)); }

absl::StatusOr<std::unique_ptr<grpc::Server>> ControlServer::StartListener(
    const std::string& address, const char* what, CertificateReloader* tls, bool with_reflection,
    grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  if (!with_reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(
      address, tls != nullptr ? tls->ServerCredentials() : grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  // Room for a full ControlMessage batch or an edge's 256 KiB page plus a
  // maximal publication, and no more.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(options_.service.max_payload_bytes * 2 + (1 << 20)));
  builder.SetMaxSendMessageSize(static_cast<int>(options_.edge_session.max_batch_bytes * 2 +
                                                 options_.service.max_payload_bytes * 2));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams);
  // Edges keep one long stream open; keepalive detects a dead peer.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kMinPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, kMaxPingStrikes);
  // gRPC binds with SO_REUSEPORT by default: a second control on the same
  // port would start and take half of the calls. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(
      std::make_unique<UnaryDeadlineInterceptorFactory>(options_.api_call_timeout));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, " for the ", what,
                     " (address in use or invalid, or its TLS files refused)"));
  }
  return server;
}

absl::StatusOr<int> ControlServer::Start() {
  if (options_.api_tls.has_value()) {
    absl::StatusOr<std::unique_ptr<CertificateReloader>> tls =
        CertificateReloader::Create("API", *options_.api_tls);
    if (!tls.ok()) return tls.status();
    api_tls_ = *std::move(tls);
  }
  if (options_.edge_tls.has_value()) {
    absl::StatusOr<std::unique_ptr<CertificateReloader>> tls =
        CertificateReloader::Create("edge link", *options_.edge_tls);
    if (!tls.ok()) return tls.status();
    edge_tls_ = *std::move(tls);
  }
  for (const auto& [what, tls] :
       {std::pair{"API", &options_.api_tls}, std::pair{"edge link", &options_.edge_tls}}) {
    if (!tls->has_value()) continue;
    WH_LOG(INFO) << what << " TLS: serving " << (*tls)->cert_file << " and " << (*tls)->key_file
                 << ((*tls)->client_ca_file.empty()
                         ? std::string()
                         : absl::StrCat("; client certificates required, from the CAs in ",
                                        (*tls)->client_ca_file));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  int api_port = 0;
  absl::StatusOr<std::unique_ptr<grpc::Server>> api =
      StartListener(options_.grpc_listen, "API", api_tls_.get(), /*with_reflection=*/true,
                    &authenticated_service_, &api_port);
  if (!api.ok()) return api.status();
  absl::StatusOr<std::unique_ptr<grpc::Server>> edge =
      StartListener(options_.edge_listen, "edge link", edge_tls_.get(),
                    /*with_reflection=*/false, &edge_link_service_, &edge_link_port_);
  if (!edge.ok()) {
    (*api)->Shutdown();
    return edge.status();
  }
  api_server_ = *std::move(api);
  edge_server_ = *std::move(edge);
  // The health service answers for the whole server ("") and per service.
  if (grpc::HealthCheckServiceInterface* health = api_server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
    health->SetServingStatus(v1::ControlService::service_full_name(), true);
  }
  if (grpc::HealthCheckServiceInterface* health = edge_server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
    health->SetServingStatus(edge::v1::EdgeLinkService::service_full_name(), true);
  }
  control_service_.set_address(absl::StrCat(HostOf(options_.grpc_listen), ":", api_port));
  hub_.Start();
  maintenance_ = std::thread([this] { RunMaintenance(); });
  return api_port;
}

void ControlServer::ReloadCertificates() {
  // Errors are logged by Reload() itself.
  if (api_tls_ != nullptr) (void)api_tls_->Reload();
  if (edge_tls_ != nullptr) (void)edge_tls_->Reload();
}

void ControlServer::RunMaintenance() {
  absl::MutexLock lock(&maintenance_mu_);
  while (!maintenance_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1))) {
    maintenance_mu_.Unlock();
    hub_.Maintain(absl::Now());
    // Polling by path follows a swapped symlink (Kubernetes' "..data").
    ReloadCertificates();
    maintenance_mu_.Lock();
  }
}

void ControlServer::Shutdown(absl::Duration grace) {
  if (maintenance_.joinable()) {
    {
      absl::MutexLock lock(&maintenance_mu_);
      stopping_ = true;
    }
    maintenance_.join();
  }
  if (api_server_ == nullptr) {
    hub_.Stop();
    return;
  }
  // Health checkers see NOT_SERVING while the servers drain.
  for (grpc::Server* server : {api_server_.get(), edge_server_.get()}) {
    if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
      health->Shutdown();
    }
  }
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(absl::ToInt64Milliseconds(grace));
  // Both drain at once; the API first so no backend call starts a command
  // for an edge that is going away.
  api_server_->Shutdown(deadline);
  edge_server_->Shutdown(deadline);
  api_server_->Wait();
  edge_server_->Wait();
  api_server_.reset();
  edge_server_.reset();
  // After the servers: no handler can start a command any more.
  hub_.Stop();
}

}  // namespace wirehub::control
