#include "common/token_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/jwt.h"
#include "common/testing/test_keys.h"
#include "common/token_signer.h"

namespace wirehub {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "hs256-secret-for-tests-0123456789";
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

TokenSpec Spec() {
  TokenSpec spec;
  spec.subject = "alice";
  spec.issued_at = kNow;
  spec.expires_at = kNow + absl::Hours(1);
  return spec;
}

std::string Sign(const TokenSigner& signer) {
  absl::StatusOr<std::string> token = signer.SignToken(Spec());
  EXPECT_TRUE(token.ok()) << token.status();
  return *token;
}

TokenSigner Signer(const TestKeyPair& pair, JwsAlgorithm algorithm, std::string kid) {
  absl::StatusOr<TokenSigner> signer = TokenSigner::FromPrivateKey(algorithm, pair.key(), kid);
  EXPECT_TRUE(signer.ok()) << signer.status();
  return *signer;
}

TokenKey PublicKey(const TestKeyPair& pair, JwsAlgorithm algorithm, std::string kid) {
  absl::StatusOr<TokenKey> key = TokenKey::FromPublicKey(std::move(kid), algorithm, pair.key());
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

std::shared_ptr<const TokenKeySet> Set(std::vector<TokenKey> keys) {
  absl::StatusOr<std::shared_ptr<const TokenKeySet>> set = TokenKeySet::Create(std::move(keys));
  EXPECT_TRUE(set.ok()) << set.status();
  return *set;
}

absl::Status VerifyStatus(const std::shared_ptr<const TokenKeySet>& set, const std::string& token) {
  return JwtVerifier(set).Verify(token, kNow).status();
}

// A key pair per asymmetric algorithm, generated once (RSA takes a while).
struct Pairs {
  TestKeyPair rsa = TestKeyPair::Generate(JwsAlgorithm::kRs256);
  TestKeyPair p256 = TestKeyPair::Generate(JwsAlgorithm::kEs256);
  TestKeyPair p384 = TestKeyPair::Generate(JwsAlgorithm::kEs384);
  TestKeyPair ed = TestKeyPair::Generate(JwsAlgorithm::kEdDsa);

  const TestKeyPair& For(JwsAlgorithm algorithm) const {
    switch (algorithm) {
      case JwsAlgorithm::kEs256:
        return p256;
      case JwsAlgorithm::kEs384:
        return p384;
      case JwsAlgorithm::kEdDsa:
        return ed;
      default:
        return rsa;
    }
  }
};

const Pairs& TestPairs() {
  static const Pairs* const kPairs = new Pairs();
  return *kPairs;
}

TEST(TokenKeySetTest, EveryAlgorithmIsAcceptedWithItsKey) {
  const Pairs& pairs = TestPairs();
  for (JwsAlgorithm algorithm :
       {JwsAlgorithm::kRs256, JwsAlgorithm::kRs384, JwsAlgorithm::kRs512, JwsAlgorithm::kPs256,
        JwsAlgorithm::kEs256, JwsAlgorithm::kEs384, JwsAlgorithm::kEdDsa}) {
    SCOPED_TRACE(JwsAlgorithmName(algorithm));
    const TestKeyPair& pair = pairs.For(algorithm);
    // With a kid, next to the HS256 secret.
    std::vector<TokenKey> keys;
    keys.push_back(*TokenKey::FromHmacSecret("", kSecret));
    keys.push_back(PublicKey(pair, algorithm, "the-kid"));
    auto set = Set(std::move(keys));
    absl::StatusOr<TokenClaims> claims =
        JwtVerifier(set).Verify(Sign(Signer(pair, algorithm, "the-kid")), kNow);
    ASSERT_TRUE(claims.ok()) << claims.status();
    EXPECT_EQ(claims->subject, "alice");
    // The secret still verifies tokens without kid.
    EXPECT_TRUE(JwtVerifier(set).Verify(MintToken(kSecret, Spec()), kNow).ok());

    // Without a kid, as the only key without kid.
    auto kidless = Set({PublicKey(pair, algorithm, "")});
    EXPECT_TRUE(VerifyStatus(kidless, Sign(Signer(pair, algorithm, ""))).ok());
  }
  EXPECT_TRUE(VerifyStatus(TokenKeySet::FromHmacSecret(kSecret), MintToken(kSecret, Spec())).ok());
}

TEST(TokenKeySetTest, Rs256TokenNeverMeetsTheHmacSecret) {
  const Pairs& pairs = TestPairs();
  // The server has only the HS256 secret: an RS256 token is refused by its
  // alg before any key is tried.
  auto hmac_only = TokenKeySet::FromHmacSecret(kSecret);
  absl::Status status = VerifyStatus(hmac_only, Sign(Signer(pairs.rsa, JwsAlgorithm::kRs256, "")));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("algorithm RS256 not allowed for keys without kid"));

  // The classic confusion: the attacker signs HS256 with the bytes of the
  // server's public key, as a library that trusts `alg` would verify it.
  const std::string public_pem = pairs.rsa.PublicPem();
  TokenSigner forger = *TokenSigner::FromHmacSecret(public_pem, "rsa");
  auto rsa_set = Set({PublicKey(pairs.rsa, JwsAlgorithm::kRs256, "rsa")});
  status = VerifyStatus(rsa_set, Sign(forger));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("algorithm HS256 not allowed for key \"rsa\""));
  // Nor without kid, against a kid-less RSA key.
  auto rsa_kidless = Set({PublicKey(pairs.rsa, JwsAlgorithm::kRs256, "")});
  status = VerifyStatus(rsa_kidless, Sign(*TokenSigner::FromHmacSecret(public_pem)));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("algorithm HS256 not allowed"));
}

