// NamespaceTable: the channel namespaces of one configuration version, each
// with its metric series, so the publish path resolves both in one lookup.
#ifndef WIREHUB_CONTROL_NAMESPACE_TABLE_H_
#define WIREHUB_CONTROL_NAMESPACE_TABLE_H_

#include <array>
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
// they come, up to kMaxLearned, into a table read without a lock (written
// under a mutex); later ones share the series of namespace "*" (the label
// stays bounded). A configured namespace missing from `names` (tests) is
// learned under a mutex.
class NamespaceTable {
 public:
  static constexpr size_t kMaxLearned = 100;
  // Open addressing, at most kMaxLearned of them used: probes stay short.
  static constexpr size_t kLearnedSlots = 256;

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
  // Accept-all registry: lock-free lookup, and insertion under mu_.
  const Namespace* FindLearned(std::string_view name) const;
  const Namespace* LearnAny(std::string_view name) const;

  const NamespaceRegistry registry_;
  ControlMetrics* const metrics_;
  absl::flat_hash_map<std::string, std::unique_ptr<Namespace>> known_;
  mutable absl::Mutex mu_;
  // Configured registry: namespaces missing from `names`.
  mutable absl::flat_hash_map<std::string, std::unique_ptr<Namespace>> learned_
      ABSL_GUARDED_BY(mu_);
  // Accept-all registry: entries are published into slots_ (release) once
  // complete and never move or go until the table dies.
  mutable std::vector<std::unique_ptr<Namespace>> owned_ ABSL_GUARDED_BY(mu_);
  mutable std::array<std::atomic<const Namespace*>, kLearnedSlots> slots_{};
  mutable std::atomic<const Namespace*> overflow_{nullptr};
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_NAMESPACE_TABLE_H_
