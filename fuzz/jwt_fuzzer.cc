// Fuzzes HS256 token verification (common/jwt.h JwtVerifier::Verify), which
// reads every token a client sends, and the base64url decoder under it.
//
// Input: one byte of options (bit 0: subscription token; bit 1: require an
// audience and issuer; bit 2: leeway), then the token. The verifier's secret
// is fixed, so the corpus holds tokens signed with it (see fuzz/README.md):
// signed seeds let the fuzzer reach the claim checks past the signature.
// Checks that every accepted token obeys the documented rules, and that
// base64url has exactly one accepted encoding per byte string.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "common/channel_name.h"
#include "common/jwt.h"

namespace {

// The secret the seed tokens are signed with.
constexpr std::string_view kSecret = "wirehub-fuzz-secret";
// A fixed "now" (2026-01-01T00:00:00Z) so a run is reproducible.
constexpr int64_t kNowSeconds = 1767225600;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view token(reinterpret_cast<const char*>(data + 1), size - 1);

  static const wirehub::JwtVerifier* const verifier =
      new wirehub::JwtVerifier(std::string(kSecret));
  wirehub::VerifyOptions options;
  options.kind = (flags & 1) ? wirehub::TokenKind::kSubscription : wirehub::TokenKind::kConnection;
  if (flags & 2) {
    options.audience = "wirehub";
    options.issuer = "https://auth.example.com";
  }
  if (flags & 4) options.leeway = absl::Seconds(30);
  const absl::Time now = absl::FromUnixSeconds(kNowSeconds);

  const absl::StatusOr<wirehub::TokenClaims> claims = verifier->Verify(token, now, options);
  if (claims.ok()) {
    Check(token.size() <= 8192);
    Check(claims->expires_at > now - options.leeway);
    if (claims->not_before) Check(*claims->not_before <= now + options.leeway);
    Check(claims->channels.size() <= wirehub::kMaxTokenChannels);
    for (const std::string& channel : claims->channels) {
      Check(wirehub::ValidateChannelName(channel).ok());
    }
    if (!claims->tenant.empty()) Check(wirehub::ValidateTenant(claims->tenant).ok());
    if (options.kind == wirehub::TokenKind::kSubscription) {
      Check(wirehub::ValidateChannelName(claims->channel).ok());
    } else {
      Check(claims->channel.empty());
    }
  } else {
    Check(claims.status().code() == absl::StatusCode::kUnauthenticated ||
          claims.status().code() == absl::StatusCode::kDeadlineExceeded);
  }

  // Every byte string has exactly one accepted encoding.
  const std::optional<std::string> decoded = wirehub::Base64UrlDecode(token);
  if (decoded) Check(wirehub::Base64UrlEncode(*decoded) == token);
  return 0;
}
