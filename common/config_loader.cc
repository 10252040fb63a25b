#include "common/config_loader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/util/json_util.h"
#include "simdjson.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub {
namespace {

using ::wirehub::config::v1::Config;
using ::wirehub::config::v1::NamespaceOptions;

// A configuration file larger than this is surely the wrong file.
constexpr size_t kMaxConfigFileBytes = 4 << 20;

bool IsNamespaceNameByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsEnvNameByte(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  return !first && c >= '0' && c <= '9';
}

bool IsBlank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

// "<source>: <where>: <field> <detail>".
absl::Status FieldError(std::string_view source, std::string_view where, std::string_view field,
                        std::string_view detail) {
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(source), ": ", AsAbsl(where), ": ", AsAbsl(field), " ", AsAbsl(detail)));
}

// The lowerCamelCase spelling protobuf also accepts for `key`:
// "history_size" -> "historySize".
std::string CamelCaseOf(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  bool upper_next = false;
  for (char c : key) {
    if (c == '_') {
      upper_next = true;
      continue;
    }
    out.push_back(upper_next && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    upper_next = false;
  }
  return out;
}

// Refuses a key repeated within one object of `element`, recursively; the
// snake_case and lowerCamelCase spellings of a key count as the same key.
// `path` locates `element` in protobuf's style ("namespaces[1].options").
absl::Status CheckNoDuplicateKeys(const simdjson::dom::element& element, const std::string& path) {
  simdjson::dom::object object;
  simdjson::dom::array array;
  if (element.get(object) == simdjson::SUCCESS) {
    std::set<std::string> keys;
    for (const simdjson::dom::key_value_pair field : object) {
      const absl::string_view key = AsAbsl(field.key);
      if (!keys.insert(CamelCaseOf(field.key)).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(path.empty() ? "" : absl::StrCat("(", path, ") "), absl::CHexEscape(key),
                         ": key appears twice in the same object"));
      }
      RETURN_IF_ERROR(CheckNoDuplicateKeys(
          field.value, path.empty() ? std::string(key) : absl::StrCat(path, ".", key)));
    }
  } else if (element.get(array) == simdjson::SUCCESS) {
    size_t index = 0;
    for (const simdjson::dom::element item : array) {
      RETURN_IF_ERROR(CheckNoDuplicateKeys(item, absl::StrCat(path, "[", index, "]")));
      ++index;
    }
  }
  return absl::OkStatus();
}

// Refuses a bool field of `descriptor` written as anything but true or
// false, recursively through message fields: protobuf 3.21's JSON parser
// takes any string for a bool ("join_leave": "yes" parsed without an
// error), so a typo would silently become a setting. `path` as above.
absl::Status CheckBoolFields(const simdjson::dom::element& element,
                             const google::protobuf::Descriptor& descriptor,
                             const std::string& path) {
  simdjson::dom::object object;
  if (element.get(object) != simdjson::SUCCESS) return absl::OkStatus();
  for (const simdjson::dom::key_value_pair entry : object) {
    const std::string key(entry.key);
    const google::protobuf::FieldDescriptor* field = descriptor.FindFieldByName(key);
    for (int i = 0; field == nullptr && i < descriptor.field_count(); ++i) {
      if (descriptor.field(i)->json_name() == key) field = descriptor.field(i);
    }
    if (field == nullptr || field->is_map()) continue;
    const std::string where = path.empty() ? key : absl::StrCat(path, ".", key);
    if (field->type() == google::protobuf::FieldDescriptor::TYPE_BOOL && !field->is_repeated() &&
        !entry.value.is_bool() && !entry.value.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": must be true or false"));
    }
    if (field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) continue;
    if (!field->is_repeated()) {
      RETURN_IF_ERROR(CheckBoolFields(entry.value, *field->message_type(), where));
      continue;
    }
    simdjson::dom::array items;
    if (entry.value.get(items) != simdjson::SUCCESS) continue;
    size_t index = 0;
    for (const simdjson::dom::element item : items) {
      RETURN_IF_ERROR(
          CheckBoolFields(item, *field->message_type(), absl::StrCat(where, "[", index, "]")));
      ++index;
    }
  }
  return absl::OkStatus();
}

// protobuf's JSON parser is lenient: it takes unquoted or single-quoted keys
// and trailing commas, a repeated key silently replaces the earlier one, and
// any string passes for a bool. The file is held to RFC 8259, a repeated key
// is refused, and a bool must be true or false.
absl::Status CheckStrictJson(std::string_view json,
                             const google::protobuf::Descriptor& descriptor) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const simdjson::error_code error =
      parser.parse(json.data(), json.size(), /*realloc_if_needed=*/true).get(root);
  if (error != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", simdjson::error_message(error)));
  }
  RETURN_IF_ERROR(CheckNoDuplicateKeys(root, ""));
  return CheckBoolFields(root, descriptor, "");
}

