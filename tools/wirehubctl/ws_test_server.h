// A scripted WebSocket server on 127.0.0.1 for the tests of WebSocketClient
// and `tail`. It frames with the server role of common/websocket_frame.h
// (whose own test checks it against RFC 6455's example bytes), and sends
// deliberately broken frames as raw bytes.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_WS_TEST_SERVER_H_
#define WIREHUB_TOOLS_WIREHUBCTL_WS_TEST_SERVER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/time/time.h"
#include "common/websocket_frame.h"

namespace wirehub::ctl::testing {

// WsTestConnection is the server side of one accepted connection. Every read
// waits at most `io_timeout` and reports failure instead of blocking on.
// Thread: the server's script thread only.
class WsTestConnection {
 public:
  struct Frame {
    bool fin = false;
    WebSocketOpcode opcode = WebSocketOpcode::kText;
    std::string payload;  // Unmasked.
  };

  WsTestConnection(int fd, absl::Duration io_timeout);
  ~WsTestConnection();
  WsTestConnection(const WsTestConnection&) = delete;
  WsTestConnection& operator=(const WsTestConnection&) = delete;

  // Reads the client's HTTP request, up to and including the blank line.
  std::optional<std::string> ReadRequest();
  // Reads the request and answers 101 with the right Sec-WebSocket-Accept.
  // Returns the request.
  std::optional<std::string> Handshake();
  // The "101 Switching Protocols" answer for `key`.
  static std::string AcceptResponse(std::string_view key);
  // The value of header `name` (any case) in `request`, or "".
  static std::string Header(std::string_view request, std::string_view name);

  // An unmasked frame with the shortest length encoding.
  static std::string EncodeFrame(WebSocketOpcode opcode, std::string_view payload, bool fin = true);

  bool SendRaw(std::string_view bytes);
  bool SendFrame(WebSocketOpcode opcode, std::string_view payload, bool fin = true);
  bool SendText(std::string_view text) { return SendFrame(WebSocketOpcode::kText, text); }
  bool SendClose(uint16_t code, std::string_view reason);

  // Reads one frame and unmasks it. A frame that breaks RFC 6455 for a
  // client (one not masked, say) fails the test and returns nullopt.
  std::optional<Frame> ReadFrame();
  // Reads frames until a text frame; answers nothing. Returns its payload.
  std::optional<std::string> ReadText();
  // Waits until the client closes the TCP connection (true) or the timeout.
  bool WaitForEof();

 private:
  // Appends what arrives to `buffered_`; false on timeout or end of stream.
  bool ReadSome();

  int fd_;
  absl::Duration io_timeout_;
  std::string buffered_;  // Read but not yet consumed.
  WebSocketFrameDecoder decoder_{
      {.role = WebSocketRole::kServer, .max_frame_payload = size_t{64} << 20}};
};

// WsTestServer listens on 127.0.0.1, port 0, accepts one connection and runs
// `script` on it on a thread of its own.
// Thread: construct, port(), Join() and destroy on the test's thread.
class WsTestServer {
 public:
  using Script = std::function<void(WsTestConnection&)>;

  explicit WsTestServer(Script script, absl::Duration io_timeout = absl::Seconds(5));
  ~WsTestServer();  // Joins the script thread.
  WsTestServer(const WsTestServer&) = delete;
  WsTestServer& operator=(const WsTestServer&) = delete;

  uint16_t port() const { return port_; }
  std::string Url(std::string_view path = "/connection/websocket") const;
  // Waits until the script has returned (an unaccepted connection is given
  // up after `io_timeout`).
  void Join();

 private:
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace wirehub::ctl::testing

#endif  // WIREHUB_TOOLS_WIREHUBCTL_WS_TEST_SERVER_H_
