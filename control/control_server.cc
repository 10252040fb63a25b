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
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "control/control_config.h"
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

EdgeHubOptions WithMetrics(EdgeHubOptions options, ControlMetrics* metrics) {
  options.metrics = metrics;
  return options;
}

// Stops whatever is left of a drain as soon as possible.
constexpr absl::Duration kHurriedGrace = absl::ZeroDuration();
// Edge-link calls (client publications, history reads) still running when
// the edges are closed get at most this long.
constexpr absl::Duration kEdgeLinkGrace = absl::Seconds(1);

std::chrono::system_clock::time_point ChronoDeadline(absl::Duration from_now) {
  return absl::ToChronoTime(absl::Now() + from_now);
}

}  // namespace

ControlServer::ControlServer(ControlServerOptions options)
    : options_(std::move(options)),
      metrics_(&registry_),
      api_calls_(&metrics_),
      hub_(/*namespaces=*/nullptr, WithMetrics(options_.hub, &metrics_),
           NewStreamStore(options_.engine), NewPresenceStore(options_.engine),
           NewReplicaBus(options_.engine)),
      last_maintenance_nanos_(absl::ToUnixNanos(absl::Now())),
      control_service_(&hub_, options_.service),
      authenticated_service_(std::make_shared<const ApiKeySet>(options_.api_keys),
                             &control_service_),
      edge_link_service_(&hub_, EdgeLinkServiceOptions{options_.edge_session,
                                                       options_.service.max_payload_bytes}) {
  hub_.SetConfig(
      HubConfigOf(options_.namespaces, options_.namespace_names, options_.hub.idempotency_window));
  metrics::AddProcessMetrics(&registry_, "wirehub-control", options_.service.version);
  // Scrapes run on the admin thread; Shutdown() stops it before members die.
  registry_.AddCollector([this] {
    hub_.CollectMetrics();
    metrics_.ready().Set(NotReadyReasons().empty() ? 1 : 0);
    metrics_.draining().Set(draining_.load() ? 1 : 0);
  });
}

std::shared_ptr<const HubConfig> ControlServer::HubConfigOf(NamespaceRegistry namespaces,
                                                            const std::vector<std::string>& names,
                                                            absl::Duration idempotency_window) {
  auto config = std::make_shared<HubConfig>();
  config->namespaces =
      std::make_shared<const NamespaceTable>(std::move(namespaces), names, &metrics_);
  config->idempotency_window = idempotency_window;
  return config;
}

ControlServer::~ControlServer() { Shutdown(absl::Seconds(1)); }

absl::StatusOr<std::unique_ptr<grpc::Server>> ControlServer::StartListener(
    const std::string& address, const char* what, CertificateReloader* tls, bool with_reflection,
    grpc::Service* service, int* port) {
  // The API is the listener with reflection; only its calls are counted.
  const bool api = with_reflection;
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
  if (api) interceptors.push_back(api_calls_.NewFactory());
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
  if (!options_.admin_listen.empty()) {
    AdminHttpServerOptions admin_options;
    admin_options.listen = options_.admin_listen;
    absl::StatusOr<std::unique_ptr<AdminHttpServer>> admin = AdminHttpServer::Start(
        admin_options,
        {
            {"/metrics",
             [this] {
               return AdminResponse{200, std::string(metrics::kTextContentType), RenderMetrics()};
             }},
            {"/healthz", [this] { return Healthz(); }},
            {"/readyz", [this] { return Readyz(); }},
        });
    if (!admin.ok()) return admin.status();
    admin_ = *std::move(admin);
  }
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
  if (options_.callback_threads > 0) {
    absl::StatusOr<std::unique_ptr<CallbackThreadParker>> parker =
        CallbackThreadParker::Park(edge_server_.get(), options_.callback_threads, absl::Seconds(2));
    if (parker.ok()) {
      parker_ = *std::move(parker);
      WH_LOG(INFO) << "gRPC callback threads: " << options_.callback_threads << " of "
                   << CallbackThreadParker::PoolSize() << " at work";
    } else {
      WH_LOG(WARNING) << "gRPC callback threads left as gRPC made them: "
                      << parker.status().message();
    }
  }
  SetServing(true);
  control_service_.set_address(absl::StrCat(HostOf(options_.grpc_listen), ":", api_port));
  hub_.Start();
  WH_EVENT(INFO, "engine").Field("engine", options_.engine.Describe()).stream()
      << "stream engine: " << options_.engine.Describe();
  maintenance_ = std::thread([this] { RunMaintenance(); });
  started_.store(true);
  return api_port;
}

void ControlServer::SetServing(bool serving) {
  // The health service answers for the whole server ("") and per service.
  if (api_server_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* health = api_server_->GetHealthCheckService()) {
      health->SetServingStatus(serving);
      health->SetServingStatus(v1::ControlService::service_full_name(), serving);
    }
  }
  if (edge_server_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* health = edge_server_->GetHealthCheckService()) {
      health->SetServingStatus(serving);
      health->SetServingStatus(edge::v1::EdgeLinkService::service_full_name(), serving);
    }
  }
}

std::vector<std::string> ControlServer::NotReadyReasons() const {
  std::vector<std::string> reasons;
  if (!started_.load()) reasons.push_back("not started");
  if (draining_.load()) reasons.push_back("draining");
  absl::Status engine = hub_.EngineReady();
  if (!engine.ok()) reasons.push_back(absl::StrCat("engine not ready: ", engine.message()));
  return reasons;
}

