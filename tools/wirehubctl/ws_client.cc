#include "tools/wirehubctl/ws_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
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
#include "common/websocket_key.h"

namespace wirehub::ctl {
namespace {

// The server's handshake answer, headers included, must fit in this.
constexpr size_t kMaxHandshakeBytes = 16 * 1024;
constexpr size_t kReadChunkBytes = 64 * 1024;
constexpr size_t kMaxControlPayload = 125;
constexpr size_t kMaxCloseReasonBytes = kMaxControlPayload - 2;
// How long a close sent because of a protocol error may take.
constexpr absl::Duration kFailCloseTimeout = absl::Milliseconds(200);

void RandomBytes(unsigned char* out, size_t size) {
  WH_CHECK(RAND_bytes(out, static_cast<int>(size)) == 1) << "RAND_bytes failed";
}

absl::Status ErrnoError(std::string_view what, int error) {
  return absl::UnavailableError(absl::StrCat(AsAbsl(what), ": ", std::strerror(error)));
}

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status WaitFd(int fd, short events, absl::Time deadline) {
  while (true) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError("deadline exceeded");
      }
      // Rounded up, so poll() does not return just before the deadline.
      timeout_ms = static_cast<int>(
          std::min<int64_t>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)), INT_MAX));
    }
    pollfd entry{fd, events, 0};
    int ready = poll(&entry, 1, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("poll", errno);
    }
    if (ready > 0) return absl::OkStatus();
  }
}

absl::Status ProtocolError(std::string_view what) {
  return absl::DataLossError(absl::StrCat("WebSocket protocol error: ", AsAbsl(what)));
}

bool IsControl(uint8_t opcode) { return (opcode & 0x8) != 0; }

}  // namespace

absl::StatusOr<std::unique_ptr<WebSocketClient>> WebSocketClient::Connect(const WebSocketUrl& url,
                                                                          absl::Time deadline) {
  return Connect(url, deadline, Options());
}

absl::StatusOr<std::unique_ptr<WebSocketClient>> WebSocketClient::Connect(const WebSocketUrl& url,
                                                                          absl::Time deadline,
                                                                          const Options& options) {
  sockaddr_storage address{};
  socklen_t address_size = 0;
  if (url.family == AF_INET) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(url.port);
    if (inet_pton(AF_INET, url.ip.c_str(), &in4->sin_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", url.ip));
    }
    address_size = sizeof(sockaddr_in);
  } else if (url.family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(url.port);
    if (inet_pton(AF_INET6, url.ip.c_str(), &in6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("not an IPv6 address: ", url.ip));
    }
    address_size = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError("WebSocket URL without an address");
  }

  int fd = socket(url.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket", errno);
  // Owned by the client from here on, so every early return closes it.
  std::unique_ptr<WebSocketClient> client(new WebSocketClient(fd, options));
  const std::string peer = url.host_header;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), address_size) != 0) {
    if (errno != EINPROGRESS) return ErrnoError(absl::StrCat("connect to ", peer), errno);
    absl::Status ready = WaitFd(fd, POLLOUT, deadline);
    if (!ready.ok()) {
      return absl::Status(ready.code(), absl::StrCat("connect to ", peer, ": ", ready.message()));
    }
    int error = 0;
    socklen_t error_size = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_size) != 0) {
      return ErrnoError("getsockopt", errno);
    }
    if (error != 0) return ErrnoError(absl::StrCat("connect to ", peer), error);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  RETURN_IF_ERROR(client->Handshake(url, deadline));
  return client;
}

WebSocketClient::WebSocketClient(int fd, const Options& options) : fd_(fd), options_(options) {}

WebSocketClient::~WebSocketClient() { CloseSocket(); }

void WebSocketClient::CloseSocket() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
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
  if (fd_ < 0) return absl::FailedPreconditionError("the WebSocket connection is closed");
  size_t sent = 0;
  absl::Status status;
  while (sent < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      status = WaitFd(fd_, POLLOUT, deadline);
      if (status.ok()) continue;
    } else {
      status = ErrnoError("send", errno);
    }
    break;
  }
  if (sent == bytes.size()) return absl::OkStatus();
  // Part of a frame may be out: nothing more can be sent on this stream.
  CloseSocket();
  return status;
}

