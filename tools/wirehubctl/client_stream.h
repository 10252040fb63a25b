// ClientStream: the byte stream under wirehubctl's WebSocket client, a TCP
// connection to the URL's host, with TLS for wss://.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_CLIENT_STREAM_H_
#define WIREHUB_TOOLS_WIREHUBCTL_CLIENT_STREAM_H_

#include <openssl/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/wirehubctl/ws_url.h"

namespace wirehub::ctl {

// TlsClientOptions say whom a wss:// client trusts.
struct TlsClientOptions {
  // CA certificates (PEM) to verify the server with; empty: the system's
  // trust store (SSL_CTX_set_default_verify_paths, so $SSL_CERT_FILE and
  // $SSL_CERT_DIR apply).
  std::string ca_file;
  // The name (or IP address) the certificate must hold, also sent as SNI;
  // empty: the URL's host.
  std::string server_name;
};

// ClientStream is one connection. Reads and writes never block past their
// deadline: the socket is non-blocking and every wait is a poll() bounded by
// it. Thread-compatible.
class ClientStream {
 public:
  // Connect()
  //
  // Resolves the URL's host (ResolveHost), connects to its addresses in
  // order (ConnectTcp) and, for wss://, performs a TLS 1.2+ handshake that
  // verifies the server's certificate chain and its name or IP address.
  //
  // Errors: those of ResolveHost and ConnectTcp; InvalidArgument when the CA
  // file cannot be loaded; Unavailable "connect: TLS handshake with
  // HOST:PORT failed: certificate verify failed (<why>)" or "...failed:
  // <OpenSSL's reason>"; DeadlineExceeded when `deadline` passes.
  static absl::StatusOr<std::unique_ptr<ClientStream>> Connect(const WebSocketUrl& url,
                                                               const TlsClientOptions& tls,
                                                               absl::Time deadline);

  ~ClientStream();
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  // WriteAll()
  //
  // Writes all of `bytes`. On any error part of them may be out, and the
  // stream is closed.
  absl::Status WriteAll(std::string_view bytes, absl::Time deadline);

  // Read()
  //
  // Reads between 1 and `size` bytes into `buffer`, or returns 0 at the end
  // of the stream (the stream is then closed). DeadlineExceeded leaves the
  // stream usable; other errors close it.
  absl::StatusOr<size_t> Read(char* buffer, size_t size, absl::Time deadline);

  // Close()
  //
  // Sends TLS close_notify when it can without waiting, then closes the
  // socket. Idempotent.
  void Close();

  bool closed() const { return fd_ < 0; }

 private:
  ClientStream(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}

  // The TLS handshake on `ssl_`; `peer` ("HOST:PORT") for its messages.
  absl::Status Handshake(const std::string& peer, absl::Time deadline);
  // Waits for what the TLS call that returned `result` wants, or returns the
  // error that ended it (then `tls_failed_` is set). `what` prefixes errors.
  absl::Status AwaitTls(int result, std::string_view what, absl::Time deadline);

  int fd_;
  SSL* ssl_;  // Owned; nullptr for ws://.
  // After a fatal TLS error no close_notify may be sent.
  bool tls_failed_ = false;
};

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_CLIENT_STREAM_H_
