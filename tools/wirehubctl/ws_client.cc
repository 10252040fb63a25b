#include "tools/wirehubctl/ws_client.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/websocket_frame.h"
#include "common/websocket_key.h"

namespace wirehub::ctl {
namespace {

// The server's handshake answer, headers included, must fit in this.
constexpr size_t kMaxHandshakeBytes = 16 * 1024;
constexpr size_t kReadChunkBytes = 64 * 1024;
// How long a close sent because of a protocol error may take.
constexpr absl::Duration kFailCloseTimeout = absl::Milliseconds(200);

void RandomBytes(unsigned char* out, size_t size) {
  WH_CHECK(RAND_bytes(out, static_cast<int>(size)) == 1) << "RAND_bytes failed";
}

// A fresh masking key for every client frame (RFC 6455 section 5.3).
uint32_t RandomMaskKey() {
  unsigned char bytes[4];
  RandomBytes(bytes, sizeof(bytes));
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         bytes[3];
}

// The 2-byte payload of a close frame carrying `code` and no reason.
std::string CloseCodePayload(uint16_t code) {
  return {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebSocketClient>> WebSocketClient::Connect(const WebSocketUrl& url,
                                                                          absl::Time deadline) {
  return Connect(url, deadline, Options());
}

absl::StatusOr<std::unique_ptr<WebSocketClient>> WebSocketClient::Connect(const WebSocketUrl& url,
                                                                          absl::Time deadline,
                                                                          const Options& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<ClientStream> stream,
                   ClientStream::Connect(url, options.tls, deadline));
  std::unique_ptr<WebSocketClient> client(new WebSocketClient(std::move(stream), options));
  RETURN_IF_ERROR(client->Handshake(url, deadline));
  return client;
}

WebSocketClient::WebSocketClient(std::unique_ptr<ClientStream> stream, const Options& options)
    : stream_(std::move(stream)),
      options_(options),
      decoder_({.role = WebSocketRole::kClient, .max_frame_payload = options.max_message_bytes}) {}

WebSocketClient::~WebSocketClient() { CloseSocket(); }

void WebSocketClient::CloseSocket() {
  stream_->Close();
  finished_ = true;
}

absl::Status WebSocketClient::Handshake(const WebSocketUrl& url, absl::Time deadline) {
  unsigned char nonce[16];
  RandomBytes(nonce, sizeof(nonce));
  const std::string key =
      Base64Encode(std::string_view(reinterpret_cast<const char*>(nonce), sizeof(nonce)));
  const std::string request =
      absl::StrCat("GET ", url.resource, " HTTP/1.1\r\n", "Host: ", url.host_header, "\r\n",
                   "Upgrade: websocket\r\n", "Connection: Upgrade\r\n", "Sec-WebSocket-Key: ", key,
                   "\r\n", "Sec-WebSocket-Version: 13\r\n", "User-Agent: wirehubctl\r\n", "\r\n");
  RETURN_IF_ERROR(WriteAll(request, deadline));

  size_t header_end = std::string::npos;
  while ((header_end = in_.find("\r\n\r\n")) == std::string::npos) {
    if (in_.size() > kMaxHandshakeBytes) {
      return absl::DataLossError("WebSocket handshake: the server's answer is too long");
    }
    absl::Status read = ReadMore(deadline);
    if (!read.ok()) {
      return absl::Status(read.code(), absl::StrCat("WebSocket handshake: ", read.message()));
    }
  }
  if (header_end > kMaxHandshakeBytes) {
    return absl::DataLossError("WebSocket handshake: the server's answer is too long");
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(in_.data(), header_end), "\r\n");
  absl::string_view status_line = lines.front();
  if (!absl::StartsWith(status_line, "HTTP/1.1 ") || status_line.size() < 12) {
    return absl::DataLossError(
        absl::StrCat("WebSocket handshake: not an HTTP/1.1 answer: '", status_line, "'"));
  }
  if (status_line.substr(9, 3) != "101") {
    return absl::UnavailableError(
        absl::StrCat("WebSocket handshake refused: ", status_line.substr(9)));
  }
  bool upgrade = false;
  bool connection = false;
  bool accept = false;
  const std::string expected_accept = WebSocketAcceptKey(key);
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) {
      return absl::DataLossError(
          absl::StrCat("WebSocket handshake: malformed header line '", lines[i], "'"));
    }
    absl::string_view name = absl::StripAsciiWhitespace(lines[i].substr(0, colon));
    absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "upgrade")) {
      upgrade = absl::EqualsIgnoreCase(value, "websocket");
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(token), "upgrade")) connection = true;
      }
    } else if (absl::EqualsIgnoreCase(name, "sec-websocket-accept")) {
      if (value != expected_accept) {
        return absl::DataLossError(absl::StrCat("WebSocket handshake: Sec-WebSocket-Accept is '",
                                                value, "', expected '", expected_accept, "'"));
      }
      accept = true;
    } else if (absl::EqualsIgnoreCase(name, "sec-websocket-extensions") ||
               absl::EqualsIgnoreCase(name, "sec-websocket-protocol")) {
      // We offered none; a server that picks one anyway breaks the framing.
      if (!value.empty()) {
        return absl::DataLossError(absl::StrCat("WebSocket handshake: the server chose ", name,
                                                " '", value, "' that was not offered"));
      }
    }
  }
  if (!upgrade) return absl::DataLossError("WebSocket handshake: no 'Upgrade: websocket'");
  if (!connection) return absl::DataLossError("WebSocket handshake: no 'Connection: Upgrade'");
  if (!accept) return absl::DataLossError("WebSocket handshake: no Sec-WebSocket-Accept");
  // Frames the server sent right behind its answer stay in `in_`.
  in_offset_ = header_end + 4;
  return absl::OkStatus();
}

