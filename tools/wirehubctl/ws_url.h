// Parsing of ws:// URLs for wirehubctl's WebSocket client.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_WS_URL_H_
#define WIREHUB_TOOLS_WIREHUBCTL_WS_URL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wirehub::ctl {

// WebSocketUrl is a parsed ws:// URL whose host is a numeric address.
struct WebSocketUrl {
  // Address family of `ip`: AF_INET or AF_INET6.
  int family = 0;
  // Numeric address to connect to ("localhost" is 127.0.0.1).
  std::string ip;
  uint16_t port = 80;
  // The Host header: the URL's host and port as written.
  std::string host_header;
  // Request target: path and query, at least "/".
  std::string resource = "/";
};

// ParseWebSocketUrl()
//
// Accepts ws://HOST[:PORT][/PATH][?QUERY] where HOST is an IPv4 address, an
// IPv6 address in brackets or "localhost"; no other names are resolved (no
// DNS). The scheme is case-insensitive, PORT defaults to 80, a fragment is
// dropped. wss:// is refused (no TLS), as are user info and empty hosts.
//
// Example:
//   ParseWebSocketUrl("ws://127.0.0.1:8000/connection/websocket")
//     -> {AF_INET, "127.0.0.1", 8000, "127.0.0.1:8000", "/connection/websocket"}
absl::StatusOr<WebSocketUrl> ParseWebSocketUrl(std::string_view url);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_WS_URL_H_
