#include "control/testing/test_pki.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace wirehub::control::testing {
namespace {

std::shared_ptr<EVP_PKEY> NewKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  WH_CHECK(key != nullptr) << "EC key generation failed";
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  WH_CHECK(PEM_write_bio_X509(bio, cert) == 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string ToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  WH_CHECK(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  WH_CHECK(extension != nullptr) << "extension " << nid << " = " << value;
  WH_CHECK(X509_add_ext(cert, extension, -1) == 1);
  X509_EXTENSION_free(extension);
}

std::atomic<long> next_serial{1000};

// A certificate for `key` named `common_name`, not yet signed.
X509* NewCertificate(EVP_PKEY* key, std::string_view common_name, absl::Duration lifetime) {
  X509* cert = X509_new();
  WH_CHECK(cert != nullptr);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), next_serial++);
  const long seconds = static_cast<long>(absl::ToInt64Seconds(lifetime));
  // An expired certificate starts two lifetimes ago.
  X509_gmtime_adj(X509_getm_notBefore(cert), seconds < 0 ? 2 * seconds : -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), seconds);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_UTF8,
      reinterpret_cast<const unsigned char*>(std::string(common_name).c_str()), -1, -1, 0);
  return cert;
}

}  // namespace

TestCa TestCa::Create(std::string_view common_name) {
  TestCa ca;
  ca.key_ = NewKey();
  X509* cert = NewCertificate(ca.key_.get(), common_name, absl::Hours(24));
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  AddExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(cert, cert, NID_subject_key_identifier, "hash");
  WH_CHECK(X509_sign(cert, ca.key_.get(), EVP_sha256()) > 0);
  ca.cert_.reset(cert, X509_free);
  ca.cert_pem_ = ToPem(cert);
  return ca;
}

TestPair TestCa::IssueServer(absl::Duration lifetime) const {
  return Issue("127.0.0.1", /*server=*/true, lifetime);
}

TestPair TestCa::IssueClient(std::string_view common_name) const {
  return Issue(common_name, /*server=*/false, absl::Hours(24));
}

TestPair TestCa::Issue(std::string_view common_name, bool server, absl::Duration lifetime) const {
  std::shared_ptr<EVP_PKEY> key = NewKey();
  X509* cert = NewCertificate(key.get(), common_name, lifetime);
  X509_set_issuer_name(cert, X509_get_subject_name(cert_.get()));
  AddExtension(cert, cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert, cert_.get(), NID_key_usage, "critical,digitalSignature");
  AddExtension(cert, cert_.get(), NID_authority_key_identifier, "keyid");
  if (server) {
    AddExtension(cert, cert_.get(), NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    AddExtension(cert, cert_.get(), NID_ext_key_usage, "serverAuth");
  } else {
    AddExtension(cert, cert_.get(), NID_ext_key_usage, "clientAuth");
  }
  WH_CHECK(X509_sign(cert, key_.get(), EVP_sha256()) > 0);
  TestPair pair{ToPem(cert), ToPem(key.get())};
  X509_free(cert);
  return pair;
}

std::string WriteTestFile(std::string_view name, std::string_view content) {
  static const std::string* dir = [] {
    const char* base = std::getenv("TEST_TMPDIR");
    if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/wirehub-test-pki-XXXXXX");
    WH_CHECK(mkdtemp(pattern.data()) != nullptr) << "mkdtemp " << pattern;
    return new std::string(pattern);
  }();
  std::string path = absl::StrCat(*dir, "/", std::string(name));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  WH_CHECK(out.good()) << "cannot write " << path;
  return path;
}

}  // namespace wirehub::control::testing
