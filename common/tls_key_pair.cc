#include "common/tls_key_pair.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace wirehub {

struct TlsKeyPair::Objects {
  ~Objects() {
    X509_free(leaf);
    if (chain != nullptr) sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;
};

namespace {

// OpenSSL's most recent error as text, clearing the queue.
std::string OpenSslError() {
  unsigned long code = ERR_peek_last_error();
  std::string text = "unknown error";
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    text = buffer;
  }
  ERR_clear_error();
  return text;
}

struct BioCloser {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioCloser>;

absl::StatusOr<BioPtr> OpenFile(absl::string_view path) {
  std::string name(path);
  errno = 0;
  BioPtr bio(BIO_new_file(name.c_str(), "r"));
  if (bio == nullptr) {
    int error = errno;
    ERR_clear_error();
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat(name, ": no such file"));
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": cannot open: ", error != 0 ? std::strerror(error) : "unknown"));
  }
  return bio;
}

std::string SerialHex(const X509* certificate) {
  BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr);
  if (number == nullptr) return "";
  char* hex = BN_bn2hex(number);
  std::string text = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(number);
  return text;
}

}  // namespace

absl::StatusOr<TlsKeyPair> TlsKeyPair::Load(std::string_view cert_file_std,
                                            std::string_view key_file_std, absl::Time now) {
  const absl::string_view cert_file = AsAbsl(cert_file_std);
  const absl::string_view key_file = AsAbsl(key_file_std);
  ERR_clear_error();
  auto objects = std::make_shared<Objects>();
  {
    absl::StatusOr<BioPtr> bio = OpenFile(cert_file);
    if (!bio.ok()) return bio.status();
    objects->leaf = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr);
    if (objects->leaf == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(cert_file, ": no PEM certificate (", OpenSslError(), ")"));
    }
    objects->chain = sk_X509_new_null();
    while (X509* extra = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(objects->chain, extra);
    }
    // The loop ends on "no start line" at the end of the file; anything
    // else is a damaged certificate in the chain.
    unsigned long last = ERR_peek_last_error();
    if (last != 0 && ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
      return absl::InvalidArgumentError(
          absl::StrCat(cert_file, ": bad certificate in the chain (", OpenSslError(), ")"));
    }
    ERR_clear_error();
  }
  {
    absl::StatusOr<BioPtr> bio = OpenFile(key_file);
    if (!bio.ok()) return bio.status();
    objects->key = PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr);
    if (objects->key == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(key_file, ": no PEM private key (", OpenSslError(), ")"));
    }
  }
  if (X509_check_private_key(objects->leaf, objects->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "the key in ", key_file, " does not belong to the certificate in ", cert_file));
  }
  time_t now_seconds = absl::ToTimeT(now);
  if (X509_cmp_time(X509_get0_notAfter(objects->leaf), &now_seconds) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate in ", cert_file, " has expired"));
  }

  TlsKeyPair pair;
  pair.serial_hex_ = SerialHex(objects->leaf);
  char subject[256] = {0};
  X509_NAME_oneline(X509_get_subject_name(objects->leaf), subject, sizeof(subject) - 1);
  pair.subject_ = subject;
  struct tm expiry;
  if (ASN1_TIME_to_tm(X509_get0_notAfter(objects->leaf), &expiry) == 1) {
    pair.not_after_ = absl::FromTM(expiry, absl::UTCTimeZone());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  X509_digest(objects->leaf, EVP_sha256(), digest, &digest_length);
  pair.fingerprint_ = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), digest_length));
  pair.objects_ = std::move(objects);
  ERR_clear_error();
  return pair;
}

absl::Status TlsKeyPair::InstallInto(SSL_CTX* ctx) const {
  if (objects_ == nullptr) return absl::FailedPreconditionError("no certificate loaded");
  // Replaces certificate, key and chain together (override = 1): a
  // handshake never sees the new certificate with the old key.
  if (SSL_CTX_use_cert_and_key(ctx, objects_->leaf, objects_->key, objects_->chain, 1) != 1) {
    return absl::InternalError(absl::StrCat("cannot install the certificate: ", OpenSslError()));
  }
  return absl::OkStatus();
}

bool TlsKeyPair::SameAs(const TlsKeyPair& other) const {
  if (objects_ == nullptr || other.objects_ == nullptr) return objects_ == other.objects_;
  return fingerprint_ == other.fingerprint_ && EVP_PKEY_eq(objects_->key, other.objects_->key) == 1;
}

}  // namespace wirehub
