// Channel name rules shared by control (publish) and edge (subscribe).
#ifndef WIREHUB_COMMON_CHANNEL_NAME_H_
#define WIREHUB_COMMON_CHANNEL_NAME_H_

#include <cstddef>
#include <string>
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

// Longest tenant name accepted, in bytes.
inline constexpr size_t kMaxTenantBytes = 64;

// ValidateTenant()
//
// A tenant is 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`.
// InvalidArgument naming the problem otherwise.
absl::Status ValidateTenant(std::string_view tenant);

// Channel keys: the name of a channel inside wirehub (control's streams,
// the edge link, the edge's channel table). A channel of the default space
// (no tenant) is its own key; a tenant's channel is "TENANT|CHANNEL". '|'
// is in neither a valid channel name nor a valid tenant, so no channel name
// a client or backend can choose is the key of another tenant's channel.
inline constexpr char kTenantSeparator = '|';

// MakeChannelKey() expects an already validated tenant and channel.
std::string MakeChannelKey(std::string_view tenant, std::string_view channel);

struct ChannelKeyParts {
  std::string_view tenant;   // Empty for the default space.
  std::string_view channel;  // The name clients and backends use.
};
// SplitChannelKey() views into `key`.
ChannelKeyParts SplitChannelKey(std::string_view key);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_CHANNEL_NAME_H_
