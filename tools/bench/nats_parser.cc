#include "tools/bench/nats_parser.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/status_macros.h"

namespace wirehub::bench {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Whether `text` starts with `upper_op` (upper-case letters and symbols),
// compared without case as the protocol's operation names are.
bool StartsWithOp(std::string_view text, std::string_view upper_op) {
  if (text.size() < upper_op.size()) return false;
  for (size_t i = 0; i < upper_op.size(); ++i) {
    char c = text[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != upper_op[i]) return false;
  }
  return true;
}

// `text` is exactly `upper_op`, or `upper_op` followed by blanks and
// arguments; sets `*rest` to the arguments with the blanks around them
// removed.
bool MatchOp(std::string_view text, std::string_view upper_op, std::string_view* rest) {
  if (!StartsWithOp(text, upper_op)) return false;
  text.remove_prefix(upper_op.size());
  if (!text.empty() && !IsBlank(text.front())) return false;
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  *rest = text;
  return true;
}

std::string Excerpt(std::string_view line) {
  constexpr size_t kMax = 48;
  std::string out = absl::CHexEscape(AsAbsl(line.substr(0, kMax)));
  if (line.size() > kMax) out.append("...");
  return out;
}

}  // namespace

absl::Status NatsStreamParser::ParseOne(std::string_view input, Event* event, size_t* used,
                                        size_t* event_size) const {
  *used = 0;
  *event_size = 0;
  // A line of at most max_control_line bytes plus CRLF.
  const size_t scan = std::min(input.size(), options_.max_control_line + 2);
  const char* newline = static_cast<const char*>(std::memchr(input.data(), '\n', scan));
  if (newline == nullptr) {
    if (scan == options_.max_control_line + 2) {
      return absl::ResourceExhaustedError(
          absl::StrCat("NATS control line longer than ", options_.max_control_line, " bytes"));
    }
    return absl::OkStatus();
  }
  const size_t line_size = static_cast<size_t>(newline - input.data()) + 1;
  if (line_size < 2 || input[line_size - 2] != '\r') {
    return absl::DataLossError(
        absl::StrCat("NATS line not ended by CRLF: \"", Excerpt(input.substr(0, line_size)), "\""));
  }
  std::string_view line = input.substr(0, line_size - 2);
  std::string_view rest;

  // MSG first: it is nearly every line a subscriber sees.
  if (MatchOp(line, "MSG", &rest)) {
    // <subject> <sid> [reply-to] <#bytes>
    std::string_view fields[4];
    size_t count = 0;
    while (!rest.empty()) {
      if (count == 4) {
        return absl::DataLossError(
            absl::StrCat("NATS MSG header with more than 4 fields: \"", Excerpt(line), "\""));
      }
      size_t end = 0;
      while (end < rest.size() && !IsBlank(rest[end])) ++end;
      fields[count++] = rest.substr(0, end);
      rest.remove_prefix(end);
      while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
    }
    if (count < 3) {
      return absl::DataLossError(
          absl::StrCat("NATS MSG header with fewer than 3 fields: \"", Excerpt(line), "\""));
    }
    std::string_view size_text = fields[count - 1];
    size_t payload_size = 0;
    for (char c : size_text) {
      if (c < '0' || c > '9') {
        return absl::DataLossError(
            absl::StrCat("NATS MSG header with a bad size: \"", Excerpt(line), "\""));
      }
      payload_size = payload_size * 10 + static_cast<size_t>(c - '0');
      if (payload_size > options_.max_payload) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "NATS MSG payload over ", options_.max_payload, " bytes: \"", Excerpt(line), "\""));
      }
    }
    const size_t total = line_size + payload_size + 2;
    if (input.size() < total) {
      *event_size = total;
      return absl::OkStatus();
    }
    if (input[total - 2] != '\r' || input[total - 1] != '\n') {
      return absl::DataLossError(
          absl::StrCat("NATS MSG payload not followed by CRLF: \"", Excerpt(line), "\""));
    }
    event->kind = Event::kMsg;
    event->subject = fields[0];
    event->sid = fields[1];
    event->reply_to = count == 4 ? fields[2] : std::string_view();
    event->payload = input.substr(line_size, payload_size);
    *used = total;
    return absl::OkStatus();
  }

  event->subject = {};
  event->sid = {};
  event->reply_to = {};
  event->payload = {};
  if (MatchOp(line, "PING", &rest) && rest.empty()) {
    event->kind = Event::kPing;
  } else if (MatchOp(line, "PONG", &rest) && rest.empty()) {
    event->kind = Event::kPong;
  } else if (MatchOp(line, "+OK", &rest) && rest.empty()) {
    event->kind = Event::kOk;
  } else if (MatchOp(line, "-ERR", &rest)) {
    event->kind = Event::kErr;
    event->payload = rest;
  } else if (MatchOp(line, "INFO", &rest)) {
    event->kind = Event::kInfo;
    event->payload = rest;
  } else if (StartsWithOp(line, "HMSG")) {
    return absl::UnimplementedError("NATS HMSG (message with headers) is not supported");
  } else {
    return absl::DataLossError(absl::StrCat("unknown NATS operation: \"", Excerpt(line), "\""));
  }
  *used = line_size;
  return absl::OkStatus();
}

absl::Status NatsStreamParser::Feed(std::string_view bytes,
                                    absl::FunctionRef<void(const Event&)> on_event) {
  Event event;
  size_t used = 0;
  size_t event_size = 0;
  // Finish the event an earlier chunk left unfinished, moving only the bytes
  // it still needs into tail_: through the next '\n' while its header line
  // is incomplete, then exactly the rest of a MSG payload.
  while (!tail_.empty()) {
    RETURN_IF_ERROR(ParseOne(tail_, &event, &used, &event_size));
    if (used > 0) {
      on_event(event);
      tail_.clear();
      break;
    }
    if (bytes.empty()) return absl::OkStatus();
    size_t take = 0;
    if (event_size == 0) {
      const char* newline = static_cast<const char*>(std::memchr(bytes.data(), '\n', bytes.size()));
      take = newline == nullptr ? bytes.size() : static_cast<size_t>(newline - bytes.data()) + 1;
    } else {
      take = std::min(event_size - tail_.size(), bytes.size());
    }
    tail_.append(bytes.data(), take);
    bytes.remove_prefix(take);
  }
  while (!bytes.empty()) {
    RETURN_IF_ERROR(ParseOne(bytes, &event, &used, &event_size));
    if (used == 0) {
      tail_.assign(bytes.data(), bytes.size());
      return absl::OkStatus();
    }
    on_event(event);
    bytes.remove_prefix(used);
  }
  return absl::OkStatus();
}

}  // namespace wirehub::bench
