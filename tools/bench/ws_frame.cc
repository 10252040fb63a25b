#include "tools/bench/ws_frame.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace wirehub::bench {
namespace {

constexpr uint8_t kFin = 0x80;
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

bool IsControl(uint8_t opcode) { return (opcode & 0x08) != 0; }

// XORs `size` bytes from `in` with the 4-byte `mask` (in wire order) into
// `out`, 8 bytes at a time.
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

absl::StatusOr<size_t> WsFrameParser::Parse(std::string_view input, WsFrame* frame) {
  pending_frame_bytes_ = 0;
  if (input.size() < 2) return 0;
  const auto* bytes = reinterpret_cast<const uint8_t*>(input.data());
  const uint8_t opcode = bytes[0] & kOpcodeBits;
  const bool fin = (bytes[0] & kFin) != 0;
  if ((bytes[0] & kReservedBits) != 0) {
    return absl::DataLossError("WebSocket frame with reserved bits set (no extension agreed)");
  }
  if (!IsKnownOpcode(opcode)) {
    return absl::DataLossError(absl::StrCat("WebSocket frame with unknown opcode ", opcode));
  }
  if ((bytes[1] & kMaskBit) != 0) {
    return absl::DataLossError("masked WebSocket frame from the server");
  }
  // Every check that needs only the first two bytes comes before waiting for
  // more, so a broken stream fails as early as possible.
  uint64_t length = bytes[1] & 0x7F;
  if (IsControl(opcode)) {
    if (!fin) return absl::DataLossError("fragmented WebSocket control frame");
    if (length > kWsMaxControlPayload) {
      return absl::DataLossError("WebSocket control frame longer than 125 bytes");
    }
  } else if (opcode == 0x0) {
    if (!in_message_) return absl::DataLossError("WebSocket continuation frame outside a message");
  } else if (in_message_) {
    return absl::DataLossError("WebSocket data frame inside a fragmented message");
  }

  size_t header = 2;
  if (length == 126) {
    header = 4;
    if (input.size() < header) return 0;
    length = (uint64_t{bytes[2]} << 8) | bytes[3];
    if (length < 126) return absl::DataLossError("WebSocket frame length not minimally encoded");
  } else if (length == 127) {
    header = 10;
    if (input.size() < header) return 0;
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
  const size_t total = header + static_cast<size_t>(length);
  if (input.size() < total) {
    pending_frame_bytes_ = total;
    return 0;
  }
  if (opcode == 0x8 && length == 1) {
    return absl::DataLossError("WebSocket close frame with a 1-byte payload");
  }

  frame->opcode = static_cast<WsOpcode>(opcode);
  frame->fin = fin;
  frame->payload = input.substr(header, static_cast<size_t>(length));
  if (IsControl(opcode)) {
    frame->message_opcode = frame->opcode;
  } else {
    if (opcode != 0x0) message_opcode_ = static_cast<WsOpcode>(opcode);
    frame->message_opcode = message_opcode_;
    in_message_ = !fin;
  }
  return total;
}

absl::StatusOr<size_t> WriteWsClientFrame(WsOpcode opcode, bool fin, std::string_view payload,
                                          uint32_t mask_key, char* out, size_t out_size) {
  const auto code = static_cast<uint8_t>(opcode);
  if (!IsKnownOpcode(code)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown WebSocket opcode ", code));
  }
  if (IsControl(code) && (!fin || payload.size() > kWsMaxControlPayload)) {
    return absl::InvalidArgumentError(
        "WebSocket control frame must be whole and at most 125 bytes");
  }
  const size_t total = WsClientFrameSize(payload.size());
  if (out_size < total) {
    return absl::ResourceExhaustedError(
        absl::StrCat("WebSocket frame needs ", total, " bytes, buffer has ", out_size));
  }
  auto* bytes = reinterpret_cast<uint8_t*>(out);
  bytes[0] = static_cast<uint8_t>((fin ? kFin : 0) | code);
  size_t header = 2;
  const uint64_t length = payload.size();
  if (length < 126) {
    bytes[1] = static_cast<uint8_t>(kMaskBit | length);
  } else if (length <= 0xFFFF) {
    bytes[1] = kMaskBit | 126;
    bytes[2] = static_cast<uint8_t>(length >> 8);
    bytes[3] = static_cast<uint8_t>(length);
    header = 4;
  } else {
    bytes[1] = kMaskBit | 127;
    for (int i = 0; i < 8; ++i) bytes[2 + i] = static_cast<uint8_t>(length >> (8 * (7 - i)));
    header = 10;
  }
  uint8_t* mask = bytes + header;
  mask[0] = static_cast<uint8_t>(mask_key >> 24);
  mask[1] = static_cast<uint8_t>(mask_key >> 16);
  mask[2] = static_cast<uint8_t>(mask_key >> 8);
  mask[3] = static_cast<uint8_t>(mask_key);
  Mask(payload.data(), payload.size(), mask, out + header + 4);
  return total;
}

absl::StatusOr<size_t> WriteWsClientClose(uint16_t code, std::string_view reason, uint32_t mask_key,
                                          char* out, size_t out_size) {
  if (reason.size() > kWsMaxControlPayload - 2) {
    return absl::InvalidArgumentError("WebSocket close reason longer than 123 bytes");
  }
  char payload[kWsMaxControlPayload];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  if (!reason.empty()) std::memcpy(payload + 2, reason.data(), reason.size());
  return WriteWsClientFrame(WsOpcode::kClose, true, std::string_view(payload, 2 + reason.size()),
                            mask_key, out, out_size);
}

absl::StatusOr<WsClose> ParseWsClosePayload(std::string_view payload) {
  WsClose close;
  if (payload.empty()) return close;
  if (payload.size() == 1) return absl::DataLossError("WebSocket close frame with 1-byte payload");
  close.code = static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                     static_cast<uint8_t>(payload[1]));
  close.reason = payload.substr(2);
  return close;
}

}  // namespace wirehub::bench
