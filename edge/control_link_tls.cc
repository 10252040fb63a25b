#include "edge/control_link_tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace wirehub::edge {
namespace {

// PEM bundles and keys are small; a larger file is a mistake.
constexpr size_t kMaxPemBytes = 1 << 20;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The certificates at the head of `pem`, in order (none when it starts with
// anything else).
absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(const std::string& path, const char* what) {
  absl::StatusOr<std::string> pem = ReadFileBounded(path, kMaxPemBytes, what);
  if (!pem.ok()) return pem.status();
  BioPtr bio = MemoryBio(*pem);
  std::vector<X509Ptr> certificates;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(cert);
  }
  ERR_clear_error();  // The read that ended the loop left an error behind.
  if (certificates.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " holds no PEM certificate"));
  }
  return certificates;
}

}  // namespace

absl::Status CheckControlLinkTlsFlags(const ControlLinkTlsOptions& tls) {
  if (!tls.enabled()) {
    if (!tls.cert_file.empty() || !tls.key_file.empty() || !tls.server_name.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate, key or server name for the control link needs the CA file that "
          "verifies control (--control_tls_ca_file), which turns TLS on");
    }
    return absl::OkStatus();
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "the control link's client certificate and key go together "
        "(--control_tls_cert_file and --control_tls_key_file)");
  }
  if (tls.refresh_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("the certificate refresh interval must be at least 1s");
  }
  return absl::OkStatus();
}

absl::Status CheckControlLinkTls(const ControlLinkTlsOptions& tls) {
  if (absl::Status flags = CheckControlLinkTlsFlags(tls); !flags.ok() || !tls.enabled()) {
    return flags;
  }
  absl::StatusOr<std::vector<X509Ptr>> roots = ReadCertificates(tls.ca_file, "control TLS CA file");
  if (!roots.ok()) return roots.status();
  if (tls.cert_file.empty()) return absl::OkStatus();

  absl::StatusOr<std::vector<X509Ptr>> chain =
      ReadCertificates(tls.cert_file, "control TLS client certificate file");
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::string> key_pem =
      ReadFileBounded(tls.key_file, kMaxPemBytes, "control TLS client key file");
  if (!key_pem.ok()) return key_pem.status();
  BioPtr bio = MemoryBio(*key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("control TLS client key file ", tls.key_file,
                                                   " holds no unencrypted PEM private key"));
  }
  // The leaf is the chain's first certificate.
  if (X509_check_private_key(chain->front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("control TLS client key ", tls.key_file,
                                                   " does not belong to the certificate in ",
                                                   tls.cert_file));
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ChannelCredentials> ControlLinkCredentials(const ControlLinkTlsOptions& tls,
                                                                 grpc::ChannelArguments* args) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  const auto refresh_seconds =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(tls.refresh_interval)));
  // The provider re-reads the files every refresh interval on its own
  // thread; new connections use what it last read successfully.
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (tls.cert_file.empty()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        tls.ca_file, refresh_seconds);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        tls.key_file, tls.cert_file, tls.ca_file, refresh_seconds);
  }
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(std::move(provider));
  options.watch_root_certs();
  if (!tls.cert_file.empty()) options.watch_identity_key_cert_pairs();
  // The chain against ca_file, then the name against the target (or the
  // override below); gRPC's default for a client, made explicit.
  options.set_verify_server_certs(true);
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  if (!tls.server_name.empty()) args->SetSslTargetNameOverride(tls.server_name);
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace wirehub::edge
