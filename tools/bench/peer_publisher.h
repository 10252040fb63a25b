// Publishers for the peers of peer_server.h: an HTTP/1.1 keep-alive client
// of Nchan's publisher location and a NATS client that only publishes. Both
// block, with every wait bounded by the timeout given at connection.
#ifndef WIREHUB_TOOLS_BENCH_PEER_PUBLISHER_H_
#define WIREHUB_TOOLS_BENCH_PEER_PUBLISHER_H_

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub::bench {

// PeerPublisher publishes messages to a peer's channels over one connection.
// Thread-compatible: one thread at a time.
class PeerPublisher {
 public:
  virtual ~PeerPublisher() = default;

  // Publish()
  //
  // Publishes `data` to `channel` (letters, digits, '_', ':', '-' and, for
  // NATS, '.'). nchan: returns once the server's 2xx answer is read (201
  // when the channel had subscribers, 202 when not). nats: returns once the
  // PUB is written; Flush() confirms the server has it.
  //
  // Errors: InvalidArgument for a bad channel name; DeadlineExceeded when
  // the timeout passes; Unavailable when the connection fails, nchan answers
  // other than 2xx (the message holds the status line and body) or NATS
  // sent -ERR (which NATS follows by closing the connection: later calls
  // return the same error).
  virtual absl::Status Publish(std::string_view channel, std::string_view data) = 0;

  // Flush()
  //
  // nats: sends PING and waits for the PONG, so every earlier PUB has been
  // processed by the server. nchan: nothing to do (Publish() already waited).
  virtual absl::Status Flush() = 0;
};

// ConnectNchanPublisher()
//
// Connects to Nchan's HTTP listener on `host`:`port`. Each Publish() is a
// `POST /pub/<channel>` on one keep-alive connection, the answer read whole
// (Content-Length or chunked body). When the server has closed the idle
// keep-alive connection, Publish() reconnects and sends again, once. Every
// connect, write and read waits at most `timeout` per call.
absl::StatusOr<std::unique_ptr<PeerPublisher>> ConnectNchanPublisher(std::string_view host,
                                                                     int port,
                                                                     absl::Duration timeout);

// ConnectNatsPublisher()
//
// Connects to nats-server's client port on `host`:`port`: reads INFO, sends
// `CONNECT {"verbose":false,"pedantic":false}` and a PING, and waits for the
// PONG (an -ERR instead, e.g. for required authentication, is an
// Unavailable error). Each Publish() is `PUB <channel> <n>\r\n<data>\r\n`;
// the server's PINGs are answered whenever the connection is used. Every
// wait lasts at most `timeout` per call.
absl::StatusOr<std::unique_ptr<PeerPublisher>> ConnectNatsPublisher(std::string_view host, int port,
                                                                    absl::Duration timeout);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_PEER_PUBLISHER_H_