TEST(TokenKeySetTest, TokensAreRefusedAcrossFamilies) {
  const Pairs& pairs = TestPairs();
  std::vector<TokenKey> keys;
  keys.push_back(*TokenKey::FromHmacSecret("", kSecret));
  keys.push_back(PublicKey(pairs.rsa, JwsAlgorithm::kRs256, "rsa"));
  keys.push_back(PublicKey(pairs.p256, JwsAlgorithm::kEs256, "p256"));
  keys.push_back(PublicKey(pairs.p384, JwsAlgorithm::kEs384, "p384"));
  keys.push_back(PublicKey(pairs.ed, JwsAlgorithm::kEdDsa, "ed"));
  auto set = Set(std::move(keys));

  // HS256 token naming the RSA key's kid, signed with the real secret.
  absl::Status status = VerifyStatus(set, Sign(*TokenSigner::FromHmacSecret(kSecret, "rsa")));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("algorithm HS256 not allowed for key \"rsa\""));

  // ES256 token against the ES384 key.
  status = VerifyStatus(set, Sign(Signer(pairs.p256, JwsAlgorithm::kEs256, "p384")));
  EXPECT_THAT(status.message(), HasSubstr("algorithm ES256 not allowed for key \"p384\""));
  // The same P-256 signature under an ES384 header: the right algorithm for
  // the key, the wrong signature.
  absl::StatusOr<TokenSigner> p256 =
      TokenSigner::FromPrivateKey(JwsAlgorithm::kEs256, pairs.p256.key());
  std::string input_header = R"({"alg":"ES384","kid":"p384","typ":"JWT"})";
  std::string token = *p256->SignRaw(input_header, EncodeTokenPayload(Spec()));
  status = VerifyStatus(set, token);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("signature"));

  // PS256 token on the RS256-pinned key.
  status = VerifyStatus(set, Sign(Signer(pairs.rsa, JwsAlgorithm::kPs256, "rsa")));
  EXPECT_THAT(status.message(), HasSubstr("algorithm PS256 not allowed for key \"rsa\""));
  // EdDSA token signed by the right key but naming another kid.
  status = VerifyStatus(set, Sign(Signer(pairs.ed, JwsAlgorithm::kEdDsa, "p256")));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokenKeySetTest, AlgNoneIsAlwaysRefused) {
  const Pairs& pairs = TestPairs();
  auto set = Set(
      {*TokenKey::FromHmacSecret("", kSecret), PublicKey(pairs.ed, JwsAlgorithm::kEdDsa, "ed")});
  for (const char* header : {R"({"alg":"none"})", R"({"alg":"none","kid":"ed"})"}) {
    std::string token = absl::StrCat(Base64UrlEncode(header), ".",
                                     Base64UrlEncode(EncodeTokenPayload(Spec())), ".");
    absl::Status status = VerifyStatus(set, token);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(status.message(), HasSubstr("none is not allowed"));
  }
}

