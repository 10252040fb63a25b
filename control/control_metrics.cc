#include "control/control_metrics.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/grpc_code_name.h"
#include "google/protobuf/descriptor.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::control {
namespace {

constexpr std::array<std::string_view, kRefusalReasons> kReasonNames = {
    "invalid_argument",  "unknown_namespace",  "payload_too_large", "not_json",
    "permission_denied", "resource_exhausted", "unavailable",       "other",
};

constexpr std::array<std::string_view, 5> kOperationNames = {
    "publish", "history", "presence_add", "presence_remove", "presence_read",
};

// API calls: 100 us .. ~13 s (calls forwarded to edges wait up to 5 s).
std::vector<double> CallBuckets() { return metrics::ExponentialBuckets(0.0001, 2, 18); }
// Engine operations of the memory engine are micro-seconds; a network
// engine's are milli-seconds: 1 us .. ~1 s.
std::vector<double> EngineBuckets() { return metrics::ExponentialBuckets(0.000001, 4, 11); }

}  // namespace

std::string_view RefusalReasonName(RefusalReason reason) {
  return kReasonNames[static_cast<size_t>(reason)];
}

RefusalReason RefusalReasonOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: {
      const absl::string_view message = status.message();
      // The messages of ValidatePublicationData and EdgeHub::NotConfigured.
      if (absl::StartsWith(message, "data is ") && absl::StrContains(message, "over the limit")) {
        return RefusalReason::kPayloadTooLarge;
      }
      if (absl::StartsWith(message, "data: ")) return RefusalReason::kNotJson;
      if (absl::StrContains(message, "namespace that is not configured")) {
        return RefusalReason::kUnknownNamespace;
      }
      return RefusalReason::kInvalidArgument;
    }
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return RefusalReason::kPermissionDenied;
    case absl::StatusCode::kResourceExhausted:
      return RefusalReason::kResourceExhausted;
    case absl::StatusCode::kUnavailable:
      return RefusalReason::kUnavailable;
    default:
      return RefusalReason::kOther;
  }
}

MethodSeries::MethodSeries(std::string name, metrics::CounterFamily* calls,
                           metrics::Histogram* duration)
    : name_(std::move(name)), calls_(calls), duration_(duration) {
  by_code_[0].store(&calls_->Get({name_, kGrpcCodeNames[0]}), std::memory_order_release);
}

void MethodSeries::Record(grpc::StatusCode code, absl::Duration duration) {
  size_t index = static_cast<size_t>(code);
  if (index >= kCodes) index = static_cast<size_t>(grpc::StatusCode::UNKNOWN);
  metrics::Counter* counter = by_code_[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Get() returns the same series to racing callers.
    counter = &calls_->Get({name_, kGrpcCodeNames[index]});
    by_code_[index].store(counter, std::memory_order_release);
  }
  counter->Increment();
  if (duration >= absl::ZeroDuration()) duration_->ObserveDuration(duration);
}

