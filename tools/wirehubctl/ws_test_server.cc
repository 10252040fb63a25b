#include "tools/wirehubctl/ws_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
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
#include "tools/wirehubctl/socket_bio.h"

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

// OpenSSL's last queued reason (or the certificate verification failure)
// for a failed TLS call; clears the queue.
std::string TlsErrorText(SSL* ssl) {
  long verify = SSL_get_verify_result(ssl);
  unsigned long code = ERR_peek_last_error();
  const char* reason = code == 0 ? nullptr : ERR_reason_error_string(code);
  ERR_clear_error();
  if (verify != X509_V_OK) return X509_verify_cert_error_string(verify);
  return reason != nullptr ? reason : "the connection ended";
}

// Waits for what a TLS call on `ssl` that returned `result` wants, up to
// `deadline`; false when it failed instead or the deadline passed.
bool AwaitTls(SSL* ssl, int fd, int result, absl::Time deadline) {
  int error = SSL_get_error(ssl, result);
  if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) return false;
  return Wait(fd, error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline - absl::Now());
}

}  // namespace

WsTestConnection::WsTestConnection(int fd, SSL* ssl, absl::Duration io_timeout)
    : fd_(fd), ssl_(ssl), io_timeout_(io_timeout) {}

WsTestConnection::~WsTestConnection() {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    (void)SSL_shutdown(ssl_);
    ERR_clear_error();
    SSL_free(ssl_);
  }
  close(fd_);
}

std::string WsTestConnection::tls_server_name() const {
  if (ssl_ == nullptr) return "";
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? "" : name;
}

bool WsTestConnection::SendRaw(std::string_view bytes) {
  size_t sent = 0;
  const absl::Time deadline = absl::Now() + io_timeout_;
  while (sent < bytes.size()) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      size_t written = 0;
      int result = SSL_write_ex(ssl_, bytes.data() + sent, bytes.size() - sent, &written);
      if (result == 1) {
        sent += written;
      } else if (!AwaitTls(ssl_, fd_, result, deadline)) {
        ERR_clear_error();
        return false;
      }
      continue;
    }
    if (!Wait(fd_, POLLOUT, io_timeout_)) return false;
    ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

ssize_t WsTestConnection::ReadBytes(char* buffer, size_t size, absl::Time deadline) {
  while (true) {
    if (ssl_ == nullptr) {
      if (!Wait(fd_, POLLIN, deadline - absl::Now())) return kTimedOut;
      ssize_t n = recv(fd_, buffer, size, 0);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      return errno == ECONNRESET ? 0 : kFailed;
    }
    ERR_clear_error();
    size_t got = 0;
    int result = SSL_read_ex(ssl_, buffer, size, &got);
    if (result == 1) return static_cast<ssize_t>(got);
    int error = SSL_get_error(ssl_, result);
    if (error == SSL_ERROR_ZERO_RETURN ||
        (error == SSL_ERROR_SYSCALL && (errno == 0 || errno == ECONNRESET))) {
      ERR_clear_error();
      return 0;
    }
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      return kFailed;
    }
    if (!AwaitTls(ssl_, fd_, result, deadline)) return kTimedOut;
  }
}

bool WsTestConnection::ReadSome() {
  char chunk[65536];
  ssize_t n = ReadBytes(chunk, sizeof(chunk), absl::Now() + io_timeout_);
  if (n <= 0) return false;
  buffered_.append(chunk, static_cast<size_t>(n));
  return true;
}

