#include "common/jwk_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/testing/test_keys.h"
#include "common/token_signer.h"

namespace wirehub {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kSource[] = "token_jwks_file keys.json";

struct Pairs {
  TestKeyPair rsa = TestKeyPair::Generate(JwsAlgorithm::kRs256);
  TestKeyPair small_rsa = TestKeyPair::Generate(JwsAlgorithm::kRs256, 1024);
  TestKeyPair p256 = TestKeyPair::Generate(JwsAlgorithm::kEs256);
  TestKeyPair p384 = TestKeyPair::Generate(JwsAlgorithm::kEs384);
  TestKeyPair ed = TestKeyPair::Generate(JwsAlgorithm::kEdDsa);
};

const Pairs& TestPairs() {
  static const Pairs* const kPairs = new Pairs();
  return *kPairs;
}

// One JWK: `extra` members (kid, alg, use) then the key's.
std::string Jwk(const std::string& extra, const TestKeyPair& pair) {
  return absl::StrCat("{", extra, extra.empty() ? "" : ",", pair.JwkMembers(), "}");
}

std::string Set(const std::vector<std::string>& jwks) {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < jwks.size(); ++i) absl::StrAppend(&out, i ? "," : "", jwks[i]);
  return out + "]}";
}

bool Verifies(const TokenKey& key, const TestKeyPair& pair, JwsAlgorithm algorithm) {
  absl::StatusOr<TokenSigner> signer = TokenSigner::FromPrivateKey(algorithm, pair.key());
  if (!signer.ok()) return false;
  return key.VerifySignature("a.b", *signer->Signature("a.b"));
}

TEST(JwkSetTest, ReadsEveryKeyTypeWithDefaultAlgorithms) {
  const Pairs& p = TestPairs();
  std::vector<std::string> warnings;
  absl::StatusOr<std::vector<TokenKey>> keys =
      ParseJwkSet(Set({Jwk(R"("kid":"rsa")", p.rsa), Jwk(R"("kid":"p256","use":"sig")", p.p256),
                       Jwk(R"("kid":"p384")", p.p384), Jwk(R"("kid":"ed")", p.ed),
                       R"({"kid":"oct","kty":"oct","k":"c2VjcmV0LWJ5dGVzLWZvci1obWFj"})"}),
                  kSource, &warnings);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(warnings, IsEmpty());
  ASSERT_EQ(keys->size(), 5u);
  EXPECT_EQ((*keys)[0].kid(), "rsa");
  EXPECT_EQ((*keys)[0].algorithm(), JwsAlgorithm::kRs256);
  EXPECT_EQ((*keys)[1].algorithm(), JwsAlgorithm::kEs256);
  EXPECT_EQ((*keys)[2].algorithm(), JwsAlgorithm::kEs384);
  EXPECT_EQ((*keys)[3].algorithm(), JwsAlgorithm::kEdDsa);
  EXPECT_EQ((*keys)[4].algorithm(), JwsAlgorithm::kHs256);
  EXPECT_TRUE(Verifies((*keys)[0], p.rsa, JwsAlgorithm::kRs256));
  EXPECT_TRUE(Verifies((*keys)[1], p.p256, JwsAlgorithm::kEs256));
  EXPECT_TRUE(Verifies((*keys)[2], p.p384, JwsAlgorithm::kEs384));
  EXPECT_TRUE(Verifies((*keys)[3], p.ed, JwsAlgorithm::kEdDsa));
  EXPECT_TRUE((*keys)[4].VerifySignature(
      "a.b", *TokenSigner::FromHmacSecret("secret-bytes-for-hmac")->Signature("a.b")));
}

TEST(JwkSetTest, AlgPinsTheKey) {
  const Pairs& p = TestPairs();
  absl::StatusOr<std::vector<TokenKey>> keys =
      ParseJwkSet(Set({Jwk(R"("kid":"ps","alg":"PS256")", p.rsa),
                       Jwk(R"("kid":"rs512","alg":"RS512")", p.rsa)}),
                  kSource, nullptr);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((*keys)[0].algorithm(), JwsAlgorithm::kPs256);
  EXPECT_TRUE(Verifies((*keys)[0], p.rsa, JwsAlgorithm::kPs256));
  EXPECT_FALSE(Verifies((*keys)[0], p.rsa, JwsAlgorithm::kRs256));
  EXPECT_EQ((*keys)[1].algorithm(), JwsAlgorithm::kRs512);
  EXPECT_FALSE(Verifies((*keys)[1], p.rsa, JwsAlgorithm::kRs256));
}

