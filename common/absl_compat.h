// Debian's abseil 20220623 is built with its own absl::string_view, which
// std::string_view does not convert to. AsAbsl() bridges the two.
#ifndef WIREHUB_COMMON_ABSL_COMPAT_H_
#define WIREHUB_COMMON_ABSL_COMPAT_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace wirehub {

inline absl::string_view AsAbsl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

inline std::string_view AsStd(absl::string_view text) {
  return std::string_view(text.data(), text.size());
}

}  // namespace wirehub

#endif  // WIREHUB_COMMON_ABSL_COMPAT_H_
