#include "common/websocket_frame.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace wirehub {
namespace {

constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kReservedBits = 0x70;
constexpr uint8_t kOpcodeBits = 0x0F;
constexpr uint8_t kMaskBit = 0x80;

bool IsKnownOpcode(uint8_t opcode) {
  switch (opcode) {
    case 0x0:
    case 0x1:
    case 0x2:
    case 0x8:
    case 0x9:
    case 0xA:
      return true;
    default:
      return false;
  }
}

bool IsControlOpcode(uint8_t opcode) { return (opcode & 0x08) != 0; }

// XORs `size` bytes from `in` with the 4-byte `mask` (in wire order) into
// `out`, 8 bytes at a time. `in` and `out` may be the same buffer.
void Mask(const char* in, size_t size, const uint8_t mask[4], char* out) {
  uint8_t mask8[8];
  for (int i = 0; i < 8; ++i) mask8[i] = mask[i % 4];
  uint64_t mask64;
  std::memcpy(&mask64, mask8, 8);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, in + i, 8);
    word ^= mask64;
    std::memcpy(out + i, &word, 8);
  }
  for (; i < size; ++i) out[i] = static_cast<char>(in[i] ^ mask[i % 4]);
}

}  // namespace

absl::StatusOr<size_t> WebSocketFrameDecoder::Decode(char* data, size_t size,
                                                     WebSocketFrame* frame) {
  return DecodeFrame(reinterpret_cast<const uint8_t*>(data), size, data, frame);
}

absl::StatusOr<size_t> WebSocketFrameDecoder::Decode(std::string_view input,
                                                     WebSocketFrame* frame) {
  // A server's frames are masked and unmasked in place, which read-only input
  // does not allow.
  WH_CHECK(options_.role == WebSocketRole::kClient);
  return DecodeFrame(reinterpret_cast<const uint8_t*>(input.data()), input.size(), nullptr, frame);
}

absl::StatusOr<size_t> WebSocketFrameDecoder::DecodeFrame(const uint8_t* bytes, size_t size,
                                                          char* unmask_into,
                                                          WebSocketFrame* frame) {
  pending_frame_bytes_ = 0;
  if (size < 2) return 0;
  const uint8_t opcode = bytes[0] & kOpcodeBits;
  const bool fin = (bytes[0] & kFinBit) != 0;
  const bool masked = (bytes[1] & kMaskBit) != 0;
  if ((bytes[0] & kReservedBits) != 0) {
    return absl::DataLossError("WebSocket frame with reserved bits set (no extension agreed)");
  }
  if (!IsKnownOpcode(opcode)) {
    return absl::DataLossError(absl::StrCat("WebSocket frame with unknown opcode ", opcode));
  }
  if (options_.role == WebSocketRole::kClient && masked) {
    return absl::DataLossError("masked WebSocket frame from the server");
  }
  if (options_.role == WebSocketRole::kServer && !masked) {
    return absl::DataLossError("unmasked WebSocket frame from the client");
  }
  // Every check that needs only the first two bytes comes before waiting for
  // more, so a broken stream fails as early as possible.
  uint64_t length = bytes[1] & 0x7F;
  if (IsControlOpcode(opcode)) {
    if (!fin) return absl::DataLossError("fragmented WebSocket control frame");
    if (length > kWebSocketMaxControlPayload) {
      return absl::DataLossError("WebSocket control frame longer than 125 bytes");
    }
    if (opcode == 0x8 && length == 1) {
      return absl::DataLossError("WebSocket close frame with a 1-byte payload");
    }
  } else if (opcode == 0x0) {
    if (!in_message_) return absl::DataLossError("WebSocket continuation frame outside a message");
  } else if (in_message_) {
    return absl::DataLossError("WebSocket data frame inside a fragmented message");
  }

  size_t header = 2;
  if (length == 126) {
    header = 4;
    if (size < header) return 0;
    length = (uint64_t{bytes[2]} << 8) | bytes[3];
    if (length < 126) return absl::DataLossError("WebSocket frame length not minimally encoded");
  } else if (length == 127) {
    header = 10;
    if (size < header) return 0;
    length = 0;
    for (int i = 2; i < 10; ++i) length = (length << 8) | bytes[i];
    if ((length >> 63) != 0) return absl::DataLossError("WebSocket frame length over 2^63");
    if (length <= 0xFFFF) {
      return absl::DataLossError("WebSocket frame length not minimally encoded");
    }
  }
  if (length > options_.max_frame_payload) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "WebSocket frame of ", length, " bytes over the limit of ", options_.max_frame_payload));
  }
  const size_t mask_at = header;
  if (masked) header += 4;
  // `length` is at most max_frame_payload, a size_t, so this cannot wrap
  // unless the limit is within 14 bytes of SIZE_MAX.
  const size_t total = header + static_cast<size_t>(length);
  if (size < total) {
    pending_frame_bytes_ = total;
    return 0;
  }

  const char* payload = reinterpret_cast<const char*>(bytes) + header;
  if (masked) {
    // Only the server role accepts masked frames, and it always has a
    // writable buffer (the read-only Decode() refuses that role).
    Mask(payload, static_cast<size_t>(length), bytes + mask_at, unmask_into + header);
  }
  frame->opcode = static_cast<WebSocketOpcode>(opcode);
  frame->fin = fin;
  frame->payload = std::string_view(payload, static_cast<size_t>(length));
  if (IsControlOpcode(opcode)) {
    frame->message_opcode = frame->opcode;
  } else {
    if (opcode != 0x0) message_opcode_ = static_cast<WebSocketOpcode>(opcode);
    frame->message_opcode = message_opcode_;
    in_message_ = !fin;
  }
  return total;
}