absl::Status WebSocketClient::ReadMore(absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("the WebSocket connection is closed");
  if (in_offset_ > 0 && in_offset_ * 2 >= in_.size()) {
    in_.erase(0, in_offset_);
    in_offset_ = 0;
  }
  char chunk[kReadChunkBytes];
  while (true) {
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      in_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n == 0) {
      CloseSocket();
      return absl::UnavailableError("the server closed the connection without a close frame");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      int error = errno;
      CloseSocket();
      return ErrnoError("recv", error);
    }
    RETURN_IF_ERROR(WaitFd(fd_, POLLIN, deadline));
  }
}

absl::StatusOr<WebSocketClient::Frame> WebSocketClient::ReadFrame(absl::Time deadline) {
  while (true) {
    const size_t available = in_.size() - in_offset_;
    if (available >= 2) {
      const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + in_offset_);
      const bool fin = (p[0] & 0x80) != 0;
      const uint8_t opcode = p[0] & 0x0f;
      const bool masked = (p[1] & 0x80) != 0;
      const uint8_t length7 = p[1] & 0x7f;
      if ((p[0] & 0x70) != 0) return ProtocolError("reserved bits set (no extension was agreed)");
      if (opcode != kWsContinuation && opcode != kWsText && opcode != kWsBinary &&
          opcode != kWsClose && opcode != kWsPing && opcode != kWsPong) {
        return ProtocolError(absl::StrCat("unknown opcode ", opcode));
      }
      if (masked) return ProtocolError("masked frame from the server");
      if (IsControl(opcode) && (!fin || length7 > kMaxControlPayload)) {
        return ProtocolError("fragmented or oversized control frame");
      }
      size_t header = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0);
      if (available >= header) {
        uint64_t length = length7;
        if (length7 == 126) {
          length = (uint64_t{p[2]} << 8) | p[3];
        } else if (length7 == 127) {
          length = 0;
          for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
          if ((length >> 63) != 0) return ProtocolError("64-bit length with the top bit set");
        }
        if (!IsControl(opcode)) {
          const uint64_t assembled = opcode == kWsContinuation ? message_.size() : 0;
          if (length > options_.max_message_bytes - assembled) {
            return absl::ResourceExhaustedError(
                absl::StrCat("WebSocket message over ", options_.max_message_bytes, " bytes"));
          }
        }
        if (available - header >= length) {
          Frame frame;
          frame.fin = fin;
          frame.opcode = opcode;
          frame.payload.assign(in_.data() + in_offset_ + header, static_cast<size_t>(length));
          in_offset_ += header + static_cast<size_t>(length);
          return frame;
        }
      }
    }
    RETURN_IF_ERROR(ReadMore(deadline));
  }
}

absl::Status WebSocketClient::FailConnection(uint16_t code, absl::Status error) {
  if (!finished_ && !close_sent_) {
    std::string payload = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    (void)SendFrame(kWsClose, payload, absl::Now() + kFailCloseTimeout);
    close_sent_ = true;
  }
  CloseSocket();
  return error;
}

