#include "tools/wirehubctl/server_message_parser.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "simdjson.h"

namespace wirehub::ctl {
namespace {

namespace od = ::simdjson::ondemand;

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed server message: ", AsAbsl(what)));
}

absl::Status Malformed(std::string_view what, simdjson::error_code error) {
  return absl::DataLossError(absl::StrCat("malformed server message: ", AsAbsl(what), " (",
                                          simdjson::error_message(error), ")"));
}

// Everything the member readers need to cut raw values out of the message.
struct Source {
  std::string_view text;  // The padded copy the parser iterates.
};

// The raw text of `value`, which must not have been consumed yet.
absl::StatusOr<std::string> RawValue(const Source& source, od::value& value,
                                     std::string_view member) {
  std::string_view token = value.raw_json_token();
  // The token views the start of the value in `source.text`; the value's end
  // follows from its structure.
  size_t begin = static_cast<size_t>(token.data() - source.text.data());
  size_t end = JsonValueEnd(source.text, begin);
  if (begin >= source.text.size() || end == std::string_view::npos) {
    return Malformed(absl::StrCat("incomplete '", AsAbsl(member), "'"));
  }
  return std::string(source.text.substr(begin, end - begin));
}

absl::StatusOr<uint64_t> ReadUint(od::value& value, std::string_view member) {
  uint64_t number = 0;
  if (auto error = value.get_uint64().get(number)) {
    return Malformed(absl::StrCat("'", AsAbsl(member), "' is not an unsigned integer"), error);
  }
  return number;
}

absl::StatusOr<uint32_t> ReadUint32(od::value& value, std::string_view member) {
  ASSIGN_OR_RETURN(uint64_t number, ReadUint(value, member));
  if (number > std::numeric_limits<uint32_t>::max()) {
    return Malformed(absl::StrCat("'", AsAbsl(member), "' is out of range"));
  }
  return static_cast<uint32_t>(number);
}

absl::StatusOr<std::string> ReadString(od::value& value, std::string_view member) {
  std::string_view text;
  if (auto error = value.get_string().get(text)) {
    return Malformed(absl::StrCat("'", AsAbsl(member), "' is not a string"), error);
  }
  return std::string(text);
}

absl::StatusOr<bool> ReadBool(od::value& value, std::string_view member) {
  bool flag = false;
  if (auto error = value.get_bool().get(flag)) {
    return Malformed(absl::StrCat("'", AsAbsl(member), "' is not a boolean"), error);
  }
  return flag;
}

absl::StatusOr<od::object> ReadObject(od::value& value, std::string_view member) {
  od::object object;
  if (auto error = value.get_object().get(object)) {
    return Malformed(absl::StrCat("'", AsAbsl(member), "' is not an object"), error);
  }
  return object;
}

// Calls `on_member(key, value)` for each member of `object`.
template <typename OnMember>
absl::Status ForEachMember(od::object& object, std::string_view where, OnMember on_member) {
  for (auto member : object) {
    od::field field;
    if (auto error = std::move(member).get(field)) return Malformed(where, error);
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return Malformed(where, error);
    od::value value = field.value();
    RETURN_IF_ERROR(on_member(key, value));
  }
  return absl::OkStatus();
}

absl::StatusOr<ReceivedPublication> ReadPublication(const Source& source, od::value& value) {
  ASSIGN_OR_RETURN(od::object object, ReadObject(value, "pub"));
  ReceivedPublication publication;
  bool has_data = false;
  absl::Status status = ForEachMember(
      object, "publication", [&](std::string_view key, od::value& member) -> absl::Status {
        if (key == "data") {
          ASSIGN_OR_RETURN(publication.data, RawValue(source, member, "data"));
          has_data = true;
        } else if (key == "offset") {
          ASSIGN_OR_RETURN(publication.offset, ReadUint(member, "offset"));
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (!has_data) return Malformed("publication without 'data'");
  return publication;
}

absl::Status ReadError(od::value& value, ServerMessage& message) {
  ASSIGN_OR_RETURN(od::object object, ReadObject(value, "error"));
  ServerMessage::Error error;
  absl::Status status =
      ForEachMember(object, "error", [&](std::string_view key, od::value& member) -> absl::Status {
        if (key == "code") {
          ASSIGN_OR_RETURN(error.code, ReadUint32(member, "code"));
        } else if (key == "message") {
          ASSIGN_OR_RETURN(error.message, ReadString(member, "message"));
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  message.error = std::move(error);
  return absl::OkStatus();
}

absl::Status ReadSubscribeResult(const Source& source, od::value& value, ServerMessage& message) {
  ASSIGN_OR_RETURN(od::object object, ReadObject(value, "subscribe"));
  return ForEachMember(
      object, "subscribe", [&](std::string_view key, od::value& member) -> absl::Status {
        if (key == "epoch") {
          ASSIGN_OR_RETURN(message.epoch, ReadString(member, "epoch"));
        } else if (key == "offset") {
          ASSIGN_OR_RETURN(message.offset, ReadUint(member, "offset"));
        } else if (key == "recovered") {
          ASSIGN_OR_RETURN(message.recovered, ReadBool(member, "recovered"));
        } else if (key == "was_recovering") {
          ASSIGN_OR_RETURN(message.was_recovering, ReadBool(member, "was_recovering"));
        } else if (key == "publications") {
          od::array array;
          if (auto error = member.get_array().get(array)) {
            return Malformed("'publications' is not an array", error);
          }
          for (auto element : array) {
            od::value item;
            if (auto error = std::move(element).get(item)) return Malformed("publications", error);
            ASSIGN_OR_RETURN(ReceivedPublication publication, ReadPublication(source, item));
            message.publications.push_back(std::move(publication));
          }
        }
        return absl::OkStatus();
      });
}

// Reads code and reason of an unsubscribe or disconnect push.
absl::Status ReadCodeAndReason(od::value& value, std::string_view where, ServerMessage& message) {
  ASSIGN_OR_RETURN(od::object object, ReadObject(value, where));
  return ForEachMember(object, where, [&](std::string_view key, od::value& member) -> absl::Status {
    if (key == "code") {
      ASSIGN_OR_RETURN(message.code, ReadUint32(member, "code"));
    } else if (key == "reason") {
      ASSIGN_OR_RETURN(message.reason, ReadString(member, "reason"));
    }
    return absl::OkStatus();
  });
}

absl::Status ReadPush(const Source& source, od::value& value, ServerMessage& message) {
  ASSIGN_OR_RETURN(od::object object, ReadObject(value, "push"));
  message.push_type = ServerMessage::PushType::kOther;
  return ForEachMember(
      object, "push", [&](std::string_view key, od::value& member) -> absl::Status {
        if (key == "channel") {
          ASSIGN_OR_RETURN(message.channel, ReadString(member, "channel"));
        } else if (key == "pub") {
          ASSIGN_OR_RETURN(ReceivedPublication publication, ReadPublication(source, member));
          message.publications.push_back(std::move(publication));
          message.push_type = ServerMessage::PushType::kPublication;
        } else if (key == "unsubscribe") {
          RETURN_IF_ERROR(ReadCodeAndReason(member, "unsubscribe", message));
          message.push_type = ServerMessage::PushType::kUnsubscribe;
        } else if (key == "disconnect") {
          RETURN_IF_ERROR(ReadCodeAndReason(member, "disconnect", message));
          message.push_type = ServerMessage::PushType::kDisconnect;
        }
        return absl::OkStatus();
      });
}

}  // namespace

size_t JsonValueEnd(std::string_view text, size_t begin) {
  constexpr size_t kNone = std::string_view::npos;
  if (begin >= text.size()) return kNone;
  const char first = text[begin];
  if (first == '{' || first == '[') {
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = begin; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        if (c == '\\') {
          ++i;  // The escaped character cannot end the string.
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return kNone;
  }
  if (first == '"') {
    for (size_t i = begin + 1; i < text.size(); ++i) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '"') {
        return i + 1;
      }
    }
    return kNone;
  }
  size_t i = begin;
  while (i < text.size() && !IsJsonSpace(text[i]) && text[i] != ',' && text[i] != '}' &&
         text[i] != ']' && text[i] != '\0') {
    ++i;
  }
  return i == begin ? kNone : i;
}

absl::StatusOr<std::vector<std::string_view>> SplitJsonMessages(std::string_view frame) {
  std::vector<std::string_view> messages;
  size_t pos = 0;
  while (true) {
    while (pos < frame.size() && IsJsonSpace(frame[pos])) ++pos;
    if (pos == frame.size()) break;
    if (frame[pos] != '{') {
      return Malformed(absl::StrCat("expected '{' at byte ", pos, " of the frame"));
    }
    size_t end = JsonValueEnd(frame, pos);
    if (end == std::string_view::npos) {
      return Malformed(absl::StrCat("incomplete object at byte ", pos, " of the frame"));
    }
    messages.push_back(frame.substr(pos, end - pos));
    pos = end;
  }
  return messages;
}

struct ServerMessageParser::Parser {
  od::parser parser;
};

ServerMessageParser::ServerMessageParser() : parser_(std::make_unique<Parser>()) {}

ServerMessageParser::~ServerMessageParser() = default;

absl::StatusOr<ServerMessage> ServerMessageParser::Parse(std::string_view json) {
  // One object and nothing after it (On Demand does not check the end).
  size_t begin = 0;
  while (begin < json.size() && IsJsonSpace(json[begin])) ++begin;
  if (begin == json.size() || json[begin] != '{') return Malformed("not a JSON object");
  size_t end = JsonValueEnd(json, begin);
  if (end == std::string_view::npos) return Malformed("incomplete object");
  for (size_t i = end; i < json.size(); ++i) {
    if (!IsJsonSpace(json[i])) return Malformed("trailing content after the object");
  }
  simdjson::padded_string padded(json.data(), json.size());
  Source source{std::string_view(padded.data(), padded.size())};
  od::document document;
  if (auto error = parser_->parser.iterate(padded).get(document))
    return Malformed("not JSON", error);
  od::object root;
  if (auto error = document.get_object().get(root)) return Malformed("not an object", error);

  ServerMessage message;
  size_t members = 0;
  bool has_push = false;
  absl::Status status =
      ForEachMember(root, "reply", [&](std::string_view key, od::value& value) -> absl::Status {
        ++members;
        if (key == "id") {
          ASSIGN_OR_RETURN(message.id, ReadUint(value, "id"));
        } else if (key == "error") {
          RETURN_IF_ERROR(ReadError(value, message));
        } else if (key == "subscribe") {
          RETURN_IF_ERROR(ReadSubscribeResult(source, value, message));
        } else if (key == "push") {
          RETURN_IF_ERROR(ReadPush(source, value, message));
          has_push = true;
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;

  if (members == 0) {
    message.kind = ServerMessage::Kind::kPing;
  } else if (message.id > 0) {
    message.kind = ServerMessage::Kind::kReply;
  } else if (has_push) {
    message.kind = ServerMessage::Kind::kPush;
  }
  return message;
}

}  // namespace wirehub::ctl