TEST(TokenKeySetTest, TamperedPayloadOrSignatureIsRefused) {
  const Pairs& pairs = TestPairs();
  for (JwsAlgorithm algorithm :
       {JwsAlgorithm::kRs256, JwsAlgorithm::kEs256, JwsAlgorithm::kEs384, JwsAlgorithm::kEdDsa}) {
    SCOPED_TRACE(JwsAlgorithmName(algorithm));
    const TestKeyPair& pair = pairs.For(algorithm);
    auto set = Set({PublicKey(pair, algorithm, "k")});
    const std::string token = Sign(Signer(pair, algorithm, "k"));
    ASSERT_TRUE(VerifyStatus(set, token).ok());
    std::vector<std::string> parts = absl::StrSplit(token, '.');
    ASSERT_EQ(parts.size(), 3u);

    std::vector<std::string> payload = parts;
    TokenSpec mallory = Spec();
    mallory.subject = "mallory";
    payload[1] = Base64UrlEncode(EncodeTokenPayload(mallory));
    EXPECT_THAT(VerifyStatus(set, absl::StrJoin(payload, ".")).message(), HasSubstr("signature"));

    std::vector<std::string> signature = parts;
    std::string bytes = *Base64UrlDecode(parts[2]);
    bytes[bytes.size() / 2] ^= 0x01;
    signature[2] = Base64UrlEncode(bytes);
    EXPECT_THAT(VerifyStatus(set, absl::StrJoin(signature, ".")).message(), HasSubstr("signature"));
  }
}

TEST(TokenKeySetTest, WrongLengthEcdsaSignatureIsRefused) {
  const Pairs& pairs = TestPairs();
  auto set = Set({PublicKey(pairs.p256, JwsAlgorithm::kEs256, "k")});
  std::vector<std::string> parts =
      absl::StrSplit(Sign(Signer(pairs.p256, JwsAlgorithm::kEs256, "k")), '.');
  std::string bytes = *Base64UrlDecode(parts[2]);
  ASSERT_EQ(bytes.size(), 64u);
  for (std::string wrong : {bytes.substr(0, 63), bytes + std::string(1, '\0'),
                            std::string(1, '\0') + bytes, bytes + bytes}) {
    parts[2] = Base64UrlEncode(wrong);
    absl::Status status = VerifyStatus(set, absl::StrJoin(parts, "."));
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(status.message(), HasSubstr("signature"));
  }
}

TEST(TokenKeySetTest, KidSelectsExactlyOneKey) {
  const Pairs& pairs = TestPairs();
  auto set = Set(
      {*TokenKey::FromHmacSecret("", kSecret), PublicKey(pairs.p256, JwsAlgorithm::kEs256, "a")});
  // Unknown kid.
  absl::Status status = VerifyStatus(set, Sign(Signer(pairs.p256, JwsAlgorithm::kEs256, "b")));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("unknown key id"));
  // A kid on a token whose key has none: the kid-less secret is not tried.
  status = VerifyStatus(set, Sign(*TokenSigner::FromHmacSecret(kSecret, "secret")));
  EXPECT_THAT(status.message(), HasSubstr("unknown key id"));
  status = VerifyStatus(TokenKeySet::FromHmacSecret(kSecret),
                        Sign(*TokenSigner::FromHmacSecret(kSecret, "x")));
  EXPECT_THAT(status.message(), HasSubstr("unknown key id"));
  // No kid while every key has one.
  auto all_kids = Set({PublicKey(pairs.p256, JwsAlgorithm::kEs256, "a")});
  status = VerifyStatus(all_kids, Sign(Signer(pairs.p256, JwsAlgorithm::kEs256, "")));
  EXPECT_THAT(status.message(), HasSubstr("no kid"));
  // A kid that is not a string is malformed.
  std::string token = *TokenSigner::FromHmacSecret(kSecret)->SignRaw(R"({"alg":"HS256","kid":7})",
                                                                     EncodeTokenPayload(Spec()));
  EXPECT_THAT(VerifyStatus(set, token).message(), HasSubstr("kid"));
  token = *TokenSigner::FromHmacSecret(kSecret)->SignRaw(R"({"alg":"HS256","kid":"a","kid":"a"})",
                                                         EncodeTokenPayload(Spec()));
  EXPECT_THAT(VerifyStatus(set, token).message(), HasSubstr("duplicate kid"));
}

