// Reading what wirehub-edge sends a client: the JSON form of the client
// protocol's Reply (see docs/client-protocol.md).
#ifndef WIREHUB_TOOLS_WIREHUBCTL_SERVER_MESSAGE_PARSER_H_
#define WIREHUB_TOOLS_WIREHUBCTL_SERVER_MESSAGE_PARSER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wirehub::ctl {

// A publication as a client receives it.
struct ReceivedPublication {
  // The `data` member exactly as it appears in the message (raw JSON).
  std::string data;
  // `offset`, when the channel has a stream.
  std::optional<uint64_t> offset;
};

// ServerMessage is the part of one Reply that `wirehubctl tail` acts on.
struct ServerMessage {
  enum class Kind {
    kPing,   // `{}`: the server's ping, to be answered with `{}`.
    kReply,  // `id` > 0: the answer to a command.
    kPush,   // A `push`.
    kOther,  // Anything else (ignored).
  };
  Kind kind = Kind::kOther;

  // kReply: the command's id, and its error when it failed.
  uint64_t id = 0;
  struct Error {
    uint32_t code = 0;
    std::string message;
  };
  std::optional<Error> error;
  // kReply to subscribe: the stream position and what recovery did.
  std::string epoch;
  uint64_t offset = 0;
  bool recovered = false;
  bool was_recovering = false;
  // kReply to subscribe: recovered publications, oldest first.
  // kPush with `pub`: the one publication.
  std::vector<ReceivedPublication> publications;

  // kPush: the channel (empty for a disconnect push) and which push it is.
  enum class PushType { kNone, kPublication, kUnsubscribe, kDisconnect, kOther };
  PushType push_type = PushType::kNone;
  std::string channel;
  // kUnsubscribe / kDisconnect: code and reason.
  uint32_t code = 0;
  std::string reason;
};

// SplitJsonMessages()
//
// Splits a text frame into its JSON objects. The edge joins them with "\n",
// but a `data` document may itself hold line breaks, so the split follows
// the JSON structure instead of the line breaks. Returns views into `frame`;
// DataLoss when something other than a complete object is found.
absl::StatusOr<std::vector<std::string_view>> SplitJsonMessages(std::string_view frame);

// JsonValueEnd()
//
// The index just past the JSON value starting at `begin` in `text` (an
// object, array, string or scalar), or std::string_view::npos when it is not
// complete. Looks only at structure (brackets and strings); the value is
// expected to have been validated.
size_t JsonValueEnd(std::string_view text, size_t begin);

// ServerMessageParser parses server messages with simdjson's On Demand API.
// Thread-compatible: keep one per thread; it reuses its buffers.
class ServerMessageParser {
 public:
  ServerMessageParser();
  ~ServerMessageParser();
  ServerMessageParser(const ServerMessageParser&) = delete;
  ServerMessageParser& operator=(const ServerMessageParser&) = delete;

  // Parse()
  //
  // Parses one JSON object (one element of SplitJsonMessages()). DataLoss
  // when it is not JSON, not an object, or a member the result needs has
  // the wrong type.
  absl::StatusOr<ServerMessage> Parse(std::string_view json);

 private:
  // simdjson's On Demand parser (simdjson::ondemand is a namespace alias,
  // which cannot be forward-declared).
  struct Parser;
  std::unique_ptr<Parser> parser_;
};

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_SERVER_MESSAGE_PARSER_H_
