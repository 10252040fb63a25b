// Validation of client- and backend-supplied JSON documents.
#ifndef WIREHUB_COMMON_JSON_VALIDATOR_H_
#define WIREHUB_COMMON_JSON_VALIDATOR_H_

#include <memory>
#include <string_view>

#include "absl/status/status.h"

namespace simdjson::dom {
class parser;
}

namespace wirehub {

// JsonValidator checks that bytes are exactly one well-formed JSON value
// (RFC 8259, UTF-8) with nothing but whitespace after it.
// Thread-compatible: keep one per thread; it reuses its parse buffers.
class JsonValidator {
 public:
  JsonValidator();
  ~JsonValidator();
  JsonValidator(const JsonValidator&) = delete;
  JsonValidator& operator=(const JsonValidator&) = delete;

  // Validate()
  //
  // Returns OK for a single valid JSON document, InvalidArgument with the
  // parser's reason otherwise (empty input is invalid). Numbers simdjson
  // cannot represent (integers beyond 64 bits, floats beyond double range)
  // are reported invalid too.
  absl::Status Validate(std::string_view bytes);

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
};

}  // namespace wirehub

#endif  // WIREHUB_COMMON_JSON_VALIDATOR_H_
