#include "common/token_signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/jwt.h"
#include "common/testing/test_keys.h"

namespace wirehub {
namespace {

using ::testing::HasSubstr;

TokenSpec Spec() {
  TokenSpec spec;
  spec.subject = "bob";
  spec.issued_at = absl::FromUnixSeconds(1700000000);
  spec.expires_at = absl::FromUnixSeconds(1700003600);
  spec.channel = "chat:lobby";
  return spec;
}

TEST(TokenSignerTest, HmacSignerMatchesMintToken) {
  absl::StatusOr<TokenSigner> signer = TokenSigner::FromHmacSecret("secret");
  ASSERT_TRUE(signer.ok());
  EXPECT_EQ(*signer->SignToken(Spec()), MintToken("secret", Spec()));
  EXPECT_EQ(TokenSigner::FromHmacSecret("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenSignerTest, HeaderNamesAlgorithmAndKid) {
  TestKeyPair pair = TestKeyPair::Generate(JwsAlgorithm::kEs384);
  absl::StatusOr<TokenSigner> signer =
      TokenSigner::FromPrivateKeyPem(JwsAlgorithm::kEs384, pair.PrivatePem(), "2024-\"05\"");
  ASSERT_TRUE(signer.ok()) << signer.status();
  std::vector<std::string> parts = absl::StrSplit(*signer->SignToken(Spec()), '.');
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(*Base64UrlDecode(parts[0]), R"({"alg":"ES384","kid":"2024-\"05\"","typ":"JWT"})");
  EXPECT_EQ(*Base64UrlDecode(parts[1]), EncodeTokenPayload(Spec()));
  EXPECT_EQ(Base64UrlDecode(parts[2])->size(), 96u);
}

TEST(TokenSignerTest, EcdsaSignaturesAreAlwaysFullLength) {
  // r or s is shorter than the curve about once in 256 signatures; padding
  // keeps r||s at 64 bytes.
  TestKeyPair pair = TestKeyPair::Generate(JwsAlgorithm::kEs256);
  absl::StatusOr<TokenSigner> signer =
      TokenSigner::FromPrivateKey(JwsAlgorithm::kEs256, pair.key());
  ASSERT_TRUE(signer.ok());
  absl::StatusOr<TokenKey> key = TokenKey::FromPublicKey("", JwsAlgorithm::kEs256, pair.key());
  ASSERT_TRUE(key.ok());
  for (int i = 0; i < 600; ++i) {
    const std::string input = std::to_string(i);
    absl::StatusOr<std::string> signature = signer->Signature(input);
    ASSERT_TRUE(signature.ok());
    ASSERT_EQ(signature->size(), 64u);
    ASSERT_TRUE(key->VerifySignature(input, *signature)) << i;
  }
}

TEST(TokenSignerTest, RefusesMismatchedOrMissingKeys) {
  TestKeyPair ed = TestKeyPair::Generate(JwsAlgorithm::kEdDsa);
  absl::StatusOr<TokenSigner> signer =
      TokenSigner::FromPrivateKeyPem(JwsAlgorithm::kRs256, ed.PrivatePem());
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(signer.status().message(), HasSubstr("RS256 needs an RSA key"));
  signer = TokenSigner::FromPrivateKeyPem(JwsAlgorithm::kEdDsa, ed.PublicPem());
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(signer.status().message(), HasSubstr("no unencrypted PEM private key"));
  signer = TokenSigner::FromPrivateKeyPem(JwsAlgorithm::kHs256, ed.PrivatePem());
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wirehub
