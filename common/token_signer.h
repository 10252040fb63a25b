// Signing tokens with any supported JWS algorithm: `wirehubctl token
// --private_key_file` and the tests of the verifier.
#ifndef WIREHUB_COMMON_TOKEN_SIGNER_H_
#define WIREHUB_COMMON_TOKEN_SIGNER_H_

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/jwt.h"
#include "common/token_key.h"

namespace wirehub {

// TokenSigner signs with one key and the one algorithm it is given.
// Thread-safe: immutable after construction; copies share the OpenSSL key.
//
// Example:
//   absl::StatusOr<TokenSigner> signer =
//       TokenSigner::FromPrivateKeyPem(JwsAlgorithm::kEs256, pem, "2024-05");
//   absl::StatusOr<std::string> token = signer->SignToken(spec);
class TokenSigner {
 public:
  // FromHmacSecret()
  //
  // An HS256 signer; InvalidArgument when `secret` is empty.
  static absl::StatusOr<TokenSigner> FromHmacSecret(std::string secret, std::string kid = "");

  // FromPrivateKeyPem()
  //
  // A signer from a PEM private key (PKCS #8 "BEGIN PRIVATE KEY", or the
  // traditional RSA / EC forms), unencrypted. InvalidArgument when the text
  // holds no private key or the key does not fit `algorithm`
  // (CheckKeyFitsAlgorithm()); HS256 is refused here.
  static absl::StatusOr<TokenSigner> FromPrivateKeyPem(JwsAlgorithm algorithm, std::string_view pem,
                                                       std::string kid = "");

  // FromPrivateKey()
  //
  // Takes one reference of `key` (the caller keeps its own); same checks.
  static absl::StatusOr<TokenSigner> FromPrivateKey(JwsAlgorithm algorithm, EVP_PKEY* key,
                                                    std::string kid = "");

  JwsAlgorithm algorithm() const { return algorithm_; }
  const std::string& kid() const { return kid_; }

  // SignToken()
  //
  // A compact JWS of EncodeTokenPayload(spec) with header
  // {"alg":ALG,"typ":"JWT"} plus "kid" when the signer has one.
  absl::StatusOr<std::string> SignToken(const TokenSpec& spec) const;

  // SignRaw()
  //
  // "b64url(header).b64url(payload).b64url(signature)" for any header and
  // payload text (tests use it for unusual headers).
  absl::StatusOr<std::string> SignRaw(std::string_view header_json,
                                      std::string_view payload_json) const;

  // Signature()
  //
  // The JWS signature bytes of `signing_input`: an HMAC, a PKCS #1 v1.5 or
  // PSS signature, r||s for ECDSA (each padded to the curve size), or an
  // Ed25519 signature.
  absl::StatusOr<std::string> Signature(std::string_view signing_input) const;

 private:
  TokenSigner(JwsAlgorithm algorithm, std::string kid, std::string hmac_secret,
              std::shared_ptr<EVP_PKEY> private_key);

  JwsAlgorithm algorithm_;
  std::string kid_;
  // Exactly one of these is set: the secret for HS256, the key otherwise.
  std::string hmac_secret_;
  std::shared_ptr<EVP_PKEY> private_key_;
};

}  // namespace wirehub

#endif  // WIREHUB_COMMON_TOKEN_SIGNER_H_
