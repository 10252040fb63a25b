#include "common/token_key.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace wirehub {
namespace {

constexpr size_t kHs256Bytes = 32;
// RFC 7518 section 3.3: RSA keys of 2048 bits or more.
constexpr int kMinRsaBits = 2048;
// RFC 7518 section 3.5: the PSS salt is as long as the hash output.
constexpr int kPs256SaltBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};

// OpenSSL leaves errors on the calling thread's queue when a parse or a
// verification fails; TLS code on the same thread (lws on the edge loop)
// reads that queue, so every exit of a function here leaves it empty.
struct ClearOpenSslErrors {
  ~ClearOpenSslErrors() { ERR_clear_error(); }
};

std::shared_ptr<EVP_PKEY> SharePkey(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, [](EVP_PKEY* k) { EVP_PKEY_free(k); });
}

std::unique_ptr<BIO, BioFree> MemoryBio(std::string_view text) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The digest of an algorithm, or nullptr for EdDSA (which hashes itself).
const EVP_MD* DigestOf(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kHs256:
    case JwsAlgorithm::kRs256:
    case JwsAlgorithm::kPs256:
    case JwsAlgorithm::kEs256:
      return EVP_sha256();
    case JwsAlgorithm::kRs384:
    case JwsAlgorithm::kEs384:
      return EVP_sha384();
    case JwsAlgorithm::kRs512:
      return EVP_sha512();
    case JwsAlgorithm::kEdDsa:
      return nullptr;
  }
  return nullptr;
}

// What a key is, for error messages: "an RSA key of 1024 bits", ...
std::string DescribeKey(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
    return absl::StrCat("an RSA key of ", EVP_PKEY_get_bits(key), " bits");
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    size_t length = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), &length) != 1) {
      return "an EC key on an unnamed curve";
    }
    return absl::StrCat("an EC key on ", group);
  }
  if (EVP_PKEY_is_a(key, "ED25519")) return "an Ed25519 key";
  const char* type = EVP_PKEY_get0_type_name(key);
  return absl::StrCat("a key of type ", type == nullptr ? "unknown" : type);
}

bool IsOnCurve(const EVP_PKEY* key, std::string_view curve) {
  if (!EVP_PKEY_is_a(key, "EC")) return false;
  char group[64] = {0};
  size_t length = 0;
  return EVP_PKEY_get_group_name(key, group, sizeof(group), &length) == 1 &&
         std::string_view(group, length) == curve;
}

// r||s as JWS carries it (RFC 7518 section 3.4) to the DER SEQUENCE OpenSSL
// verifies; nullopt when the length is not exactly twice `coordinate_bytes`.
std::optional<std::string> RawEcdsaToDer(std::string_view raw, size_t coordinate_bytes) {
  if (raw.size() != 2 * coordinate_bytes) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, static_cast<int>(coordinate_bytes), nullptr);
  BIGNUM* s = BN_bin2bn(bytes + coordinate_bytes, static_cast<int>(coordinate_bytes), nullptr);
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || sig == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  // ECDSA_SIG_set0 took r and s.
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(length), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) return std::nullopt;
  return der;
}

