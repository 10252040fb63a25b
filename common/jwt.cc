#include "common/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "simdjson.h"

namespace wirehub {
namespace {

// Tokens longer than this are refused before any decoding or HMAC work.
constexpr size_t kMaxTokenBytes = 8 * 1024;
constexpr size_t kHs256Bytes = 32;

// Debian's abseil is built with its own absl::string_view, which does not
// convert implicitly from std::string_view.
absl::string_view AsAbsl(std::string_view text) { return {text.data(), text.size()}; }

constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Maps one base64url character to its 6-bit value, or -1.
int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::array<unsigned char, kHs256Bytes> HmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, kHs256Bytes> mac{};
  // OpenSSL's HMAC() refuses a null key pointer, so an empty key still gets a
  // valid (zero-length) buffer.
  static const unsigned char kEmptyKey[1] = {0};
  const void* key_ptr = key.empty() ? static_cast<const void*>(kEmptyKey) : key.data();
  unsigned int mac_len = 0;
  const unsigned char* ok =
      HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &mac_len);
  WH_CHECK(ok != nullptr && mac_len == kHs256Bytes) << "HMAC-SHA256 failed";
  return mac;
}

// Appends `text` as a JSON string literal (with quotes). Bytes >= 0x80 are
// passed through, so `text` must be UTF-8 for the result to be valid JSON.
void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

absl::Status Malformed(std::string_view what) {
  return absl::UnauthenticatedError(absl::StrCat("malformed token: ", AsAbsl(what)));
}

// Reads a NumericDate (RFC 7519 section 2): any JSON number of seconds since
// the epoch, integral or not. Returns nullopt for non-numbers.
std::optional<absl::Time> NumericDate(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::INT64:
      return absl::FromUnixSeconds(value.get_int64().value_unsafe());
    case simdjson::dom::element_type::UINT64:
      // Only values above INT64_MAX are typed UINT64; they are so far in the
      // future that the infinite future is an exact enough answer.
      return absl::InfiniteFuture();
    case simdjson::dom::element_type::DOUBLE: {
      const double seconds = value.get_double().value_unsafe();
      // simdjson never yields NaN or infinities, but stay defensive.
      if (!std::isfinite(seconds)) return std::nullopt;
      return absl::UnixEpoch() + absl::Seconds(seconds);
    }
    default:
      return std::nullopt;
  }
}

// Checks the JOSE header. Duplicate members that matter are refused so that
// no two JSON readers can disagree about what this header says.
absl::Status CheckHeader(simdjson::dom::element header) {
  simdjson::dom::object object;
  if (header.get_object().get(object) != simdjson::SUCCESS) {
    return Malformed("header is not a JSON object");
  }
  bool saw_alg = false;
  bool saw_typ = false;
  for (simdjson::dom::key_value_pair field : object) {
    if (field.key == "alg") {
      if (saw_alg) return Malformed("duplicate alg in header");
      saw_alg = true;
      std::string_view alg;
      if (field.value.get_string().get(alg) != simdjson::SUCCESS || alg != "HS256") {
        // The offered algorithm is not echoed: it is attacker-controlled text.
        return absl::UnauthenticatedError("token algorithm must be HS256");
      }
    } else if (field.key == "typ") {
      if (saw_typ) return Malformed("duplicate typ in header");
      saw_typ = true;
      std::string_view typ;
      if (field.value.get_string().get(typ) != simdjson::SUCCESS ||
          !absl::EqualsIgnoreCase(AsAbsl(typ), "JWT")) {
        return absl::UnauthenticatedError("token typ must be JWT");
      }
    } else if (field.key == "crit") {
      // RFC 7515 section 4.1.11: critical extensions must be understood, and
      // this verifier understands none.
      return absl::UnauthenticatedError("token header has unsupported crit extensions");
    }
  }
  if (!saw_alg) return Malformed("header has no alg");
  return absl::OkStatus();
}

// The registered claims read from the payload, before time checks.
struct RawClaims {
  std::optional<std::string_view> sub;
  std::optional<absl::Time> exp;
  std::optional<absl::Time> nbf;
  std::optional<absl::Time> iat;
};

// Reads one optional NumericDate claim into `slot`, refusing duplicates and
// non-numbers.
absl::Status ReadDateClaim(std::string_view name, simdjson::dom::element value,
                           std::optional<absl::Time>& slot, bool& seen) {
  if (seen) return Malformed(absl::StrCat("duplicate ", AsAbsl(name), " claim"));
  seen = true;
  std::optional<absl::Time> time = NumericDate(value);
  if (!time.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("token ", AsAbsl(name), " claim is not a number"));
  }
  slot = *time;
  return absl::OkStatus();
}

