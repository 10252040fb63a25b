// API keys of wirehub-control's public API: the `api_keys` of the
// configuration file, checked against the key a backend presents in the
// gRPC metadata "authorization: apikey KEY".
#ifndef WIREHUB_CONTROL_API_KEY_SET_H_
#define WIREHUB_CONTROL_API_KEY_SET_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub::control {

// What a key may call.
enum class ApiScope {
  // Publish, Broadcast and PublishStream.
  kPublish,
  // Every call of ControlService.
  kFull,
};

// ApiKey is one configured key; the key itself is never kept, only its
// SHA-256.
struct ApiKey {
  std::string name;
  std::array<uint8_t, 32> sha256{};
  // Empty: every tenant and the default space.
  std::string tenant;
  ApiScope scope = ApiScope::kFull;
};

// The metadata key and the scheme of a presented key.
inline constexpr char kAuthorizationMetadata[] = "authorization";
inline constexpr char kApiKeyScheme[] = "apikey";

// ApiKeySet holds the configured keys and decides whether a call may run.
// Thread-safe: immutable after construction.
//
// Example:
//   absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(config.api_keys(), path);
//   absl::StatusOr<const ApiKey*> key = keys->Authorize(header, "Disconnect", ApiScope::kFull);
//   absl::Status allowed = key.ok() ? ApiKeySet::CheckTenant(*key, "Disconnect", &tenant)
//                                   : key.status();
class ApiKeySet {
 public:
  // An empty set: no key is asked for.
  ApiKeySet() = default;

  // FromConfig()
  //
  // Validates `api_keys` (from the file `source_name`): every key has a
  // name, unique in the file; `sha256` is 64 lower-case hex digits; `scope`
  // is "publish", "full" or empty (full); `tenant` is empty or a valid
  // tenant. InvalidArgument "<source_name>: api_keys[i]: ..." otherwise.
  static absl::StatusOr<ApiKeySet> FromConfig(
      const google::protobuf::RepeatedPtrField<config::v1::ApiKey>& api_keys,
      std::string_view source_name);

  // One list of keys and the file it was read from.
  struct Source {
    const google::protobuf::RepeatedPtrField<config::v1::ApiKey>* api_keys;
    std::string_view source_name;
  };

  // FromSources()
  //
  // FromConfig() over several lists (the configuration's api_keys and the
  // api_keys_file's), in order: names and hashes are unique across all of
  // them. An error names the list's source and the entry's index in it,
  // and for a duplicate also the earlier entry.
  static absl::StatusOr<ApiKeySet> FromSources(const std::vector<Source>& sources);

  // Whether no key is configured (then Authorize() lets every call through).
  bool empty() const { return keys_.empty(); }
  size_t size() const { return keys_.size(); }

  // Authenticate()
  //
  // The key whose SHA-256 equals that of the key in `authorization` (the
  // value of the "authorization" metadata, "apikey KEY"; the scheme is
  // case-insensitive). Every configured hash is compared, in constant time.
  // Unauthenticated with a message when the metadata is absent, has another
  // scheme or names no configured key. Not to be called on an empty set.
  absl::StatusOr<const ApiKey*> Authenticate(std::optional<std::string_view> authorization) const;

  // Authorize()
  //
  // The key that may run `call` (a method name, for messages) needing
  // `scope`: nullptr when the set is empty (no key is asked for), else the
  // authenticated key (see Authenticate()) when its scope covers `scope`.
  // PermissionDenied naming the key and the call otherwise. The tenant is
  // checked by CheckTenant().
  absl::StatusOr<const ApiKey*> Authorize(std::optional<std::string_view> authorization,
                                          std::string_view call, ApiScope scope) const;

  // CheckTenant()
  //
  // Whether `key` (nullptr: no key configured, always OK) may act on
  // `tenant`: the tenant a request names ("" for the default space), or
  // nullptr for a call that spans every tenant (Stats, Info). A key with a
  // tenant may only name that tenant and never make a server-wide call:
  // PermissionDenied naming the key, the call and both tenants otherwise.
  static absl::Status CheckTenant(const ApiKey* key, std::string_view call,
                                  const std::string* tenant);

 private:
  std::vector<ApiKey> keys_;
};

// Sha256()
//
// The SHA-256 of `data`.
std::array<uint8_t, 32> Sha256(std::string_view data);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_API_KEY_SET_H_
