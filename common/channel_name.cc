#include "common/channel_name.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace wirehub {
namespace {

// The punctuation allowed besides ASCII letters and digits. Keep in sync with
// the comment on ValidateChannelName() in channel_name.h.
constexpr std::string_view kAllowedPunctuation = "_-:.@#,=/+$!~";

bool IsAllowedChannelByte(unsigned char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return kAllowedPunctuation.find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

absl::Status ValidateChannelName(std::string_view channel) {
  if (channel.empty()) {
    return absl::InvalidArgumentError("channel name is empty");
  }
  if (channel.size() > kMaxChannelNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("channel name is ", channel.size(),
                                                   " bytes, longer than the maximum of ",
                                                   kMaxChannelNameBytes));
  }
  for (size_t i = 0; i < channel.size(); ++i) {
    const auto c = static_cast<unsigned char>(channel[i]);
    if (!IsAllowedChannelByte(c)) {
      // The byte is reported in hex so that control characters and non-ASCII
      // bytes cannot corrupt logs or client-visible error text.
      return absl::InvalidArgumentError(absl::StrFormat(
          "channel name has invalid byte 0x%02x at position %d", static_cast<uint32_t>(c), i));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTenant(std::string_view tenant) {
  if (tenant.empty()) return absl::InvalidArgumentError("tenant is empty");
  if (tenant.size() > kMaxTenantBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tenant is ", tenant.size(), " bytes, longer than the maximum of ", kMaxTenantBytes));
  }
  for (size_t i = 0; i < tenant.size(); ++i) {
    const auto c = static_cast<unsigned char>(tenant[i]);
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tenant has invalid byte 0x%02x at position %d", static_cast<uint32_t>(c), i));
    }
  }
  return absl::OkStatus();
}

std::string MakeChannelKey(std::string_view tenant, std::string_view channel) {
  if (tenant.empty()) return std::string(channel);
  std::string key;
  key.reserve(tenant.size() + 1 + channel.size());
  key.append(tenant);
  key.push_back(kTenantSeparator);
  key.append(channel);
  return key;
}

ChannelKeyParts SplitChannelKey(std::string_view key) {
  const size_t bar = key.find(kTenantSeparator);
  if (bar == std::string_view::npos) return {std::string_view(), key};
  return {key.substr(0, bar), key.substr(bar + 1)};
}

}  // namespace wirehub
