#include "common/token_keys.h"

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/absl_compat.h"
#include "common/config_loader.h"
#include "common/file_util.h"
#include "common/jwk_set.h"
#include "common/logging.h"
#include "common/token_key.h"

namespace wirehub {
namespace {

// PEM keys and certificates are a few KiB; a JWK Set holds a handful.
constexpr size_t kMaxKeyFileBytes = 1 << 20;

// "token_keys[2] (kid \"2024-05\")": how errors name a configured key.
std::string EntryName(int index, const std::string& kid) {
  if (kid.empty()) return absl::StrCat("token_keys[", index, "]");
  return absl::StrCat("token_keys[", index, "] (kid \"", kid, "\")");
}

// `status` with "<prefix>: " before its message, same code.
absl::Status Prefixed(std::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(AsAbsl(prefix), ": ", status.message()));
}

absl::StatusOr<TokenKey> LoadConfiguredKey(const wirehub::config::v1::TokenKey& entry,
                                           const std::string& name) {
  if (entry.algorithm().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": algorithm is required"));
  }
  std::optional<JwsAlgorithm> algorithm = ParseJwsAlgorithm(entry.algorithm());
  if (!algorithm.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": unknown algorithm \"", entry.algorithm(),
                     "\" (supported: RS256, RS384, RS512, PS256, ES256, ES384, EdDSA, HS256)"));
  }
  if (*algorithm == JwsAlgorithm::kHs256) {
    if (!entry.public_key_file().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": algorithm HS256 takes hmac_secret, not public_key_file"));
    }
    if (entry.hmac_secret().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": algorithm HS256 needs hmac_secret"));
    }
    absl::StatusOr<std::string> secret = ResolveSecretReference(entry.hmac_secret());
    if (!secret.ok()) return Prefixed(absl::StrCat(name, ": hmac_secret"), secret.status());
    absl::StatusOr<TokenKey> key = TokenKey::FromHmacSecret(entry.kid(), *std::move(secret));
    if (!key.ok()) return Prefixed(name, key.status());
    return key;
  }
  if (!entry.hmac_secret().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": hmac_secret is only for HS256"));
  }
  if (entry.public_key_file().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": algorithm ", entry.algorithm(), " needs public_key_file"));
  }
  absl::StatusOr<std::string> pem =
      ReadFileBounded(entry.public_key_file(), kMaxKeyFileBytes, "public key file");
  if (!pem.ok()) return Prefixed(name, pem.status());
  absl::StatusOr<TokenKey> key = TokenKey::FromPublicKeyPem(entry.kid(), *algorithm, *pem);
  if (!key.ok()) {
    return Prefixed(absl::StrCat(name, ": public_key_file ", entry.public_key_file()),
                    key.status());
  }
  return key;
}

}  // namespace

TokenKeySet::TokenKeySet(std::vector<TokenKey> keys) : keys_(std::move(keys)) {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (!keys_[i].kid().empty()) by_kid_.emplace(keys_[i].kid(), i);
  }
}

absl::StatusOr<std::shared_ptr<const TokenKeySet>> TokenKeySet::Create(std::vector<TokenKey> keys) {
  std::map<std::string_view, size_t> seen;
  for (const TokenKey& key : keys) {
    if (!key.kid().empty() && ++seen[key.kid()] > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("token key id \"", key.kid(), "\" is used by two keys"));
    }
  }
  return std::shared_ptr<const TokenKeySet>(new TokenKeySet(std::move(keys)));
}

std::shared_ptr<const TokenKeySet> TokenKeySet::FromHmacSecret(std::string secret) {
  std::vector<TokenKey> keys;
  if (!secret.empty()) keys.push_back(*TokenKey::FromHmacSecret("", std::move(secret)));
  return std::shared_ptr<const TokenKeySet>(new TokenKeySet(std::move(keys)));
}

