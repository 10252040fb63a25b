#include "common/jwt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"

namespace wirehub {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kSecret[] = "test-secret-0123456789";
constexpr char kHs256Header[] = R"({"alg":"HS256","typ":"JWT"})";

// Fixed clock: 2023-11-14T22:13:20Z.
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::string Payload(const std::string& sub, int64_t exp) {
  return absl::StrCat(R"({"sub":")", sub, R"(","exp":)", exp, "}");
}

std::string ValidToken() {
  return SignHs256Raw(kSecret, kHs256Header, Payload("alice", 1700003600));
}

TEST(JwtVerifierTest, AcceptsValidToken) {
  JwtVerifier verifier(kSecret);
  const std::string payload =
      R"({"sub":"alice","iat":1699999000,"nbf":1699999500,"exp":1700003600,"room":"x"})";
  absl::StatusOr<TokenClaims> claims =
      verifier.Verify(SignHs256Raw(kSecret, kHs256Header, payload), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->expires_at, absl::FromUnixSeconds(1700003600));
  EXPECT_EQ(claims->issued_at, absl::FromUnixSeconds(1699999000));
  EXPECT_EQ(claims->not_before, absl::FromUnixSeconds(1699999500));
  EXPECT_EQ(claims->payload_json, payload);
}

TEST(JwtVerifierTest, OptionalClaimsAbsentAreNullopt) {
  JwtVerifier verifier(kSecret);
  absl::StatusOr<TokenClaims> claims = verifier.Verify(ValidToken(), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->issued_at, std::nullopt);
  EXPECT_EQ(claims->not_before, std::nullopt);
}

TEST(JwtVerifierTest, AcceptsHeaderWithoutTyp) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, R"({"alg":"HS256"})", Payload("alice", 1700003600));
  EXPECT_TRUE(verifier.Verify(token, kNow).ok());
}

TEST(JwtVerifierTest, AcceptsTypCaseInsensitive) {
  JwtVerifier verifier(kSecret);
  std::string token =
      SignHs256Raw(kSecret, R"({"typ":"jwt","alg":"HS256"})", Payload("alice", 1700003600));
  EXPECT_TRUE(verifier.Verify(token, kNow).ok());
}

TEST(JwtVerifierTest, RejectsWrongTyp) {
  JwtVerifier verifier(kSecret);
  std::string token =
      SignHs256Raw(kSecret, R"({"alg":"HS256","typ":"JWE"})", Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, AcceptsEmptySubject) {
  JwtVerifier verifier(kSecret);
  absl::StatusOr<TokenClaims> claims =
      verifier.Verify(SignHs256Raw(kSecret, kHs256Header, Payload("", 1700003600)), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "");
}

TEST(JwtVerifierTest, AcceptsFractionalExp) {
  JwtVerifier verifier(kSecret);
  absl::StatusOr<TokenClaims> claims = verifier.Verify(
      SignHs256Raw(kSecret, kHs256Header, R"({"sub":"a","exp":1700000000.5})"), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->expires_at, kNow + absl::Milliseconds(500));
}

TEST(JwtVerifierTest, RejectsExpiredToken) {
  JwtVerifier verifier(kSecret);
  absl::StatusOr<TokenClaims> claims =
      verifier.Verify(SignHs256Raw(kSecret, kHs256Header, Payload("alice", 1699999999)), kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(claims.status().message(), "token expired");
}

TEST(JwtVerifierTest, ExpEqualToNowIsExpired) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, Payload("alice", 1700000000));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(verifier.Verify(token, kNow - absl::Seconds(1)).ok());
}

TEST(JwtVerifierTest, LeewayExtendsExpiry) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, Payload("alice", 1699999970));
  EXPECT_TRUE(verifier.Verify(token, kNow, absl::Seconds(60)).ok());
  EXPECT_EQ(verifier.Verify(token, kNow, absl::Seconds(30)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(JwtVerifierTest, RejectsBadSignature) {
  JwtVerifier verifier(kSecret);
  std::string token = ValidToken();
  // Flip the first signature character to another alphabet character; the
  // first character carries no padding bits, so the encoding stays canonical.
  size_t sig_start = token.rfind('.') + 1;
  token[sig_start] = token[sig_start] == 'A' ? 'B' : 'A';
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("signature"));
}

TEST(JwtVerifierTest, RejectsTruncatedSignature) {
  JwtVerifier verifier(kSecret);
  std::string token = ValidToken();
  token.resize(token.size() - 4);
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsTokenSignedWithAnotherSecret) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw("another-secret", kHs256Header, Payload("alice", 1700003600));
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("signature"));
}

