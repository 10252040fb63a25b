// WireFormat: which form of the client protocol a connection speaks.
#ifndef WIREHUB_EDGE_WIRE_FORMAT_H_
#define WIREHUB_EDGE_WIRE_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace wirehub::edge {

// Chosen at the WebSocket handshake and fixed for the connection's life.
// The values index per-format tables (kWireFormats entries).
enum class WireFormat : uint8_t {
  // `centrifuge-json` (or no subprotocol): text frames, one JSON command or
  // reply per line.
  kJson = 0,
  // `centrifuge-protobuf`: binary frames, each Command or Reply preceded by
  // its length as a varint.
  kProtobuf = 1,
};

inline constexpr size_t kWireFormats = 2;

inline constexpr size_t IndexOf(WireFormat format) { return static_cast<size_t>(format); }

inline constexpr const char* SubprotocolOf(WireFormat format) {
  return format == WireFormat::kProtobuf ? "centrifuge-protobuf" : "centrifuge-json";
}

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_WIRE_FORMAT_H_