AdminResponse ControlServer::Readyz() const {
  std::vector<std::string> reasons = NotReadyReasons();
  if (reasons.empty()) return AdminResponse{200, "text/plain; charset=utf-8", "ready\n"};
  return AdminResponse{503, "text/plain; charset=utf-8",
                       absl::StrCat(absl::StrJoin(reasons, "\n"), "\n")};
}

AdminResponse ControlServer::Healthz() const {
  const absl::Duration age =
      absl::Now() - absl::FromUnixNanos(last_maintenance_nanos_.load(std::memory_order_relaxed));
  if (age <= kHealthyMaintenanceAge) {
    return AdminResponse{200, "text/plain; charset=utf-8", "ok\n"};
  }
  return AdminResponse{
      503, "text/plain; charset=utf-8",
      absl::StrCat("maintenance pass last completed ",
                   absl::FormatDuration(absl::Trunc(age, absl::Seconds(1))), " ago\n")};
}

std::string ControlServer::RenderMetrics() { return registry_.Render(); }

uint64_t ControlServer::config_version() const {
  absl::MutexLock lock(&reload_mu_);
  return config_version_;
}

absl::Status ControlServer::ReloadConfig() {
  if (options_.config_file.empty()) {
    WH_LOG(INFO) << "no --config file: no configuration to reload";
    return absl::OkStatus();
  }
  absl::MutexLock lock(&reload_mu_);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(options_.config_file);
  absl::Status status = config.status();
  if (status.ok() && options_.api_keys_required && config->api_keys.empty()) {
    status = absl::FailedPreconditionError(absl::StrCat(
        options_.config_file,
        ": api_keys is empty, but the API listens beyond loopback (--insecure_api allows that)"));
  }
  if (!status.ok()) {
    metrics_.config_reloads(false).Increment();
    WH_EVENT(ERROR, "config_reload_refused").Field("version", config_version_).stream()
        << "configuration reload refused; version " << config_version_
        << " stays in force: " << status.message();
    return status;
  }
  if (config->engine.Describe() != options_.engine.Describe()) {
    WH_LOG(WARNING) << options_.config_file << ": the engine changed to "
                    << config->engine.Describe() << "; it takes effect at the next restart ("
                    << options_.engine.Describe() << " stays in force)";
  }
  const size_t namespaces = config->namespace_names.size();
  const size_t keys = config->api_keys.size();
  hub_.SetConfig(HubConfigOf(std::move(config->namespaces), config->namespace_names,
                             config->idempotency_window));
  authenticated_service_.SetKeys(std::make_shared<const ApiKeySet>(std::move(config->api_keys)));
  ++config_version_;
  metrics_.config_version().Set(static_cast<double>(config_version_));
  metrics_.config_reloads(true).Increment();
  WH_EVENT(INFO, "config_reloaded")
      .Field("version", config_version_)
      .Field("namespaces", namespaces)
      .Field("api_keys", keys);
  return absl::OkStatus();
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
    last_maintenance_nanos_.store(absl::ToUnixNanos(absl::Now()), std::memory_order_relaxed);
    maintenance_mu_.Lock();
  }
}

void ControlServer::StopMaintenance() {
  if (!maintenance_.joinable()) return;
  {
    absl::MutexLock lock(&maintenance_mu_);
    stopping_ = true;
  }
  maintenance_.join();
}

void ControlServer::BeginDrain() {
  if (draining_.exchange(true)) return;
  // Probes and health checkers see it at once; calls are still served.
  SetServing(false);
  metrics_.draining().Set(1);
  metrics_.ready().Set(0);
  if (started_.load()) {
    WH_EVENT(INFO, "drain_started").Field("edges", hub_.Counts().edges);
  }
}

void ControlServer::Hurry() { hurry_.store(true); }

void ControlServer::FinishDrain(absl::Duration grace) {
  if (finished_) return;
  finished_ = true;
  BeginDrain();
  // The whole pool works through the drain's cancellations, and no thread
  // is still held when gRPC joins them.
  parker_.reset();
  if (api_server_ != nullptr) {
    control_service_.set_refusing(true);
    WH_EVENT(INFO, "draining_api").Field("in_flight", api_calls_.unary_in_flight());
    const absl::Time deadline = absl::Now() + grace;
    while (api_calls_.unary_in_flight() > 0 && absl::Now() < deadline && !hurry_.load()) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    // What is left (streams, calls past the grace) is cancelled.
    api_server_->Shutdown(ChronoDeadline(kHurriedGrace));
    api_server_->Wait();
    // Edges re-attach elsewhere (or retry here until a new control runs).
    const size_t closed =
        hub_.CloseEdges(grpc::Status(grpc::StatusCode::UNAVAILABLE, "control is draining"));
    WH_EVENT(INFO, "edges_closed").Field("edges", closed);
    edge_server_->Shutdown(ChronoDeadline(hurry_.load() ? kHurriedGrace : kEdgeLinkGrace));
    edge_server_->Wait();
    api_server_.reset();
    edge_server_.reset();
  }
  StopMaintenance();
  // After the servers: no handler can start a command any more.
  hub_.Stop();
  if (started_.load()) WH_EVENT(INFO, "stopped");
  if (admin_ != nullptr) admin_->Stop();
}
void ControlServer::Shutdown(absl::Duration grace) { FinishDrain(grace); }

}  // namespace wirehub::control
