#include "tools/bench/bench_certificates.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace wirehub::bench {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

// Internal error with `what` and OpenSSL's first queued error.
absl::Status OpenSslError(std::string_view what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  char reason[256] = "no OpenSSL error queued";
  if (code != 0) ERR_error_string_n(code, reason, sizeof(reason));
  return absl::InternalError(absl::StrCat(AsAbsl(what), ": ", reason));
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  if (extension == nullptr) return OpenSslError(absl::StrCat("extension ", value));
  int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return OpenSslError(absl::StrCat("add extension ", value));
  return absl::OkStatus();
}

// An unsigned certificate for `key` named `common_name` with a random
// 64-bit serial.
absl::StatusOr<Cert> NewCertificate(EVP_PKEY* key, const char* common_name,
                                    absl::Duration lifetime) {
  Cert cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  unsigned char serial_bytes[8];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return OpenSslError("RAND_bytes");
  serial_bytes[0] &= 0x7f;  // positive
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  bool ok = serial != nullptr && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  ok = ok && X509_set_version(cert.get(), 2) == 1 &&
       X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) != nullptr &&
       X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                       static_cast<long>(absl::ToInt64Seconds(lifetime))) != nullptr &&
       X509_set_pubkey(cert.get(), key) == 1 &&
       X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(common_name), -1, -1,
                                  0) == 1;
  if (!ok) return OpenSslError(absl::StrCat("certificate ", common_name));
  return cert;
}

// Writes `bio`'s contents to `path` with `mode`.
absl::Status WriteBio(BIO* bio, const std::string& path, mode_t mode) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(absl::StrCat("create ", path, ": ", std::strerror(errno)));
  std::string_view left(data, static_cast<size_t>(size));
  while (!left.empty()) {
    ssize_t n = write(fd, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status status =
          absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(errno)));
      close(fd);
      return status;
    }
    left.remove_prefix(static_cast<size_t>(n));
  }
  if (close(fd) != 0) {
    return absl::InternalError(absl::StrCat("close ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteCertificate(X509* cert, const std::string& path) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("PEM_write_bio_X509");
  }
  return WriteBio(bio.get(), path, 0644);
}

absl::Status WriteKey(EVP_PKEY* key, const std::string& path) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  return WriteBio(bio.get(), path, 0600);
}

}  // namespace

absl::StatusOr<BenchCertificates> GenerateBenchCertificates(const std::string& dir,
                                                            absl::Duration lifetime) {
  Pkey ca_key(EVP_EC_gen("P-256"));
  Pkey server_key(EVP_EC_gen("P-256"));
  if (ca_key == nullptr || server_key == nullptr) return OpenSslError("EC P-256 key");

  absl::StatusOr<Cert> ca = NewCertificate(ca_key.get(), "wirehub-bench CA", lifetime);
  if (!ca.ok()) return ca.status();
  X509* ca_cert = ca->get();
  if (X509_set_issuer_name(ca_cert, X509_get_subject_name(ca_cert)) != 1) {
    return OpenSslError("CA issuer");
  }
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,keyCertSign"},
                            std::pair{NID_subject_key_identifier, "hash"}}) {
    if (absl::Status s = AddExtension(ca_cert, ca_cert, nid, value); !s.ok()) return s;
  }
  if (X509_sign(ca_cert, ca_key.get(), EVP_sha256()) <= 0) return OpenSslError("sign the CA");

  absl::StatusOr<Cert> server = NewCertificate(server_key.get(), "127.0.0.1", lifetime);
  if (!server.ok()) return server.status();
  X509* server_cert = server->get();
  if (X509_set_issuer_name(server_cert, X509_get_subject_name(ca_cert)) != 1) {
    return OpenSslError("server issuer");
  }
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                            std::pair{NID_key_usage, "critical,digitalSignature"},
                            std::pair{NID_ext_key_usage, "serverAuth"},
                            std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                            std::pair{NID_authority_key_identifier, "keyid"}}) {
    if (absl::Status s = AddExtension(server_cert, ca_cert, nid, value); !s.ok()) return s;
  }
  if (X509_sign(server_cert, ca_key.get(), EVP_sha256()) <= 0) {
    return OpenSslError("sign the server certificate");
  }

  BenchCertificates files{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
  if (absl::Status s = WriteCertificate(ca_cert, files.ca_file); !s.ok()) return s;
  if (absl::Status s = WriteCertificate(server_cert, files.cert_file); !s.ok()) return s;
  if (absl::Status s = WriteKey(server_key.get(), files.key_file); !s.ok()) return s;
  return files;
}

}  // namespace wirehub::bench
