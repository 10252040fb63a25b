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

// Why `host` (not in brackets) is no IPv4 address or host name, or "".
std::string_view HostNameProblem(std::string_view host) {
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
    in_addr address4;
    if (inet_pton(AF_INET, std::string(host).c_str(), &address4) == 1) return "";
    return "the host looks like an IPv4 address but is not one (expected a.b.c.d)";
  }
  if (host.size() > 253) return "the host name is longer than 253 characters";
  // Labels of letters, digits, '-' and '_' between single dots; one trailing
  // dot (a fully qualified name) is fine.
  std::string_view name = host.back() == '.' ? host.substr(0, host.size() - 1) : host;
  size_t label = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0) return "the host name has an empty label";
      label = 0;
      continue;
    }
    char c = name[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return "the host must be an IPv4 address, an IPv6 address in brackets or a host name";
    }
    ++label;
  }
  return "";
}

}  // namespace

bool IsIpAddress(const std::string& host) {
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

std::string HostAndPort(const WebSocketUrl& url) {
  if (url.host.find(':') != std::string::npos) return absl::StrCat("[", url.host, "]:", url.port);
  return absl::StrCat(url.host, ":", url.port);
}

absl::StatusOr<WebSocketUrl> ParseWebSocketUrl(std::string_view url) {
  constexpr std::string_view kWs = "ws://";
  constexpr std::string_view kWss = "wss://";
  WebSocketUrl parsed;
  std::string_view rest;
  if (absl::StartsWithIgnoreCase(AsAbsl(url), AsAbsl(kWss))) {
    parsed.tls = true;
    parsed.port = 443;
    rest = url.substr(kWss.size());
  } else if (absl::StartsWithIgnoreCase(AsAbsl(url), AsAbsl(kWs))) {
    rest = url.substr(kWs.size());
  } else {
    return BadUrl(url, "expected ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]");
  }
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view resource =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  if (authority.find('@') != std::string_view::npos)
    return BadUrl(url, "user info is not supported");
  if (authority.empty()) return BadUrl(url, "no host");

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
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return BadUrl(url, "empty port");
    }
    if (host.empty()) return BadUrl(url, "no host");
    if (std::string_view problem = HostNameProblem(host); !problem.empty()) {
      return BadUrl(url, problem);
    }
  }
  parsed.host = std::string(host);
  if (!port.empty()) {
    uint32_t number = 0;
    if (!AllDigits(port) || !absl::SimpleAtoi(AsAbsl(port), &number) || number == 0 ||
        number > 65535) {
      return BadUrl(url, "the port must be a number in [1, 65535]");
    }
    parsed.port = static_cast<uint16_t>(number);
  }
  parsed.host_header = std::string(authority);
  // Without a path the resource stays "/".
  if (!resource.empty()) {
    parsed.resource =
        resource.front() == '?' ? absl::StrCat("/", AsAbsl(resource)) : std::string(resource);
  }
  for (char c : parsed.resource) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return BadUrl(url, "the path must not contain spaces or control characters");
    }
  }
  return parsed;
}

}  // namespace wirehub::ctl
