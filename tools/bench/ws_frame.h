// Client-side RFC 6455 framing for the load generator: an incremental parser
// of server frames over a connection's receive buffer and a writer of masked
// client frames into a caller's buffer. Neither allocates per message, so one
// thread can drive tens of thousands of connections.
#ifndef WIREHUB_TOOLS_BENCH_WS_FRAME_H_
#define WIREHUB_TOOLS_BENCH_WS_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wirehub::bench {

// Opcodes (RFC 6455 section 5.2).
enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Largest header of a client frame: 2 bytes, an 8-byte length, a 4-byte mask.
inline constexpr size_t kWsMaxClientHeaderBytes = 14;
// Largest payload of a control frame (close, ping, pong).
inline constexpr size_t kWsMaxControlPayload = 125;

// WsFrame is one parsed server frame. `payload` points into the buffer that
// was parsed and is valid until the caller consumes or changes those bytes.
struct WsFrame {
  // The frame's own opcode: kContinuation for the second and later fragments.
  WsOpcode opcode = WsOpcode::kText;
  // The opcode of the message the frame belongs to: kText or kBinary for data
  // frames and their continuations, the frame's opcode for control frames.
  WsOpcode message_opcode = WsOpcode::kText;
  // Whether this frame ends its message.
  bool fin = true;
  std::string_view payload;
};

// WsFrameParser reads the frames a server sends, one at a time, from the
// start of a connection's receive buffer, and checks them against RFC 6455:
// server frames are unmasked, reserved bits are zero (no extensions are
// negotiated), opcodes are known, control frames are whole and at most 125
// bytes, lengths use their shortest encoding, and fragments follow a data
// frame that did not end its message.
// Thread-compatible: one parser per connection, used by that connection's
// thread.
//
// Example:
//   WsFrameParser parser;  // One per connection.
//   WsFrame frame;
//   for (;;) {
//     ASSIGN_OR_RETURN(size_t used, parser.Parse(buffer.view(), &frame));
//     if (used == 0) break;  // Read more; parser.pending_frame_bytes() says how much.
//     Handle(frame);
//     buffer.Consume(used);
//   }
class WsFrameParser {
 public:
  struct Options {
    // Largest payload accepted in one frame; a larger one is a
    // ResourceExhausted error (the caller's receive buffer must hold the
    // header plus this).
    size_t max_frame_payload = size_t{1} << 20;
  };

  WsFrameParser() : WsFrameParser(Options()) {}
  explicit WsFrameParser(const Options& options) : options_(options) {}

  // Parse()
  //
  // Looks at the frame at the start of `input`. When it is all there, fills
  // `*frame` and returns the bytes it occupies (header and payload); the
  // caller drops them before the next call. Returns 0 when more bytes are
  // needed, leaving `*frame` alone.
  //
  // Errors (the connection must be failed; close code 1002, or 1009 for
  // ResourceExhausted): DataLoss for a frame that breaks RFC 6455,
  // ResourceExhausted for a payload over Options::max_frame_payload.
  absl::StatusOr<size_t> Parse(std::string_view input, WsFrame* frame);

  // pending_frame_bytes()
  //
  // After Parse() returned 0: the size of the whole frame being waited for
  // once its header is complete, otherwise 0.
  size_t pending_frame_bytes() const { return pending_frame_bytes_; }

  // in_message()
  //
  // Whether a fragmented data message has started and not yet ended.
  bool in_message() const { return in_message_; }

 private:
  Options options_;
  size_t pending_frame_bytes_ = 0;
  bool in_message_ = false;
  WsOpcode message_opcode_ = WsOpcode::kText;
};

// WsClientFrameSize()
//
// The bytes WriteWsClientFrame() writes for a payload of `payload_size`.
constexpr size_t WsClientFrameSize(size_t payload_size) {
  size_t length_bytes = payload_size < 126 ? 0 : payload_size <= 0xFFFF ? 2 : 8;
  return 2 + length_bytes + 4 + payload_size;
}

// WriteWsClientFrame()
//
// Writes one client frame, masked with `mask_key` as RFC 6455 requires, to
// the start of `out`, and returns its size (WsClientFrameSize()). The caller
// picks the mask key; the server does not care how random it is, and a cheap
// generator keeps the load generator fast.
//
// Errors: ResourceExhausted when `out` is too small, InvalidArgument for a
// control frame with more than 125 bytes or not `fin`, or an opcode that is
// not one of WsOpcode.
absl::StatusOr<size_t> WriteWsClientFrame(WsOpcode opcode, bool fin, std::string_view payload,
                                          uint32_t mask_key, char* out, size_t out_size);

// WriteWsClientClose()
//
// Writes a close frame carrying `code` and `reason` (at most 123 bytes), as
// WriteWsClientFrame() does.
absl::StatusOr<size_t> WriteWsClientClose(uint16_t code, std::string_view reason, uint32_t mask_key,
                                          char* out, size_t out_size);

// ParseWsClosePayload()
//
// Splits a close frame's payload into its code (1005 when there is none) and
// reason. DataLoss for a 1-byte payload.
struct WsClose {
  uint16_t code = 1005;
  std::string_view reason;
};
absl::StatusOr<WsClose> ParseWsClosePayload(std::string_view payload);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_WS_FRAME_H_
