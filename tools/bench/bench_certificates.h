// Throwaway certificates for `wirehub-bench --tls`: a CA made at start and a
// server certificate it signs for 127.0.0.1, written as PEM files.
#ifndef WIREHUB_TOOLS_BENCH_BENCH_CERTIFICATES_H_
#define WIREHUB_TOOLS_BENCH_BENCH_CERTIFICATES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub::bench {

// Where GenerateBenchCertificates() put its files.
struct BenchCertificates {
  std::string ca_file;    // the CA certificate the clients verify against
  std::string cert_file;  // the server's certificate
  std::string key_file;   // the server's private key (mode 0600)
};

// GenerateBenchCertificates()
//
// Makes a fresh CA and a server certificate it signs, both on ECDSA P-256
// keys (the cheapest signatures for the server's handshakes), the server's
// with subjectAltName IP:127.0.0.1 and DNS:localhost and extendedKeyUsage
// serverAuth, valid from a minute ago for `lifetime`. Writes ca.pem,
// server.pem and server.key into `dir`, which must exist. The CA's key is
// never written: nothing else can be signed with it.
//
// Errors: Internal when OpenSSL fails or a file cannot be written.
absl::StatusOr<BenchCertificates> GenerateBenchCertificates(
    const std::string& dir, absl::Duration lifetime = absl::Hours(24));

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_BENCH_CERTIFICATES_H_
