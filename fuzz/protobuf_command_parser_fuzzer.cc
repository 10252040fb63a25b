// Fuzzes the protobuf client command parser (edge/protobuf_codec.h
// ProtobufCommandParser), the first code to read every binary frame a
// `centrifuge-protobuf` client sends.
//
// Input: one binary WebSocket message (varint-delimited Commands). One parser
// is reused across inputs, as the edge loop reuses its own, so state left
// behind by one message shows up in the next. Checks that a message that
// parses yields at least one command and never more than it has bytes (each
// takes at least its length prefix), that a refused one leaves no command
// behind, and that every command is one the edge can act on.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "edge/client_protocol.h"
#include "edge/protobuf_codec.h"

namespace {

using wirehub::edge::Command;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckCommand(const Command& command) {
  switch (command.kind) {
    case Command::Kind::kPong:
      Check(command.id == 0 && command.method.empty());
      break;
    case Command::Kind::kUnknown:
      Check(command.id != 0 && command.method.empty());
      break;
    case Command::Kind::kPublish:
      Check(!command.data_json.empty());
      break;
    case Command::Kind::kRefresh:
    case Command::Kind::kSubRefresh:
      Check(command.has_token && !command.token.empty());
      break;
    case Command::Kind::kConnect:
      Check(command.subs.size() <= wirehub::edge::kMaxConnectSubs);
      break;
    case Command::Kind::kInvalidParams:
      Check(!command.problem.empty() && !command.method.empty());
      break;
    default:
      Check(!command.method.empty());
      break;
  }
  Check(command.has_token == !command.token.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static wirehub::edge::ProtobufCommandParser* const parser =
      new wirehub::edge::ProtobufCommandParser();
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  std::vector<Command> commands;
  const absl::Status status = parser->Parse(message, &commands);
  if (status.ok()) {
    Check(!commands.empty());
    Check(commands.size() <= size);
    for (const Command& command : commands) CheckCommand(command);
  } else {
    Check(status.code() == absl::StatusCode::kInvalidArgument);
    Check(commands.empty());
  }
  return 0;
}
