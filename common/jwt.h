// HS256 JSON Web Tokens (RFC 7519 / RFC 7515) for connection tokens.
#ifndef WIREHUB_COMMON_JWT_H_
#define WIREHUB_COMMON_JWT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub {

// Claims of a verified connection token that the edge uses.
struct TokenClaims {
  // `sub`: the user id; may be empty (anonymous) only if the token says so.
  std::string subject;
  // `exp`: expiry, required.
  absl::Time expires_at;
  // `iat`, `nbf` when present.
  std::optional<absl::Time> issued_at;
  std::optional<absl::Time> not_before;
  // The decoded payload JSON, for claims read by later features.
  std::string payload_json;
};

// JwtVerifier checks HS256 tokens against one shared secret.
// Thread-safe: Verify() is const and keeps no state between calls.
class JwtVerifier {
 public:
  explicit JwtVerifier(std::string secret);

  // Verify()
  //
  // Accepts only compact JWS with header `alg` exactly "HS256" (so `none`,
  // RS256, HS512 and friends are refused), a valid signature (compared in
  // constant time), a string `sub`, a numeric `exp` later than `now`, and,
  // if present, a numeric `nbf` not after `now` (with `leeway`).
  //
  // Details: `sub` is required (it may be the empty string). `exp`, `nbf` and
  // `iat` may be integers or fractions. A token is expired when
  // `exp <= now - leeway`; a negative `leeway` counts as zero. Tokens over
  // 8 KiB, headers with `crit`, a `typ` other than "JWT" (any case), and
  // duplicate `alg`/`typ`/`sub`/`exp`/`nbf`/`iat` members are refused. A
  // verifier with an empty secret refuses every token.
  //
  // Errors:
  //   DeadlineExceeded  - the token is well-formed and signed but expired.
  //   Unauthenticated   - anything else: malformed, bad signature, wrong
  //                       algorithm, missing or mistyped claims, not yet valid.
  // Messages name the problem and never include the secret.
  absl::StatusOr<TokenClaims> Verify(std::string_view token, absl::Time now,
                                     absl::Duration leeway = absl::ZeroDuration()) const;

 private:
  std::string secret_;
};

// MintHs256Token()
//
// Produces a compact HS256 token with claims `sub`, `iat` and `exp`. Used by
// `wirehubctl token` and by tests.
std::string MintHs256Token(std::string_view secret, std::string_view subject, absl::Time issued_at,
                           absl::Time expires_at);

// SignHs256Raw()
//
// Signs arbitrary header and payload JSON (for tests that need unusual
// headers or claims). Returns "b64url(header).b64url(payload).b64url(sig)".
std::string SignHs256Raw(std::string_view secret, std::string_view header_json,
                         std::string_view payload_json);

// Base64url without padding (RFC 4648 section 5).
std::string Base64UrlEncode(std::string_view bytes);
// Returns nullopt on characters outside the alphabet, padding or an
// impossible length, and on non-zero unused bits in the last character (so
// every byte string has exactly one accepted encoding).
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_JWT_H_
