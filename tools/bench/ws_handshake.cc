#include "tools/bench/ws_handshake.h"

#include <openssl/rand.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/websocket_key.h"

namespace wirehub::bench {
namespace {

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether the comma-separated `list` holds `token`, ignoring case.
bool HasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (EqualsIgnoreCase(Trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string WsKeyFromNonce(const uint8_t (&nonce)[16]) {
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(nonce), sizeof(nonce)));
}

absl::StatusOr<std::string> RandomWsKey() {
  uint8_t nonce[16];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  return WsKeyFromNonce(nonce);
}

std::string BuildWsHandshakeRequest(std::string_view host, std::string_view resource,
                                    std::string_view key, std::string_view extra_headers) {
  return absl::StrCat(
      "GET ", AsAbsl(resource), " HTTP/1.1\r\nHost: ", AsAbsl(host),
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ", AsAbsl(key),
      "\r\nSec-WebSocket-Version: 13\r\n", AsAbsl(extra_headers), "\r\n");
}

absl::StatusOr<size_t> ParseWsHandshakeResponse(std::string_view input, std::string_view key,
                                                std::string_view subprotocol) {
  size_t end = input.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > kWsMaxHandshakeResponseBytes) {
    if (input.size() >= kWsMaxHandshakeResponseBytes) {
      return absl::ResourceExhaustedError(absl::StrCat("WebSocket handshake answer longer than ",
                                                       kWsMaxHandshakeResponseBytes, " bytes"));
    }
    return 0;
  }
  std::string_view header = input.substr(0, end + 2);  // Every line ends in "\r\n".
  size_t eol = header.find("\r\n");
  std::string_view status_line = header.substr(0, eol);
  header.remove_prefix(eol + 2);
  // "HTTP/1.1 101 Switching Protocols": the code is the second word.
  if (status_line.substr(0, 5) != "HTTP/") {
    return absl::DataLossError(absl::StrCat("WebSocket handshake answer is not HTTP: ",
                                            AsAbsl(status_line.substr(0, 80))));
  }
  size_t space = status_line.find(' ');
  std::string_view code =
      space == std::string_view::npos ? std::string_view() : status_line.substr(space + 1);
  if (code != "101" && code.substr(0, 4) != "101 ") {
    return absl::UnavailableError(
        absl::StrCat("WebSocket handshake refused: ", AsAbsl(status_line.substr(0, 200))));
  }

  bool upgrade = false;
  bool connection = false;
  bool accept = false;
  std::string_view chosen_subprotocol;
  const std::string expected_accept = WebSocketAcceptKey(key);
  while (!header.empty()) {
    eol = header.find("\r\n");
    std::string_view line = header.substr(0, eol);
    header.remove_prefix(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return absl::DataLossError(
          absl::StrCat("malformed WebSocket handshake header line: ", AsAbsl(line.substr(0, 80))));
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "Upgrade")) {
      upgrade = EqualsIgnoreCase(value, "websocket");
    } else if (EqualsIgnoreCase(name, "Connection")) {
      connection = connection || HasToken(value, "upgrade");
    } else if (EqualsIgnoreCase(name, "Sec-WebSocket-Accept")) {
      accept = value == expected_accept;
      if (!accept) {
        return absl::DataLossError(absl::StrCat("wrong Sec-WebSocket-Accept ", AsAbsl(value),
                                                ", expected ", expected_accept));
      }
    } else if (EqualsIgnoreCase(name, "Sec-WebSocket-Protocol")) {
      chosen_subprotocol = value;
    } else if (EqualsIgnoreCase(name, "Sec-WebSocket-Extensions") && !value.empty()) {
      return absl::DataLossError(
          absl::StrCat("server chose a WebSocket extension not offered: ", AsAbsl(value)));
    }
  }
  if (!upgrade) return absl::DataLossError("WebSocket handshake answer without Upgrade: websocket");
  if (!connection) {
    return absl::DataLossError("WebSocket handshake answer without Connection: Upgrade");
  }
  if (!accept)
    return absl::DataLossError("WebSocket handshake answer without Sec-WebSocket-Accept");
  // RFC 6455 4.1: the client fails a connection whose server chose a
  // subprotocol it did not offer; subprotocol names are case-sensitive.
  if (chosen_subprotocol != subprotocol) {
    return absl::DataLossError(
        subprotocol.empty()
            ? absl::StrCat("server chose a subprotocol not offered: ", AsAbsl(chosen_subprotocol))
            : absl::StrCat("server did not choose the subprotocol ", AsAbsl(subprotocol),
                           chosen_subprotocol.empty()
                               ? std::string(" (no Sec-WebSocket-Protocol)")
                               : absl::StrCat(" but ", AsAbsl(chosen_subprotocol))));
  }
  return end + 4;
}

}  // namespace wirehub::bench