absl::Status WebSocketClient::WriteAll(std::string_view bytes, absl::Time deadline) {
  absl::Status written = stream_->WriteAll(bytes, deadline);
  // On failure the stream has closed itself: part of a frame may be out.
  if (!written.ok()) finished_ = true;
  return written;
}

absl::Status WebSocketClient::ReadMore(absl::Time deadline) {
  if (stream_->closed()) return absl::FailedPreconditionError("the WebSocket connection is closed");
  if (in_offset_ > 0 && in_offset_ * 2 >= in_.size()) {
    in_.erase(0, in_offset_);
    in_offset_ = 0;
  }
  char chunk[kReadChunkBytes];
  absl::StatusOr<size_t> got = stream_->Read(chunk, sizeof(chunk), deadline);
  if (!got.ok()) {
    if (stream_->closed()) finished_ = true;
    return got.status();
  }
  if (*got == 0) {
    CloseSocket();
    return absl::UnavailableError("the server closed the connection without a close frame");
  }
  in_.append(chunk, *got);
  return absl::OkStatus();
}

absl::StatusOr<WebSocketFrame> WebSocketClient::ReadFrame(absl::Time deadline) {
  while (true) {
    WebSocketFrame frame;
    ASSIGN_OR_RETURN(size_t used,
                     decoder_.Decode(std::string_view(in_).substr(in_offset_), &frame));
    if (used > 0) {
      in_offset_ += used;
      return frame;
    }
    RETURN_IF_ERROR(ReadMore(deadline));
  }
}

absl::Status WebSocketClient::FailConnection(uint16_t code, absl::Status error) {
  if (!finished_ && !close_sent_) {
    (void)SendFrame(WebSocketOpcode::kClose, CloseCodePayload(code),
                    absl::Now() + kFailCloseTimeout);
    close_sent_ = true;
  }
  CloseSocket();
  return error;
}

