// One token verification key, pinned to exactly one JWS algorithm
// (RFC 7518, RFC 8725 section 3.1): an HS256 secret, or an RSA, EC or
// Ed25519 public key.
#ifndef WIREHUB_COMMON_TOKEN_KEY_H_
#define WIREHUB_COMMON_TOKEN_KEY_H_

#include <openssl/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wirehub {

// The JWS algorithms ("alg", RFC 7518 section 3.1) tokens may be signed with.
enum class JwsAlgorithm {
  kHs256,  // HMAC-SHA-256 with a shared secret.
  kRs256,  // RSASSA-PKCS1-v1_5 with SHA-256, SHA-384, SHA-512.
  kRs384,
  kRs512,
  kPs256,  // RSASSA-PSS, SHA-256, MGF1 with SHA-256, 32-byte salt.
  kEs256,  // ECDSA P-256 with SHA-256, signature r||s (64 bytes).
  kEs384,  // ECDSA P-384 with SHA-384, signature r||s (96 bytes).
  kEdDsa,  // Ed25519 (RFC 8037), signature 64 bytes.
};

// ParseJwsAlgorithm()
//
// The algorithm named exactly `name` ("RS256", "EdDSA", ...; case
// matters), or nullopt for anything else, "none" included.
std::optional<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name);

// JwsAlgorithmName()
//
// The JWS name of `algorithm`, as it appears in a token's `alg`.
std::string_view JwsAlgorithmName(JwsAlgorithm algorithm);

// CheckKeyFitsAlgorithm()
//
// OK when `key` (public or private) is of the type `algorithm` needs: RSA of
// at least 2048 bits for RS* and PS256, an EC key on P-256 for ES256 and on
// P-384 for ES384, Ed25519 for EdDSA. HS256 fits no such key. Otherwise
// InvalidArgument saying what the key is and what the algorithm needs.
absl::Status CheckKeyFitsAlgorithm(JwsAlgorithm algorithm, const EVP_PKEY* key);

// TokenKey is a key that verifies token signatures of its one algorithm.
// Thread-safe: immutable after construction; copies share the OpenSSL key.
//
// Example:
//   absl::StatusOr<TokenKey> key =
//       TokenKey::FromPublicKeyPem("2024-05", JwsAlgorithm::kEs256, pem);
//   if (key.ok() && key->VerifySignature(header_dot_payload, signature)) ...
class TokenKey {
 public:
  // FromHmacSecret()
  //
  // An HS256 key. InvalidArgument (without the secret) when `secret` is
  // empty: anyone can compute an HMAC with an empty key.
  static absl::StatusOr<TokenKey> FromHmacSecret(std::string kid, std::string secret);

  // FromPublicKeyPem()
  //
  // A public key from PEM text: a SubjectPublicKeyInfo ("BEGIN PUBLIC KEY")
  // or an X.509 certificate ("BEGIN CERTIFICATE", whose subject public key
  // is used; the certificate itself is not validated). InvalidArgument when
  // the text holds neither, or when CheckKeyFitsAlgorithm() fails; HS256 is
  // refused since it never verifies with a public key.
  static absl::StatusOr<TokenKey> FromPublicKeyPem(std::string kid, JwsAlgorithm algorithm,
                                                   std::string_view pem);

  // FromPublicKey()
  //
  // Takes one reference of `key` (the caller keeps its own). Same checks as
  // FromPublicKeyPem().
  static absl::StatusOr<TokenKey> FromPublicKey(std::string kid, JwsAlgorithm algorithm,
                                                EVP_PKEY* key);

  // The key id a token's header `kid` names this key by; "" for none.
  const std::string& kid() const { return kid_; }
  // The only algorithm this key verifies.
  JwsAlgorithm algorithm() const { return algorithm_; }

  // VerifySignature()
  //
  // True when `signature` (the decoded third part of a compact JWS) is a
  // valid signature of `signing_input` ("header.payload" as sent) under this
  // key with its algorithm. HMACs are compared in constant time; an ECDSA
  // signature of the wrong length is refused before OpenSSL sees it.
  bool VerifySignature(std::string_view signing_input, std::string_view signature) const;

 private:
  TokenKey(std::string kid, JwsAlgorithm algorithm, std::string hmac_secret,
           std::shared_ptr<EVP_PKEY> public_key);

  std::string kid_;
  JwsAlgorithm algorithm_;
  // Exactly one of these is set: the secret for HS256, the key otherwise.
  std::string hmac_secret_;
  std::shared_ptr<EVP_PKEY> public_key_;
};

}  // namespace wirehub

#endif  // WIREHUB_COMMON_TOKEN_KEY_H_
