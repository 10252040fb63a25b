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

namespace wirehub {
namespace {

constexpr char kSecretEnvVar[] = "WIREHUB_TOKEN_HMAC_SECRET";

// A secret file larger than this is surely the wrong file.
constexpr size_t kMaxSecretFileBytes = 64 * 1024;

// Reads the whole file. Error messages name the path, never the contents.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("cannot open token secret file ", path));
  }
  std::string contents;
  char buffer[4096];
  absl::Status status;
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      status = absl::ErrnoToStatus(error, absl::StrCat("cannot read token secret file ", path));
      break;
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
    if (contents.size() > kMaxSecretFileBytes) {
      status = absl::FailedPreconditionError(absl::StrCat(
          "token secret file ", path, " is larger than ", kMaxSecretFileBytes, " bytes"));
      break;
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
}

}  // namespace

absl::StatusOr<std::string> LoadTokenSecret(std::string_view file_path) {
  if (!file_path.empty()) {
    // A configured file is authoritative: no silent fallback to the
    // environment if it is missing or empty.
    const std::string path(file_path);
    absl::StatusOr<std::string> contents = ReadSmallFile(path);
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
