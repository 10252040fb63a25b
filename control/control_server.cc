#include "control/control_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace wirehub::control {

ControlServer::ControlServer(ControlServerOptions options)
    : options_(std::move(options)),
      hub_(&options_.namespaces, options_.hub),
      control_service_(&hub_, options_.service),
      edge_link_service_(&hub_, EdgeLinkServiceOptions{options_.edge_session,
                                                       options_.service.max_payload_bytes}) {}

ControlServer::~ControlServer() { Shutdown(absl::Seconds(1)); }

absl::StatusOr<int> ControlServer::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.grpc_listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&control_service_);
  builder.RegisterService(&edge_link_service_);
  // Room for a full ControlMessage batch plus a maximal publication.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(options_.service.max_payload_bytes * 2 + (1 << 20)));
  builder.SetMaxSendMessageSize(static_cast<int>(options_.edge_session.max_batch_bytes * 2 +
                                                 options_.service.max_payload_bytes * 2));
  // Edges keep one long stream open; keepalive detects a dead peer.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC binds with SO_REUSEPORT by default: a second control on the same
  // port would start and take half of the API calls. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.grpc_listen, " (address in use or invalid)"));
  }
  // The health service answers for the whole server ("") and per service.
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    health->SetServingStatus(v1::ControlService::service_full_name(), true);
    health->SetServingStatus(edge::v1::EdgeLinkService::service_full_name(), true);
  }
  std::string host = options_.grpc_listen.substr(0, options_.grpc_listen.rfind(':'));
  control_service_.set_address(absl::StrCat(host, ":", port));
  hub_.Start();
  maintenance_ = std::thread([this] { RunMaintenance(); });
  return port;
}

void ControlServer::RunMaintenance() {
  absl::MutexLock lock(&maintenance_mu_);
  while (!maintenance_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1))) {
    maintenance_mu_.Unlock();
    hub_.Maintain(absl::Now());
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
  if (server_ == nullptr) {
    hub_.Stop();
    return;
  }
  // Health checkers see NOT_SERVING while the server drains.
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->Shutdown();
  }
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
  server_->Wait();
  server_.reset();
  // After the server: no handler can start a command any more.
  hub_.Stop();
}

}  // namespace wirehub::control