// Ed25519 public keys (y, little-endian, sign bit cleared) of small order:
// with one of them anybody can make signatures that verify. The identity
// (y = 1), the point of order 2 (y = p - 1), those of order 4 (y = 0) and of
// order 8 (y = Y8 and p - Y8). Encodings with y >= p are not canonical
// (RFC 8032 section 5.1.3) and refused as well.
constexpr unsigned char kEd25519P[32] = {
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
constexpr unsigned char kEd25519SmallOrder[][32] = {
    {0x00},
    {0x01},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
};

// True when the little-endian `a` is at least the little-endian `b`.
bool LittleEndianAtLeast(const unsigned char* a, const unsigned char* b, size_t size) {
  for (size_t i = size; i-- > 0;) {
    if (a[i] != b[i]) return a[i] > b[i];
  }
  return true;
}

// Checks what CheckKeyFitsAlgorithm() does not: that the key itself is
// sound. RSA and EC keys go through OpenSSL's public key check (an RSA
// exponent of 65537 or more and odd, an odd modulus without small factors;
// an EC point on its curve); Ed25519 keys must not be of small order.
absl::Status CheckPublicKey(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) {
    unsigned char y[32];
    size_t length = sizeof(y);
    if (EVP_PKEY_get_raw_public_key(key, y, &length) != 1 || length != sizeof(y)) {
      return absl::InvalidArgumentError("cannot read the Ed25519 public key");
    }
    y[31] &= 0x7f;  // The sign of x.
    bool weak = LittleEndianAtLeast(y, kEd25519P, sizeof(y));
    for (const auto& small : kEd25519SmallOrder) {
      weak = weak || std::memcmp(y, small, sizeof(y)) == 0;
    }
    if (weak) {
      return absl::InvalidArgumentError(
          "the Ed25519 public key is of small order or not canonical: it would verify forged "
          "signatures");
    }
    return absl::OkStatus();
  }
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (ctx == nullptr || EVP_PKEY_public_check(ctx.get()) != 1) {
    return absl::InvalidArgumentError(
        "the public key fails OpenSSL's checks (an RSA exponent below 65537 or even, a modulus "
        "with small factors, an EC point off its curve)");
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name) {
  static constexpr std::pair<std::string_view, JwsAlgorithm> kNames[] = {
      {"HS256", JwsAlgorithm::kHs256}, {"RS256", JwsAlgorithm::kRs256},
      {"RS384", JwsAlgorithm::kRs384}, {"RS512", JwsAlgorithm::kRs512},
      {"PS256", JwsAlgorithm::kPs256}, {"ES256", JwsAlgorithm::kEs256},
      {"ES384", JwsAlgorithm::kEs384}, {"EdDSA", JwsAlgorithm::kEdDsa},
  };
  for (const auto& [known, algorithm] : kNames) {
    if (name == known) return algorithm;
  }
  return std::nullopt;
}

std::string_view JwsAlgorithmName(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kHs256:
      return "HS256";
    case JwsAlgorithm::kRs256:
      return "RS256";
    case JwsAlgorithm::kRs384:
      return "RS384";
    case JwsAlgorithm::kRs512:
      return "RS512";
    case JwsAlgorithm::kPs256:
      return "PS256";
    case JwsAlgorithm::kEs256:
      return "ES256";
    case JwsAlgorithm::kEs384:
      return "ES384";
    case JwsAlgorithm::kEdDsa:
      return "EdDSA";
  }
  return "unknown";
}

