// ControlConfig: what wirehub-control takes from its configuration file,
// checked as a whole so that a reload applies all of it or nothing.
#ifndef WIREHUB_CONTROL_CONTROL_CONFIG_H_
#define WIREHUB_CONTROL_CONTROL_CONFIG_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/namespace_registry.h"
#include "control/api_key_set.h"
#include "control/engine_config.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub::control {

// Thread-compatible value.
struct ControlConfig {
  NamespaceRegistry namespaces = NamespaceRegistry::Default();
  // The configured namespaces' names (the per-namespace metric labels).
  std::vector<std::string> namespace_names;
  ApiKeySet api_keys;
  absl::Duration idempotency_window = absl::Minutes(5);
  EngineConfig engine;
};

// ControlConfigFrom()
//
// The parts of `config` (which passed ValidateConfig(), as LoadConfigFile()
// returns it) control uses; InvalidArgument naming `source_name` and the
// entry for bad api_keys. The entries of the file named by api_keys_file
// (read now; relative to the working directory) are added to api_keys:
// names and hashes are unique across both, and its errors name that file
// and the entry ("keys.json: api_keys[1] (\"billing\"): ..."). A file that
// cannot be read fails with its errno code, naming `source_name` and the
// path.
absl::StatusOr<ControlConfig> ControlConfigFrom(const config::v1::Config& config,
                                                std::string_view source_name);

// LoadControlConfig() reads, validates and converts the file at `path`
// (and the api_keys_file it names).
absl::StatusOr<ControlConfig> LoadControlConfig(std::string_view path);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CONTROL_CONFIG_H_