// Rewrites a protobuf parse error so that it cannot leak an inline
// token_hmac_secret. protobuf quotes a wrong value ("(token_hmac_secret):
// invalid value 12345 ...") and follows a syntax error with up to 40 bytes of
// the input around the error and a caret line; that window is replaced by the
// line and column it points at.
std::string DescribeParseError(std::string_view message, std::string_view json) {
  for (std::string_view secret_field : {"(token_hmac_secret)", "(tokenHmacSecret)"}) {
    if (message.substr(0, secret_field.size()) == secret_field) {
      return "token_hmac_secret: must be a JSON string";
    }
  }
  const size_t first_newline = message.find('\n');
  if (first_newline == std::string_view::npos) return std::string(message);
  std::string out(message.substr(0, first_newline));
  const size_t last_newline = message.rfind('\n');
  if (last_newline == first_newline) return out;
  const std::string_view window =
      message.substr(first_newline + 1, last_newline - first_newline - 1);
  const size_t caret = message.substr(last_newline + 1).find('^');
  const size_t at = json.find(window);
  // Only a window found exactly once in the input locates the error.
  if (window.empty() || caret == std::string_view::npos || at == std::string_view::npos ||
      json.find(window, at + 1) != std::string_view::npos) {
    return out;
  }
  const size_t offset = std::min(at + caret, json.size());
  const std::string_view before = json.substr(0, offset);
  const size_t line_start =
      before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  const size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  absl::StrAppend(&out, " (line ", line, ", column ", offset - line_start + 1, ")");
  return out;
}

// Formats `duration` the way the file writes it: "600s", "-1.5s".
std::string FormatSeconds(absl::Duration duration) {
  std::string out = duration < absl::ZeroDuration() ? "-" : "";
  absl::Duration rest = absl::AbsDuration(duration);
  const int64_t seconds = absl::IDivDuration(rest, absl::Seconds(1), &rest);
  absl::StrAppend(&out, seconds);
  const int64_t nanos = absl::ToInt64Nanoseconds(rest);
  if (nanos > 0) {
    std::string fraction = absl::StrCat(absl::Dec(nanos, absl::kZeroPad9));
    while (fraction.back() == '0') fraction.pop_back();
    absl::StrAppend(&out, ".", fraction);
  }
  return out + "s";
}

bool IsNegative(const google::protobuf::Duration& duration) {
  return duration.seconds() < 0 || duration.nanos() < 0;
}

// Checks one namespace's options; `where` is "defaults" or `namespace "x"`.
absl::Status ValidateOptions(std::string_view source, std::string_view where,
                             const NamespaceOptions& options) {
  if (options.history_size() > kMaxHistorySize) {
    return FieldError(
        source, where, "history_size",
        absl::StrCat(options.history_size(), " is larger than the maximum of ", kMaxHistorySize));
  }
  const absl::Duration ttl = DurationFromProto(options.history_ttl());
  if (IsNegative(options.history_ttl())) {
    return FieldError(source, where, "history_ttl",
                      absl::StrCat(FormatSeconds(ttl), " is negative"));
  }
  if (ttl > kMaxConfigDuration) {
    return FieldError(source, where, "history_ttl",
                      absl::StrCat(FormatSeconds(ttl), " is longer than the maximum of ",
                                   FormatSeconds(kMaxConfigDuration), " (30 days)"));
  }
  if (options.history_size() > 0 && ttl <= absl::ZeroDuration()) {
    return FieldError(source, where, "history_ttl",
                      "is required (> 0) when history_size > 0, for example \"600s\"");
  }
  if (options.allow_recovery() && options.history_size() == 0) {
    return FieldError(source, where, "allow_recovery",
                      "needs history: set history_size > 0 and history_ttl");
  }
  if (options.allow_history_for_subscriber() && options.history_size() == 0) {
    return FieldError(source, where, "allow_history_for_subscriber",
                      "needs history: set history_size > 0 and history_ttl");
  }
  if (options.force_recovery() && !options.allow_recovery()) {
    return FieldError(source, where, "force_recovery", "needs allow_recovery");
  }
  if (options.allow_presence_for_subscriber() && !options.presence()) {
    return FieldError(source, where, "allow_presence_for_subscriber", "needs presence");
  }
  return absl::OkStatus();
}

