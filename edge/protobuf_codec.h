// The binary form of the client protocol (the `centrifuge-protobuf`
// WebSocket subprotocol): parsing what a client sends. The messages are
// proto/wirehub/client/v1/client.proto; the encoders of replies and pushes
// are in edge/protobuf_encoders.h.
#ifndef WIREHUB_EDGE_PROTOBUF_CODEC_H_
#define WIREHUB_EDGE_PROTOBUF_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "edge/client_protocol.h"

namespace wirehub::client::v1 {
class Command;
}

namespace wirehub::edge {

// ReadVarint()
//
// Reads one unsigned varint (protobuf base-128, least significant group
// first) from `data` at `*pos` into `*value` and advances `*pos` past it.
// Returns false, leaving `*pos` alone, when the varint runs past the end of
// `data`, takes more than 10 bytes, or does not fit in 64 bits.
bool ReadVarint(std::string_view data, size_t* pos, uint64_t* value);

// ProtobufCommandParser turns one received binary message into commands,
// filling the same Command structs as the JSON CommandParser so the edge
// handles both forms alike.
// Thread-compatible: one per event loop; it reuses its parse buffers.
class ProtobufCommandParser {
 public:
  ProtobufCommandParser();
  ~ProtobufCommandParser();
  ProtobufCommandParser(const ProtobufCommandParser&) = delete;
  ProtobufCommandParser& operator=(const ProtobufCommandParser&) = delete;

  // Parse()
  //
  // Reads `message` as a sequence of Commands, each preceded by its length
  // as a varint, into `commands` in order. Returns InvalidArgument, leaving
  // `commands` empty, when the message is empty, a length prefix is
  // truncated, overlong or points past the end of the message, a Command is
  // not valid protobuf, or a Command sets several methods; the connection
  // must then be closed with 3501, as for malformed JSON.
  //
  // Otherwise each Command maps as its JSON twin does: no method and id 0
  // is a pong (an empty Command is the SDK's pong), no method and an id is
  // kUnknown (error 104), `send` and `rpc` are kNotAvailable (108), and a
  // request the edge cannot act on (empty publish data, empty refresh
  // token, too many connect subs) is kInvalidParams (107) with a problem.
  // Unknown fields are skipped. Text fields are copied as bytes, unchecked:
  // the edge validates channel names and tokens. Publish data is the raw
  // bytes, in Command::data_json.
  //
  // Example:
  //   // Length 4: {id: 7, ping: {}} (08 07: field 1 = 7; 5a 00: field 11,
  //   // empty), then length 0: a pong. Yields kPing with id 7, then kPong.
  //   parser.Parse(std::string_view("\x04\x08\x07\x5a\x00\x00", 6), &commands);
  absl::Status Parse(std::string_view message, std::vector<Command>* commands);

 private:
  // Reused for every Command: keeps its buffers between messages.
  std::unique_ptr<client::v1::Command> command_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_PROTOBUF_CODEC_H_
