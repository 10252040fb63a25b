#include "control/api_key_set.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/logging.h"

namespace wirehub::control {
namespace {

constexpr char kScopePublish[] = "publish";
constexpr char kScopeFull[] = "full";

// A hex digit's value, or -1 (upper case is refused: one spelling per hash).
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

absl::StatusOr<std::array<uint8_t, 32>> ParseSha256Hex(std::string_view hex_std) {
  const absl::string_view hex = AsAbsl(hex_std);
  std::array<uint8_t, 32> digest{};
  if (hex.size() != 2 * digest.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sha256 must be 64 lower-case hex digits, got ", hex.size(), " characters"));
  }
  for (size_t i = 0; i < digest.size(); ++i) {
    const int high = HexValue(hex[2 * i]);
    const int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      return absl::InvalidArgumentError(
          "sha256 must be 64 lower-case hex digits (0-9, a-f), as `wirehubctl apikey` prints");
    }
    digest[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return digest;
}

absl::string_view ScopeName(ApiScope scope) {
  return scope == ApiScope::kPublish ? kScopePublish : kScopeFull;
}

std::string TenantForMessage(std::string_view tenant) {
  return tenant.empty() ? std::string("the default space (no tenant)")
                        : absl::StrCat("tenant '", AsAbsl(tenant), "'");
}

}  // namespace

std::array<uint8_t, 32> Sha256(std::string_view data) {
  std::array<uint8_t, 32> digest{};
  unsigned int size = 0;
  WH_CHECK(EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) == 1 &&
           size == digest.size())
      << "SHA-256 failed";
  return digest;
}

absl::StatusOr<ApiKeySet> ApiKeySet::FromConfig(
    const google::protobuf::RepeatedPtrField<config::v1::ApiKey>& api_keys,
    std::string_view source_name) {
  return FromSources({Source{&api_keys, source_name}});
}

absl::StatusOr<ApiKeySet> ApiKeySet::FromSources(const std::vector<Source>& sources) {
  ApiKeySet set;
  // Where a name or hash was first seen: the index of its source and of
  // the entry in it.
  using Location = std::pair<size_t, int>;
  absl::flat_hash_map<std::string, Location> names;
  absl::flat_hash_map<std::string, Location> hashes;
  for (size_t s = 0; s < sources.size(); ++s) {
    const Source& source = sources[s];
    for (int i = 0; i < source.api_keys->size(); ++i) {
      const config::v1::ApiKey& entry = source.api_keys->Get(i);
      auto fail = [&](absl::string_view message) {
        std::string where = absl::StrCat(AsAbsl(source.source_name), ": api_keys[", i, "]");
        if (!entry.name().empty()) absl::StrAppend(&where, " (\"", entry.name(), "\")");
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
      };
      // "an earlier key (api_keys[0])", with its file when it is another.
      auto earlier = [&](const Location& first) {
        return absl::StrCat(
            "an earlier key (",
            first.first == s ? "" : absl::StrCat(AsAbsl(sources[first.first].source_name), ": "),
            "api_keys[", first.second, "])");
      };
      ApiKey key;
      if (entry.name().empty()) return fail("name is required");
      if (auto [it, inserted] = names.emplace(entry.name(), Location(s, i)); !inserted) {
        return fail(absl::StrCat("name is used by ", earlier(it->second)));
      }
      key.name = entry.name();
      absl::StatusOr<std::array<uint8_t, 32>> digest = ParseSha256Hex(entry.sha256());
      if (!digest.ok()) return fail(digest.status().message());
      if (auto [it, inserted] = hashes.emplace(entry.sha256(), Location(s, i)); !inserted) {
        return fail(absl::StrCat("sha256 is that of ", earlier(it->second)));
      }
      key.sha256 = *digest;
      if (!entry.tenant().empty()) {
        absl::Status tenant = ValidateTenant(entry.tenant());
        if (!tenant.ok()) return fail(tenant.message());
        key.tenant = entry.tenant();
      }
      if (entry.scope().empty() || entry.scope() == kScopeFull) {
        key.scope = ApiScope::kFull;
      } else if (entry.scope() == kScopePublish) {
        key.scope = ApiScope::kPublish;
      } else {
        return fail(
            absl::StrCat("scope must be \"publish\" or \"full\", not \"", entry.scope(), "\""));
      }
      set.keys_.push_back(std::move(key));
    }
  }
  return set;
}

absl::StatusOr<const ApiKey*> ApiKeySet::Authenticate(
    std::optional<std::string_view> authorization) const {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "an API key is required: send the metadata \"authorization: apikey KEY\"");
  }
  absl::string_view value = absl::StripAsciiWhitespace(AsAbsl(*authorization));
  const absl::string_view scheme = kApiKeyScheme;
  if (value.size() <= scheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, scheme.size()), scheme) ||
      (value[scheme.size()] != ' ' && value[scheme.size()] != '\t')) {
    return absl::UnauthenticatedError(
        "the authorization metadata must be \"apikey KEY\" (another scheme was sent)");
  }
  absl::string_view presented = absl::StripAsciiWhitespace(value.substr(scheme.size()));
  const std::array<uint8_t, 32> digest = Sha256(AsStd(presented));
  // Every hash is compared, whichever matches, so the time taken does not
  // tell how many keys there are before the right one.
  const ApiKey* found = nullptr;
  for (const ApiKey& key : keys_) {
    if (CRYPTO_memcmp(key.sha256.data(), digest.data(), digest.size()) == 0) found = &key;
  }
  if (found == nullptr) return absl::UnauthenticatedError("unknown API key");
  return found;
}

absl::StatusOr<const ApiKey*> ApiKeySet::Authorize(std::optional<std::string_view> authorization,
                                                   std::string_view call, ApiScope scope) const {
  if (keys_.empty()) return nullptr;
  absl::StatusOr<const ApiKey*> key = Authenticate(authorization);
  if (!key.ok()) return key.status();
  if (scope == ApiScope::kFull && (*key)->scope != ApiScope::kFull) {
    return absl::PermissionDeniedError(absl::StrCat(
        "API key '", (*key)->name, "' has scope \"", ScopeName((*key)->scope), "\": ", AsAbsl(call),
        " needs scope \"full\" (a publish key may call Publish, Broadcast and PublishStream)"));
  }
  return key;
}

absl::Status ApiKeySet::CheckTenant(const ApiKey* key, std::string_view call,
                                    const std::string* tenant) {
  if (key == nullptr || key->tenant.empty()) return absl::OkStatus();
  if (tenant == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("API key '", key->name,
                                                    "' is confined to tenant '", key->tenant,
                                                    "': ", AsAbsl(call), " spans every tenant"));
  }
  if (*tenant != key->tenant) {
    return absl::PermissionDeniedError(
        absl::StrCat("API key '", key->name, "' is confined to tenant '", key->tenant,
                     "': ", AsAbsl(call), " names ", TenantForMessage(*tenant)));
  }
  return absl::OkStatus();
}

}  // namespace wirehub::control
