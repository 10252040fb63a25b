#include "control/control_config.h"

#include <utility>

#include "common/config_loader.h"

namespace wirehub::control {

absl::StatusOr<ControlConfig> ControlConfigFrom(const config::v1::Config& config,
                                                std::string_view source_name) {
  ControlConfig out;
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(config.api_keys(), source_name);
  if (!keys.ok()) return keys.status();
  out.api_keys = *std::move(keys);
  out.namespaces = NamespaceRegistry(config);
  for (const config::v1::Namespace& ns : config.namespaces()) {
    out.namespace_names.push_back(ns.name());
  }
  out.idempotency_window = config.has_idempotency_window()
                               ? DurationFromProto(config.idempotency_window())
                               : kDefaultIdempotencyWindow;
  absl::StatusOr<EngineConfig> engine = EngineConfigFrom(config, source_name);
  if (!engine.ok()) return engine.status();
  out.engine = *std::move(engine);
  return out;
}

absl::StatusOr<ControlConfig> LoadControlConfig(std::string_view path) {
  absl::StatusOr<config::v1::Config> config = LoadConfigFile(path);
  if (!config.ok()) return config.status();
  return ControlConfigFrom(*config, path);
}

}  // namespace wirehub::control