TEST(TokenKeySetTest, KeysWithoutKidAreTriedByAlgorithm) {
  const Pairs& pairs = TestPairs();
  TestKeyPair other = TestKeyPair::Generate(JwsAlgorithm::kEdDsa);
  // Two kid-less Ed25519 keys (a rotation without kids) and the secret.
  auto set =
      Set({*TokenKey::FromHmacSecret("", kSecret), PublicKey(pairs.ed, JwsAlgorithm::kEdDsa, ""),
           PublicKey(other, JwsAlgorithm::kEdDsa, "")});
  EXPECT_TRUE(VerifyStatus(set, Sign(Signer(pairs.ed, JwsAlgorithm::kEdDsa, ""))).ok());
  EXPECT_TRUE(VerifyStatus(set, Sign(Signer(other, JwsAlgorithm::kEdDsa, ""))).ok());
  EXPECT_TRUE(VerifyStatus(set, MintToken(kSecret, Spec())).ok());
  EXPECT_THAT(VerifyStatus(set, Sign(Signer(pairs.p256, JwsAlgorithm::kEs256, ""))).message(),
              HasSubstr("algorithm ES256 not allowed for keys without kid"));
}

TEST(TokenKeySetTest, EmptySetRefusesEverything) {
  auto empty = TokenKeySet::FromHmacSecret("");
  EXPECT_TRUE(empty->empty());
  EXPECT_THAT(VerifyStatus(empty, MintToken("", Spec())).message(),
              HasSubstr("no token keys configured"));
  EXPECT_THAT(JwtVerifier(std::shared_ptr<const TokenKeySet>())
                  .Verify(MintToken("x", Spec()), kNow)
                  .status()
                  .message(),
              HasSubstr("no token keys configured"));
}

TEST(TokenKeySetTest, CreateRefusesDuplicateKids) {
  absl::StatusOr<std::shared_ptr<const TokenKeySet>> set = TokenKeySet::Create(
      {*TokenKey::FromHmacSecret("a", "one"), *TokenKey::FromHmacSecret("a", "two")});
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(), HasSubstr("\"a\""));
}

// Load(): the configuration's token_keys and token_jwks_file.
class TokenKeySetLoadTest : public ::testing::Test {
 protected:
  config::v1::TokenKey* AddKey(const std::string& kid, const std::string& algorithm,
                               const std::string& file) {
    config::v1::TokenKey* key = config_.add_token_keys();
    key->set_kid(kid);
    key->set_algorithm(algorithm);
    key->set_public_key_file(file);
    return key;
  }
  absl::StatusOr<std::shared_ptr<const TokenKeySet>> Load(const std::string& secret = "") {
    return TokenKeySet::Load(config_, secret);
  }
  config::v1::Config config_;
};

TEST_F(TokenKeySetLoadTest, LoadsPemCertificateHmacAndJwks) {
  const Pairs& pairs = TestPairs();
  AddKey("rsa", "RS256", WriteTempFile("rsa.pem", pairs.rsa.PublicPem()));
  AddKey("cert", "ES384", WriteTempFile("p384.crt", pairs.p384.CertificatePem()));
  AddKey("", "EdDSA", WriteTempFile("ed.pem", pairs.ed.PublicPem()));
  ASSERT_EQ(setenv("WIREHUB_TEST_HS_KEY", "from-the-environment", 1), 0);
  config::v1::TokenKey* hmac = config_.add_token_keys();
  hmac->set_kid("hmac");
  hmac->set_algorithm("HS256");
  hmac->set_hmac_secret("${WIREHUB_TEST_HS_KEY}");
  config_.set_token_jwks_file(WriteTempFile(
      "keys.jwks", absl::StrCat(R"({"keys":[{"kid":"jwk-p256",)", pairs.p256.JwkMembers(),
                                R"(},{"kid":"enc","use":"enc",)", pairs.p256.JwkMembers(), "}]}")));

  absl::StatusOr<std::shared_ptr<const TokenKeySet>> set = Load(kSecret);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->size(), 6u) << (*set)->Describe();
  EXPECT_THAT((*set)->Describe(), HasSubstr("kid \"jwk-p256\" ES256"));
  EXPECT_TRUE(VerifyStatus(*set, Sign(Signer(pairs.rsa, JwsAlgorithm::kRs256, "rsa"))).ok());
  EXPECT_TRUE(VerifyStatus(*set, Sign(Signer(pairs.p384, JwsAlgorithm::kEs384, "cert"))).ok());
  EXPECT_TRUE(VerifyStatus(*set, Sign(Signer(pairs.ed, JwsAlgorithm::kEdDsa, ""))).ok());
  EXPECT_TRUE(
      VerifyStatus(*set, Sign(*TokenSigner::FromHmacSecret("from-the-environment", "hmac"))).ok());
  EXPECT_TRUE(VerifyStatus(*set, Sign(Signer(pairs.p256, JwsAlgorithm::kEs256, "jwk-p256"))).ok());
  EXPECT_TRUE(VerifyStatus(*set, MintToken(kSecret, Spec())).ok());
  EXPECT_THAT(VerifyStatus(*set, Sign(Signer(pairs.p256, JwsAlgorithm::kEs256, "enc"))).message(),
              HasSubstr("unknown key id"));
}