absl::StatusOr<WebSocketMessage> WebSocketClient::Receive(absl::Time deadline) {
  while (true) {
    if (finished_) return absl::FailedPreconditionError("the WebSocket connection is closed");
    absl::StatusOr<WebSocketFrame> frame = ReadFrame(deadline);
    if (!frame.ok()) {
      if (absl::IsDataLoss(frame.status())) {
        return FailConnection(kWebSocketCloseProtocolError, frame.status());
      }
      if (absl::IsResourceExhausted(frame.status())) {
        return FailConnection(kWebSocketCloseTooBig, frame.status());
      }
      return frame.status();
    }
    switch (frame->opcode) {
      case WebSocketOpcode::kPing:
        RETURN_IF_ERROR(SendFrame(WebSocketOpcode::kPong, frame->payload, deadline));
        continue;
      case WebSocketOpcode::kPong:
        continue;
      case WebSocketOpcode::kClose: {
        absl::StatusOr<WebSocketClose> close = ParseWebSocketClose(frame->payload);
        if (!close.ok()) return FailConnection(kWebSocketCloseProtocolError, close.status());
        WebSocketMessage message;
        message.type = WebSocketMessage::Type::kClose;
        message.close_code = close->code;
        message.payload = std::string(close->reason);
        if (!close_sent_) {
          // Echo the code, as RFC 6455 section 5.5.1 asks; briefly, since the
          // peer is going away anyway.
          const std::string echo =
              frame->payload.empty() ? std::string() : CloseCodePayload(close->code);
          (void)SendFrame(WebSocketOpcode::kClose, echo,
                          std::min(deadline, absl::Now() + absl::Seconds(1)));
          close_sent_ = true;
        }
        CloseSocket();
        return message;
      }
      default: {
        // A data frame: the decoder has checked that continuations follow a
        // message's first frame and nothing else interrupts it but control
        // frames, and that no frame is over the limit.
        if (frame->payload.size() > options_.max_message_bytes - message_.size()) {
          return FailConnection(kWebSocketCloseTooBig, absl::ResourceExhaustedError(absl::StrCat(
                                                           "WebSocket message over ",
                                                           options_.max_message_bytes, " bytes")));
        }
        WebSocketMessage message;
        message.type = frame->message_opcode == WebSocketOpcode::kText
                           ? WebSocketMessage::Type::kText
                           : WebSocketMessage::Type::kBinary;
        if (frame->opcode != WebSocketOpcode::kContinuation && frame->fin) {
          message.payload = std::string(frame->payload);
          return message;
        }
        message_.append(frame->payload);
        if (!frame->fin) continue;
        message.payload = std::move(message_);
        message_.clear();
        return message;
      }
    }
  }
}

absl::Status WebSocketClient::SendText(std::string_view text, absl::Time deadline) {
  if (finished_ || close_sent_) {
    return absl::FailedPreconditionError("the WebSocket connection is closed");
  }
  return SendFrame(WebSocketOpcode::kText, text, deadline);
}

absl::Status WebSocketClient::SendFrame(WebSocketOpcode opcode, std::string_view payload,
                                        absl::Time deadline) {
  if (finished_) return absl::FailedPreconditionError("the WebSocket connection is closed");
  // FIN on every frame: we never fragment.
  std::string frame;
  RETURN_IF_ERROR(AppendWebSocketFrame(opcode, true, payload, RandomMaskKey(), &frame));
  return WriteAll(frame, deadline);
}

absl::Status WebSocketClient::Close(uint16_t code, std::string_view reason, absl::Time deadline) {
  if (finished_) return absl::OkStatus();
  absl::Status status;
  if (!close_sent_) {
    std::string payload = CloseCodePayload(code);
    payload.append(reason.substr(0, kWebSocketMaxCloseReason));
    status = SendFrame(WebSocketOpcode::kClose, payload, deadline);
    close_sent_ = true;
  }
  // Wait for the peer's close so it sees ours; data still arriving is dropped.
  while (status.ok() && !finished_) {
    absl::StatusOr<WebSocketFrame> frame = ReadFrame(deadline);
    if (!frame.ok() || frame->opcode == WebSocketOpcode::kClose) break;
  }
  CloseSocket();
  return status;
}

}  // namespace wirehub::ctl