std::optional<std::string> WsTestConnection::ReadRequest() {
  while (buffered_.find("\r\n\r\n") == std::string::npos) {
    if (!ReadSome()) return std::nullopt;
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
  while (true) {
    char chunk[4096];
    ssize_t n = ReadBytes(chunk, sizeof(chunk), deadline);
    if (n == 0) return true;
    if (n < 0) return false;
  }
}

WsTestServer::WsTestServer(Script script, absl::Duration io_timeout)
    : WsTestServer(std::move(script), Options{.io_timeout = io_timeout}) {}

WsTestServer::WsTestServer(Script script, const Options& options) : options_(options) {
  if (!options_.tls_cert_pem.empty()) {
    ssl_ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cert_bio = BIO_new_mem_buf(options_.tls_cert_pem.data(),
                                    static_cast<int>(options_.tls_cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO_free(cert_bio);
    BIO* key_bio =
        BIO_new_mem_buf(options_.tls_key_pem.data(), static_cast<int>(options_.tls_key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    BIO_free(key_bio);
    bool ok = ssl_ctx_ != nullptr && cert != nullptr && key != nullptr &&
              SSL_CTX_use_certificate(ssl_ctx_, cert) == 1 &&
              SSL_CTX_use_PrivateKey(ssl_ctx_, key) == 1 &&
              SSL_CTX_set_min_proto_version(ssl_ctx_, TLS1_2_VERSION) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) {
      ADD_FAILURE() << "cannot set up the test server's TLS: "
                    << ERR_reason_error_string(ERR_peek_last_error());
      return;
    }
    SSL_CTX_set_options(ssl_ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ssl_ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
  const bool ipv6 = options_.bind_address.find(':') != std::string::npos;
  listen_fd_ = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage address{};
  socklen_t size = 0;
  int parsed = 0;
  if (ipv6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    parsed = inet_pton(AF_INET6, options_.bind_address.c_str(), &in6->sin6_addr);
    size = sizeof(sockaddr_in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
    in4->sin_family = AF_INET;
    parsed = inet_pton(AF_INET, options_.bind_address.c_str(), &in4->sin_addr);
    size = sizeof(sockaddr_in);
  }
  if (listen_fd_ < 0 || parsed != 1 ||
      bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      listen(listen_fd_, 4) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    // Not a failure by itself for ::1: its test skips when the host has no
    // IPv6.
    if (!ipv6) ADD_FAILURE() << "cannot listen on 127.0.0.1: " << std::strerror(errno);
    return;
  }
  port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  thread_ = std::thread([this, script = std::move(script)] {
    const absl::Duration io_timeout = options_.io_timeout;
    if (!Wait(listen_fd_, POLLIN, io_timeout)) {
      ADD_FAILURE() << "no client connected within " << io_timeout;
      return;
    }
    int fd = accept4(listen_fd_, nullptr, nullptr,
                     SOCK_CLOEXEC | (ssl_ctx_ != nullptr ? SOCK_NONBLOCK : 0));
    if (fd < 0) {
      ADD_FAILURE() << "accept: " << std::strerror(errno);
      return;
    }
    SSL* ssl = nullptr;
    if (ssl_ctx_ != nullptr) {
      ssl = SSL_new(ssl_ctx_);
      BIO* bio = NewSocketBio(fd);
      SSL_set_bio(ssl, bio, bio);
      SSL_set_accept_state(ssl);
      const absl::Time deadline = absl::Now() + io_timeout;
      while (true) {
        ERR_clear_error();
        int result = SSL_do_handshake(ssl);
        if (result == 1) break;
        if (!AwaitTls(ssl, fd, result, deadline)) {
          tls_error_ = absl::Now() >= deadline ? "timed out" : TlsErrorText(ssl);
          SSL_free(ssl);
          close(fd);
          return;
        }
      }
    }
    WsTestConnection connection(fd, ssl, io_timeout);
    script(connection);
  });
}

WsTestServer::~WsTestServer() {
  Join();
  if (listen_fd_ >= 0) close(listen_fd_);
  SSL_CTX_free(ssl_ctx_);
}

void WsTestServer::Join() {
  if (thread_.joinable()) thread_.join();
}

std::string WsTestServer::Url(std::string_view path) const {
  const std::string& address = options_.bind_address;
  return UrlWithHost(
      address.find(':') != std::string::npos ? absl::StrCat("[", address, "]") : address, path);
}

std::string WsTestServer::UrlWithHost(std::string_view host, std::string_view path) const {
  return absl::StrCat(ssl_ctx_ != nullptr ? "wss://" : "ws://", AsAbsl(host), ":", port_,
                      AsAbsl(path));
}

}  // namespace wirehub::ctl::testing