TEST_F(TokenKeySetLoadTest, ReloadRereadsTheJwks) {
  const Pairs& pairs = TestPairs();
  const std::string path = WriteTempFile("rotating.jwks", "{\"keys\":[]}");
  config_.set_token_jwks_file(path);
  absl::StatusOr<std::shared_ptr<const TokenKeySet>> before = Load(kSecret);
  ASSERT_TRUE(before.ok()) << before.status();
  const std::string token = Sign(Signer(pairs.ed, JwsAlgorithm::kEdDsa, "new"));
  EXPECT_THAT(VerifyStatus(*before, token).message(), HasSubstr("unknown key id"));

  {
    std::ofstream out(path, std::ios::trunc);
    out << R"({"keys":[{"kid":"new",)" << pairs.ed.JwkMembers() << "}]}";
  }
  absl::StatusOr<std::shared_ptr<const TokenKeySet>> after = Load(kSecret);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(VerifyStatus(*after, token).ok());
  // The old set is untouched: a reload swaps sets, it does not edit them.
  EXPECT_THAT(VerifyStatus(*before, token).message(), HasSubstr("unknown key id"));
}

TEST_F(TokenKeySetLoadTest, ErrorsNameTheKeyAndFileButNoSecret) {
  const Pairs& pairs = TestPairs();
  const std::string p384_file = WriteTempFile("p384.pem", pairs.p384.PublicPem());
  AddKey("wrong-curve", "ES256", p384_file);
  absl::Status status = Load().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("token_keys[0] (kid \"wrong-curve\")"));
  EXPECT_THAT(status.message(), HasSubstr(p384_file));
  EXPECT_THAT(status.message(), HasSubstr("P-256"));

  config_.Clear();
  AddKey("k", "HS256", p384_file);
  EXPECT_THAT(Load().status().message(), HasSubstr("HS256 takes hmac_secret"));

  config_.Clear();
  AddKey("k", "RS1024", p384_file);
  EXPECT_THAT(Load().status().message(), HasSubstr("unknown algorithm \"RS1024\""));

  config_.Clear();
  AddKey("k", "", p384_file);
  EXPECT_THAT(Load().status().message(), HasSubstr("algorithm is required"));

  config_.Clear();
  AddKey("k", "ES384", "");
  EXPECT_THAT(Load().status().message(), HasSubstr("needs public_key_file"));

  config_.Clear();
  AddKey("k", "ES384", p384_file)->set_hmac_secret("top-secret-value");
  status = Load().status();
  EXPECT_THAT(status.message(), HasSubstr("hmac_secret is only for HS256"));
  EXPECT_THAT(status.message(), Not(HasSubstr("top-secret-value")));

  config_.Clear();
  AddKey("k", "ES384", "/nonexistent/key.pem");
  EXPECT_EQ(Load().status().code(), absl::StatusCode::kNotFound);

  config_.Clear();
  AddKey("dup", "ES384", p384_file);
  config_.set_token_jwks_file(WriteTempFile(
      "dup.jwks", absl::StrCat(R"({"keys":[{"kid":"dup",)", pairs.p256.JwkMembers(), "}]}")));
  status = Load().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("\"dup\" is used twice"));
  EXPECT_THAT(status.message(), HasSubstr("dup.jwks"));

  config_.Clear();
  config::v1::TokenKey* hmac = config_.add_token_keys();
  hmac->set_algorithm("HS256");
  hmac->set_hmac_secret("${WIREHUB_TEST_UNSET_VARIABLE}");
  EXPECT_EQ(Load().status().code(), absl::StatusCode::kFailedPrecondition);

  config_.Clear();
  config_.set_token_jwks_file(WriteTempFile(
      "secret.jwks", R"({"keys":[{"kid":"o","kty":"oct","alg":"RS256","k":"c2VjcmV0LWJ5dGVz"}]})"));
  status = Load().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), Not(HasSubstr("c2VjcmV0LWJ5dGVz")));
}

TEST_F(TokenKeySetLoadTest, NoKeysIsAnEmptySetNotAnError) {
  absl::StatusOr<std::shared_ptr<const TokenKeySet>> set = Load();
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE((*set)->empty());
}

}  // namespace
}  // namespace wirehub