absl::Status CheckKeyFitsAlgorithm(JwsAlgorithm algorithm, const EVP_PKEY* key) {
  const std::string_view name = JwsAlgorithmName(algorithm);
  auto misfit = [&](std::string_view needs) {
    return absl::InvalidArgumentError(absl::StrCat("algorithm ", AsAbsl(name), " needs ",
                                                   AsAbsl(needs), ", got ", DescribeKey(key)));
  };
  switch (algorithm) {
    case JwsAlgorithm::kHs256:
      return absl::InvalidArgumentError(
          absl::StrCat("algorithm HS256 needs an HMAC secret, got ", DescribeKey(key)));
    case JwsAlgorithm::kRs256:
    case JwsAlgorithm::kRs384:
    case JwsAlgorithm::kRs512:
    case JwsAlgorithm::kPs256:
      // Only plain RSA keys: an RSA-PSS key carries its own restrictions,
      // which could disagree with the algorithm.
      if (!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < kMinRsaBits) {
        return misfit("an RSA key of at least 2048 bits");
      }
      return absl::OkStatus();
    case JwsAlgorithm::kEs256:
      if (!IsOnCurve(key, "prime256v1")) return misfit("an EC key on P-256 (prime256v1)");
      return absl::OkStatus();
    case JwsAlgorithm::kEs384:
      if (!IsOnCurve(key, "secp384r1")) return misfit("an EC key on P-384 (secp384r1)");
      return absl::OkStatus();
    case JwsAlgorithm::kEdDsa:
      if (!EVP_PKEY_is_a(key, "ED25519")) return misfit("an Ed25519 key");
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown algorithm");
}

TokenKey::TokenKey(std::string kid, JwsAlgorithm algorithm, std::string hmac_secret,
                   std::shared_ptr<EVP_PKEY> public_key)
    : kid_(std::move(kid)),
      algorithm_(algorithm),
      hmac_secret_(std::move(hmac_secret)),
      public_key_(std::move(public_key)) {}

absl::StatusOr<TokenKey> TokenKey::FromHmacSecret(std::string kid, std::string secret) {
  if (secret.empty()) return absl::InvalidArgumentError("the HS256 secret is empty");
  return TokenKey(std::move(kid), JwsAlgorithm::kHs256, std::move(secret), nullptr);
}

absl::StatusOr<TokenKey> TokenKey::FromPublicKey(std::string kid, JwsAlgorithm algorithm,
                                                 EVP_PKEY* key) {
  ClearOpenSslErrors clear_errors;
  if (absl::Status fits = CheckKeyFitsAlgorithm(algorithm, key); !fits.ok()) return fits;
  if (absl::Status sound = CheckPublicKey(key); !sound.ok()) return sound;
  if (EVP_PKEY_up_ref(key) != 1) return absl::InternalError("EVP_PKEY_up_ref failed");
  return TokenKey(std::move(kid), algorithm, std::string(), SharePkey(key));
}

absl::StatusOr<TokenKey> TokenKey::FromPublicKeyPem(std::string kid, JwsAlgorithm algorithm,
                                                    std::string_view pem) {
  ClearOpenSslErrors clear_errors;
  if (algorithm == JwsAlgorithm::kHs256) {
    return absl::InvalidArgumentError(
        "algorithm HS256 needs an HMAC secret, not a public key file");
  }
  EVP_PKEY* raw = nullptr;
  if (std::unique_ptr<BIO, BioFree> bio = MemoryBio(pem); bio != nullptr) {
    raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  }
  if (raw == nullptr) {
    std::unique_ptr<BIO, BioFree> bio = MemoryBio(pem);
    std::unique_ptr<X509, X509Free> cert(
        bio == nullptr ? nullptr : PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert != nullptr) raw = X509_get_pubkey(cert.get());
  }
  if (raw == nullptr) {
    return absl::InvalidArgumentError(
        "holds no PEM public key (BEGIN PUBLIC KEY) or certificate (BEGIN CERTIFICATE)");
  }
  std::shared_ptr<EVP_PKEY> key = SharePkey(raw);
  if (absl::Status fits = CheckKeyFitsAlgorithm(algorithm, key.get()); !fits.ok()) return fits;
  if (absl::Status sound = CheckPublicKey(key.get()); !sound.ok()) return sound;
  return TokenKey(std::move(kid), algorithm, std::string(), std::move(key));
}

bool TokenKey::VerifySignature(std::string_view signing_input, std::string_view signature) const {
  ClearOpenSslErrors clear_errors;
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (algorithm_ == JwsAlgorithm::kHs256) {
    if (signature.size() != kHs256Bytes) return false;
    std::array<unsigned char, kHs256Bytes> mac{};
    unsigned int mac_length = 0;
    if (HMAC(EVP_sha256(), hmac_secret_.data(), static_cast<int>(hmac_secret_.size()), data,
             signing_input.size(), mac.data(), &mac_length) == nullptr ||
        mac_length != kHs256Bytes) {
      return false;
    }
    return CRYPTO_memcmp(mac.data(), signature.data(), kHs256Bytes) == 0;
  }
  // Never reached with a null key: only HS256 keys are built without one.
  if (public_key_ == nullptr) return false;

  std::string der;
  std::string_view checked = signature;
  if (algorithm_ == JwsAlgorithm::kEs256 || algorithm_ == JwsAlgorithm::kEs384) {
    std::optional<std::string> converted =
        RawEcdsaToDer(signature, algorithm_ == JwsAlgorithm::kEs256 ? 32 : 48);
    if (!converted.has_value()) return false;
    der = *std::move(converted);
    checked = der;
  } else if (algorithm_ == JwsAlgorithm::kEdDsa && signature.size() != kEd25519SignatureBytes) {
    return false;
  }

  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return false;
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // Owned by ctx.
  if (EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, DigestOf(algorithm_), nullptr,
                           public_key_.get()) != 1) {
    return false;
  }
  if (algorithm_ == JwsAlgorithm::kPs256 &&
      (EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md(pkey_ctx, EVP_sha256()) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, kPs256SaltBytes) != 1)) {
    return false;
  }
  // RS* keep OpenSSL's default RSA padding, PKCS #1 v1.5.
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(checked.data()),
                          checked.size(), data, signing_input.size()) == 1;
}

}  // namespace wirehub
