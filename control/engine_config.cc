#include "control/engine_config.h"

#include <charconv>
#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/absl_compat.h"
#include "common/config_loader.h"

namespace wirehub::control {

namespace {

absl::Status Invalid(std::string_view source_name, std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(source_name), ": engine.", AsAbsl(field), " ", AsAbsl(what)));
}

bool ValidPrefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > 64) return false;
  for (char c : prefix) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

// HOST:PORT or [IPV6]:PORT.
bool ParseAddress(std::string_view address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view name = address.substr(0, colon);
  std::string_view digits = address.substr(colon + 1);
  if (name.front() == '[') {
    if (name.size() < 3 || name.back() != ']') return false;
    name = name.substr(1, name.size() - 2);
  } else if (name.find(':') != std::string_view::npos) {
    return false;
  }
  int value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || value < 1 || value > 65535) {
    return false;
  }
  *host = std::string(name);
  *port = value;
  return true;
}

absl::StatusOr<absl::Duration> PositiveDuration(std::string_view source_name,
                                                std::string_view field, bool present,
                                                const google::protobuf::Duration& value,
                                                absl::Duration fallback) {
  if (!present) return fallback;
  absl::Duration duration = DurationFromProto(value);
  if (duration <= absl::ZeroDuration() || duration > kMaxConfigDuration) {
    return Invalid(source_name, field, "must be > 0 and at most 30 days");
  }
  return duration;
}

}  // namespace

std::string EngineConfig::Describe() const {
  if (type == Type::kMemory) return "memory";
  return absl::StrCat("redis ", redis.connection.host, ":", redis.connection.port, " prefix ",
                      redis.key_prefix);
}

absl::StatusOr<EngineConfig> EngineConfigFrom(const config::v1::Config& config,
                                              std::string_view source_name) {
  EngineConfig out;
  const config::v1::Engine& engine = config.engine();
  if (engine.type().empty() || engine.type() == "memory") {
    if (engine.has_redis()) {
      return Invalid(source_name, "redis", "is set but engine.type is not \"redis\"");
    }
    return out;
  }
  if (engine.type() != "redis") {
    return Invalid(source_name, "type",
                   absl::StrCat("\"", engine.type(), "\" is not \"memory\" or \"redis\""));
  }
  out.type = EngineConfig::Type::kRedis;
  const config::v1::RedisEngine& redis = engine.redis();
  RedisConnectionOptions& connection = out.redis.connection;
  const std::string address = redis.address().empty() ? "127.0.0.1:6379" : redis.address();
  if (!ParseAddress(address, &connection.host, &connection.port)) {
    return Invalid(source_name, "redis.address",
                   absl::StrCat("\"", address, "\" is not HOST:PORT"));
  }
  connection.username = redis.username();
  absl::StatusOr<std::string> password = ResolveSecretReference(redis.password());
  if (!password.ok()) {
    return absl::Status(password.status().code(),
                        absl::StrCat(AsAbsl(source_name),
                                     ": engine.redis.password: ", password.status().message()));
  }
  connection.password = *std::move(password);
  if (!connection.username.empty() && connection.password.empty()) {
    return Invalid(source_name, "redis.username", "needs engine.redis.password");
  }
  if (redis.db() < 0) return Invalid(source_name, "redis.db", "must be >= 0");
  connection.db = redis.db();
  out.redis.key_prefix = redis.key_prefix().empty() ? "wirehub" : redis.key_prefix();
  if (!ValidPrefix(out.redis.key_prefix)) {
    return Invalid(source_name, "redis.key_prefix", "must be 1-64 bytes of [A-Za-z0-9_.:-]");
  }
  absl::StatusOr<absl::Duration> connect_timeout =
      PositiveDuration(source_name, "redis.connect_timeout", redis.has_connect_timeout(),
                       redis.connect_timeout(), absl::Seconds(1));
  if (!connect_timeout.ok()) return connect_timeout.status();
  connection.connect_timeout = *connect_timeout;
  absl::StatusOr<absl::Duration> command_timeout =
      PositiveDuration(source_name, "redis.command_timeout", redis.has_command_timeout(),
                       redis.command_timeout(), absl::Seconds(1));
  if (!command_timeout.ok()) return command_timeout.status();
  connection.command_timeout = *command_timeout;
  absl::StatusOr<absl::Duration> stream_ttl = PositiveDuration(
      source_name, "redis.stream_ttl", redis.has_stream_ttl(), redis.stream_ttl(), absl::Hours(24));
  if (!stream_ttl.ok()) return stream_ttl.status();
  out.redis.stream_ttl = *stream_ttl;
  absl::StatusOr<absl::Duration> presence_ttl =
      PositiveDuration(source_name, "redis.presence_ttl", redis.has_presence_ttl(),
                       redis.presence_ttl(), absl::Seconds(15));
  if (!presence_ttl.ok()) return presence_ttl.status();
  if (*presence_ttl < absl::Seconds(1)) {
    return Invalid(source_name, "redis.presence_ttl", "must be at least 1s");
  }
  out.redis_presence.connection = out.redis.connection;
  out.redis_presence.key_prefix = out.redis.key_prefix;
  out.redis_presence.ttl = *presence_ttl;
  return out;
}

std::unique_ptr<StreamStore> NewStreamStore(const EngineConfig& engine) {
  if (engine.type == EngineConfig::Type::kMemory) return nullptr;
  return std::make_unique<RedisStreamStore>(engine.redis);
}

std::unique_ptr<ReplicaBus> NewReplicaBus(const EngineConfig& engine) {
  if (engine.type == EngineConfig::Type::kMemory) return nullptr;
  ReplicaBusOptions options;
  options.connection = engine.redis.connection;
  options.key_prefix = engine.redis.key_prefix;
  std::mt19937_64 rng{std::random_device{}()};
  options.replica_id = absl::StrFormat("%016x", rng());
  return std::make_unique<ReplicaBus>(std::move(options));
}

std::unique_ptr<PresenceStore> NewPresenceStore(const EngineConfig& engine) {
  if (engine.type == EngineConfig::Type::kMemory) return nullptr;
  return std::make_unique<RedisPresenceStore>(engine.redis_presence);
}

}  // namespace wirehub::control
