#include "common/jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/json_writer.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/token_key.h"
#include "common/token_keys.h"
#include "simdjson.h"

namespace wirehub {
namespace {

// Tokens longer than this are refused before any decoding or HMAC work.
constexpr size_t kMaxTokenBytes = 8 * 1024;
constexpr size_t kHs256Bytes = 32;

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

// What the JOSE header says about the key: `alg` and, when present, `kid`.
// The views point into the parser that read the header.
struct HeaderFields {
  std::string_view alg;
  std::optional<std::string_view> kid;
};

// Checks the JOSE header. Duplicate members that matter are refused so that
// no two JSON readers can disagree about what this header says.
absl::StatusOr<HeaderFields> CheckHeader(simdjson::dom::element header) {
  simdjson::dom::object object;
  if (header.get_object().get(object) != simdjson::SUCCESS) {
    return Malformed("header is not a JSON object");
  }
  HeaderFields fields;
  bool saw_alg = false;
  bool saw_typ = false;
  bool saw_kid = false;
  for (simdjson::dom::key_value_pair field : object) {
    if (field.key == "alg") {
      if (saw_alg) return Malformed("duplicate alg in header");
      saw_alg = true;
      if (field.value.get_string().get(fields.alg) != simdjson::SUCCESS) {
        return absl::UnauthenticatedError("token alg is not a string");
      }
    } else if (field.key == "kid") {
      if (saw_kid) return Malformed("duplicate kid in header");
      saw_kid = true;
      std::string_view kid;
      if (field.value.get_string().get(kid) != simdjson::SUCCESS) {
        return Malformed("kid is not a string");
      }
      fields.kid = kid;
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
  return fields;
}

// The claims read from the payload, before the kind, audience, issuer and
// time checks. The views point into the parser that read the payload.
struct RawClaims {
  std::optional<std::string_view> sub;
  std::optional<absl::Time> exp;
  std::optional<absl::Time> nbf;
  std::optional<absl::Time> iat;
  std::optional<std::string_view> typ;
  std::optional<std::string_view> channel;
  std::optional<std::string_view> tenant;
  std::optional<simdjson::dom::element> info;
  std::vector<std::string_view> channels;
  std::optional<std::vector<std::string_view>> aud;
  std::optional<std::string_view> iss;
};

// Every claim this verifier reads is refused when it appears twice, so that
// no two JSON readers can disagree about what a token says.
absl::Status FirstOccurrence(std::string_view name, bool& seen) {
  if (seen) return Malformed(absl::StrCat("duplicate ", AsAbsl(name), " claim"));
  seen = true;
  return absl::OkStatus();
}

absl::Status MistypedClaim(std::string_view name, std::string_view expected) {
  return absl::UnauthenticatedError(
      absl::StrCat("token ", AsAbsl(name), " claim is not ", AsAbsl(expected)));
}

// Reads one NumericDate claim into `slot`, refusing non-numbers.
absl::Status ReadDateClaim(std::string_view name, simdjson::dom::element value,
                           std::optional<absl::Time>& slot) {
  std::optional<absl::Time> time = NumericDate(value);
  if (!time.has_value()) return MistypedClaim(name, "a number");
  slot = *time;
  return absl::OkStatus();
}

absl::Status ReadStringClaim(std::string_view name, simdjson::dom::element value,
                             std::optional<std::string_view>& slot) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return MistypedClaim(name, "a string");
  slot = text;
  return absl::OkStatus();
}

absl::Status ReadTenantClaim(simdjson::dom::element value, std::optional<std::string_view>& slot) {
  RETURN_IF_ERROR(ReadStringClaim("tenant", value, slot));
  if (absl::Status status = ValidateTenant(*slot); !status.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("token tenant claim is invalid: ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status ReadChannelsClaim(simdjson::dom::element value,
                               std::vector<std::string_view>& channels) {
  simdjson::dom::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return MistypedClaim("channels", "an array of strings");
  }
  // size() saturates rather than wraps, so the bound holds for any array.
  if (array.size() > kMaxTokenChannels) {
    return absl::UnauthenticatedError(
        absl::StrCat("token channels claim has more than ", kMaxTokenChannels, " entries"));
  }
  for (simdjson::dom::element entry : array) {
    std::string_view channel;
    if (entry.get_string().get(channel) != simdjson::SUCCESS) {
      return MistypedClaim("channels", "an array of strings");
    }
    if (absl::Status status = ValidateChannelName(channel); !status.ok()) {
      return absl::UnauthenticatedError(absl::StrCat("token channels claim entry ", channels.size(),
                                                     " is invalid: ", status.message()));
    }
    channels.push_back(channel);
  }
  return absl::OkStatus();
}

// RFC 7519 section 4.1.3: `aud` is one string or an array of strings.
absl::Status ReadAudienceClaim(simdjson::dom::element value,
                               std::optional<std::vector<std::string_view>>& slot) {
  std::vector<std::string_view> audiences;
  std::string_view single;
  simdjson::dom::array array;
  if (value.get_string().get(single) == simdjson::SUCCESS) {
    audiences.push_back(single);
  } else if (value.get_array().get(array) == simdjson::SUCCESS) {
    for (simdjson::dom::element entry : array) {
      std::string_view audience;
      if (entry.get_string().get(audience) != simdjson::SUCCESS) {
        return MistypedClaim("aud", "a string or an array of strings");
      }
      audiences.push_back(audience);
    }
  } else {
    return MistypedClaim("aud", "a string or an array of strings");
  }
  slot = std::move(audiences);
  return absl::OkStatus();
}

absl::StatusOr<RawClaims> ReadClaims(simdjson::dom::element payload) {
  simdjson::dom::object object;
  if (payload.get_object().get(object) != simdjson::SUCCESS) {
    return Malformed("payload is not a JSON object");
  }
  RawClaims claims;
  bool saw_sub = false, saw_exp = false, saw_nbf = false, saw_iat = false, saw_typ = false,
       saw_channel = false, saw_tenant = false, saw_info = false, saw_channels = false,
       saw_aud = false, saw_iss = false;
  for (simdjson::dom::key_value_pair field : object) {
    const std::string_view name = field.key;
    if (name == "sub") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_sub));
      RETURN_IF_ERROR(ReadStringClaim(name, field.value, claims.sub));
    } else if (name == "exp") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_exp));
      RETURN_IF_ERROR(ReadDateClaim(name, field.value, claims.exp));
    } else if (name == "nbf") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_nbf));
      RETURN_IF_ERROR(ReadDateClaim(name, field.value, claims.nbf));
    } else if (name == "iat") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_iat));
      RETURN_IF_ERROR(ReadDateClaim(name, field.value, claims.iat));
    } else if (name == "typ") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_typ));
      RETURN_IF_ERROR(ReadStringClaim(name, field.value, claims.typ));
    } else if (name == "channel") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_channel));
      RETURN_IF_ERROR(ReadStringClaim(name, field.value, claims.channel));
    } else if (name == "tenant") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_tenant));
      RETURN_IF_ERROR(ReadTenantClaim(field.value, claims.tenant));
    } else if (name == "info") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_info));
      claims.info = field.value;
    } else if (name == "channels") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_channels));
      RETURN_IF_ERROR(ReadChannelsClaim(field.value, claims.channels));
    } else if (name == "aud") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_aud));
      RETURN_IF_ERROR(ReadAudienceClaim(field.value, claims.aud));
    } else if (name == "iss") {
      RETURN_IF_ERROR(FirstOccurrence(name, saw_iss));
      RETURN_IF_ERROR(ReadStringClaim(name, field.value, claims.iss));
    }
  }
  if (!claims.sub.has_value()) return absl::UnauthenticatedError("token has no sub claim");
  if (!claims.exp.has_value()) return absl::UnauthenticatedError("token has no exp claim");
  return claims;
}

