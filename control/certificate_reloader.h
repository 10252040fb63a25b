// CertificateReloader: the TLS certificate, key and client CA of one of
// control's gRPC listeners, re-read when they change and validated as a pair
// before gRPC can pick them up.
//
// gRPC 1.51's FileWatcherCertificateProvider re-reads its files every
// refresh interval but installs whatever it finds: a key that does not
// match the certificate (a half-finished copy, a wrong file) would be served
// and every handshake would fail. So the provider is pointed at a private
// copy (one PEM file holding the chain and the key, replaced with one
// rename, so it never sees a new certificate with an old key) that this
// class writes only after the configured files passed the checks.
#ifndef WIREHUB_CONTROL_CERTIFICATE_RELOADER_H_
#define WIREHUB_CONTROL_CERTIFICATE_RELOADER_H_

#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/security/server_credentials.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace wirehub::control {

// The files of one listener, as given on the command line.
struct TlsFiles {
  // PEM: the leaf certificate first, then its chain.
  std::string cert_file;
  // PEM private key of the leaf.
  std::string key_file;
  // PEM bundle of the CAs a client certificate must come from; empty: no
  // client certificate is asked for.
  std::string client_ca_file;
};

// ValidateTlsPair()
//
// Checks PEM texts: the chain holds at least one certificate, the key
// parses and belongs to the first (leaf) certificate, the leaf has not
// expired. `cert_name` and `key_name` (file names) go into the messages,
// never key material. InvalidArgument otherwise.
absl::Status ValidateTlsPair(std::string_view cert_pem, std::string_view key_pem,
                             std::string_view cert_name, std::string_view key_name);

// ValidateCaBundle()
//
// Checks that `pem` holds at least one certificate and nothing unparsable.
absl::Status ValidateCaBundle(std::string_view pem, std::string_view name);

// Thread-safe: Reload() may run on any thread (the maintenance loop, the
// SIGHUP handler); gRPC reads the installed copy on its own thread.
//
// Example:
//   absl::StatusOr<std::unique_ptr<CertificateReloader>> tls =
//       CertificateReloader::Create("API", {cert, key, ""});
//   builder.AddListeningPort(address, (*tls)->ServerCredentials(), &port);
//   ... every second and on SIGHUP: (*tls)->Reload();
class CertificateReloader {
 public:
  // How often gRPC re-reads the installed copy.
  static constexpr unsigned int kProviderRefreshSeconds = 1;

  // Create()
  //
  // Reads and validates the files and installs the copy into a new private
  // directory (mode 0700 under $TMPDIR, else /tmp). `label` names the
  // listener in log lines ("API", "edge link"). Fails with the reason when
  // the files cannot be read or do not form a valid pair.
  static absl::StatusOr<std::unique_ptr<CertificateReloader>> Create(std::string label,
                                                                     TlsFiles files);
  // Removes the private copy.
  ~CertificateReloader();
  CertificateReloader(const CertificateReloader&) = delete;
  CertificateReloader& operator=(const CertificateReloader&) = delete;

  // ServerCredentials()
  //
  // TLS credentials (TLS 1.2 and 1.3: gRPC's floor for these credentials)
  // served from the installed copy; with a client CA, a client certificate
  // from it is required and verified
  // (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY).
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;

  // Reload()
  //
  // Re-reads the configured files. Unchanged: returns false quietly. Changed
  // and valid: installs them (gRPC serves them to new handshakes within
  // kProviderRefreshSeconds; connections already open keep theirs), logs
  // one line and returns true. Changed but invalid (or unreadable): keeps
  // the installed pair, logs the reason once per distinct bad content and
  // returns the error.
  absl::StatusOr<bool> Reload();

  const TlsFiles& files() const { return files_; }
  // The private copy gRPC reads: the chain, then the key.
  std::string identity_path() const { return IdentityPath(); }

 private:
  CertificateReloader(std::string label, TlsFiles files, std::string dir);

  // Contents of the configured files as last read.
  struct Contents {
    std::string cert;
    std::string key;
    std::string client_ca;
    bool operator==(const Contents& other) const = default;
  };
  absl::StatusOr<Contents> Read() const;
  absl::Status Validate(const Contents& contents) const;
  absl::Status Install(const Contents& contents) const;
  std::string IdentityPath() const;
  std::string ClientCaPath() const;

  const std::string label_;
  const TlsFiles files_;
  const std::string dir_;
  absl::Mutex mu_;
  Contents installed_ ABSL_GUARDED_BY(mu_);
  // The last bad contents reported, so a bad pair is logged once, not at
  // every check.
  Contents last_bad_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CERTIFICATE_RELOADER_H_
