#include "common/testing/test_keys.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/jwt.h"
#include "common/logging.h"

namespace wirehub {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string BnBase64(const EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  WH_CHECK(EVP_PKEY_get_bn_param(key, name, &bn) == 1) << name;
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return Base64UrlEncode(bytes);
}

}  // namespace

TestKeyPair::TestKeyPair(EVP_PKEY* key) : key_(key, [](EVP_PKEY* k) { EVP_PKEY_free(k); }) {}

TestKeyPair TestKeyPair::Generate(JwsAlgorithm algorithm, int rsa_bits) {
  EVP_PKEY* key = nullptr;
  switch (algorithm) {
    case JwsAlgorithm::kRs256:
    case JwsAlgorithm::kRs384:
    case JwsAlgorithm::kRs512:
    case JwsAlgorithm::kPs256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsa_bits));
      break;
    case JwsAlgorithm::kEs256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case JwsAlgorithm::kEs384:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case JwsAlgorithm::kEdDsa:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case JwsAlgorithm::kHs256:
      break;
  }
  WH_CHECK(key != nullptr) << "key generation failed for " << JwsAlgorithmName(algorithm);
  return TestKeyPair(key);
}

std::string TestKeyPair::PublicPem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  WH_CHECK(PEM_write_bio_PUBKEY(bio.get(), key_.get()) == 1);
  return BioText(bio.get());
}

std::string TestKeyPair::PrivatePem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  WH_CHECK(PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
           1);
  return BioText(bio.get());
}

std::string TestKeyPair::CertificatePem() const {
  X509* cert = X509_new();
  WH_CHECK(cert != nullptr);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key_.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("wirehub-test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  const EVP_MD* md = EVP_PKEY_is_a(key_.get(), "ED25519") ? nullptr : EVP_sha256();
  WH_CHECK(X509_sign(cert, key_.get(), md) > 0);
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  WH_CHECK(PEM_write_bio_X509(bio.get(), cert) == 1);
  X509_free(cert);
  return BioText(bio.get());
}

std::string TestKeyPair::JwkMembers() const {
  const EVP_PKEY* key = key_.get();
  if (EVP_PKEY_is_a(key, "RSA")) {
    return absl::StrCat(R"("kty":"RSA","n":")", BnBase64(key, OSSL_PKEY_PARAM_RSA_N), R"(","e":")",
                        BnBase64(key, OSSL_PKEY_PARAM_RSA_E), "\"");
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    unsigned char point[256];
    size_t length = 0;
    WH_CHECK(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                             sizeof(point), &length) == 1);
    WH_CHECK(length % 2 == 1 && point[0] == 0x04);
    const size_t half = length / 2;
    const std::string x(reinterpret_cast<const char*>(point + 1), half);
    const std::string y(reinterpret_cast<const char*>(point + 1 + half), half);
    return absl::StrCat(R"("kty":"EC","crv":")", half == 32 ? "P-256" : "P-384", R"(","x":")",
                        Base64UrlEncode(x), R"(","y":")", Base64UrlEncode(y), "\"");
  }
  unsigned char raw[32];
  size_t length = sizeof(raw);
  WH_CHECK(EVP_PKEY_get_raw_public_key(key, raw, &length) == 1 && length == 32);
  return absl::StrCat(R"("kty":"OKP","crv":"Ed25519","x":")",
                      Base64UrlEncode(std::string(reinterpret_cast<const char*>(raw), 32)), "\"");
}

std::string WriteTempFile(const std::string& name, const std::string& content) {
  static std::atomic<int> counter{0};
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/wirehub-", getpid(), "-", counter++, "-", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  WH_CHECK(out.good()) << "cannot write " << path;
  return path;
}

}  // namespace wirehub
