#include "control/control_config.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/config_loader.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace wirehub::control {
namespace {

// A file of key hashes larger than this is surely the wrong file.
constexpr size_t kMaxApiKeyFileBytes = 1 << 20;

// The file named by the api_keys_file of `config_source`.
absl::StatusOr<config::v1::ApiKeyFile> LoadApiKeyFile(const std::string& path,
                                                      std::string_view config_source) {
  absl::StatusOr<std::string> contents = ReadFileBounded(path, kMaxApiKeyFileBytes, "API key file");
  if (!contents.ok()) {
    const absl::StatusCode code = absl::IsResourceExhausted(contents.status())
                                      ? absl::StatusCode::kInvalidArgument
                                      : contents.status().code();
    return absl::Status(code, absl::StrCat(AsAbsl(config_source),
                                           ": api_keys_file: ", contents.status().message()));
  }
  config::v1::ApiKeyFile file;
  if (contents->find_first_not_of(" \t\r\n") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": API key file is empty (write {\"api_keys\": []} for none)"));
  }
  RETURN_IF_ERROR(ParseStrictJson(*contents, path, &file));
  return file;
}

}  // namespace

absl::StatusOr<ControlConfig> ControlConfigFrom(const config::v1::Config& config,
                                                std::string_view source_name) {
  ControlConfig out;
  std::vector<ApiKeySet::Source> key_sources = {{&config.api_keys(), source_name}};
  config::v1::ApiKeyFile key_file;
  if (!config.api_keys_file().empty()) {
    ASSIGN_OR_RETURN(key_file, LoadApiKeyFile(config.api_keys_file(), source_name));
    key_sources.push_back({&key_file.api_keys(), config.api_keys_file()});
  }
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromSources(key_sources);
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
