// TlsClientContext: the OpenSSL client side of the bench's wss connections
// (`wirehub-bench --tls`), verifying the server against one CA file.
#ifndef WIREHUB_TOOLS_BENCH_TLS_CLIENT_CONTEXT_H_
#define WIREHUB_TOOLS_BENCH_TLS_CLIENT_CONTEXT_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wirehub::bench {

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

// TlsClientContext holds one SSL_CTX: TLS 1.2 or 1.3, the server's
// certificate verified against `ca_file` and its name or IP address, no
// session resumption (every connection pays a full handshake, as fresh
// clients do), partial writes from a buffer that may move between retries,
// read-ahead, and per-connection buffers released while idle.
// Thread-safe once created: NewSession() may be called from any thread.
class TlsClientContext {
 public:
  // Create()
  //
  // A context trusting only the CA certificate(s) in `ca_file` for servers
  // named `server_host` (an IP address is checked against the
  // certificate's IP subjectAltName, a name against its DNS names).
  // Errors: InvalidArgument when the CA file cannot be loaded, Internal when
  // OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<TlsClientContext>> Create(const std::string& ca_file,
                                                                  const std::string& server_host);
  ~TlsClientContext();

  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // NewSession()
  //
  // A client SSL on the connected (possibly non-blocking) socket `fd`,
  // ready for SSL_connect(); nullptr when OpenSSL cannot make one.
  SslPtr NewSession(int fd) const;

 private:
  explicit TlsClientContext(SSL_CTX* ctx) : ctx_(ctx) {}

  SSL_CTX* ctx_;
};

// TlsErrorText()
//
// Why a TLS call on `ssl` failed with SSL_get_error() result `error`: the
// certificate verification failure, OpenSSL's queued error, or the system
// error. Clears OpenSSL's error queue of this thread.
std::string TlsErrorText(const SSL* ssl, int error);

// TlsDescription()
//
// The negotiated protocol, cipher and key-exchange group of an established
// `ssl`, e.g. "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519".
std::string TlsDescription(const SSL* ssl);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_TLS_CLIENT_CONTEXT_H_