TEST(JwkSetTest, RefusesAlgorithmsThatDoNotFitTheKey) {
  const Pairs& p = TestPairs();
  struct Case {
    std::string jwk;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Jwk(R"("kid":"a","alg":"ES256")", p.p384), "ES256 needs an EC key on P-256"},
      {Jwk(R"("kid":"a","alg":"ES384")", p.p256), "ES384 needs an EC key on P-384"},
      {Jwk(R"("kid":"a","alg":"RS256")", p.p256), "RS256 needs an RSA key"},
      {Jwk(R"("kid":"a","alg":"EdDSA")", p.rsa), "EdDSA needs an Ed25519 key"},
      {Jwk(R"("kid":"a","alg":"HS256")", p.rsa), "HS256 needs an HMAC secret"},
      {Jwk(R"("kid":"a","alg":"ES256")", p.ed), "ES256 needs"},
      {Jwk(R"("kid":"a")", p.small_rsa), "at least 2048 bits"},
      {Jwk(R"("kid":"a","alg":"RS1")", p.rsa), "alg RS1 is not supported"},
      {Jwk(R"("kid":"a","alg":"none")", p.rsa), "alg none is not supported"},
      {R"({"kid":"a","kty":"oct","alg":"RS256","k":"c2VjcmV0"})", "does not fit a kty oct"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.jwk);
    absl::StatusOr<std::vector<TokenKey>> keys = ParseJwkSet(Set({c.jwk}), kSource, nullptr);
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(keys.status().message(), HasSubstr(c.message));
    EXPECT_THAT(keys.status().message(),
                HasSubstr("token_jwks_file keys.json: keys[0] (kid \"a\")"));
  }
}

TEST(JwkSetTest, SkipsKeysWithoutKidOrNotForSignatures) {
  const Pairs& p = TestPairs();
  std::vector<std::string> warnings;
  absl::StatusOr<std::vector<TokenKey>> keys =
      ParseJwkSet(Set({Jwk("", p.p256), Jwk(R"("kid":"enc","use":"enc")", p.rsa),
                       R"({"kid":"x","kty":"OKP","crv":"X25519","x":"AAAA"})",
                       R"({"kid":"p521","kty":"EC","crv":"P-521","x":"AAAA","y":"AAAA"})",
                       Jwk(R"("kid":"ok")", p.ed)}),
                  kSource, &warnings);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].kid(), "ok");
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_THAT(warnings[0], HasSubstr("keys[0] skipped: it has no kid"));
  EXPECT_THAT(warnings[1], HasSubstr("(kid \"enc\") skipped: its use is not \"sig\""));
  EXPECT_THAT(warnings[2], HasSubstr("OKP on curve X25519 is not supported"));
  EXPECT_THAT(warnings[3], HasSubstr("EC on curve P-521 is not supported"));
}

TEST(JwkSetTest, RefusesBadKeyMaterial) {
  const Pairs& p = TestPairs();
  std::string members = p.p256.JwkMembers();
  // A point off the curve: x and y from two different keys.
  const std::string other = TestKeyPair::Generate(JwsAlgorithm::kEs256).JwkMembers();
  const std::string off_curve =
      absl::StrCat("{\"kid\":\"a\",", members.substr(0, members.find("\"y\"")),
                   other.substr(other.find("\"y\"")), "}");
  for (const std::string& jwk :
       {off_curve, std::string(R"({"kid":"a","kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"})"),
        std::string(R"({"kid":"a","kty":"OKP","crv":"Ed25519","x":"AAAA"})"),
        std::string(R"({"kid":"a","kty":"RSA","n":"AQAB"})"),
        std::string(R"({"kid":"a","kty":"RSA","n":"!!","e":"AQAB"})"),
        std::string(R"({"kid":"a","kty":"oct","k":""})"), std::string(R"({"kid":"a"})"),
        std::string(R"({"kid":7,"kty":"oct","k":"c2VjcmV0"})"), std::string("[]")}) {
    SCOPED_TRACE(jwk);
    EXPECT_EQ(ParseJwkSet(Set({jwk}), kSource, nullptr).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(JwkSetTest, RefusesDuplicateKidsAndNonSets) {
  const Pairs& p = TestPairs();
  absl::StatusOr<std::vector<TokenKey>> keys =
      ParseJwkSet(Set({Jwk(R"("kid":"a")", p.ed), Jwk(R"("kid":"a")", p.p256)}), kSource, nullptr);
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(keys.status().message(), HasSubstr("used twice"));
  for (const char* text : {"", "{", "[]", R"({"keys":{}})", R"({"kid":"a"})"}) {
    SCOPED_TRACE(text);
    keys = ParseJwkSet(text, kSource, nullptr);
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(keys.status().message(), HasSubstr(kSource));
  }
  keys = ParseJwkSet(R"({"keys":[]})", kSource, nullptr);
  ASSERT_TRUE(keys.ok());
  EXPECT_THAT(*keys, IsEmpty());
}

TEST(JwkSetTest, ErrorsNeverQuoteTheSecret) {
  absl::StatusOr<std::vector<TokenKey>> keys = ParseJwkSet(
      R"({"keys":[{"kid":"a","kty":"oct","alg":"ES256","k":"dG9wLXNlY3JldA"}]})", kSource, nullptr);
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(keys.status().message(), Not(HasSubstr("dG9wLXNlY3JldA")));
  EXPECT_THAT(keys.status().message(), Not(HasSubstr("top-secret")));
}

}  // namespace
}  // namespace wirehub