constexpr std::string_view kSubscriptionTyp = "subscription";

// The kind rule: the claims that make a subscription token are exactly the
// ones a connection token must not have, so neither passes for the other.
absl::Status CheckKind(const RawClaims& claims, TokenKind kind) {
  switch (kind) {
    case TokenKind::kConnection:
      if (claims.typ.has_value() || claims.channel.has_value()) {
        return absl::UnauthenticatedError("not a connection token");
      }
      return absl::OkStatus();
    case TokenKind::kSubscription:
      if (!claims.typ.has_value() || *claims.typ != kSubscriptionTyp) {
        return absl::UnauthenticatedError("not a subscription token");
      }
      if (!claims.channel.has_value()) {
        return absl::UnauthenticatedError("subscription token has no channel claim");
      }
      if (absl::Status status = ValidateChannelName(*claims.channel); !status.ok()) {
        return absl::UnauthenticatedError(
            absl::StrCat("token channel claim is invalid: ", status.message()));
      }
      return absl::OkStatus();
  }
  WH_CHECK(false) << "unknown TokenKind " << static_cast<int>(kind);
  return absl::InternalError("unknown TokenKind");
}

absl::Status CheckAudienceAndIssuer(const RawClaims& claims, const VerifyOptions& options) {
  if (!options.audience.empty()) {
    if (!claims.aud.has_value()) return absl::UnauthenticatedError("token has no aud claim");
    if (std::find(claims.aud->begin(), claims.aud->end(), options.audience) == claims.aud->end()) {
      return absl::UnauthenticatedError("token aud claim does not include this audience");
    }
  }
  if (!options.issuer.empty()) {
    if (!claims.iss.has_value()) return absl::UnauthenticatedError("token has no iss claim");
    if (*claims.iss != options.issuer) {
      return absl::UnauthenticatedError("token iss claim does not match the expected issuer");
    }
  }
  return absl::OkStatus();
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

std::string MintToken(std::string_view secret, const TokenSpec& spec) {
  return SignHs256Raw(secret, R"({"alg":"HS256","typ":"JWT"})", EncodeTokenPayload(spec));
}

std::string EncodeTokenPayload(const TokenSpec& spec) {
  // `sub`, `iat`, `exp` come first and in this order so that a plain
  // connection token is byte-identical to what MintHs256Token() always made.
  std::string payload = "{\"sub\":";
  AppendJsonString(spec.subject, &payload);
  absl::StrAppend(&payload, ",\"iat\":", absl::ToUnixSeconds(spec.issued_at),
                  ",\"exp\":", absl::ToUnixSeconds(spec.expires_at));
  if (!spec.channel.empty()) {
    absl::StrAppend(&payload, ",\"typ\":\"", AsAbsl(kSubscriptionTyp), "\",\"channel\":");
    AppendJsonString(spec.channel, &payload);
  }
  if (!spec.tenant.empty()) {
    payload.append(",\"tenant\":");
    AppendJsonString(spec.tenant, &payload);
  }
  if (!spec.info_json.empty()) absl::StrAppend(&payload, ",\"info\":", spec.info_json);
  if (!spec.channels.empty()) {
    payload.append(",\"channels\":[");
    for (size_t i = 0; i < spec.channels.size(); ++i) {
      if (i > 0) payload.push_back(',');
      AppendJsonString(spec.channels[i], &payload);
    }
    payload.push_back(']');
  }
  if (!spec.audience.empty()) {
    payload.append(",\"aud\":");
    AppendJsonString(spec.audience, &payload);
  }
  if (!spec.issuer.empty()) {
    payload.append(",\"iss\":");
    AppendJsonString(spec.issuer, &payload);
  }
  payload.push_back('}');
  return payload;
}

std::string MintHs256Token(std::string_view secret, std::string_view subject, absl::Time issued_at,
                           absl::Time expires_at) {
  TokenSpec spec;
  spec.subject = std::string(subject);
  spec.issued_at = issued_at;
  spec.expires_at = expires_at;
  return MintToken(secret, spec);
}

JwtVerifier::JwtVerifier(std::shared_ptr<const TokenKeySet> keys) : keys_(std::move(keys)) {}

JwtVerifier::JwtVerifier(std::string secret)
    : keys_(TokenKeySet::FromHmacSecret(std::move(secret))) {}

absl::StatusOr<TokenClaims> JwtVerifier::Verify(std::string_view token, absl::Time now,
                                                absl::Duration leeway) const {
  VerifyOptions options;
  options.leeway = leeway;
  return Verify(token, now, options);
}

absl::StatusOr<TokenClaims> JwtVerifier::Verify(std::string_view token, absl::Time now,
                                                const VerifyOptions& options) const {
  if (keys_ == nullptr || keys_->empty()) {
    // Anyone can compute an HMAC with an empty key, so accept nothing.
    return absl::UnauthenticatedError("no token keys configured");
  }
  const absl::Duration leeway = std::max(options.leeway, absl::ZeroDuration());
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
  ASSIGN_OR_RETURN(const HeaderFields fields, CheckHeader(header));
  // Each key verifies only its own algorithm, so an RS256 token never meets
  // an HMAC secret (nor an HS256 token a public key's bytes).
  ASSIGN_OR_RETURN(const std::vector<const TokenKey*> candidates,
                   keys_->Select(fields.kid, fields.alg));

  std::optional<std::string> signature = Base64UrlDecode(signature_b64);
  if (!signature.has_value()) return Malformed("signature is not base64url");
  const bool verified = std::any_of(candidates.begin(), candidates.end(), [&](const TokenKey* key) {
    return key->VerifySignature(signing_input, *signature);
  });
  if (!verified) return absl::UnauthenticatedError("token signature is invalid");

  // Everything below is covered by the signature, i.e. written by whoever
  // holds the secret, but is still checked as untrusted input.
  std::optional<std::string> payload_json = Base64UrlDecode(payload_b64);
  if (!payload_json.has_value()) return Malformed("payload is not base64url");
  simdjson::dom::element payload;
  if (parser.parse(payload_json->data(), payload_json->size()).get(payload) != simdjson::SUCCESS) {
    return Malformed("payload is not valid JSON");
  }
  ASSIGN_OR_RETURN(const RawClaims raw, ReadClaims(payload));
  RETURN_IF_ERROR(CheckKind(raw, options.kind));
  RETURN_IF_ERROR(CheckAudienceAndIssuer(raw, options));

  // Only a token that is right in every other way is "expired": a refresh
  // cannot fix anything else.
  if (*raw.exp <= now - leeway) return absl::DeadlineExceededError("token expired");
  if (raw.nbf.has_value() && *raw.nbf > now + leeway) {
    return absl::UnauthenticatedError("token not yet valid (nbf is in the future)");
  }

  // The views in `raw` point into `parser`, which is still alive here.
  TokenClaims claims;
  claims.subject = std::string(*raw.sub);
  claims.expires_at = *raw.exp;
  claims.issued_at = raw.iat;
  claims.not_before = raw.nbf;
  if (raw.tenant.has_value()) claims.tenant = std::string(*raw.tenant);
  if (raw.info.has_value()) claims.info_json = simdjson::minify(*raw.info);
  claims.channels.assign(raw.channels.begin(), raw.channels.end());
  if (raw.channel.has_value()) claims.channel = std::string(*raw.channel);
  claims.payload_json = std::move(*payload_json);
  return claims;
}

}  // namespace wirehub
