// RFC 6455 framing, for both ends of a connection: an encoder of frames
// (masked as a client must send them, or unmasked as a server does) and an
// incremental decoder that checks every frame it returns against the
// protocol. Every WebSocket endpoint in tools/ (wirehubctl tail and its test
// server, the load generator and its tests) frames through this file; the
// opening handshake's keys are in websocket_key.h.
//
// Neither side allocates: the encoder writes into the caller's buffer and the
// decoder returns views into the caller's receive buffer (unmasking client
// frames in place), so one thread can drive tens of thousands of connections.
#ifndef WIREHUB_COMMON_WEBSOCKET_FRAME_H_
#define WIREHUB_COMMON_WEBSOCKET_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wirehub {

// Opcodes (RFC 6455 section 5.2).
enum class WebSocketOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// The side of the connection a decoder works for. A server receives masked
// frames only, a client unmasked ones only (RFC 6455 section 5.1).
enum class WebSocketRole : uint8_t { kClient, kServer };

// Largest header: 2 bytes, an 8-byte length and a 4-byte mask.
inline constexpr size_t kWebSocketMaxHeaderBytes = 14;
// Largest payload of a control frame (close, ping, pong).
inline constexpr size_t kWebSocketMaxControlPayload = 125;
// Largest close reason: the control payload less the 2-byte code.
inline constexpr size_t kWebSocketMaxCloseReason = kWebSocketMaxControlPayload - 2;

// Close codes (RFC 6455 section 7.4.1) the tools send or report.
inline constexpr uint16_t kWebSocketCloseNormal = 1000;
inline constexpr uint16_t kWebSocketCloseProtocolError = 1002;
inline constexpr uint16_t kWebSocketCloseNoStatus = 1005;  // Reported, never sent.
inline constexpr uint16_t kWebSocketCloseTooBig = 1009;

// IsWebSocketControl()
//
// Whether `opcode` is a control frame's (close, ping, pong).
constexpr bool IsWebSocketControl(WebSocketOpcode opcode) {
  return (static_cast<uint8_t>(opcode) & 0x08) != 0;
}

// WebSocketFrame is one decoded frame. `payload` points into the buffer that
// was decoded (unmasked) and is valid until the caller consumes or changes
// those bytes.
struct WebSocketFrame {
  // The frame's own opcode: kContinuation for the second and later fragments.
  WebSocketOpcode opcode = WebSocketOpcode::kText;
  // The opcode of the message the frame belongs to: kText or kBinary for data
  // frames and their continuations, the frame's opcode for control frames.
  WebSocketOpcode message_opcode = WebSocketOpcode::kText;
  // Whether this frame ends its message.
  bool fin = true;
  std::string_view payload;
};

// WebSocketFrameDecoder reads the frames of one connection, one at a time,
// from the start of its receive buffer, as the bytes arrive, and checks them
// against RFC 6455: masked-ness matches the role (masked towards a server,
// unmasked towards a client), reserved bits are zero (no extensions are
// negotiated), opcodes are known, control frames are whole and at most 125
// bytes, lengths use their shortest encoding and stay under the limit, close
// payloads are not 1 byte, and continuations follow a data frame that did not
// end its message while new data frames do not. Whatever can be checked from
// the header is checked before the payload arrives, so a broken or oversize
// frame fails as early as possible.
// Thread-compatible: one decoder per connection, used by that connection's
// thread.
//
// Example:
//   WebSocketFrameDecoder decoder({.role = WebSocketRole::kClient});
//   WebSocketFrame frame;
//   for (;;) {
//     ASSIGN_OR_RETURN(size_t used, decoder.Decode(buffer.data(), buffer.size(), &frame));
//     if (used == 0) break;  // Read more; decoder.pending_frame_bytes() says how much.
//     Handle(frame);
//     buffer.Consume(used);
//   }
class WebSocketFrameDecoder {
 public:
  struct Options {
    WebSocketRole role = WebSocketRole::kClient;
    // Largest payload accepted in one frame; a larger one is a
    // ResourceExhausted error (the caller's receive buffer must hold the
    // header plus this).
    size_t max_frame_payload = size_t{1} << 20;
  };

  WebSocketFrameDecoder() : WebSocketFrameDecoder(Options()) {}
  explicit WebSocketFrameDecoder(const Options& options) : options_(options) {}

