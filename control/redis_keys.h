// Names of the Redis keys and pub/sub channels of control's Redis engine.
// Every name of one channel carries the channel key as its hash tag
// ("PREFIX:{KEY}:..."), so Redis Cluster keeps them on one node and one
// script may touch them all.
#ifndef WIREHUB_CONTROL_REDIS_KEYS_H_
#define WIREHUB_CONTROL_REDIS_KEYS_H_

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace wirehub::control::redis_keys {

inline std::string Of(std::string_view prefix, std::string_view key, std::string_view suffix) {
  return absl::StrCat(AsAbsl(prefix), ":{", AsAbsl(key), "}:", AsAbsl(suffix));
}
// The stream's position: hash {e: epoch, o: last offset, r: Redis run_id}.
inline std::string Meta(std::string_view prefix, std::string_view key) {
  return Of(prefix, key, "m");
}
// The stream's history: a Redis stream of "0-OFFSET" entries.
inline std::string History(std::string_view prefix, std::string_view key) {
  return Of(prefix, key, "h");
}
// One idempotency key's "OFFSET:EPOCH".
inline std::string Idempotency(std::string_view prefix, std::string_view key,
                               std::string_view idempotency_key) {
  return absl::StrCat(Of(prefix, key, "i:"), AsAbsl(idempotency_key));
}
// Sharded pub/sub channel: publications and join/leave events.
inline std::string PubSub(std::string_view prefix, std::string_view key) {
  return Of(prefix, key, "p");
}
// Presence: hash client -> "LEN:USER" + ClientInfo; sorted set client ->
// expiry (ms, Redis time); hash user -> entries.
inline std::string PresenceEntries(std::string_view prefix, std::string_view key) {
  return Of(prefix, key, "ph");
}
inline std::string PresenceDeadlines(std::string_view prefix, std::string_view key) {
  return Of(prefix, key, "pz");
}
inline std::string PresenceUsers(std::string_view prefix, std::string_view key) {
  return Of(prefix, key, "pu");
}

}  // namespace wirehub::control::redis_keys

#endif  // WIREHUB_CONTROL_REDIS_KEYS_H_
