#include "tools/wirehubctl/ws_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/websocket_frame.h"
#include "common/websocket_key.h"
#include "gtest/gtest.h"

namespace wirehub::ctl::testing {
namespace {

// Waits up to `timeout` for `events` on `fd`.
bool Wait(int fd, short events, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd entry{fd, events, 0};
    int ready = poll(&entry, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

}  // namespace

WsTestConnection::WsTestConnection(int fd, absl::Duration io_timeout)
    : fd_(fd), io_timeout_(io_timeout) {}

WsTestConnection::~WsTestConnection() { close(fd_); }

bool WsTestConnection::SendRaw(std::string_view bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    if (!Wait(fd_, POLLOUT, io_timeout_)) return false;
    ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool WsTestConnection::ReadSome() {
  while (true) {
    if (!Wait(fd_, POLLIN, io_timeout_)) return false;
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffered_.append(chunk, static_cast<size_t>(n));
    return true;
  }
}

std::optional<std::string> WsTestConnection::ReadRequest() {
  while (buffered_.find("\r\n\r\n") == std::string::npos) {
    if (!Wait(fd_, POLLIN, io_timeout_)) return std::nullopt;
    char chunk[4096];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffered_.append(chunk, static_cast<size_t>(n));
  }
  size_t end = buffered_.find("\r\n\r\n") + 4;
  std::string request = buffered_.substr(0, end);
  buffered_.erase(0, end);
  return request;
}

std::string WsTestConnection::Header(std::string_view request, std::string_view name) {
  for (absl::string_view line : absl::StrSplit(AsAbsl(request), "\r\n")) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(line.substr(0, colon)), AsAbsl(name))) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

std::string WsTestConnection::AcceptResponse(std::string_view key) {
  return absl::StrCat(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ",
      WebSocketAcceptKey(key), "\r\n\r\n");
}

std::optional<std::string> WsTestConnection::Handshake() {
  std::optional<std::string> request = ReadRequest();
  if (!request.has_value()) return std::nullopt;
  if (!SendRaw(AcceptResponse(Header(*request, "Sec-WebSocket-Key")))) return std::nullopt;
  return request;
}

std::string WsTestConnection::EncodeFrame(WebSocketOpcode opcode, std::string_view payload,
                                          bool fin) {
  std::string frame;
  absl::Status status = AppendWebSocketFrame(opcode, fin, payload, std::nullopt, &frame);
  EXPECT_TRUE(status.ok()) << status;
  return frame;
}

bool WsTestConnection::SendFrame(WebSocketOpcode opcode, std::string_view payload, bool fin) {
  return SendRaw(EncodeFrame(opcode, payload, fin));
}

bool WsTestConnection::SendClose(uint16_t code, std::string_view reason) {
  std::string frame;
  absl::Status status = AppendWebSocketClose(code, reason, std::nullopt, &frame);
  EXPECT_TRUE(status.ok()) << status;
  return status.ok() && SendRaw(frame);
}

std::optional<WsTestConnection::Frame> WsTestConnection::ReadFrame() {
  while (true) {
    WebSocketFrame decoded;
    absl::StatusOr<size_t> used = decoder_.Decode(buffered_.data(), buffered_.size(), &decoded);
    if (!used.ok()) {
      ADD_FAILURE() << "bad frame from the client: " << used.status();
      return std::nullopt;
    }
    if (*used > 0) {
      Frame frame{decoded.fin, decoded.opcode, std::string(decoded.payload)};
      buffered_.erase(0, *used);
      return frame;
    }
    if (!ReadSome()) return std::nullopt;
  }
}

std::optional<std::string> WsTestConnection::ReadText() {
  while (true) {
    std::optional<Frame> frame = ReadFrame();
    if (!frame.has_value()) return std::nullopt;
    if (frame->opcode == WebSocketOpcode::kText) return frame->payload;
    if (frame->opcode == WebSocketOpcode::kClose) return std::nullopt;
  }
}

bool WsTestConnection::WaitForEof() {
  absl::Time deadline = absl::Now() + io_timeout_;
  while (absl::Now() < deadline) {
    if (!Wait(fd_, POLLIN, deadline - absl::Now())) return false;
    char chunk[4096];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR) return errno == ECONNRESET;
  }
  return false;
}

WsTestServer::WsTestServer(Script script, absl::Duration io_timeout) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof(address);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      listen(listen_fd_, 4) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ADD_FAILURE() << "cannot listen on 127.0.0.1: " << std::strerror(errno);
    return;
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this, script = std::move(script), io_timeout] {
    if (!Wait(listen_fd_, POLLIN, io_timeout)) {
      ADD_FAILURE() << "no client connected within " << io_timeout;
      return;
    }
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      ADD_FAILURE() << "accept: " << std::strerror(errno);
      return;
    }
    WsTestConnection connection(fd, io_timeout);
    script(connection);
  });
}

WsTestServer::~WsTestServer() {
  Join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void WsTestServer::Join() {
  if (thread_.joinable()) thread_.join();
}

std::string WsTestServer::Url(std::string_view path) const {
  return absl::StrCat("ws://127.0.0.1:", port_, AsAbsl(path));
}

}  // namespace wirehub::ctl::testing
