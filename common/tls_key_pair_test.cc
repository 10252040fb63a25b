#include "common/tls_key_pair.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace wirehub {
namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;

KeyPtr NewKey() { return KeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

// A certificate for `key` signed by `issuer_key` (self-signed when it is the
// same key), valid from now for `days` (negative: already expired).
CertPtr NewCert(EVP_PKEY* key, EVP_PKEY* issuer_key, X509* issuer, long serial, int days,
                const char* common_name) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  if (days >= 0) {
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days);
  } else {
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 86400L * (days - 1));
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days);
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509_sign(cert.get(), issuer_key, EVP_sha256());
  return cert;
}

class TlsKeyPairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tls_key_pair_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::vector<X509*>& certs, EVP_PKEY* key) {
    std::string path = (dir_ / name).string();
    FILE* file = std::fopen(path.c_str(), "w");
    for (X509* cert : certs) PEM_write_X509(file, cert);
    if (key != nullptr) PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(file);
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(TlsKeyPairTest, LoadsAPairWithItsChain) {
  KeyPtr ca_key = NewKey();
  CertPtr ca = NewCert(ca_key.get(), ca_key.get(), nullptr, 1, 30, "test ca");
  KeyPtr key = NewKey();
  CertPtr leaf = NewCert(key.get(), ca_key.get(), ca.get(), 0x1234AB, 30, "localhost");
  std::string cert_file = Write("tls.crt", {leaf.get(), ca.get()}, nullptr);
  std::string key_file = Write("tls.key", {}, key.get());

  absl::StatusOr<TlsKeyPair> pair = TlsKeyPair::Load(cert_file, key_file, absl::Now());
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(pair->serial_hex(), "1234AB");
  EXPECT_NE(pair->subject().find("localhost"), std::string::npos);
  EXPECT_GT(pair->not_after(), absl::Now() + absl::Hours(24 * 29));
  EXPECT_EQ(pair->fingerprint().size(), 64u);

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  EXPECT_TRUE(pair->InstallInto(ctx).ok());
  EXPECT_EQ(SSL_CTX_check_private_key(ctx), 1);
  SSL_CTX_free(ctx);

  absl::StatusOr<TlsKeyPair> again = TlsKeyPair::Load(cert_file, key_file, absl::Now());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->SameAs(*pair));
}

TEST_F(TlsKeyPairTest, RefusesAKeyOfAnotherCertificate) {
  KeyPtr key = NewKey();
  KeyPtr other = NewKey();
  CertPtr leaf = NewCert(key.get(), key.get(), nullptr, 7, 30, "localhost");
  std::string cert_file = Write("tls.crt", {leaf.get()}, nullptr);
  std::string key_file = Write("other.key", {}, other.get());
  absl::StatusOr<TlsKeyPair> pair = TlsKeyPair::Load(cert_file, key_file, absl::Now());
  ASSERT_FALSE(pair.ok());
  EXPECT_NE(pair.status().message().find("does not belong"), std::string::npos);
}

TEST_F(TlsKeyPairTest, RefusesExpiredMissingAndGarbage) {
  KeyPtr key = NewKey();
  CertPtr expired = NewCert(key.get(), key.get(), nullptr, 8, -1, "localhost");
  std::string key_file = Write("tls.key", {}, key.get());
  std::string expired_file = Write("expired.crt", {expired.get()}, nullptr);
  absl::StatusOr<TlsKeyPair> pair = TlsKeyPair::Load(expired_file, key_file, absl::Now());
  ASSERT_FALSE(pair.ok());
  EXPECT_NE(pair.status().message().find("expired"), std::string::npos);

  EXPECT_TRUE(absl::IsNotFound(
      TlsKeyPair::Load((dir_ / "missing.crt").string(), key_file, absl::Now()).status()));

  std::string garbage = (dir_ / "garbage.crt").string();
  std::ofstream(garbage) << "not a certificate\n";
  pair = TlsKeyPair::Load(garbage, key_file, absl::Now());
  ASSERT_FALSE(pair.ok());
  EXPECT_NE(pair.status().message().find("no PEM certificate"), std::string::npos);
  // The key file holds no certificate: the error names the file, not its
  // contents.
  pair = TlsKeyPair::Load(key_file, key_file, absl::Now());
  ASSERT_FALSE(pair.ok());
  EXPECT_EQ(pair.status().message().find("PRIVATE"), std::string::npos);
}

}  // namespace
}  // namespace wirehub
