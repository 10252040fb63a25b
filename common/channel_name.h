// Channel name rules shared by control (publish) and edge (subscribe).
#ifndef WIREHUB_COMMON_CHANNEL_NAME_H_
#define WIREHUB_COMMON_CHANNEL_NAME_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"

namespace wirehub {

// Longest channel name accepted, in bytes.
inline constexpr size_t kMaxChannelNameBytes = 255;

// ValidateChannelName()
//
// A channel name is 1 to 255 bytes, each an ASCII letter, digit or one of
// `_ - : . @ # , = / + $ ! ~`. Returns InvalidArgument naming the problem
// (empty, too long, or the first offending byte and its position).
absl::Status ValidateChannelName(std::string_view channel);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_CHANNEL_NAME_H_