TEST(JwtVerifierTest, RejectsTamperedPayload) {
  JwtVerifier verifier(kSecret);
  std::vector<std::string> parts = absl::StrSplit(ValidToken(), '.');
  ASSERT_EQ(parts.size(), 3u);
  parts[1] = Base64UrlEncode(Payload("mallory", 1700003600));
  absl::StatusOr<TokenClaims> claims = verifier.Verify(absl::StrJoin(parts, "."), kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("signature"));
}

TEST(JwtVerifierTest, RejectsTamperedHeader) {
  JwtVerifier verifier(kSecret);
  std::vector<std::string> parts = absl::StrSplit(ValidToken(), '.');
  ASSERT_EQ(parts.size(), 3u);
  parts[0] = Base64UrlEncode(R"({"alg":"HS256","typ":"JWT","kid":"x"})");
  EXPECT_EQ(verifier.Verify(absl::StrJoin(parts, "."), kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsAlgNone) {
  JwtVerifier verifier(kSecret);
  std::string token = absl::StrCat(Base64UrlEncode(R"({"alg":"none","typ":"JWT"})"), ".",
                                   Base64UrlEncode(Payload("alice", 1700003600)), ".");
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("algorithm"));
}

TEST(JwtVerifierTest, RejectsAlgNoneEvenWithValidHmac) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, R"({"alg":"none"})", Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsHs512Header) {
  JwtVerifier verifier(kSecret);
  std::string token =
      SignHs256Raw(kSecret, R"({"alg":"HS512","typ":"JWT"})", Payload("alice", 1700003600));
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("algorithm"));
}

TEST(JwtVerifierTest, RejectsRs256Header) {
  JwtVerifier verifier(kSecret);
  std::string token =
      SignHs256Raw(kSecret, R"({"alg":"RS256","typ":"JWT"})", Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsAlgCaseVariant) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, R"({"alg":"hs256"})", Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsMissingAlg) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, R"({"typ":"JWT"})", Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsDuplicateAlg) {
  JwtVerifier verifier(kSecret);
  std::string token =
      SignHs256Raw(kSecret, R"({"alg":"HS256","alg":"none"})", Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsCritHeader) {
  JwtVerifier verifier(kSecret);
  std::string token =
      SignHs256Raw(kSecret, R"({"alg":"HS256","crit":["x"],"x":1})", Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsMissingExp) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, R"({"sub":"alice"})");
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("exp"));
}

TEST(JwtVerifierTest, RejectsStringExp) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, R"({"sub":"alice","exp":"1700003600"})");
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("exp"));
}

TEST(JwtVerifierTest, RejectsNonStringSub) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, R"({"sub":42,"exp":1700003600})");
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("sub"));
}

TEST(JwtVerifierTest, RejectsMissingSub) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, R"({"exp":1700003600})");
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsNonNumericNbfAndIat) {
  JwtVerifier verifier(kSecret);
  EXPECT_EQ(
      verifier
          .Verify(SignHs256Raw(kSecret, kHs256Header, R"({"sub":"a","exp":1700003600,"nbf":"0"})"),
                  kNow)
          .status()
          .code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(
      verifier
          .Verify(SignHs256Raw(kSecret, kHs256Header, R"({"sub":"a","exp":1700003600,"iat":null})"),
                  kNow)
          .status()
          .code(),
      absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, MistypedClaimBeatsExpiry) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, R"({"sub":1,"exp":1})");
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsNbfInFuture) {
  JwtVerifier verifier(kSecret);
  std::string token =
      SignHs256Raw(kSecret, kHs256Header, R"({"sub":"alice","nbf":1700000100,"exp":1700003600})");
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("not yet valid"));
  EXPECT_TRUE(verifier.Verify(token, kNow, absl::Seconds(100)).ok());
  EXPECT_TRUE(verifier.Verify(token, absl::FromUnixSeconds(1700000100)).ok());
}

