#include "common/token_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/jwt.h"
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

// The small-order Ed25519 points, as a test states them: with such a public
// key the signature R = identity, S = 0 verifies whenever the point's order
// divides the challenge, so some of a few hundred messages verify.
TEST(TokenKeyTest, RefusesSmallOrderEd25519Keys) {
  const std::vector<std::string> small_order = {
      std::string(32, '\0'),
      std::string("\x01") + std::string(31, '\0'),
      std::string("\xec") + std::string(30, '\xff') + "\x7f",
      "\xc7\x17\x6a\x70\x3d\x4d\xd8\x4f\xba\x3c\x0b\x76\x0d\x10\x67\x0f"
      "\x2a\x20\x53\xfa\x2c\x39\xcc\xc6\x4e\xc7\xfd\x77\x92\xac\x03\x7a",
      "\x26\xe8\x95\x8f\xc2\xb2\x27\xb0\x45\xc3\xf4\x89\xf2\xef\x98\xf0"
      "\xd5\xdf\xac\x05\xd3\xc6\x33\x39\xb1\x38\x02\x88\x6d\x53\xfc\x05",
  };
  std::string forged_signature = std::string("\x01") + std::string(63, '\0');
  for (std::string y : small_order) {
    ASSERT_EQ(y.size(), 32u);
    for (bool sign : {false, true}) {
      if (sign) y[31] = static_cast<char>(y[31] | 0x80);
      SCOPED_TRACE(Base64UrlEncode(y));
      EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(
          EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(y.data()), y.size());
      ASSERT_NE(raw, nullptr);
      // The point is indeed weak: OpenSSL accepts a forged signature.
      bool forged = false;
      for (int i = 0; i < 256 && !forged; ++i) {
        const std::string message = "m" + std::to_string(i);
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        forged = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, raw) == 1 &&
                 EVP_DigestVerify(
                     ctx, reinterpret_cast<const unsigned char*>(forged_signature.data()), 64,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
        EVP_MD_CTX_free(ctx);
      }
      ERR_clear_error();
      EXPECT_TRUE(forged);
      absl::StatusOr<TokenKey> key = TokenKey::FromPublicKey("k", JwsAlgorithm::kEdDsa, raw);
      EVP_PKEY_free(raw);
      EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(key.status().message(), HasSubstr("small order"));
    }
  }
  // A non-canonical encoding (y = p + 1) is refused too.
  std::string non_canonical = std::string("\xee") + std::string(30, '\xff') + "\x7f";
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(non_canonical.data()), 32);
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(TokenKey::FromPublicKey("k", JwsAlgorithm::kEdDsa, raw).status().code(),
            absl::StatusCode::kInvalidArgument);
  EVP_PKEY_free(raw);
}

}  // namespace
}  // namespace wirehub