  // Decode()
  //
  // Looks at the frame at the start of `data`. When it is all there, unmasks
  // its payload in place (server role), fills `*frame` and returns the bytes
  // the frame occupies (header and payload); the caller drops them before the
  // next call, since a second call on the same bytes would unmask them again
  // and see the same fragment twice. Returns 0 when more bytes are needed,
  // leaving `*frame` and `data` alone.
  //
  // Errors (the connection must be failed, with close code 1002, or 1009 for
  // ResourceExhausted): DataLoss for a frame that breaks RFC 6455,
  // ResourceExhausted for a payload over Options::max_frame_payload.
  absl::StatusOr<size_t> Decode(char* data, size_t size, WebSocketFrame* frame);

  // Decode()
  //
  // The same for read-only input, which holds only unmasked frames: client
  // role only (a server-role decoder crashes here).
  absl::StatusOr<size_t> Decode(std::string_view input, WebSocketFrame* frame);

  // pending_frame_bytes()
  //
  // After Decode() returned 0: the size of the whole frame being waited for
  // once its header is complete, otherwise 0.
  size_t pending_frame_bytes() const { return pending_frame_bytes_; }

  // in_message()
  //
  // Whether a fragmented data message has started and not yet ended.
  bool in_message() const { return in_message_; }

 private:
  absl::StatusOr<size_t> DecodeFrame(const uint8_t* bytes, size_t size, char* unmask_into,
                                     WebSocketFrame* frame);

  Options options_;
  size_t pending_frame_bytes_ = 0;
  bool in_message_ = false;
  WebSocketOpcode message_opcode_ = WebSocketOpcode::kText;
};

// WebSocketFrameSize()
//
// The bytes EncodeWebSocketFrame() writes for a payload of `payload_size`,
// with a mask (client frames) or without (server frames).
constexpr size_t WebSocketFrameSize(size_t payload_size, bool masked) {
  const size_t length_bytes = payload_size < 126 ? 0 : payload_size <= 0xFFFF ? 2 : 8;
  return 2 + length_bytes + (masked ? 4 : 0) + payload_size;
}

// EncodeWebSocketFrame()
//
// Writes one frame to the start of `out` with the shortest length encoding
// and returns its size (WebSocketFrameSize()). With a `mask_key` the payload
// is masked as a client must send it (RFC 6455 section 5.3); a server sends
// without one. The caller picks the key: a server does not care how random it
// is, so the load generator uses a cheap generator and wirehubctl RAND_bytes.
//
// Errors: ResourceExhausted when `out` is too small, InvalidArgument for a
// control frame with more than 125 bytes or not `fin`, or an opcode that is
// not one of WebSocketOpcode.
absl::StatusOr<size_t> EncodeWebSocketFrame(WebSocketOpcode opcode, bool fin,
                                            std::string_view payload,
                                            std::optional<uint32_t> mask_key, char* out,
                                            size_t out_size);

// AppendWebSocketFrame()
//
// EncodeWebSocketFrame() onto the end of `*out`, for callers that are not on
// a hot path. Same errors, except never ResourceExhausted.
absl::Status AppendWebSocketFrame(WebSocketOpcode opcode, bool fin, std::string_view payload,
                                  std::optional<uint32_t> mask_key, std::string* out);

// WebSocketClose is the content of a close frame.
struct WebSocketClose {
  // kWebSocketCloseNoStatus when the frame carried no code.
  uint16_t code = kWebSocketCloseNoStatus;
  std::string_view reason;
};

// EncodeWebSocketClose()
//
// Writes a close frame carrying `code` and `reason`, as EncodeWebSocketFrame()
// does. InvalidArgument for a reason over 123 bytes or a code an endpoint may
// not send (IsValidWebSocketCloseCode()).
absl::StatusOr<size_t> EncodeWebSocketClose(uint16_t code, std::string_view reason,
                                            std::optional<uint32_t> mask_key, char* out,
                                            size_t out_size);

// AppendWebSocketClose()
//
// EncodeWebSocketClose() onto the end of `*out`.
absl::Status AppendWebSocketClose(uint16_t code, std::string_view reason,
                                  std::optional<uint32_t> mask_key, std::string* out);

// IsValidWebSocketCloseCode()
//
// Whether a close frame may carry `code` (RFC 6455 section 7.4): 1000-1003
// and 1007-1014 from the IANA registry, 3000-4999 for libraries and
// applications. 1005 and 1006 only ever describe a close that had no code.
bool IsValidWebSocketCloseCode(uint16_t code);

// ParseWebSocketClose()
//
// Splits a close frame's payload into its code (kWebSocketCloseNoStatus when
// there is none) and reason. DataLoss for a 1-byte payload or a code that may
// not be sent.
absl::StatusOr<WebSocketClose> ParseWebSocketClose(std::string_view payload);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_WEBSOCKET_FRAME_H_
