#include "common/json_validator.h"

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "simdjson.h"

namespace wirehub {

JsonValidator::JsonValidator() : parser_(std::make_unique<simdjson::dom::parser>()) {}

JsonValidator::~JsonValidator() = default;

absl::Status JsonValidator::Validate(std::string_view bytes) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("invalid JSON: empty document");
  }
  // `bytes` is not padded, so realloc_if_needed=true makes simdjson copy it
  // into the parser's own padded buffer (reused across calls) before reading.
  // The DOM parser checks UTF-8, structure and that nothing but whitespace
  // follows the single top-level value.
  simdjson::error_code error =
      parser_->parse(bytes.data(), bytes.size(), /*realloc_if_needed=*/true).error();
  if (error != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", simdjson::error_message(error)));
  }
  return absl::OkStatus();
}

}  // namespace wirehub
