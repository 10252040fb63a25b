#include "control/namespace_table.h"

#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"

namespace wirehub::control {

NamespaceTable::NamespaceTable(NamespaceRegistry registry, const std::vector<std::string>& names,
                               ControlMetrics* metrics)
    : registry_(std::move(registry)), metrics_(metrics) {
  auto add = [this](const std::string& name, const config::v1::NamespaceOptions* options) {
    if (options == nullptr || known_.contains(name)) return;
    auto entry = std::make_unique<Namespace>();
    entry->name = name;
    entry->options = options;
    known_.emplace(name, std::move(entry));
  };
  add("", &registry_.defaults());
  for (const std::string& name : names) {
    if (!name.empty()) add(name, registry_.Find(absl::StrCat(name, ":")));
  }
}

const NamespaceTable::Namespace* NamespaceTable::Find(std::string_view channel) const {
  absl::StatusOr<std::string_view> name = NamespaceRegistry::NamespaceOf(channel);
  if (!name.ok()) return nullptr;
  auto it = known_.find(AsAbsl(*name));
  if (it != known_.end()) return it->second.get();
  return Learn(*name);
}

const NamespaceTable::Namespace* NamespaceTable::Learn(std::string_view name) const {
  if (registry_.accept_unknown_namespaces()) return LearnAny(name);
  // A configured namespace missing from `names` (a test's registry).
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = learned_.find(AsAbsl(name));
    if (it != learned_.end()) return it->second.get();
  }
  const config::v1::NamespaceOptions* options = registry_.Find(absl::StrCat(AsAbsl(name), ":"));
  if (options == nullptr) return nullptr;
  absl::MutexLock lock(&mu_);
  auto it = learned_.find(AsAbsl(name));
  if (it != learned_.end()) return it->second.get();
  auto entry = std::make_unique<Namespace>();
  entry->name = std::string(name);
  entry->options = options;
  return learned_.emplace(std::string(name), std::move(entry)).first->second.get();
}

const NamespaceTable::Namespace* NamespaceTable::FindLearned(std::string_view name) const {
  const size_t start = std::hash<std::string_view>{}(name);
  for (size_t i = 0; i < kLearnedSlots; ++i) {
    const Namespace* ns = slots_[(start + i) % kLearnedSlots].load(std::memory_order_acquire);
    if (ns == nullptr) return nullptr;
    if (ns->name == name) return ns;
  }
  return nullptr;
}

const NamespaceTable::Namespace* NamespaceTable::LearnAny(std::string_view name) const {
  if (const Namespace* ns = FindLearned(name)) return ns;
  // Learned names become metric labels: one that is not itself a valid
  // channel name (bytes that are not UTF-8, say, from a refused call) is
  // never learned, and counts as unknown.
  if (!ValidateChannelName(name).ok()) return nullptr;
  if (const Namespace* ns = overflow_.load(std::memory_order_acquire)) return ns;
  absl::MutexLock lock(&mu_);
  if (const Namespace* ns = FindLearned(name)) return ns;
  if (const Namespace* ns = overflow_.load(std::memory_order_acquire)) return ns;
  auto entry = std::make_unique<Namespace>();
  entry->options = &registry_.defaults();
  if (owned_.size() >= kMaxLearned) {
    entry->name.push_back('*');  // operator=("*") trips GCC 12 -Wrestrict.
    overflow_.store(entry.get(), std::memory_order_release);
  } else {
    entry->name = std::string(name);
    const size_t start = std::hash<std::string_view>{}(name);
    for (size_t i = 0; i < kLearnedSlots; ++i) {
      std::atomic<const Namespace*>& slot = slots_[(start + i) % kLearnedSlots];
      if (slot.load(std::memory_order_relaxed) != nullptr) continue;
      slot.store(entry.get(), std::memory_order_release);
      break;
    }
  }
  owned_.push_back(std::move(entry));
  return owned_.back().get();
}

const NamespaceSeries& NamespaceTable::SeriesOf(const Namespace& ns) const {
  NamespaceSeries* series = ns.series.load(std::memory_order_acquire);
  if (series == nullptr) {
    // Racing callers get the same series from the metrics.
    series = &metrics_->Namespace(ns.name);
    ns.series.store(series, std::memory_order_release);
  }
  return *series;
}

const NamespaceSeries& NamespaceTable::UnknownSeries() const {
  return SeriesOf(*known_.find("")->second);
}

}  // namespace wirehub::control
