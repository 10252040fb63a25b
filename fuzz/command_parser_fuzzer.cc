// Fuzzes the client command parser (edge/client_protocol.h CommandParser),
// the first code to read every text frame a client sends.
//
// Input: one WebSocket text message. One parser is reused across inputs, as
// the edge loop reuses its own, so state left behind by one message shows up
// in the next. Checks that a message that parses yields at least one command
// and never more than it has lines.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "edge/client_protocol.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static wirehub::edge::CommandParser* const parser = new wirehub::edge::CommandParser();
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  std::vector<wirehub::edge::Command> commands;
  const absl::Status status = parser->Parse(message, &commands);
  if (status.ok()) {
    size_t lines = 1;
    for (char c : message) lines += c == '\n';
    Check(!commands.empty());
    Check(commands.size() <= lines);
  } else {
    Check(status.code() == absl::StatusCode::kInvalidArgument);
  }
  return 0;
}