TEST(JwtVerifierTest, RejectsPayloadThatIsNotAnObject) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, R"(["sub","exp"])");
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsPayloadWithTrailingGarbage) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, kHs256Header, Payload("alice", 1700003600) + "{}");
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsWrongNumberOfParts) {
  JwtVerifier verifier(kSecret);
  std::vector<std::string> parts = absl::StrSplit(ValidToken(), '.');
  ASSERT_EQ(parts.size(), 3u);
  for (const std::string& token :
       {std::string(""), parts[0], absl::StrCat(parts[0], ".", parts[1]),
        absl::StrCat(ValidToken(), "."), absl::StrCat(ValidToken(), ".", parts[2])}) {
    absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated) << token;
    EXPECT_THAT(claims.status().message(), HasSubstr("malformed")) << token;
  }
}

TEST(JwtVerifierTest, RejectsBadBase64InHeader) {
  JwtVerifier verifier(kSecret);
  std::vector<std::string> parts = absl::StrSplit(ValidToken(), '.');
  ASSERT_EQ(parts.size(), 3u);
  parts[0][0] = '*';
  absl::StatusOr<TokenClaims> claims = verifier.Verify(absl::StrJoin(parts, "."), kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("base64url"));
}

TEST(JwtVerifierTest, RejectsPaddedSignature) {
  JwtVerifier verifier(kSecret);
  // A 32-byte HMAC encodes to 43 characters; standard base64 pads it with '='.
  EXPECT_EQ(verifier.Verify(ValidToken() + "=", kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsStandardBase64Alphabet) {
  JwtVerifier verifier(kSecret);
  std::string token = ValidToken();
  size_t sig_start = token.rfind('.') + 1;
  token[sig_start] = '+';
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("base64url"));
}

TEST(JwtVerifierTest, RejectsHeaderThatIsNotJson) {
  JwtVerifier verifier(kSecret);
  std::string token = SignHs256Raw(kSecret, "HS256", Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JwtVerifierTest, RejectsOversizedToken) {
  JwtVerifier verifier(kSecret);
  std::string payload =
      absl::StrCat(R"({"sub":"alice","exp":1700003600,"pad":")", std::string(7000, 'x'), R"("})");
  std::string token = SignHs256Raw(kSecret, kHs256Header, payload);
  ASSERT_GT(token.size(), 8192u);
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("longer than"));
}

TEST(JwtVerifierTest, ErrorsNeverContainTheSecret) {
  JwtVerifier verifier(kSecret);
  std::string other = SignHs256Raw("another-secret", kHs256Header, Payload("alice", 1700003600));
  std::string expired = SignHs256Raw(kSecret, kHs256Header, Payload("alice", 1));
  for (const std::string& token : {other, expired, std::string("a.b.c")}) {
    absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow);
    ASSERT_FALSE(claims.ok());
    EXPECT_THAT(std::string(claims.status().message()), Not(HasSubstr(kSecret)));
  }
}

