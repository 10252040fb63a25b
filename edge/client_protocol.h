// The JSON form of the Centrifugo client protocol v2: parsing client
// commands and encoding server replies and pushes.
#ifndef WIREHUB_EDGE_CLIENT_PROTOCOL_H_
#define WIREHUB_EDGE_CLIENT_PROTOCOL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/json_writer.h"

namespace simdjson::dom {
class parser;
}

namespace wirehub::edge {

// Reply error codes of the protocol.
inline constexpr int kErrorInternal = 100;
inline constexpr int kErrorUnauthorized = 101;
inline constexpr int kErrorUnknownChannel = 102;
inline constexpr int kErrorPermissionDenied = 103;
inline constexpr int kErrorMethodNotFound = 104;
inline constexpr int kErrorAlreadySubscribed = 105;
inline constexpr int kErrorLimitExceeded = 106;
inline constexpr int kErrorBadRequest = 107;
inline constexpr int kErrorNotAvailable = 108;
inline constexpr int kErrorTokenExpired = 109;
inline constexpr int kErrorUnrecoverablePosition = 112;

// Disconnect (WebSocket close) codes of the protocol.
// Unsubscribe push code that makes the SDK resubscribe (with recovery).
inline constexpr int kUnsubscribeInsufficientState = 2500;

inline constexpr int kCloseShutdown = 3001;
inline constexpr int kCloseInternal = 3004;
inline constexpr int kCloseSlow = 3008;
inline constexpr int kCloseNoPong = 3012;
inline constexpr int kCloseInvalidToken = 3500;
inline constexpr int kCloseBadRequest = 3501;
inline constexpr int kCloseStale = 3502;

// One client command.
struct Command {
  enum class Kind {
    kPong,  // `{}`: the answer to a server ping.
    kConnect,
    kSubscribe,
    kUnsubscribe,
    kPing,
    kHistory,
    kNotAvailable,   // A protocol method this server does not offer (yet).
    kUnknown,        // An id with no method this protocol defines.
    kInvalidParams,  // A known method whose request has wrong types.
  };
  Kind kind = Kind::kPong;
  uint32_t id = 0;
  // The method's field name, for error messages.
  std::string method;
  // connect.token
  std::string token;
  bool has_token = false;
  // subscribe.channel / unsubscribe.channel
  std::string channel;
  // subscribe.recover / epoch / offset: the client's last known position.
  // history.since (has_since) / limit / reverse use epoch and offset too.
  bool recover = false;
  std::string epoch;
  uint64_t offset = 0;
  bool has_since = false;
  int64_t limit = 0;
  bool reverse = false;
  // Why kInvalidParams.
  std::string problem;
};

// CommandParser turns one received text message into commands.
// Thread-compatible: one per event loop; it reuses its parse buffers.
class CommandParser {
 public:
  CommandParser();
  ~CommandParser();
  CommandParser(const CommandParser&) = delete;
  CommandParser& operator=(const CommandParser&) = delete;

  // Parse()
  //
  // Splits `message` on '\n' (empty lines are skipped) and parses each line
  // as a Command. Returns InvalidArgument when a line is not a JSON object,
  // `id` is not an unsigned 32-bit integer, a line names several methods,
  // or the message holds no command at all; the connection must then be
  // closed with 3501. Problems inside one known method's request are
  // reported per command as kInvalidParams instead.
  absl::Status Parse(std::string_view message, std::vector<Command>* commands);

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
};

// Encoders. Each returns one protocol message without a trailing newline.
// `data_json` arguments are raw JSON embedded as-is.
std::string EncodeConnectReply(uint32_t id, std::string_view client_id, std::string_view version,
                               int ping_seconds, bool pong);
std::string EncodeEmptyResult(uint32_t id, std::string_view method);

// A publication inside a subscribe result.
struct RecoveredPublication {
  uint64_t offset = 0;
  std::string_view data_json;
};

// Fields of a subscribe result for a channel with a stream position.
struct SubscribeResult {
  bool recoverable = false;
  std::string_view epoch;
  uint64_t offset = 0;
  bool was_recovering = false;
  bool recovered = false;
  std::vector<RecoveredPublication> publications;
};
std::string EncodeSubscribeReply(uint32_t id, const SubscribeResult& result);
// {"id":N,"history":{"publications":[...],"epoch":"..","offset":N}}
std::string EncodeHistoryReply(uint32_t id, const std::vector<RecoveredPublication>& publications,
                               std::string_view epoch, uint64_t offset);
std::string EncodeErrorReply(uint32_t id, int code, std::string_view message, bool temporary);
std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset);
std::string EncodeUnsubscribePush(std::string_view channel, int code, std::string_view reason);

// The JSON string escaping the encoders use (common/json_writer.h).
using ::wirehub::AppendJsonString;

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_PROTOCOL_H_
