#include "control/certificate_reloader.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/file_util.h"
#include "common/logging.h"

namespace wirehub::control {
namespace {

// PEM files larger than this are refused (a chain is a few KiB).
constexpr size_t kMaxPemBytes = 1 << 20;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// OpenSSL's reason for the last failure, and the error queue cleared.
std::string OpenSslReason() {
  const unsigned long code = ERR_peek_last_error();
  const char* text = code == 0 ? "no details" : ERR_reason_error_string(code);
  std::string reason = text == nullptr ? "unknown" : text;
  ERR_clear_error();
  return reason;
}

BioPtr MemoryBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate of a PEM text; InvalidArgument when there is none.
absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(std::string_view pem, std::string_view name) {
  BioPtr bio = MemoryBio(pem);
  std::vector<X509Ptr> certificates;
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(certificate);
  }
  const unsigned long last = ERR_peek_last_error();
  // The loop ends at the end of the text ("no start line"); anything else
  // is a damaged certificate.
  if (last != 0 && ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(name), ": a certificate cannot be parsed (", OpenSslReason(), ")"));
  }
  ERR_clear_error();
  if (certificates.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(name), ": no PEM certificate"));
  }
  return certificates;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view content) {
  const std::string temporary = absl::StrCat(path, ".new");
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", temporary));
  }
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      close(fd);
      return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", temporary));
    }
    written += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", temporary));
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", temporary));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTlsPair(std::string_view cert_pem, std::string_view key_pem,
                             std::string_view cert_name, std::string_view key_name) {
  absl::StatusOr<std::vector<X509Ptr>> chain = ReadCertificates(cert_pem, cert_name);
  if (!chain.ok()) return chain.status();
  BioPtr key_bio = MemoryBio(key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(key_name), ": no PEM private key (", OpenSslReason(), ")"));
  }
  X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("the private key in ", AsAbsl(key_name),
                                                   " does not match the certificate in ",
                                                   AsAbsl(cert_name)));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate in ", AsAbsl(cert_name), " has expired"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCaBundle(std::string_view pem, std::string_view name) {
  return ReadCertificates(pem, name).status();
}

absl::StatusOr<std::unique_ptr<CertificateReloader>> CertificateReloader::Create(std::string label,
                                                                                 TlsFiles files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, " TLS needs both a certificate file and a key file"));
  }
  const char* tmpdir = getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                                     "/wirehub-control-tls-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create a directory like ", pattern));
  }
  std::unique_ptr<CertificateReloader> reloader(
      new CertificateReloader(std::move(label), std::move(files), std::move(pattern)));
  absl::StatusOr<Contents> contents = reloader->Read();
  if (!contents.ok()) return contents.status();
  absl::Status valid = reloader->Validate(*contents);
  if (!valid.ok()) return valid;
  absl::Status installed = reloader->Install(*contents);
  if (!installed.ok()) return installed;
  absl::MutexLock lock(&reloader->mu_);
  reloader->installed_ = *std::move(contents);
  return reloader;
}

CertificateReloader::CertificateReloader(std::string label, TlsFiles files, std::string dir)
    : label_(std::move(label)), files_(std::move(files)), dir_(std::move(dir)) {}

CertificateReloader::~CertificateReloader() {
  unlink(IdentityPath().c_str());
  unlink(ClientCaPath().c_str());
  rmdir(dir_.c_str());
}

std::string CertificateReloader::IdentityPath() const {
  return absl::StrCat(dir_, "/identity.pem");
}

std::string CertificateReloader::ClientCaPath() const {
  return absl::StrCat(dir_, "/client_ca.pem");
}

absl::StatusOr<CertificateReloader::Contents> CertificateReloader::Read() const {
  Contents contents;
  absl::StatusOr<std::string> cert =
      ReadFileBounded(files_.cert_file, kMaxPemBytes, absl::StrCat(label_, " TLS certificate"));
  if (!cert.ok()) return cert.status();
  contents.cert = *std::move(cert);
  absl::StatusOr<std::string> key =
      ReadFileBounded(files_.key_file, kMaxPemBytes, absl::StrCat(label_, " TLS key"));
  if (!key.ok()) return key.status();
  contents.key = *std::move(key);
  if (!files_.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFileBounded(files_.client_ca_file, kMaxPemBytes,
                                                     absl::StrCat(label_, " TLS client CA"));
    if (!ca.ok()) return ca.status();
    contents.client_ca = *std::move(ca);
  }
  return contents;
}

absl::Status CertificateReloader::Validate(const Contents& contents) const {
  absl::Status pair =
      ValidateTlsPair(contents.cert, contents.key, files_.cert_file, files_.key_file);
  if (!pair.ok()) return pair;
  if (!files_.client_ca_file.empty()) {
    return ValidateCaBundle(contents.client_ca, files_.client_ca_file);
  }
  return absl::OkStatus();
}

absl::Status CertificateReloader::Install(const Contents& contents) const {
  // The chain first, then the key: gRPC reads the chain's certificates and
  // the key from the same file, each skipping the other's PEM blocks.
  std::string identity = contents.cert;
  if (!identity.empty() && identity.back() != '\n') identity.push_back('\n');
  identity += contents.key;
  absl::Status status = WriteFileAtomically(IdentityPath(), identity);
  if (status.ok() && !files_.client_ca_file.empty()) {
    status = WriteFileAtomically(ClientCaPath(), contents.client_ca);
  }
  return status;
}

std::shared_ptr<grpc::ServerCredentials> CertificateReloader::ServerCredentials() const {
  const bool verify_clients = !files_.client_ca_file.empty();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      IdentityPath(), IdentityPath(), verify_clients ? ClientCaPath() : std::string(),
      kProviderRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (verify_clients) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  // gRPC 1.51 has no set_min_tls_version() in C++: TLS credentials options
  // default to TLS 1.2 as the minimum and 1.3 as the maximum.
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<bool> CertificateReloader::Reload() {
  absl::StatusOr<Contents> contents = Read();
  absl::MutexLock lock(&mu_);
  if (!contents.ok()) {
    // An unreadable file mid-swap is common; report it once per reason.
    Contents marker;
    marker.cert = std::string(contents.status().message());
    if (!(marker == last_bad_)) {
      WH_LOG(WARNING) << label_
                      << " TLS: keeping the current certificate: " << contents.status().message();
      last_bad_ = std::move(marker);
    }
    return contents.status();
  }
  if (*contents == installed_) return false;
  absl::Status status = Validate(*contents);
  if (status.ok()) status = Install(*contents);
  if (!status.ok()) {
    if (!(*contents == last_bad_)) {
      WH_LOG(ERROR) << label_
                    << " TLS: keeping the current certificate, the new files are refused: "
                    << status.message();
      last_bad_ = *std::move(contents);
    }
    return status;
  }
  installed_ = *std::move(contents);
  last_bad_ = Contents();
  WH_LOG(INFO) << label_ << " TLS: reloaded " << files_.cert_file << " and " << files_.key_file
               << (files_.client_ca_file.empty() ? "" : " and ") << files_.client_ca_file
               << "; new handshakes use them within " << kProviderRefreshSeconds << " s";
  return true;
}

}  // namespace wirehub::control
