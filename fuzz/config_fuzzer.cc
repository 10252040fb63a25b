// Fuzzes the configuration parser (common/config_loader.h ParseConfig): the
// strict-JSON checks in front of protobuf's JSON mapping, then
// ValidateConfig(). Input: the file's contents.
//
// Checks that every error is InvalidArgument naming the source, and that a
// config that was accepted validates again unchanged (the defaults it filled
// in are themselves valid).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/strings/match.h"
#include "common/config_loader.h"
#include "google/protobuf/util/message_differencer.h"
#include "wirehub/config/v1/config.pb.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<wirehub::config::v1::Config> config = wirehub::ParseConfig(json, "fuzz.json");
  if (!config.ok()) {
    Check(config.status().code() == absl::StatusCode::kInvalidArgument);
    Check(absl::StartsWith(config.status().message(), "fuzz.json: "));
    return 0;
  }
  wirehub::config::v1::Config again = *config;
  Check(wirehub::ValidateConfig("fuzz.json", &again).ok());
  Check(google::protobuf::util::MessageDifferencer::Equals(again, *config));
  return 0;
}
