// Reading a JSON Web Key Set (RFC 7517 section 5) into token verification
// keys: the `token_jwks_file` of the configuration.
#ifndef WIREHUB_COMMON_JWK_SET_H_
#define WIREHUB_COMMON_JWK_SET_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/token_key.h"

namespace wirehub {

// ParseJwkSet()
//
// Reads `{"keys":[JWK, ...]}` into one TokenKey per usable JWK, each pinned
// to one algorithm: the JWK's `alg` when present, else the default of its
// type (RSA -> RS256, EC P-256 -> ES256, EC P-384 -> ES384, OKP Ed25519 ->
// EdDSA, oct -> HS256). Supported members: `kty` RSA (`n`, `e`), EC (`crv`
// P-256 or P-384, `x`, `y`), OKP (`crv` Ed25519, `x`), oct (`k`); `kid`,
// `alg`, `use`. Other members (`key_ops`, `x5c`, ...) are ignored.
//
// Skipped, with one line in `warnings` each (RFC 7517 section 5 asks to
// ignore keys one does not understand): a JWK without `kid` (a token picks
// a JWKS key by kid only), a JWK whose `use` is not "sig", a `kty` or
// `crv` not listed above.
//
// Refused with InvalidArgument starting "<source_name>: " and naming the
// JWK (by kid, else by index): malformed JSON or members, an `alg` that is
// not supported or does not fit the key (ES256 on a P-384 key, RS256 with
// fewer than 2048 bits, ...), bad key material (wrong coordinate length, a
// point off the curve), a kid used twice. Messages never quote `k`.
absl::StatusOr<std::vector<TokenKey>> ParseJwkSet(std::string_view json,
                                                  std::string_view source_name,
                                                  std::vector<std::string>* warnings);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_JWK_SET_H_
