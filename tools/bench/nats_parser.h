// An incremental parser of the NATS client protocol as the server sends it
// (INFO, MSG, PING, PONG, +OK, -ERR), for the load generator's NATS
// subscribers, which receive the stream inside WebSocket frames, and its NATS
// publisher, which reads it from a plain TCP connection. Chunks may split the
// stream anywhere, a MSG header or payload included, and one chunk may hold
// many messages.
//
// HMSG (messages with headers) is refused: the bench never sends
// `"headers":true` in CONNECT, so a server never sends it one.
#ifndef WIREHUB_TOOLS_BENCH_NATS_PARSER_H_
#define WIREHUB_TOOLS_BENCH_NATS_PARSER_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace wirehub::bench {

// NatsStreamParser turns a connection's byte stream from a NATS server into
// events. Complete events are parsed in place in the chunk given to Feed();
// only an event that a chunk leaves unfinished is copied, into one string
// the parser reuses, so steady state allocates nothing.
// Thread-compatible: one parser per connection, used by that connection's
// thread.
//
// Example:
//   NatsStreamParser parser;  // One per connection.
//   absl::Status status = parser.Feed(frame.payload, [&](const NatsStreamParser::Event& event) {
//     if (event.kind == NatsStreamParser::Event::kMsg) Handle(event.payload);
//     if (event.kind == NatsStreamParser::Event::kPing) SendPong();
//   });
//   if (!status.ok()) CloseConnection();
class NatsStreamParser {
 public:
  struct Options {
    // Longest control line accepted (INFO carries a JSON object, so this is
    // generous), CRLF excluded; a longer one is a ResourceExhausted error.
    size_t max_control_line = 64 * 1024;
    // Largest MSG payload accepted; larger is ResourceExhausted. nats-server's
    // own max_payload defaults to 1 MiB.
    size_t max_payload = 64 * 1024 * 1024;
  };

  // Event is one server operation. Its views point into the chunk given to
  // Feed() or into the parser, and are valid only during the callback.
  struct Event {
    enum Kind { kMsg, kPing, kPong, kInfo, kOk, kErr };
    Kind kind = kMsg;
    // kMsg: `MSG <subject> <sid> [reply-to] <#bytes>`.
    std::string_view subject;
    std::string_view sid;
    std::string_view reply_to;  // Empty when the message has none.
    // kMsg: the message's data. kInfo: the JSON object. kErr: the error
    // text as sent, quotes included (e.g. 'Unknown Protocol Operation').
    std::string_view payload;
  };

  NatsStreamParser() : NatsStreamParser(Options()) {}
  explicit NatsStreamParser(const Options& options) : options_(options) {}

  // Feed()
  //
  // Parses the next `bytes` of the stream and calls `on_event` for each
  // event they complete, in order. Keeps an unfinished event's bytes for the
  // next call.
  //
  // Errors (the stream cannot be resynchronized: close the connection, and
  // Reset() before reusing the parser): DataLoss for a malformed line, a MSG
  // header without 3 or 4 fields or with a bad size, a payload not followed
  // by CRLF, or an unknown operation; Unimplemented for HMSG;
  // ResourceExhausted for a control line or payload over the Options limits.
  // Events before the error in the same chunk have been delivered.
  absl::Status Feed(std::string_view bytes, absl::FunctionRef<void(const Event&)> on_event);

  // Reset()
  //
  // Forgets any unfinished event, for a new connection.
  void Reset() { tail_.clear(); }

  // buffered_bytes()
  //
  // Bytes of an unfinished event held for the next Feed().
  size_t buffered_bytes() const { return tail_.size(); }

 private:
  // Parses the event at the start of `input`. When it is complete, fills
  // `*event` and sets `*used` to its size. Otherwise sets `*used` to 0 and
  // `*event_size` to the whole event's size once its header line is
  // complete (a MSG waiting for its payload), else to 0.
  absl::Status ParseOne(std::string_view input, Event* event, size_t* used,
                        size_t* event_size) const;

  Options options_;
  // The bytes of the unfinished event, from its first byte; its capacity is
  // kept across events.
  std::string tail_;
};

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_NATS_PARSER_H_
