#include "common/token_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/testing/test_keys.h"
#include "common/token_signer.h"

namespace wirehub {
namespace {

using ::testing::HasSubstr;

constexpr char kInput[] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9";

const std::vector<JwsAlgorithm>& AsymmetricAlgorithms() {
  static const auto* const kAll = new std::vector<JwsAlgorithm>{
      JwsAlgorithm::kRs256, JwsAlgorithm::kRs384, JwsAlgorithm::kRs512, JwsAlgorithm::kPs256,
      JwsAlgorithm::kEs256, JwsAlgorithm::kEs384, JwsAlgorithm::kEdDsa};
  return *kAll;
}

std::string SignWith(const TestKeyPair& pair, JwsAlgorithm algorithm, const std::string& input) {
  absl::StatusOr<TokenSigner> signer = TokenSigner::FromPrivateKey(algorithm, pair.key());
  EXPECT_TRUE(signer.ok()) << signer.status();
  absl::StatusOr<std::string> signature = signer->Signature(input);
  EXPECT_TRUE(signature.ok()) << signature.status();
  return *signature;
}

TEST(JwsAlgorithmTest, NamesRoundTripAndNoneIsNotOne) {
  for (JwsAlgorithm algorithm : AsymmetricAlgorithms()) {
    EXPECT_EQ(ParseJwsAlgorithm(JwsAlgorithmName(algorithm)), algorithm);
  }
  EXPECT_EQ(ParseJwsAlgorithm("HS256"), JwsAlgorithm::kHs256);
  EXPECT_EQ(ParseJwsAlgorithm("none"), std::nullopt);
  EXPECT_EQ(ParseJwsAlgorithm("hs256"), std::nullopt);
  EXPECT_EQ(ParseJwsAlgorithm("EDDSA"), std::nullopt);
  EXPECT_EQ(ParseJwsAlgorithm("HS512"), std::nullopt);
  EXPECT_EQ(ParseJwsAlgorithm("PS384"), std::nullopt);
}

TEST(TokenKeyTest, EveryAlgorithmVerifiesItsOwnSignature) {
  for (JwsAlgorithm algorithm : AsymmetricAlgorithms()) {
    SCOPED_TRACE(JwsAlgorithmName(algorithm));
    TestKeyPair pair = TestKeyPair::Generate(algorithm);
    absl::StatusOr<TokenKey> key = TokenKey::FromPublicKeyPem("k", algorithm, pair.PublicPem());
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->algorithm(), algorithm);
    EXPECT_EQ(key->kid(), "k");
    const std::string signature = SignWith(pair, algorithm, kInput);
    EXPECT_TRUE(key->VerifySignature(kInput, signature));

    std::string tampered_input = kInput;
    tampered_input.back() ^= 1;
    EXPECT_FALSE(key->VerifySignature(tampered_input, signature));
    std::string tampered_signature = signature;
    tampered_signature[tampered_signature.size() / 2] ^= 1;
    EXPECT_FALSE(key->VerifySignature(kInput, tampered_signature));
    EXPECT_FALSE(key->VerifySignature(kInput, ""));
    // Failures leave no error on the thread's OpenSSL queue (TLS on the
    // same thread would read it).
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
}

TEST(TokenKeyTest, HmacKeyVerifiesInConstantTimeAndRefusesEmptySecret) {
  absl::StatusOr<TokenKey> key = TokenKey::FromHmacSecret("", "s3cret-value");
  ASSERT_TRUE(key.ok());
  absl::StatusOr<TokenSigner> signer = TokenSigner::FromHmacSecret("s3cret-value");
  ASSERT_TRUE(signer.ok());
  std::string mac = *signer->Signature(kInput);
  EXPECT_TRUE(key->VerifySignature(kInput, mac));
  mac.back() ^= 1;
  EXPECT_FALSE(key->VerifySignature(kInput, mac));
  EXPECT_FALSE(key->VerifySignature(kInput, mac.substr(0, 31)));

  absl::StatusOr<TokenKey> empty = TokenKey::FromHmacSecret("", "");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenKeyTest, CertificateGivesItsPublicKey) {
  TestKeyPair pair = TestKeyPair::Generate(JwsAlgorithm::kEs256);
  absl::StatusOr<TokenKey> key =
      TokenKey::FromPublicKeyPem("c", JwsAlgorithm::kEs256, pair.CertificatePem());
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(key->VerifySignature(kInput, SignWith(pair, JwsAlgorithm::kEs256, kInput)));
}

TEST(TokenKeyTest, EcdsaSignatureMustBeRawOfTheCurveSize) {
  TestKeyPair pair = TestKeyPair::Generate(JwsAlgorithm::kEs256);
  absl::StatusOr<TokenKey> key =
      TokenKey::FromPublicKeyPem("", JwsAlgorithm::kEs256, pair.PublicPem());
  ASSERT_TRUE(key.ok());
  const std::string raw = SignWith(pair, JwsAlgorithm::kEs256, kInput);
  ASSERT_EQ(raw.size(), 64u);
  EXPECT_TRUE(key->VerifySignature(kInput, raw));
  EXPECT_FALSE(key->VerifySignature(kInput, raw.substr(0, 63)));
  EXPECT_FALSE(key->VerifySignature(kInput, raw + '\0'));
  EXPECT_FALSE(key->VerifySignature(kInput, std::string(1, '\0') + raw));

  // OpenSSL's own DER form is not a JWS signature.
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pair.key()), 1);
  unsigned char der[128];
  size_t der_length = sizeof(der);
  ASSERT_EQ(EVP_DigestSign(ctx, der, &der_length, reinterpret_cast<const unsigned char*>(kInput),
                           sizeof(kInput) - 1),
            1);
  EVP_MD_CTX_free(ctx);
  EXPECT_FALSE(
      key->VerifySignature(kInput, std::string(reinterpret_cast<const char*>(der), der_length)));

