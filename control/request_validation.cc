#include "control/request_validation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/json_validator.h"
#include "common/namespace_registry.h"

namespace wirehub::control {

absl::Status ValidateTenantField(std::string_view tenant) {
  if (tenant.empty()) return absl::OkStatus();
  return ValidateTenant(tenant);
}

absl::StatusOr<std::string> ChannelKeyFor(std::string_view tenant, std::string_view channel) {
  absl::Status status = ValidateTenantField(tenant);
  if (status.ok()) status = ValidateChannelName(channel);
  if (!status.ok()) return status;
  return MakeChannelKey(tenant, channel);
}

absl::Status ValidateChannelKey(std::string_view key) {
  ChannelKeyParts parts = SplitChannelKey(key);
  absl::StatusOr<std::string> rebuilt = ChannelKeyFor(parts.tenant, parts.channel);
  if (!rebuilt.ok()) return rebuilt.status();
  if (*rebuilt != key) {
    return absl::InvalidArgumentError("channel key has an empty tenant before '|'");
  }
  return absl::OkStatus();
}

namespace {

absl::Status CheckSize(std::string_view data, size_t max_payload_bytes) {
  if (data.size() <= max_payload_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "data is ", data.size(), " bytes, over the limit of ", max_payload_bytes, " bytes"));
}

}  // namespace

absl::Status ValidatePublicationData(std::string_view data, size_t max_payload_bytes) {
  absl::Status size = CheckSize(data, max_payload_bytes);
  if (!size.ok()) return size;
  thread_local JsonValidator validator;
  absl::Status json = validator.Validate(data);
  if (!json.ok()) {
    // The validator's message already starts with "invalid JSON".
    return absl::InvalidArgumentError(absl::StrCat("data: ", json.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateChannelData(std::string_view channel,
                                 const config::v1::NamespaceOptions* options, std::string_view data,
                                 size_t max_payload_bytes) {
  if (options != nullptr && options->binary_data()) return CheckSize(data, max_payload_bytes);
  absl::Status status = ValidatePublicationData(data, max_payload_bytes);
  // Outside any configured namespace the hub refuses the channel anyway.
  if (status.ok() || options == nullptr || data.size() > max_payload_bytes) return status;
  absl::StatusOr<std::string_view> name = NamespaceRegistry::NamespaceOf(channel);
  const std::string why =
      name.ok() && !name->empty()
          ? absl::StrCat(" is in namespace \"", AsAbsl(*name), "\", which takes JSON only")
          : std::string(" has no namespace, and defaults take JSON only");
  return absl::InvalidArgumentError(
      absl::StrCat(status.message(), "; channel ", AsAbsl(channel), why, " (binary_data is off)"));
}

absl::Status ValidateKeyData(const NamespaceTable& namespaces, std::string_view key,
                             std::string_view data, size_t max_payload_bytes) {
  const std::string_view channel = SplitChannelKey(key).channel;
  const NamespaceTable::Namespace* ns = namespaces.Find(channel);
  return ValidateChannelData(channel, ns != nullptr ? ns->options : nullptr, data,
                             max_payload_bytes);
}

absl::StatusOr<size_t> PageSizeFor(int requested, int default_size, int max_size) {
  if (requested < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_size is negative: ", requested));
  }
  if (requested == 0) return static_cast<size_t>(default_size);
  return static_cast<size_t>(std::min(requested, max_size));
}

}  // namespace wirehub::control
