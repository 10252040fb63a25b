// A scripted WebSocket server on 127.0.0.1 (or ::1) for the tests of
// WebSocketClient and `tail`, over plain TCP or TLS. It frames with the
// server role of common/websocket_frame.h (whose own test checks it against
// RFC 6455's example bytes), and sends deliberately broken frames as raw
// bytes.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_WS_TEST_SERVER_H_
#define WIREHUB_TOOLS_WIREHUBCTL_WS_TEST_SERVER_H_

#include <openssl/types.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/time/time.h"
#include "common/websocket_frame.h"

namespace wirehub::ctl::testing {

// WsTestConnection is the server side of one accepted connection, TLS after
// the handshake when `ssl` is not null (then `fd` is non-blocking). Every
// read waits at most `io_timeout` and reports failure instead of blocking on.
// Thread: the server's script thread only.
class WsTestConnection {
 public:
  struct Frame {
    bool fin = false;
    WebSocketOpcode opcode = WebSocketOpcode::kText;
    std::string payload;  // Unmasked.
  };

  // Takes `fd` and `ssl` (may be nullptr).
  WsTestConnection(int fd, SSL* ssl, absl::Duration io_timeout);
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

  // The SNI the client sent over TLS, or "".
  std::string tls_server_name() const;

 private:
  static constexpr ssize_t kTimedOut = -1;
  static constexpr ssize_t kFailed = -2;

  // Appends what arrives to `buffered_`; false on timeout or end of stream.
  bool ReadSome();
  // Reads what arrives by `deadline`: the byte count, 0 at the end of the
  // stream (a reset included), kTimedOut or kFailed.
  ssize_t ReadBytes(char* buffer, size_t size, absl::Time deadline);

  int fd_;
  SSL* ssl_;
  absl::Duration io_timeout_;
  std::string buffered_;  // Read but not yet consumed.
  WebSocketFrameDecoder decoder_{
      {.role = WebSocketRole::kServer, .max_frame_payload = size_t{64} << 20}};
};

// WsTestServer listens on 127.0.0.1 (or ::1), port 0, accepts one
// connection, performs the TLS handshake when it serves wss, and runs
// `script` on the connection on a thread of its own. A failed TLS handshake
// skips the script and is kept in tls_error().
// Thread: construct, port(), Join() and destroy on the test's thread; the
// accessors of what the thread saw after Join().
class WsTestServer {
 public:
  using Script = std::function<void(WsTestConnection&)>;

  struct Options {
    absl::Duration io_timeout = absl::Seconds(5);
    // Serve wss with this certificate (chain) and private key, PEM; plain
    // ws when empty.
    std::string tls_cert_pem;
    std::string tls_key_pem;
    // The address to listen on: "127.0.0.1" or "::1".
    std::string bind_address = "127.0.0.1";
  };

  explicit WsTestServer(Script script, absl::Duration io_timeout = absl::Seconds(5));
  WsTestServer(Script script, const Options& options);
  ~WsTestServer();  // Joins the script thread.
  WsTestServer(const WsTestServer&) = delete;
  WsTestServer& operator=(const WsTestServer&) = delete;

  // Whether listening worked (binding ::1 fails without IPv6).
  bool listening() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  // ws:// or wss:// with the bound address and port.
  std::string Url(std::string_view path = "/connection/websocket") const;
  // The same with `host` (a name, or an address as a URL writes it).
  std::string UrlWithHost(std::string_view host,
                          std::string_view path = "/connection/websocket") const;
  // Waits until the script has returned (an unaccepted connection is given
  // up after `io_timeout`).
  void Join();

  // Why the TLS handshake failed, or "" (after Join()).
  const std::string& tls_error() const { return tls_error_; }

 private:
  Options options_;
  SSL_CTX* ssl_ctx_ = nullptr;  // Owned; wss only.
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::string tls_error_;
  std::thread thread_;
};

}  // namespace wirehub::ctl::testing

#endif  // WIREHUB_TOOLS_WIREHUBCTL_WS_TEST_SERVER_H_
