// Checks of what backends and edges send control before it reaches the
// hub: channel names, tenants and keys, publication data.
#ifndef WIREHUB_CONTROL_REQUEST_VALIDATION_H_
#define WIREHUB_CONTROL_REQUEST_VALIDATION_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

// PageSizeFor()
//
// The page size a paged request asks for: `default_size` for 0, capped at
// `max_size`; InvalidArgument for a negative one.
absl::StatusOr<size_t> PageSizeFor(int requested, int default_size, int max_size);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REQUEST_VALIDATION_H_
