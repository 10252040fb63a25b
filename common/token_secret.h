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
// newline is stripped), otherwise from the environment variable
// WIREHUB_TOKEN_HMAC_SECRET. Fails with FailedPrecondition when neither
// yields a non-empty secret. Never logs the secret.
absl::StatusOr<std::string> LoadTokenSecret(std::string_view file_path);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_TOKEN_SECRET_H_
