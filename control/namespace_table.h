// NamespaceTable: the channel namespaces of one configuration version, each
// with its metric series, so the publish path resolves both in one lookup.
#ifndef WIREHUB_CONTROL_NAMESPACE_TABLE_H_
#define WIREHUB_CONTROL_NAMESPACE_TABLE_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/namespace_registry.h"
#include "control/control_metrics.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub::control {

// Thread-safe: immutable after construction, but for series made on a
// namespace's first use and, without a configuration file, the namespaces
// met so far (see Find()).
//
// The namespaces named at construction (the configuration file's, and ""
// for channels without ':') are found without any lock. A registry that
// accepts every namespace (no configuration file) learns the others as
// they come, under a mutex, up to kMaxLearned; later ones share the series
// of namespace "*" (the label stays bounded).
class NamespaceTable {
 public:
  static constexpr size_t kMaxLearned = 100;

  struct Namespace {
    // The label: "" for channels without ':'.
    std::string name;
    // Into the table's registry; lives as long as the table.
    const config::v1::NamespaceOptions* options = nullptr;
    // Made by SeriesOf() on first use.
    mutable std::atomic<NamespaceSeries*> series{nullptr};
  };

  // `names` are the registry's configured namespaces; `metrics` outlives
  // the table.
  NamespaceTable(NamespaceRegistry registry, const std::vector<std::string>& names,
                 ControlMetrics* metrics);
  NamespaceTable(const NamespaceTable&) = delete;
  NamespaceTable& operator=(const NamespaceTable&) = delete;

  // The namespace of `channel` (a channel name, not a key), or nullptr when
  // the registry refuses it (empty or unknown namespace).
  const Namespace* Find(std::string_view channel) const;

  // The series of `ns` (made on first use) and of refusals outside any
  // namespace (""). Stable for the metrics' life.
  const NamespaceSeries& SeriesOf(const Namespace& ns) const;
  const NamespaceSeries& UnknownSeries() const;

  const NamespaceRegistry& registry() const { return registry_; }

 private:
  const Namespace* Learn(std::string_view name) const;

  const NamespaceRegistry registry_;
  ControlMetrics* const metrics_;
  absl::flat_hash_map<std::string, std::unique_ptr<Namespace>> known_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, std::unique_ptr<Namespace>> learned_
      ABSL_GUARDED_BY(mu_);
  mutable std::unique_ptr<Namespace> overflow_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_NAMESPACE_TABLE_H_
