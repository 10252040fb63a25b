// ControlMetrics: every metric family wirehub-control exports, registered
// on one metrics::Registry (docs/operations.md lists them).
#ifndef WIREHUB_CONTROL_CONTROL_METRICS_H_
#define WIREHUB_CONTROL_CONTROL_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"

namespace wirehub::control {

// Why a publication was refused: the `reason` label of
// wirehub_control_publication_refusals_total.
enum class RefusalReason {
  kInvalidArgument,
  kUnknownNamespace,
  kPayloadTooLarge,
  kNotJson,
  kPermissionDenied,
  kResourceExhausted,
  kUnavailable,
  kOther,
};
inline constexpr size_t kRefusalReasons = 8;
std::string_view RefusalReasonName(RefusalReason reason);

// The reason of a refusal known only by its status (a refusal the hub or
// a store made): by code, and for InvalidArgument by the message the
// validators write ("... bytes, over the limit", "... not ... JSON").
RefusalReason RefusalReasonOf(const absl::Status& status);

// Thread-safe (lock-free series). The series of one namespace; they live as
// long as the registry.
struct NamespaceSeries {
  metrics::Counter* publications = nullptr;
  std::array<metrics::Counter*, kRefusalReasons> refusals{};

  void Refused(RefusalReason reason) const { refusals[static_cast<size_t>(reason)]->Increment(); }
};

// Thread-safe. The series of one ControlService method; counters by code
// are made on the first call answered with that code (OK is made up front).
class MethodSeries {
 public:
  MethodSeries(std::string name, metrics::CounterFamily* calls, metrics::Histogram* duration);

  const std::string& name() const { return name_; }
  // Counts one call answered with `code`; `duration` is observed only when
  // non-negative (streams, meant to last, pass a negative one).
  void Record(grpc::StatusCode code, absl::Duration duration);

 private:
  static constexpr size_t kCodes = 17;
  const std::string name_;
  metrics::CounterFamily* const calls_;
  metrics::Histogram* const duration_;
  std::array<std::atomic<metrics::Counter*>, kCodes> by_code_{};
};

// Operations of a stream or presence engine whose duration is observed.
enum class EngineOperation { kPublish, kHistory, kPresenceAdd, kPresenceRemove, kPresenceRead };

// Thread-safe. Hot-path members are references to lock-free series taken at
// construction; Namespace() and Method lookups for a new label value take a
// mutex once, after which callers keep the pointer.
class ControlMetrics {
 public:
  // Registers every family on `registry`, which must outlive this object.
  // `engine` names the stream and presence engine ("memory").
  explicit ControlMetrics(metrics::Registry* registry, std::string engine = "memory");
  ControlMetrics(const ControlMetrics&) = delete;
  ControlMetrics& operator=(const ControlMetrics&) = delete;

  metrics::Registry* registry() const { return registry_; }

  // The series of namespace `name` ("" also for an unknown or invalid
  // namespace), made on first use. Stable for the registry's life.
  NamespaceSeries& Namespace(std::string_view name);

  // The series of a ControlService method by its full gRPC name
  // ("/wirehub.control.v1.ControlService/Publish"); nullptr for anything
  // else (health, reflection). No lock: the table is built up front.
  MethodSeries* Method(std::string_view full_method) const;

  metrics::Counter& publish_stream_items() { return *publish_stream_items_; }
  metrics::Counter& edge_attaches() { return *edge_attaches_; }
  metrics::Counter& slow_edge_detaches() { return *slow_edge_detaches_; }
  metrics::Gauge& edges() { return *edges_; }
  metrics::Gauge& streams() { return *streams_; }
  metrics::Gauge& history_publications() { return *history_publications_; }
  metrics::Gauge& history_bytes() { return *history_bytes_; }
  metrics::Gauge& presence_entries() { return *presence_entries_; }
  metrics::Gauge& engine_up() { return *engine_up_; }
  metrics::Histogram& engine_operation(EngineOperation operation) {
    return *engine_operations_[static_cast<size_t>(operation)];
  }
  metrics::Gauge& ready() { return *ready_; }
  metrics::Gauge& draining() { return *draining_; }
  metrics::Gauge& config_version() { return *config_version_; }
  metrics::Counter& config_reloads(bool ok) { return ok ? *reloads_ok_ : *reloads_error_; }

  // Per-edge queue depth, keyed by edge id: set by a collector at scrape
  // time. SetEdgeQueues() replaces every edge's series with `depths` (edge
  // id -> {publications, bytes}); edges no longer listed lose theirs.
  struct QueueDepth {
    double publications = 0;
    double bytes = 0;
  };
  void SetEdgeQueues(const absl::flat_hash_map<std::string, QueueDepth>& depths);

 private:
  metrics::Registry* const registry_;
  metrics::CounterFamily& publications_;
  metrics::CounterFamily& refusals_;
  metrics::CounterFamily& api_calls_;
  metrics::HistogramFamily& api_durations_;
  metrics::GaugeFamily& edge_queue_publications_;
  metrics::GaugeFamily& edge_queue_bytes_;
  metrics::Counter* publish_stream_items_;
  metrics::Counter* edge_attaches_;
  metrics::Counter* slow_edge_detaches_;
  metrics::Gauge* edges_;
  metrics::Gauge* streams_;
  metrics::Gauge* history_publications_;
  metrics::Gauge* history_bytes_;
  metrics::Gauge* presence_entries_;
  metrics::Gauge* engine_up_;
  std::array<metrics::Histogram*, 5> engine_operations_{};
  metrics::Gauge* ready_;
  metrics::Gauge* draining_;
  metrics::Gauge* config_version_;
  metrics::Counter* reloads_ok_;
  metrics::Counter* reloads_error_;
  // Full method name -> series; built in the constructor, read-only after.
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> methods_;

  absl::Mutex mu_;
  absl::node_hash_map<std::string, NamespaceSeries> namespaces_ ABSL_GUARDED_BY(mu_);
  // Edge ids with queue series, for SetEdgeQueues() to remove the gone.
  absl::flat_hash_map<std::string, bool> queue_edges_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CONTROL_METRICS_H_