  // An ES384 signature (96 bytes) never verifies under a P-256 key.
  TestKeyPair p384 = TestKeyPair::Generate(JwsAlgorithm::kEs384);
  EXPECT_FALSE(key->VerifySignature(kInput, SignWith(p384, JwsAlgorithm::kEs384, kInput)));
}

TEST(TokenKeyTest, Ps256IsNotRs256) {
  TestKeyPair pair = TestKeyPair::Generate(JwsAlgorithm::kRs256);
  absl::StatusOr<TokenKey> rs = TokenKey::FromPublicKey("", JwsAlgorithm::kRs256, pair.key());
  absl::StatusOr<TokenKey> ps = TokenKey::FromPublicKey("", JwsAlgorithm::kPs256, pair.key());
  ASSERT_TRUE(rs.ok() && ps.ok());
  EXPECT_FALSE(rs->VerifySignature(kInput, SignWith(pair, JwsAlgorithm::kPs256, kInput)));
  EXPECT_FALSE(ps->VerifySignature(kInput, SignWith(pair, JwsAlgorithm::kRs256, kInput)));
  EXPECT_FALSE(rs->VerifySignature(kInput, SignWith(pair, JwsAlgorithm::kRs384, kInput)));
}

TEST(TokenKeyTest, RefusesKeysThatDoNotFitTheAlgorithm) {
  TestKeyPair p384 = TestKeyPair::Generate(JwsAlgorithm::kEs384);
  TestKeyPair ed = TestKeyPair::Generate(JwsAlgorithm::kEdDsa);
  TestKeyPair rsa = TestKeyPair::Generate(JwsAlgorithm::kRs256);
  TestKeyPair small_rsa = TestKeyPair::Generate(JwsAlgorithm::kRs256, 1024);

  absl::StatusOr<TokenKey> key =
      TokenKey::FromPublicKeyPem("k", JwsAlgorithm::kEs256, p384.PublicPem());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("ES256 needs an EC key on P-256"));
  EXPECT_THAT(key.status().message(), HasSubstr("secp384r1"));

  key = TokenKey::FromPublicKeyPem("k", JwsAlgorithm::kRs256, small_rsa.PublicPem());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("1024 bits"));

  key = TokenKey::FromPublicKeyPem("k", JwsAlgorithm::kEdDsa, rsa.PublicPem());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  key = TokenKey::FromPublicKeyPem("k", JwsAlgorithm::kRs256, ed.PublicPem());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  key = TokenKey::FromPublicKeyPem("k", JwsAlgorithm::kHs256, rsa.PublicPem());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("HMAC secret"));
  key = TokenKey::FromPublicKeyPem("k", JwsAlgorithm::kRs256, "not a pem");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  // A private key is not a public key file.
  key = TokenKey::FromPublicKeyPem("k", JwsAlgorithm::kRs256, rsa.PrivatePem());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace wirehub