TEST(JwtVerifierTest, EmptySecretAcceptsNothing) {
  JwtVerifier verifier("");
  std::string token = SignHs256Raw("", kHs256Header, Payload("alice", 1700003600));
  EXPECT_EQ(verifier.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(MintHs256TokenTest, OutputVerifies) {
  const absl::Time issued = absl::FromUnixSeconds(1699990000);
  const absl::Time expires = absl::FromUnixSeconds(1700010000);
  std::string token = MintHs256Token(kSecret, "bob", issued, expires);
  absl::StatusOr<TokenClaims> claims = JwtVerifier(kSecret).Verify(token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "bob");
  EXPECT_EQ(claims->issued_at, issued);
  EXPECT_EQ(claims->expires_at, expires);
  EXPECT_EQ(claims->not_before, std::nullopt);
}

TEST(MintHs256TokenTest, EscapesSubject) {
  const std::string subject = "we\"ird\\name\n\x01 caf\xc3\xa9";
  std::string token = MintHs256Token(kSecret, subject, kNow, kNow + absl::Hours(1));
  absl::StatusOr<TokenClaims> claims = JwtVerifier(kSecret).Verify(token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, subject);
}

TEST(MintHs256TokenTest, ExpiredMintIsDeadlineExceeded) {
  std::string token = MintHs256Token(kSecret, "bob", kNow - absl::Hours(2), kNow - absl::Hours(1));
  EXPECT_EQ(JwtVerifier(kSecret).Verify(token, kNow).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

VerifyOptions Subscription() {
  VerifyOptions options;
  options.kind = TokenKind::kSubscription;
  return options;
}

// Signs `claims` (the inside of a payload object, after sub and exp).
std::string TokenWith(std::string_view claims) {
  return SignHs256Raw(kSecret, kHs256Header,
                      absl::StrCat(R"({"sub":"alice","exp":1700003600,)", AsAbsl(claims), "}"));
}

// Expects Unauthenticated with `fragment` in the message.
void ExpectRefused(const absl::StatusOr<TokenClaims>& claims, std::string_view fragment) {
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated) << claims.status();
  EXPECT_THAT(std::string(claims.status().message()), HasSubstr(std::string(fragment)));
}

TokenSpec FullSpec() {
  TokenSpec spec;
  spec.subject = "alice";
  spec.issued_at = absl::FromUnixSeconds(1699990000);
  spec.expires_at = absl::FromUnixSeconds(1700010000);
  spec.tenant = "acme-1.eu";
  spec.info_json = R"({"name":"Alice","roles":["admin","ops"],"age":42,"vip":true})";
  spec.audience = "wirehub";
  spec.issuer = "https://auth.example.com";
  return spec;
}

TEST(MintTokenTest, ConnectionTokenRoundTripsEveryClaim) {
  TokenSpec spec = FullSpec();
  spec.channels = {"news", "chat:lobby", "user#alice"};
  VerifyOptions options;
  options.audience = "wirehub";
  options.issuer = "https://auth.example.com";
  absl::StatusOr<TokenClaims> claims =
      JwtVerifier(kSecret).Verify(MintToken(kSecret, spec), kNow, options);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->issued_at, spec.issued_at);
  EXPECT_EQ(claims->expires_at, spec.expires_at);
  EXPECT_EQ(claims->tenant, "acme-1.eu");
  EXPECT_EQ(claims->info_json, spec.info_json);
  EXPECT_THAT(claims->channels, ElementsAre("news", "chat:lobby", "user#alice"));
  EXPECT_EQ(claims->channel, "");
}

TEST(MintTokenTest, SubscriptionTokenRoundTripsEveryClaim) {
  TokenSpec spec = FullSpec();
  spec.channel = "chat:lobby";
  VerifyOptions options = Subscription();
  options.audience = "wirehub";
  options.issuer = "https://auth.example.com";
  const std::string token = MintToken(kSecret, spec);
  absl::StatusOr<TokenClaims> claims = JwtVerifier(kSecret).Verify(token, kNow, options);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->issued_at, spec.issued_at);
  EXPECT_EQ(claims->expires_at, spec.expires_at);
  EXPECT_EQ(claims->tenant, "acme-1.eu");
  EXPECT_EQ(claims->info_json, spec.info_json);
  EXPECT_EQ(claims->channel, "chat:lobby");
  EXPECT_THAT(claims->channels, IsEmpty());
  EXPECT_THAT(claims->payload_json, HasSubstr(R"("typ":"subscription")"));
}

TEST(MintTokenTest, OptionalClaimsOmittedWhenEmpty) {
  TokenSpec spec;
  spec.subject = "bob";
  spec.issued_at = kNow;
  spec.expires_at = kNow + absl::Hours(1);
  absl::StatusOr<TokenClaims> claims = JwtVerifier(kSecret).Verify(MintToken(kSecret, spec), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->payload_json, R"({"sub":"bob","iat":1700000000,"exp":1700003600})");
  EXPECT_EQ(claims->tenant, "");
  EXPECT_EQ(claims->info_json, "");
  EXPECT_THAT(claims->channels, IsEmpty());
  EXPECT_EQ(MintToken(kSecret, spec), MintHs256Token(kSecret, "bob", kNow, kNow + absl::Hours(1)));
}

TEST(TokenKindTest, ConnectionTokenIsNotASubscriptionToken) {
  JwtVerifier verifier(kSecret);
  ExpectRefused(verifier.Verify(ValidToken(), kNow, Subscription()), "not a subscription token");
  // A `channel` alone does not make a subscription token.
  ExpectRefused(verifier.Verify(TokenWith(R"("channel":"news")"), kNow, Subscription()),
                "not a subscription token");
  ExpectRefused(
      verifier.Verify(TokenWith(R"("typ":"connection","channel":"news")"), kNow, Subscription()),
      "not a subscription token");
}

TEST(TokenKindTest, SubscriptionTokenIsNotAConnectionToken) {
  JwtVerifier verifier(kSecret);
  TokenSpec spec = FullSpec();
  spec.channel = "news";
  const std::string token = MintToken(kSecret, spec);
  ExpectRefused(verifier.Verify(token, kNow), "not a connection token");
  ExpectRefused(verifier.Verify(token, kNow, VerifyOptions()), "not a connection token");
}

TEST(TokenKindTest, ConnectionTokenMustHaveNeitherTypNorChannel) {
  JwtVerifier verifier(kSecret);
  ExpectRefused(verifier.Verify(TokenWith(R"("typ":"JWT")"), kNow), "not a connection token");
  ExpectRefused(verifier.Verify(TokenWith(R"("channel":"news")"), kNow), "not a connection token");
}

TEST(TokenKindTest, SubscriptionTokenNeedsAValidChannel) {
  JwtVerifier verifier(kSecret);
  ExpectRefused(verifier.Verify(TokenWith(R"("typ":"subscription")"), kNow, Subscription()),
                "no channel claim");
  ExpectRefused(
      verifier.Verify(TokenWith(R"("typ":"subscription","channel":"a|b")"), kNow, Subscription()),
      "channel claim is invalid");
  ExpectRefused(
      verifier.Verify(TokenWith(R"("typ":"subscription","channel":"")"), kNow, Subscription()),
      "channel claim is invalid");
  ExpectRefused(
      verifier.Verify(TokenWith(R"("typ":"subscription","channel":7)"), kNow, Subscription()),
      "channel claim is not a string");
  ExpectRefused(verifier.Verify(TokenWith(R"("typ":["subscription"],"channel":"news")"), kNow,
                                Subscription()),
                "typ claim is not a string");
}

TEST(TokenKindTest, SubscriptionTypIsCaseSensitive) {
  ExpectRefused(JwtVerifier(kSecret).Verify(TokenWith(R"("typ":"Subscription","channel":"news")"),
                                            kNow, Subscription()),
                "not a subscription token");
}

TEST(TokenKindTest, SubscriptionTokenExpiresLikeAConnectionToken) {
  TokenSpec spec;
  spec.subject = "alice";
  spec.issued_at = kNow - absl::Hours(2);
  spec.expires_at = kNow - absl::Hours(1);
  spec.channel = "news";
  const std::string token = MintToken(kSecret, spec);
  JwtVerifier verifier(kSecret);
  EXPECT_EQ(verifier.Verify(token, kNow, Subscription()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  VerifyOptions lenient = Subscription();
  lenient.leeway = absl::Hours(2);
  EXPECT_TRUE(verifier.Verify(token, kNow, lenient).ok());
  // The wrong kind is reported even when the token is also expired: a
  // refresh would not help.
  ExpectRefused(verifier.Verify(token, kNow), "not a connection token");
}

TEST(TokenKindTest, SubscriptionTokenStillNeedsSubAndExp) {
  JwtVerifier verifier(kSecret);
  ExpectRefused(
      verifier.Verify(SignHs256Raw(kSecret, kHs256Header,
                                   R"({"exp":1700003600,"typ":"subscription","channel":"a"})"),
                      kNow, Subscription()),
      "sub");
  ExpectRefused(verifier.Verify(SignHs256Raw(kSecret, kHs256Header,
                                             R"({"sub":"a","typ":"subscription","channel":"a"})"),
                                kNow, Subscription()),
                "exp");
  ExpectRefused(verifier.Verify(SignHs256Raw("another-secret", kHs256Header,
                                             R"({"sub":"a","exp":1700003600,)"
                                             R"("typ":"subscription","channel":"a"})"),
                                kNow, Subscription()),
                "signature");
}

TEST(AudienceTest, StringAudience) {
  JwtVerifier verifier(kSecret);
  VerifyOptions options;
  options.audience = "wirehub";
  EXPECT_TRUE(verifier.Verify(TokenWith(R"("aud":"wirehub")"), kNow, options).ok());
  ExpectRefused(verifier.Verify(TokenWith(R"("aud":"other")"), kNow, options), "aud");
  ExpectRefused(verifier.Verify(TokenWith(R"("aud":"WireHub")"), kNow, options), "aud");
}

TEST(AudienceTest, ArrayAudience) {
  JwtVerifier verifier(kSecret);
  VerifyOptions options;
  options.audience = "wirehub";
  EXPECT_TRUE(verifier.Verify(TokenWith(R"("aud":["api","wirehub"])"), kNow, options).ok());
  ExpectRefused(verifier.Verify(TokenWith(R"("aud":["api","other"])"), kNow, options), "aud");
  ExpectRefused(verifier.Verify(TokenWith(R"("aud":[])"), kNow, options), "aud");
}

TEST(AudienceTest, MissingAudienceRefusedOnlyWhenRequired) {
  JwtVerifier verifier(kSecret);
  VerifyOptions options;
  options.audience = "wirehub";
  ExpectRefused(verifier.Verify(ValidToken(), kNow, options), "no aud claim");
  EXPECT_TRUE(verifier.Verify(ValidToken(), kNow).ok());
  EXPECT_TRUE(verifier.Verify(TokenWith(R"("aud":"anything")"), kNow).ok());
}

TEST(AudienceTest, MistypedAudienceRefusedEvenWhenNotRequired) {
  JwtVerifier verifier(kSecret);
  ExpectRefused(verifier.Verify(TokenWith(R"("aud":7)"), kNow), "aud claim is not");
  ExpectRefused(verifier.Verify(TokenWith(R"("aud":["wirehub",7])"), kNow), "aud claim is not");
  ExpectRefused(verifier.Verify(TokenWith(R"("aud":{"a":"wirehub"})"), kNow), "aud claim is not");
}

TEST(IssuerTest, IssuerMustMatchWhenRequired) {
  JwtVerifier verifier(kSecret);
  VerifyOptions options;
  options.issuer = "auth";
  EXPECT_TRUE(verifier.Verify(TokenWith(R"("iss":"auth")"), kNow, options).ok());
  ExpectRefused(verifier.Verify(TokenWith(R"("iss":"evil")"), kNow, options), "iss");
  ExpectRefused(verifier.Verify(ValidToken(), kNow, options), "no iss claim");
  ExpectRefused(verifier.Verify(TokenWith(R"("iss":["auth"])"), kNow, options),
                "iss claim is not a string");
  EXPECT_TRUE(verifier.Verify(TokenWith(R"("iss":"evil")"), kNow).ok());
}

TEST(IssuerTest, AudienceAndIssuerApplyToSubscriptionTokens) {
  TokenSpec spec;
  spec.subject = "alice";
  spec.issued_at = kNow;
  spec.expires_at = kNow + absl::Hours(1);
  spec.channel = "news";
  spec.audience = "other";
  spec.issuer = "auth";
  VerifyOptions options = Subscription();
  options.audience = "wirehub";
  ExpectRefused(JwtVerifier(kSecret).Verify(MintToken(kSecret, spec), kNow, options), "aud");
  options.audience = "";
  options.issuer = "auth2";
  ExpectRefused(JwtVerifier(kSecret).Verify(MintToken(kSecret, spec), kNow, options), "iss");
}

TEST(TenantTest, RefusesInvalidTenant) {
  JwtVerifier verifier(kSecret);
  ExpectRefused(verifier.Verify(TokenWith(R"("tenant":"a|b")"), kNow), "tenant claim is invalid");
  ExpectRefused(verifier.Verify(TokenWith(R"("tenant":"")"), kNow), "tenant claim is invalid");
  ExpectRefused(
      verifier.Verify(TokenWith(absl::StrCat(R"("tenant":")", std::string(65, 't'), "\"")), kNow),
      "tenant claim is invalid");
  ExpectRefused(verifier.Verify(TokenWith(R"("tenant":42)"), kNow), "tenant claim is not a string");
  ExpectRefused(verifier.Verify(TokenWith(R"("tenant":null)"), kNow),
                "tenant claim is not a string");
}

TEST(TenantTest, AcceptsValidTenant) {
  absl::StatusOr<TokenClaims> claims =
      JwtVerifier(kSecret).Verify(TokenWith(R"("tenant":"Acme_1.eu-west")"), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->tenant, "Acme_1.eu-west");
}

TEST(ChannelsTest, RefusesChannelsThatIsNotAnArrayOfStrings) {
  JwtVerifier verifier(kSecret);
  ExpectRefused(verifier.Verify(TokenWith(R"("channels":"news")"), kNow), "channels");
  ExpectRefused(verifier.Verify(TokenWith(R"("channels":{"news":true})"), kNow), "channels");
  ExpectRefused(verifier.Verify(TokenWith(R"("channels":["news",1])"), kNow), "channels");
  ExpectRefused(verifier.Verify(TokenWith(R"("channels":[["news"]])"), kNow), "channels");
}

TEST(ChannelsTest, RefusesBadChannelName) {
  JwtVerifier verifier(kSecret);
  ExpectRefused(verifier.Verify(TokenWith(R"("channels":["news","a b"])"), kNow),
                "channels claim entry 1 is invalid");
  ExpectRefused(verifier.Verify(TokenWith(R"("channels":["acme|news"])"), kNow), "channels");
  ExpectRefused(verifier.Verify(TokenWith(R"("channels":[""])"), kNow), "channels");
}

std::string ChannelsClaim(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(absl::StrCat("\"c", i, "\""));
  return absl::StrCat(R"("channels":[)", absl::StrJoin(names, ","), "]");
}

TEST(ChannelsTest, AtMost128Channels) {
  JwtVerifier verifier(kSecret);
  absl::StatusOr<TokenClaims> claims = verifier.Verify(TokenWith(ChannelsClaim(128)), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->channels.size(), 128u);
  EXPECT_EQ(claims->channels.back(), "c127");
  ExpectRefused(verifier.Verify(TokenWith(ChannelsClaim(129)), kNow), "more than 128");
}

TEST(ChannelsTest, EmptyArrayIsNoChannels) {
  absl::StatusOr<TokenClaims> claims =
      JwtVerifier(kSecret).Verify(TokenWith(R"("channels":[])"), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_THAT(claims->channels, IsEmpty());
}

TEST(InfoTest, ObjectPreserved) {
  const std::string info = R"({"name":"Al\"ice","tags":["a","b"],"n":-3,"x":1.5,"o":{},"z":null})";
  absl::StatusOr<TokenClaims> claims =
      JwtVerifier(kSecret).Verify(TokenWith(absl::StrCat(R"("info":)", info)), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->info_json, info);
}

TEST(InfoTest, StringAndOtherScalarsPreserved) {
  JwtVerifier verifier(kSecret);
  for (const std::string info : {R"("just text")", "42", "true", "null", "[]", R"("caf\u00e9")"}) {
    absl::StatusOr<TokenClaims> claims =
        verifier.Verify(TokenWith(absl::StrCat(R"("info":)", info)), kNow);
    ASSERT_TRUE(claims.ok()) << info << ": " << claims.status();
    if (info == R"("caf\u00e9")") {
      // Escapes are decoded: the value is kept, not the spelling.
      EXPECT_EQ(claims->info_json, "\"caf\xc3\xa9\"");
    } else {
      EXPECT_EQ(claims->info_json, info);
    }
  }
}

TEST(InfoTest, WhitespaceRemoved) {
  absl::StatusOr<TokenClaims> claims = JwtVerifier(kSecret).Verify(
      TokenWith(R"("info": { "a" : [ 1 , 2 ] ,  "b" : "x y" } )"), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->info_json, R"({"a":[1,2],"b":"x y"})");
}

TEST(InfoTest, MintedStringInfoRoundTrips) {
  TokenSpec spec;
  spec.subject = "alice";
  spec.issued_at = kNow;
  spec.expires_at = kNow + absl::Hours(1);
  spec.info_json = R"("plain string info")";
  absl::StatusOr<TokenClaims> claims = JwtVerifier(kSecret).Verify(MintToken(kSecret, spec), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->info_json, spec.info_json);
}

TEST(DuplicateClaimsTest, RefusesDuplicatesOfNewClaims) {
  JwtVerifier verifier(kSecret);
  struct Case {
    std::string claims;
    VerifyOptions options;
  };
  const std::vector<Case> cases = {
      {R"("tenant":"a","tenant":"b")", VerifyOptions()},
      {R"("info":1,"info":2)", VerifyOptions()},
      {R"("channels":["a"],"channels":["b"])", VerifyOptions()},
      {R"("aud":"a","aud":"a")", VerifyOptions()},
      {R"("iss":"a","iss":"a")", VerifyOptions()},
      {R"("typ":"subscription","typ":"subscription","channel":"a")", Subscription()},
      {R"("typ":"subscription","channel":"a","channel":"b")", Subscription()},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TokenClaims> claims = verifier.Verify(TokenWith(c.claims), kNow, c.options);
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated) << c.claims;
    EXPECT_THAT(std::string(claims.status().message()), HasSubstr("duplicate")) << c.claims;
  }
}

