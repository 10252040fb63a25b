// Reads and validates the configuration file shared by wirehub-control and
// wirehub-edge (`--config=FILE`). The schema is
// proto/wirehub/config/v1/config.proto, written in protobuf's JSON mapping;
// docs/configuration.md explains every key.
#ifndef WIREHUB_COMMON_CONFIG_LOADER_H_
#define WIREHUB_COMMON_CONFIG_LOADER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub {

// Limits enforced by ValidateConfig().
inline constexpr size_t kMaxNamespaceNameBytes = 64;
inline constexpr uint32_t kMaxHistorySize = 100000;
// Longest history_ttl and idempotency_window accepted.
inline constexpr absl::Duration kMaxConfigDuration = absl::Hours(24 * 30);

// Defaults filled in by ValidateConfig().
inline constexpr absl::Duration kDefaultIdempotencyWindow = absl::Seconds(300);
inline constexpr uint32_t kDefaultRecoveryMaxPublications = 1000;

// LoadConfigFile()
//
// Reads the file at `path` and returns ParseConfig(contents, path). A file
// that cannot be opened or read fails with an errno-based status (NotFound
// for a missing file) naming the path; a file larger than 4 MiB fails with
// InvalidArgument.
absl::StatusOr<wirehub::config::v1::Config> LoadConfigFile(std::string_view path);

// ParseConfig()
//
// Parses `json` with protobuf's JSON mapping, refusing unknown keys, then
// runs ValidateConfig(). The text must also be strict JSON (RFC 8259: no
// trailing commas, unquoted or single-quoted keys, which protobuf's parser
// alone would take) without a key repeated in one object (protobuf would
// silently keep the last). Every error is InvalidArgument and starts with
// "<source_name>: "; a parse error carries protobuf's message, which names
// the offending key and where it is (for example
// "(namespaces[0].options) history_sise: Cannot find field."), or the line
// and column of a syntax error. No message quotes the input around a syntax
// error or the value of token_hmac_secret.
absl::StatusOr<wirehub::config::v1::Config> ParseConfig(std::string_view json,
                                                        std::string_view source_name);

// ParseStrictJson()
//
// The parsing half of ParseConfig() for any message (the configuration, the
// file named by api_keys_file): protobuf's JSON mapping with unknown keys
// refused, strict RFC 8259 JSON and no key repeated in one object. Errors are
// InvalidArgument and start with "<source_name>: ". `message` may be partly
// filled on error.
absl::Status ParseStrictJson(std::string_view json, std::string_view source_name,
                             google::protobuf::Message* message);

// ValidateConfig()
//
// Checks the rules below and fills in defaults; on error `config` may be
// partly filled. Errors are InvalidArgument, start with "<source_name>: " and
// name the namespace (or "defaults") and the field.
//
//   - namespace names are 1-64 bytes of [A-Za-z0-9_-] and unique;
//   - history_size <= 100000;
//   - history_ttl is never negative, at most 30 days, and > 0 when
//     history_size > 0;
//   - allow_recovery needs history_size > 0;
//   - idempotency_window, when set, is > 0 and at most 30 days; unset means
//     300s (filled in);
//   - recovery_max_publications 0 means 1000 (filled in).
//
// token_hmac_secret is not resolved here: see ResolveSecretReference().
absl::Status ValidateConfig(std::string_view source_name, wirehub::config::v1::Config* config);

// ResolveSecretReference()
//
// A value of the form "${NAME}", NAME matching [A-Za-z_][A-Za-z0-9_]*, is
// replaced by the value of the environment variable NAME; FailedPrecondition
// naming NAME when that variable is unset or empty. Any other value starting
// with "${" is refused with InvalidArgument (most likely a typo). Every other
// value, including "", is returned unchanged. Error messages never contain a
// secret.
absl::StatusOr<std::string> ResolveSecretReference(std::string_view value);

// DurationFromProto()
//
// Converts a google.protobuf.Duration to an absl::Duration.
absl::Duration DurationFromProto(const google::protobuf::Duration& duration);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_CONFIG_LOADER_H_