absl::StatusOr<size_t> EncodeWebSocketFrame(WebSocketOpcode opcode, bool fin,
                                            std::string_view payload,
                                            std::optional<uint32_t> mask_key, char* out,
                                            size_t out_size) {
  const auto code = static_cast<uint8_t>(opcode);
  if (!IsKnownOpcode(code)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown WebSocket opcode ", code));
  }
  if (IsControlOpcode(code) && (!fin || payload.size() > kWebSocketMaxControlPayload)) {
    return absl::InvalidArgumentError(
        "WebSocket control frame must be whole and at most 125 bytes");
  }
  const size_t total = WebSocketFrameSize(payload.size(), mask_key.has_value());
  if (out_size < total) {
    return absl::ResourceExhaustedError(
        absl::StrCat("WebSocket frame needs ", total, " bytes, buffer has ", out_size));
  }
  auto* bytes = reinterpret_cast<uint8_t*>(out);
  const uint8_t mask_bit = mask_key.has_value() ? kMaskBit : 0;
  bytes[0] = static_cast<uint8_t>((fin ? kFinBit : 0) | code);
  size_t header = 2;
  const uint64_t length = payload.size();
  if (length < 126) {
    bytes[1] = static_cast<uint8_t>(mask_bit | length);
  } else if (length <= 0xFFFF) {
    bytes[1] = mask_bit | 126;
    bytes[2] = static_cast<uint8_t>(length >> 8);
    bytes[3] = static_cast<uint8_t>(length);
    header = 4;
  } else {
    bytes[1] = mask_bit | 127;
    for (int i = 0; i < 8; ++i) bytes[2 + i] = static_cast<uint8_t>(length >> (8 * (7 - i)));
    header = 10;
  }
  if (!mask_key.has_value()) {
    if (!payload.empty()) std::memcpy(out + header, payload.data(), payload.size());
    return total;
  }
  uint8_t* mask = bytes + header;
  mask[0] = static_cast<uint8_t>(*mask_key >> 24);
  mask[1] = static_cast<uint8_t>(*mask_key >> 16);
  mask[2] = static_cast<uint8_t>(*mask_key >> 8);
  mask[3] = static_cast<uint8_t>(*mask_key);
  Mask(payload.data(), payload.size(), mask, out + header + 4);
  return total;
}

absl::Status AppendWebSocketFrame(WebSocketOpcode opcode, bool fin, std::string_view payload,
                                  std::optional<uint32_t> mask_key, std::string* out) {
  const size_t start = out->size();
  out->resize(start + WebSocketFrameSize(payload.size(), mask_key.has_value()));
  absl::StatusOr<size_t> size = EncodeWebSocketFrame(opcode, fin, payload, mask_key,
                                                     out->data() + start, out->size() - start);
  if (!size.ok()) {
    out->resize(start);
    return size.status();
  }
  return absl::OkStatus();
}

bool IsValidWebSocketCloseCode(uint16_t code) {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

namespace {

// The payload of a close frame, checked; `buffer` holds at least 125 bytes.
absl::StatusOr<std::string_view> ClosePayload(uint16_t code, std::string_view reason,
                                              char* buffer) {
  if (!IsValidWebSocketCloseCode(code)) {
    return absl::InvalidArgumentError(
        absl::StrCat("WebSocket close code ", code, " may not be sent"));
  }
  if (reason.size() > kWebSocketMaxCloseReason) {
    return absl::InvalidArgumentError("WebSocket close reason longer than 123 bytes");
  }
  buffer[0] = static_cast<char>(code >> 8);
  buffer[1] = static_cast<char>(code & 0xFF);
  if (!reason.empty()) std::memcpy(buffer + 2, reason.data(), reason.size());
  return std::string_view(buffer, 2 + reason.size());
}

}  // namespace

absl::StatusOr<size_t> EncodeWebSocketClose(uint16_t code, std::string_view reason,
                                            std::optional<uint32_t> mask_key, char* out,
                                            size_t out_size) {
  char buffer[kWebSocketMaxControlPayload];
  absl::StatusOr<std::string_view> payload = ClosePayload(code, reason, buffer);
  if (!payload.ok()) return payload.status();
  return EncodeWebSocketFrame(WebSocketOpcode::kClose, true, *payload, mask_key, out, out_size);
}

absl::Status AppendWebSocketClose(uint16_t code, std::string_view reason,
                                  std::optional<uint32_t> mask_key, std::string* out) {
  char buffer[kWebSocketMaxControlPayload];
  absl::StatusOr<std::string_view> payload = ClosePayload(code, reason, buffer);
  if (!payload.ok()) return payload.status();
  return AppendWebSocketFrame(WebSocketOpcode::kClose, true, *payload, mask_key, out);
}

absl::StatusOr<WebSocketClose> ParseWebSocketClose(std::string_view payload) {
  WebSocketClose close;
  if (payload.empty()) return close;
  if (payload.size() == 1)
    return absl::DataLossError("WebSocket close frame with a 1-byte payload");
  close.code = static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                     static_cast<uint8_t>(payload[1]));
  if (!IsValidWebSocketCloseCode(close.code)) {
    return absl::DataLossError(
        absl::StrCat("WebSocket close frame with code ", close.code, ", which may not be sent"));
  }
  close.reason = payload.substr(2);
  return close;
}

}  // namespace wirehub
