// Small helpers for writing JSON text by hand (the hot encoders on the edge
// and the CLI's output).
#ifndef WIREHUB_COMMON_JSON_WRITER_H_
#define WIREHUB_COMMON_JSON_WRITER_H_

#include <string>
#include <string_view>

namespace wirehub {

// AppendJsonString()
//
// Appends `text` to `out` as a JSON string literal: quoted, with `"`, `\`
// and control characters escaped. Bytes >= 0x80 are copied as they are
// (the text is expected to be UTF-8).
void AppendJsonString(std::string_view text, std::string* out);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_JSON_WRITER_H_
