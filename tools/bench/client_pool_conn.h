// Internal to ClientPool: the state of one connection, shared by
// client_pool.cc (ws and the protocols) and client_pool_tls.cc (wss).
#ifndef WIREHUB_TOOLS_BENCH_CLIENT_POOL_CONN_H_
#define WIREHUB_TOOLS_BENCH_CLIENT_POOL_CONN_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/websocket_frame.h"
#include "tools/bench/client_pool.h"
#include "tools/bench/nats_parser.h"
#include "tools/bench/reply_timings.h"
#include "tools/bench/tls_client_context.h"

namespace wirehub::bench {
namespace client_pool_internal {

inline constexpr size_t kReadBufferBytes = 256 * 1024;
// A partial frame kept between reads never exceeds one frame; the server's
// frames are bounded by its write batch (wirehub: 256 KiB).
inline constexpr size_t kMaxFramePayload = 4 << 20;

enum class State {
  kIdle,            // Not started, or closed.
  kConnecting,      // TCP connect in progress.
  kTlsHandshaking,  // TLS handshake in progress (wss).
  kHandshaking,     // Upgrade request sent, waiting for 101.
  kOpen,            // WebSocket open, protocol set-up in progress.
  kSubscribed,      // Receiving publications.
};

}  // namespace client_pool_internal

// Thread: the pool's loop only.
struct ClientPool::Conn {
  using State = client_pool_internal::State;

  size_t index = 0;
  int fd = -1;
  State state = State::kIdle;
  bool slow = false;
  bool paused = false;      // Slow client not reading.
  bool want_write = false;  // EPOLLOUT registered.
  bool counted_connected = false;
  // kProtobuf: the connect result asked for pongs (ConnectResult.pong).
  bool pong = false;
  // Set when it connects again after a close (reconnect_port).
  bool reconnecting = false;
  int port = 0;  // 0: options_.server_port.
  std::string ws_key;
  std::string out;      // Bytes not yet accepted by the socket.
  std::string in;       // Unparsed input carried to the next read.
  std::string message;  // A fragmented message being assembled.
  WebSocketFrameDecoder decoder{{.role = WebSocketRole::kClient,
                                 .max_frame_payload = client_pool_internal::kMaxFramePayload}};
  std::unique_ptr<NatsStreamParser> nats;
  SslPtr ssl;  // Set for wss once TCP is connected.
  // The last token received (options_.reply_tokens).
  ReplyCursor reply;
};

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_CLIENT_POOL_CONN_H_
