// Fuzzes the channel and tenant name rules (common/channel_name.h), which
// every subscribe, publish and token claim goes through.
//
// Input: "TENANT\nCHANNEL" (no newline: the whole input is the channel of
// the default space). Checks that a validated tenant and channel survive
// MakeChannelKey() / SplitChannelKey() unchanged, and that SplitChannelKey()
// of any bytes views into them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/channel_name.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view tenant =
      newline == std::string_view::npos ? std::string_view() : input.substr(0, newline);
  const std::string_view channel =
      newline == std::string_view::npos ? input : input.substr(newline + 1);

  const bool channel_ok = wirehub::ValidateChannelName(channel).ok();
  const bool tenant_ok = tenant.empty() || wirehub::ValidateTenant(tenant).ok();
  if (channel_ok) {
    Check(!channel.empty() && channel.size() <= wirehub::kMaxChannelNameBytes);
    Check(channel.find(wirehub::kTenantSeparator) == std::string_view::npos);
  }
  if (channel_ok && tenant_ok) {
    const std::string key = wirehub::MakeChannelKey(tenant, channel);
    const wirehub::ChannelKeyParts parts = wirehub::SplitChannelKey(key);
    Check(parts.tenant == tenant);
    Check(parts.channel == channel);
  }

  // Any bytes: the parts are views into the key.
  const wirehub::ChannelKeyParts parts = wirehub::SplitChannelKey(input);
  const auto inside = [&](std::string_view part) {
    return part.empty() || (part.data() >= input.data() &&
                            part.data() + part.size() <= input.data() + input.size());
  };
  Check(inside(parts.tenant));
  Check(inside(parts.channel));
  return 0;
}
