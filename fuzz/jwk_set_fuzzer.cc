// Fuzzes the JWK Set reader (common/jwk_set.h ParseJwkSet), which reads the
// file named by token_jwks_file on start-up and on every SIGHUP, and the
// signature check of the keys it returns. Input: the file's contents.
//
// Checks that every error is InvalidArgument naming the source, that every
// key returned has a unique non-empty kid and never verifies a garbage
// signature, and that nothing is left on OpenSSL's error queue.

#include <openssl/err.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "common/jwk_set.h"
#include "common/token_key.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings;
  absl::StatusOr<std::vector<wirehub::TokenKey>> keys =
      wirehub::ParseJwkSet(json, "fuzz.jwks", &warnings);
  Check(ERR_peek_error() == 0);
  for (const std::string& warning : warnings) Check(absl::StartsWith(warning, "fuzz.jwks: "));
  if (!keys.ok()) {
    Check(keys.status().code() == absl::StatusCode::kInvalidArgument);
    Check(absl::StartsWith(keys.status().message(), "fuzz.jwks: "));
    return 0;
  }
  std::set<std::string> kids;
  for (const wirehub::TokenKey& key : *keys) {
    Check(!key.kid().empty());
    Check(kids.insert(key.kid()).second);
    // A signature of the right size for every algorithm but RSA, all zero.
    Check(!key.VerifySignature("e30.e30", std::string(64, '\0')));
    Check(!key.VerifySignature("e30.e30", ""));
    Check(ERR_peek_error() == 0);
  }
  return 0;
}
