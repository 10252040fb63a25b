// Reading small files (configuration, secrets) whole, with a size bound.
#ifndef WIREHUB_COMMON_FILE_UTIL_H_
#define WIREHUB_COMMON_FILE_UTIL_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wirehub {

// ReadFileBounded()
//
// Returns the whole content of `path`. Errors name `what` and the path,
// never the content: open/read failures carry the errno-derived code
// (NotFound for a missing file), and a file over `max_bytes` is
// ResourceExhausted (callers map it to their own code).
absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                            std::string_view what);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_FILE_UTIL_H_