absl::StatusOr<RawClaims> ReadClaims(simdjson::dom::element payload) {
  simdjson::dom::object object;
  if (payload.get_object().get(object) != simdjson::SUCCESS) {
    return Malformed("payload is not a JSON object");
  }
  RawClaims claims;
  bool saw_sub = false, saw_exp = false, saw_nbf = false, saw_iat = false;
  for (simdjson::dom::key_value_pair field : object) {
    absl::Status status;
    if (field.key == "sub") {
      if (saw_sub) return Malformed("duplicate sub claim");
      saw_sub = true;
      std::string_view sub;
      if (field.value.get_string().get(sub) != simdjson::SUCCESS) {
        return absl::UnauthenticatedError("token sub claim is not a string");
      }
      claims.sub = sub;
    } else if (field.key == "exp") {
      status = ReadDateClaim("exp", field.value, claims.exp, saw_exp);
    } else if (field.key == "nbf") {
      status = ReadDateClaim("nbf", field.value, claims.nbf, saw_nbf);
    } else if (field.key == "iat") {
      status = ReadDateClaim("iat", field.value, claims.iat, saw_iat);
    }
    if (!status.ok()) return status;
  }
  if (!claims.sub.has_value()) return absl::UnauthenticatedError("token has no sub claim");
  if (!claims.exp.has_value()) return absl::UnauthenticatedError("token has no exp claim");
  return claims;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t group = (static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                           (static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                           static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out.push_back(kBase64UrlAlphabet[(group >> 18) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(group >> 12) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(group >> 6) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[group & 0x3f]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    out.push_back(kBase64UrlAlphabet[(group >> 18) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(group >> 12) & 0x3f]);
  } else if (rest == 2) {
    const uint32_t group = (static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                           (static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8);
    out.push_back(kBase64UrlAlphabet[(group >> 18) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(group >> 12) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(group >> 6) & 0x3f]);
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  // A final group of one character carries only 6 bits: never a whole byte.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    const int value = Base64UrlValue(c);
    if (value < 0) return std::nullopt;  // Includes '=' padding.
    bits = (bits << 6) | static_cast<uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xff));
    }
  }
  // Leftover bits (2 or 4) must be zero, so each byte string has exactly one
  // encoding; otherwise a signature could be re-encoded into a new token.
  if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return out;
}

std::string SignHs256Raw(std::string_view secret, std::string_view header_json,
                         std::string_view payload_json) {
  std::string token =
      absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload_json));
  const std::array<unsigned char, kHs256Bytes> mac = HmacSha256(secret, token);
  token.push_back('.');
  token.append(
      Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size())));
  return token;
}

std::string MintHs256Token(std::string_view secret, std::string_view subject, absl::Time issued_at,
                           absl::Time expires_at) {
  std::string payload = "{\"sub\":";
  AppendJsonString(payload, subject);
  absl::StrAppend(&payload, ",\"iat\":", absl::ToUnixSeconds(issued_at),
                  ",\"exp\":", absl::ToUnixSeconds(expires_at), "}");
  return SignHs256Raw(secret, R"({"alg":"HS256","typ":"JWT"})", payload);
}

JwtVerifier::JwtVerifier(std::string secret) : secret_(std::move(secret)) {}

absl::StatusOr<TokenClaims> JwtVerifier::Verify(std::string_view token, absl::Time now,
                                                absl::Duration leeway) const {
  if (secret_.empty()) {
    // Anyone can compute an HMAC with an empty key, so accept nothing.
    return absl::UnauthenticatedError("no token secret configured");
  }
  if (leeway < absl::ZeroDuration()) leeway = absl::ZeroDuration();
  if (token.empty()) return Malformed("empty token");
  if (token.size() > kMaxTokenBytes) {
    return Malformed(absl::StrCat("longer than ", kMaxTokenBytes, " bytes"));
  }

  const size_t first_dot = token.find('.');
  const size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return Malformed("expected three dot-separated parts");
  }
  const std::string_view header_b64 = token.substr(0, first_dot);
  const std::string_view payload_b64 = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_b64 = token.substr(second_dot + 1);
  const std::string_view signing_input = token.substr(0, second_dot);

  // The header is checked before the signature so that an unsigned or
  // differently signed token is reported as a wrong algorithm.
  std::optional<std::string> header_json = Base64UrlDecode(header_b64);
  if (!header_json.has_value()) return Malformed("header is not base64url");
  simdjson::dom::parser parser;
  simdjson::dom::element header;
  if (parser.parse(header_json->data(), header_json->size()).get(header) != simdjson::SUCCESS) {
    return Malformed("header is not valid JSON");
  }
  if (absl::Status status = CheckHeader(header); !status.ok()) return status;

  std::optional<std::string> signature = Base64UrlDecode(signature_b64);
  if (!signature.has_value()) return Malformed("signature is not base64url");
  if (signature->size() != kHs256Bytes) {
    return absl::UnauthenticatedError("token signature is invalid");
  }
  const std::array<unsigned char, kHs256Bytes> expected = HmacSha256(secret_, signing_input);
  if (CRYPTO_memcmp(expected.data(), signature->data(), kHs256Bytes) != 0) {
    return absl::UnauthenticatedError("token signature is invalid");
  }

  // Everything below is covered by the signature, i.e. written by whoever
  // holds the secret, but is still checked as untrusted input.
  std::optional<std::string> payload_json = Base64UrlDecode(payload_b64);
  if (!payload_json.has_value()) return Malformed("payload is not base64url");
  simdjson::dom::element payload;
  if (parser.parse(payload_json->data(), payload_json->size()).get(payload) != simdjson::SUCCESS) {
    return Malformed("payload is not valid JSON");
  }
  absl::StatusOr<RawClaims> raw = ReadClaims(payload);
  if (!raw.ok()) return raw.status();

  // Only a token that is well-formed in every other way is "expired".
  if (*raw->exp <= now - leeway) return absl::DeadlineExceededError("token expired");
  if (raw->nbf.has_value() && *raw->nbf > now + leeway) {
    return absl::UnauthenticatedError("token not yet valid (nbf is in the future)");
  }

  TokenClaims claims;
  claims.subject = std::string(*raw->sub);
  claims.expires_at = *raw->exp;
  claims.issued_at = raw->iat;
  claims.not_before = raw->nbf;
  // `raw->sub` points into `parser`, which is still alive here.
  claims.payload_json = std::move(*payload_json);
  return claims;
}

}  // namespace wirehub
