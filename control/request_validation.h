// Checks of what backends and edges send control before it reaches the
// hub: channel names, tenants and keys, publication data.
#ifndef WIREHUB_CONTROL_REQUEST_VALIDATION_H_
#define WIREHUB_CONTROL_REQUEST_VALIDATION_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/namespace_table.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub::control {

// ChannelKeyFor()
//
// The key of `channel` in `tenant`'s space (empty: the default space) after
// validating both: InvalidArgument "tenant ..." for a bad non-empty tenant,
// "channel name ..." for a bad channel (which includes any '|', so no
// channel name reaches another tenant's key).
//
// Example:
//   ChannelKeyFor("acme", "chat:1") -> "acme|chat:1"
//   ChannelKeyFor("", "chat:1")     -> "chat:1"
absl::StatusOr<std::string> ChannelKeyFor(std::string_view tenant, std::string_view channel);

// ValidateTenantField() accepts an empty tenant (the default space).
absl::Status ValidateTenantField(std::string_view tenant);

// ValidateChannelKey()
//
// A key as an edge sends it: "TENANT|CHANNEL" or "CHANNEL" with a valid
// tenant and channel, and nothing else ("|chat" is not a key).
absl::Status ValidateChannelKey(std::string_view key);

// ValidatePublicationData()
//
// InvalidArgument naming the problem: data over `max_payload_bytes`, or
// data that is not one JSON document.
absl::Status ValidatePublicationData(std::string_view data, size_t max_payload_bytes);

// ValidateChannelData()
//
// The data check of a publication to `channel` (a channel name, not a key)
// whose namespace has `options` (nullptr: not configured). A namespace with
// binary_data takes any bytes up to `max_payload_bytes`; any other takes one
// JSON document, and then the error also names the channel and says that
// its namespace takes JSON only. The message starts with "data" as
// ValidatePublicationData's does.
//
// Example:
//   ValidateChannelData("chat:1", &chat, "\xff", 64) with chat.binary_data()
//   false -> InvalidArgument "data: invalid JSON: ...; channel chat:1 is in
//   namespace \"chat\", which takes JSON only (binary_data is off)"
absl::Status ValidateChannelData(std::string_view channel,
                                 const config::v1::NamespaceOptions* options, std::string_view data,
                                 size_t max_payload_bytes);

// ValidateKeyData()
//
// ValidateChannelData() for a publication to `key` ("TENANT|CHANNEL" or
// "CHANNEL", already validated) under the namespaces of `namespaces`.
absl::Status ValidateKeyData(const NamespaceTable& namespaces, std::string_view key,
                             std::string_view data, size_t max_payload_bytes);

// PageSizeFor()
//
// The page size a paged request asks for: `default_size` for 0, capped at
// `max_size`; InvalidArgument for a negative one.
absl::StatusOr<size_t> PageSizeFor(int requested, int default_size, int max_size);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REQUEST_VALIDATION_H_
