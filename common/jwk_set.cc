#include "common/jwk_set.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/jwt.h"
#include "common/status_macros.h"
#include "common/token_key.h"
#include "simdjson.h"

namespace wirehub {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
// OpenSSL leaves errors on the calling thread's queue when a parse or a
// verification fails; TLS code on the same thread (lws on the edge loop)
// reads that queue, so every exit of a function here leaves it empty.
struct ClearOpenSslErrors {
  ~ClearOpenSslErrors() { ERR_clear_error(); }
};
using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using UniqueBn = std::unique_ptr<BIGNUM, BnFree>;

// What the error messages call a JWK: by kid when it has one.
std::string JwkName(size_t index, std::string_view kid) {
  if (kid.empty()) return absl::StrCat("keys[", index, "]");
  return absl::StrCat("keys[", index, "] (kid \"", AsAbsl(kid), "\")");
}

// A string member, or nullopt when absent; InvalidArgument when not a string.
absl::StatusOr<std::optional<std::string_view>> OptionalString(simdjson::dom::object jwk,
                                                               std::string_view member) {
  simdjson::dom::element value;
  if (jwk[member].get(value) != simdjson::SUCCESS) return std::nullopt;
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(member), " is not a string"));
  }
  return std::optional<std::string_view>(text);
}

// A required base64url member, decoded.
absl::StatusOr<std::string> Base64Member(simdjson::dom::object jwk, std::string_view member) {
  ASSIGN_OR_RETURN(std::optional<std::string_view> text, OptionalString(jwk, member));
  if (!text.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("has no ", AsAbsl(member)));
  }
  std::optional<std::string> bytes = Base64UrlDecode(*text);
  if (!bytes.has_value() || bytes->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(member), " is not non-empty base64url"));
  }
  return *std::move(bytes);
}

UniqueBn Bignum(const std::string& bytes) {
  return UniqueBn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()), nullptr));
}

// Builds a public key of `type` ("RSA", "EC") from OSSL_PARAMs and checks it
// (for EC: that the point is on the curve).
absl::StatusOr<UniquePkey> KeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError("holds no valid public key");
  }
  UniquePkey key(raw);
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError("holds no valid public key");
  }
  return key;
}

absl::StatusOr<UniquePkey> RsaKey(simdjson::dom::object jwk) {
  ASSIGN_OR_RETURN(std::string n, Base64Member(jwk, "n"));
  ASSIGN_OR_RETURN(std::string e, Base64Member(jwk, "e"));
  UniqueBn modulus = Bignum(n);
  UniqueBn exponent = Bignum(e);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (modulus == nullptr || exponent == nullptr || bld == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
    return absl::InternalError("cannot build RSA parameters");
  }
  return KeyFromParams("RSA", bld.get());
}

absl::StatusOr<UniquePkey> EcKey(simdjson::dom::object jwk, const char* group,
                                 size_t coordinate_bytes) {
  ASSIGN_OR_RETURN(std::string x, Base64Member(jwk, "x"));
  ASSIGN_OR_RETURN(std::string y, Base64Member(jwk, "y"));
  // RFC 7518 section 6.2.1.2: x and y are the full size of a coordinate.
  if (x.size() != coordinate_bytes || y.size() != coordinate_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("x and y must be ", coordinate_bytes, " bytes each"));
  }
  std::string point = absl::StrCat("\x04", x, y);  // Uncompressed SEC 1 point.
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::InternalError("cannot build EC parameters");
  }
  return KeyFromParams("EC", bld.get());
}

absl::StatusOr<UniquePkey> Ed25519Key(simdjson::dom::object jwk) {
  ASSIGN_OR_RETURN(std::string x, Base64Member(jwk, "x"));
  if (x.size() != 32) return absl::InvalidArgumentError("x must be 32 bytes");
  UniquePkey key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  if (key == nullptr) return absl::InvalidArgumentError("holds no valid public key");
  return key;
}

// Either a key for `kid`, or nullopt with `skip_reason` set.
struct ParsedJwk {
  std::optional<TokenKey> key;
  std::string skip_reason;
};

