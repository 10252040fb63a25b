#include "tools/wirehubctl/ws_url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace wirehub::ctl {
namespace {

absl::Status BadUrl(std::string_view url, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad WebSocket URL '", AsAbsl(url), "': ", AsAbsl(why)));
}

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<WebSocketUrl> ParseWebSocketUrl(std::string_view url) {
  constexpr std::string_view kWs = "ws://";
  constexpr std::string_view kWss = "wss://";
  if (absl::StartsWithIgnoreCase(AsAbsl(url), AsAbsl(kWss))) {
    return absl::UnimplementedError(
        absl::StrCat("wss:// is not supported (ws:// only, no TLS): '", AsAbsl(url), "'"));
  }
  if (!absl::StartsWithIgnoreCase(AsAbsl(url), AsAbsl(kWs))) {
    return BadUrl(url, "expected ws://HOST[:PORT][/PATH]");
  }
  std::string_view rest = url.substr(kWs.size());
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view resource =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  if (authority.find('@') != std::string_view::npos)
    return BadUrl(url, "user info is not supported");
  if (authority.empty()) return BadUrl(url, "no host");

  WebSocketUrl parsed;
  std::string_view host;
  std::string_view port;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return BadUrl(url, "unterminated '[' in host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return BadUrl(url, "expected ':' after ']'");
      port = after.substr(1);
      if (port.empty()) return BadUrl(url, "empty port");
    }
    in6_addr address6;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &address6) != 1) {
      return BadUrl(url, "the host in brackets is not an IPv6 address");
    }
    parsed.family = AF_INET6;
    parsed.ip = std::string(host);
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return BadUrl(url, "empty port");
    }
    if (host.empty()) return BadUrl(url, "no host");
    in_addr address4;
    if (absl::EqualsIgnoreCase(AsAbsl(host), "localhost")) {
      parsed.family = AF_INET;
      parsed.ip = "127.0.0.1";
    } else if (inet_pton(AF_INET, std::string(host).c_str(), &address4) == 1) {
      parsed.family = AF_INET;
      parsed.ip = std::string(host);
    } else {
      return BadUrl(url,
                    "the host must be a numeric IP address or localhost (names are not resolved)");
    }
  }
  if (!port.empty()) {
    uint32_t number = 0;
    if (!AllDigits(port) || !absl::SimpleAtoi(AsAbsl(port), &number) || number == 0 ||
        number > 65535) {
      return BadUrl(url, "the port must be a number in [1, 65535]");
    }
    parsed.port = static_cast<uint16_t>(number);
  }
  parsed.host_header = std::string(authority);
  if (resource.empty()) {
    parsed.resource = "/";
  } else if (resource.front() == '?') {
    parsed.resource = absl::StrCat("/", AsAbsl(resource));
  } else {
    parsed.resource = std::string(resource);
  }
  for (char c : parsed.resource) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return BadUrl(url, "the path must not contain spaces or control characters");
    }
  }
  return parsed;
}

}  // namespace wirehub::ctl