TEST(VerifyOptionsTest, NegativeLeewayCountsAsZero) {
  JwtVerifier verifier(kSecret);
  VerifyOptions options;
  options.leeway = -absl::Hours(1);
  EXPECT_TRUE(verifier.Verify(ValidToken(), kNow, options).ok());
}

TEST(VerifyOptionsTest, NewErrorsNeverContainTheSecret) {
  JwtVerifier verifier(kSecret);
  VerifyOptions options = Subscription();
  options.audience = "wirehub";
  options.issuer = "auth";
  for (const std::string& token :
       {ValidToken(), TokenWith(R"("tenant":"a|b")"), TokenWith(R"("channels":7)"),
        TokenWith(R"("typ":"subscription","channel":"a")")}) {
    absl::StatusOr<TokenClaims> claims = verifier.Verify(token, kNow, options);
    ASSERT_FALSE(claims.ok());
    EXPECT_THAT(std::string(claims.status().message()), Not(HasSubstr(kSecret)));
  }
}

TEST(Base64UrlTest, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
}

TEST(Base64UrlTest, RoundTripsAllLengthsAndBytes) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    std::optional<std::string> decoded = Base64UrlDecode(Base64UrlEncode(bytes));
    ASSERT_TRUE(decoded.has_value()) << "length " << i;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  }
}

TEST(Base64UrlTest, RejectsPadding) {
  EXPECT_EQ(Base64UrlDecode("Zg=="), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm8="), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9v="), std::nullopt);
}

TEST(Base64UrlTest, RejectsCharactersOutsideAlphabet) {
  EXPECT_EQ(Base64UrlDecode("Zm9v+A"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9v/A"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm 9v"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9v\n"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode(std::string("Zm\0v", 4)), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9\xc3\xa9"), std::nullopt);
}

TEST(Base64UrlTest, RejectsImpossibleLength) {
  EXPECT_EQ(Base64UrlDecode("Z"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9vY"), std::nullopt);
}

TEST(Base64UrlTest, RejectsNonZeroTrailingBits) {
  EXPECT_EQ(Base64UrlDecode("Zg"), "f");
  EXPECT_EQ(Base64UrlDecode("Zh"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm8"), "fo");
  EXPECT_EQ(Base64UrlDecode("Zm9"), std::nullopt);
}

TEST(Base64UrlTest, DecodesEmpty) { EXPECT_EQ(Base64UrlDecode(""), ""); }

}  // namespace
}  // namespace wirehub
