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

namespace wirehub {
namespace {

using ::testing::HasSubstr;
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
