// The load generator's side of the `centrifuge-protobuf` WebSocket
// subprotocol (proto/wirehub/client/v1/client.proto): the two commands a
// bench subscriber sends, and a reader of the replies it receives that
// takes what the bench needs from each one without allocating. Every
// Command and Reply travels prefixed by its length as an unsigned varint;
// one binary WebSocket message holds one or more of them.
#ifndef WIREHUB_TOOLS_BENCH_PROTOBUF_WIRE_H_
#define WIREHUB_TOOLS_BENCH_PROTOBUF_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace wirehub::bench {

// The WebSocket subprotocol that selects the binary form.
inline constexpr std::string_view kProtobufSubprotocol = "centrifuge-protobuf";

// The client's pong: an empty Command, i.e. its length 0.
inline constexpr std::string_view kProtobufPong("\0", 1);

// ReadVarint()
//
// Reads the unsigned varint at the start of `input` into `*value` and
// returns how many bytes it took (1 to 10); 0 when `input` ends inside it
// or it runs past 10 bytes.
size_t ReadVarint(std::string_view input, uint64_t* value);

// AppendVarint()
//
// Appends `value` as an unsigned varint.
void AppendVarint(uint64_t value, std::string* out);

// ProtoFieldReader walks the fields of one protobuf message in wire order.
// Thread-compatible; borrows the message, which must outlive it.
//
// Example:
//   ProtoFieldReader fields(message);
//   while (fields.Next()) {
//     if (fields.number() == 4 && fields.wire_type() == kProtoLengthDelimited) ...
//   }
//   if (!fields.ok()) ...  // malformed
class ProtoFieldReader {
 public:
  explicit ProtoFieldReader(std::string_view message) : rest_(message) {}

  // Next()
  //
  // Moves to the next field; false at the end of the message or when it
  // is malformed (then ok() is false): a truncated tag, varint or
  // length-delimited field, field number 0, or a group (wire types 3, 4)
  // or an unknown wire type (6, 7).
  bool Next();
  bool ok() const { return ok_; }

  uint32_t number() const { return number_; }
  uint32_t wire_type() const { return wire_type_; }
  // The value of a varint field (wire type 0), or of a fixed64 or fixed32
  // one (1, 5), little-endian.
  uint64_t value() const { return value_; }
  // The bytes of a length-delimited field (wire type 2).
  std::string_view bytes() const { return bytes_; }

 private:
  std::string_view rest_;
  bool ok_ = true;
  uint32_t number_ = 0;
  uint32_t wire_type_ = 0;
  uint64_t value_ = 0;
  std::string_view bytes_;
};

inline constexpr uint32_t kProtoVarint = 0;
inline constexpr uint32_t kProtoFixed64 = 1;
inline constexpr uint32_t kProtoLengthDelimited = 2;
inline constexpr uint32_t kProtoFixed32 = 5;

// NextDelimited()
//
// Splits the first length-prefixed message off `*input` into `*message`
// (which may be empty: a ping or a pong). kEnd when `*input` is empty,
// kMalformed when its length prefix is truncated or runs past the end.
enum class DelimitedResult { kMessage, kEnd, kMalformed };
DelimitedResult NextDelimited(std::string_view* input, std::string_view* message);

// ProtobufReply is what the bench reads from one Reply: views into the
// message it was parsed from.
struct ProtobufReply {
  // Reply.id (1): the command's id, 0 for a push.
  uint32_t id = 0;
  // Reply.error (2): code (1) and message (2).
  bool has_error = false;
  uint32_t error_code = 0;
  std::string_view error_message;
  // Reply.push (4): its channel (2) and, for a publication (4), the
  // publication's data (4) and offset (6).
  bool has_push = false;
  std::string_view push_channel;
  bool has_publication = false;
  std::string_view publication_data;
  uint64_t publication_offset = 0;
  // Reply.connect (5) and ConnectResult.pong (8): whether the server wants
  // its pings answered.
  bool has_connect = false;
  bool connect_pong = false;
  // Reply.subscribe (6).
  bool has_subscribe = false;
};

// ParseProtobufReply()
//
// Reads one Reply (without its length prefix) into `*reply`, skipping
// unknown fields. InvalidArgument when it, or one of the nested messages
// read, is malformed. An empty `message` is the server's ping and parses
// to a default ProtobufReply.
absl::Status ParseProtobufReply(std::string_view message, ProtobufReply* reply);

// AppendConnectCommand(), AppendSubscribeCommand()
//
// Append, length-prefixed, Command{id, connect: {token, name}} and
// Command{id, subscribe: {channel}}. Empty strings are left out, as
// proto3 does.
void AppendConnectCommand(uint32_t id, std::string_view token, std::string_view name,
                          std::string* out);
void AppendSubscribeCommand(uint32_t id, std::string_view channel, std::string* out);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_PROTOBUF_WIRE_H_
