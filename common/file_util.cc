#include "common/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace wirehub {

absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                            std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("cannot open ", AsAbsl(what), " ", path));
  }
  std::string contents;
  char buffer[16384];
  absl::Status status;
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      status = absl::ErrnoToStatus(error, absl::StrCat("cannot read ", AsAbsl(what), " ", path));
      break;
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
    if (contents.size() > max_bytes) {
      status = absl::ResourceExhaustedError(
          absl::StrCat(AsAbsl(what), " ", path, " is larger than ", max_bytes, " bytes"));
      break;
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
}

}  // namespace wirehub