absl::StatusOr<WebSocketMessage> WebSocketClient::Receive(absl::Time deadline) {
  while (true) {
    if (finished_) return absl::FailedPreconditionError("the WebSocket connection is closed");
    absl::StatusOr<Frame> frame = ReadFrame(deadline);
    if (!frame.ok()) {
      if (absl::IsDataLoss(frame.status())) {
        return FailConnection(kWsCloseProtocolError, frame.status());
      }
      if (absl::IsResourceExhausted(frame.status())) {
        return FailConnection(kWsCloseTooBig, frame.status());
      }
      return frame.status();
    }
    switch (frame->opcode) {
      case kWsPing:
        RETURN_IF_ERROR(SendFrame(kWsPong, frame->payload, deadline));
        continue;
      case kWsPong:
        continue;
      case kWsClose: {
        WebSocketMessage message;
        message.type = WebSocketMessage::Type::kClose;
        if (frame->payload.size() == 1) {
          return FailConnection(kWsCloseProtocolError, ProtocolError("close frame of one byte"));
        }
        if (frame->payload.empty()) {
          message.close_code = kWsCloseNoStatus;
        } else {
          const auto* p = reinterpret_cast<const unsigned char*>(frame->payload.data());
          message.close_code = static_cast<uint16_t>((p[0] << 8) | p[1]);
          message.payload = frame->payload.substr(2);
        }
        if (!close_sent_) {
          // Echo the code, as RFC 6455 section 5.5.1 asks; briefly, since the
          // peer is going away anyway.
          std::string echo = frame->payload.empty() ? std::string() : frame->payload.substr(0, 2);
          (void)SendFrame(kWsClose, echo, std::min(deadline, absl::Now() + absl::Seconds(1)));
          close_sent_ = true;
        }
        CloseSocket();
        return message;
      }
      case kWsText:
      case kWsBinary:
        if (in_message_) {
          return FailConnection(kWsCloseProtocolError,
                                ProtocolError("new data frame inside a fragmented message"));
        }
        if (frame->fin) {
          WebSocketMessage message;
          message.type = frame->opcode == kWsText ? WebSocketMessage::Type::kText
                                                  : WebSocketMessage::Type::kBinary;
          message.payload = std::move(frame->payload);
          return message;
        }
        in_message_ = true;
        message_opcode_ = frame->opcode;
        message_ = std::move(frame->payload);
        continue;
      case kWsContinuation:
        if (!in_message_) {
          return FailConnection(kWsCloseProtocolError,
                                ProtocolError("continuation frame without a message"));
        }
        message_.append(frame->payload);
        if (frame->fin) {
          WebSocketMessage message;
          message.type = message_opcode_ == kWsText ? WebSocketMessage::Type::kText
                                                    : WebSocketMessage::Type::kBinary;
          message.payload = std::move(message_);
          message_.clear();
          in_message_ = false;
          return message;
        }
        continue;
      default:
        WH_CHECK(false) << "ReadFrame returned opcode " << int{frame->opcode};
    }
  }
}

absl::Status WebSocketClient::SendText(std::string_view text, absl::Time deadline) {
  if (finished_ || close_sent_) {
    return absl::FailedPreconditionError("the WebSocket connection is closed");
  }
  return SendFrame(kWsText, text, deadline);
}

absl::Status WebSocketClient::SendFrame(uint8_t opcode, std::string_view payload,
                                        absl::Time deadline) {
  if (finished_) return absl::FailedPreconditionError("the WebSocket connection is closed");
  std::string frame;
  frame.reserve(payload.size() + 14);
  frame.push_back(static_cast<char>(0x80 | opcode));  // FIN: we never fragment.
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() <= 0xffff) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    const uint64_t size = payload.size();
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame.push_back(static_cast<char>((size >> shift) & 0xff));
    }
  }
  // Every client frame is masked with a fresh key (RFC 6455 section 5.3).
  unsigned char mask[4];
  RandomBytes(mask, sizeof(mask));
  frame.append(reinterpret_cast<const char*>(mask), sizeof(mask));
  for (size_t i = 0; i < payload.size(); ++i) {
    frame.push_back(static_cast<char>(payload[i] ^ static_cast<char>(mask[i % 4])));
  }
  return WriteAll(frame, deadline);
}

absl::Status WebSocketClient::Close(uint16_t code, std::string_view reason, absl::Time deadline) {
  if (finished_) return absl::OkStatus();
  absl::Status status;
  if (!close_sent_) {
    std::string payload = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    payload.append(reason.substr(0, kMaxCloseReasonBytes));
    status = SendFrame(kWsClose, payload, deadline);
    close_sent_ = true;
  }
  // Wait for the peer's close so it sees ours; data still arriving is dropped.
  while (status.ok() && !finished_) {
    absl::StatusOr<Frame> frame = ReadFrame(deadline);
    if (!frame.ok() || frame->opcode == kWsClose) break;
  }
  CloseSocket();
  return status;
}

}  // namespace wirehub::ctl