absl::StatusOr<std::shared_ptr<const TokenKeySet>> TokenKeySet::Load(
    const wirehub::config::v1::Config& config, std::string_view hmac_secret) {
  std::vector<TokenKey> keys;
  // kid -> where it was defined, to name both places of a duplicate.
  std::map<std::string, std::string, std::less<>> kid_sources;
  auto add = [&](TokenKey key, const std::string& source) -> absl::Status {
    if (!key.kid().empty()) {
      auto [it, inserted] = kid_sources.emplace(key.kid(), source);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token key id \"", key.kid(), "\" is used twice: ", it->second, " and ", source));
      }
    }
    keys.push_back(std::move(key));
    return absl::OkStatus();
  };

  if (!hmac_secret.empty()) keys.push_back(*TokenKey::FromHmacSecret("", std::string(hmac_secret)));
  for (int i = 0; i < config.token_keys_size(); ++i) {
    const wirehub::config::v1::TokenKey& entry = config.token_keys(i);
    const std::string name = EntryName(i, entry.kid());
    absl::StatusOr<TokenKey> key = LoadConfiguredKey(entry, name);
    if (!key.ok()) return key.status();
    if (absl::Status added = add(*std::move(key), name); !added.ok()) return added;
  }
  if (const std::string& path = config.token_jwks_file(); !path.empty()) {
    absl::StatusOr<std::string> json = ReadFileBounded(path, kMaxKeyFileBytes, "token_jwks_file");
    if (!json.ok()) return json.status();
    std::vector<std::string> warnings;
    absl::StatusOr<std::vector<TokenKey>> jwks =
        ParseJwkSet(*json, absl::StrCat("token_jwks_file ", path), &warnings);
    for (const std::string& warning : warnings) WH_LOG(WARNING) << warning;
    if (!jwks.ok()) return jwks.status();
    for (TokenKey& key : *jwks) {
      const std::string source = absl::StrCat(path, " (JWKS)");
      if (absl::Status added = add(std::move(key), source); !added.ok()) return added;
    }
  }
  return std::shared_ptr<const TokenKeySet>(new TokenKeySet(std::move(keys)));
}

absl::StatusOr<std::vector<const TokenKey*>> TokenKeySet::Select(
    std::optional<std::string_view> kid, std::string_view alg) const {
  if (alg == "none") return absl::UnauthenticatedError("token algorithm none is not allowed");
  if (keys_.empty()) return absl::UnauthenticatedError("no token keys configured");
  const std::optional<JwsAlgorithm> algorithm = ParseJwsAlgorithm(alg);
  // The offered algorithm is echoed only when it is one of ours: the header
  // is attacker-controlled text.
  if (!algorithm.has_value()) return absl::UnauthenticatedError("token algorithm is not supported");
  const std::string offered = absl::StrCat("algorithm ", AsAbsl(JwsAlgorithmName(*algorithm)));
  if (kid.has_value()) {
    auto it = by_kid_.find(*kid);
    if (it == by_kid_.end()) return absl::UnauthenticatedError("unknown key id");
    const TokenKey& key = keys_[it->second];
    if (algorithm != key.algorithm()) {
      return absl::UnauthenticatedError(
          absl::StrCat(offered, " not allowed for key \"", key.kid(), "\""));
    }
    return std::vector<const TokenKey*>{&key};
  }
  std::vector<const TokenKey*> selected;
  bool any_without_kid = false;
  for (const TokenKey& key : keys_) {
    if (!key.kid().empty()) continue;
    any_without_kid = true;
    if (algorithm == key.algorithm()) selected.push_back(&key);
  }
  if (!any_without_kid) {
    return absl::UnauthenticatedError("token has no kid and every configured key has one");
  }
  if (selected.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(offered, " not allowed for keys without kid"));
  }
  return selected;
}

std::string TokenKeySet::Describe() const {
  std::vector<std::string> parts;
  parts.reserve(keys_.size());
  for (const TokenKey& key : keys_) {
    parts.push_back(
        key.kid().empty()
            ? absl::StrCat(AsAbsl(JwsAlgorithmName(key.algorithm())), " without kid")
            : absl::StrCat("kid \"", key.kid(), "\" ", AsAbsl(JwsAlgorithmName(key.algorithm()))));
  }
  return absl::StrCat(keys_.size(), keys_.size() == 1 ? " token key" : " token keys", " (",
                      absl::StrJoin(parts, ", "), ")");
}

}  // namespace wirehub
