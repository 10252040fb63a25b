// Parsing of ws:// and wss:// URLs for wirehubctl's WebSocket client.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_WS_URL_H_
#define WIREHUB_TOOLS_WIREHUBCTL_WS_URL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wirehub::ctl {

// WebSocketUrl is a parsed ws:// or wss:// URL.
struct WebSocketUrl {
  // wss://: TLS over the TCP connection.
  bool tls = false;
  // The host as written, without brackets: an IPv4 address, an IPv6 address
  // or a name to resolve. It is also the name the server's certificate must
  // hold and the TLS SNI (for names).
  std::string host;
  // As written, else 80 for ws:// and 443 for wss://.
  uint16_t port = 80;
  // The Host header: the URL's host and port as written.
  std::string host_header;
  // Request target: path and query, at least "/".
  std::string resource = "/";
};

// ParseWebSocketUrl()
//
// Accepts ws://HOST[:PORT][/PATH][?QUERY] and the same with wss://, where
// HOST is an IPv4 address, an IPv6 address in brackets or a host name
// (letters, digits, '-', '_' and '.'; resolved when connecting). The scheme
// is case-insensitive, PORT defaults to 80 for ws:// and 443 for wss://, a
// fragment is dropped. User info and empty hosts are refused.
//
// Example:
//   ParseWebSocketUrl("wss://edge.ns.svc/connection/websocket")
//     -> {true, "edge.ns.svc", 443, "edge.ns.svc", "/connection/websocket"}
absl::StatusOr<WebSocketUrl> ParseWebSocketUrl(std::string_view url);

// HostAndPort()
//
// "HOST:PORT" for messages, with the port even when the URL had none and
// brackets around an IPv6 address: "[::1]:443".
std::string HostAndPort(const WebSocketUrl& url);

// IsIpAddress()
//
// Whether `host` is a numeric IPv4 or IPv6 address (without brackets).
bool IsIpAddress(const std::string& host);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_WS_URL_H_
