// The WebSocket opening-handshake keys (RFC 6455 section 4), shared by every
// WebSocket client in the tree (wirehubctl tail, the load generator) and
// their test servers.
#ifndef WIREHUB_COMMON_WEBSOCKET_KEY_H_
#define WIREHUB_COMMON_WEBSOCKET_KEY_H_

#include <string>
#include <string_view>

namespace wirehub {

// Base64Encode()
//
// Standard base64 (RFC 4648 section 4, "+/" alphabet, '=' padding) of
// `bytes`; JWTs use the URL alphabet instead (Base64UrlEncode in jwt.h).
std::string Base64Encode(std::string_view bytes);

// WebSocketAcceptKey()
//
// The Sec-WebSocket-Accept a server answers to Sec-WebSocket-Key `key`:
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string WebSocketAcceptKey(std::string_view key);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_WEBSOCKET_KEY_H_