// Checks a namespace name; `field` is "namespaces[i].name".
absl::Status ValidateNamespaceName(std::string_view source, std::string_view field,
                                   std::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ": ", AsAbsl(field), " is empty or missing"));
  }
  if (name.size() > kMaxNamespaceNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ": ", AsAbsl(field), " is ", name.size(),
                     " bytes, longer than the maximum of ", kMaxNamespaceNameBytes));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNamespaceNameByte(name[i])) {
      // Escaped so that control or non-ASCII bytes cannot corrupt logs.
      return absl::InvalidArgumentError(absl::StrCat(
          AsAbsl(source), ": ", AsAbsl(field), " \"", absl::CHexEscape(AsAbsl(name)),
          "\" has invalid byte 0x", absl::Hex(static_cast<unsigned char>(name[i]), absl::kZeroPad2),
          " at position ", i, "; allowed are [A-Za-z0-9_-]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Duration DurationFromProto(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
}

absl::Status ValidateConfig(std::string_view source_name, Config* config) {
  RETURN_IF_ERROR(ValidateOptions(source_name, "defaults", config->defaults()));

  // Name -> index of its first occurrence; views into `config`, which is not
  // modified before the map goes away.
  std::map<std::string_view, int> seen;
  for (int i = 0; i < config->namespaces_size(); ++i) {
    const wirehub::config::v1::Namespace& ns = config->namespaces(i);
    const std::string field = absl::StrCat("namespaces[", i, "].name");
    RETURN_IF_ERROR(ValidateNamespaceName(source_name, field, ns.name()));
    const auto [it, inserted] = seen.emplace(ns.name(), i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source_name), ": ", field, " \"",
                                                     ns.name(), "\" duplicates namespaces[",
                                                     it->second, "].name"));
    }
    const std::string where = absl::StrCat("namespace \"", ns.name(), "\"");
    RETURN_IF_ERROR(ValidateOptions(source_name, where, ns.options()));
  }

  if (config->has_idempotency_window()) {
    const absl::Duration window = DurationFromProto(config->idempotency_window());
    if (IsNegative(config->idempotency_window()) || window <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(source_name), ": idempotency_window ", FormatSeconds(window),
                       " must be > 0 (omit the key for the default of ",
                       FormatSeconds(kDefaultIdempotencyWindow), ")"));
    }
    if (window > kMaxConfigDuration) {
      return absl::InvalidArgumentError(absl::StrCat(
          AsAbsl(source_name), ": idempotency_window ", FormatSeconds(window),
          " is longer than the maximum of ", FormatSeconds(kMaxConfigDuration), " (30 days)"));
    }
  } else {
    config->mutable_idempotency_window()->set_seconds(
        absl::ToInt64Seconds(kDefaultIdempotencyWindow));
    config->mutable_idempotency_window()->set_nanos(0);
  }
  if (config->recovery_max_publications() == 0) {
    config->set_recovery_max_publications(kDefaultRecoveryMaxPublications);
  }
  return absl::OkStatus();
}

absl::Status ParseStrictJson(std::string_view json, std::string_view source_name,
                             google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const google::protobuf::util::Status parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (!parsed.ok()) {
    // protobuf's message names the key and its position, e.g.
    // "(defaults) history_sise: Cannot find field."
    const google::protobuf::StringPiece error = parsed.message();
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source_name), ": ",
                     DescribeParseError(std::string_view(error.data(), error.size()), json)));
  }
  if (absl::Status strict = CheckStrictJson(json, *message->GetDescriptor()); !strict.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source_name), ": ", strict.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> ParseConfig(std::string_view json, std::string_view source_name) {
  if (IsBlank(json)) {
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(source_name), ": configuration is empty (write {} to use every default)"));
  }
  Config config;
  RETURN_IF_ERROR(ParseStrictJson(json, source_name, &config));
  RETURN_IF_ERROR(ValidateConfig(source_name, &config));
  return config;
}

absl::StatusOr<Config> LoadConfigFile(std::string_view path) {
  const std::string path_string(path);
  absl::StatusOr<std::string> read =
      ReadFileBounded(path_string, kMaxConfigFileBytes, "configuration file");
  if (absl::IsResourceExhausted(read.status())) {
    return absl::InvalidArgumentError(read.status().message());
  }
  ASSIGN_OR_RETURN(const std::string contents, std::move(read));
  return ParseConfig(contents, path_string);
}

absl::StatusOr<std::string> ResolveSecretReference(std::string_view value) {
  constexpr std::string_view kPrefix = "${";
  if (value.substr(0, kPrefix.size()) != kPrefix) return std::string(value);
  // The value is never echoed: a malformed reference might be a secret.
  const absl::Status malformed = absl::InvalidArgumentError(
      "malformed secret reference: expected ${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]*");
  if (value.size() < kPrefix.size() + 2 || value.back() != '}') return malformed;
  const std::string_view name = value.substr(kPrefix.size(), value.size() - kPrefix.size() - 1);
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsEnvNameByte(name[i], i == 0)) return malformed;
  }
  const std::string name_string(name);
  const char* resolved = std::getenv(name_string.c_str());
  if (resolved == nullptr || resolved[0] == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat("secret reference ${", name_string, "}: environment variable ", name_string,
                     resolved == nullptr ? " is not set" : " is empty"));
  }
  return std::string(resolved);
}

}  // namespace wirehub