absl::StatusOr<ParsedJwk> ParseJwk(simdjson::dom::object jwk, std::string_view kid) {
  ParsedJwk out;
  ASSIGN_OR_RETURN(std::optional<std::string_view> use, OptionalString(jwk, "use"));
  if (use.has_value() && *use != "sig") {
    out.skip_reason = "its use is not \"sig\"";
    return out;
  }
  ASSIGN_OR_RETURN(std::optional<std::string_view> kty, OptionalString(jwk, "kty"));
  if (!kty.has_value()) return absl::InvalidArgumentError("has no kty");
  ASSIGN_OR_RETURN(std::optional<std::string_view> crv, OptionalString(jwk, "crv"));
  ASSIGN_OR_RETURN(std::optional<std::string_view> alg_name, OptionalString(jwk, "alg"));

  // The key's type decides the default algorithm; `alg` may only narrow it.
  JwsAlgorithm default_algorithm;
  if (*kty == "RSA") {
    default_algorithm = JwsAlgorithm::kRs256;
  } else if (*kty == "EC" && crv == "P-256") {
    default_algorithm = JwsAlgorithm::kEs256;
  } else if (*kty == "EC" && crv == "P-384") {
    default_algorithm = JwsAlgorithm::kEs384;
  } else if (*kty == "OKP" && crv == "Ed25519") {
    default_algorithm = JwsAlgorithm::kEdDsa;
  } else if (*kty == "oct") {
    default_algorithm = JwsAlgorithm::kHs256;
  } else {
    out.skip_reason = absl::StrCat("key type ", AsAbsl(*kty),
                                   crv.has_value() ? absl::StrCat(" on curve ", AsAbsl(*crv)) : "",
                                   " is not supported");
    return out;
  }
  JwsAlgorithm algorithm = default_algorithm;
  if (alg_name.has_value()) {
    std::optional<JwsAlgorithm> parsed = ParseJwsAlgorithm(*alg_name);
    if (!parsed.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("alg ", AsAbsl(*alg_name), " is not supported"));
    }
    algorithm = *parsed;
  }
  if (*kty == "oct") {
    if (algorithm != JwsAlgorithm::kHs256) {
      return absl::InvalidArgumentError(absl::StrCat("alg ", AsAbsl(JwsAlgorithmName(algorithm)),
                                                     " does not fit a kty oct (HMAC) key"));
    }
    ASSIGN_OR_RETURN(std::string secret, Base64Member(jwk, "k"));
    ASSIGN_OR_RETURN(TokenKey key, TokenKey::FromHmacSecret(std::string(kid), std::move(secret)));
    out.key = std::move(key);
    return out;
  }
  UniquePkey pkey;
  if (*kty == "RSA") {
    ASSIGN_OR_RETURN(pkey, RsaKey(jwk));
  } else if (*kty == "OKP") {
    ASSIGN_OR_RETURN(pkey, Ed25519Key(jwk));
  } else if (default_algorithm == JwsAlgorithm::kEs256) {
    ASSIGN_OR_RETURN(pkey, EcKey(jwk, "prime256v1", 32));
  } else {
    ASSIGN_OR_RETURN(pkey, EcKey(jwk, "secp384r1", 48));
  }
  ASSIGN_OR_RETURN(TokenKey key, TokenKey::FromPublicKey(std::string(kid), algorithm, pkey.get()));
  out.key = std::move(key);
  return out;
}

}  // namespace

absl::StatusOr<std::vector<TokenKey>> ParseJwkSet(std::string_view json,
                                                  std::string_view source_name,
                                                  std::vector<std::string>* warnings) {
  ClearOpenSslErrors clear_errors;
  auto invalid = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source_name), ": ", AsAbsl(what)));
  };
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    return invalid("not valid JSON");
  }
  simdjson::dom::array keys;
  if (root["keys"].get_array().get(keys) != simdjson::SUCCESS) {
    return invalid("not a JWK Set (an object with a \"keys\" array)");
  }
  std::vector<TokenKey> out;
  std::set<std::string, std::less<>> kids;
  size_t index = 0;
  for (simdjson::dom::element entry : keys) {
    const size_t this_index = index++;
    simdjson::dom::object jwk;
    if (entry.get_object().get(jwk) != simdjson::SUCCESS) {
      return invalid(absl::StrCat(JwkName(this_index, ""), " is not a JSON object"));
    }
    absl::StatusOr<std::optional<std::string_view>> kid = OptionalString(jwk, "kid");
    if (!kid.ok()) {
      return invalid(absl::StrCat(JwkName(this_index, ""), ": ", kid.status().message()));
    }
    if (!kid->has_value() || (*kid)->empty()) {
      if (warnings != nullptr) {
        warnings->push_back(absl::StrCat(AsAbsl(source_name), ": ", JwkName(this_index, ""),
                                         " skipped: it has no kid"));
      }
      continue;
    }
    const std::string name = JwkName(this_index, **kid);
    absl::StatusOr<ParsedJwk> parsed = ParseJwk(jwk, **kid);
    if (!parsed.ok()) return invalid(absl::StrCat(name, ": ", parsed.status().message()));
    if (!parsed->key.has_value()) {
      if (warnings != nullptr) {
        warnings->push_back(
            absl::StrCat(AsAbsl(source_name), ": ", name, " skipped: ", parsed->skip_reason));
      }
      continue;
    }
    if (!kids.insert(std::string(**kid)).second) {
      return invalid(absl::StrCat(name, ": the kid is used twice"));
    }
    out.push_back(*std::move(parsed->key));
  }
  return out;
}

}  // namespace wirehub
