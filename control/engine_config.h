// EngineConfig: which stream engine wirehub-control runs (the config file's
// `engine`), checked at start-up.
#ifndef WIREHUB_CONTROL_ENGINE_CONFIG_H_
#define WIREHUB_CONTROL_ENGINE_CONFIG_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "control/presence_store.h"
#include "control/redis_presence_store.h"
#include "control/redis_stream_store.h"
#include "control/replica_bus.h"
#include "control/stream_store.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub::control {

// Thread-compatible value.
struct EngineConfig {
  enum class Type { kMemory, kRedis };
  Type type = Type::kMemory;
  // For kRedis.
  RedisStreamStoreOptions redis;
  RedisPresenceStoreOptions redis_presence;

  // "memory" or "redis HOST:PORT prefix PREFIX" (logs; no credentials).
  std::string Describe() const;
};

// EngineConfigFrom()
//
// The `engine` section of `config`, with defaults filled in and the Redis
// password resolved from the environment ("${NAME}"). InvalidArgument
// naming `source_name` and the field for an unknown type, a malformed
// address, a bad key prefix or non-positive timeouts; FailedPrecondition
// for an unset environment variable.
absl::StatusOr<EngineConfig> EngineConfigFrom(const config::v1::Config& config,
                                              std::string_view source_name);

// NewStreamStore() builds the configured engine's stream store (null for
// the memory engine: the hub's default).
std::unique_ptr<StreamStore> NewStreamStore(const EngineConfig& engine);
// NewPresenceStore() likewise for presence.
std::unique_ptr<PresenceStore> NewPresenceStore(const EngineConfig& engine);
// NewReplicaBus() connects the replicas of the Redis engine (null for the
// memory engine); this replica gets a random id.
std::unique_ptr<ReplicaBus> NewReplicaBus(const EngineConfig& engine);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_ENGINE_CONFIG_H_
