#include "tools/wirehubctl/client_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "tools/wirehubctl/socket_bio.h"
#include "tools/wirehubctl/tcp_connect.h"

namespace wirehub::ctl {
namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

// OpenSSL's reason for the last queued error, or `fallback`; clears the
// queue.
std::string OpenSslReason(std::string_view fallback) {
  unsigned long code = ERR_peek_last_error();
  const char* reason = code == 0 ? nullptr : ERR_reason_error_string(code);
  ERR_clear_error();
  return reason != nullptr ? std::string(reason) : std::string(fallback);
}

// Why a TLS call on `ssl` ended with SSL_get_error() `error`; `saved_errno`
// is errno right after the call.
std::string TlsFailureText(const SSL* ssl, int error, int saved_errno) {
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return absl::StrCat("certificate verify failed (", X509_verify_cert_error_string(verify), ")");
  }
  if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    return saved_errno == 0 ? "the server closed the connection" : std::strerror(saved_errno);
  }
  if (error == SSL_ERROR_ZERO_RETURN) return "the server closed the connection";
  return OpenSslReason("TLS error");
}

// A client context trusting `ca_file`, or the system's store when empty.
absl::StatusOr<std::unique_ptr<SSL_CTX, SslCtxFree>> NewClientContext(const std::string& ca_file) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", OpenSslReason("failed")));
  }
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    return absl::InternalError(absl::StrCat("TLS 1.2 floor: ", OpenSslReason("failed")));
  }
  // A peer that closes without close_notify ends the stream like one that
  // sends it: the WebSocket layer reports a missing close frame either way.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return absl::InternalError(
          absl::StrCat("cannot load the system's CA certificates: ", OpenSslReason("failed")));
    }
  } else if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("connect: cannot load the CA file '", ca_file,
                                                   "': ", OpenSslReason("no certificate")));
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientStream>> ClientStream::Connect(const WebSocketUrl& url,
                                                                    const TlsClientOptions& tls,
                                                                    absl::Time deadline) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
  if (url.tls) {
    ASSIGN_OR_RETURN(ctx, NewClientContext(tls.ca_file));
  }
  const std::string peer = HostAndPort(url);
  ASSIGN_OR_RETURN(std::vector<SocketAddress> addresses, ResolveHost(url.host, url.port, deadline));
  ASSIGN_OR_RETURN(int fd, ConnectTcp(addresses, peer, deadline));
  // Owned by the stream from here on, so every early return closes it.
  std::unique_ptr<ClientStream> stream(new ClientStream(fd, nullptr));
  if (!url.tls) return stream;

  stream->ssl_ = SSL_new(ctx.get());
  BIO* bio = stream->ssl_ == nullptr ? nullptr : NewSocketBio(fd);
  if (bio == nullptr)
    return absl::InternalError(absl::StrCat("SSL_new: ", OpenSslReason("failed")));
  SSL_set_bio(stream->ssl_, bio, bio);
  SSL_set_connect_state(stream->ssl_);
  std::string name = tls.server_name.empty() ? url.host : tls.server_name;
  if (name.size() > 1 && name.back() == '.') name.pop_back();  // "svc.cluster.local."
  bool named = false;
  if (IsIpAddress(name)) {
    // An address is checked against the certificate's IP subjectAltNames and
    // is never sent as SNI (RFC 6066 section 3).
    named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream->ssl_), name.c_str()) == 1;
  } else {
    SSL_set_hostflags(stream->ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    named = SSL_set_tlsext_host_name(stream->ssl_, name.c_str()) == 1 &&
            SSL_set1_host(stream->ssl_, name.c_str()) == 1;
  }
  if (!named) {
    return absl::InvalidArgumentError(absl::StrCat("connect: cannot verify TLS server name '", name,
                                                   "': ", OpenSslReason("invalid name")));
  }
  RETURN_IF_ERROR(stream->Handshake(peer, deadline));
  return stream;
}

ClientStream::~ClientStream() { Close(); }

void ClientStream::Close() {
  if (ssl_ != nullptr) {
    // One try, without waiting: the peer learns that the end is deliberate
    // when the socket can take it.
    if (!tls_failed_ && SSL_is_init_finished(ssl_)) {
      ERR_clear_error();
      (void)SSL_shutdown(ssl_);
    }
    ERR_clear_error();
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

absl::Status ClientStream::AwaitTls(int result, std::string_view what, absl::Time deadline) {
  const int saved_errno = errno;
  const int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_READ) return WaitForFd(fd_, POLLIN, deadline);
  if (error == SSL_ERROR_WANT_WRITE) return WaitForFd(fd_, POLLOUT, deadline);
  tls_failed_ = true;
  return absl::UnavailableError(
      absl::StrCat(AsAbsl(what), TlsFailureText(ssl_, error, saved_errno)));
}

absl::Status ClientStream::Handshake(const std::string& peer, absl::Time deadline) {
  const std::string what = absl::StrCat("connect: TLS handshake with ", peer, " failed: ");
  while (true) {
    ERR_clear_error();
    int result = SSL_do_handshake(ssl_);
    if (result == 1) return absl::OkStatus();
    absl::Status waited = AwaitTls(result, what, deadline);
    if (absl::IsDeadlineExceeded(waited)) {
      return absl::DeadlineExceededError(
          absl::StrCat("connect: TLS handshake with ", peer, ": deadline exceeded"));
    }
    RETURN_IF_ERROR(waited);
  }
}

absl::Status ClientStream::WriteAll(std::string_view bytes, absl::Time deadline) {
  if (closed()) return absl::FailedPreconditionError("the WebSocket connection is closed");
  size_t sent = 0;
  absl::Status status;
  while (sent < bytes.size()) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      size_t written = 0;
      int result = SSL_write_ex(ssl_, bytes.data() + sent, bytes.size() - sent, &written);
      if (result == 1) {
        sent += written;
        continue;
      }
      status = AwaitTls(result, "TLS write: ", deadline);
      if (status.ok()) continue;
      break;
    }
    ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      status = WaitForFd(fd_, POLLOUT, deadline);
      if (status.ok()) continue;
    } else {
      status = absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    }
    break;
  }
  if (sent == bytes.size()) return absl::OkStatus();
  // Part of the bytes may be out: nothing more can be sent on this stream.
  Close();
  return status;
}

absl::StatusOr<size_t> ClientStream::Read(char* buffer, size_t size, absl::Time deadline) {
  if (closed()) return absl::FailedPreconditionError("the WebSocket connection is closed");
  while (true) {
    if (ssl_ != nullptr) {
      // Always try to read before waiting: OpenSSL may hold decrypted bytes
      // that poll() cannot see.
      ERR_clear_error();
      size_t got = 0;
      int result = SSL_read_ex(ssl_, buffer, size, &got);
      if (result == 1) return got;
      if (SSL_get_error(ssl_, result) == SSL_ERROR_ZERO_RETURN) {
        Close();
        return size_t{0};
      }
      absl::Status waited = AwaitTls(result, "TLS read: ", deadline);
      if (absl::IsDeadlineExceeded(waited)) return waited;
      if (!waited.ok()) {
        Close();
        return waited;
      }
      continue;
    }
    ssize_t n = recv(fd_, buffer, size, 0);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) {
      Close();
      return size_t{0};
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      int error = errno;
      Close();
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(error)));
    }
    RETURN_IF_ERROR(WaitForFd(fd_, POLLIN, deadline));
  }
}

}  // namespace wirehub::ctl
