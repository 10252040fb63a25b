#include "common/token_signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/json_writer.h"
#include "common/jwt.h"

namespace wirehub {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
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

const EVP_MD* DigestOf(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kRs384:
    case JwsAlgorithm::kEs384:
      return EVP_sha384();
    case JwsAlgorithm::kRs512:
      return EVP_sha512();
    case JwsAlgorithm::kEdDsa:
      return nullptr;  // Ed25519 hashes the message itself.
    default:
      return EVP_sha256();
  }
}

// The DER ECDSA-Sig-Value OpenSSL produces to JWS's r||s, each coordinate
// left-padded to `coordinate_bytes` (RFC 7518 section 3.4).
absl::StatusOr<std::string> DerEcdsaToRaw(std::string_view der, size_t coordinate_bytes) {
  const auto* in = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(
      d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (sig == nullptr) return absl::InternalError("cannot decode the ECDSA signature");
  std::string raw(2 * coordinate_bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, static_cast<int>(coordinate_bytes)) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + coordinate_bytes,
                   static_cast<int>(coordinate_bytes)) < 0) {
    return absl::InternalError("ECDSA signature does not fit the curve size");
  }
  return raw;
}

}  // namespace

TokenSigner::TokenSigner(JwsAlgorithm algorithm, std::string kid, std::string hmac_secret,
                         std::shared_ptr<EVP_PKEY> private_key)
    : algorithm_(algorithm),
      kid_(std::move(kid)),
      hmac_secret_(std::move(hmac_secret)),
      private_key_(std::move(private_key)) {}

absl::StatusOr<TokenSigner> TokenSigner::FromHmacSecret(std::string secret, std::string kid) {
  if (secret.empty()) return absl::InvalidArgumentError("the HS256 secret is empty");
  return TokenSigner(JwsAlgorithm::kHs256, std::move(kid), std::move(secret), nullptr);
}

absl::StatusOr<TokenSigner> TokenSigner::FromPrivateKey(JwsAlgorithm algorithm, EVP_PKEY* key,
                                                        std::string kid) {
  ClearOpenSslErrors clear_errors;
  if (absl::Status fits = CheckKeyFitsAlgorithm(algorithm, key); !fits.ok()) return fits;
  if (EVP_PKEY_up_ref(key) != 1) return absl::InternalError("EVP_PKEY_up_ref failed");
  return TokenSigner(algorithm, std::move(kid), std::string(), SharePkey(key));
}

absl::StatusOr<TokenSigner> TokenSigner::FromPrivateKeyPem(JwsAlgorithm algorithm,
                                                           std::string_view pem, std::string kid) {
  ClearOpenSslErrors clear_errors;
  if (algorithm == JwsAlgorithm::kHs256) {
    return absl::InvalidArgumentError("algorithm HS256 signs with a secret, not a private key");
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  // A null passphrase callback with a null argument would prompt on the
  // terminal for an encrypted key; an empty passphrase fails instead.
  char empty_passphrase[] = "";
  EVP_PKEY* raw = bio == nullptr
                      ? nullptr
                      : PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, empty_passphrase);
  if (raw == nullptr) {
    return absl::InvalidArgumentError("holds no unencrypted PEM private key");
  }
  std::shared_ptr<EVP_PKEY> key = SharePkey(raw);
  if (absl::Status fits = CheckKeyFitsAlgorithm(algorithm, key.get()); !fits.ok()) return fits;
  return TokenSigner(algorithm, std::move(kid), std::string(), std::move(key));
}

absl::StatusOr<std::string> TokenSigner::Signature(std::string_view signing_input) const {
  ClearOpenSslErrors clear_errors;
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (algorithm_ == JwsAlgorithm::kHs256) {
    std::string mac(EVP_MAX_MD_SIZE, '\0');
    unsigned int mac_length = 0;
    if (HMAC(EVP_sha256(), hmac_secret_.data(), static_cast<int>(hmac_secret_.size()), data,
             signing_input.size(), reinterpret_cast<unsigned char*>(mac.data()),
             &mac_length) == nullptr) {
      return absl::InternalError("HMAC-SHA256 failed");
    }
    mac.resize(mac_length);
    return mac;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // Owned by ctx.
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), &pkey_ctx, DigestOf(algorithm_), nullptr,
                                           private_key_.get()) != 1) {
    return absl::InternalError("cannot start signing (is the key a private key?)");
  }
  if (algorithm_ == JwsAlgorithm::kPs256 &&
      (EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md(pkey_ctx, EVP_sha256()) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, 32) != 1)) {
    return absl::InternalError("cannot set the PSS parameters");
  }
  size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, data, signing_input.size()) != 1) {
    return absl::InternalError("signing failed");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data,
                     signing_input.size()) != 1) {
    return absl::InternalError("signing failed");
  }
  signature.resize(length);
  if (algorithm_ == JwsAlgorithm::kEs256) return DerEcdsaToRaw(signature, 32);
  if (algorithm_ == JwsAlgorithm::kEs384) return DerEcdsaToRaw(signature, 48);
  return signature;
}

absl::StatusOr<std::string> TokenSigner::SignRaw(std::string_view header_json,
                                                 std::string_view payload_json) const {
  std::string token =
      absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload_json));
  absl::StatusOr<std::string> signature = Signature(token);
  if (!signature.ok()) return signature.status();
  absl::StrAppend(&token, ".", Base64UrlEncode(*signature));
  return token;
}

absl::StatusOr<std::string> TokenSigner::SignToken(const TokenSpec& spec) const {
  std::string header = absl::StrCat("{\"alg\":\"", AsAbsl(JwsAlgorithmName(algorithm_)), "\"");
  if (!kid_.empty()) {
    header.append(",\"kid\":");
    AppendJsonString(kid_, &header);
  }
  header.append(",\"typ\":\"JWT\"}");
  return SignRaw(header, EncodeTokenPayload(spec));
}

}  // namespace wirehub
