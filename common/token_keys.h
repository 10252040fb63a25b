// The set of keys that verify connection and subscription tokens, and how a
// token's header picks one: built from the HS256 secret and the
// configuration's token_keys and token_jwks_file.
#ifndef WIREHUB_COMMON_TOKEN_KEYS_H_
#define WIREHUB_COMMON_TOKEN_KEYS_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/token_key.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub {

// TokenKeySet holds every token verification key, each pinned to one
// algorithm, and selects the key for a token.
// Thread-safe: immutable once built. Share it as
// std::shared_ptr<const TokenKeySet>; a reload builds a new set and swaps the
// pointer, so a verification in progress keeps the set it started with.
//
// Selection (RFC 8725 section 3.1): a token whose header has `kid` is
// verified with the key of that kid only; a token without `kid` with the
// keys without kid (the HS256 secret is one). The token's `alg` must equal
// the selected key's algorithm exactly. `none` never verifies.
//
// Example:
//   absl::StatusOr<std::shared_ptr<const TokenKeySet>> keys =
//       TokenKeySet::Load(config, secret);  // secret may be ""
//   if (!keys.ok()) ... refuse to start, or keep the old set on reload
//   JwtVerifier verifier(*keys);
class TokenKeySet {
 public:
  // Create()
  //
  // A set of `keys`; InvalidArgument when two keys share a non-empty kid.
  static absl::StatusOr<std::shared_ptr<const TokenKeySet>> Create(std::vector<TokenKey> keys);

  // FromHmacSecret()
  //
  // The set of one HS256 key without kid, or the empty set (which verifies
  // nothing) when `secret` is empty.
  static std::shared_ptr<const TokenKeySet> FromHmacSecret(std::string secret);

  // Load()
  //
  // Builds the set from `hmac_secret` (an HS256 key without kid, skipped when
  // empty), `config.token_keys` and the JWK Set in `config.token_jwks_file`
  // (see ParseJwkSet(); its skip warnings are logged). Files are read now,
  // relative to the working directory; call Load() again to re-read them.
  //
  // Each token_keys entry needs `algorithm`; HS256 takes `hmac_secret` (a
  // "${NAME}" reference is resolved with ResolveSecretReference()), every
  // other algorithm `public_key_file` (PEM SubjectPublicKeyInfo or X.509
  // certificate), never both.
  //
  // Errors, InvalidArgument unless a file cannot be read (then its errno
  // code) or a secret reference is unset (FailedPrecondition): each names
  // the entry (token_keys[i], with its kid) or the file, and the problem:
  // unknown algorithm, a key that does not fit its algorithm, a kid used
  // twice across token_keys and the JWKS. No message contains a secret.
  // An empty set is not an error here: the caller decides.
  static absl::StatusOr<std::shared_ptr<const TokenKeySet>> Load(
      const wirehub::config::v1::Config& config, std::string_view hmac_secret);

  // Select()
  //
  // The keys that may verify a token whose header has `kid` (nullopt when
  // it has none) and `alg`: one key for a kid, possibly several without.
  // Errors, all Unauthenticated: "unknown key id", "algorithm X not allowed
  // for key \"K\"" (or "... for keys without kid"), "token algorithm none is
  // not allowed", "token algorithm is not supported" (the name is not
  // echoed: the header is attacker-controlled), "token has no kid and every
  // configured key has one", and "no token keys configured".
  absl::StatusOr<std::vector<const TokenKey*>> Select(std::optional<std::string_view> kid,
                                                      std::string_view alg) const;

  bool empty() const { return keys_.empty(); }
  size_t size() const { return keys_.size(); }
  // For logs: "3 token keys (HS256 without kid, kid \"a\" RS256, ...)".
  std::string Describe() const;

 private:
  explicit TokenKeySet(std::vector<TokenKey> keys);

  std::vector<TokenKey> keys_;
  // kid -> index in keys_, for the keys that have one.
  std::map<std::string, size_t, std::less<>> by_kid_;
};

}  // namespace wirehub

#endif  // WIREHUB_COMMON_TOKEN_KEYS_H_
