// HandshakeCheck: whether a WebSocket opening handshake may proceed, and
// the HTTP answer when it may not.
#ifndef WIREHUB_EDGE_HANDSHAKE_CHECK_H_
#define WIREHUB_EDGE_HANDSHAKE_CHECK_H_

#include <optional>
#include <string>
#include <string_view>

#include "edge/origin_policy.h"
#include "edge/wire_format.h"

namespace wirehub::edge {

// The request headers the check reads; "" stands for an absent header.
struct HandshakeRequest {
  // The path of a GET request; "" for any other method.
  std::string_view get_path;
  std::string_view upgrade;
  std::string_view connection;
  std::string_view version;
  std::string_view key;
  std::string_view protocol;
  std::string_view origin;
  std::string_view host;
};

// An HTTP refusal: status, a short plain-text reason for the body, and
// whether to add `Sec-WebSocket-Version: 13` (426, RFC 6455 4.4).
struct HandshakeRefusal {
  int status = 400;
  std::string reason;
  bool version_header = false;
  // The offered subprotocols were the problem (counted and logged apart).
  bool subprotocol = false;
};

// Sec-WebSocket-Protocol bounds: lws 4.1 copies the header into a
// 128-byte buffer and each token into a 64-byte one, and drops the
// connection without an answer unless the header is under 127 bytes and a
// token under 63 (measured against lws 4.1.6: 127 and 63 are dropped), so
// longer ones are refused here first.
inline constexpr size_t kMaxSubprotocolHeaderBytes = 126;
inline constexpr size_t kMaxSubprotocolTokenBytes = 62;

// ChooseWireFormat()
//
// The wire format a Sec-WebSocket-Protocol value selects: JSON when it is
// empty, else the first token (in the client's order, compared exactly as
// lws does when it binds the protocol) that is `centrifuge-json` or
// `centrifuge-protobuf`. A refusal when none is, or the value breaks the
// bounds above.
struct WireFormatChoice {
  WireFormat format = WireFormat::kJson;
  std::optional<HandshakeRefusal> refusal;
};
WireFormatChoice ChooseWireFormat(std::string_view protocol_header);

// CheckHandshake()
//
// Applies RFC 6455 section 4.2.1 and the edge's policy, in this order:
// a GET on `path` (404 for another path), `Upgrade: websocket` and a
// `Connection` header listing `upgrade` (400), `Sec-WebSocket-Version: 13`
// (426 with the version header otherwise, also when absent), a
// `Sec-WebSocket-Key` that is base64 of exactly 16 bytes (400), a
// `Sec-WebSocket-Protocol` ChooseWireFormat() accepts (400), and an Origin
// the policy allows (403). nullopt: go ahead.
std::optional<HandshakeRefusal> CheckHandshake(const HandshakeRequest& request,
                                               std::string_view path, const OriginPolicy& origins);

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_HANDSHAKE_CHECK_H_
