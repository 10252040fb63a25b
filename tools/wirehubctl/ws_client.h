// A small blocking WebSocket client (RFC 6455) for `wirehubctl tail`.
//
// ws:// and wss:// (TLS 1.2+, the server's certificate verified), host names
// resolved; no extensions (so no permessage-deflate), no subprotocols.
// Enough for the JSON form of the client protocol, which is what
// wirehub-edge speaks without a subprotocol.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_WS_CLIENT_H_
#define WIREHUB_TOOLS_WIREHUBCTL_WS_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/websocket_frame.h"
#include "tools/wirehubctl/client_stream.h"
#include "tools/wirehubctl/ws_url.h"

namespace wirehub::ctl {

// WebSocketMessage is one whole message (fragments joined) or the peer's
// close.
struct WebSocketMessage {
  enum class Type { kText, kBinary, kClose };
  Type type = Type::kText;
  // Text or binary payload; for kClose the close reason.
  std::string payload;
  // For kClose: the peer's close code, kWebSocketCloseNoStatus when it sent
  // none.
  uint16_t close_code = 0;
};

// WebSocketClient is one client connection: it performs the opening
// handshake, sends masked text frames and returns whole messages, answering
// pings with pongs and the peer's close with a close on its own.
// Thread-compatible: one thread at a time, and every call blocks until it is
// done or its deadline passes (absl::InfiniteFuture() waits forever).
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<WebSocketClient> ws,
//                    WebSocketClient::Connect(url, absl::Now() + absl::Seconds(5)));
//   RETURN_IF_ERROR(ws->SendText("{}", deadline));
//   ASSIGN_OR_RETURN(WebSocketMessage message, ws->Receive(deadline));
class WebSocketClient {
 public:
  struct Options {
    // Largest message Receive() assembles; a bigger one is refused with
    // close 1009 and a ResourceExhausted error.
    size_t max_message_bytes = size_t{64} << 20;
    // Whom a wss:// connection trusts; unused for ws://.
    TlsClientOptions tls;
  };

  // Connect()
  //
  // Opens a connection to `url` (ClientStream::Connect: resolution, TCP to
  // each address in turn, TLS for wss://) and performs the handshake: a GET
  // with a random Sec-WebSocket-Key; the answer must be 101 with `Upgrade:
  // websocket`, `Connection: Upgrade` and the matching Sec-WebSocket-Accept.
  //
  // Errors: DeadlineExceeded when `deadline` passes, Unavailable when the
  // host cannot be resolved, the connection or the TLS handshake fails or
  // the server answers anything but 101, InvalidArgument for an unreadable
  // CA file, DataLoss for a malformed or mismatching handshake answer.
  static absl::StatusOr<std::unique_ptr<WebSocketClient>> Connect(const WebSocketUrl& url,
                                                                  absl::Time deadline);
  static absl::StatusOr<std::unique_ptr<WebSocketClient>> Connect(const WebSocketUrl& url,
                                                                  absl::Time deadline,
                                                                  const Options& options);

  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // SendText()
  //
  // Sends `text` as one masked text frame.
  absl::Status SendText(std::string_view text, absl::Time deadline);

  // Receive()
  //
  // Returns the next text or binary message, or the peer's close (after
  // answering it; the connection is then finished). Pings that arrive
  // meanwhile are answered with pongs, pongs are ignored.
  //
  // Errors: DeadlineExceeded when `deadline` passes (the connection stays
  // usable), Unavailable when the connection ends without a close frame,
  // ResourceExhausted for a message over Options::max_message_bytes, DataLoss
  // for a frame that breaks RFC 6455 (masked, reserved bits or opcodes,
  // fragmented control frame, continuation out of place, ...), after which
  // the client has closed the connection with 1002 (1009 when too big).
  // FailedPrecondition once the connection is finished.
  absl::StatusOr<WebSocketMessage> Receive(absl::Time deadline);

  // Close()
  //
  // Sends a close frame with `code` and `reason` (at most 123 bytes) and
  // waits until `deadline` for the peer's close, then closes the socket.
  // Does nothing when the connection is already finished.
  absl::Status Close(uint16_t code, std::string_view reason, absl::Time deadline);

 private:
  WebSocketClient(std::unique_ptr<ClientStream> stream, const Options& options);

  absl::Status Handshake(const WebSocketUrl& url, absl::Time deadline);
  absl::Status SendFrame(WebSocketOpcode opcode, std::string_view payload, absl::Time deadline);
  absl::Status WriteAll(std::string_view bytes, absl::Time deadline);
  // Appends at least one byte to `in_`, or fails.
  absl::Status ReadMore(absl::Time deadline);
  // Takes the next whole frame from `in_`, reading as needed. The frame's
  // payload points into `in_` and is valid until the next ReadMore().
  absl::StatusOr<WebSocketFrame> ReadFrame(absl::Time deadline);
  // Closes with `code` (best effort, briefly) and returns `error`.
  absl::Status FailConnection(uint16_t code, absl::Status error);
  void CloseSocket();

  std::unique_ptr<ClientStream> stream_;
  Options options_;
  // Received bytes not yet consumed, from `in_offset_` on.
  std::string in_;
  size_t in_offset_ = 0;
  // Checks the server's frames; the limit on one frame is the limit on a
  // message.
  WebSocketFrameDecoder decoder_;
  // A fragmented message being assembled.
  std::string message_;
  bool close_sent_ = false;
  bool finished_ = false;
};

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_WS_CLIENT_H_
