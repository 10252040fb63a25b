// Where the HS256 connection-token secret comes from.
#ifndef WIREHUB_COMMON_TOKEN_SECRET_H_
#define WIREHUB_COMMON_TOKEN_SECRET_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wirehub {

// LoadTokenSecret()
//
// Reads the secret from `file_path` when it is not empty (one trailing
// "\n" or "\r\n" is stripped), otherwise from the environment variable
// WIREHUB_TOKEN_HMAC_SECRET (used verbatim). Fails with FailedPrecondition
// when neither yields a non-empty secret. A configured file is authoritative:
// if it cannot be read the error is errno-based (NotFound for a missing file)
// and names the path, and an empty file does not fall back to the
// environment. Never logs the secret.
absl::StatusOr<std::string> LoadTokenSecret(std::string_view file_path);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_TOKEN_SECRET_H_
