// The client's side of the WebSocket opening handshake (RFC 6455 section 4)
// for the load generator: building the upgrade request and checking the
// server's answer, byte buffers in and out, no sockets.
#ifndef WIREHUB_TOOLS_BENCH_WS_HANDSHAKE_H_
#define WIREHUB_TOOLS_BENCH_WS_HANDSHAKE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wirehub::bench {

// Largest handshake answer accepted, headers included.
inline constexpr size_t kWsMaxHandshakeResponseBytes = 8192;

// WsKeyFromNonce()
//
// A Sec-WebSocket-Key: the base64 form of 16 nonce bytes (24 characters).
std::string WsKeyFromNonce(const uint8_t (&nonce)[16]);

// RandomWsKey()
//
// A Sec-WebSocket-Key from 16 bytes of OpenSSL's random generator.
// Internal when the generator fails.
absl::StatusOr<std::string> RandomWsKey();

// BuildWsHandshakeRequest()
//
// The HTTP/1.1 upgrade request for `resource` (path and query, e.g.
// "/connection/websocket") on `host` (the Host header, e.g.
// "127.0.0.1:8000") with `key`. `extra_headers` is inserted as is: complete
// lines, each ending in "\r\n" (e.g. "Sec-WebSocket-Protocol: x\r\n").
std::string BuildWsHandshakeRequest(std::string_view host, std::string_view resource,
                                    std::string_view key, std::string_view extra_headers = {});

// ParseWsHandshakeResponse()
//
// Checks the server's answer at the start of `input` against the request
// sent with `key` and, when not empty, offering the one subprotocol
// `subprotocol`. Returns 0 while the header is incomplete; otherwise the
// size of the header (through the blank line): bytes after it are already
// WebSocket frames.
//
// Errors: Unavailable when the status is not 101 (the message holds the
// status line), DataLoss for an answer without `Upgrade: websocket`, an
// upgrade `Connection` token or the right `Sec-WebSocket-Accept`, with an
// extension the client did not offer, without `Sec-WebSocket-Protocol:
// <subprotocol>` when one was offered or with a subprotocol when none was,
// or malformed; ResourceExhausted when no complete header fits in
// kWsMaxHandshakeResponseBytes.
absl::StatusOr<size_t> ParseWsHandshakeResponse(std::string_view input, std::string_view key,
                                                std::string_view subprotocol = {});

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_WS_HANDSHAKE_H_
