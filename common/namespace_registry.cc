#include "common/namespace_registry.h"

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config_loader.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub {

using ::wirehub::config::v1::Config;
using ::wirehub::config::v1::NamespaceOptions;

NamespaceRegistry::NamespaceRegistry()
    : defaults_(std::make_shared<const NamespaceOptions>()), accept_unknown_namespaces_(true) {}

NamespaceRegistry::NamespaceRegistry(const Config& config)
    : defaults_(std::make_shared<const NamespaceOptions>(config.defaults())) {
  for (const wirehub::config::v1::Namespace& ns : config.namespaces()) {
    if (namespaces_.contains(ns.name())) continue;  // Keeps the first of duplicates.
    namespaces_.emplace(ns.name(), std::make_shared<const NamespaceOptions>(ns.options()));
  }
}

NamespaceRegistry NamespaceRegistry::Default() { return NamespaceRegistry(); }

absl::StatusOr<std::string_view> NamespaceRegistry::NamespaceOf(std::string_view channel) {
  if (channel.empty()) return absl::InvalidArgumentError("channel name is empty");
  const size_t colon = channel.find(':');
  if (colon == std::string_view::npos) return std::string_view();
  if (colon == 0) {
    return absl::InvalidArgumentError("channel has an empty namespace (it starts with ':')");
  }
  return channel.substr(0, colon);
}

const NamespaceOptions* NamespaceRegistry::Find(std::string_view channel) const {
  const absl::StatusOr<std::string_view> name = NamespaceOf(channel);
  if (!name.ok()) return nullptr;
  if (name->empty()) return defaults_.get();
  const auto it = namespaces_.find(*name);
  if (it != namespaces_.end()) return it->second.get();
  return accept_unknown_namespaces_ ? defaults_.get() : nullptr;
}

std::shared_ptr<const NamespaceOptions> NamespaceRegistry::FindShared(
    std::string_view channel) const {
  const absl::StatusOr<std::string_view> name = NamespaceOf(channel);
  if (!name.ok()) return nullptr;
  if (name->empty()) return defaults_;
  const auto it = namespaces_.find(*name);
  if (it != namespaces_.end()) return it->second;
  return accept_unknown_namespaces_ ? defaults_ : nullptr;
}

absl::Duration HistoryTtl(const NamespaceOptions& options) {
  return DurationFromProto(options.history_ttl());
}

}  // namespace wirehub
