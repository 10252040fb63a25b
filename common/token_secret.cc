#include "common/token_secret.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace wirehub {
namespace {

constexpr char kSecretEnvVar[] = "WIREHUB_TOKEN_HMAC_SECRET";

// A secret file larger than this is surely the wrong file.
constexpr size_t kMaxSecretFileBytes = 64 * 1024;

}  // namespace

absl::StatusOr<std::string> LoadTokenSecret(std::string_view file_path) {
  if (!file_path.empty()) {
    // A configured file is authoritative: no silent fallback to the
    // environment if it is missing or empty.
    const std::string path(file_path);
    absl::StatusOr<std::string> contents =
        ReadFileBounded(path, kMaxSecretFileBytes, "token secret file");
    if (absl::IsResourceExhausted(contents.status())) {
      return absl::FailedPreconditionError(contents.status().message());
    }
    if (!contents.ok()) return contents.status();
    std::string secret = *std::move(contents);
    if (absl::EndsWith(secret, "\r\n")) {
      secret.resize(secret.size() - 2);
    } else if (absl::EndsWith(secret, "\n")) {
      secret.resize(secret.size() - 1);
    }
    if (secret.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("token secret file ", path, " is empty"));
    }
    return secret;
  }
  const char* env = std::getenv(kSecretEnvVar);
  if (env == nullptr || env[0] == '\0') {
    return absl::FailedPreconditionError(absl::StrCat("no token secret: set a secret file or the ",
                                                      kSecretEnvVar, " environment variable"));
  }
  return std::string(env);
}

}  // namespace wirehub
