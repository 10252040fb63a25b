// Fuzzes the RFC 6455 frame codec (common/websocket_frame.h).
//
// Input: one byte of options (bit 0: server role, which expects masked
// frames; bits 1-7: where to split the rest, to feed it in two reads), then
// the bytes one connection receives. Frames are decoded one at a time from
// the front of a receive buffer, as a connection does. Checks that a decoded
// frame stays inside the bytes received, that an incomplete frame asks for
// more than it has, that re-encoding a frame and decoding it afresh gives
// the same frame, and that close payloads parse or fail with DataLoss.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/websocket_frame.h"

namespace {

constexpr size_t kMaxFramePayload = 64 * 1024;

void Check(bool condition) {
  if (!condition) std::abort();
}

// Encodes `frame` as the peer would have sent it and decodes it with a fresh
// decoder of the same role: the result must be the same frame.
void CheckRoundTrip(const wirehub::WebSocketFrame& frame, wirehub::WebSocketRole role,
                    bool continues_message) {
  // A continuation needs a message in progress; the fresh decoder has none.
  if (frame.opcode == wirehub::WebSocketOpcode::kContinuation) return;
  if (continues_message && !wirehub::IsWebSocketControl(frame.opcode)) return;
  const bool masked = role == wirehub::WebSocketRole::kServer;
  std::string encoded;
  const absl::Status appended = wirehub::AppendWebSocketFrame(
      frame.opcode, frame.fin, frame.payload,
      masked ? std::optional<uint32_t>(0x12345678) : std::nullopt, &encoded);
  Check(appended.ok());
  Check(encoded.size() == wirehub::WebSocketFrameSize(frame.payload.size(), masked));
  wirehub::WebSocketFrameDecoder decoder({.role = role, .max_frame_payload = kMaxFramePayload});
  wirehub::WebSocketFrame again;
  const absl::StatusOr<size_t> used = decoder.Decode(encoded.data(), encoded.size(), &again);
  Check(used.ok() && *used == encoded.size());
  Check(again.opcode == frame.opcode && again.fin == frame.fin);
  Check(again.payload == frame.payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const wirehub::WebSocketRole role =
      (data[0] & 1) ? wirehub::WebSocketRole::kServer : wirehub::WebSocketRole::kClient;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t split = input.empty() ? 0 : (data[0] >> 1) % (input.size() + 1);

  wirehub::WebSocketFrameDecoder decoder({.role = role, .max_frame_payload = kMaxFramePayload});
  std::string buffer(input.substr(0, split));
  size_t fed = split;
  for (;;) {
    wirehub::WebSocketFrame frame;
    const bool continues_message = decoder.in_message();
    const absl::StatusOr<size_t> used = decoder.Decode(buffer.data(), buffer.size(), &frame);
    if (!used.ok()) {
      Check(used.status().code() == absl::StatusCode::kDataLoss ||
            used.status().code() == absl::StatusCode::kResourceExhausted);
      return 0;
    }
    if (*used == 0) {
      if (decoder.pending_frame_bytes() != 0) {
        Check(decoder.pending_frame_bytes() > buffer.size());
      }
      if (fed == input.size()) return 0;  // The connection ends mid-frame.
      buffer.append(input.substr(fed));
      fed = input.size();
      continue;
    }
    Check(*used <= buffer.size());
    Check(frame.payload.size() <= kMaxFramePayload);
    Check(frame.payload.empty() ||
          (frame.payload.data() >= buffer.data() &&
           frame.payload.data() + frame.payload.size() <= buffer.data() + *used));
    if (wirehub::IsWebSocketControl(frame.opcode)) {
      Check(frame.fin && frame.payload.size() <= wirehub::kWebSocketMaxControlPayload);
    }
    if (frame.opcode == wirehub::WebSocketOpcode::kClose) {
      const absl::StatusOr<wirehub::WebSocketClose> close =
          wirehub::ParseWebSocketClose(frame.payload);
      Check(close.ok() || close.status().code() == absl::StatusCode::kDataLoss);
    }
    CheckRoundTrip(frame, role, continues_message);
    buffer.erase(0, *used);
  }
}
