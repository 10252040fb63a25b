#include "tools/bench/tls_client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace wirehub::bench {
namespace {

// Read-ahead buffer: several records per recv() when the server sends
// faster than the client reads.
constexpr size_t kReadBufferBytes = 64 * 1024;

std::string QueuedOpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no OpenSSL error queued";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

bool IsIpAddress(const std::string& host) {
  unsigned char address[16];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsClientContext>> TlsClientContext::Create(
    const std::string& ca_file, const std::string& server_host) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr)
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", QueuedOpenSslError()));
  std::unique_ptr<TlsClientContext> context(new TlsClientContext(ctx));
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the CA file ", ca_file, ": ", QueuedOpenSslError()));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  int named = IsIpAddress(server_host)
                  ? X509_VERIFY_PARAM_set1_ip_asc(param, server_host.c_str())
                  : X509_VERIFY_PARAM_set1_host(param, server_host.c_str(), server_host.size());
  if (named != 1 || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return absl::InternalError(absl::StrCat("TLS client set-up: ", QueuedOpenSslError()));
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, kReadBufferBytes);
  return context;
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

SslPtr TlsClientContext::NewSession(int fd) const {
  SslPtr ssl(SSL_new(ctx_));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), fd) != 1) return nullptr;
  SSL_set_connect_state(ssl.get());
  return ssl;
}

std::string TlsErrorText(const SSL* ssl, int error) {
  switch (error) {
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return "server closed the TLS session";
    case SSL_ERROR_SYSCALL: {
      int saved = errno;
      if (ERR_peek_error() != 0) return QueuedOpenSslError();
      return saved == 0 ? "server closed the connection" : std::strerror(saved);
    }
    default:
      break;
  }
  long verify = SSL_get_verify_result(ssl);
  std::string queued = QueuedOpenSslError();
  if (verify != X509_V_OK) {
    return absl::StrCat("certificate verification failed: ", X509_verify_cert_error_string(verify),
                        " (", queued, ")");
  }
  return queued;
}

std::string TlsDescription(const SSL* ssl) {
  std::string description = absl::StrCat(SSL_get_version(ssl), " ", SSL_get_cipher_name(ssl));
  // SSL_ctrl takes a non-const SSL for every query, this one included.
  int group = static_cast<int>(SSL_get_negotiated_group(const_cast<SSL*>(ssl)));
  const char* name = group > 0 ? OBJ_nid2sn(group) : nullptr;
  if (name != nullptr) absl::StrAppend(&description, " ", name);
  return description;
}

}  // namespace wirehub::bench
