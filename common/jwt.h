// JSON Web Tokens (RFC 7519 / RFC 7515): connection tokens, which
// authenticate a client connection, and subscription tokens, which grant one
// connection one channel. Signed with HS256, RS256/384/512, PS256,
// ES256/384 or EdDSA; common/token_keys.h says which key verifies which.
#ifndef WIREHUB_COMMON_JWT_H_
#define WIREHUB_COMMON_JWT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/token_keys.h"

namespace wirehub {

// The two kinds of token. They are told apart by payload claims, so that a
// token of one kind is never accepted as the other: a subscription token has
// `"typ":"subscription"` and a `channel`; a connection token has neither.
enum class TokenKind { kConnection, kSubscription };

// Most entries a connection token's `channels` claim may have.
inline constexpr size_t kMaxTokenChannels = 128;

// What Verify() requires beyond signature, kind and lifetime.
struct VerifyOptions {
  TokenKind kind = TokenKind::kConnection;
  // Non-empty: `aud` (a string, or an array of strings) must contain it.
  std::string audience;
  // Non-empty: `iss` must equal it.
  std::string issuer;
  // Clock skew allowed on `exp` and `nbf`; negative counts as zero.
  absl::Duration leeway = absl::ZeroDuration();
};

// Claims of a verified token that the edge uses.
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
  // `tenant`: a valid tenant (see ValidateTenant()), or "" when absent.
  std::string tenant;
  // `info`: any JSON value as compact JSON, or "" when absent. It is the
  // value the verifier parsed, written back without whitespace, so it is
  // equal in value to the claim (escapes and number spelling may differ).
  std::string info_json;
  // `channels` (connection tokens): valid channel names, at most
  // kMaxTokenChannels; empty when absent.
  std::vector<std::string> channels;
  // `channel` (subscription tokens only): the granted channel name.
  std::string channel;
};

// JwtVerifier checks tokens against a TokenKeySet.
// Thread-safe: Verify() is const and keeps no state between calls. Copies
// share the key set; assigning another verifier swaps the set.
class JwtVerifier {
 public:
  // Verifies with `keys`; a null or empty set refuses every token.
  explicit JwtVerifier(std::shared_ptr<const TokenKeySet> keys);
  // Verifies HS256 tokens without kid signed with `secret` (an empty secret
  // refuses every token): JwtVerifier(TokenKeySet::FromHmacSecret(secret)).
  explicit JwtVerifier(std::string secret);

  // Verify()
  //
  // Verifies a token of `options.kind`.
  //
  // Accepts only compact JWS whose header `alg` equals the algorithm of the
  // key its `kid` selects (TokenKeySet::Select(): `none`, unknown names and
  // any algorithm the selected key is not pinned to are refused), a valid
  // signature (HMACs compared in constant time), a string `sub`, a numeric
  // `exp` later than `now`, and, if present, a numeric `nbf` not after `now`
  // (both with `options.leeway`).
  //
  // Details: `sub` is required (it may be the empty string). `exp`, `nbf` and
  // `iat` may be integers or fractions. A token is expired when
  // `exp <= now - leeway`. Tokens over
  // 8 KiB, headers with `crit`, a `typ` other than "JWT" (any case), a `kid`
  // that is not a string, and duplicate members (header `alg`/`typ`/`kid`,
  // any claim this verifier reads) are refused.
  //
  // Kinds: a subscription token must have payload `"typ":"subscription"`
  // and a `channel` that is a valid channel name; a connection token must
  // have neither a payload `typ` nor a `channel`.
  //
  // Optional claims, checked whenever present: `tenant` (a string passing
  // ValidateTenant()), `info` (any JSON value), `channels` (an array of at
  // most kMaxTokenChannels valid channel names), `aud` (a string or an array
  // of strings) and `iss` (a string). `aud` and `iss` are compared only when
  // `options` names an audience or issuer; then they are required.
  //
  // Errors:
  //   DeadlineExceeded  - the token is right in every other way but expired.
  //   Unauthenticated   - anything else: malformed, bad signature, wrong
  //                       algorithm, unknown kid, wrong kind, missing or
  //                       mistyped claims, audience or issuer mismatch, not
  //                       yet valid.
  // Messages name the problem (and the claim) and never include a secret.
  absl::StatusOr<TokenClaims> Verify(std::string_view token, absl::Time now,
                                     const VerifyOptions& options) const;

  // Verifies a connection token: Verify(token, now, {.leeway = leeway}).
  absl::StatusOr<TokenClaims> Verify(std::string_view token, absl::Time now,
                                     absl::Duration leeway = absl::ZeroDuration()) const;

 private:
  std::shared_ptr<const TokenKeySet> keys_;
};

// What MintToken() puts in a token.
struct TokenSpec {
  std::string subject;
  absl::Time issued_at;
  absl::Time expires_at;
  std::string tenant;                 // omitted when empty
  std::string info_json;              // raw JSON, omitted when empty
  std::vector<std::string> channels;  // omitted when empty
  std::string channel;                // non-empty: mint a SUBSCRIPTION token
  std::string audience;               // omitted when empty
  std::string issuer;                 // omitted when empty
};

// MintToken()
//
// Signs `spec` with HS256: claims `sub`, `iat`, `exp` (whole seconds) and
// the optional ones above; a subscription token also gets
// `"typ":"subscription"` and `channel`. Nothing is validated here:
// `info_json` is inserted as it is and must be one valid JSON value (check
// it with JsonValidator), and a bad tenant or channel name yields a token
// that Verify() refuses.
//
// Example:
//   TokenSpec spec;
//   spec.subject = "alice";
//   spec.issued_at = now;
//   spec.expires_at = now + absl::Hours(1);
//   spec.channel = "chat:lobby";
//   std::string token = MintToken(secret, spec);  // a subscription token
std::string MintToken(std::string_view secret, const TokenSpec& spec);

// EncodeTokenPayload()
//
// The payload JSON MintToken() signs for `spec` (for signers of other
// algorithms, see common/token_signer.h).
std::string EncodeTokenPayload(const TokenSpec& spec);

// MintHs256Token()
//
// Produces a compact HS256 connection token with claims `sub`, `iat` and
// `exp`. Used by `wirehubctl token` and by tests.
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