ControlMetrics::ControlMetrics(metrics::Registry* registry, std::string engine)
    : registry_(registry),
      publications_(registry->AddCounter("wirehub_control_publications_total",
                                         "Publications accepted (sequenced), by namespace.",
                                         {"namespace"})),
      refusals_(registry->AddCounter(
          "wirehub_control_publication_refusals_total",
          "Publications refused, by namespace (\"\" when unknown or invalid) and reason.",
          {"namespace", "reason"})),
      api_calls_(registry->AddCounter("wirehub_control_api_calls_total",
                                      "ControlService calls answered, by method and gRPC code.",
                                      {"method", "code"})),
      api_durations_(registry->AddHistogram(
          "wirehub_control_api_call_duration_seconds",
          "Time from a ControlService call's arrival to its status, by method (unary calls).",
          CallBuckets(), {"method"})),
      edge_queue_publications_(registry->AddGauge(
          "wirehub_control_edge_queue_publications",
          "Publications, events and commands queued for an attached edge.", {"edge"})),
      edge_queue_bytes_(registry->AddGauge("wirehub_control_edge_queue_bytes",
                                           "Bytes queued for an attached edge.", {"edge"})) {
  publish_stream_items_ =
      &registry
           ->AddCounter("wirehub_control_publish_stream_items_total",
                        "Items read from PublishStream calls (accepted or refused).")
           .Get({});
  edges_ = &registry->AddGauge("wirehub_control_edges", "Attached edges.").Get({});
  edge_attaches_ =
      &registry->AddCounter("wirehub_control_edge_attaches_total", "Edges that attached.").Get({});
  slow_edge_detaches_ = &registry
                             ->AddCounter("wirehub_control_slow_edge_detaches_total",
                                          "Edges detached because their outbound queue overflowed.")
                             .Get({});
  streams_ = &registry
                  ->AddGauge("wirehub_control_streams",
                             "Channel streams tracked (positions, history, idempotency keys).")
                  .Get({});
  history_publications_ = &registry
                               ->AddGauge("wirehub_control_history_publications",
                                          "Publications kept in history (as of the last "
                                          "maintenance pass, every second).")
                               .Get({});
  history_bytes_ = &registry
                        ->AddGauge("wirehub_control_history_bytes",
                                   "Memory held by history and idempotency keys, in bytes (as of "
                                   "the last maintenance pass).")
                        .Get({});
  presence_entries_ =
      &registry->AddGauge("wirehub_control_presence_entries", "Presence entries (channel, client).")
           .Get({});
  engine_up_ =
      &registry
           ->AddGauge("wirehub_control_engine_up",
                      "1 when the stream and presence engine answers, 0 otherwise.", {"engine"})
           .Get({engine});
  metrics::HistogramFamily& operations =
      registry->AddHistogram("wirehub_control_engine_operation_duration_seconds",
                             "Duration of engine operations, by engine and operation.",
                             EngineBuckets(), {"engine", "operation"});
  for (size_t i = 0; i < kOperationNames.size(); ++i) {
    engine_operations_[i] = &operations.Get({engine, kOperationNames[i]});
  }
  ready_ = &registry
                ->AddGauge("wirehub_control_ready",
                           "1 when /readyz answers 200 (serving, not draining, engine up).")
                .Get({});
  draining_ = &registry->AddGauge("wirehub_control_draining", "1 once a drain began.").Get({});
  metrics::CounterFamily& reloads = registry->AddCounter(
      "wirehub_config_reloads_total", "Configuration reloads (SIGHUP), by result.", {"result"});
  reloads_ok_ = &reloads.Get({"ok"});
  reloads_error_ = &reloads.Get({"error"});
  config_version_ =
      &registry
           ->AddGauge("wirehub_config_version",
                      "Version of the configuration in force: 1 at start, +1 per applied reload.")
           .Get({});
  config_version_->Set(1);

  // Through a message of the same file: that links the file's descriptor in.
  const google::protobuf::ServiceDescriptor* service =
      v1::PublishRequest::descriptor()->file()->FindServiceByName("ControlService");
  if (service != nullptr) {
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string& name = service->method(i)->name();
      methods_.emplace(
          absl::StrCat("/", service->full_name(), "/", name),
          std::make_unique<MethodSeries>(name, &api_calls_, &api_durations_.Get({name})));
    }
  }
}

NamespaceSeries& ControlMetrics::Namespace(std::string_view name) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = namespaces_.try_emplace(AsAbsl(name));
  NamespaceSeries& series = it->second;
  if (inserted) {
    series.publications = &publications_.Get({name});
    for (size_t i = 0; i < kRefusalReasons; ++i) {
      series.refusals[i] = &refusals_.Get({name, kReasonNames[i]});
    }
  }
  return series;
}

MethodSeries* ControlMetrics::Method(std::string_view full_method) const {
  auto it = methods_.find(AsAbsl(full_method));
  return it == methods_.end() ? nullptr : it->second.get();
}

void ControlMetrics::SetEdgeQueues(const absl::flat_hash_map<std::string, QueueDepth>& depths) {
  absl::MutexLock lock(&mu_);
  for (auto it = queue_edges_.begin(); it != queue_edges_.end();) {
    if (depths.contains(it->first)) {
      ++it;
      continue;
    }
    edge_queue_publications_.Remove({it->first});
    edge_queue_bytes_.Remove({it->first});
    queue_edges_.erase(it++);
  }
  for (const auto& [edge, depth] : depths) {
    queue_edges_[edge] = true;
    edge_queue_publications_.Get({edge}).Set(depth.publications);
    edge_queue_bytes_.Get({edge}).Set(depth.bytes);
  }
}

}  // namespace wirehub::control
