#include "tools/bench/bench_certificates.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

X509* ReadCertificate(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) return nullptr;
  X509* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  return cert;
}

EVP_PKEY* ReadKey(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) return nullptr;
  EVP_PKEY* key = PEM_read_PrivateKey(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  return key;
}

// Whether `cert` verifies against `ca` for IP address `ip` as a TLS server.
bool Verifies(X509* cert, X509* ca, const char* ip) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* context = X509_STORE_CTX_new();
  X509_STORE_CTX_init(context, store, cert, nullptr);
  X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set1_ip_asc(X509_STORE_CTX_get0_param(context), ip);
  bool ok = X509_verify_cert(context) == 1;
  X509_STORE_CTX_free(context);
  X509_STORE_free(store);
  return ok;
}

TEST(BenchCertificatesTest, TheServerCertificateVerifiesFor127001AgainstItsCaOnly) {
  std::string dir = ::testing::TempDir() + "/bench-certificates";
  mkdir(dir.c_str(), 0700);
  absl::StatusOr<BenchCertificates> first = GenerateBenchCertificates(dir);
  ASSERT_TRUE(first.ok()) << first.status();
  X509* ca = ReadCertificate(first->ca_file);
  X509* cert = ReadCertificate(first->cert_file);
  EVP_PKEY* key = ReadKey(first->key_file);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cert, nullptr);
  ASSERT_NE(key, nullptr);

  EXPECT_TRUE(Verifies(cert, ca, "127.0.0.1"));
  EXPECT_FALSE(Verifies(cert, ca, "127.0.0.2"));
  EXPECT_EQ(X509_check_private_key(cert, key), 1);
  EXPECT_TRUE(EVP_PKEY_is_a(key, "EC"));
  EXPECT_EQ(EVP_PKEY_get_bits(key), 256);
  struct stat key_stat {};
  ASSERT_EQ(stat(first->key_file.c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);

  // A second call makes a new CA: the first server certificate is not
  // trusted by it.
  std::string other_dir = dir + "/other";
  mkdir(other_dir.c_str(), 0700);
  absl::StatusOr<BenchCertificates> second = GenerateBenchCertificates(other_dir);
  ASSERT_TRUE(second.ok()) << second.status();
  X509* other_ca = ReadCertificate(second->ca_file);
  ASSERT_NE(other_ca, nullptr);
  EXPECT_FALSE(Verifies(cert, other_ca, "127.0.0.1"));

  X509_free(other_ca);
  EVP_PKEY_free(key);
  X509_free(cert);
  X509_free(ca);
}

TEST(BenchCertificatesTest, AMissingDirectoryIsAnError) {
  absl::StatusOr<BenchCertificates> certificates =
      GenerateBenchCertificates(::testing::TempDir() + "/no/such/dir");
  EXPECT_TRUE(absl::IsInternal(certificates.status())) << certificates.status();
}

}  // namespace
}  // namespace wirehub::bench
