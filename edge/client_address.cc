#include "edge/client_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/absl_compat.h"

namespace wirehub::edge {

std::optional<IpAddress> IpAddress::Parse(std::string_view text_std) {
  absl::string_view text = AsAbsl(text_std);
  text = absl::StripAsciiWhitespace(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string zero_terminated(text);
  IpAddress address;
  in_addr v4;
  if (inet_pton(AF_INET, zero_terminated.c_str(), &v4) == 1) {
    address.bytes[10] = 0xff;
    address.bytes[11] = 0xff;
    std::memcpy(&address.bytes[12], &v4, 4);
    return address;
  }
  if (inet_pton(AF_INET6, zero_terminated.c_str(), address.bytes.data()) == 1) return address;
  return std::nullopt;
}

bool IpAddress::is_v4() const {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), kMapped, sizeof(kMapped)) == 0;
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {0};
  if (is_v4()) {
    inet_ntop(AF_INET, &bytes[12], text, sizeof(text));
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof(text));
  }
  return text;
}

std::string IpAddress::LimitKey() const {
  if (is_v4()) return ToString();
  IpAddress prefix = *this;
  std::memset(&prefix.bytes[8], 0, 8);
  return absl::StrCat(prefix.ToString(), "/64");
}

absl::StatusOr<TrustedProxies> TrustedProxies::Create(const std::vector<std::string>& entries) {
  TrustedProxies proxies;
  for (const std::string& entry : entries) {
    absl::string_view text = entry;
    absl::string_view bits_text;
    size_t slash = text.find('/');
    if (slash != absl::string_view::npos) {
      bits_text = text.substr(slash + 1);
      text = text.substr(0, slash);
    }
    std::optional<IpAddress> base = IpAddress::Parse(AsStd(text));
    int bits = 0;
    bool bits_ok = slash == absl::string_view::npos ||
                   (absl::SimpleAtoi(bits_text, &bits) && !bits_text.empty() && bits >= 0);
    if (!base.has_value() || !bits_ok ||
        (slash != absl::string_view::npos && bits > (base->is_v4() ? 32 : 128))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trusted_proxies: \"", entry, "\" is not an address or CIDR range (\"10.0.0.0/8\")"));
    }
    Range range;
    range.base = *base;
    range.prefix_bits = slash == absl::string_view::npos ? 128 : (base->is_v4() ? 96 + bits : bits);
    proxies.ranges_.push_back(range);
  }
  return proxies;
}

bool TrustedProxies::Contains(const IpAddress& address) const {
  for (const Range& range : ranges_) {
    int bits = range.prefix_bits;
    int full = bits / 8;
    if (std::memcmp(address.bytes.data(), range.base.bytes.data(), full) != 0) continue;
    if (bits % 8 != 0) {
      uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits % 8));
      if ((address.bytes[full] & mask) != (range.base.bytes[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

IpAddress TrustedProxies::Resolve(const IpAddress& peer, std::string_view forwarded_std) const {
  const absl::string_view forwarded_for = AsAbsl(forwarded_std);
  if (!Contains(peer) || forwarded_for.empty()) return peer;
  IpAddress client = peer;
  std::vector<absl::string_view> hops = absl::StrSplit(forwarded_for, ',');
  for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop) {
    std::optional<IpAddress> address = IpAddress::Parse(AsStd(*hop));
    if (!address.has_value()) break;
    client = *address;
    if (!Contains(client)) break;
  }
  return client;
}

}  // namespace wirehub::edge
