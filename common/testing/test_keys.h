// Keys generated for tests (never committed): one private key per JWS
// algorithm, its public half as PEM and as a JWK, written where a test
// wants them.
#ifndef WIREHUB_COMMON_TESTING_TEST_KEYS_H_
#define WIREHUB_COMMON_TESTING_TEST_KEYS_H_

#include <openssl/types.h>

#include <memory>
#include <string>

#include "common/token_key.h"

namespace wirehub {

// TestKeyPair is a fresh private key for one algorithm's key type.
// Thread-compatible.
class TestKeyPair {
 public:
  // Generates a key for `algorithm`: RSA 2048 (or `rsa_bits`) for RS*/PS256,
  // P-256 for ES256, P-384 for ES384, Ed25519 for EdDSA. CHECK-fails when
  // OpenSSL cannot (never expected). Not for HS256.
  static TestKeyPair Generate(JwsAlgorithm algorithm, int rsa_bits = 2048);

  EVP_PKEY* key() const { return key_.get(); }
  // "-----BEGIN PUBLIC KEY-----..." (SubjectPublicKeyInfo).
  std::string PublicPem() const;
  // "-----BEGIN PRIVATE KEY-----..." (PKCS #8, unencrypted).
  std::string PrivatePem() const;
  // A self-signed X.509 certificate of the key, PEM.
  std::string CertificatePem() const;
  // The public JWK's key members without braces, e.g.
  // "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"...\",\"y\":\"...\"".
  std::string JwkMembers() const;

 private:
  explicit TestKeyPair(EVP_PKEY* key);
  std::shared_ptr<EVP_PKEY> key_;
};

// WriteTempFile()
//
// Writes `content` to a new file under the test's temporary directory and
// returns its path.
std::string WriteTempFile(const std::string& name, const std::string& content);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_TESTING_TEST_KEYS_H_
